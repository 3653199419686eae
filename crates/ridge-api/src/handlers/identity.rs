//! Ridge's own identity store (`token` auth mode): `/v1/projects`, `/v1/users` and
//! `/v1/tokens`, all admin-only; and `GET /v1/whoami`, for anyone. In the other modes the admin
//! calls answer 400: in `keystone` mode Keystone owns identities, in `none` mode there are none.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use ridge_core::api::{
    CreateProject, CreateToken, CreateUser, ProjectList, ProjectView, TokenList, TokenView,
    UserList, UserView, WhoamiView,
};
use ridge_core::tenancy::{generate_token, validate_user_name};
use ridge_core::{ApiToken, Project, ProjectId, Role, TokenId, User, UserId};

use super::{JsonBody, check_text, path_id};
use crate::access::{self, AdminOnly};
use crate::auth::{Auth, token_hash};
use crate::context::Caller;
use crate::openapi::{Authed, Clash, Denied, Invalid, Missing};
use crate::query;
use crate::{ApiError, AppState};

/// Longest token lifetime that `expires_in` accepts: ten years, in seconds.
const MAX_EXPIRES_IN: u64 = 10 * 365 * 24 * 3600;

/// Admin, and the server keeps its own identities.
fn identity_admin(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    access::require(caller, AdminOnly::ManageIdentity)?;
    match state.auth.as_ref() {
        Auth::Token => Ok(()),
        other => Err(ApiError::BadRequest(format!(
            "projects, users and tokens are Ridge's own only in `token` auth mode; this server runs in `{}` mode{}",
            other.name(),
            if matches!(other, Auth::Keystone(_)) {
                ", where Keystone manages them"
            } else {
                ""
            }
        ))),
    }
}

#[utoipa::path(
    get, path = "/v1/whoami", tag = "identity",
    responses((status = 200, description = "who the server takes the caller for", body = WhoamiView), Authed),
)]
pub async fn whoami(State(state): State<AppState>, caller: Caller) -> Json<WhoamiView> {
    Json(WhoamiView {
        auth: state.auth.name().to_owned(),
        project_id: caller.project.to_string(),
        user_id: caller.user,
        is_admin: caller.is_admin,
        roles: caller.roles,
    })
}

#[utoipa::path(
    post, path = "/v1/projects", tag = "identity", request_body = CreateProject,
    responses((status = 201, description = "the new project", body = ProjectView), Authed, Invalid, Denied, Clash),
)]
pub async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateProject>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    identity_admin(&state, &caller)?;
    check_text("description", body.description.as_deref())?;
    let id: ProjectId = match body.id.filter(|i| !i.is_empty()) {
        Some(id) => id.parse()?,
        None => uuid::Uuid::new_v4().simple().to_string().parse()?,
    };
    let project = Project {
        id,
        description: body.description,
        created_at: ridge_core::time::now(),
    };
    state.store.create_project(&project).await?;
    Ok((StatusCode::CREATED, Json(ProjectView::from(&project))))
}

#[utoipa::path(
    get, path = "/v1/projects", tag = "identity",
    responses((status = 200, description = "every project", body = ProjectList), Authed, Invalid, Denied),
)]
pub async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ProjectList>, ApiError> {
    identity_admin(&state, &caller)?;
    let projects = state.store.list_projects().await?;
    Ok(Json(ProjectList {
        projects: projects.iter().map(ProjectView::from).collect(),
    }))
}

#[utoipa::path(
    get, path = "/v1/projects/{id}", tag = "identity",
    params(("id" = String, Path, description = "the project's id")),
    responses((status = 200, description = "the project", body = ProjectView), Authed, Invalid, Denied, Missing),
)]
pub async fn show_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProjectView>, ApiError> {
    identity_admin(&state, &caller)?;
    let project = state.store.get_project(&id.parse()?).await?;
    Ok(Json(ProjectView::from(&project)))
}

