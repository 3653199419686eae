//! SQL of the `executions` table.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use ridge_core::{Execution, ExecutionId, Timestamp};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use crate::codec;
use crate::codec::RowReader;
use crate::filter::{self, Column};
use crate::rows::executions::{COLUMNS, ExecutionRow, TABLE};
use crate::writer::NewExecution;
use crate::{ExecutionOutcome, ExecutionQuery, ProjectScope, Result, StoreError};

/// Creates `news`, executions that all run one function at one version (a lone create, or a
/// batch of one function's executions, the writer's usual batch), with their logs when they
/// finished before they were recorded, and counts them on that function (version 0) or
/// version, in one statement that commits itself: one round trip, where a transaction of
/// [`create_batch`] costs four (`BEGIN`, the count, the insert, `COMMIT`). Either every one is
/// created, or none is because the target does not exist (each execution's result is then
/// `FunctionNotFound` or `VersionNotFound`). The outer error is a database failure.
///
/// Only the target's row is locked, as the first statement of [`create_batch`] would lock it,
/// so batches of several nodes still take their locks in one order. A lone create binds its
/// values one by one: arrays and `unnest` cost PostgreSQL a quarter more for one row
/// (`pg_stat_statements`: 132 µs against 107 µs of executor time a create).
pub(super) async fn create_counted(
    conn: &mut PgConnection,
    news: &[&NewExecution],
) -> Result<Vec<Result<()>>> {
    let Some(first) = news.first() else {
        return Ok(Vec::new());
    };
    let execution = &first.execution;
    debug_assert!(news.iter().all(|new| {
        new.execution.function_id == execution.function_id
            && new.execution.function_version == execution.function_version
    }));
    let inserted = match (news, execution.function_version) {
        ([new], 0) => with_row(
            concat!(
                "WITH counted AS (UPDATE functions SET count = count + 1 WHERE id = $3 \
                   RETURNING 1) ",
                insert_row!()
            ),
            new,
        ),
        ([new], _) => with_row(
            concat!(
                "WITH counted AS (UPDATE function_versions SET count = count + 1 \
                   WHERE function_id = $3 AND version_number = $4 RETURNING 1) ",
                insert_row!()
            ),
            new,
        ),
        (_, 0) => with_rows(
            concat!(
                "WITH counted AS (UPDATE functions SET count = count + $16 WHERE id = $17 \
                   RETURNING 1) ",
                insert_rows!(),
                " WHERE EXISTS (SELECT 1 FROM counted)"
            ),
            news,
        )
        .bind(count(news))
        .bind(execution.function_id.to_string()),
        (_, version) => with_rows(
            concat!(
                "WITH counted AS (UPDATE function_versions SET count = count + $16 \
                   WHERE function_id = $17 AND version_number = $18 RETURNING 1) ",
                insert_rows!(),
                " WHERE EXISTS (SELECT 1 FROM counted)"
            ),
            news,
        )
        .bind(count(news))
        .bind(execution.function_id.to_string())
        .bind(version),
    }
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() > 0 {
        return Ok(news.iter().map(|_| Ok(())).collect());
    }
    // Nothing was counted, so nothing was inserted: say which part is missing.
    let function: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM functions WHERE id = $1)")
            .bind(execution.function_id.to_string())
            .fetch_one(&mut *conn)
            .await?;
    let missing = || match (function, execution.function_version) {
        (true, version) if version != 0 => StoreError::VersionNotFound {
            function_id: execution.function_id,
            version,
        },
        _ => StoreError::FunctionNotFound {
            id: execution.function_id,
        },
    };
    Ok(news.iter().map(|_| Err(missing())).collect())
}

/// How many executions `news` are, as the `count` column adds them.
fn count(news: &[&NewExecution]) -> i64 {
    i64::try_from(news.len()).unwrap_or(i64::MAX)
}

