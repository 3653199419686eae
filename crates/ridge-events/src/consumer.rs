//! One trigger's consumer on this node: connect, declare what the trigger needs, consume with
//! its prefetch, hand each delivery to [`crate::delivery`]; when the broker goes away, report
//! `reconnecting` with the error and connect again with backoff (1 s doubling to
//! `reconnect_max`). It stops when told to, closing its connection: messages it held and did
//! not acknowledge go back to the queue.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{Connection, ConnectionProperties};
use ridge_core::{EventSource, EventTrigger, TriggerState};
use ridge_engine::Engine;
use ridge_store::Store;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::delivery::{self, Context};
use crate::error::EventsError;

/// What a consumer is given.
pub(crate) struct Consumer {
    pub trigger: EventTrigger,
    /// The broker URL, opened.
    pub url: String,
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub max_message_size: usize,
    pub reconnect_max: Duration,
}

impl Consumer {
    /// Runs until `stop` turns true.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut delay = Duration::from_secs(1);
        let mut reported = None;
        loop {
            // Dropping the session on stop drops its connection, which lapin then closes.
            let error = tokio::select! {
                e = self.session(&mut reported) => e,
                () = stopped(&mut stop) => return,
            };
            if matches!(reported, Some((TriggerState::Active, _))) {
                // It was consuming: a fresh failure starts the backoff again.
                delay = Duration::from_secs(1);
            }
            let message = error.to_string();
            tracing::warn!(trigger = %self.trigger.id, error = %message, "event trigger reconnecting");
            self.report(&mut reported, TriggerState::Reconnecting, Some(&message))
                .await;
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped(&mut stop) => return,
            }
            delay = (delay * 2).min(self.reconnect_max);
        }
    }

    /// One connection, until the broker fails it.
    async fn session(&self, reported: &mut Option<(TriggerState, Option<String>)>) -> EventsError {
        match self.consume(reported).await {
            Ok(never) => match never {},
            Err(e) => e,
        }
    }

    async fn consume(
        &self,
        reported: &mut Option<(TriggerState, Option<String>)>,
    ) -> Result<std::convert::Infallible, EventsError> {
        let connection = Connection::connect(&self.url, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        channel
            .basic_qos(self.trigger.options.prefetch, BasicQosOptions::default())
            .await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let queue = ShortString::from(self.trigger.queue_name());
        if let EventSource::Exchange {
            exchange,
            binding_keys,
        } = &self.trigger.source
        {
            channel
                .queue_declare(
                    queue.clone(),
                    QueueDeclareOptions::durable(),
                    FieldTable::default(),
                )
                .await?;
            for key in binding_keys {
                channel
                    .queue_bind(
                        queue.clone(),
                        ShortString::from(exchange.as_str()),
                        ShortString::from(key.as_str()),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        let mut consumer = channel
            .basic_consume(
                queue,
                ShortString::from(format!("ridge-{}", self.trigger.id)),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        self.report(reported, TriggerState::Active, None).await;
        let ctx = Arc::new(Context {
            trigger: self.trigger.clone(),
            engine: self.engine.clone(),
            channel: channel.clone(),
            max_message_size: self.max_message_size,
        });
        // At most `prefetch` deliveries are in flight: the broker sends no more until one is
        // acknowledged. Dropping the set (on stop or error) abandons them unacknowledged, and
        // the broker gives them to a consumer again.
        let mut deliveries = JoinSet::new();
        loop {
            tokio::select! {
                next = consumer.next() => match next {
                    Some(Ok(d)) => {
                        deliveries.spawn(delivery::handle(ctx.clone(), d));
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(EventsError::ConsumerCancelled),
                },
                Some(done) = deliveries.join_next() => {
                    if let Ok(Err(e)) = done {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Writes the state to the store when it changed (a failed write is logged: the next
    /// change tries again).
    async fn report(
        &self,
        reported: &mut Option<(TriggerState, Option<String>)>,
        state: TriggerState,
        error: Option<&str>,
    ) {
        let now = (state, error.map(str::to_owned));
        if reported.as_ref() == Some(&now) {
            return;
        }
        match self
            .store
            .set_event_trigger_state(self.trigger.id, state, error)
            .await
        {
            Ok(()) => *reported = Some(now),
            Err(e) => {
                tracing::warn!(trigger = %self.trigger.id, error = %e, "could not record a trigger's state");
            }
        }
    }
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
