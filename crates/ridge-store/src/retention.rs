//! Retention (docs/retention.md): purging finished executions by age and by count per function,
//! and the `retention` table of per-project overrides. The SQL is the same for SQLite and
//! PostgreSQL, instantiated for each store's pool by [`retention_queries!`] (as
//! [`crate::nodes`] does).
//!
//! A purge deletes at most `limit` rows per statement, each statement its own short
//! transaction, and only rows not `running`. Deletes are idempotent: nodes sharing a store may
//! purge at once, a row deleted by one is simply not there for the other. On PostgreSQL each
//! statement also skips the rows another purge holds (`FOR UPDATE SKIP LOCKED`), so purgers
//! never wait for, or deadlock with, one another; SQLite has one writer at a time anyway.

use ridge_core::{ProjectId, RetentionOverrides, Timestamp};

use crate::Result;
use crate::codec::{self, RowReader};
use crate::rows::tenancy::{read_limit, write_limit};

/// Whose executions a purge covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeScope {
    /// One project's (one with an override of the rule).
    Project(ProjectId),
    /// Every project without an override of the rule (the server's default applies).
    Defaults,
}

/// Which finished executions a purge deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeBy {
    /// Those created before this time.
    CreatedBefore(Timestamp),
    /// Those beyond the newest this many of their function (running ones count in the rank).
    BeyondNewest(u64),
}

/// The scope clause of a purge: `$1` is the project, NULL for [`PurgeScope::Defaults`], where
/// the projects that override `column` are left out.
fn scope(column: &str) -> String {
    format!(
        "(project_id = $1 OR ($1 IS NULL AND project_id NOT IN \
         (SELECT project_id FROM retention WHERE {column} IS NOT NULL)))"
    )
}

/// `lock`: what the store appends to the row selection ([`SKIP_LOCKED`] on PostgreSQL).
pub(crate) fn by_age_sql(lock: &str) -> String {
    format!(
        "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE {} \
         AND status <> 'running' AND created_at < $2 LIMIT $3{lock})",
        scope("max_age")
    )
}

/// PostgreSQL's row selection for a purge: rows another purge holds are left to it.
pub(crate) const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// Functions of the scope with more executions than `$2`.
pub(crate) fn crowded_sql() -> String {
    format!(
        "SELECT function_id FROM executions WHERE {} GROUP BY function_id \
         HAVING COUNT(*) > $2 ORDER BY function_id",
        scope("max_per_function")
    )
}

/// A function's finished executions at or past its `$2`-th newest (counting from 0), at most
/// `$3` of them; `lock` as in [`by_age_sql`].
pub(crate) fn beyond_newest_sql(lock: &str) -> String {
    format!(
        "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE function_id = $1 \
         AND status <> 'running' AND (created_at, id) <= (SELECT created_at, id FROM executions \
         WHERE function_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET $2) \
         LIMIT $3{lock})"
    )
}

pub(crate) const OVERRIDE_COLUMNS: &str = "project_id, max_age, max_per_function";

pub(crate) const SET_OVERRIDES: &str = "INSERT INTO retention \
    (project_id, max_age, max_per_function) VALUES ($1, $2, $3) ON CONFLICT (project_id) \
    DO UPDATE SET max_age = excluded.max_age, max_per_function = excluded.max_per_function";

crate::rows::sqlx_row! {
    pub(crate) struct OverrideRow {
        project_id: String,
        max_age: Option<i64>,
        max_per_function: Option<i64>,
    }
}

impl OverrideRow {
    pub(crate) fn read(self) -> Result<(ProjectId, RetentionOverrides)> {
        let r = RowReader::new("retention", &self.project_id);
        let overrides = RetentionOverrides {
            max_age: read_limit(&r, "max_age", self.max_age)?,
            max_per_function: read_limit(&r, "max_per_function", self.max_per_function)?,
        };
        let project = self
            .project_id
            .parse()
            .map_err(|e| r.corrupt("project_id", format_args!("{e}")))?;
        Ok((project, overrides))
    }
}

