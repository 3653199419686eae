//! SQL of the `function_versions` table.

use ridge_core::{FunctionId, FunctionVersion, Timestamp, VersionId};
use sqlx::PgPool;

use crate::codec;
use crate::rows::versions::{COLUMNS, VersionRow};
use crate::{Result, StoreError};

/// Snapshots the function as it is now, in one transaction that starts by bumping the
/// function's row, whose lock then serialises two concurrent creates.
pub(super) async fn create(
    pool: &PgPool,
    function_id: FunctionId,
    id: VersionId,
    description: Option<&str>,
    at: Timestamp,
    max_versions: i64,
) -> Result<FunctionVersion> {
    let mut tx = pool.begin().await?;
    let bumped =
        sqlx::query("UPDATE functions SET latest_version = latest_version + 1 WHERE id = $1")
            .bind(function_id.to_string())
            .execute(&mut *tx)
            .await?;
    if bumped.rows_affected() == 0 {
        return Err(StoreError::FunctionNotFound { id: function_id });
    }
    let function = super::functions::get_in(&mut tx, function_id).await?;
    let existing: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM function_versions WHERE function_id = $1")
            .bind(function_id.to_string())
            .fetch_one(&mut *tx)
            .await?;
    if existing >= max_versions {
        return Err(StoreError::VersionLimit { max: max_versions });
    }
    let latest: Option<VersionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM function_versions WHERE function_id = $1 \
         ORDER BY version_number DESC LIMIT 1"
    ))
    .bind(function_id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(latest) = latest {
        let latest = FunctionVersion::try_from(latest)?;
        if latest.same_as(&function) {
            return Err(StoreError::VersionUnchanged {
                latest: latest.version_number,
            });
        }
    }
    let version = FunctionVersion {
        id,
        project_id: function.project_id.clone(),
        function_id,
        version_number: function.latest_version,
        description: description.map(str::to_owned),
        code: function.code.clone(),
        entry: function.entry.clone(),
        limits: function.limits,
        count: 0,
        created_at: at,
        updated_at: None,
    };
    sqlx::query(
        "INSERT INTO function_versions (id, project_id, function_id, version_number, description, \
         code, entry, cpu, memory_size, timeout, count, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(version.id.to_string())
    .bind(version.project_id.as_str())
    .bind(function_id.to_string())
    .bind(version.version_number)
    .bind(version.description.as_deref())
    .bind(codec::json_text(&version.code))
    .bind(version.entry.as_str())
    .bind(i64::from(version.limits.cpu))
    .bind(codec::int("memory_size", version.limits.memory_size)?)
    .bind(i64::from(version.limits.timeout))
    .bind(version.count)
    .bind(codec::ts(&version.created_at))
    .bind(codec::opt_ts(version.updated_at.as_ref()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(version)
}

pub(super) async fn get(
    pool: &PgPool,
    function_id: FunctionId,
    version: i64,
) -> Result<FunctionVersion> {
    let row: Option<VersionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM function_versions WHERE function_id = $1 AND version_number = $2"
    ))
    .bind(function_id.to_string())
    .bind(version)
    .fetch_optional(pool)
    .await?;
    row.ok_or(StoreError::VersionNotFound {
        function_id,
        version,
    })?
    .try_into()
}

pub(super) async fn list(pool: &PgPool, function_id: FunctionId) -> Result<Vec<FunctionVersion>> {
    let rows: Vec<VersionRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM function_versions WHERE function_id = $1 ORDER BY version_number"
    ))
    .bind(function_id.to_string())
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(FunctionVersion::try_from).collect()
}

/// Deletes the version unless a job that may still run, a webhook or an alias uses it; the
/// check and the delete are one statement.
pub(super) async fn delete(pool: &PgPool, function_id: FunctionId, version: i64) -> Result<()> {
    let fid = function_id.to_string();
    let done = sqlx::query(
        "DELETE FROM function_versions WHERE function_id = $1 AND version_number = $2 \
         AND NOT EXISTS (SELECT 1 FROM jobs WHERE function_id = $1 AND function_version = $2 \
                         AND status IN ('running', 'paused')) \
         AND NOT EXISTS (SELECT 1 FROM webhooks WHERE function_id = $1 AND function_version = $2) \
         AND NOT EXISTS (SELECT 1 FROM function_aliases WHERE function_id = $1 AND function_version = $2)",
    )
    .bind(&fid)
    .bind(version)
    .execute(pool)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    get(pool, function_id, version).await?;
    let used_by = |table: &'static str, extra: &'static str| {
        let fid = fid.clone();
        async move {
            let n: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE function_id = $1 AND function_version = $2{extra}"
            ))
            .bind(fid)
            .bind(version)
            .fetch_one(pool)
            .await?;
            Ok::<bool, StoreError>(n > 0)
        }
    };
    let reason = if used_by("jobs", " AND status IN ('running', 'paused')").await? {
        "running job(s)"
    } else if used_by("webhooks", "").await? {
        "webhook"
    } else if used_by("function_aliases", "").await? {
        "alias"
    } else {
        // Deleted by someone else between the two statements.
        return Err(StoreError::VersionNotFound {
            function_id,
            version,
        });
    };
    Err(StoreError::VersionInUse { reason })
}
