//! Event triggers: an AMQP 0-9-1 source (a queue, or an exchange with binding keys) whose
//! messages each run a function, a version or an alias. The validation of what a client sends
//! lives here; consuming is `ridge-events`' job, storing `ridge-store`'s.

use crate::{EventTriggerId, InvalidInput, ProjectId, Target, Timestamp};

/// The most times a failed delivery is run again before it is dead-lettered.
pub const MAX_RETRIES: u32 = 20;
/// The retry backoff's bounds, in milliseconds (it doubles after each failure, up to 60 s).
pub const MIN_RETRY_BACKOFF_MS: u64 = 10;
pub const MAX_RETRY_BACKOFF_MS: u64 = 60_000;
/// The most binding keys or event type patterns a trigger may have.
pub const MAX_PATTERNS: usize = 32;
/// AMQP's short strings (queue, exchange and routing key names) are at most 255 bytes.
pub const MAX_NAME_LEN: usize = 255;
/// The longest AMQP URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// An event trigger as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTrigger {
    pub id: EventTriggerId,
    pub project_id: ProjectId,
    pub target: Target,
    pub description: Option<String>,
    /// The broker URL with its password replaced by `***`: what every answer shows.
    pub amqp_url: String,
    /// The broker URL as given, sealed (`ridge_api::secret_box`, the trigger's id as
    /// associated data): the store never sees the credentials in the clear.
    pub amqp_url_sealed: String,
    pub source: EventSource,
    pub options: DeliveryOptions,
    /// When not empty, messages are OpenStack notifications ([`crate::notification`]): only
    /// those whose `event_type` matches one of these patterns run the function.
    pub event_types: Vec<String>,
    /// Paused by its owner: nothing consumes it.
    pub paused: bool,
    /// What its consumer last reported (`starting` until one has).
    pub state: TriggerState,
    /// Why the consumer is reconnecting, when it is.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl EventTrigger {
    /// The status `GET` shows: `paused` when paused, else what the consumer reported.
    pub fn status(&self) -> TriggerState {
        if self.paused {
            TriggerState::Paused
        } else {
            self.state
        }
    }

    /// The queue Ridge declares for an exchange source (durable, one per trigger, shared by
    /// every node's consumer), or the queue named by a queue source.
    pub fn queue_name(&self) -> String {
        match &self.source {
            EventSource::Queue(q) => q.clone(),
            EventSource::Exchange { .. } => format!("ridge.trigger.{}", self.id),
        }
    }
}

/// Where messages come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// An existing queue, consumed as it is.
    Queue(String),
    /// An exchange: Ridge declares a durable queue for the trigger and binds it with each key.
    Exchange {
        exchange: String,
        binding_keys: Vec<String>,
    },
}

/// How deliveries are run, retried and dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Unacknowledged messages a consumer holds at once, which is also how many of its
    /// executions run at once on a node.
    pub prefetch: u16,
    /// Runs after the first that a failed delivery gets before it is dead-lettered.
    pub max_retries: u32,
    /// The first retry's delay; it doubles after each failure, up to 60 s.
    pub retry_backoff_ms: u64,
    /// Where a message that keeps failing is published (then acknowledged). Without one it is
    /// rejected without requeue, which the broker dead-letters by the queue's own
    /// `x-dead-letter-exchange` if it has one, and drops otherwise.
    pub dead_letter_exchange: Option<String>,
    /// The routing key of dead-lettered messages (default: the message's own).
    pub dead_letter_routing_key: Option<String>,
    /// Where a successful execution's output is published (routing key: the message's
    /// `reply_to`, else its own routing key).
    pub reply_exchange: Option<String>,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            prefetch: 1,
            max_retries: 3,
            retry_backoff_ms: 1000,
            dead_letter_exchange: None,
            dead_letter_routing_key: None,
            reply_exchange: None,
        }
    }
}

