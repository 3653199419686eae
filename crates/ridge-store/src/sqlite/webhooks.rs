//! SQL of the `webhooks` table.

use ridge_core::{Webhook, WebhookId};
use sqlx::SqlitePool;

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

pub(super) async fn create(pool: &SqlitePool, webhook: &Webhook) -> Result<()> {
    let t = target::columns(&webhook.target);
    sqlx::query(
        "INSERT INTO webhooks (id, project_id, function_id, function_version, function_alias, \
         description, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(webhook.id.to_string())
    .bind(webhook.project_id.as_str())
    .bind(t.function_id)
    .bind(t.function_version)
    .bind(t.function_alias)
    .bind(webhook.description.as_deref())
    .bind(webhook.secret.as_deref())
    .bind(codec::ts(&webhook.created_at))
    .bind(codec::opt_ts(webhook.updated_at.as_ref()))
    .execute(pool)
    .await
    .map_err(|e| fk(e, webhook))?;
    Ok(())
}

pub(super) async fn get(pool: &SqlitePool, id: WebhookId) -> Result<Webhook> {
    let row: Option<WebhookRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM webhooks WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?;
    row.ok_or(StoreError::WebhookNotFound { id })?.try_into()
}

pub(super) async fn list(pool: &SqlitePool, scope: &ProjectScope) -> Result<Vec<Webhook>> {
    let rows: Vec<WebhookRow> = match scope {
        ProjectScope::Project(project) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM webhooks WHERE project_id = ? ORDER BY created_at, id"
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

/// Writes the target, description, secret and `updated_at`.
pub(super) async fn update(pool: &SqlitePool, webhook: &Webhook) -> Result<()> {
    let t = target::columns(&webhook.target);
    let done = sqlx::query(
        "UPDATE webhooks SET function_id = ?, function_version = ?, function_alias = ?, \
         description = ?, secret = ?, updated_at = ? WHERE id = ?",
    )
    .bind(t.function_id)
    .bind(t.function_version)
    .bind(t.function_alias)
    .bind(webhook.description.as_deref())
    .bind(webhook.secret.as_deref())
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

pub(super) async fn delete(pool: &SqlitePool, id: WebhookId) -> Result<()> {
    let done = sqlx::query("DELETE FROM webhooks WHERE id = ?")
        .bind(id.to_string())
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::WebhookNotFound { id });
    }
    Ok(())
}
