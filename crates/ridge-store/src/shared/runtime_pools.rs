//! SQL of a runtime's pre-started pool size (`runtimes.pool_size`: NULL keeps the server's
//! default), the same for SQLite and PostgreSQL. [`runtime_pool_queries!`] instantiates it for
//! one store's pool type.

macro_rules! runtime_pool_queries {
    ($pool:ty) => {
        use ridge_core::RuntimeId;

        use crate::{Result, StoreError};

        /// The pre-started pool size an admin set for the runtime, if any.
        pub(super) async fn size(pool: &$pool, id: RuntimeId) -> Result<Option<u32>> {
            let row: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT pool_size FROM runtimes WHERE id = $1")
                    .bind(id.to_string())
                    .fetch_optional(pool)
                    .await?;
            let (size,) = row.ok_or(StoreError::RuntimeNotFound { id })?;
            Ok(size.and_then(|n| u32::try_from(n).ok()))
        }

        pub(super) async fn set_size(pool: &$pool, id: RuntimeId, size: Option<u32>) -> Result<()> {
            let done = sqlx::query("UPDATE runtimes SET pool_size = $1 WHERE id = $2")
                .bind(size.map(i64::from))
                .bind(id.to_string())
                .execute(pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::RuntimeNotFound { id });
            }
            Ok(())
        }
    };
}

pub(crate) use runtime_pool_queries;
