//! Rows of `projects`, `users`, `api_tokens` and `quotas` as both stores read them.

use ridge_core::tenancy::{Limit, QuotaOverrides};
use ridge_core::{ApiToken, Project, User};

use crate::codec::{self, RowReader};
use crate::{Result, StoreError};

pub(crate) const USER_COLUMNS: &str = "id, name, project_id, role, created_at";
pub(crate) const TOKEN_COLUMNS: &str =
    "id, user_id, hash, description, expires_at, revoked_at, created_at";
pub(crate) const QUOTA_COLUMNS: &str = "project_id, functions, package_bytes, \
                                         concurrent_executions, executions_per_second, jobs";

crate::rows::sqlx_row! {
    pub(crate) struct ProjectRow {
        id: String,
        description: Option<String>,
        created_at: String,
    }
}

impl TryFrom<ProjectRow> for Project {
    type Error = StoreError;

    fn try_from(row: ProjectRow) -> Result<Self> {
        let r = RowReader::new("projects", &row.id);
        Ok(Project {
            id: r.parse("id", &row.id)?,
            created_at: r.ts("created_at", &row.created_at)?,
            description: row.description,
        })
    }
}

crate::rows::sqlx_row! {
    pub(crate) struct UserRow {
        id: String,
        name: String,
        project_id: String,
        role: String,
        created_at: String,
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self> {
        let r = RowReader::new("users", &row.id);
        Ok(User {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            role: r.parse("role", &row.role)?,
            created_at: r.ts("created_at", &row.created_at)?,
            name: row.name,
        })
    }
}

crate::rows::sqlx_row! {
    pub(crate) struct TokenRow {
        id: String,
        user_id: String,
        hash: String,
        description: Option<String>,
        expires_at: Option<String>,
        revoked_at: Option<String>,
        created_at: String,
    }
}

impl TryFrom<TokenRow> for ApiToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self> {
        let r = RowReader::new("api_tokens", &row.id);
        Ok(ApiToken {
            id: r.parse("id", &row.id)?,
            user_id: r.parse("user_id", &row.user_id)?,
            expires_at: r.opt_ts("expires_at", row.expires_at.as_deref())?,
            revoked_at: r.opt_ts("revoked_at", row.revoked_at.as_deref())?,
            created_at: r.ts("created_at", &row.created_at)?,
            hash: row.hash,
            description: row.description,
        })
    }
}

crate::rows::sqlx_row! {
    pub(crate) struct QuotaRow {
        pub(crate) project_id: String,
        pub(crate) functions: Option<i64>,
        pub(crate) package_bytes: Option<i64>,
        pub(crate) concurrent_executions: Option<i64>,
        pub(crate) executions_per_second: Option<i64>,
        pub(crate) jobs: Option<i64>,
    }
}

/// A stored override: NULL keeps the default, -1 is no limit.
pub(crate) fn read_limit(
    r: &RowReader<'_>,
    column: &str,
    value: Option<i64>,
) -> Result<Option<Limit>> {
    match value {
        None => Ok(None),
        Some(-1) => Ok(Some(Limit::Unlimited)),
        Some(n) => Ok(Some(Limit::At(r.int(column, n)?))),
    }
}

pub(crate) fn write_limit(field: &'static str, limit: Option<Limit>) -> Result<Option<i64>> {
    match limit {
        None => Ok(None),
        Some(Limit::Unlimited) => Ok(Some(-1)),
        Some(Limit::At(n)) => codec::int(field, n).map(Some),
    }
}

impl TryFrom<QuotaRow> for QuotaOverrides {
    type Error = StoreError;

    fn try_from(row: QuotaRow) -> Result<Self> {
        let r = RowReader::new("quotas", &row.project_id);
        Ok(QuotaOverrides {
            functions: read_limit(&r, "functions", row.functions)?,
            package_bytes: read_limit(&r, "package_bytes", row.package_bytes)?,
            concurrent_executions: read_limit(
                &r,
                "concurrent_executions",
                row.concurrent_executions,
            )?,
            executions_per_second: read_limit(
                &r,
                "executions_per_second",
                row.executions_per_second,
            )?,
            jobs: read_limit(&r, "jobs", row.jobs)?,
        })
    }
}
