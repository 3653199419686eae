//! OpenStack notifications as oslo.messaging publishes them, and what a trigger passes on.
//!
//! A notification arrives either wrapped in oslo.messaging's envelope
//! (`{"oslo.version": "2.0", "oslo.message": "<the notification, as a JSON string>"}`) or
//! unwrapped (the notification object itself, what the `messagingv2` driver sends when the
//! envelope is off). Both read alike: `event_type` (`compute.instance.create.end`),
//! `publisher_id` (`compute.host1`), `timestamp`, `payload`.

use serde_json::{Map, Value};

/// A notification, unwrapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub event_type: String,
    pub publisher_id: Option<String>,
    pub timestamp: Option<String>,
    pub payload: Value,
}

impl Notification {
    /// Reads a message body; `None` when it is not a notification (no string `event_type`
    /// after unwrapping).
    pub fn parse(body: &[u8]) -> Option<Notification> {
        let outer: Value = serde_json::from_slice(body).ok()?;
        let message = match outer.get("oslo.message") {
            Some(Value::String(inner)) => serde_json::from_str(inner).ok()?,
            Some(_) => return None,
            None => outer,
        };
        let text = |key: &str| message.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Notification {
            event_type: text("event_type")?,
            publisher_id: text("publisher_id"),
            timestamp: text("timestamp"),
            payload: message.get("payload").cloned().unwrap_or(Value::Null),
        })
    }

    /// Whether `event_type` matches one of `patterns` (`*` stands for any characters, dots
    /// included: `compute.instance.*.end`, `identity.*`).
    pub fn matches(&self, patterns: &[String]) -> bool {
        patterns.iter().any(|p| glob(p, &self.event_type))
    }

    /// The function's input: `{event_type, publisher_id, timestamp, payload}`.
    pub fn into_input(self) -> Value {
        let mut map = Map::new();
        map.insert("event_type".into(), Value::String(self.event_type));
        map.insert(
            "publisher_id".into(),
            self.publisher_id.map_or(Value::Null, Value::String),
        );
        map.insert(
            "timestamp".into(),
            self.timestamp.map_or(Value::Null, Value::String),
        );
        map.insert("payload".into(), self.payload);
        Value::Object(map)
    }
}

/// `*` matches any run of characters (none included); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inner() -> Value {
        json!({
            "message_id": "0d6f4c9e-5b0a-4d8a-9a3e-3f1c2f0d9b11",
            "publisher_id": "compute.host1",
            "event_type": "compute.instance.create.end",
            "priority": "INFO",
            "payload": {"instance_id": "i-1", "state": "active"},
            "timestamp": "2024-05-01 12:00:00.000000"
        })
    }

    #[test]
    fn the_envelope_and_the_bare_form_read_alike() {
        let wrapped = json!({"oslo.version": "2.0", "oslo.message": inner().to_string()});
        let a = Notification::parse(wrapped.to_string().as_bytes()).expect("wrapped");
        let b = Notification::parse(inner().to_string().as_bytes()).expect("bare");
        assert_eq!(a, b);
        assert_eq!(a.publisher_id.as_deref(), Some("compute.host1"));
        assert_eq!(
            a.into_input(),
            json!({
                "event_type": "compute.instance.create.end",
                "publisher_id": "compute.host1",
                "timestamp": "2024-05-01 12:00:00.000000",
                "payload": {"instance_id": "i-1", "state": "active"}
            })
        );
    }

    #[test]
    fn other_bodies_are_not_notifications() {
        assert!(Notification::parse(b"not json").is_none());
        assert!(Notification::parse(b"{\"a\": 1}").is_none());
        assert!(Notification::parse(b"{\"oslo.message\": \"{broken\"}").is_none());
        assert!(Notification::parse(b"{\"oslo.message\": 3}").is_none());
    }

    #[test]
    fn patterns_match_with_wildcards() {
        let n = Notification::parse(inner().to_string().as_bytes()).expect("valid");
        let p = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(n.matches(&p(&["compute.instance.*.end"])));
        assert!(n.matches(&p(&["image.upload", "compute.*"])));
        assert!(n.matches(&p(&["compute.instance.create.end"])));
        assert!(!n.matches(&p(&["compute.instance.*.start"])));
        assert!(!n.matches(&p(&["compute.instance.create"])));
        assert!(!n.matches(&[]));
        assert!(glob("*", ""));
        assert!(glob("a*a", "aa"));
        assert!(!glob("a*a", "a"));
    }
}
