//! SQL of the `executions` table.

use ridge_core::{Execution, ExecutionId, Timestamp};
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::codec;
use crate::codec::RowReader;
use crate::filter::{self, Column};
use crate::rows::executions::{COLUMNS, ExecutionRow, TABLE};
use crate::{ExecutionOutcome, ExecutionQuery, ProjectScope, Result, StoreError};

/// Inserts the execution and counts it on its function (version 0) or its version, in one
/// statement (so one round trip, and all or nothing). `FunctionNotFound` or `VersionNotFound`
/// when the target does not exist.
pub(super) async fn create(pool: &PgPool, execution: &Execution) -> Result<()> {
    let function_id = execution.function_id.to_string();
    let inserted = sqlx::query(
        "WITH counted AS (\
           UPDATE function_versions SET count = count + 1 \
           WHERE $4 <> 0 AND function_id = $3 AND version_number = $4 RETURNING 1), \
         bumped AS (\
           UPDATE functions SET count = count + 1 WHERE $4 = 0 AND id = $3 RETURNING 1) \
         INSERT INTO executions (id, project_id, function_id, function_version, function_alias, \
           description, status, sync, input, result, started_at, created_at, updated_at, node) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 \
         WHERE $4 = 0 OR EXISTS (SELECT 1 FROM counted)",
    )
    .bind(execution.id.to_string())
    .bind(execution.project_id.as_str())
    .bind(&function_id)
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
    .bind(codec::opt_ts(execution.started_at.as_ref()))
    .bind(codec::ts(&execution.created_at))
    .bind(codec::opt_ts(execution.updated_at.as_ref()))
    .bind(execution.node.as_deref())
    .execute(pool)
    .await
    .map_err(|e| match &e {
        // The whole statement failed, counters included: no such function.
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::FunctionNotFound {
                id: execution.function_id,
            }
        }
        _ => StoreError::Database(e),
    })?;
    if inserted.rows_affected() == 1 {
        return Ok(());
    }
    // No version row was counted, so nothing was inserted: say which part is missing.
    let function: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM functions WHERE id = $1)")
            .bind(&function_id)
            .fetch_one(pool)
            .await?;
    Err(match function {
        true => StoreError::VersionNotFound {
            function_id: execution.function_id,
            version: execution.function_version,
        },
        false => StoreError::FunctionNotFound {
            id: execution.function_id,
        },
    })
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

/// Compare-and-swap: false unless the execution is `running`, not yet started and held by
/// `node`. Two nodes racing for one row: the second `UPDATE` waits for the first one's row
/// lock, then re-reads the row, finds it started (or moved) and changes nothing.
pub(super) async fn mark_started(
    pool: &PgPool,
    id: ExecutionId,
    node: &str,
    at: Timestamp,
) -> Result<bool> {
    let at = codec::ts(&at);
    let done = sqlx::query(
        "UPDATE executions SET started_at = $1, updated_at = $2 \
         WHERE id = $3 AND status = 'running' AND started_at IS NULL AND node = $4",
    )
    .bind(&at)
    .bind(&at)
    .bind(id.to_string())
    .bind(node)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Compare-and-swap: `None` unless the execution is still `running`; else the row as written.
/// The logs are `bytea`: PostgreSQL text cannot hold the NUL bytes a function may well print.
pub(super) async fn finish(
    pool: &PgPool,
    id: ExecutionId,
    outcome: &ExecutionOutcome,
) -> Result<Option<Execution>> {
    let row: Option<ExecutionRow> = sqlx::query_as(&format!(
        "UPDATE executions SET status = $1, result = $2, logs = $3, updated_at = $4 \
         WHERE id = $5 AND status = 'running' RETURNING {COLUMNS}"
    ))
    .bind(outcome.status.as_str())
    .bind(codec::json_text(&outcome.result))
    .bind(outcome.logs.as_bytes())
    .bind(codec::ts(&ridge_core::time::now()))
    .bind(id.to_string())
    .fetch_optional(pool)
    .await?;
    row.map(Execution::try_from).transpose()
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
