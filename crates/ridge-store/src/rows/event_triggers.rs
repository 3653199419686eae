//! A row of `event_triggers` as both stores read it, and its columns.

use ridge_core::event_trigger::DeliveryOptions;
use ridge_core::{EventSource, EventTrigger};

use super::target;
use crate::codec::RowReader;
use crate::{Result, StoreError};

pub(crate) const TABLE: &str = "event_triggers";

pub(crate) const COLUMNS: &str = "id, project_id, function_id, function_version, function_alias, \
     description, amqp_url, amqp_url_sealed, queue, exchange, binding_keys, event_types, prefetch, \
     max_retries, retry_backoff_ms, dead_letter_exchange, dead_letter_routing_key, reply_exchange, \
     desired, state, last_error, created_at, updated_at";

/// `desired` of a paused trigger, and of one that runs.
pub(crate) const PAUSED: &str = "paused";
pub(crate) const ACTIVE: &str = "active";

crate::rows::sqlx_row! {
    pub(crate) struct EventTriggerRow {
        id: String,
        project_id: String,
        function_id: Option<String>,
        function_version: Option<i64>,
        function_alias: Option<String>,
        description: Option<String>,
        amqp_url: String,
        amqp_url_sealed: String,
        queue: Option<String>,
        exchange: Option<String>,
        binding_keys: String,
        event_types: String,
        prefetch: i64,
        max_retries: i64,
        retry_backoff_ms: i64,
        dead_letter_exchange: Option<String>,
        dead_letter_routing_key: Option<String>,
        reply_exchange: Option<String>,
        desired: String,
        state: String,
        last_error: Option<String>,
        created_at: String,
        updated_at: Option<String>,
    }
}

impl TryFrom<EventTriggerRow> for EventTrigger {
    type Error = StoreError;

    fn try_from(row: EventTriggerRow) -> Result<Self> {
        let r = RowReader::new(TABLE, &row.id);
        let source = match (row.queue, row.exchange) {
            (Some(queue), None) => EventSource::Queue(queue),
            (None, Some(exchange)) => EventSource::Exchange {
                exchange,
                binding_keys: r.json("binding_keys", &row.binding_keys)?,
            },
            _ => return Err(r.corrupt("queue", "needs exactly one of queue and exchange")),
        };
        Ok(EventTrigger {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            target: target::read(
                &r,
                row.function_id.as_deref(),
                row.function_version,
                row.function_alias.as_deref(),
            )?,
            description: row.description,
            amqp_url: row.amqp_url,
            amqp_url_sealed: row.amqp_url_sealed,
            source,
            event_types: r.json("event_types", &row.event_types)?,
            options: DeliveryOptions {
                prefetch: r.int("prefetch", row.prefetch)?,
                max_retries: r.int("max_retries", row.max_retries)?,
                retry_backoff_ms: r.int("retry_backoff_ms", row.retry_backoff_ms)?,
                dead_letter_exchange: row.dead_letter_exchange,
                dead_letter_routing_key: row.dead_letter_routing_key,
                reply_exchange: row.reply_exchange,
            },
            paused: row.desired == PAUSED,
            state: r.parse("state", &row.state)?,
            last_error: row.last_error,
            created_at: r.ts("created_at", &row.created_at)?,
            updated_at: r.opt_ts("updated_at", row.updated_at.as_deref())?,
        })
    }
}