#[utoipa::path(
    post, path = "/v1/users", tag = "identity", request_body = CreateUser,
    responses((status = 201, description = "the new user", body = UserView), Authed, Invalid, Denied, Missing, Clash),
)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    identity_admin(&state, &caller)?;
    let name = body.name.ok_or_else(|| ApiError::missing("name"))?;
    validate_user_name(&name)?;
    let project: ProjectId = body
        .project_id
        .ok_or_else(|| ApiError::missing("project_id"))?
        .parse()?;
    let role = match body.role.as_deref() {
        Some(r) => r.parse()?,
        None => Role::Member,
    };
    let user = User {
        id: UserId::new(),
        name,
        project_id: project,
        role,
        created_at: ridge_core::time::now(),
    };
    state.store.create_user(&user).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

#[utoipa::path(
    get, path = "/v1/users", tag = "identity",
    params(("project_id" = Option<String>, Query, description = "only this project's users")),
    responses((status = 200, description = "the users", body = UserList), Authed, Invalid, Denied),
)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<UserList>, ApiError> {
    identity_admin(&state, &caller)?;
    let params = query::parse(raw.as_deref(), &["project_id"])?;
    let project = params
        .get("project_id")
        .map(|p| p.parse::<ProjectId>())
        .transpose()?;
    let users = state.store.list_users(project.as_ref()).await?;
    Ok(Json(UserList {
        users: users.iter().map(UserView::from).collect(),
    }))
}

#[utoipa::path(
    delete, path = "/v1/users/{id}", tag = "identity",
    params(("id" = String, Path, format = Uuid, description = "the user's id")),
    responses((status = 204, description = "deleted, with its tokens"), Authed, Invalid, Denied, Missing),
)]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    identity_admin(&state, &caller)?;
    let id: UserId = path_id(&id)?;
    if caller.user.as_deref() == Some(id.to_string().as_str()) {
        return Err(ApiError::BadRequest(
            "you cannot delete the user you are signed in as: use another admin's token".to_owned(),
        ));
    }
    state.store.delete_user(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post, path = "/v1/tokens", tag = "identity", request_body = CreateToken,
    responses((status = 201, description = "the new token, with its secret in `token` (shown only here)", body = TokenView), Authed, Invalid, Denied, Missing),
)]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateToken>,
) -> Result<(StatusCode, Json<TokenView>), ApiError> {
    identity_admin(&state, &caller)?;
    let user: UserId = body
        .user_id
        .ok_or_else(|| ApiError::missing("user_id"))?
        .parse()?;
    check_text("description", body.description.as_deref())?;
    let now = state.clock.now();
    let expires_at = match body.expires_in {
        Some(0) | Some(MAX_EXPIRES_IN..) => {
            return Err(ApiError::BadRequest(format!(
                "invalid `expires_in`: expected seconds from 1 to {MAX_EXPIRES_IN}, or leave it out for a token that does not expire"
            )));
        }
        Some(secs) => Some(now + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(0))),
        None => None,
    };
    let secret = generate_token();
    let token = ApiToken {
        id: TokenId::new(),
        user_id: user,
        hash: token_hash(&secret),
        description: body.description,
        expires_at,
        revoked_at: None,
        created_at: now,
    };
    state.store.create_token(&token).await?;
    let mut shown = TokenView::from(&token);
    shown.token = Some(secret);
    Ok((StatusCode::CREATED, Json(shown)))
}

#[utoipa::path(
    get, path = "/v1/tokens", tag = "identity",
    params(("user_id" = Option<String>, Query, description = "only this user's tokens")),
    responses((status = 200, description = "the tokens, without their secrets", body = TokenList), Authed, Invalid, Denied),
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<TokenList>, ApiError> {
    identity_admin(&state, &caller)?;
    let params = query::parse(raw.as_deref(), &["user_id"])?;
    let user = params
        .get("user_id")
        .map(|u| u.parse::<UserId>())
        .transpose()?;
    let tokens = state.store.list_tokens(user).await?;
    Ok(Json(TokenList {
        tokens: tokens.iter().map(TokenView::from).collect(),
    }))
}

/// `DELETE /v1/tokens/{id}`: revokes the token; it is kept, marked revoked, for the record.
#[utoipa::path(
    delete, path = "/v1/tokens/{id}", tag = "identity",
    params(("id" = String, Path, format = Uuid, description = "the token's id")),
    responses((status = 204, description = "revoked"), Authed, Invalid, Denied, Missing),
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    identity_admin(&state, &caller)?;
    let id: TokenId = path_id(&id)?;
    state.store.revoke_token(id, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