/// Creates `executions` in the caller's transaction: counts them on their functions (version
/// 0) and versions, `count = count + n` once per row, then inserts those whose function or
/// version exists, in one statement. Each execution's result: `FunctionNotFound` or
/// `VersionNotFound` when its target does not exist, and then nothing of it was written. The
/// outer error is a database failure that aborted the transaction.
///
/// Rows are locked in one order, functions then versions, each by id, so that writers of
/// several nodes committing batches at once queue on a hot row instead of deadlocking. The
/// counted rows stay locked until the commit, so no target vanishes before its inserts.
pub(super) async fn create_batch(
    conn: &mut PgConnection,
    news: &[&NewExecution],
) -> Result<Vec<Result<()>>> {
    let executions: Vec<&Execution> = news.iter().map(|new| &new.execution).collect();
    let mut functions: BTreeMap<String, i64> = BTreeMap::new();
    let mut versions: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for execution in &executions {
        let function = execution.function_id.to_string();
        match execution.function_version {
            0 => *functions.entry(function).or_default() += 1,
            version => *versions.entry((function, version)).or_default() += 1,
        }
    }
    let mut missing_functions = BTreeSet::new();
    for (function, n) in &functions {
        let counted = sqlx::query("UPDATE functions SET count = count + $1 WHERE id = $2")
            .bind(n)
            .bind(function)
            .execute(&mut *conn)
            .await?;
        if counted.rows_affected() == 0 {
            missing_functions.insert(function.clone());
        }
    }
    let mut missing_versions = BTreeMap::new();
    for ((function, version), n) in &versions {
        let counted = sqlx::query(
            "UPDATE function_versions SET count = count + $1 \
             WHERE function_id = $2 AND version_number = $3",
        )
        .bind(n)
        .bind(function)
        .bind(version)
        .execute(&mut *conn)
        .await?;
        if counted.rows_affected() == 0 {
            // Say which part is missing: the version, or its whole function.
            let function_exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM functions WHERE id = $1)")
                    .bind(function)
                    .fetch_one(&mut *conn)
                    .await?;
            missing_versions.insert((function.clone(), *version), function_exists);
        }
    }
    let results: Vec<Result<()>> = executions
        .iter()
        .map(|execution| {
            let function = execution.function_id.to_string();
            let version = execution.function_version;
            // When the target is missing: whether its function exists.
            let missing = match version {
                0 => missing_functions.contains(&function).then_some(false),
                _ => missing_versions.get(&(function, version)).copied(),
            };
            match missing {
                None => Ok(()),
                Some(true) => Err(StoreError::VersionNotFound {
                    function_id: execution.function_id,
                    version,
                }),
                Some(false) => Err(StoreError::FunctionNotFound {
                    id: execution.function_id,
                }),
            }
        })
        .collect();
    let found: Vec<&NewExecution> = news
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_ok())
        .map(|(execution, _)| *execution)
        .collect();
    insert(conn, &found).await?;
    Ok(results)
}

/// Inserts `executions` in one statement.
async fn insert(conn: &mut PgConnection, executions: &[&NewExecution]) -> Result<()> {
    if !executions.is_empty() {
        with_rows(insert_rows!(), executions)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `INSERT INTO executions (...)`: the columns that [`with_rows`] and [`with_row`] bind, in
/// their order.
macro_rules! insert_into {
    () => {
        "INSERT INTO executions (id, project_id, function_id, function_version, function_alias, \
           description, status, sync, input, result, started_at, created_at, updated_at, node, \
           logs) "
    };
}
use insert_into;

/// `INSERT INTO executions ... SELECT` the rows bound by [`with_rows`] (`$1` to `$15`).
macro_rules! insert_rows {
    () => {
        concat!(
            insert_into!(),
            "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], \
               $5::text[], $6::text[], $7::text[], $8::boolean[], $9::text[], $10::text[], \
               $11::text[], $12::text[], $13::text[], $14::text[], $15::bytea[]) AS rows"
        )
    };
}
use insert_rows;

/// `INSERT INTO executions ... SELECT` the one row bound by [`with_row`] (`$1` to `$15`), if
/// the statement's `counted` has a row.
macro_rules! insert_row {
    () => {
        concat!(
            insert_into!(),
            "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 \
             WHERE EXISTS (SELECT 1 FROM counted)"
        )
    };
}
use insert_row;

/// `sql` with the one execution of `new` bound, a value per column, `$1` to `$15`.
fn with_row<'q>(sql: &'q str, new: &NewExecution) -> Query<'q, Postgres, PgArguments> {
    let e = &new.execution;
    sqlx::query(sql)
        .bind(e.id.to_string())
        .bind(e.project_id.as_str().to_owned())
        .bind(e.function_id.to_string())
        .bind(e.function_version)
        .bind(e.function_alias.clone())
        .bind(e.description.clone())
        .bind(e.status.as_str().to_owned())
        .bind(e.sync)
        .bind(
            e.input
                .as_ref()
                .map(|input| codec::json_text(&input.to_stored())),
        )
        .bind(e.result.as_ref().map(codec::json_text))
        .bind(codec::opt_ts(e.started_at.as_ref()))
        .bind(codec::ts(&e.created_at))
        .bind(codec::opt_ts(e.updated_at.as_ref()))
        .bind(e.node.clone())
        // `bytea`, as the finish writes them ([`finish`]).
        .bind(new.logs.as_bytes().to_vec())
}

