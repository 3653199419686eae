//! `/v1/aliases`: names for function versions, unique per project. Unlike Qinling, the target
//! function and version must exist, and an alias that a job or webhook uses cannot be deleted.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use ridge_core::api::{AliasList, AliasView, CreateAlias, UpdateAlias};
use ridge_core::version::parse_version_number;
use ridge_core::{Alias, AliasId, AliasName, FunctionId};

use super::{JsonBody, check_text};
use crate::access;
use crate::context::Caller;
use crate::openapi::{Authed, Denied, Invalid, Missing};
use crate::query;
use crate::{ApiError, AppState};

fn name(raw: &str) -> Result<AliasName, ApiError> {
    Ok(raw.parse::<AliasName>()?)
}

/// Checks that the function is the caller's and that the version exists (0 always does).
pub(crate) async fn check_target(
    state: &AppState,
    caller: &Caller,
    function_id: FunctionId,
    version: i64,
) -> Result<(), ApiError> {
    super::versions::owned(state, caller, function_id).await?;
    if version > 0 {
        state.store.get_version(function_id, version).await?;
    }
    Ok(())
}

#[utoipa::path(
    post, path = "/v1/aliases", tag = "aliases", request_body = CreateAlias,
    responses((status = 201, description = "the new alias", body = AliasView), Authed, Invalid, Missing),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateAlias>,
) -> Result<(StatusCode, Json<AliasView>), ApiError> {
    let alias_name = body
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    let function_id: FunctionId = body
        .function_id
        .filter(|f| !f.is_empty())
        .ok_or_else(|| ApiError::missing("function_id"))?
        .parse()?;
    let version = parse_version_number(body.function_version.as_ref())?;
    check_text("description", body.description.as_deref())?;
    let alias_name = name(&alias_name)?;
    check_target(&state, &caller, function_id, version).await?;
    let alias = Alias {
        id: AliasId::new(),
        project_id: caller.project.clone(),
        name: alias_name,
        function_id,
        function_version: version,
        description: body.description,
        created_at: ridge_core::time::now(),
        updated_at: None,
    };
    state.store.create_alias(&alias).await?;
    Ok((StatusCode::CREATED, Json(AliasView::from(&alias))))
}

#[utoipa::path(
    get, path = "/v1/aliases", tag = "aliases", params(("all_projects" = Option<bool>, Query, description = "admins: every project's"), ("project_id" = Option<String>, Query, description = "admins: this project's")),
    responses((status = 200, description = "the aliases", body = AliasList), Authed, Invalid, Denied),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<AliasList>, ApiError> {
    let params = query::parse(raw.as_deref(), &["all_projects", "project_id"])?;
    let scope = access::list_scope(&caller, &params)?;
    let aliases = state.store.list_aliases(&scope).await?;
    Ok(Json(AliasList {
        function_aliases: aliases.iter().map(AliasView::from).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/aliases/{name}", tag = "aliases", params(("name" = String, Path, description = "the alias's name")),
    responses((status = 200, description = "the alias", body = AliasView), Authed, Invalid, Missing),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<AliasView>, ApiError> {
    let alias = access::alias(&state, &caller, &name(&raw)?).await?;
    Ok(Json(AliasView::from(&alias)))
}

#[utoipa::path(
    put, path = "/v1/aliases/{name}", tag = "aliases", params(("name" = String, Path, description = "the alias's name")), request_body = UpdateAlias,
    responses((status = 200, description = "the alias, as updated", body = AliasView), Authed, Invalid, Missing),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody<UpdateAlias>,
) -> Result<Json<AliasView>, ApiError> {
    let mut alias = access::alias(&state, &caller, &name(&raw)?).await?;
    check_text("description", body.description.as_deref())?;
    let function_id = match body.function_id.as_deref().filter(|f| !f.is_empty()) {
        Some(f) => Some(f.parse::<FunctionId>()?),
        None => None,
    };
    let version = match body.function_version.as_ref().filter(|v| !v.is_null()) {
        Some(v) => Some(parse_version_number(Some(v))?),
        None => None,
    };
    if function_id.is_none() && version.is_none() && body.description.is_none() {
        // Qinling: an empty update is a no-op.
        return Ok(Json(AliasView::from(&alias)));
    }
    let new_function = function_id.unwrap_or(alias.function_id);
    // Moving an alias to another function without a version means that function's version 0.
    let new_version = match (function_id, version) {
        (_, Some(v)) => v,
        (Some(f), None) if f != alias.function_id => 0,
        _ => alias.function_version,
    };
    if (new_function, new_version) != (alias.function_id, alias.function_version) {
        check_target(&state, &caller, new_function, new_version).await?;
    }
    alias.function_id = new_function;
    alias.function_version = new_version;
    if let Some(d) = body.description {
        alias.description = Some(d);
    }
    alias.updated_at = Some(ridge_core::time::now());
    state.store.update_alias(&alias).await?;
    Ok(Json(AliasView::from(&alias)))
}

#[utoipa::path(
    delete, path = "/v1/aliases/{name}", tag = "aliases", params(("name" = String, Path, description = "the alias's name")),
    responses((status = 204, description = "deleted"), Authed, Invalid, Denied, Missing),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let alias = access::alias(&state, &caller, &name(&raw)?).await?;
    state
        .store
        .delete_alias(&alias.project_id, &alias.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
