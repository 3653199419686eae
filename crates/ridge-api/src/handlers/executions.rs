//! `/v1/executions`: run a function (sync or async), list, show, delete, and read logs.
//!
//! The list pages as OpenStack lists do (Qinling's own controllers took no paging): `limit`
//! (default [`DEFAULT_PAGE`], at most [`MAX_PAGE`]) and `marker`, the id of the last execution
//! of the previous page, in the list's order (`created_at`, then `id`). A full page carries
//! `next`, the URL of the page after it, so that no list call returns every execution at once.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use ridge_core::api::{CreateExecution, ExecutionList, ExecutionView, Fault};
use ridge_core::{Execution, ExecutionInput, ExecutionStatus, Filter, FunctionId, Target};
use ridge_engine::{ExecutionRequest, Origin, RunTarget};
use ridge_store::{ExecutionQuery, Page};

use super::{JsonBody, check_text, path_id};
use crate::access;
use crate::context::{BaseUrl, Caller};
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::query;
use crate::{ApiError, AppState};

async fn visible(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Execution, ApiError> {
    access::execution(state, caller, path_id(raw_id)?).await
}

#[utoipa::path(
    post, path = "/v1/executions", tag = "executions", request_body = CreateExecution,
    responses(
        (status = 201, description = "the execution: finished when `sync` (the default), else `running`", body = ExecutionView),
        Authed, Invalid, Denied, Missing,
        (status = 409, description = "the function's runtime is not available", body = Fault),
        (status = 429, description = "a quota (rate, concurrency) or the queue is full", body = Fault),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateExecution>,
) -> Result<(StatusCode, Json<ExecutionView>), ApiError> {
    // Qinling: an alias wins over a function id; it is resolved now, in the caller's project.
    let target = Target::from_request(
        body.function_alias.as_deref(),
        body.function_id.as_deref(),
        body.function_version.as_ref(),
    )?;
    check_text("description", body.description.as_deref())?;
    let target = match target {
        Target::Function { id, version } => RunTarget::Prepared {
            to_run: Box::new(access::function_to_run(&state, &caller, id).await?),
            version,
        },
        alias @ Target::Alias(_) => RunTarget::Named(alias),
    };
    let sync = body.sync.unwrap_or(true);
    let started = state
        .engine
        .start(ExecutionRequest {
            project: caller.project.clone(),
            target,
            input: body.input.as_ref().and_then(ExecutionInput::from_request),
            description: body.description,
            sync,
            origin: Origin::Api,
        })
        .await?;
    let shown = if sync {
        started.finished().await?
    } else {
        started.execution
    };
    Ok((StatusCode::CREATED, Json(ExecutionView::from(&shown))))
}

/// Executions in a page when the caller gives no `limit`.
pub const DEFAULT_PAGE: u64 = 100;
/// The most executions in one page; a bigger `limit` is lowered to it.
pub const MAX_PAGE: u64 = 1000;

/// `limit` and `marker` as given; a marker must be an execution the caller can see.
async fn page(
    state: &AppState,
    caller: &Caller,
    params: &BTreeMap<String, String>,
) -> Result<Page, ApiError> {
    let limit = match params.get("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(n) if n > 0 => n.min(MAX_PAGE),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "invalid `limit` `{raw}`: expected a positive number of executions (at most {MAX_PAGE} are returned at once)"
                )));
            }
        },
    };
    let marker = match params.get("marker") {
        None => None,
        Some(raw) => {
            let not_found = || {
                ApiError::BadRequest(format!(
                    "marker `{raw}` not found: give the id of the last execution of the previous page"
                ))
            };
            let id = raw.parse().map_err(|_| not_found())?;
            match access::execution(state, caller, id).await {
                Ok(execution) => Some(execution.id),
                Err(ApiError::NotFound(_)) => return Err(not_found()),
                Err(e) => return Err(e),
            }
        }
    };
    Ok(Page {
        limit: Some(limit),
        marker,
    })
}