/// `sql` with `news` bound as one array per column, `$1` to `$15` (so one prepared statement
/// whatever their number).
fn with_rows<'q>(sql: &'q str, news: &[&NewExecution]) -> Query<'q, Postgres, PgArguments> {
    let executions: Vec<&Execution> = news.iter().map(|new| &new.execution).collect();
    let column = |f: fn(&Execution) -> Option<String>| -> Vec<Option<String>> {
        executions.iter().map(|e| f(e)).collect()
    };
    sqlx::query(sql)
        .bind(column(|e| Some(e.id.to_string())))
        .bind(column(|e| Some(e.project_id.as_str().to_owned())))
        .bind(column(|e| Some(e.function_id.to_string())))
        .bind(
            executions
                .iter()
                .map(|e| e.function_version)
                .collect::<Vec<i64>>(),
        )
        .bind(column(|e| e.function_alias.clone()))
        .bind(column(|e| e.description.clone()))
        .bind(column(|e| Some(e.status.as_str().to_owned())))
        .bind(executions.iter().map(|e| e.sync).collect::<Vec<bool>>())
        .bind(column(|e| {
            e.input
                .as_ref()
                .map(|input| codec::json_text(&input.to_stored()))
        }))
        .bind(column(|e| e.result.as_ref().map(codec::json_text)))
        .bind(column(|e| codec::opt_ts(e.started_at.as_ref())))
        .bind(column(|e| Some(codec::ts(&e.created_at))))
        .bind(column(|e| codec::opt_ts(e.updated_at.as_ref())))
        .bind(column(|e| e.node.clone()))
        // `bytea`, as the finish writes them ([`finish`]).
        .bind(
            news.iter()
                .map(|new| new.logs.as_bytes().to_vec())
                .collect::<Vec<Vec<u8>>>(),
        )
}

pub(super) async fn get(pool: &PgPool, id: ExecutionId) -> Result<Execution> {
    let row: Option<ExecutionRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM executions WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    row.ok_or(StoreError::ExecutionNotFound { id })?.try_into()
}

pub(super) async fn list(pool: &PgPool, query: &ExecutionQuery) -> Result<Vec<Execution>> {
    let mut sql =
        QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM executions WHERE 1 = 1"));
    if let ProjectScope::Project(project) = &query.scope {
        sql.push(" AND project_id = ")
            .push_bind(project.as_str().to_owned());
    }
    let filters = [
        (Column::FunctionId, &query.function_id),
        (Column::Status, &query.status),
        (Column::Description, &query.description),
    ];
    for (column, f) in filters {
        if let Some(f) = f {
            filter::push(&mut sql, column, f)?;
        }
    }
    if let Some(marker) = query.page.marker {
        sql.push(" AND (created_at, id) > (SELECT created_at, id FROM executions WHERE id = ")
            .push_bind(marker.to_string())
            .push(")");
    }
    sql.push(" ORDER BY created_at, id");
    if let Some(limit) = query.page.limit {
        sql.push(" LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let rows: Vec<ExecutionRow> = sql.build_query_as().fetch_all(pool).await?;
    rows.into_iter().map(Execution::try_from).collect()
}

/// A start to apply: the execution, the node that claims it, and when.
pub(super) struct Start<'a> {
    pub id: ExecutionId,
    pub node: &'a str,
    pub at: Timestamp,
}

/// [`mark_started`]'s statement: ids, nodes and times as `$1` to `$3`.
const START: &str = "UPDATE executions SET started_at = v_at, updated_at = v_at \
    FROM unnest($1::text[], $2::text[], $3::text[]) AS v(v_id, v_node, v_at) \
    WHERE id = v_id AND status = (SELECT 'running') AND started_at IS NULL AND node = v_node \
    RETURNING id";

/// [`finish`]'s statement: ids, statuses, results and logs as `$1` to `$4`, the time as `$5`.
static FINISH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE executions SET status = v_status, result = v_result, logs = v_logs, \
           updated_at = $5 \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) \
           AS v(v_id, v_status, v_result, v_logs) \
         WHERE id = v_id AND status = (SELECT 'running') RETURNING {COLUMNS}"
    )
});

