//! `/v1/functions`: create from a package, list, show, download, update, delete.
//!
//! Every check runs before anything is written, and the package is stored before the row; if
//! the row cannot be written the package is removed again, so a client mistake never leaves a
//! half-created function or an orphan package file.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use ridge_core::api::{FunctionList, FunctionView};
use ridge_core::function::CodeRequest;
use ridge_core::{
    Code, Entry, Function, FunctionId, NetworkAccess, ProjectId, RuntimeId, RuntimeStatus,
};
use serde_json::Value;

use super::path_id;
use crate::access::{self, Intent};
use crate::context::Caller;
use crate::kwargs::Kwargs;
use crate::query;
use crate::{ApiError, AppState, quota};

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
    quota::admit_function(&state, &caller.project, package.len()).await?;

    let id = FunctionId::new();
    let md5sum = state
        .packages
        .put(&caller.project, id, package, code.md5sum.as_deref())
        .await?;
    let function = Function {
        id,
        project_id: caller.project.clone(),
        name,
        description,
        runtime_id,
        code: Code::Package { md5sum },
        entry,
        limits,
        count: 0,
        latest_version: 0,
        network,
        created_at: ridge_core::time::now(),
        updated_at: None,
    };
    if let Err(e) = state.store.create_function(&function).await {
        remove_packages(&state, &caller.project, id).await;
        return Err(e.into());
    }
    Ok((StatusCode::CREATED, Json(FunctionView::detail(&function))))
}

async fn remove_packages(state: &AppState, project: &ProjectId, id: FunctionId) {
    if let Err(e) = state.packages.delete_all(project, id).await {
        tracing::error!(function = %id, error = %e, "cannot remove the function's packages");
    }
}

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

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    mut kw: Kwargs,
) -> Result<Json<FunctionView>, ApiError> {
    let mut function = visible(&state, &caller, &id).await?;
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
    let package = kw.package.take();
    if package.is_none() && code.as_ref().is_some_and(|c| c.md5sum.is_some()) {
        return Err(missing_package());
    }
    // Qinling: only a name, description or timeout change may happen under a running job.
    let touches_code = package.is_some()
        || entry.as_ref().is_some_and(|e| *e != function.entry)
        || limits.cpu != function.limits.cpu
        || limits.memory_size != function.limits.memory_size;
    if touches_code && state.store.function_usage(function.id).await?.running_jobs > 0 {
        return Err(ApiError::Forbidden(
            "The function is still associated with running job(s).".to_owned(),
        ));
    }
    let old_md5 = function.code.md5sum().to_owned();
    if let Some(expected) = code.as_ref().and_then(|c| c.md5sum.as_deref())
        && expected == old_md5
    {
        return Err(ApiError::BadRequest(
            "The function code checksum is not changed.".to_owned(),
        ));
    }

    if let Some(bytes) = &package {
        quota::admit_package_update(&state, &function.project_id, bytes.len()).await?;
    }
    let new_md5 = match package {
        Some(bytes) => Some(
            state
                .packages
                .put(
                    &function.project_id,
                    function.id,
                    bytes,
                    code.as_ref().and_then(|c| c.md5sum.as_deref()),
                )
                .await?,
        ),
        None => None,
    };
    let code_changed = new_md5.as_ref().is_some_and(|m| *m != old_md5);
    let runs_differently = code_changed
        || entry.as_ref().is_some_and(|e| *e != function.entry)
        || network.is_some_and(|n| n != function.network)
        || limits != function.limits;

    if let Some(name) = name {
        function.name = Some(name);
    }
    if let Some(description) = description {
        function.description = Some(description);
    }
    if let Some(entry) = entry {
        function.entry = entry;
    }
    function.limits = limits;
    if let Some(network) = network {
        function.network = network;
    }
    if let Some(md5sum) = new_md5.clone() {
        function.code = Code::Package { md5sum };
    }
    function.updated_at = Some(ridge_core::time::now());
    if let Err(e) = state.store.update_function(&function).await {
        if let (true, Some(md5)) = (code_changed, &new_md5)
            && !super::versions::package_in_use(&state, &function, md5)
                .await
                .unwrap_or(true)
        {
            let _ = state
                .packages
                .delete(&function.project_id, function.id, md5)
                .await;
        }
        return Err(e.into());
    }
    if runs_differently {
        state.engine.release_function(function.id).await;
    }
    // A version may still run the replaced package (packages are content-addressed by md5).
    if code_changed
        && !super::versions::package_in_use(&state, &function, &old_md5).await?
        && let Err(e) = state
            .packages
            .delete(&function.project_id, function.id, &old_md5)
            .await
    {
        tracing::warn!(function = %function.id, error = %e, "cannot remove the replaced package");
    }
    Ok(Json(FunctionView::detail(&function)))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let function = visible(&state, &caller, &id).await?;
    access::delete_function(&caller, &function)?;
    state.store.delete_function(function.id).await?;
    state.engine.release_function(function.id).await;
    remove_packages(&state, &function.project_id, function.id).await;
    Ok(StatusCode::NO_CONTENT)
}
