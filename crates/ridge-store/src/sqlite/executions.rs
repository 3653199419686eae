//! SQL of the `executions` table, but for the hot path's (`native`, `writer`).

use ridge_core::{Execution, ExecutionId};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::filter::{self, Column};
use crate::rows::executions::{COLUMNS, ExecutionRow};
use crate::{ExecutionQuery, ProjectScope, Result, StoreError};

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
