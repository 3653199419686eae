//! Settings of event triggers: the `[events]` table of the TOML file. Unknown keys are errors.

use std::time::Duration;

use anyhow::bail;
use ridge_events::EventsConfig;
use serde::Deserialize;

pub const DEFAULT_MAX_PREFETCH: u16 = 64;
pub const DEFAULT_MAX_TRIGGERS: u64 = 20;
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 1024 * 1024;
pub const DEFAULT_POLL_MS: u64 = 2000;
pub const DEFAULT_RECONNECT_MAX_SECS: u64 = 30;

/// `[events]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFile {
    /// The largest `prefetch` a trigger may ask for (default 64): how many messages, and so
    /// executions, one trigger holds at once on a node.
    pub max_prefetch: Option<u16>,
    /// Event triggers a project may have (default 20); each is a broker connection per node.
    pub max_triggers_per_project: Option<u64>,
    /// Messages above this many bytes are dead-lettered without running (default 1 MiB).
    pub max_message_size: Option<u64>,
    /// How often each node reads the triggers to start and stop consumers, in milliseconds
    /// (default 2000): a created, changed, paused or deleted trigger takes effect within it.
    pub poll_ms: Option<u64>,
    /// The longest wait between two attempts to reach a broker, in seconds (default 30).
    pub reconnect_max_secs: Option<u64>,
}

/// The settings after defaults.
#[derive(Debug, Clone, Copy)]
pub struct EventSettings {
    pub max_prefetch: u16,
    pub max_triggers: u64,
    pub consumers: EventsConfig,
}

impl EventSettings {
    pub fn from_file(file: Option<EventsFile>) -> anyhow::Result<Self> {
        let file = file.unwrap_or_default();
        let max_prefetch = file.max_prefetch.unwrap_or(DEFAULT_MAX_PREFETCH);
        if max_prefetch == 0 {
            bail!("invalid events.max_prefetch 0: allow at least 1 message in flight");
        }
        let size = file.max_message_size.unwrap_or(DEFAULT_MAX_MESSAGE_SIZE);
        let Ok(max_message_size) = usize::try_from(size) else {
            bail!("invalid events.max_message_size {size}: too large for this machine");
        };
        if max_message_size == 0 {
            bail!("invalid events.max_message_size 0: allow at least one byte");
        }
        let poll = file.poll_ms.unwrap_or(DEFAULT_POLL_MS);
        if poll == 0 {
            bail!("invalid events.poll_ms 0: read the triggers at most every millisecond");
        }
        let reconnect = file
            .reconnect_max_secs
            .unwrap_or(DEFAULT_RECONNECT_MAX_SECS);
        if reconnect == 0 {
            bail!("invalid events.reconnect_max_secs 0: wait at least one second");
        }
        Ok(Self {
            max_prefetch,
            max_triggers: file
                .max_triggers_per_project
                .unwrap_or(DEFAULT_MAX_TRIGGERS),
            consumers: EventsConfig {
                poll: Duration::from_millis(poll),
                max_message_size,
                reconnect_max: Duration::from_secs(reconnect),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let s = EventSettings::from_file(None).expect("defaults");
        assert_eq!(s.max_prefetch, 64);
        assert_eq!(s.consumers.max_message_size, 1024 * 1024);
        let zero = EventsFile {
            max_prefetch: Some(0),
            ..EventsFile::default()
        };
        let e = EventSettings::from_file(Some(zero)).expect_err("zero prefetch");
        assert!(e.to_string().contains("max_prefetch"), "{e}");
    }
}
