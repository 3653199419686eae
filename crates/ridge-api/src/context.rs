//! Who is calling. Until the tenancy issue lands Ridge runs in no-auth mode: every request is
//! the admin of project `default`, and `X-Auth-Token` is ignored.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use ridge_core::ProjectId;

use crate::ApiError;

#[derive(Debug, Clone)]
pub struct Caller {
    pub project: ProjectId,
    pub is_admin: bool,
}

impl Caller {
    /// Whether the caller may see a resource of `owner` looked up by id (Qinling: admins see
    /// every project's; others get a 404 for another project's resource).
    pub fn can_see(&self, owner: &ProjectId) -> bool {
        self.is_admin || &self.project == owner
    }

    /// Admin-only calls (Qinling's policy: runtimes, pools, workers and scaling).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden("Operation not allowed".to_owned()))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller {
            project: ProjectId::default_project(),
            is_admin: true,
        })
    }
}
