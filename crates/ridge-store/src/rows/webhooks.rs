//! A row of `webhooks` as both stores read it, and its columns.

use ridge_core::Webhook;

use super::target;
use crate::codec::RowReader;
use crate::{Result, StoreError};

pub(crate) const TABLE: &str = "webhooks";

pub(crate) const COLUMNS: &str = "id, project_id, function_id, function_version, function_alias, \
                       description, secret, split_alerts, created_at, updated_at";

crate::rows::sqlx_row! {
    pub(crate) struct WebhookRow {
        id: String,
        project_id: String,
        function_id: Option<String>,
        function_version: Option<i64>,
        function_alias: Option<String>,
        description: Option<String>,
        secret: Option<String>,
        split_alerts: bool,
        created_at: String,
        updated_at: Option<String>,
    }
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;

    fn try_from(row: WebhookRow) -> Result<Self> {
        let r = RowReader::new(TABLE, &row.id);
        Ok(Webhook {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            target: target::read(
                &r,
                row.function_id.as_deref(),
                row.function_version,
                row.function_alias.as_deref(),
            )?,
            created_at: r.ts("created_at", &row.created_at)?,
            updated_at: r.opt_ts("updated_at", row.updated_at.as_deref())?,
            description: row.description,
            secret: row.secret,
            split_alerts: row.split_alerts,
        })
    }
}
