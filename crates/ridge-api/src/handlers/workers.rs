//! Qinling's admin calls on a function's workers: `scale_up`, `scale_down`, `detach` and the
//! `workers` list. Ridge answers them for the workers on this node.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use ridge_core::FunctionId;
use ridge_core::api::{WorkerList, WorkerView};
use serde::Deserialize;
use serde_json::Value;

use super::{JsonBody, path_id};
use crate::context::Caller;
use crate::query;
use crate::{ApiError, AppState};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    #[serde(default)]
    count: Option<Value>,
}

/// `count`: an integer >= 1 (a numeric string is accepted, as WSME does); absent means 1.
fn count(body: &ScaleBody) -> Result<usize, ApiError> {
    let invalid =
        || ApiError::BadRequest("invalid `count`: expected an integer of at least 1".to_owned());
    let n = match &body.count {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(invalid)?,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| invalid())?,
        Some(_) => return Err(invalid()),
    };
    if n < 1 {
        return Err(invalid());
    }
    usize::try_from(n).map_err(|_| invalid())
}

async fn function(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
) -> Result<ridge_core::Function, ApiError> {
    caller.require_admin()?;
    let id: FunctionId = path_id(raw_id)?;
    let function = state.store.get_function(id).await?;
    if !caller.can_see(&function.project_id) {
        return Err(ApiError::NotFound(format!("Function not found [id={id}]")));
    }
    Ok(function)
}

pub async fn scale_up(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id).await?;
    let n = count(&body)?;
    state.engine.scale_up(function, 0, n).await;
    Ok(StatusCode::ACCEPTED)
}

pub async fn scale_down(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id).await?;
    let n = count(&body)?;
    state.engine.scale_down(function.id, 0, n).await;
    Ok(StatusCode::ACCEPTED)
}

pub async fn detach(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id).await?;
    state.engine.detach(function.id, 0).await;
    Ok(StatusCode::ACCEPTED)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<WorkerList>, ApiError> {
    let params = query::parse(raw.as_deref(), &["function_version"])?;
    let function = function(&state, &caller, &id).await?;
    let version = params
        .get("function_version")
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "invalid `function_version` `{v}`: expected a non-negative integer"
                    ))
                })
        })
        .transpose()?;
    let workers = state
        .engine
        .workers(function.id, version)
        .into_iter()
        .map(|w| WorkerView {
            function_id: w.function_id.to_string(),
            function_version: w.function_version,
            worker_name: w.worker_name,
        })
        .collect();
    Ok(Json(WorkerList { workers }))
}
