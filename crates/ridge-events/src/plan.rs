//! The pure decisions of a delivery, apart from the broker and the engine: what a message
//! becomes (an input, a skip, or a refusal), and what follows an attempt (acknowledge, retry,
//! wait for room, or dead-letter).

use std::time::Duration;

use ridge_core::notification::Notification;
use ridge_core::{EventTrigger, ExecutionInput};
use serde_json::Value;

/// What to do with a message before running anything.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Run the target with this input.
    Run(Option<ExecutionInput>),
    /// Acknowledge without running: a notification the trigger does not want.
    Skip(&'static str),
    /// Dead-letter without running: the message cannot be run.
    Refuse(String),
}

/// A message body: over `max_size` it is refused; with event type patterns it must be a
/// notification that matches one (the input is `{event_type, publisher_id, timestamp,
/// payload}`); otherwise the body is the input, as JSON when it parses, else as text.
pub fn plan(trigger: &EventTrigger, body: &[u8], max_size: usize) -> Plan {
    if body.len() > max_size {
        return Plan::Refuse(format!(
            "message of {} bytes is over the limit of {max_size} bytes (`[events] max_message_size`)",
            body.len()
        ));
    }
    if trigger.event_types.is_empty() {
        let text = String::from_utf8_lossy(body).into_owned();
        return Plan::Run(ExecutionInput::from_request(&Value::String(text)));
    }
    match Notification::parse(body) {
        None => Plan::Skip("not an OpenStack notification"),
        Some(n) if !n.matches(&trigger.event_types) => Plan::Skip("event type not matched"),
        Some(n) => Plan::Run(ExecutionInput::from_request(&n.into_input())),
    }
}

/// How one attempt to run a message ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The execution ended `success` with this output.
    Succeeded(Value),
    /// Admission refused it for now (a quota, a full queue): not the message's fault.
    Busy(String),
    /// The execution ended `failed` or `error`, or could not start (its target is gone).
    Failed(String),
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Acknowledge (and publish the reply, if the trigger has a reply exchange).
    Ack(Value),
    /// Run it again after this delay; the failure counted.
    Retry(Duration),
    /// Run it again after this delay; the refusal did not count against `max_retries`.
    Wait(Duration),
    /// Out of retries: dead-letter with this reason.
    DeadLetter(String),
}

/// The longest a message waits between two refusals by admission.
const MAX_BUSY_WAIT: Duration = Duration::from_secs(5);

/// `failures` counts the failed attempts before this one.
pub fn next(trigger: &EventTrigger, failures: u32, attempt: Attempt) -> Next {
    let options = &trigger.options;
    match attempt {
        Attempt::Succeeded(output) => Next::Ack(output),
        Attempt::Busy(_) => Next::Wait(options.backoff(1).min(MAX_BUSY_WAIT)),
        Attempt::Failed(reason) if failures >= options.max_retries => Next::DeadLetter(format!(
            "failed {} time(s), the last: {reason}",
            failures + 1
        )),
        Attempt::Failed(_) => Next::Retry(options.backoff(failures + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ridge_core::event_trigger::DeliveryOptions;
    use ridge_core::fixtures::at;
    use ridge_core::{EventSource, EventTriggerId, ProjectId, Target, TriggerState};
    use serde_json::json;

    fn trigger(event_types: &[&str]) -> EventTrigger {
        EventTrigger {
            id: EventTriggerId::new(),
            project_id: ProjectId::default_project(),
            target: Target::Alias("prod".parse().expect("valid")),
            description: None,
            amqp_url: "amqp://h".into(),
            amqp_url_sealed: "sealed".into(),
            source: EventSource::Queue("q".into()),
            options: DeliveryOptions {
                max_retries: 2,
                retry_backoff_ms: 100,
                ..DeliveryOptions::default()
            },
            event_types: event_types.iter().map(|s| (*s).to_owned()).collect(),
            paused: false,
            state: TriggerState::Starting,
            last_error: None,
            created_at: at(0),
            updated_at: None,
        }
    }

    #[test]
    fn a_body_is_json_when_it_parses_else_text() {
        let t = trigger(&[]);
        let Plan::Run(Some(ExecutionInput::Object(map))) = plan(&t, br#"{"a": 1}"#, 100) else {
            panic!("an object runs with keyword arguments");
        };
        assert_eq!(map["a"], 1);
        assert_eq!(
            plan(&t, b"hello", 100),
            Plan::Run(Some(ExecutionInput::Positional(json!("hello"))))
        );
        assert_eq!(plan(&t, b"", 100), Plan::Run(None));
        let Plan::Refuse(why) = plan(&t, &[b'x'; 101], 100) else {
            panic!("too large");
        };
        assert!(why.contains("101 bytes"), "{why}");
    }

    #[test]
    fn notifications_are_filtered_and_unwrapped() {
        let t = trigger(&["compute.instance.*.end"]);
        let inner = json!({"event_type": "compute.instance.create.end",
            "publisher_id": "compute.h1", "timestamp": "t", "payload": {"id": 1}});
        let wrapped = json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
        let Plan::Run(Some(ExecutionInput::Object(map))) =
            plan(&t, wrapped.to_string().as_bytes(), 10_000)
        else {
            panic!("a matching notification runs");
        };
        assert_eq!(map["publisher_id"], "compute.h1");
        assert_eq!(map["payload"], json!({"id": 1}));
        let other = json!({"event_type": "image.upload", "payload": {}});
        assert!(matches!(
            plan(&t, other.to_string().as_bytes(), 10_000),
            Plan::Skip(_)
        ));
        assert!(matches!(plan(&t, b"plain", 10_000), Plan::Skip(_)));
    }

    #[test]
    fn failures_retry_with_backoff_then_dead_letter() {
        let t = trigger(&[]);
        let failed = || Attempt::Failed("boom".into());
        assert_eq!(
            next(&t, 0, failed()),
            Next::Retry(Duration::from_millis(100))
        );
        assert_eq!(
            next(&t, 1, failed()),
            Next::Retry(Duration::from_millis(200))
        );
        let Next::DeadLetter(why) = next(&t, 2, failed()) else {
            panic!("out of retries");
        };
        assert!(why.contains("3 time(s)") && why.contains("boom"), "{why}");
        assert_eq!(
            next(&t, 2, Attempt::Busy("quota".into())),
            Next::Wait(Duration::from_millis(100))
        );
        assert_eq!(
            next(&t, 2, Attempt::Succeeded(json!(1))),
            Next::Ack(json!(1))
        );
    }
}
