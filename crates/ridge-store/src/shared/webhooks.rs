//! SQL of the `webhooks` table, the same for SQLite and PostgreSQL: placeholders are `$N`, each first used
//! in order, which SQLite binds by position too. [`webhooks_queries!`] instantiates it for one store's
//! pool (`mod webhooks { crate::shared::webhooks::webhooks_queries!(sqlx::PgPool); }`).

macro_rules! webhooks_queries {
    ($pool:ty) => {
        use ridge_core::{Webhook, WebhookId};

        use crate::codec;
        use crate::rows::target;
        use crate::rows::webhooks::{COLUMNS, WebhookRow};
        use crate::{ProjectScope, Result, StoreError};

        fn fk(e: sqlx::Error, webhook: &Webhook) -> StoreError {
            match (&e, webhook.target.function_id()) {
                (sqlx::Error::Database(db), Some(id)) if db.is_foreign_key_violation() => {
                    StoreError::FunctionNotFound { id }
                }
                _ => StoreError::Database(e),
            }
        }

        pub(super) async fn create(pool: &$pool, webhook: &Webhook) -> Result<()> {
            let t = target::columns(&webhook.target);
            sqlx::query(
                "INSERT INTO webhooks (id, project_id, function_id, function_version, function_alias, \
                 description, secret, split_alerts, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(webhook.id.to_string())
            .bind(webhook.project_id.as_str())
            .bind(t.function_id)
            .bind(t.function_version)
            .bind(t.function_alias)
            .bind(webhook.description.as_deref())
            .bind(webhook.secret.as_deref())
            .bind(webhook.split_alerts)
            .bind(codec::ts(&webhook.created_at))
            .bind(codec::opt_ts(webhook.updated_at.as_ref()))
            .execute(pool)
            .await
            .map_err(|e| fk(e, webhook))?;
            Ok(())
        }

        pub(super) async fn get(pool: &$pool, id: WebhookId) -> Result<Webhook> {
            let row: Option<WebhookRow> =
                sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = $1"))
                    .bind(id.to_string())
                    .fetch_optional(pool)
                    .await?;
            row.ok_or(StoreError::WebhookNotFound { id })?.try_into()
        }

        pub(super) async fn list(pool: &$pool, scope: &ProjectScope) -> Result<Vec<Webhook>> {
            let rows: Vec<WebhookRow> = match scope {
                ProjectScope::Project(project) => {
                    sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM webhooks WHERE project_id = $1 ORDER BY created_at, id"
                    ))
                    .bind(project.as_str())
                    .fetch_all(pool)
                    .await?
                }
                ProjectScope::All => {
                    sqlx::query_as(&format!(
                        "SELECT {COLUMNS} FROM webhooks ORDER BY created_at, id"
                    ))
                    .fetch_all(pool)
                    .await?
                }
            };
            rows.into_iter().map(Webhook::try_from).collect()
        }

        /// Writes the target, description, secret, `split_alerts` and `updated_at`.
        pub(super) async fn update(pool: &$pool, webhook: &Webhook) -> Result<()> {
            let t = target::columns(&webhook.target);
            let done = sqlx::query(
                "UPDATE webhooks SET function_id = $1, function_version = $2, function_alias = $3, \
                 description = $4, secret = $5, split_alerts = $6, updated_at = $7 WHERE id = $8",
            )
            .bind(t.function_id)
            .bind(t.function_version)
            .bind(t.function_alias)
            .bind(webhook.description.as_deref())
            .bind(webhook.secret.as_deref())
            .bind(webhook.split_alerts)
            .bind(codec::opt_ts(webhook.updated_at.as_ref()))
            .bind(webhook.id.to_string())
            .execute(pool)
            .await
            .map_err(|e| fk(e, webhook))?;
            if done.rows_affected() == 0 {
                return Err(StoreError::WebhookNotFound { id: webhook.id });
            }
            Ok(())
        }

        pub(super) async fn delete(pool: &$pool, id: WebhookId) -> Result<()> {
            let done = sqlx::query("DELETE FROM webhooks WHERE id = $1")
                .bind(id.to_string())
                .execute(pool)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::WebhookNotFound { id });
            }
            Ok(())
        }
    };
}

pub(crate) use webhooks_queries;
