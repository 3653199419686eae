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
use crate::access::{self, AdminOnly, Intent};
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
    call: AdminOnly,
) -> Result<ridge_core::Function, ApiError> {
    access::require(caller, call)?;
    let id: FunctionId = path_id(raw_id)?;
    access::function(state, caller, id, Intent::Use).await
}

/// The function as one of its versions runs it: version 0 is the function itself; a higher
/// number is that version's snapshot (404 if it does not exist).
async fn versioned(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
    raw_version: &str,
) -> Result<(ridge_core::Function, i64), ApiError> {
    let function = function(state, caller, raw_id, AdminOnly::ScaleWorkers).await?;
    let version: i64 = raw_version
        .trim()
        .parse()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid version `{raw_version}`: expected a non-negative integer"
            ))
        })?;
    if version == 0 {
        return Ok((function, 0));
    }
    let snapshot = state.store.get_version(function.id, version).await?;
    Ok((snapshot.apply(&function), version))
}

async fn do_scale_up(
    state: &AppState,
    function: ridge_core::Function,
    version: i64,
    body: &ScaleBody,
) -> Result<StatusCode, ApiError> {
    let n = count(body)?;
    state.engine.scale_up(function, version, n).await;
    Ok(StatusCode::ACCEPTED)
}

async fn do_scale_down(
    state: &AppState,
    function: &ridge_core::Function,
    version: i64,
    body: &ScaleBody,
) -> Result<StatusCode, ApiError> {
    let n = count(body)?;
    state.engine.scale_down(function.id, version, n).await;
    Ok(StatusCode::ACCEPTED)
}

pub async fn scale_up(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id, AdminOnly::ScaleWorkers).await?;
    do_scale_up(&state, function, 0, &body).await
}

pub async fn scale_down(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id, AdminOnly::ScaleWorkers).await?;
    do_scale_down(&state, &function, 0, &body).await
}

pub async fn detach(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id, AdminOnly::ScaleWorkers).await?;
    state.engine.detach(function.id, 0).await;
    Ok(StatusCode::ACCEPTED)
}

pub async fn version_scale_up(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let (function, version) = versioned(&state, &caller, &id, &n).await?;
    do_scale_up(&state, function, version, &body).await
}

pub async fn version_scale_down(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let (function, version) = versioned(&state, &caller, &id, &n).await?;
    do_scale_down(&state, &function, version, &body).await
}

pub async fn version_detach(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, n)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (function, version) = versioned(&state, &caller, &id, &n).await?;
    state.engine.detach(function.id, version).await;
    Ok(StatusCode::ACCEPTED)
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<WorkerList>, ApiError> {
    let params = query::parse(raw.as_deref(), &["function_version"])?;
    let function = function(&state, &caller, &id, AdminOnly::ListWorkers).await?;
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