/// Compare-and-swap, for each of `starts` at once in one statement: whether it started, i.e.
/// whether the execution was `running`, not yet started and held by its `node`. Two nodes
/// racing for one row: the second `UPDATE` waits for the first one's row lock, then re-reads
/// the row, finds it started (or moved) and changes nothing.
///
/// No execution may appear twice in `starts` (one statement changes a row once; the writer
/// sends an execution's second write in a statement of its own). Sorted by id, the rows are
/// locked in that order, as the writer's batches lock theirs.
///
/// Each row is found by its id. `status = (SELECT 'running')`, a value the planner does not
/// know, keeps it from the partial indexes of running rows (`executions_running_node`,
/// `executions_unsuccessful`): where their statistics were gathered with few rows running,
/// it took their scan as the cheaper path and read every queued execution for each batch,
/// 816 µs (finish) and 972 µs (start) a statement for a batch of five with 2,000 queued
/// (`pg_stat_statements`, scenario 4).
pub(super) async fn mark_started(
    conn: &mut PgConnection,
    starts: &[Start<'_>],
) -> Result<Vec<bool>> {
    let ids: Vec<String> = starts.iter().map(|s| s.id.to_string()).collect();
    let started: Vec<String> = sqlx::query_scalar(START)
        .bind(&ids[..])
        .bind(starts.iter().map(|s| s.node).collect::<Vec<_>>())
        .bind(starts.iter().map(|s| codec::ts(&s.at)).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await?;
    let started: BTreeSet<String> = started.into_iter().collect();
    Ok(ids.iter().map(|id| started.contains(id)).collect())
}

/// Compare-and-swap, for each of `finishes` at once in one statement: `None` unless the
/// execution was still `running`; else the row as written. The logs are `bytea`: PostgreSQL
/// text cannot hold the NUL bytes a function may well print. As for [`mark_started`], no
/// execution may appear twice, and each row is found by its id.
pub(super) async fn finish(
    conn: &mut PgConnection,
    finishes: &[(ExecutionId, &ExecutionOutcome)],
) -> Result<Vec<Option<Execution>>> {
    let ids: Vec<String> = finishes.iter().map(|(id, _)| id.to_string()).collect();
    let rows: Vec<ExecutionRow> = sqlx::query_as(FINISH.as_str())
        .bind(&ids[..])
        .bind(
            finishes
                .iter()
                .map(|(_, outcome)| outcome.status.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            finishes
                .iter()
                .map(|(_, outcome)| codec::json_text(&outcome.result))
                .collect::<Vec<_>>(),
        )
        .bind(
            finishes
                .iter()
                .map(|(_, outcome)| outcome.logs.as_bytes())
                .collect::<Vec<_>>(),
        )
        .bind(codec::ts(&ridge_core::time::now()))
        .fetch_all(&mut *conn)
        .await?;
    let mut written: BTreeMap<String, ExecutionRow> = rows
        .into_iter()
        .map(|row| (row.id().to_owned(), row))
        .collect();
    ids.iter()
        .map(|id| written.remove(id).map(Execution::try_from).transpose())
        .collect()
}

pub(super) async fn logs(pool: &PgPool, id: ExecutionId) -> Result<String> {
    let logs: Option<Vec<u8>> = sqlx::query_scalar("SELECT logs FROM executions WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    let logs = logs.ok_or(StoreError::ExecutionNotFound { id })?;
    String::from_utf8(logs).map_err(|e| {
        RowReader::new(TABLE, &id.to_string()).corrupt("logs", format_args!("not UTF-8: {e}"))
    })
}

pub(super) async fn delete(pool: &PgPool, id: ExecutionId) -> Result<()> {
    let done = sqlx::query("DELETE FROM executions WHERE id = $1")
        .bind(id.to_string())
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::ExecutionNotFound { id });
    }
    Ok(())
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::str::FromStr;

    use ridge_core::fixtures;
    use sqlx::postgres::PgConnectOptions;
    use sqlx::{Connection, PgConnection};

    use super::{FINISH, START};
    use crate::testing::TestDatabase;
    use crate::{PostgresStore, Store};

    /// What PostgreSQL plans for `sql`, prepared, run with `args`: first as it plans the first
    /// runs of a prepared statement (for their values), then as it plans later ones (for any).
    async fn plans(conn: &mut PgConnection, sql: &str, args: &str) -> Vec<String> {
        let mut plans = Vec::new();
        sqlx::raw_sql(&format!("PREPARE planned AS {sql}"))
            .execute(&mut *conn)
            .await
            .expect("prepare");
        for mode in ["force_custom_plan", "force_generic_plan"] {
            sqlx::raw_sql(&format!("SET plan_cache_mode = {mode}"))
                .execute(&mut *conn)
                .await
                .expect("set");
            let lines: Vec<String> =
                sqlx::query_scalar(&format!("EXPLAIN EXECUTE planned({args})"))
                    .fetch_all(&mut *conn)
                    .await
                    .expect("explain");
            plans.push(lines.join("\n"));
        }
        sqlx::raw_sql("DEALLOCATE planned")
            .execute(&mut *conn)
            .await
            .expect("deallocate");
        plans
    }

    /// A claim and a finish find each row by its id, even where the statistics say that no
    /// execution is running while thousands are (gathered before a burst of async executions):
    /// the partial indexes of running rows would have them read every one.
    #[tokio::test]
    async fn starts_and_finishes_find_their_rows_by_id_whatever_the_statistics_say() {
        let db = TestDatabase::create().await;
        let store = PostgresStore::connect(db.url()).await.expect("connect");
        let rt = fixtures::runtime("p1", true, 1);
        store.create_runtime(&rt).await.expect("runtime");
        let f = fixtures::function("p1", rt.id, 2);
        store.create_function(&f).await.expect("function");
        let mut conn = PgConnection::connect(db.url()).await.expect("connect");
        sqlx::query(
            "INSERT INTO executions (id, project_id, function_id, status, created_at) \
             SELECT 'e' || n, 'p1', $1, 'success', '2026-12-06T00:00:00Z' \
             FROM generate_series(1, 5000) AS n",
        )
        .bind(f.id.to_string())
        .execute(&mut conn)
        .await
        .expect("insert");
        sqlx::raw_sql(
            "ANALYZE executions; \
             UPDATE executions SET status = 'running', node = 'local' WHERE id <= 'e3'",
        )
        .execute(&mut conn)
        .await
        .expect("analyze, then run");

        let start_args = "ARRAY['e1', 'e2'], ARRAY['local', 'local'], ARRAY['t', 't']";
        let finish_args = "ARRAY['e1', 'e2'], ARRAY['success', 'success'], ARRAY['{}', '{}'], \
                           ARRAY[''::bytea, ''::bytea], 't'";
        for (sql, args) in [(START, start_args), (FINISH.as_str(), finish_args)] {
            for plan in plans(&mut conn, sql, args).await {
                assert!(plan.contains("executions_pkey"), "{sql}\n{plan}");
                assert!(!plan.contains("executions_running_node"), "{sql}\n{plan}");
                assert!(!plan.contains("executions_unsuccessful"), "{sql}\n{plan}");
            }
        }
        store.close().await;
    }

    /// On an empty `executions` (a new database), a plan made then and kept scans the whole
    /// table; the writer's connections rule that out.
    #[tokio::test]
    async fn the_writers_connections_find_rows_by_id_in_an_empty_table_too() {
        let db = TestDatabase::create().await;
        let store = PostgresStore::connect(db.url()).await.expect("connect");
        store.close().await;
        let options = PgConnectOptions::from_str(db.url()).expect("url");
        let mut plain = PgConnection::connect_with(&options).await.expect("connect");
        let start_args = "ARRAY['e1'], ARRAY['local'], ARRAY['t']";
        let plain_plans = plans(&mut plain, START, start_args).await;
        assert!(
            plain_plans.iter().any(|plan| plan.contains("Seq Scan")),
            "an empty table is scanned on a connection of the defaults: {plain_plans:?}"
        );
        let mut writer =
            PgConnection::connect_with(&super::super::writer::connect_options(options))
                .await
                .expect("connect");
        let finish_args = "ARRAY['e1'], ARRAY['success'], ARRAY['{}'], ARRAY[''::bytea], 't'";
        for (sql, args) in [(START, start_args), (FINISH.as_str(), finish_args)] {
            for plan in plans(&mut writer, sql, args).await {
                assert!(plan.contains("executions_pkey"), "{sql}\n{plan}");
                assert!(!plan.contains("Seq Scan"), "{sql}\n{plan}");
            }
        }
    }
}
