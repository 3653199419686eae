//! Event triggers end to end, on a real RabbitMQ and real Python workers: a queue's messages
//! run the function and are acknowledged only after success (a server stopped mid-execution
//! gives its message back), failures are retried then dead-lettered with the reason, OpenStack
//! notifications are unwrapped and filtered by event type, pause holds messages in the queue,
//! and a broker restart mid-stream loses no message.

mod broker;

use std::collections::BTreeSet;
use std::time::Duration;

use ridge_core::api::{EventTriggerRequest, EventTriggerView, ExecutionView, FunctionView};
use serde_json::{Value, json};

use crate::common::{TestServer, output};
use broker::{Broker, declare_queue, declare_topic, get, publish, ready, unique, wait_ready};

/// Returns what it was called with (the `context` keyword left out).
const ECHO: &str = "\
def main(*args, **kwargs):
    kwargs.pop('context', None)
    return {'args': list(args), 'kwargs': kwargs}
";

/// Consumers follow the store every 100 ms and reconnect within a second; a stop waits at
/// most a second for running executions.
async fn server() -> TestServer {
    TestServer::start_with(|s| {
        s.events.consumers.poll = Duration::from_millis(100);
        s.events.consumers.reconnect_max = Duration::from_secs(1);
        s.shutdown_timeout = Duration::from_secs(1);
    })
    .await
}

async fn function(t: &TestServer, source: &str) -> FunctionView {
    let rt = t.python_runtime().await;
    t.function(&rt, source).await
}

async fn trigger(t: &TestServer, body: EventTriggerRequest) -> EventTriggerView {
    t.client
        .create_event_trigger(&body)
        .await
        .expect("trigger created")
}

fn on_queue(f: &FunctionView, url: &str, queue: &str) -> EventTriggerRequest {
    EventTriggerRequest {
        function_id: Some(f.id.clone()),
        amqp_url: Some(url.to_owned()),
        queue: Some(queue.to_owned()),
        ..EventTriggerRequest::default()
    }
}

