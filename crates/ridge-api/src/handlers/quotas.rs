//! `/v1/quotas`: a project's quotas and what it uses of them. `GET /v1/quotas` is the caller's
//! own project; `GET /v1/quotas/{project_id}` is admin-only for another project, and
//! `PUT /v1/quotas/{project_id}` (admin) overrides the server's defaults for one project.

use axum::Json;
use axum::extract::{Path, State};
use ridge_core::ProjectId;
use ridge_core::api::{QuotaChange, QuotaView, SetQuotas};
use ridge_core::tenancy::Limit;

use crate::access::{self, AdminOnly};
use crate::context::Caller;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::{ApiError, AppState};

async fn view(state: &AppState, project: &ProjectId) -> Result<QuotaView, ApiError> {
    let quotas = state.engine.quotas(project).await?;
    let usage = state.store.project_usage(project).await?;
    let bytes = state.packages.project_bytes(project).await?;
    Ok(QuotaView::new(
        project,
        &quotas,
        [
            usage.functions,
            bytes,
            usage.unfinished_executions,
            usage.jobs,
        ],
    ))
}

#[utoipa::path(
    get, path = "/v1/quotas", tag = "quotas",
    responses((status = 200, description = "the caller's project's quotas and use", body = QuotaView), Authed),
)]
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<QuotaView>, ApiError> {
    Ok(Json(view(&state, &caller.project).await?))
}

#[utoipa::path(
    get, path = "/v1/quotas/{project}", tag = "quotas",
    params(("project" = String, Path, description = "the project's id")),
    responses((status = 200, description = "the project's quotas and use", body = QuotaView), Authed, Invalid, Denied, Missing),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<QuotaView>, ApiError> {
    let project = access::quota_project(&caller, Some(project.parse()?))?;
    Ok(Json(view(&state, &project).await?))
}

/// The body of a `PUT` of overrides, raw and typed: which keys are present matters (null
/// means "back to the default"), so they are read raw beside the typed body, which rejects
/// unknown keys. An empty body changes nothing.
pub(crate) fn overrides_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<(serde_json::Map<String, serde_json::Value>, T), ApiError> {
    let raw: serde_json::Map<String, serde_json::Value> =
        if body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Map::new()
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))?
        };
    let typed = serde_json::from_value(serde_json::Value::Object(raw.clone()))
        .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))?;
    Ok((raw, typed))
}

/// Applies each field of a `PUT` of overrides to its slot: absent keeps it, `null` goes back to
/// the default, a number or -1 sets it.
pub(crate) fn apply_changes<'a>(
    raw: &serde_json::Map<String, serde_json::Value>,
    fields: impl IntoIterator<
        Item = (
            &'a str,
            Option<&'a serde_json::Value>,
            &'a mut Option<Limit>,
        ),
    >,
) -> Result<(), ApiError> {
    for (name, value, slot) in fields {
        match QuotaChange::parse(name, value, raw.contains_key(name))? {
            QuotaChange::Keep => {}
            QuotaChange::Default => *slot = None,
            QuotaChange::Set(limit) => *slot = Some(limit),
        }
    }
    Ok(())
}

#[utoipa::path(
    put, path = "/v1/quotas/{project}", tag = "quotas", request_body = SetQuotas,
    params(("project" = String, Path, description = "the project's id")),
    responses((status = 200, description = "the project's quotas and use, as set", body = QuotaView), Authed, Invalid, Denied, Missing),
)]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<QuotaView>, ApiError> {
    access::require(&caller, AdminOnly::ManageQuotas)?;
    let project: ProjectId = project.parse()?;
    let (raw, typed): (_, SetQuotas) = overrides_body(&body)?;
    let mut overrides = state.store.quota_overrides(&project).await?;
    let fields: [(&str, Option<&serde_json::Value>, &mut Option<Limit>); 5] = [
        (
            "functions",
            typed.functions.as_ref(),
            &mut overrides.functions,
        ),
        (
            "package_bytes",
            typed.package_bytes.as_ref(),
            &mut overrides.package_bytes,
        ),
        (
            "concurrent_executions",
            typed.concurrent_executions.as_ref(),
            &mut overrides.concurrent_executions,
        ),
        (
            "executions_per_second",
            typed.executions_per_second.as_ref(),
            &mut overrides.executions_per_second,
        ),
        ("jobs", typed.jobs.as_ref(), &mut overrides.jobs),
    ];
    apply_changes(&raw, fields)?;
    state
        .store
        .set_quota_overrides(&project, &overrides)
        .await?;
    Ok(Json(view(&state, &project).await?))
}
