//! Who is calling: the [`Caller`] that every handler takes, built by the configured
//! [`crate::auth::Auth`] mode from the request's token. What a caller may do is decided in
//! [`crate::access`], not here.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::HOST;
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

/// The base of the URLs Ridge gives out (`webhook_url`, the next page of a list, discovery):
/// the configured `public_url`, else the address the caller used (its `Host`, with the scheme
/// a proxy reports in `X-Forwarded-Proto`), never a node's own address, which behind a load
/// balancer no client may be able to reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    pub fn new(configured: Option<&str>, https: bool, headers: &HeaderMap) -> Self {
        if let Some(url) = configured {
            return Self(url.to_owned());
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let host = header(HOST.as_str()).unwrap_or("127.0.0.1:7070");
        let scheme = match header("x-forwarded-proto") {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            _ if https => "https",
            _ => "http",
        };
        Self(format!("{scheme}://{host}"))
    }
}

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::new(
            state.config.public_url.as_deref(),
            state.config.https,
            &parts.headers,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_callers_address_unless_one_is_configured() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, "ridge.example:8443".parse().expect("a header"));
        assert_eq!(
            BaseUrl::new(None, false, &headers).0,
            "http://ridge.example:8443"
        );
        assert_eq!(
            BaseUrl::new(None, true, &headers).0,
            "https://ridge.example:8443"
        );
        headers.insert("x-forwarded-proto", "HTTPS".parse().expect("a header"));
        assert_eq!(
            BaseUrl::new(None, false, &headers).0,
            "https://ridge.example:8443"
        );
        let configured = BaseUrl::new(Some("https://faas.example"), false, &headers);
        assert_eq!(configured.0, "https://faas.example");
    }
}
