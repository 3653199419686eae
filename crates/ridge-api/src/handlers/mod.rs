//! Route handlers, one file per resource.

pub mod aliases;
pub mod event_triggers;
pub mod executions;
pub mod functions;
pub mod identity;
pub mod jobs;
pub mod quotas;
pub mod retention;
pub mod root;
pub mod runtimes;
pub mod statistics;
pub mod versions;
pub mod webhooks;
pub mod workers;

use axum::extract::{FromRequest, Request};
use axum::http::{Method, Uri};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A typed JSON body (Qinling's "WSME" endpoints) whose errors are 400s with a `faultstring`.
/// An empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            ApiError::BadRequest(format!("cannot read the request body: {}", e.body_text()))
        })?;
        let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &body
        };
        serde_json::from_slice(text)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
    }
}

pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such resource: {method} {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("method {method} is not allowed on {}", uri.path()))
}

/// Checks an optional text field against Qinling's 255-character columns.
pub fn check_text(field: &str, value: Option<&str>) -> Result<(), ApiError> {
    if value.is_some_and(|v| v.chars().count() > 255) {
        return Err(ApiError::BadRequest(format!(
            "`{field}` is too long: at most 255 characters"
        )));
    }
    Ok(())
}

/// Parses an id from a path segment with Qinling's message for a malformed one.
pub fn path_id<T: std::str::FromStr<Err = ridge_core::InvalidInput>>(
    raw: &str,
) -> Result<T, ApiError> {
    raw.parse::<T>().map_err(ApiError::from)
}
