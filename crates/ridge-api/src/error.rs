//! The one mapping from what went wrong to an HTTP answer.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ridge_core::InvalidInput;
use ridge_core::api::Fault;
use ridge_engine::EngineError;
use ridge_package::PackageError;
use ridge_store::StoreError;

/// Every way a request can fail. Client mistakes carry a message for the user; platform failures
/// carry their cause, which is logged with a request id and never sent to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }

    /// Qinling's message for a missing required parameter.
    pub fn missing(param: &str) -> Self {
        ApiError::BadRequest(format!(
            "Required param is missing. Required: {{'{param}'}}"
        ))
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        ApiError::BadRequest(e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RuntimeNotFound { .. }
            | StoreError::FunctionNotFound { .. }
            | StoreError::ExecutionNotFound { .. }
            | StoreError::VersionNotFound { .. }
            | StoreError::AliasNotFound { .. }
            | StoreError::WebhookNotFound { .. }
            | StoreError::JobNotFound { .. }
            | StoreError::EventTriggerNotFound { .. }
            | StoreError::ProjectNotFound { .. }
            | StoreError::UserNotFound { .. }
            | StoreError::TokenNotFound { .. } => ApiError::NotFound(e.to_string()),
            StoreError::DuplicateProject { .. } | StoreError::DuplicateUser { .. } => {
                ApiError::Conflict(e.to_string())
            }
            StoreError::RuntimeInUse { .. }
            | StoreError::FunctionInUse { .. }
            | StoreError::VersionInUse { .. }
            | StoreError::AliasInUse { .. }
            | StoreError::VersionLimit { .. }
            | StoreError::VersionUnchanged { .. } => ApiError::Forbidden(e.to_string()),
            StoreError::DuplicateAlias { .. } | StoreError::DuplicateAliasTarget { .. } => {
                ApiError::BadRequest(e.to_string())
            }
            StoreError::InvalidFilter { .. } => ApiError::BadRequest(e.to_string()),
            _ => ApiError::internal(e),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Store(e) => e.into(),
            EngineError::Package(e) => e.into(),
            EngineError::RuntimeUnavailable { .. } => ApiError::Conflict(e.to_string()),
            EngineError::FunctionQuota { .. }
            | EngineError::PackageQuota { .. }
            | EngineError::JobQuota { .. }
            | EngineError::FunctionHasRunningJobs { .. } => ApiError::Forbidden(e.to_string()),
            EngineError::RateQuota { .. }
            | EngineError::ConcurrencyQuota { .. }
            | EngineError::QueueFull { .. } => ApiError::TooManyRequests(e.to_string()),
            EngineError::ChecksumUnchanged { .. } => ApiError::BadRequest(e.to_string()),
            EngineError::Lost(_) | EngineError::NodeNameInUse { .. } => ApiError::internal(e),
        }
    }
}

impl From<PackageError> for ApiError {
    fn from(e: PackageError) -> Self {
        match e {
            PackageError::NotZip
            | PackageError::Md5Mismatch
            | PackageError::UnsafeEntry { .. }
            | PackageError::UnreadableEntry { .. } => ApiError::BadRequest(e.to_string()),
            PackageError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            _ => ApiError::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, m),
            ApiError::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            ApiError::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
            ApiError::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, m),
            ApiError::Internal(source) => {
                let request_id = uuid::Uuid::new_v4();
                tracing::error!(%request_id, error = %source, cause = ?source.source(), "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Internal server error (request id {request_id})."),
                )
            }
        };
        let faultcode = if status.is_server_error() {
            "Server"
        } else {
            "Client"
        };
        let body = Fault {
            faultcode: Some(faultcode.to_owned()),
            faultstring: message,
            debuginfo: None,
        };
        (status, Json(body)).into_response()
    }
}
