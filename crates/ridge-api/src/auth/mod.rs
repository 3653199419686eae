//! Authentication: how a request's token becomes a [`Caller`]. Three modes, chosen by
//! configuration:
//!
//! - `none`: every request is the admin of project `default`; tokens are ignored.
//! - `token`: Ridge's own API tokens (`X-Auth-Token: T` or `Authorization: Bearer T`), looked up
//!   by their SHA-256 in the store.
//! - `keystone`: the token is validated against an OpenStack Keystone v3 endpoint.
//!
//! Which calls a caller may make is not decided here but in [`crate::access`].

pub mod keystone;
mod refusals;

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use ridge_core::Role;
use ridge_core::tenancy::TokenRefusal;
use sha2::{Digest, Sha256};

use crate::context::Caller;
use crate::{ApiError, AppState};

pub use keystone::{KeystoneAuth, KeystoneSettings};

/// The header the `openstack` CLI and keystoneauth send.
pub const TOKEN_HEADER: &str = "x-auth-token";

#[derive(Debug)]
pub enum Auth {
    None,
    Token,
    Keystone(Box<KeystoneAuth>),
}

impl Auth {
    /// The mode's name, as configured and as `GET /v1/info` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Auth::None => "none",
            Auth::Token => "token",
            Auth::Keystone(_) => "keystone",
        }
    }

    /// The caller `headers` stand for; `client` is the peer's address, when known.
    pub async fn authenticate(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        match self {
            Auth::None => Ok(Caller::anonymous_admin()),
            Auth::Token => own_token(state, presented(headers)?).await,
            Auth::Keystone(keystone) => {
                keystone
                    .validate(presented(headers)?, state.clock.as_ref(), client)
                    .await
            }
        }
    }
}

/// The token a request carries: `X-Auth-Token`, else `Authorization: Bearer`.
fn presented(headers: &HeaderMap) -> Result<&str, ApiError> {
    let from_header = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let from_bearer = || {
        headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("Bearer "))
            .map(str::trim)
    };
    from_header
        .or_else(from_bearer)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "authentication required: send a token in the `X-Auth-Token` header or as `Authorization: Bearer <token>`".to_owned(),
            )
        })
}

/// Lower-case hex SHA-256 of a token secret: what the store keeps.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

async fn own_token(state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let Some((token, user)) = state.store.token_by_hash(&token_hash(secret)).await? else {
        return Err(ApiError::Unauthorized(
            "invalid token: no such token on this server; ask an admin for one (`ridge token create`)".to_owned(),
        ));
    };
    match token.usable_at(state.clock.now()) {
        Ok(()) => Ok(Caller {
            project: user.project_id,
            is_admin: user.role == Role::Admin,
            user: Some(user.id.to_string()),
            roles: vec![user.role.to_string()],
        }),
        Err(TokenRefusal::Revoked) => Err(ApiError::Unauthorized(format!(
            "token `{}` was revoked: ask an admin for a new one",
            token.id
        ))),
        Err(TokenRefusal::Expired) => Err(ApiError::Unauthorized(format!(
            "token `{}` expired at {}: ask an admin for a new one",
            token.id,
            token
                .expires_at
                .as_ref()
                .map(ridge_core::time::format)
                .unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn tokens_come_from_either_header() {
        let mut h = HeaderMap::new();
        assert!(presented(&h).is_err());
        h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented(&h).expect("bearer"), "abc");
        h.insert(TOKEN_HEADER, HeaderValue::from_static("xyz"));
        assert_eq!(presented(&h).expect("x-auth-token wins"), "xyz");
        assert_eq!(token_hash("abc").len(), 64);
    }
}
