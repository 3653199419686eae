//! `/v1/functions/{id}/versions`: snapshot a function, list, show, download and delete versions.
//!
//! A version names the function's package by md5, the same content-addressed blob the function
//! had; deleting a version removes the blob only when neither the function nor another version
//! still uses it.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use ridge_core::api::{CreateVersion, VersionList, VersionView};
use ridge_core::{Function, FunctionId, VersionId};

use super::{JsonBody, check_text, path_id};
use crate::access::{self, Intent};
use crate::context::Caller;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::query;
use crate::{ApiError, AppState};

/// The function for reading versions (an admin may read another project's).
async fn visible(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Function, ApiError> {
    access::function(state, caller, path_id(raw_id)?, Intent::Use).await
}

/// The function for changing versions: it must be the caller's own (404 even for an admin, as
/// in Qinling).
pub(crate) async fn owned(
    state: &AppState,
    caller: &Caller,
    id: FunctionId,
) -> Result<Function, ApiError> {
    access::function(state, caller, id, Intent::Own).await
}

/// A version number from a path segment.
fn number(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "invalid version number `{raw}`: expected a non-negative integer"
        ))
    })
}

#[utoipa::path(
    post, path = "/v1/functions/{id}/versions", tag = "versions", params(("id" = String, Path, format = Uuid, description = "the function's id")), request_body = CreateVersion,
    responses((status = 201, description = "the new version: a snapshot of the function's code", body = VersionView), Authed, Invalid, Denied, Missing),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CreateVersion>,
) -> Result<(StatusCode, Json<VersionView>), ApiError> {
    let id: FunctionId = path_id(&id)?;
    check_text("description", body.description.as_deref())?;
    let function = owned(&state, &caller, id).await?;
    let version = state
        .store
        .create_version(
            function.id,
            VersionId::new(),
            body.description.as_deref(),
            ridge_core::time::now(),
            state.config.max_versions,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(VersionView::from(&version))))
}

#[utoipa::path(
    get, path = "/v1/functions/{id}/versions", tag = "versions", params(("id" = String, Path, format = Uuid, description = "the function's id")),
    responses((status = 200, description = "the function's versions", body = VersionList), Authed, Invalid, Missing),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<VersionList>, ApiError> {
    query::parse(raw.as_deref(), &[])?;
    let function = visible(&state, &caller, &id).await?;
    let versions = state.store.list_versions(function.id).await?;
    Ok(Json(VersionList {
        function_versions: versions.iter().map(VersionView::from).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/functions/{id}/versions/{n}", tag = "versions",
    params(("id" = String, Path, format = Uuid, description = "the function's id"), ("n" = String, Path, description = "the version number"), ("download" = Option<bool>, Query, description = "the version's package instead of the version")),
    responses(
        (status = 200, description = "the version, or with `download=true` its package",
            content((VersionView = "application/json"), (String = "application/zip"))),
        Authed, Invalid, Missing,
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = query::parse(raw.as_deref(), &["download"])?;
    let n = number(&n)?;
    let function = visible(&state, &caller, &id).await?;
    let version = state.store.get_version(function.id, n).await?;
    let download = match params.get("download") {
        Some(v) => query::boolean("download", v)?,
        None => false,
    };
    if !download {
        return Ok(Json(VersionView::from(&version)).into_response());
    }
    let zip = state
        .packages
        .get(&function.project_id, function.id, version.code.md5sum())
        .await?;
    Ok((
        [
            (CONTENT_TYPE, "application/zip".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}_{}\"", function.id, n),
            ),
        ],
        zip,
    )
        .into_response())
}

#[utoipa::path(
    delete, path = "/v1/functions/{id}/versions/{n}", tag = "versions",
    params(("id" = String, Path, format = Uuid, description = "the function's id"), ("n" = String, Path, description = "the version number")),
    responses((status = 204, description = "deleted"), Authed, Invalid, Denied, Missing),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: FunctionId = path_id(&id)?;
    let n = number(&n)?;
    let function = owned(&state, &caller, id).await?;
    let version = state.store.get_version(function.id, n).await?;
    state.store.delete_version(function.id, n).await?;
    // Numbers are never reused, so the version's pool can never serve again: stop it now.
    state.engine.detach(function.id, n).await;
    state
        .engine
        .remove_package_if_unused(&function, version.code.md5sum())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
