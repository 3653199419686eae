//! The triggers of every project, consumed on this node: every `poll` the supervisor reads the
//! triggers from the store and reconciles: a consumer for each trigger that is not paused,
//! started again when the trigger changed (its `updated_at`), stopped when it is paused or
//! deleted (or its function was).
//!
//! Several nodes: every node consumes every trigger, on the same queue. RabbitMQ gives each
//! message to one consumer at a time and takes it back only when that consumer's connection
//! ends unacknowledged (competing consumers), so a message runs once per delivery across the
//! nodes with no coordination in the store; a node that dies mid-execution has its messages
//! redelivered to another (at least once).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ridge_core::{EventTrigger, EventTriggerId, Timestamp, TriggerState};
use ridge_engine::Engine;
use ridge_store::{ProjectScope, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::consumer::Consumer;

/// Opens a trigger's sealed broker URL (the binary knows the key).
pub type OpenUrl = Arc<dyn Fn(&EventTrigger) -> Result<String, String> + Send + Sync>;

/// `[events]` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventsConfig {
    /// How often the triggers are read from the store.
    pub poll: Duration,
    /// Bodies above this are dead-lettered without running.
    pub max_message_size: usize,
    /// The longest wait between two connection attempts.
    pub reconnect_max: Duration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            max_message_size: 1024 * 1024,
            reconnect_max: Duration::from_secs(30),
        }
    }
}

struct Running {
    /// What the consumer was started from: a change restarts it.
    version: (Option<Timestamp>, Timestamp),
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// This node's consumers.
pub struct Supervisor {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    open: OpenUrl,
    config: EventsConfig,
    running: HashMap<EventTriggerId, Running>,
}

impl Supervisor {
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        open: OpenUrl,
        config: EventsConfig,
    ) -> Self {
        Self {
            engine,
            store,
            open,
            config,
            running: HashMap::new(),
        }
    }

    /// Reconciles every `config.poll` until the task is aborted; then stops the consumers.
    pub fn spawn(mut self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(self.config.poll);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(e) = self.reconcile().await {
                    tracing::error!(error = %e, "event triggers: could not read the triggers");
                }
            }
        })
    }

    /// One round: start, restart and stop consumers to match the store.
    pub async fn reconcile(&mut self) -> Result<(), ridge_store::StoreError> {
        let triggers = self.store.list_event_triggers(&ProjectScope::All).await?;
        let wanted: HashMap<_, _> = triggers
            .into_iter()
            .filter(|t| !t.paused)
            .map(|t| (t.id, t))
            .collect();
        self.running.retain(|id, running| {
            let keep = wanted
                .get(id)
                .is_some_and(|t| (t.updated_at, t.created_at) == running.version)
                && !running.task.is_finished();
            if !keep {
                let _ = running.stop.send(true);
            }
            keep
        });
        for (id, trigger) in wanted {
            if self.running.contains_key(&id) {
                continue;
            }
            let url = match (self.open)(&trigger) {
                Ok(url) => url,
                Err(e) => {
                    let why = format!("cannot open the stored broker URL: {e}");
                    let _ = self
                        .store
                        .set_event_trigger_state(id, TriggerState::Reconnecting, Some(&why))
                        .await;
                    continue;
                }
            };
            let (stop, stopped) = watch::channel(false);
            let version = (trigger.updated_at, trigger.created_at);
            let consumer = Consumer {
                trigger,
                url,
                engine: self.engine.clone(),
                store: self.store.clone(),
                max_message_size: self.config.max_message_size,
                reconnect_max: self.config.reconnect_max,
            };
            let task = tokio::spawn(consumer.run(stopped));
            self.running.insert(
                id,
                Running {
                    version,
                    stop,
                    task,
                },
            );
        }
        Ok(())
    }

    /// How many consumers run on this node.
    pub fn consumers(&self) -> usize {
        self.running.len()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for running in self.running.values() {
            let _ = running.stop.send(true);
        }
    }
}
