//! The statistics of recent executions behind `GET /v1/statistics`: counts by status since a
//! time, the queued executions, and the newest durations. Three bounded statements, the same
//! for both stores but for how a duration is read out of the `result` JSON text, which
//! [`statistics_queries!`] takes as its second argument.

/// The executions waiting for a worker, of every project (a scope's clause follows). `status <>
/// 'success'`: the condition of the partial index that holds running rows (migration 0012).
pub(crate) const QUEUED: &str = "SELECT COUNT(*) FROM executions WHERE status = 'running' \
    AND status <> 'success' AND started_at IS NULL";

macro_rules! statistics_queries {
    ($db:ty, $duration:literal) => {
        use ridge_core::{ExecutionStatus, Timestamp};
        use sqlx::QueryBuilder;

        use crate::codec;
        use crate::{ExecutionStatistics, ProjectScope, Result, StoreError};

        fn scoped(sql: &mut QueryBuilder<'_, $db>, scope: &ProjectScope) {
            if let ProjectScope::Project(project) = scope {
                sql.push(" AND project_id = ")
                    .push_bind(project.as_str().to_owned());
            }
        }

        pub(super) async fn statistics(
            pool: &sqlx::Pool<$db>,
            scope: &ProjectScope,
            since: Timestamp,
            max_durations: u64,
        ) -> Result<ExecutionStatistics> {
            let since = codec::ts(&since);
            let mut sql = QueryBuilder::<$db>::new(
                "SELECT status, COUNT(*) FROM executions WHERE created_at >= ",
            );
            sql.push_bind(since.clone());
            scoped(&mut sql, scope);
            sql.push(" GROUP BY status");
            let counts: Vec<(String, i64)> = sql.build_query_as().fetch_all(pool).await?;
            let by_status = counts
                .into_iter()
                .map(|(status, n)| {
                    let status =
                        status
                            .parse::<ExecutionStatus>()
                            .map_err(|e| StoreError::Corrupt {
                                table: "executions",
                                detail: e.message,
                            })?;
                    Ok((status, u64::try_from(n).unwrap_or(0)))
                })
                .collect::<Result<Vec<_>>>()?;

            let mut sql = QueryBuilder::<$db>::new($crate::shared::statistics::QUEUED);
            scoped(&mut sql, scope);
            let (queued,): (i64,) = sql.build_query_as().fetch_one(pool).await?;

            // Rows without a duration (the platform failed before running) are left out in
            // SQL, so that `max_durations` counts durations.
            let mut sql = QueryBuilder::<$db>::new(concat!(
                "SELECT ",
                $duration,
                " FROM executions WHERE status <> 'running' AND ",
                $duration,
                " IS NOT NULL AND created_at >= "
            ));
            sql.push_bind(since);
            scoped(&mut sql, scope);
            sql.push(" ORDER BY created_at DESC LIMIT ")
                .push_bind(i64::try_from(max_durations).unwrap_or(i64::MAX));
            let durations: Vec<(Option<f64>,)> = sql.build_query_as().fetch_all(pool).await?;
            Ok(ExecutionStatistics {
                by_status,
                queued: u64::try_from(queued).unwrap_or(0),
                durations: durations.into_iter().filter_map(|(d,)| d).collect(),
            })
        }
    };
}

pub(crate) use statistics_queries;