impl DeliveryOptions {
    /// The delay before retry `attempt` (1 for the first retry).
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(16);
        std::time::Duration::from_millis(
            self.retry_backoff_ms
                .saturating_mul(factor)
                .min(MAX_RETRY_BACKOFF_MS),
        )
    }

    /// Checks the bounds; `max_prefetch` is the server's cap.
    pub fn validate(&self, max_prefetch: u16) -> Result<(), InvalidInput> {
        if self.prefetch == 0 || self.prefetch > max_prefetch {
            return Err(InvalidInput::new(format!(
                "invalid `prefetch` {}: use 1 to {max_prefetch} (`[events] max_prefetch`)",
                self.prefetch
            )));
        }
        if self.max_retries > MAX_RETRIES {
            return Err(InvalidInput::new(format!(
                "invalid `max_retries` {}: use 0 to {MAX_RETRIES}",
                self.max_retries
            )));
        }
        if !(MIN_RETRY_BACKOFF_MS..=MAX_RETRY_BACKOFF_MS).contains(&self.retry_backoff_ms) {
            return Err(InvalidInput::new(format!(
                "invalid `retry_backoff_ms` {}: use {MIN_RETRY_BACKOFF_MS} to {MAX_RETRY_BACKOFF_MS}",
                self.retry_backoff_ms
            )));
        }
        for (field, value) in [
            ("dead_letter_exchange", &self.dead_letter_exchange),
            ("dead_letter_routing_key", &self.dead_letter_routing_key),
            ("reply_exchange", &self.reply_exchange),
        ] {
            if let Some(v) = value {
                validate_name(field, v, true)?;
            }
        }
        if self.dead_letter_routing_key.is_some() && self.dead_letter_exchange.is_none() {
            return Err(InvalidInput::new(
                "`dead_letter_routing_key` needs `dead_letter_exchange` (use \"\" to dead-letter straight into the queue the key names)",
            ));
        }
        Ok(())
    }
}

/// What a trigger's consumer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerState {
    /// Created or resumed; no consumer has reported yet.
    Starting,
    /// Consuming.
    Active,
    /// The broker could not be reached or went away: connecting again with backoff.
    Reconnecting,
    Paused,
}

impl TriggerState {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerState::Starting => "starting",
            TriggerState::Active => "active",
            TriggerState::Reconnecting => "reconnecting",
            TriggerState::Paused => "paused",
        }
    }
}

impl std::str::FromStr for TriggerState {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "starting" => TriggerState::Starting,
            "active" => TriggerState::Active,
            "reconnecting" => TriggerState::Reconnecting,
            "paused" => TriggerState::Paused,
            _ => {
                return Err(InvalidInput::new(format!(
                    "unknown trigger status `{s}`: expected starting, active, reconnecting or paused"
                )));
            }
        })
    }
}

