//! `/v1/runtimes`: admins register the runtimes functions run on.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ridge_core::api::{
    CreateRuntime, PoolCapacity, PoolView, PrestartedView, RuntimeList, RuntimeView, UpdatePool,
    UpdateRuntime,
};
use ridge_core::{Runtime, RuntimeId, RuntimeStatus};

use super::{JsonBody, path_id};
use crate::access::{self, AdminOnly};
use crate::context::Caller;
use crate::openapi::{Authed, Clash, Denied, Invalid, Missing};
use crate::{ApiError, AppState};

const MAX_TEXT: usize = 255;

fn check_text(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > MAX_TEXT => Err(ApiError::BadRequest(format!(
            "`{field}` is too long: at most {MAX_TEXT} characters"
        ))),
        _ => Ok(()),
    }
}

/// The runtime as the API shows it: an `error` one says why this node cannot run it.
fn view(state: &AppState, runtime: &Runtime) -> RuntimeView {
    let mut view = RuntimeView::from(runtime);
    if runtime.status == RuntimeStatus::Error {
        view.status_reason = state.engine.runtime_problem(runtime);
    }
    view
}

async fn visible(state: &AppState, caller: &Caller, raw_id: &str) -> Result<Runtime, ApiError> {
    access::runtime(state, caller, path_id(raw_id)?).await
}

