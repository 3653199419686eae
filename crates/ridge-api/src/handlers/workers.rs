//! Qinling's admin calls on a function's workers: `scale_up`, `scale_down`, `detach` and the
//! `workers` list. They cover every live node ([`crate::peers`]): the list shows each node's
//! workers with the node's name; `scale_up` and `scale_down` spread `count` over the nodes;
//! `detach` stops the workers everywhere.

use axum::Json;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use ridge_core::FunctionId;
use ridge_core::api::{WorkerList, WorkerView};
use serde::Deserialize;
use serde_json::Value;

use super::{JsonBody, path_id};
use crate::access::{self, AdminOnly, Intent};
use crate::context::Caller;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::{ApiError, AppState};
use crate::{peers, query};

/// What a scale call asks of one node.
#[derive(Debug, Clone, Copy)]
enum Scale {
    Up(usize),
    Down(usize),
    Detach,
}

impl Scale {
    /// This call as one node's part: `part` of the workers to add or remove.
    fn part(self, part: usize) -> Self {
        match self {
            Scale::Up(_) => Scale::Up(part),
            Scale::Down(_) => Scale::Down(part),
            Scale::Detach => Scale::Detach,
        }
    }

    fn count(self) -> Option<usize> {
        match self {
            Scale::Up(n) | Scale::Down(n) => Some(n),
            Scale::Detach => None,
        }
    }
}

/// Applies `scale` to the function version on this node and, unless the call came from
/// another node, on every other live node, each taking its share of `count`.
async fn scale_everywhere(
    state: &AppState,
    call: (&HeaderMap, &OriginalUri),
    function: ridge_core::Function,
    version: i64,
    scale: Scale,
) -> Result<StatusCode, ApiError> {
    let (headers, uri) = call;
    let (nodes, mine) = match peers::local_only(headers) {
        true => (Vec::new(), 0),
        false => peers::nodes(state).await?,
    };
    let mut passed = tokio::task::JoinSet::new();
    for (i, node) in nodes.iter().enumerate().filter(|(i, _)| *i != mine) {
        let part = scale.count().map(|n| peers::share(n, nodes.len(), i));
        if part == Some(0) {
            continue;
        }
        let body = part.map(|n| serde_json::json!({ "count": n }));
        let (node, headers, path) = (node.clone(), headers.clone(), uri.0.to_string());
        let http = state.config.peer_client.clone();
        passed.spawn(async move {
            peers::pass_on(&http, &node, &headers, Method::POST, &path, body.as_ref()).await
        });
    }
    let here = scale.part(
        scale
            .count()
            .map_or(0, |n| peers::share(n, nodes.len().max(1), mine)),
    );
    match here {
        Scale::Up(0) | Scale::Down(0) => {}
        Scale::Up(n) => state.engine.scale_up(function, version, n).await,
        Scale::Down(n) => state.engine.scale_down(function.id, version, n).await,
        Scale::Detach => state.engine.detach(function.id, version).await,
    }
    passed.join_all().await;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScaleBody {
    /// How many workers: an integer of at least 1 (a numeric string is accepted); default 1.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1)]
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

#[utoipa::path(
    post, path = "/v1/functions/{id}/scale_up", tag = "workers", params(("id" = String, Path, format = Uuid, description = "the function's id")), request_body = ScaleBody,
    responses((status = 202, description = "`count` more warm workers are starting, spread over the nodes"), Authed, Invalid, Denied, Missing),
)]
pub async fn scale_up(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id, AdminOnly::ScaleWorkers).await?;
    let scale = Scale::Up(count(&body)?);
    scale_everywhere(&state, (&headers, &uri), function, 0, scale).await
}

#[utoipa::path(
    post, path = "/v1/functions/{id}/scale_down", tag = "workers", params(("id" = String, Path, format = Uuid, description = "the function's id")), request_body = ScaleBody,
    responses((status = 202, description = "up to `count` idle workers are stopping"), Authed, Invalid, Denied, Missing),
)]
pub async fn scale_down(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id, AdminOnly::ScaleWorkers).await?;
    let scale = Scale::Down(count(&body)?);
    scale_everywhere(&state, (&headers, &uri), function, 0, scale).await
}