/// Checks a queue, exchange or routing key name. `empty_ok`: the default exchange `""`.
pub fn validate_name(field: &str, value: &str, empty_ok: bool) -> Result<(), InvalidInput> {
    if (value.is_empty() && !empty_ok)
        || value.len() > MAX_NAME_LEN
        || value.chars().any(char::is_control)
    {
        return Err(InvalidInput::new(format!(
            "invalid `{field}` `{value}`: use 1 to {MAX_NAME_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

/// Checks a source: a queue, or an exchange with 1 to [`MAX_PATTERNS`] binding keys.
pub fn validate_source(source: &EventSource) -> Result<(), InvalidInput> {
    match source {
        EventSource::Queue(q) => validate_name("queue", q, false),
        EventSource::Exchange {
            exchange,
            binding_keys,
        } => {
            validate_name("exchange", exchange, false)?;
            if binding_keys.is_empty() || binding_keys.len() > MAX_PATTERNS {
                return Err(InvalidInput::new(format!(
                    "invalid `binding_keys`: give 1 to {MAX_PATTERNS} keys (`#` binds everything a topic exchange routes)"
                )));
            }
            binding_keys
                .iter()
                .try_for_each(|k| validate_name("binding_keys", k, true))
        }
    }
}

/// Checks event type patterns: at most [`MAX_PATTERNS`], each letters, digits, `.`, `_`, `-`
/// and the wildcard `*`.
pub fn validate_event_types(patterns: &[String]) -> Result<(), InvalidInput> {
    if patterns.len() > MAX_PATTERNS {
        return Err(InvalidInput::new(format!(
            "too many `event_types`: at most {MAX_PATTERNS} patterns"
        )));
    }
    for p in patterns {
        let ok = !p.is_empty()
            && p.len() <= MAX_NAME_LEN
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*'));
        if !ok {
            return Err(InvalidInput::new(format!(
                "invalid event type pattern `{p}`: use letters, digits, `.`, `_`, `-` and `*` (as in `compute.instance.*.end`)"
            )));
        }
    }
    Ok(())
}

/// Checks an AMQP URL (`amqp://user:password@host:port/vhost`) and returns it with the
/// password replaced by `***`, which is what is shown back.
pub fn redact_amqp_url(url: &str) -> Result<String, InvalidInput> {
    let bad = |why: &str| {
        InvalidInput::new(format!(
            "invalid `amqp_url`: {why}; expected amqp://user:password@host:port/vhost"
        ))
    };
    if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad(&format!(
            "at most {MAX_URL_LEN} characters without spaces"
        )));
    }
    let Some(rest) = url.strip_prefix("amqp://") else {
        if url.starts_with("amqps://") {
            return Err(bad("TLS (`amqps://`) is not supported yet"));
        }
        return Err(bad("the scheme must be `amqp://`"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if host.is_empty() || host.starts_with(':') {
        return Err(bad("no host"));
    }
    let user = match userinfo {
        Some(info) => match info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@"),
            None => format!("{info}@"),
        },
        None => String::new(),
    };
    Ok(format!("amqp://{user}{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted_and_checked() {
        assert_eq!(
            redact_amqp_url("amqp://nova:s3cr3t@rabbit:5672/%2f").expect("valid"),
            "amqp://nova:***@rabbit:5672/%2f"
        );
        assert_eq!(
            redact_amqp_url("amqp://a:b:c@h/v?heartbeat=10").expect("valid"),
            "amqp://a:***@h/v?heartbeat=10"
        );
        assert_eq!(
            redact_amqp_url("amqp://localhost").expect("valid"),
            "amqp://localhost"
        );
        assert!(redact_amqp_url("http://h").is_err());
        assert!(
            redact_amqp_url("amqps://h")
                .expect_err("tls")
                .message
                .contains("TLS")
        );
        assert!(redact_amqp_url("amqp://u:p@/v").is_err());
        assert!(redact_amqp_url("amqp://h/ v").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let o = DeliveryOptions {
            retry_backoff_ms: 100,
            ..DeliveryOptions::default()
        };
        assert_eq!(o.backoff(1).as_millis(), 100);
        assert_eq!(o.backoff(3).as_millis(), 400);
        assert_eq!(o.backoff(40).as_millis(), 60_000);
    }

    #[test]
    fn options_are_bounded() {
        let ok = DeliveryOptions::default();
        assert!(ok.validate(64).is_ok());
        let e = DeliveryOptions {
            prefetch: 65,
            ..ok.clone()
        };
        assert!(e.validate(64).expect_err("cap").message.contains("1 to 64"));
        let e = DeliveryOptions {
            max_retries: 21,
            ..ok.clone()
        };
        assert!(e.validate(64).is_err());
        let e = DeliveryOptions {
            dead_letter_routing_key: Some("k".into()),
            ..ok
        };
        assert!(e.validate(64).is_err());
    }

    #[test]
    fn sources_and_patterns_are_checked() {
        assert!(validate_source(&EventSource::Queue(String::new())).is_err());
        assert!(
            validate_source(&EventSource::Exchange {
                exchange: "nova".into(),
                binding_keys: vec![],
            })
            .is_err()
        );
        assert!(
            validate_source(&EventSource::Exchange {
                exchange: "nova".into(),
                binding_keys: vec!["notifications.info".into()],
            })
            .is_ok()
        );
        assert!(validate_event_types(&["compute.instance.*.end".into()]).is_ok());
        assert!(validate_event_types(&["a b".into()]).is_err());
        assert!(validate_event_types(&vec!["x".to_owned(); 33]).is_err());
    }
}
