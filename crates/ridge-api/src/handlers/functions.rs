//! `/v1/functions`: create from a package, list, show, download, update, delete.
//!
//! The handlers parse the request into a typed command (a `NewFunction` or a `FunctionPatch`,
//! with the package as an `Upload`) and leave the rules, quotas, package writes and undo to the
//! engine (`ridge_engine::functions`).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use ridge_core::api::{Fault, FunctionList, FunctionView};
use ridge_core::function::CodeRequest;
use ridge_core::{
    Entry, Function, FunctionId, FunctionPatch, NetworkAccess, RuntimeId, RuntimeStatus,
};
use ridge_engine::{NewFunction, Upload};
use serde_json::Value;

use super::path_id;
use crate::access::{self, Intent};
use crate::context::Caller;
use crate::kwargs::Kwargs;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::query;
use crate::{ApiError, AppState};

const MAX_TEXT: usize = 255;

fn text(kw: &mut Kwargs, field: &str) -> Result<Option<String>, ApiError> {
    let value = kw.take_text(field)?;
    if let Some(v) = &value
        && v.chars().count() > MAX_TEXT
    {
        return Err(ApiError::BadRequest(format!(
            "`{field}` is too long: at most {MAX_TEXT} characters"
        )));
    }
    Ok(value)
}

/// The Ridge-only `network` field: `loopback` or `outbound`; an outbound grant needs the
/// operator's `[sandbox] allow_function_network`.
fn network(state: &AppState, kw: &mut Kwargs) -> Result<Option<NetworkAccess>, ApiError> {
    let Some(raw) = kw.take_text("network")? else {
        return Ok(None);
    };
    let network: NetworkAccess = raw.trim().parse()?;
    if network == NetworkAccess::Outbound && !state.config.allow_function_network {
        return Err(ApiError::Forbidden(
            "outbound network is not allowed on this server: an operator enables grants with `allow_function_network = true` in the `[sandbox]` settings".to_owned(),
        ));
    }
    Ok(Some(network))
}

fn entry(kw: &mut Kwargs) -> Result<Option<Entry>, ApiError> {
    Ok(kw.take_text("entry")?.map(Entry::try_from).transpose()?)
}

/// `code` as Qinling's client sends it on create, or flattened into `source`/`md5sum` fields as
/// it sends it on update.
fn code(kw: &mut Kwargs) -> Result<Option<CodeRequest>, ApiError> {
    if let Some(raw) = kw.take("code") {
        kw.fields.remove("source");
        kw.fields.remove("md5sum");
        return Ok(Some(CodeRequest::parse(&raw)?));
    }
    let source = kw.take("source");
    let md5sum = kw.take("md5sum");
    if source.is_none() && md5sum.is_none() {
        return Ok(None);
    }
    let mut object = serde_json::Map::new();
    object.insert(
        "source".to_owned(),
        source.unwrap_or(Value::String("package".to_owned())),
    );
    if let Some(md5) = md5sum {
        object.insert("md5sum".to_owned(), md5);
    }
    Ok(Some(CodeRequest::parse(&Value::Object(object))?))
}

async fn visible(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Function, ApiError> {
    let id: FunctionId = path_id(raw_id)?;
    access::function(state, caller, id, Intent::Use).await
}

async fn available_runtime(
    state: &AppState,
    caller: &Caller,
    id: RuntimeId,
) -> Result<(), ApiError> {
    let runtime = access::runtime(state, caller, id).await?;
    if runtime.status != RuntimeStatus::Available {
        return Err(ApiError::BadRequest(format!(
            "Runtime {id} is not available."
        )));
    }
    Ok(())
}

fn missing_package() -> ApiError {
    ApiError::BadRequest(
        "missing package: send the function's zip archive (or `.wasm` module) as the multipart file field `package`"
            .to_owned(),
    )
}

/// The fields of `POST /v1/functions` as Qinling's client sends them: multipart form fields, the
/// package as the file field `package` (a urlencoded form or a JSON object body carry the same
/// fields, without a package). Documentation only: `Kwargs` reads them.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the fields that `Kwargs` reads, for the OpenAPI document"
)]
struct NewFunctionForm {
    /// JSON text: `{"source": "package"}`, with an optional `"md5sum"` of the package.
    code: String,
    runtime_id: String,
    #[serde(flatten)]
    fields: FunctionFields,
    /// The zip archive (or `.wasm` module) of the function.
    #[schema(value_type = String, format = Binary)]
    package: Vec<u8>,
}

/// The fields of `PUT /v1/functions/{id}`: any of them; absent ones are unchanged. A new
/// package is the file field `package`; `code` (or `source` and `md5sum`) may give its md5sum.
/// `runtime_id` is accepted and ignored, as Qinling does.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the fields that `Kwargs` reads, for the OpenAPI document"
)]
struct FunctionUpdateForm {
    code: Option<String>,
    source: Option<String>,
    md5sum: Option<String>,
    runtime_id: Option<String>,
    #[serde(flatten)]
    fields: FunctionFields,
    #[schema(value_type = Option<String>, format = Binary)]
    package: Option<Vec<u8>>,
}

/// The optional fields of both forms.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes the fields that `Kwargs` reads, for the OpenAPI document"
)]
struct FunctionFields {
    #[schema(max_length = 255)]
    name: Option<String>,
    #[schema(max_length = 255)]
    description: Option<String>,
    /// `module.function` (default `main.main`).
    entry: Option<String>,
    /// Ridge: `loopback` (the default) or `outbound` (needs the operator's consent).
    network: Option<String>,
    /// Millicores.
    cpu: Option<u64>,
    /// Bytes.
    memory_size: Option<u64>,
    /// Seconds.
    timeout: Option<u64>,
}