#[utoipa::path(
    post, path = "/v1/functions/{id}/detach", tag = "workers", params(("id" = String, Path, format = Uuid, description = "the function's id")),
    responses((status = 202, description = "the function's workers are stopping on every node"), Authed, Invalid, Denied, Missing),
)]
pub async fn detach(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let function = function(&state, &caller, &id, AdminOnly::ScaleWorkers).await?;
    scale_everywhere(&state, (&headers, &uri), function, 0, Scale::Detach).await
}

#[utoipa::path(
    post, path = "/v1/functions/{id}/versions/{n}/scale_up", tag = "workers", params(("id" = String, Path, format = Uuid, description = "the function's id"), ("n" = String, Path, description = "the version number (0: the function's current code)")), request_body = ScaleBody,
    responses((status = 202, description = "`count` more warm workers of the version are starting"), Authed, Invalid, Denied, Missing),
)]
pub async fn version_scale_up(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    Path((id, n)): Path<(String, String)>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let (function, version) = versioned(&state, &caller, &id, &n).await?;
    let scale = Scale::Up(count(&body)?);
    scale_everywhere(&state, (&headers, &uri), function, version, scale).await
}

#[utoipa::path(
    post, path = "/v1/functions/{id}/versions/{n}/scale_down", tag = "workers", params(("id" = String, Path, format = Uuid, description = "the function's id"), ("n" = String, Path, description = "the version number (0: the function's current code)")), request_body = ScaleBody,
    responses((status = 202, description = "up to `count` idle workers of the version are stopping"), Authed, Invalid, Denied, Missing),
)]
pub async fn version_scale_down(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    Path((id, n)): Path<(String, String)>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> Result<StatusCode, ApiError> {
    let (function, version) = versioned(&state, &caller, &id, &n).await?;
    let scale = Scale::Down(count(&body)?);
    scale_everywhere(&state, (&headers, &uri), function, version, scale).await
}

#[utoipa::path(
    post, path = "/v1/functions/{id}/versions/{n}/detach", tag = "workers", params(("id" = String, Path, format = Uuid, description = "the function's id"), ("n" = String, Path, description = "the version number (0: the function's current code)")),
    responses((status = 202, description = "the version's workers are stopping on every node"), Authed, Invalid, Denied, Missing),
)]
pub async fn version_detach(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
    Path((id, n)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let (function, version) = versioned(&state, &caller, &id, &n).await?;
    scale_everywhere(&state, (&headers, &uri), function, version, Scale::Detach).await
}

#[utoipa::path(
    get, path = "/v1/functions/{id}/workers", tag = "workers",
    params(("id" = String, Path, format = Uuid, description = "the function's id"), ("function_version" = Option<u32>, Query, description = "only this version's workers")),
    responses((status = 200, description = "the function's workers on every node", body = WorkerList), Authed, Invalid, Denied, Missing),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: OriginalUri,
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
    let here = state.engine.node_name();
    let mut workers: Vec<WorkerView> = state
        .engine
        .workers(function.id, version)
        .into_iter()
        .map(|w| WorkerView {
            function_id: w.function_id.to_string(),
            function_version: w.function_version,
            worker_name: w.worker_name,
            node: Some(here.to_owned()),
        })
        .collect();
    if !peers::local_only(&headers) {
        let (nodes, mine) = peers::nodes(&state).await?;
        let mut passed = tokio::task::JoinSet::new();
        for node in nodes.into_iter().enumerate().filter(|(i, _)| *i != mine) {
            let (headers, path) = (headers.clone(), uri.0.to_string());
            let http = state.config.peer_client.clone();
            passed.spawn(async move {
                peers::pass_on(&http, &node.1, &headers, Method::GET, &path, None).await
            });
        }
        for answer in passed.join_all().await.into_iter().flatten() {
            if let Ok(theirs) = serde_json::from_value::<WorkerList>(answer) {
                workers.extend(theirs.workers);
            }
        }
    }
    Ok(Json(WorkerList { workers }))
}
