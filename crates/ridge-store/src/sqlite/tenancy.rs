//! SQL of the `projects`, `users`, `api_tokens` and `quotas` tables.

use async_trait::async_trait;
use ridge_core::tenancy::QuotaOverrides;
use ridge_core::{ApiToken, Project, ProjectId, Timestamp, TokenId, User, UserId};

use super::SqliteStore;
use crate::codec::{self, RowReader};
use crate::error::{is_foreign_key, is_unique};
use crate::rows::tenancy::{
    ProjectRow, QUOTA_COLUMNS, QuotaRow, TOKEN_COLUMNS, TokenRow, USER_COLUMNS, UserRow,
};
use crate::{ProjectUsage, Result, StoreError, TenancyStore};

/// A project's functions, unfinished executions and jobs that may still run. `status <>
/// 'success'`: the condition of the partial index that holds running rows (migration 0012).
pub(super) const PROJECT_USAGE: &str = "SELECT \
    (SELECT COUNT(*) FROM functions WHERE project_id = ?1), \
    (SELECT COUNT(*) FROM executions WHERE project_id = ?1 AND status = 'running' \
     AND status <> 'success'), \
    (SELECT COUNT(*) FROM jobs WHERE project_id = ?1 AND status IN ('running', 'paused'))";

#[async_trait]
impl TenancyStore for SqliteStore {
    async fn create_project(&self, project: &Project) -> Result<()> {
        sqlx::query("INSERT INTO projects (id, description, created_at) VALUES (?, ?, ?)")
            .bind(project.id.as_str())
            .bind(project.description.as_deref())
            .bind(codec::ts(&project.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique(&e) {
                    StoreError::DuplicateProject {
                        id: project.id.clone(),
                    }
                } else {
                    StoreError::Database(e)
                }
            })?;
        Ok(())
    }

    async fn get_project(&self, id: &ProjectId) -> Result<Project> {
        let row: Option<ProjectRow> =
            sqlx::query_as("SELECT id, description, created_at FROM projects WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        row.ok_or_else(|| StoreError::ProjectNotFound { id: id.clone() })?
            .try_into()
    }

    async fn list_projects(&self) -> Result<Vec<Project>> {
        let rows: Vec<ProjectRow> = sqlx::query_as(
            "SELECT id, description, created_at FROM projects ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Project::try_from).collect()
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, name, project_id, role, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user.id.to_string())
        .bind(&user.name)
        .bind(user.project_id.as_str())
        .bind(user.role.as_str())
        .bind(codec::ts(&user.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_foreign_key(&e) {
                StoreError::ProjectNotFound {
                    id: user.project_id.clone(),
                }
            } else if is_unique(&e) {
                StoreError::DuplicateUser {
                    project: user.project_id.clone(),
                    name: user.name.clone(),
                }
            } else {
                StoreError::Database(e)
            }
        })?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<User> {
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?"))
                .bind(id.to_string())
                .fetch_optional(&self.pool)
                .await?;
        row.ok_or(StoreError::UserNotFound { id })?.try_into()
    }

    async fn list_users(&self, project: Option<&ProjectId>) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE ? IS NULL OR project_id = ? \
             ORDER BY created_at, id"
        ))
        .bind(project.map(ProjectId::as_str))
        .bind(project.map(ProjectId::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(User::try_from).collect()
    }

    async fn delete_user(&self, id: UserId) -> Result<()> {
        let done = sqlx::query("DELETE FROM users WHERE id = ?")
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UserNotFound { id });
        }
        Ok(())
    }

    async fn count_users(&self) -> Result<u64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        RowReader::new("users", "*").int("count", n)
    }

    async fn create_token(&self, token: &ApiToken) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(token.id.to_string())
        .bind(token.user_id.to_string())
        .bind(&token.hash)
        .bind(token.description.as_deref())
        .bind(codec::opt_ts(token.expires_at.as_ref()))
        .bind(codec::opt_ts(token.revoked_at.as_ref()))
        .bind(codec::ts(&token.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if is_foreign_key(&e) {
                StoreError::UserNotFound { id: token.user_id }
            } else {
                StoreError::Database(e)
            }
        })?;
        Ok(())
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<(ApiToken, User)>> {
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let token = ApiToken::try_from(row)?;
        let user = self.get_user(token.user_id).await?;
        Ok(Some((token, user)))
    }

    async fn list_tokens(&self, user: Option<UserId>) -> Result<Vec<ApiToken>> {
        let user = user.map(|u| u.to_string());
        let rows: Vec<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE ? IS NULL OR user_id = ? \
             ORDER BY created_at, id"
        ))
        .bind(user.as_deref())
        .bind(user.as_deref())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ApiToken::try_from).collect()
    }

    async fn revoke_token(&self, id: TokenId, at: Timestamp) -> Result<ApiToken> {
        sqlx::query("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?")
            .bind(codec::ts(&at))
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        let row: Option<TokenRow> = sqlx::query_as(&format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.ok_or(StoreError::TokenNotFound { id })?.try_into()
    }

    async fn quota_overrides(&self, project: &ProjectId) -> Result<QuotaOverrides> {
        let row: Option<QuotaRow> = sqlx::query_as(&format!(
            "SELECT {QUOTA_COLUMNS} FROM quotas WHERE project_id = ?"
        ))
        .bind(project.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map_or(Ok(QuotaOverrides::default()), QuotaOverrides::try_from)
    }

    async fn set_quota_overrides(
        &self,
        project: &ProjectId,
        overrides: &QuotaOverrides,
    ) -> Result<()> {
        self.changing(super::quotas::set_overrides(&self.pool, project, overrides))
            .await
    }

    async fn project_usage(&self, project: &ProjectId) -> Result<ProjectUsage> {
        let (functions, unfinished, jobs): (i64, i64, i64) = sqlx::query_as(PROJECT_USAGE)
            .bind(project.as_str())
            .fetch_one(&self.pool)
            .await?;
        let r = RowReader::new("functions", project.as_str());
        Ok(ProjectUsage {
            functions: r.int("count", functions)?,
            unfinished_executions: r.int("count", unfinished)?,
            jobs: r.int("count", jobs)?,
        })
    }
}
