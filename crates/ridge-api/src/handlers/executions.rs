//! `/v1/executions`: run a function (sync or async), list, show, delete, and read logs.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use ridge_core::api::{CreateExecution, ExecutionList, ExecutionView};
use ridge_core::{
    Execution, ExecutionId, ExecutionInput, ExecutionStatus, Filter, FunctionId, RuntimeStatus,
};
use ridge_store::ExecutionQuery;
use serde_json::Value;

use super::functions::project_scope;
use super::{JsonBody, path_id};
use crate::context::Caller;
use crate::query;
use crate::{ApiError, AppState};

async fn visible(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Execution, ApiError> {
    let id: ExecutionId = path_id(raw_id)?;
    let execution = state.store.get_execution(id).await?;
    if caller.can_see(&execution.project_id) {
        Ok(execution)
    } else {
        Err(ApiError::NotFound(format!("Execution not found [id={id}]")))
    }
}

/// `function_version` as an int, a numeric string, or null (0, where Qinling answered 500).
fn version(raw: Option<Value>) -> Result<i64, ApiError> {
    let invalid = |v: &Value| {
        ApiError::BadRequest(format!(
            "invalid `function_version` {v}: expected a non-negative integer"
        ))
    };
    let n = match &raw {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| invalid(&Value::Number(n.clone())))?,
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| invalid(&Value::String(s.clone())))?,
        Some(other) => return Err(invalid(other)),
    };
    if n < 0 {
        return Err(invalid(&Value::from(n)));
    }
    Ok(n)
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateExecution>,
) -> Result<(StatusCode, Json<ExecutionView>), ApiError> {
    let version = version(body.function_version)?;
    if let Some(alias) = body.function_alias.filter(|a| !a.is_empty()) {
        // Aliases arrive with their own issue; until then no alias exists.
        return Err(ApiError::NotFound(format!(
            "FunctionAlias not found [name={alias}]"
        )));
    }
    let raw_id = body.function_id.filter(|f| !f.is_empty()).ok_or_else(|| {
        ApiError::BadRequest("Either function_alias or function_id must be provided.".to_owned())
    })?;
    let function_id: FunctionId = raw_id.parse()?;
    let function = state.store.get_function(function_id).await?;
    if !caller.can_see(&function.project_id) {
        return Err(ApiError::NotFound(format!(
            "Function not found [id={function_id}]"
        )));
    }
    if version > 0 {
        // Versions arrive with their own issue; until then only version 0 exists.
        return Err(ApiError::NotFound(format!(
            "FunctionVersion not found [function_id={function_id}, version_number={version}]"
        )));
    }
    let runtime = state.store.get_runtime(function.runtime_id).await?;
    if runtime.status != RuntimeStatus::Available {
        return Err(ApiError::Conflict(format!(
            "Runtime {} is not available.",
            runtime.id
        )));
    }
    if let Some(d) = &body.description
        && d.chars().count() > 255
    {
        return Err(ApiError::BadRequest(
            "`description` is too long: at most 255 characters".to_owned(),
        ));
    }
    state.engine.admission()?;
    let sync = body.sync.unwrap_or(true);
    let execution = Execution {
        id: ExecutionId::new(),
        project_id: function.project_id.clone(),
        function_id,
        function_version: version,
        function_alias: None,
        description: body.description,
        status: ExecutionStatus::Running,
        sync,
        input: body.input.as_ref().and_then(ExecutionInput::from_request),
        result: None,
        started_at: None,
        created_at: ridge_core::time::now(),
        updated_at: None,
    };
    state.store.create_execution(&execution).await?;
    let handle = state.engine.submit(execution.clone(), function);
    let shown = if sync {
        handle.await.map_err(ApiError::internal)?
    } else {
        execution
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
        scope: project_scope(&caller, &params)?,
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
