//! SQL of the `functions` table.

use ridge_core::{Function, FunctionId};
use sqlx::PgPool;

use crate::codec;
use crate::rows::functions::{COLUMNS, FunctionRow};
use crate::{FunctionUsage, ProjectScope, Result, StoreError};

/// `RuntimeNotFound` when the function's runtime does not exist.
pub(super) async fn create(pool: &PgPool, function: &Function) -> Result<()> {
    sqlx::query(
        "INSERT INTO functions (id, project_id, name, description, runtime_id, code, entry, cpu, \
         memory_size, timeout, network, count, latest_version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(function.id.to_string())
    .bind(function.project_id.as_str())
    .bind(function.name.as_deref())
    .bind(function.description.as_deref())
    .bind(function.runtime_id.to_string())
    .bind(codec::json_text(&function.code))
    .bind(function.entry.as_str())
    .bind(i64::from(function.limits.cpu))
    .bind(codec::int("memory_size", function.limits.memory_size)?)
    .bind(i64::from(function.limits.timeout))
    .bind(function.network.as_str())
    .bind(function.count)
    .bind(function.latest_version)
    .bind(codec::ts(&function.created_at))
    .bind(codec::opt_ts(function.updated_at.as_ref()))
    .execute(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::RuntimeNotFound {
            id: function.runtime_id,
        },
        _ => StoreError::Database(e),
    })?;
    Ok(())
}

/// [`get`] inside a transaction.
pub(super) async fn get_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: FunctionId,
) -> Result<Function> {
    let row: Option<FunctionRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM functions WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
    row.ok_or(StoreError::FunctionNotFound { id })?.try_into()
}

pub(super) async fn get(pool: &PgPool, id: FunctionId) -> Result<Function> {
    let row: Option<FunctionRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM functions WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    row.ok_or(StoreError::FunctionNotFound { id })?.try_into()
}

pub(super) async fn list(pool: &PgPool, scope: &ProjectScope) -> Result<Vec<Function>> {
    let rows: Vec<FunctionRow> = match scope {
        ProjectScope::Project(project) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM functions WHERE project_id = $1 ORDER BY created_at, id"
            ))
            .bind(project.as_str())
            .fetch_all(pool)
            .await?
        }
        ProjectScope::All => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM functions ORDER BY created_at, id"
            ))
            .fetch_all(pool)
            .await?
        }
    };
    rows.into_iter().map(Function::try_from).collect()
}

/// Writes the fields a `PUT /v1/functions/{id}` can change. `runtime_id`, `count` and
/// `latest_version` are not touched.
pub(super) async fn update(pool: &PgPool, function: &Function) -> Result<()> {
    let done = sqlx::query(
        "UPDATE functions SET name = $1, description = $2, code = $3, entry = $4, cpu = $5, \
         memory_size = $6, timeout = $7, network = $8, updated_at = $9 WHERE id = $10",
    )
    .bind(function.name.as_deref())
    .bind(function.description.as_deref())
    .bind(codec::json_text(&function.code))
    .bind(function.entry.as_str())
    .bind(i64::from(function.limits.cpu))
    .bind(codec::int("memory_size", function.limits.memory_size)?)
    .bind(i64::from(function.limits.timeout))
    .bind(function.network.as_str())
    .bind(codec::opt_ts(function.updated_at.as_ref()))
    .bind(function.id.to_string())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::FunctionNotFound { id: function.id });
    }
    Ok(())
}

/// Deletes the function unless a job that may still run, a webhook or an alias uses it (one
/// statement); its executions, versions and finished jobs go with it (`ON DELETE CASCADE`).
pub(super) async fn delete(pool: &PgPool, id: FunctionId) -> Result<()> {
    let done = sqlx::query(
        "DELETE FROM functions WHERE id = $1 \
         AND NOT EXISTS (SELECT 1 FROM jobs WHERE function_id = $1 \
                         AND status IN ('running', 'paused')) \
         AND NOT EXISTS (SELECT 1 FROM webhooks WHERE function_id = $1) \
         AND NOT EXISTS (SELECT 1 FROM function_aliases WHERE function_id = $1)",
    )
    .bind(id.to_string())
    .execute(pool)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    get(pool, id).await?;
    let used = usage(pool, id).await?;
    let reason = if used.running_jobs > 0 {
        "running job(s)"
    } else if used.webhooks > 0 {
        "webhook(s)"
    } else if used.aliases > 0 {
        "function alias(es)"
    } else {
        return Err(StoreError::FunctionNotFound { id });
    };
    Err(StoreError::FunctionInUse { reason })
}

/// What refers to the function.
pub(super) async fn usage(pool: &PgPool, id: FunctionId) -> Result<FunctionUsage> {
    let (running_jobs, webhooks, aliases): (i64, i64, i64) = sqlx::query_as(
        "SELECT \
           (SELECT COUNT(*) FROM jobs WHERE function_id = $1 AND status IN ('running', 'paused')), \
           (SELECT COUNT(*) FROM webhooks WHERE function_id = $1), \
           (SELECT COUNT(*) FROM function_aliases WHERE function_id = $1)",
    )
    .bind(id.to_string())
    .fetch_one(pool)
    .await?;
    Ok(FunctionUsage {
        running_jobs,
        webhooks,
        aliases,
    })
}