pub(crate) fn write(overrides: &RetentionOverrides) -> Result<(Option<i64>, Option<i64>)> {
    Ok((
        write_limit("max_age", overrides.max_age)?,
        write_limit("max_per_function", overrides.max_per_function)?,
    ))
}

pub(crate) fn project(scope: &PurgeScope) -> Option<&str> {
    match scope {
        PurgeScope::Project(p) => Some(p.as_str()),
        PurgeScope::Defaults => None,
    }
}

pub(crate) fn count(field: &'static str, n: u64) -> Result<i64> {
    codec::int(field, n)
}

pub(crate) fn ts(at: &Timestamp) -> String {
    codec::ts(at)
}

/// The retention methods of [`crate::Store`] for one store's pool type (`$pool`), with what
/// its purges append to their row selection (`$lock`: "" or [`SKIP_LOCKED`]).
macro_rules! retention_queries {
    ($pool:ty, $lock:expr) => {
        use ridge_core::{ProjectId, RetentionOverrides};

        use $crate::Result;
        use $crate::retention::{
            OVERRIDE_COLUMNS, OverrideRow, PurgeBy, PurgeScope, SET_OVERRIDES,
        };

        /// Deletes at most `limit` finished executions of `scope` that `by` selects; returns
        /// how many it deleted.
        pub(crate) async fn purge(
            pool: &$pool,
            scope: &PurgeScope,
            by: PurgeBy,
            limit: u64,
        ) -> Result<u64> {
            let project = $crate::retention::project(scope);
            match by {
                PurgeBy::CreatedBefore(before) => {
                    let done = sqlx::query(&$crate::retention::by_age_sql($lock))
                        .bind(project)
                        .bind($crate::retention::ts(&before))
                        .bind($crate::retention::count("limit", limit)?)
                        .execute(pool)
                        .await?;
                    Ok(done.rows_affected())
                }
                PurgeBy::BeyondNewest(keep) => {
                    let keep = $crate::retention::count("max_per_function", keep)?;
                    let crowded: Vec<String> =
                        sqlx::query_scalar(&$crate::retention::crowded_sql())
                            .bind(project)
                            .bind(keep)
                            .fetch_all(pool)
                            .await?;
                    let sql = $crate::retention::beyond_newest_sql($lock);
                    let mut purged = 0;
                    for function in crowded {
                        if purged >= limit {
                            break;
                        }
                        let done = sqlx::query(&sql)
                            .bind(&function)
                            .bind(keep)
                            .bind($crate::retention::count("limit", limit - purged)?)
                            .execute(pool)
                            .await?;
                        purged += done.rows_affected();
                    }
                    Ok(purged)
                }
            }
        }

        pub(crate) async fn overrides(
            pool: &$pool,
            project: &ProjectId,
        ) -> Result<RetentionOverrides> {
            let row: Option<OverrideRow> = sqlx::query_as(&format!(
                "SELECT {OVERRIDE_COLUMNS} FROM retention WHERE project_id = $1"
            ))
            .bind(project.as_str())
            .fetch_optional(pool)
            .await?;
            Ok(match row {
                Some(row) => row.read()?.1,
                None => RetentionOverrides::default(),
            })
        }

        pub(crate) async fn set_overrides(
            pool: &$pool,
            project: &ProjectId,
            overrides: &RetentionOverrides,
        ) -> Result<()> {
            if overrides.is_empty() {
                sqlx::query("DELETE FROM retention WHERE project_id = $1")
                    .bind(project.as_str())
                    .execute(pool)
                    .await?;
                return Ok(());
            }
            let (max_age, max_per_function) = $crate::retention::write(overrides)?;
            sqlx::query(SET_OVERRIDES)
                .bind(project.as_str())
                .bind(max_age)
                .bind(max_per_function)
                .execute(pool)
                .await?;
            Ok(())
        }

        pub(crate) async fn all_overrides(
            pool: &$pool,
        ) -> Result<Vec<(ProjectId, RetentionOverrides)>> {
            let rows: Vec<OverrideRow> = sqlx::query_as(&format!(
                "SELECT {OVERRIDE_COLUMNS} FROM retention ORDER BY project_id"
            ))
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(OverrideRow::read).collect()
        }
    };
}

pub(crate) use retention_queries;