#[utoipa::path(
    get, path = "/v1/runtimes", tag = "runtimes",
    responses((status = 200, description = "the runtimes the caller can use", body = RuntimeList), Authed),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<RuntimeList>, ApiError> {
    let runtimes = state.store.list_runtimes(&caller.project).await?;
    Ok(Json(RuntimeList {
        runtimes: runtimes.iter().map(|r| view(&state, r)).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/runtimes/{id}", tag = "runtimes", params(("id" = String, Path, format = Uuid, description = "the runtime's id")),
    responses((status = 200, description = "the runtime", body = RuntimeView), Authed, Invalid, Missing),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<RuntimeView>, ApiError> {
    Ok(Json(view(&state, &visible(&state, &caller, &id).await?)))
}

#[utoipa::path(
    post, path = "/v1/runtimes", tag = "runtimes", request_body = CreateRuntime,
    responses((status = 201, description = "the new runtime, `creating` until this node has checked it", body = RuntimeView), Authed, Invalid, Denied),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateRuntime>,
) -> Result<(StatusCode, Json<RuntimeView>), ApiError> {
    access::require(&caller, AdminOnly::ChangeRuntime)?;
    let image = body.image.ok_or_else(|| ApiError::missing("image"))?;
    state.engine.runtime_kind(&image)?;
    check_text("name", &body.name)?;
    check_text("description", &body.description)?;
    check_text("image", &Some(image.clone()))?;
    let runtime = Runtime {
        id: RuntimeId::new(),
        project_id: caller.project.clone(),
        name: body.name,
        description: body.description,
        image,
        status: RuntimeStatus::Creating,
        is_public: body.is_public.unwrap_or(true),
        trusted: body.trusted.unwrap_or(true),
        created_at: ridge_core::time::now(),
        updated_at: None,
    };
    state.store.create_runtime(&runtime).await?;
    state.engine.prepare_runtime(runtime.clone());
    Ok((StatusCode::CREATED, Json(view(&state, &runtime))))
}

#[utoipa::path(
    put, path = "/v1/runtimes/{id}", tag = "runtimes", params(("id" = String, Path, format = Uuid, description = "the runtime's id")), request_body = UpdateRuntime,
    responses((status = 200, description = "the runtime, as updated", body = RuntimeView), Authed, Invalid, Denied, Missing, Clash),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateRuntime>,
) -> Result<Json<RuntimeView>, ApiError> {
    access::require(&caller, AdminOnly::ChangeRuntime)?;
    let mut runtime = visible(&state, &caller, &id).await?;
    check_text("name", &body.name)?;
    check_text("description", &body.description)?;
    let new_image = body.image.filter(|i| *i != runtime.image);
    if let Some(image) = &new_image {
        state.engine.runtime_kind(image)?;
        check_text("image", &Some(image.clone()))?;
        if runtime.status != RuntimeStatus::Available {
            return Err(ApiError::Conflict(format!(
                "Runtime {} is not available.",
                runtime.id
            )));
        }
        if state.engine.pool_stats(runtime.id).total > 0 {
            return Err(ApiError::Forbidden(format!(
                "Runtime {} is still in use by functions.",
                runtime.id
            )));
        }
    }
    if let Some(name) = body.name {
        runtime.name = Some(name);
    }
    if let Some(description) = body.description {
        runtime.description = Some(description);
    }
    runtime.updated_at = Some(ridge_core::time::now());
    if let Some(image) = new_image {
        // The old kind's pre-started workers cannot serve the new one.
        state.engine.stop_runtime_pool(&runtime);
        runtime.image = image;
        runtime.status = RuntimeStatus::Creating;
        state.store.update_runtime(&runtime).await?;
        state.engine.prepare_runtime(runtime.clone());
    } else {
        state.store.update_runtime(&runtime).await?;
    }
    Ok(Json(view(&state, &runtime)))
}

#[utoipa::path(
    delete, path = "/v1/runtimes/{id}", tag = "runtimes", params(("id" = String, Path, format = Uuid, description = "the runtime's id")),
    responses((status = 204, description = "deleted"), Authed, Invalid, Denied, Missing),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    access::require(&caller, AdminOnly::ChangeRuntime)?;
    let runtime = visible(&state, &caller, &id).await?;
    state.store.delete_runtime(runtime.id).await?;
    state.engine.release_runtime(&runtime).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get, path = "/v1/runtimes/{id}/pool", tag = "runtimes", params(("id" = String, Path, format = Uuid, description = "the runtime's id")),
    responses((status = 200, description = "the runtime's workers on this node", body = PoolView), Authed, Invalid, Denied, Missing),
)]
pub async fn pool(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PoolView>, ApiError> {
    access::require(&caller, AdminOnly::RuntimePool)?;
    let runtime = visible(&state, &caller, &id).await?;
    Ok(Json(pool_view(&state, &runtime).await?))
}

#[utoipa::path(
    put, path = "/v1/runtimes/{id}/pool", tag = "runtimes", params(("id" = String, Path, format = Uuid, description = "the runtime's id")), request_body = UpdatePool,
    responses((status = 200, description = "the runtime's workers on this node, with the new size", body = PoolView), Authed, Invalid, Denied, Missing),
)]
pub async fn set_pool(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdatePool>,
) -> Result<Json<PoolView>, ApiError> {
    access::require(&caller, AdminOnly::ChangeRuntime)?;
    let runtime = visible(&state, &caller, &id).await?;
    let max = state.engine.prestart_config().max_size;
    let size = match body.size {
        None => None,
        Some(n) => Some(
            u32::try_from(n)
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "invalid pool size `{n}`: give a number of pre-started workers from 0 to {max}, or null for the default"
                    ))
                })?,
        ),
    };
    state.store.set_runtime_pool_size(runtime.id, size).await?;
    state.engine.apply_runtime_pool(&runtime).await;
    Ok(Json(pool_view(&state, &runtime).await?))
}

async fn pool_view(state: &AppState, runtime: &Runtime) -> Result<PoolView, ApiError> {
    let stats = state.engine.pool_stats(runtime.id);
    let setting = state.store.runtime_pool_size(runtime.id).await?;
    let bounds = state.engine.prestart_config();
    let prestarted = state.engine.prestarted(runtime);
    Ok(PoolView {
        name: runtime.id.to_string(),
        capacity: PoolCapacity {
            total: stats.total,
            available: stats.available,
        },
        prestarted: PrestartedView {
            setting,
            default_size: bounds.default_size,
            max_size: bounds.max_size,
            size: prestarted.size as u64,
            ready: prestarted.ready as u64,
            workers: prestarted.workers,
            unavailable: prestarted.unavailable,
            last_error: prestarted.last_error,
            memory_size: prestarted.memory_size,
            zygote: prestarted.zygote,
        },
    })
}
