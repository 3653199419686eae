//! SQL of the `function_aliases` table.

use ridge_core::{Alias, AliasName, ProjectId};
use sqlx::SqlitePool;

use crate::codec;
use crate::rows::aliases::{AliasRow, COLUMNS};
use crate::{ProjectScope, Result, StoreError};

/// Maps the unique and foreign-key violations of an insert or update to what they mean.
fn conflict(e: sqlx::Error, alias: &Alias) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_foreign_key_violation() {
            return StoreError::FunctionNotFound {
                id: alias.function_id,
            };
        }
        if db.is_unique_violation() {
            return if db.message().contains("function_aliases.name") {
                StoreError::DuplicateAlias {
                    name: alias.name.clone(),
                }
            } else {
                StoreError::DuplicateAliasTarget {
                    function_id: alias.function_id,
                    version: alias.function_version,
                }
            };
        }
    }
    StoreError::Database(e)
}

pub(super) async fn create(pool: &SqlitePool, alias: &Alias) -> Result<()> {
    sqlx::query(
        "INSERT INTO function_aliases (id, project_id, name, function_id, function_version, \
         description, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(alias.id.to_string())
    .bind(alias.project_id.as_str())
    .bind(alias.name.as_str())
    .bind(alias.function_id.to_string())
    .bind(alias.function_version)
    .bind(alias.description.as_deref())
    .bind(codec::ts(&alias.created_at))
    .bind(codec::opt_ts(alias.updated_at.as_ref()))
    .execute(pool)
    .await
    .map_err(|e| conflict(e, alias))?;
    Ok(())
}

pub(super) async fn get(pool: &SqlitePool, project: &ProjectId, name: &AliasName) -> Result<Alias> {
    let row: Option<AliasRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM function_aliases WHERE project_id = ? AND name = ?"
    ))
    .bind(project.as_str())
    .bind(name.as_str())
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| StoreError::AliasNotFound { name: name.clone() })?
        .try_into()
}

pub(super) async fn list(pool: &SqlitePool, scope: &ProjectScope) -> Result<Vec<Alias>> {
    let rows: Vec<AliasRow> = match scope {
        ProjectScope::Project(project) => sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM function_aliases WHERE project_id = ? ORDER BY created_at, id"
        ))
        .bind(project.as_str())
        .fetch_all(pool)
        .await?,
        ProjectScope::All => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM function_aliases ORDER BY created_at, id"
            ))
            .fetch_all(pool)
            .await?
        }
    };
    rows.into_iter().map(Alias::try_from).collect()
}

/// Writes the target, description and `updated_at`.
pub(super) async fn update(pool: &SqlitePool, alias: &Alias) -> Result<()> {
    let done = sqlx::query(
        "UPDATE function_aliases SET function_id = ?, function_version = ?, description = ?, \
         updated_at = ? WHERE project_id = ? AND name = ?",
    )
    .bind(alias.function_id.to_string())
    .bind(alias.function_version)
    .bind(alias.description.as_deref())
    .bind(codec::opt_ts(alias.updated_at.as_ref()))
    .bind(alias.project_id.as_str())
    .bind(alias.name.as_str())
    .execute(pool)
    .await
    .map_err(|e| conflict(e, alias))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::AliasNotFound {
            name: alias.name.clone(),
        });
    }
    Ok(())
}

/// Deletes the alias unless a job that may still run or a webhook uses it (one statement).
pub(super) async fn delete(pool: &SqlitePool, project: &ProjectId, name: &AliasName) -> Result<()> {
    let done = sqlx::query(
        "DELETE FROM function_aliases WHERE project_id = ?1 AND name = ?2 \
         AND NOT EXISTS (SELECT 1 FROM jobs WHERE project_id = ?1 AND function_alias = ?2 \
                         AND status IN ('running', 'paused')) \
         AND NOT EXISTS (SELECT 1 FROM webhooks WHERE project_id = ?1 AND function_alias = ?2)",
    )
    .bind(project.as_str())
    .bind(name.as_str())
    .execute(pool)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    get(pool, project, name).await?;
    let jobs: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs WHERE project_id = ? AND function_alias = ? \
         AND status IN ('running', 'paused')",
    )
    .bind(project.as_str())
    .bind(name.as_str())
    .fetch_one(pool)
    .await?;
    Err(StoreError::AliasInUse {
        name: name.clone(),
        by: if jobs > 0 { "job(s)" } else { "webhook(s)" },
    })
}
