//! Wire types of `/v1/event_triggers` (Ridge's own): message-queue sources bound to a function
//! (docs/events.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::format;
use crate::{EventSource, EventTrigger};

/// A trigger as every answer shows it: the broker URL without its password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTriggerView {
    pub id: String,
    pub project_id: String,
    pub function_id: Option<String>,
    pub function_alias: Option<String>,
    pub function_version: Option<i64>,
    pub description: Option<String>,
    /// The broker URL with its password shown as `***`.
    pub amqp_url: String,
    /// The queue consumed: the one named, or the one Ridge declared for an exchange.
    pub queue: String,
    pub exchange: Option<String>,
    pub binding_keys: Vec<String>,
    pub event_types: Vec<String>,
    pub prefetch: u16,
    pub max_retries: u32,
    pub retry_backoff_ms: u64,
    pub dead_letter_exchange: Option<String>,
    pub dead_letter_routing_key: Option<String>,
    pub reply_exchange: Option<String>,
    /// `starting`, `active`, `reconnecting` (see `last_error`) or `paused`.
    pub status: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl EventTriggerView {
    pub fn new(t: &EventTrigger) -> Self {
        let (exchange, binding_keys) = match &t.source {
            EventSource::Queue(_) => (None, Vec::new()),
            EventSource::Exchange {
                exchange,
                binding_keys,
            } => (Some(exchange.clone()), binding_keys.clone()),
        };
        Self {
            id: t.id.to_string(),
            project_id: t.project_id.to_string(),
            function_id: t.target.function_id().map(|id| id.to_string()),
            function_alias: t.target.alias().map(|a| a.to_string()),
            function_version: t.target.function_id().map(|_| t.target.function_version()),
            description: t.description.clone(),
            amqp_url: t.amqp_url.clone(),
            queue: t.queue_name(),
            exchange,
            binding_keys,
            event_types: t.event_types.clone(),
            prefetch: t.options.prefetch,
            max_retries: t.options.max_retries,
            retry_backoff_ms: t.options.retry_backoff_ms,
            dead_letter_exchange: t.options.dead_letter_exchange.clone(),
            dead_letter_routing_key: t.options.dead_letter_routing_key.clone(),
            reply_exchange: t.options.reply_exchange.clone(),
            status: t.status().as_str().to_owned(),
            last_error: t.last_error.clone(),
            created_at: format(&t.created_at),
            updated_at: t.updated_at.as_ref().map(format),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventTriggerList {
    pub event_triggers: Vec<EventTriggerView>,
}

/// `POST /v1/event_triggers`, and the body of `PUT /v1/event_triggers/{id}` (absent or null:
/// unchanged there). A source is `queue`, or `exchange` with `binding_keys`; `""` removes an
/// optional name on update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventTriggerRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_version: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amqp_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_keys: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_exchange: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_routing_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_exchange: Option<String>,
}
