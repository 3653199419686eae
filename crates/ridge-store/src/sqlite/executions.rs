//! SQL of the `executions` table.

use ridge_core::{Execution, ExecutionId, Timestamp};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::codec;
use crate::filter::{self, Column};
use crate::rows::executions::{COLUMNS, ExecutionRow};
use crate::{ExecutionOutcome, ExecutionQuery, ProjectScope, Result, StoreError};

/// Inserts the execution with `logs` and counts it on its function (version 0) or its version;
/// the caller commits. `FunctionNotFound` or `VersionNotFound` when the target does not exist,
/// and then nothing was written (the writer relies on it to keep the rest of a batch).
pub(super) async fn create(
    conn: &mut SqliteConnection,
    execution: &Execution,
    logs: &str,
) -> Result<()> {
    let function_id = execution.function_id.to_string();
    if execution.function_version != 0 {
        // Counted first: a missing version fails before anything is written.
        let counted = sqlx::query(
            "UPDATE function_versions SET count = count + 1 \
             WHERE function_id = ? AND version_number = ?",
        )
        .bind(&function_id)
        .bind(execution.function_version)
        .execute(&mut *conn)
        .await?;
        if counted.rows_affected() == 0 {
            let function: Option<i64> = sqlx::query_scalar("SELECT 1 FROM functions WHERE id = ?")
                .bind(&function_id)
                .fetch_optional(&mut *conn)
                .await?;
            return Err(match function {
                Some(_) => StoreError::VersionNotFound {
                    function_id: execution.function_id,
                    version: execution.function_version,
                },
                None => StoreError::FunctionNotFound {
                    id: execution.function_id,
                },
            });
        }
    }
    insert(INSERT, execution, logs)
        .execute(&mut *conn)
        .await
        // A failed statement changes nothing; with a version, its row (and so the function) was
        // found above, so this happens for version 0 only.
        .map_err(|e| not_found_or(e, execution))?;
    if execution.function_version == 0 {
        sqlx::query("UPDATE functions SET count = count + 1 WHERE id = ?")
            .bind(&function_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The insert of [`create`], its parameters bound by [`insert`].
macro_rules! insert_sql {
    () => {
        "INSERT INTO executions (id, project_id, function_id, function_version, \
         function_alias, description, status, sync, input, result, logs, started_at, \
         created_at, updated_at, node) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    };
}
const INSERT: &str = insert_sql!();

/// [`create`] for a write alone in its batch, of version 0: the transaction, the insert and the
/// count in one multi-statement query, one message to the connection's thread instead of four
/// (sqlx binds the `?` of each statement in turn). At concurrency 1 every write is alone, and
/// each message is two context switches. On failure the transaction is rolled back, so nothing
/// is written.
pub(super) async fn create_alone(
    conn: &mut SqliteConnection,
    execution: &Execution,
    logs: &str,
) -> Result<()> {
    debug_assert_eq!(
        execution.function_version, 0,
        "a version's create counts first"
    );
    const SQL: &str = concat!(
        "BEGIN IMMEDIATE; ",
        insert_sql!(),
        "; UPDATE functions SET count = count + 1 WHERE id = ?; COMMIT"
    );
    let done = insert(SQL, execution, logs)
        .bind(execution.function_id.to_string())
        .execute(&mut *conn)
        .await;
    if let Err(e) = done {
        // The transaction may be open (a statement after BEGIN failed) or not (BEGIN itself
        // did): roll back what there is, and report the statement's error.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(not_found_or(e, execution));
    }
    Ok(())
}

/// `sql` ([`INSERT`], alone or first) with the execution's columns and `logs` bound.
fn insert<'q>(
    sql: &'q str,
    execution: &'q Execution,
    logs: &'q str,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    sqlx::query(sql)
        .bind(execution.id.to_string())
        .bind(execution.project_id.as_str())
        .bind(execution.function_id.to_string())
        .bind(execution.function_version)
        .bind(execution.function_alias.as_deref())
        .bind(execution.description.as_deref())
        .bind(execution.status.as_str())
        .bind(execution.sync)
        .bind(
            execution
                .input
                .as_ref()
                .map(|input| codec::json_text(&input.to_stored())),
        )
        .bind(execution.result.as_ref().map(codec::json_text))
        .bind(logs)
        .bind(codec::opt_ts(execution.started_at.as_ref()))
        .bind(codec::ts(&execution.created_at))
        .bind(codec::opt_ts(execution.updated_at.as_ref()))
        .bind(execution.node.as_deref())
}

/// A foreign key violation of the insert: its function is gone.
fn not_found_or(e: sqlx::Error, execution: &Execution) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::FunctionNotFound {
                id: execution.function_id,
            }
        }
        _ => StoreError::Database(e),
    }
}

pub(super) async fn get(pool: &SqlitePool, id: ExecutionId) -> Result<Execution> {
    let row: Option<ExecutionRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM executions WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    row.ok_or(StoreError::ExecutionNotFound { id })?.try_into()
}

pub(super) async fn list(pool: &SqlitePool, query: &ExecutionQuery) -> Result<Vec<Execution>> {
    let mut sql =
        QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS} FROM executions WHERE 1 = 1"));
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

/// Compare-and-swap: false unless the execution is `running` and not yet started.
pub(super) async fn mark_started(
    conn: &mut SqliteConnection,
    id: ExecutionId,
    node: &str,
    at: Timestamp,
) -> Result<bool> {
    let at = codec::ts(&at);
    let done = sqlx::query(
        "UPDATE executions SET started_at = ?, updated_at = ? \
         WHERE id = ? AND status = 'running' AND started_at IS NULL AND node = ?",
    )
    .bind(&at)
    .bind(&at)
    .bind(id.to_string())
    .bind(node)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Compare-and-swap: `None` unless the execution is still `running`; else the row as written.
pub(super) async fn finish(
    conn: &mut SqliteConnection,
    id: ExecutionId,
    outcome: &ExecutionOutcome,
) -> Result<Option<Execution>> {
    // Run to its end (`fetch_all`, at most one row), not dropped after the first row: alone in
    // its batch it commits itself, when the statement is done.
    let mut rows: Vec<ExecutionRow> = sqlx::query_as(&format!(
        "UPDATE executions SET status = ?, result = ?, logs = ?, updated_at = ? \
         WHERE id = ? AND status = 'running' RETURNING {COLUMNS}"
    ))
    .bind(outcome.status.as_str())
    .bind(codec::json_text(&outcome.result))
    .bind(&outcome.logs)
    .bind(codec::ts(&ridge_core::time::now()))
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    rows.pop().map(Execution::try_from).transpose()
}

pub(super) async fn logs(pool: &SqlitePool, id: ExecutionId) -> Result<String> {
    let logs: Option<String> = sqlx::query_scalar("SELECT logs FROM executions WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(pool)
        .await?;
    logs.ok_or(StoreError::ExecutionNotFound { id })
}

pub(super) async fn delete(pool: &SqlitePool, id: ExecutionId) -> Result<()> {
    let done = sqlx::query("DELETE FROM executions WHERE id = ?")
        .bind(id.to_string())
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::ExecutionNotFound { id });
    }
    Ok(())
}
