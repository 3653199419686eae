//! `/v1/executions`: run a function (sync or async), list, show, delete, and read logs.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use ridge_core::api::{CreateExecution, ExecutionList, ExecutionView};
use ridge_core::{Execution, ExecutionInput, ExecutionStatus, Filter, FunctionId, Target};
use ridge_engine::{ExecutionRequest, Origin, RunTarget};
use ridge_store::ExecutionQuery;

use super::{JsonBody, check_text, path_id};
use crate::access::{self, Intent};
use crate::context::Caller;
use crate::query;
use crate::{ApiError, AppState};

async fn visible(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Execution, ApiError> {
    access::execution(state, caller, path_id(raw_id)?).await
}

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
        Target::Function { id, version } => RunTarget::Loaded {
            function: access::function(&state, &caller, id, Intent::Use).await?,
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

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
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
    let query = ExecutionQuery {
        scope: access::list_scope(&caller, &params)?,
        function_id,
        status,
        description,
    };
    let executions = state.store.list_executions(&query).await?;
    Ok(Json(ExecutionList {
        executions: executions.iter().map(ExecutionView::from).collect(),
    }))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExecutionView>, ApiError> {
    Ok(Json(ExecutionView::from(
        &visible(&state, &caller, &id).await?,
    )))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let execution = visible(&state, &caller, &id).await?;
    state.store.delete_execution(execution.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn log(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let execution = visible(&state, &caller, &id).await?;
    let logs = state.store.get_execution_logs(execution.id).await?;
    Ok(([(CONTENT_TYPE, "text/plain; charset=utf-8")], logs))
}
