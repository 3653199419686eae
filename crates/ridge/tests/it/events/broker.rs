//! A real RabbitMQ for the event trigger tests: the run's (`RIDGE_TEST_AMQP_URL`, which
//! scripts/test.sh starts once through scripts/rabbitmq-test.sh), or one of the test's own
//! through the same script (a test that restarts its broker always takes its own, so that the
//! others keep theirs). Messages are published and read back with lapin, the client the server
//! uses.

use std::process::Command;
use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/rabbitmq-test.sh"
);

pub struct Broker {
    pub url: String,
    /// The state directory of a broker this value started (stopped on drop).
    owned: Option<String>,
}

impl Broker {
    /// The run's broker, or a new one.
    pub fn shared() -> Self {
        match std::env::var("RIDGE_TEST_AMQP_URL") {
            Ok(url) => Self { url, owned: None },
            Err(_) => Self::own(),
        }
    }

    /// A broker of this test's own.
    pub fn own() -> Self {
        let output = Command::new("bash")
            .arg(SCRIPT)
            .arg("start")
            .arg(std::process::id().to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
        assert!(
            output.status.success(),
            "{SCRIPT} could not start RabbitMQ (run scripts/test-deps.sh to install it):\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let exports = String::from_utf8_lossy(&output.stdout);
        let value = |name: &str| {
            exports
                .lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{SCRIPT} printed no {name}:\n{exports}"))
                .to_owned()
        };
        Self {
            url: value("RIDGE_TEST_AMQP_URL"),
            owned: Some(value("RIDGE_TEST_AMQP_STATE")),
        }
    }

    /// What [`Restart::restart`] needs, to run on a blocking thread.
    pub fn clone_handle(&self) -> Restart {
        Restart {
            state: self
                .owned
                .clone()
                .expect("only a test's own broker restarts"),
        }
    }
}

/// Restarts a test's own broker.
pub struct Restart {
    state: String,
}

impl Restart {
    /// Stops the broker and starts it again on the same port and data (blocking).
    pub fn restart(&self) {
        let state = &self.state;
        let output = Command::new("bash")
            .arg(SCRIPT)
            .args(["restart", state])
            .output()
            .expect("run the script");
        assert!(
            output.status.success(),
            "restart failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Broker {
    /// A channel in confirm mode.
    pub async fn channel(&self) -> (Connection, Channel) {
        let connection = Connection::connect(&self.url, ConnectionProperties::default())
            .await
            .expect("connect to the test broker");
        let channel = connection.create_channel().await.expect("channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        (connection, channel)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(state) = &self.owned {
            let _ = Command::new("bash")
                .arg(SCRIPT)
                .args(["stop", state])
                .status();
        }
    }
}

/// A unique name for this test's queues and exchanges.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid_like())
}

fn uuid_like() -> String {
    ridge_core::EventTriggerId::new().to_string()
}

pub async fn declare_queue(channel: &Channel, name: &str) {
    channel
        .queue_declare(
            ShortString::from(name),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .expect("declare queue");
}

pub async fn declare_topic(channel: &Channel, name: &str) {
    channel
        .exchange_declare(
            ShortString::from(name),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                durable: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare exchange");
}

/// Publishes a persistent message and waits for the broker's confirmation.
pub async fn publish(channel: &Channel, exchange: &str, key: &str, body: &[u8]) {
    let confirm = channel
        .basic_publish(
            ShortString::from(exchange),
            ShortString::from(key),
            BasicPublishOptions::default(),
            body,
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .expect("publish")
        .await
        .expect("confirmation");
    assert!(confirm.is_ack(), "the broker refused a test message");
}

/// Messages ready in `queue` (not delivered, or given back).
pub async fn ready(channel: &Channel, queue: &str) -> u32 {
    channel
        .queue_declare(
            ShortString::from(queue),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("the queue exists")
        .message_count()
}

/// Polls (bounded, ~30 s) until `queue` has `n` ready messages.
pub async fn wait_ready(channel: &Channel, queue: &str, n: u32) {
    for _ in 0..300 {
        if ready(channel, queue).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "queue `{queue}` never had {n} ready messages (it has {})",
        ready(channel, queue).await
    );
}

/// Takes one message from `queue`, acknowledged.
pub async fn get(channel: &Channel, queue: &str) -> lapin::message::BasicGetMessage {
    channel
        .basic_get(ShortString::from(queue), BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
        .expect("a message is there")
}
