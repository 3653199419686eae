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

/// Set by the server on every request of a TLS connection whose client certificate the
/// `--tls-client-ca` vouches for (the handshake already refused one it does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCertified;

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
        let caller = state
            .auth
            .authenticate(state, &parts.headers, client)
            .await?;
        if caller.is_admin
            && state.config.admin_needs_client_cert
            && parts.extensions.get::<ClientCertified>().is_none()
        {
            // A stolen admin token alone is not enough: the admin API wants the certificate too.
            return Err(ApiError::Forbidden(
                "admin credentials need a client certificate on this server: connect with a certificate its --tls-client-ca signed (ridge --cert and --key, openstack --os-cert and --os-key)".to_owned(),
            ));
        }
        Ok(caller)
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
