//! `/v1/retention` (Ridge's own): how long a project's finished executions are kept
//! (docs/retention.md). `GET /v1/retention` is the caller's own project; another project's is
//! admin-only, as is `PUT /v1/retention/{project_id}`, which overrides the server's
//! `[executions.retention]` for one project. Modelled on `/v1/quotas`.

use axum::Json;
use axum::extract::{Path, State};
use ridge_core::ProjectId;
use ridge_core::api::{RetentionView, SetRetention};
use ridge_core::tenancy::Limit;

use super::quotas::{apply_changes, overrides_body};
use crate::access::{self, AdminOnly};
use crate::context::Caller;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::{ApiError, AppState};

async fn view(state: &AppState, project: &ProjectId) -> Result<RetentionView, ApiError> {
    let retention = state.engine.retention(project).await?;
    Ok(RetentionView::new(project, &retention))
}

#[utoipa::path(
    get, path = "/v1/retention", tag = "retention",
    responses((status = 200, description = "how long the caller's project's finished executions are kept", body = RetentionView), Authed),
)]
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RetentionView>, ApiError> {
    Ok(Json(view(&state, &caller.project).await?))
}

#[utoipa::path(
    get, path = "/v1/retention/{project}", tag = "retention",
    params(("project" = String, Path, description = "the project's id")),
    responses((status = 200, description = "the project's retention rules", body = RetentionView), Authed, Invalid, Denied, Missing),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<RetentionView>, ApiError> {
    let project = access::quota_project(&caller, Some(project.parse()?))?;
    Ok(Json(view(&state, &project).await?))
}

#[utoipa::path(
    put, path = "/v1/retention/{project}", tag = "retention", request_body = SetRetention,
    params(("project" = String, Path, description = "the project's id")),
    responses((status = 200, description = "the project's retention rules, as set", body = RetentionView), Authed, Invalid, Denied, Missing),
)]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Path(project): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<RetentionView>, ApiError> {
    access::require(&caller, AdminOnly::ManageQuotas)?;
    let project: ProjectId = project.parse()?;
    let (raw, typed): (_, SetRetention) = overrides_body(&body)?;
    let mut overrides = state.store.retention_overrides(&project).await?;
    let fields: [(&str, Option<&serde_json::Value>, &mut Option<Limit>); 2] = [
        ("max_age", typed.max_age.as_ref(), &mut overrides.max_age),
        (
            "max_per_function",
            typed.max_per_function.as_ref(),
            &mut overrides.max_per_function,
        ),
    ];
    apply_changes(&raw, fields)?;
    state
        .store
        .set_retention_overrides(&project, &overrides)
        .await?;
    Ok(Json(view(&state, &project).await?))
}
