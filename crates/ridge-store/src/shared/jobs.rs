//! SQL of the `jobs` table, the same for SQLite and PostgreSQL: placeholders are `$N`, each first used
//! in order, which SQLite binds by position too. [`jobs_queries!`] instantiates it for one store's
//! pool (`mod jobs { crate::shared::jobs::jobs_queries!(sqlx::PgPool); }`).

macro_rules! jobs_queries {
    ($pool:ty) => {
        use ridge_core::{CronPattern, Job, JobId, JobStatus, Timestamp};

        use crate::codec;
        use crate::rows::jobs::{COLUMNS, JobRow};
        use crate::rows::target;
        use crate::{JobClaim, ProjectScope, Result, StoreError};

        pub(super) async fn create(pool: &$pool, job: &Job) -> Result<()> {
            let t = target::columns(&job.target);
            sqlx::query(
                "INSERT INTO jobs (id, project_id, name, function_id, function_version, function_alias, \
                 function_input, pattern, status, first_execution_time, next_execution_time, count, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(job.id.to_string())
            .bind(job.project_id.as_str())
            .bind(job.name.as_deref())
            .bind(t.function_id)
            .bind(t.function_version.unwrap_or(0))
            .bind(t.function_alias)
            .bind(job.function_input.as_deref())
            .bind(job.pattern.as_ref().map(CronPattern::as_str))
            .bind(job.status.as_str())
            .bind(codec::ts(&job.first_execution_time))
            .bind(codec::ts(&job.next_execution_time))
            .bind(job.count)
            .bind(codec::ts(&job.created_at))
            .bind(codec::opt_ts(job.updated_at.as_ref()))
            .execute(pool)
            .await
            .map_err(|e| match (&e, job.target.function_id()) {
                (sqlx::Error::Database(db), Some(id)) if db.is_foreign_key_violation() => {
                    StoreError::FunctionNotFound { id }
                }
                _ => StoreError::Database(e),
            })?;
            Ok(())
        }

        pub(super) async fn get(pool: &$pool, id: JobId) -> Result<Job> {
            let row: Option<JobRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?;
            row.ok_or(StoreError::JobNotFound { id })?.try_into()
        }

        pub(super) async fn list(pool: &$pool, scope: &ProjectScope) -> Result<Vec<Job>> {
            let rows: Vec<JobRow> = match scope {
                ProjectScope::Project(project) => {
                    sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM jobs WHERE project_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(project.as_str())
                    .fetch_all(pool)
                    .await?
                }
                ProjectScope::All => {
                    sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM jobs ORDER BY created_at, id"
                    ))
                    .fetch_all(pool)
                    .await?
                }
            };
            rows.into_iter().map(Job::try_from).collect()
        }

        /// Writes what `PUT /v1/jobs/{id}` can change: name, input, pattern, status, next time,
        /// count and `updated_at`, only if the job's status and next time are still `expected`.
        pub(super) async fn update(
            pool: &$pool,
            job: &Job,
            expected: (JobStatus, Timestamp),
        ) -> Result<bool> {
            let done = sqlx::query(
                "UPDATE jobs SET name = $1, function_input = $2, pattern = $3, status = $4, \
                 next_execution_time = $5, count = $6, updated_at = $7 \
                 WHERE id = $8 AND status = $9 AND next_execution_time = $10",
            )
            .bind(job.name.as_deref())
            .bind(job.function_input.as_deref())
            .bind(job.pattern.as_ref().map(CronPattern::as_str))
            .bind(job.status.as_str())
            .bind(codec::ts(&job.next_execution_time))
            .bind(job.count)
            .bind(codec::opt_ts(job.updated_at.as_ref()))
            .bind(job.id.to_string())
            .bind(expected.0.as_str())
            .bind(codec::ts(&expected.1))
            .execute(pool)
            .await?;
            if done.rows_affected() == 1 {
                return Ok(true);
            }
            get(pool, job.id).await?;
            Ok(false)
        }

        pub(super) async fn delete(pool: &$pool, id: JobId) -> Result<()> {
            let done = sqlx::query("DELETE FROM jobs WHERE id = $1")
                .bind(id.to_string())
                .execute(pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::JobNotFound { id });
            }
            Ok(())
        }

        pub(super) async fn due(pool: &$pool, before: Timestamp) -> Result<Vec<Job>> {
            let rows: Vec<JobRow> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE status = $1 AND next_execution_time <= $2 \
                 ORDER BY next_execution_time, id"
            ))
            .bind(JobStatus::Running.as_str())
            .bind(codec::ts(&before))
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(Job::try_from).collect()
        }

        /// Compare-and-swap on (status `running`, next time `expected_next`): only one claimer of a
        /// tick succeeds, whichever node it runs on.
        pub(super) async fn claim(
            pool: &$pool,
            id: JobId,
            expected_next: Timestamp,
            claim: &JobClaim,
        ) -> Result<bool> {
            let done = sqlx::query(
                "UPDATE jobs SET status = $1, next_execution_time = $2, count = $3, updated_at = $4 \
                 WHERE id = $5 AND status = 'running' AND next_execution_time = $6",
            )
            .bind(claim.status.as_str())
            .bind(codec::ts(&claim.next_execution_time))
            .bind(claim.count)
            .bind(codec::ts(&ridge_core::time::now()))
            .bind(id.to_string())
            .bind(codec::ts(&expected_next))
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }
    };
}

pub(crate) use jobs_queries;