/// The URL of the page after one that ended with `last`: the same query, the new marker.
fn next_page(base: &BaseUrl, params: &BTreeMap<String, String>, last: &Execution) -> String {
    let mut query: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k.as_str() != "marker")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let marker = last.id.to_string();
    query.push(("marker", &marker));
    let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
    format!("{}/v1/executions?{encoded}", base.0)
}

#[utoipa::path(
    get, path = "/v1/executions", tag = "executions",
    params(
        ("function_id" = Option<String>, Query, description = "a filter: a function id, or `op:value` with op one of eq, neq, in, nin (in and nin take comma-separated values)"),
        ("status" = Option<String>, Query, description = "a filter of statuses (`running`, `success`, `failed`, `error`), as `function_id`"),
        ("description" = Option<String>, Query, description = "a filter of descriptions, as `function_id`"),
        ("all_projects" = Option<bool>, Query, description = "admins: every project's"), ("project_id" = Option<String>, Query, description = "admins: this project's"),
        ("limit" = Option<u64>, Query, minimum = 1, description = "executions in a page (default 100; more than 1000 is lowered to 1000)"),
        ("marker" = Option<String>, Query, description = "the id of the last execution of the previous page"),
    ),
    responses((status = 200, description = "a page of executions, oldest first; `next` is the next page's URL when this one is full", body = ExecutionList), Authed, Invalid, Denied),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    base: BaseUrl,
    RawQuery(raw): RawQuery,
) -> Result<Json<ExecutionList>, ApiError> {
    let params = query::parse(
        raw.as_deref(),
        &[
            "function_id",
            "status",
            "description",
            "project_id",
            "all_projects",
            "limit",
            "marker",
        ],
    )?;
    let function_id = params
        .get("function_id")
        .map(|v| Filter::parse(v))
        .transpose()?;
    if let Some(f) = &function_id {
        f.validate(|v| v.parse::<FunctionId>())?;
    }
    let status = params.get("status").map(|v| Filter::parse(v)).transpose()?;
    if let Some(f) = &status {
        f.validate(|v| v.parse::<ExecutionStatus>())?;
    }
    let description = params
        .get("description")
        .map(|v| Filter::parse(v))
        .transpose()?;
    let page = page(&state, &caller, &params).await?;
    let query = ExecutionQuery {
        scope: access::list_scope(&caller, &params)?,
        function_id,
        status,
        description,
        page,
    };
    let executions = state.store.list_executions(&query).await?;
    let full = page
        .limit
        .is_some_and(|limit| executions.len() as u64 >= limit);
    let next = executions
        .last()
        .filter(|_| full)
        .map(|last| next_page(&base, &params, last));
    Ok(Json(ExecutionList {
        executions: executions.iter().map(ExecutionView::from).collect(),
        next,
    }))
}

#[utoipa::path(
    get, path = "/v1/executions/{id}", tag = "executions", params(("id" = String, Path, format = Uuid, description = "the execution's id")),
    responses((status = 200, description = "the execution", body = ExecutionView), Authed, Invalid, Missing),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    Ok(Json(ExecutionView::from(
        &visible(&state, &caller, &id).await?,
    )))
}

#[utoipa::path(
    delete, path = "/v1/executions/{id}", tag = "executions", params(("id" = String, Path, format = Uuid, description = "the execution's id")),
    responses((status = 204, description = "deleted"), Authed, Invalid, Missing),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let execution = visible(&state, &caller, &id).await?;
    state.store.delete_execution(execution.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/v1/executions/{id}/log", tag = "executions", params(("id" = String, Path, format = Uuid, description = "the execution's id")),
    responses((status = 200, description = "what the function wrote (stdout and stderr), capped", body = String, content_type = "text/plain"), Authed, Invalid, Missing),
)]
pub async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let execution = visible(&state, &caller, &id).await?;
    let logs = state.store.get_execution_logs(execution.id).await?;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], logs))
}
