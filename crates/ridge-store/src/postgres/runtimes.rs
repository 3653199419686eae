//! SQL of the `runtimes` table.

use ridge_core::{ProjectId, Runtime, RuntimeId, RuntimeStatus};
use sqlx::PgPool;

use crate::codec;
use crate::rows::runtimes::{COLUMNS, RuntimeRow};
use crate::{Result, StoreError};

pub(super) async fn create(pool: &PgPool, runtime: &Runtime) -> Result<()> {
    sqlx::query(
        "INSERT INTO runtimes (id, project_id, name, description, image, status, is_public, \
         trusted, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(runtime.id.to_string())
    .bind(runtime.project_id.as_str())
    .bind(runtime.name.as_deref())
    .bind(runtime.description.as_deref())
    .bind(&runtime.image)
    .bind(runtime.status.as_str())
    .bind(runtime.is_public)
    .bind(runtime.trusted)
    .bind(codec::ts(&runtime.created_at))
    .bind(codec::opt_ts(runtime.updated_at.as_ref()))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn get(pool: &PgPool, id: RuntimeId) -> Result<Runtime> {
    let row: Option<RuntimeRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM runtimes WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    row.ok_or(StoreError::RuntimeNotFound { id })?.try_into()
}

/// The runtimes visible to `project` (its own and the public ones), or all of them for `None`.
pub(super) async fn list(pool: &PgPool, project: Option<&ProjectId>) -> Result<Vec<Runtime>> {
    let rows: Vec<RuntimeRow> = match project {
        Some(project) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM runtimes WHERE project_id = $1 OR is_public \
                 ORDER BY created_at, id"
            ))
            .bind(project.as_str())
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM runtimes ORDER BY created_at, id"
            ))
            .fetch_all(pool)
            .await?
        }
    };
    rows.into_iter().map(Runtime::try_from).collect()
}

pub(super) async fn update(pool: &PgPool, runtime: &Runtime) -> Result<()> {
    let done = sqlx::query(
        "UPDATE runtimes SET name = $1, description = $2, image = $3, status = $4, updated_at = $5 \
         WHERE id = $6",
    )
    .bind(runtime.name.as_deref())
    .bind(runtime.description.as_deref())
    .bind(&runtime.image)
    .bind(runtime.status.as_str())
    .bind(codec::opt_ts(runtime.updated_at.as_ref()))
    .bind(runtime.id.to_string())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::RuntimeNotFound { id: runtime.id });
    }
    Ok(())
}

/// Sets the status and, as any change of a Qinling row does, `updated_at` to now.
pub(super) async fn set_status(pool: &PgPool, id: RuntimeId, status: RuntimeStatus) -> Result<()> {
    let done = sqlx::query("UPDATE runtimes SET status = $1, updated_at = $2 WHERE id = $3")
        .bind(status.as_str())
        .bind(codec::ts(&ridge_core::time::now()))
        .bind(id.to_string())
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::RuntimeNotFound { id });
    }
    Ok(())
}

/// Deletes the runtime unless a function uses it. The check and the delete are one statement,
/// so a function created meanwhile cannot slip between them.
pub(super) async fn delete(pool: &PgPool, id: RuntimeId) -> Result<()> {
    let key = id.to_string();
    let deleted = sqlx::query(
        "DELETE FROM runtimes WHERE id = $1 \
         AND NOT EXISTS (SELECT 1 FROM functions WHERE runtime_id = $1)",
    )
    .bind(&key)
    .execute(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::RuntimeInUse { id }
        }
        _ => StoreError::Database(e),
    })?;
    if deleted.rows_affected() == 1 {
        return Ok(());
    }
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM runtimes WHERE id = $1)")
        .bind(&key)
        .fetch_one(pool)
        .await?;
    Err(if exists {
        StoreError::RuntimeInUse { id }
    } else {
        StoreError::RuntimeNotFound { id }
    })
}