/// Polls (bounded, ~60 s) until the trigger's status is `status`.
async fn wait_status(t: &TestServer, id: &str, status: &str) -> EventTriggerView {
    for _ in 0..600 {
        let seen = t.client.get_event_trigger(id).await.expect("trigger");
        if seen.status == status {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("trigger {id} never became `{status}`");
}

/// The trigger's finished executions, once there are at least `n` (bounded, ~60 s).
async fn finished(t: &TestServer, trigger: &str, n: usize) -> Vec<ExecutionView> {
    let needle = format!("Created by Event trigger {trigger}");
    for _ in 0..600 {
        let found: Vec<_> = t
            .client
            .list_executions(&[("description".to_owned(), needle.clone())])
            .await
            .expect("list executions")
            .into_iter()
            .filter(|e| e.status != "running")
            .collect();
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("trigger {trigger} never had {n} finished executions");
}

#[tokio::test]
async fn queue_messages_run_once_each_and_are_acked_after_success() {
    let broker = Broker::shared();
    let (_conn, ch) = broker.channel().await;
    let queue = unique("orders");
    declare_queue(&ch, &queue).await;
    let t = server().await;
    let f = function(&t, ECHO).await;
    let tr = trigger(&t, on_queue(&f, &broker.url, &queue)).await;
    assert!(!tr.amqp_url.contains("guest@") || tr.amqp_url.contains("***"));
    let active = wait_status(&t, &tr.id, "active").await;
    assert_eq!(active.last_error, None);

    publish(&ch, "", &queue, br#"{"order": 1}"#).await;
    publish(&ch, "", &queue, b"plain text").await;
    let done = finished(&t, &tr.id, 2).await;
    assert!(done.iter().all(|e| e.status == "success" && !e.sync));
    let outputs: Vec<Value> = done.iter().map(output).collect();
    assert!(
        outputs.contains(&json!({"args": [], "kwargs": {"order": 1}})),
        "{outputs:?}"
    );
    assert!(
        outputs.contains(&json!({"args": ["plain text"], "kwargs": {}})),
        "{outputs:?}"
    );
    wait_ready(&ch, &queue, 0).await;

    // Paused: messages wait in the queue; resumed, they run.
    t.client
        .pause_event_trigger(&tr.id, true)
        .await
        .expect("pause");
    tokio::time::sleep(Duration::from_millis(500)).await;
    publish(&ch, "", &queue, br#"{"order": 2}"#).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        ready(&ch, &queue).await,
        1,
        "a paused trigger consumes nothing"
    );
    t.client
        .pause_event_trigger(&tr.id, false)
        .await
        .expect("resume");
    let done = finished(&t, &tr.id, 3).await;
    assert_eq!(done.len(), 3, "each message ran once");
    t.stop().await;
}

#[tokio::test]
async fn a_server_stopped_mid_execution_gives_the_message_back() {
    let broker = Broker::shared();
    let (_conn, ch) = broker.channel().await;
    let queue = unique("slow");
    declare_queue(&ch, &queue).await;
    let t = server().await;
    let f = function(&t, "import time\ndef main(**kw):\n    time.sleep(30)\n").await;
    let tr = trigger(&t, on_queue(&f, &broker.url, &queue)).await;
    wait_status(&t, &tr.id, "active").await;
    publish(&ch, "", &queue, b"{}").await;
    // Taken: running, not acknowledged.
    t.executions_until(&tr.id, |e| e.len() == 1).await;
    assert_eq!(ready(&ch, &queue).await, 0);
    t.stop().await;
    wait_ready(&ch, &queue, 1).await;
}

#[tokio::test]
async fn failures_are_retried_then_dead_lettered_with_the_reason() {
    let broker = Broker::shared();
    let (_conn, ch) = broker.channel().await;
    let queue = unique("work");
    let dead = unique("dead");
    declare_queue(&ch, &queue).await;
    declare_queue(&ch, &dead).await;
    let t = server().await;
    let f = function(&t, "def main(**kw):\n    raise ValueError('bad order')\n").await;
    let tr = trigger(
        &t,
        EventTriggerRequest {
            max_retries: Some(2),
            retry_backoff_ms: Some(50),
            dead_letter_exchange: Some(String::new()),
            dead_letter_routing_key: Some(dead.clone()),
            ..on_queue(&f, &broker.url, &queue)
        },
    )
    .await;
    wait_status(&t, &tr.id, "active").await;
    publish(&ch, "", &queue, br#"{"order": 7}"#).await;
    wait_ready(&ch, &dead, 1).await;
    let runs = finished(&t, &tr.id, 3).await;
    assert_eq!(runs.len(), 3, "the first run and two retries");
    assert!(runs.iter().all(|e| e.status == "failed"));
    let message = get(&ch, &dead).await;
    assert_eq!(message.delivery.data, br#"{"order": 7}"#);
    let headers = message
        .delivery
        .properties
        .headers()
        .clone()
        .expect("headers");
    let header = |k: &str| match headers.inner().get(k) {
        Some(lapin::types::AMQPValue::LongString(s)) => s.to_string(),
        other => panic!("header {k}: {other:?}"),
    };
    assert!(header("x-ridge-trigger").contains(&tr.id));
    assert!(header("x-ridge-error").contains("3 time(s)"));
    assert_eq!(
        ready(&ch, &queue).await,
        0,
        "acknowledged once dead-lettered"
    );
    t.stop().await;
}

#[tokio::test]
async fn notifications_are_unwrapped_and_filtered_by_event_type() {
    let broker = Broker::shared();
    let (_conn, ch) = broker.channel().await;
    let exchange = unique("nova");
    declare_topic(&ch, &exchange).await;
    let t = server().await;
    let f = function(&t, ECHO).await;
    let tr = trigger(
        &t,
        EventTriggerRequest {
            function_id: Some(f.id.clone()),
            amqp_url: Some(broker.url.clone()),
            exchange: Some(exchange.clone()),
            binding_keys: Some(vec!["notifications.info".into()]),
            event_types: Some(vec!["compute.instance.*.end".into()]),
            ..EventTriggerRequest::default()
        },
    )
    .await;
    wait_status(&t, &tr.id, "active").await;
    let note = |event: &str, id: &str| {
        json!({"message_id": id, "publisher_id": "compute.host1", "event_type": event,
               "priority": "INFO", "payload": {"instance_id": id},
               "timestamp": "2024-05-01 12:00:00.000000"})
    };
    // oslo.messaging's envelope, the bare form, a type not wanted, and another routing key.
    let wrapped = json!({"oslo.version": "2.0",
        "oslo.message": note("compute.instance.create.end", "a").to_string()});
    publish(
        &ch,
        &exchange,
        "notifications.info",
        wrapped.to_string().as_bytes(),
    )
    .await;
    let bare = note("compute.instance.delete.end", "b").to_string();
    publish(&ch, &exchange, "notifications.info", bare.as_bytes()).await;
    let other = note("image.upload", "c").to_string();
    publish(&ch, &exchange, "notifications.info", other.as_bytes()).await;
    let unbound = note("compute.instance.create.end", "d").to_string();
    publish(&ch, &exchange, "notifications.error", unbound.as_bytes()).await;

    let queue = tr.queue.clone();
    wait_ready(&ch, &queue, 0).await;
    let done = finished(&t, &tr.id, 2).await;
    let seen: BTreeSet<String> = done
        .iter()
        .map(|e| {
            let kw = &output(e)["kwargs"];
            assert_eq!(kw["publisher_id"], "compute.host1");
            assert_eq!(kw["timestamp"], "2024-05-01 12:00:00.000000");
            format!("{} {}", kw["event_type"], kw["payload"]["instance_id"])
        })
        .collect();
    assert_eq!(
        seen,
        BTreeSet::from([
            "\"compute.instance.create.end\" \"a\"".to_owned(),
            "\"compute.instance.delete.end\" \"b\"".to_owned(),
        ])
    );
    // The unwanted notification was consumed without running anything.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(finished(&t, &tr.id, 2).await.len(), 2);
    t.stop().await;
}

#[tokio::test]
async fn a_broker_restart_mid_stream_loses_no_message() {
    let broker = Broker::own();
    let (conn, ch) = broker.channel().await;
    let queue = unique("stream");
    declare_queue(&ch, &queue).await;
    let t = server().await;
    let f = function(
        &t,
        "import time\ndef main(n, **kw):\n    time.sleep(0.05)\n    return n\n",
    )
    .await;
    let tr = trigger(
        &t,
        EventTriggerRequest {
            prefetch: Some(4),
            ..on_queue(&f, &broker.url, &queue)
        },
    )
    .await;
    wait_status(&t, &tr.id, "active").await;
    for n in 0..40 {
        publish(&ch, "", &queue, json!({"n": n}).to_string().as_bytes()).await;
    }
    drop(ch);
    drop(conn);
    // Some ran, some did not yet: restart the broker under the consumer.
    t.executions_until(&tr.id, |e| e.len() >= 5).await;
    let restarting = {
        let state = broker.clone_handle();
        tokio::task::spawn_blocking(move || state.restart())
    };
    let reconnecting = wait_status(&t, &tr.id, "reconnecting").await;
    assert!(reconnecting.last_error.is_some(), "{reconnecting:?}");
    restarting.await.expect("restarted");
    let active = wait_status(&t, &tr.id, "active").await;
    assert_eq!(active.last_error, None);
    let (_conn, ch) = broker.channel().await;
    for n in 40..50 {
        publish(&ch, "", &queue, json!({"n": n}).to_string().as_bytes()).await;
    }
    wait_ready(&ch, &queue, 0).await;
    let mut ran = BTreeSet::new();
    for _ in 0..600 {
        ran = finished(&t, &tr.id, 0)
            .await
            .iter()
            .filter(|e| e.status == "success")
            .filter_map(|e| output(e).as_i64())
            .collect();
        if ran.len() == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        ran,
        (0..50).collect(),
        "every message ran (some maybe twice)"
    );
    t.stop().await;
}
