//! The `webhook_signatures` table: timestamped webhook signatures seen within their window, by
//! any node sharing the store. The SQL is the same for SQLite and PostgreSQL, instantiated for
//! each store's pool by [`signature_queries!`] (as [`crate::nodes`] does).

/// Forgets the signatures whose window has passed (every webhook's), then records this one
/// unless it is there already.
pub(crate) const FORGET_STALE: &str = "DELETE FROM webhook_signatures WHERE until < $1";
pub(crate) const RECORD: &str = "INSERT INTO webhook_signatures (webhook_id, signature, until) \
     VALUES ($1, $2, $3) ON CONFLICT (webhook_id, signature) DO NOTHING";

macro_rules! signature_queries {
    ($pool:ty) => {
        /// True when no node recorded `signature` of `webhook` before.
        pub(crate) async fn record(
            pool: &$pool,
            webhook: ridge_core::WebhookId,
            signature: &str,
            until: i64,
            now: i64,
        ) -> $crate::Result<bool> {
            use $crate::signatures::{FORGET_STALE, RECORD};
            sqlx::query(FORGET_STALE).bind(now).execute(pool).await?;
            let done = sqlx::query(RECORD)
                .bind(webhook.to_string())
                .bind(signature)
                .bind(until)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        }
    };
}

pub(crate) use signature_queries;