#[utoipa::path(
    post, path = "/v1/functions", tag = "functions",
    request_body(content = NewFunctionForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "the new function", body = FunctionView), Authed, Invalid, Denied, Missing,
        (status = 409, description = "the runtime is not available", body = Fault),
        (status = 413, description = "the package is larger than `max_package_size`", body = Fault),
        (status = 415, description = "a body that is not multipart, urlencoded or JSON", body = Fault),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    mut kw: Kwargs,
) -> Result<(StatusCode, Json<FunctionView>), ApiError> {
    let code = code(&mut kw)?.ok_or_else(|| ApiError::missing("code"))?;
    let runtime_id: RuntimeId = kw
        .take_text("runtime_id")?
        .ok_or_else(|| ApiError::BadRequest("\"runtime_id\" must be specified.".to_owned()))?
        .parse()?;
    let name = text(&mut kw, "name")?;
    let description = text(&mut kw, "description")?;
    let entry = entry(&mut kw)?.unwrap_or_else(Entry::default_entry);
    let network = network(&state, &mut kw)?.unwrap_or_default();
    let policy = &state.config.limits;
    let limits = policy.apply(
        policy.defaults(),
        kw.take("cpu").as_ref(),
        kw.take("memory_size").as_ref(),
        kw.take("timeout").as_ref(),
    )?;
    kw.reject_unknown()?;
    let package = kw.package.take().ok_or_else(missing_package)?;
    available_runtime(&state, &caller, runtime_id).await?;
    let function = state
        .engine
        .create_function(
            NewFunction {
                project: caller.project.clone(),
                name,
                description,
                runtime_id,
                entry,
                limits,
                network,
            },
            Upload {
                bytes: package,
                md5sum: code.md5sum,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(FunctionView::detail(&function))))
}

#[utoipa::path(
    get, path = "/v1/functions", tag = "functions", params(("all_projects" = Option<bool>, Query, description = "admins: every project's"), ("project_id" = Option<String>, Query, description = "admins: this project's")),
    responses((status = 200, description = "the functions (`code` as a JSON-encoded string, as Qinling lists it)", body = FunctionList), Authed, Invalid, Denied),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<FunctionList>, ApiError> {
    let params = query::parse(raw.as_deref(), &["all_projects", "project_id"])?;
    let scope = access::list_scope(&caller, &params)?;
    let functions = state.store.list_functions(&scope).await?;
    Ok(Json(FunctionList {
        functions: functions.iter().map(FunctionView::list_item).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/functions/{id}", tag = "functions",
    params(("id" = String, Path, format = Uuid, description = "the function's id"), ("download" = Option<bool>, Query, description = "the package instead of the function")),
    responses(
        (status = 200, description = "the function, or with `download=true` its package",
            content((FunctionView = "application/json"), (String = "application/zip"))),
        Authed, Invalid, Missing,
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let params = query::parse(raw.as_deref(), &["download"])?;
    let function = visible(&state, &caller, &id).await?;
    let download = match params.get("download") {
        Some(v) => query::boolean("download", v)?,
        None => false,
    };
    if !download {
        return Ok(Json(FunctionView::detail(&function)).into_response());
    }
    let zip = state
        .packages
        .get(&function.project_id, function.id, function.code.md5sum())
        .await?;
    Ok((
        [
            (CONTENT_TYPE, "application/zip".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", function.id),
            ),
        ],
        zip,
    )
        .into_response())
}

#[utoipa::path(
    put, path = "/v1/functions/{id}", tag = "functions", params(("id" = String, Path, format = Uuid, description = "the function's id")),
    request_body(content = FunctionUpdateForm, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "the function, as updated", body = FunctionView), Authed, Invalid, Denied, Missing,
        (status = 413, description = "the package is larger than `max_package_size`", body = Fault),
        (status = 415, description = "a body that is not multipart, urlencoded or JSON", body = Fault),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut kw: Kwargs,
) -> Result<Json<FunctionView>, ApiError> {
    let function = visible(&state, &caller, &id).await?;
    let name = text(&mut kw, "name")?;
    let description = text(&mut kw, "description")?;
    let entry = entry(&mut kw)?;
    let network = network(&state, &mut kw)?;
    let code = code(&mut kw)?;
    let policy = &state.config.limits;
    // Qinling checks `timeout` only when it is truthy; an empty form field means unchanged.
    let timeout = kw
        .take("timeout")
        .filter(|v| !matches!(v, Value::String(s) if s.is_empty()));
    let limits = policy.apply(
        function.limits,
        kw.take("cpu").as_ref(),
        kw.take("memory_size").as_ref(),
        timeout.as_ref(),
    )?;
    // Qinling ignores `runtime_id` on update; a function cannot move to another runtime.
    kw.fields.remove("runtime_id");
    kw.reject_unknown()?;
    let md5sum = code.and_then(|c| c.md5sum);
    let upload = match kw.package.take() {
        Some(bytes) => Some(Upload { bytes, md5sum }),
        None if md5sum.is_some() => return Err(missing_package()),
        None => None,
    };
    let patch = FunctionPatch {
        name,
        description,
        entry,
        limits: Some(limits),
        network,
    };
    let function = state
        .engine
        .update_function(function, patch, upload)
        .await?;
    Ok(Json(FunctionView::detail(&function)))
}

#[utoipa::path(
    delete, path = "/v1/functions/{id}", tag = "functions", params(("id" = String, Path, format = Uuid, description = "the function's id")),
    responses((status = 204, description = "deleted, with its package"), Authed, Invalid, Denied, Missing),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let function = visible(&state, &caller, &id).await?;
    access::delete_function(&caller, &function)?;
    state.engine.delete_function(&function).await?;
    Ok(StatusCode::NO_CONTENT)
}
