//! Scenario 10: event triggers. Messages consumed per second by a trigger running a no-op
//! Python function: a throwaway RabbitMQ broker (scripts/rabbitmq-test.sh, Debian's
//! rabbitmq-server), a durable queue filled with N messages before the trigger is created, then
//! the time from creating the trigger until the queue is empty and no execution is left
//! `running` (a message is acknowledged only after its execution succeeded), and every one
//! counted `success` in the store. Not part of `all`: it needs rabbitmq-server installed.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use ridge_core::api::EventTriggerRequest;

use super::{Ctx, Outcome};
use crate::report::Row;
use crate::server::RidgeServer;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/rabbitmq-test.sh"
);
const QUEUE: &str = "bench.events";
/// The longest the queue may take to drain (2,000 messages take 3-5 s here, 10,000 about 20).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(180);

/// A broker of the scenario's own, stopped on drop.
struct Broker {
    url: String,
    state: String,
}

impl Broker {
    fn start() -> anyhow::Result<Self> {
        let output = Command::new("bash")
            .arg(SCRIPT)
            .arg("start")
            .arg(std::process::id().to_string())
            .output()
            .with_context(|| format!("cannot run {SCRIPT}"))?;
        if !output.status.success() {
            bail!(
                "{SCRIPT} could not start RabbitMQ (is rabbitmq-server installed? scripts/test-deps.sh installs it): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let value = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(str::to_owned)
                .with_context(|| format!("{SCRIPT} printed no {name}"))
        };
        Ok(Self {
            url: value("RIDGE_TEST_AMQP_URL")?,
            state: value("RIDGE_TEST_AMQP_STATE")?,
        })
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(SCRIPT)
            .args(["stop", &self.state])
            .status();
    }
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let n = ctx.budget.async_executions;
    let broker = Broker::start()?;
    let server = RidgeServer::start(&ctx.programs, "events", "[events]\npoll_ms = 200\n").await?;
    let id = server.python_noop("noop-events").await?;

    let connection = Connection::connect(&broker.url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    channel
        .queue_declare(
            ShortString::from(QUEUE),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await?;
    let mut rows = Vec::new();
    for prefetch in [8u16, 32] {
        let published = Instant::now();
        fill(&channel, n).await?;
        if rows.is_empty() {
            rows.push(Row::value(
                format!("publish {n} persistent messages (confirmed)"),
                n as f64 / published.elapsed().as_secs_f64().max(1e-9),
                "msg/s",
            ));
        }
        let before = successes(&server, &id).await?;
        let start = Instant::now();
        let trigger = server
            .client
            .create_event_trigger(&EventTriggerRequest {
                function_id: Some(id.clone()),
                amqp_url: Some(broker.url.clone()),
                queue: Some(QUEUE.to_owned()),
                prefetch: Some(prefetch),
                ..EventTriggerRequest::default()
            })
            .await?;
        // Done when every message has run to success: the queue's ready count and the
        // running executions alone miss messages delivered but not yet started (waiting for
        // admission) or waiting for a retry, which are neither.
        let mut succeeded = 0;
        loop {
            let ready = peek(&channel).await?.message_count();
            let running = server
                .client
                .list_executions(&[
                    ("function_id".to_owned(), id.clone()),
                    ("status".to_owned(), "running".to_owned()),
                ])
                .await?
                .len();
            if ready == 0 && running == 0 {
                succeeded = successes(&server, &id).await? - before;
                if succeeded >= n {
                    break;
                }
            }
            if start.elapsed() > DRAIN_TIMEOUT {
                bail!(
                    "after {DRAIN_TIMEOUT:?}: {ready} message(s) still queued, {running} execution(s) running, {succeeded} of {n} succeeded (the server's log: ridge-events.log in the bench dir)"
                );
            }
            tokio::time::sleep(Duration::from_millis(if ready == 0 { 100 } else { 20 })).await;
        }
        let drained = start.elapsed();
        server.client.delete_event_trigger(&trigger.id).await?;
        // Its consumer stops at the server's next look at the triggers (`poll_ms`): wait for
        // that, or it would take messages of the next round.
        let deleted = Instant::now();
        while peek(&channel).await?.consumer_count() > 0 {
            if deleted.elapsed() > Duration::from_secs(30) {
                bail!("the deleted trigger still consumes the queue after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        rows.push(
            Row::value(
                format!("consume {n} messages, no-op Python, prefetch {prefetch}"),
                n as f64 / drained.as_secs_f64().max(1e-9),
                "msg/s",
            )
            .note(format!(
                "{:.1} s from creating the trigger until the queue was empty and nothing ran; {succeeded} executions succeeded",
                drained.as_secs_f64()
            )),
        );
    }
    drop(channel);
    drop(connection);
    server.stop().await?;
    Ok(Outcome::ran(
        rows,
        vec![
            "one node, the broker on loopback; each message is an async execution acknowledged after success"
                .to_owned(),
        ],
    ))
}

/// The queue's counts now (a passive declare: it must exist).
async fn peek(channel: &lapin::Channel) -> anyhow::Result<lapin::Queue> {
    let passive = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::durable()
    };
    Ok(channel
        .queue_declare(ShortString::from(QUEUE), passive, FieldTable::default())
        .await?)
}

/// Publishes `n` persistent messages to the queue and waits for the broker's confirmations.
async fn fill(channel: &lapin::Channel, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        channel
            .basic_publish(
                ShortString::from(""),
                ShortString::from(QUEUE),
                BasicPublishOptions::default(),
                format!("{{\"n\": {i}}}").as_bytes(),
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?;
    }
    channel.wait_for_confirms().await?;
    Ok(())
}

async fn successes(server: &RidgeServer, id: &str) -> anyhow::Result<usize> {
    Ok(server
        .client
        .list_executions(&[
            ("function_id".to_owned(), id.to_owned()),
            ("status".to_owned(), "success".to_owned()),
        ])
        .await?
        .len())
}
