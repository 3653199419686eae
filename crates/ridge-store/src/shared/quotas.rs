//! SQL of a project's quota overrides (`quotas`), the same for SQLite and PostgreSQL.
//! [`quota_queries!`] instantiates it for one store's pool type.

macro_rules! quota_queries {
    ($pool:ty) => {
        use ridge_core::ProjectId;
        use ridge_core::tenancy::QuotaOverrides;

        use crate::Result;
        use crate::rows::tenancy::write_limit;

        /// Sets the project's overrides; none at all removes its row.
        pub(super) async fn set_overrides(
            pool: &$pool,
            project: &ProjectId,
            overrides: &QuotaOverrides,
        ) -> Result<()> {
            if overrides.is_empty() {
                sqlx::query("DELETE FROM quotas WHERE project_id = $1")
                    .bind(project.as_str())
                    .execute(pool)
                    .await?;
                return Ok(());
            }
            sqlx::query(
                "INSERT INTO quotas (project_id, functions, package_bytes, \
                 concurrent_executions, executions_per_second, jobs) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (project_id) DO UPDATE \
                 SET functions = excluded.functions, package_bytes = excluded.package_bytes, \
                 concurrent_executions = excluded.concurrent_executions, \
                 executions_per_second = excluded.executions_per_second, jobs = excluded.jobs",
            )
            .bind(project.as_str())
            .bind(write_limit("functions", overrides.functions)?)
            .bind(write_limit("package_bytes", overrides.package_bytes)?)
            .bind(write_limit(
                "concurrent_executions",
                overrides.concurrent_executions,
            )?)
            .bind(write_limit(
                "executions_per_second",
                overrides.executions_per_second,
            )?)
            .bind(write_limit("jobs", overrides.jobs)?)
            .execute(pool)
            .await?;
            Ok(())
        }
    };
}

pub(crate) use quota_queries;
