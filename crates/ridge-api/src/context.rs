//! Who is calling: the [`Caller`] that every handler takes, built by the configured
//! [`crate::auth::Auth`] mode from the request's token. What a caller may do is decided in
//! [`crate::access`], not here.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ridge_core::ProjectId;

use crate::{ApiError, AppState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub project: ProjectId,
    /// Qinling's `context_is_admin`: cloud-wide admin.
    pub is_admin: bool,
    /// The user id, when the auth mode knows users.
    pub user: Option<String>,
    /// Role names as the identity service gave them.
    pub roles: Vec<String>,
}

impl Caller {
    /// The caller in `none` auth mode: admin of project `default`.
    pub fn anonymous_admin() -> Self {
        Caller {
            project: ProjectId::default_project(),
            is_admin: true,
            user: None,
            roles: vec!["admin".to_owned()],
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        state.auth.authenticate(state, &parts.headers, client).await
    }
}
