//! [`TenancyStore`]: projects, users, API tokens and quota overrides. Every [`crate::Store`] is
//! one; it is a trait of its own so that the resource store stays readable.

use async_trait::async_trait;
use ridge_core::tenancy::QuotaOverrides;
use ridge_core::{ApiToken, Project, ProjectId, Timestamp, TokenId, User, UserId};

use crate::Result;

/// What a project holds now, for its quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjectUsage {
    pub functions: u64,
    /// Executions still `running` (queued or on a worker).
    pub unfinished_executions: u64,
    /// Jobs that may still run (`running` or `paused`).
    pub jobs: u64,
}

#[async_trait]
pub trait TenancyStore: Send + Sync + 'static {
    /// `DuplicateProject` when the id is taken.
    async fn create_project(&self, project: &Project) -> Result<()>;
    /// `ProjectNotFound` when absent.
    async fn get_project(&self, id: &ProjectId) -> Result<Project>;
    /// By `created_at` then `id`.
    async fn list_projects(&self) -> Result<Vec<Project>>;

    /// `ProjectNotFound` when its project does not exist; `DuplicateUser` when the project has
    /// a user of that name.
    async fn create_user(&self, user: &User) -> Result<()>;
    /// `UserNotFound` when absent.
    async fn get_user(&self, id: UserId) -> Result<User>;
    /// Users of one project, or of all; by `created_at` then `id`.
    async fn list_users(&self, project: Option<&ProjectId>) -> Result<Vec<User>>;
    /// Deletes the user and every token of it. `UserNotFound` when absent.
    async fn delete_user(&self, id: UserId) -> Result<()>;
    /// How many users exist (0 before the first start in `token` mode).
    async fn count_users(&self) -> Result<u64>;

    /// `UserNotFound` when its user does not exist.
    async fn create_token(&self, token: &ApiToken) -> Result<()>;
    /// The token with this secret hash and its user; `None` when no token has it.
    async fn token_by_hash(&self, hash: &str) -> Result<Option<(ApiToken, User)>>;
    /// Tokens of one user, or of all; by `created_at` then `id`.
    async fn list_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>>;
    /// `TokenNotFound` when absent; revoking twice keeps the first time.
    async fn revoke_token(&self, id: TokenId, at: Timestamp) -> Result<ApiToken>;

    /// The project's overrides (empty when none were set).
    async fn quota_overrides(&self, project: &ProjectId) -> Result<QuotaOverrides>;
    /// Replaces the project's overrides.
    async fn set_quota_overrides(
        &self,
        project: &ProjectId,
        overrides: &QuotaOverrides,
    ) -> Result<()>;
    /// Functions, unfinished executions and jobs that may still run, of the project.
    async fn project_usage(&self, project: &ProjectId) -> Result<ProjectUsage>;
}
