//! The messages between Ridge and a worker process, carried in [frames](crate::frame).
//! docs/runtime-protocol.md is the reference for worker authors.
//!
//! ```text
//! Ridge → worker   {"type":"init", id, package_dir, module, function, entry, function_id,
//!                   function_version, kill_strays, rlimits:{nofile,core,fsize}, max_frame,
//!                   max_output, max_message, max_log}
//! worker → Ridge   {"type":"loading",id}              set up; about to load the function's code
//! worker → Ridge   {"type":"ready",id,"runtime":"python 3.11.7"} or {"type":"load_error",id,message,traceback}
//! Ridge → worker   {"type":"invoke",id,"execution_id":..,"input":null|{"kwargs":{..}}|{"arg":v}}
//! worker → Ridge   {"type":"returned",id,"output":v} or {"type":"raised",id,message,traceback}
//! worker → Ridge   {"type":"fatal",id,message}        the worker broke; it exits after this
//! ```
//!
//! `id` is a random [`Nonce`] per request; a reply echoes the id of the request it answers
//! (checked in [`crate::exchange`]). A worker that leaves `id` out of `loading` is a legacy
//! worker whose replies are taken unchecked.
//!
//! The function's stdout and stderr never travel in frames: the worker's fds 1 and 2 are a
//! capture file (opened for appending, so the sandbox needs no writable mount for it) that
//! Ridge reads after each execution (also after a crash, which a frame could not survive).

use std::path::Path;

use ridge_core::{ExecutionId, ExecutionInput, FunctionId};
use ridge_sandbox::Rlimits;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Request<'a> {
    Init {
        id: &'a Nonce,
        package_dir: &'a Path,
        module: &'a str,
        function: &'a str,
        entry: &'a str,
        function_id: FunctionId,
        function_version: i64,
        /// The worker is alone in its PID namespace: after each execution it kills every other
        /// process it can see, so nothing a function started outlives its execution.
        kill_strays: bool,
        rlimits: WireRlimits,
        max_frame: usize,
        /// The most bytes of JSON an output may have.
        max_output: usize,
        /// The most bytes of a failure message; Ridge cuts longer ones.
        max_message: usize,
        /// The most bytes of an execution's log, traceback included; Ridge cuts longer ones.
        max_log: usize,
    },
    Invoke {
        id: &'a Nonce,
        execution_id: ExecutionId,
        input: Option<WireInput<'a>>,
    },
}

/// A request's id: random, so that nothing a function can see before a call tells the id of
/// its reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub(crate) struct Nonce(String);

impl Nonce {
    pub(crate) fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub(crate) fn is(&self, text: Option<&str>) -> bool {
        text == Some(self.0.as_str())
    }
}

/// Room for a reply's `type`, `id` and punctuation beside its payload, in bytes.
pub(crate) const REPLY_ENVELOPE: usize = 4096;
/// A failure message is cut to this many bytes (or to the result cap, if smaller).
pub(crate) const MESSAGE_CAP: usize = 64 * 1024;

/// How much of a worker's replies Ridge keeps: the sizes every reply is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    /// Bytes of JSON of an output.
    pub result: usize,
    /// Bytes of a failure message.
    pub message: usize,
    /// Bytes of an execution's log, a traceback included.
    pub log: usize,
}

impl Caps {
    pub(crate) fn new(result: usize, log: usize) -> Self {
        Self {
            result,
            message: MESSAGE_CAP.min(result),
            log,
        }
    }

    /// The largest frame Ridge reads from a worker: an output, or a message and a traceback
    /// (with room for JSON escapes); larger ones are drained unread.
    pub(crate) fn reply_frame(&self) -> usize {
        self.result
            .max(self.message.saturating_add(self.log).saturating_mul(2))
            .saturating_add(REPLY_ENVELOPE)
    }

    /// `message`, cut to [`Caps::message`] bytes with a marker saying how much went.
    pub(crate) fn cut_message(&self, mut message: String) -> String {
        if message.len() <= self.message {
            return message;
        }
        let kept = crate::capture::floor_char_boundary(&message, self.message);
        let dropped = message.len() - kept;
        message.truncate(kept);
        message.push_str(&format!(
            " [ridge: message truncated, {dropped} bytes over the {}-byte limit]",
            self.message
        ));
        message
    }

    /// The largest `returned` frame Ridge parses.
    pub(crate) fn returned_frame(&self) -> usize {
        self.result.saturating_add(REPLY_ENVELOPE)
    }
}

/// What Ridge reads of every reply before the rest: its type and id.
#[derive(Debug, Deserialize)]
pub(crate) struct Head {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct WireRlimits {
    nofile: u64,
    core: u64,
    fsize: u64,
}

impl From<Rlimits> for WireRlimits {
    fn from(r: Rlimits) -> Self {
        Self {
            nofile: r.nofile,
            core: r.core,
            fsize: r.fsize,
        }
    }
}

/// How the function is called: `main(**kwargs, context=...)` or `main(arg, context=...)`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WireInput<'a> {
    Kwargs(&'a Map<String, Value>),
    Arg(&'a Value),
}

impl<'a> From<&'a ExecutionInput> for WireInput<'a> {
    fn from(input: &'a ExecutionInput) -> Self {
        match input {
            ExecutionInput::Object(map) => WireInput::Kwargs(map),
            ExecutionInput::Positional(value) => WireInput::Arg(value),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Reply {
    Loading,
    Ready {
        /// What the worker runs on, for the server log (`python 3.11.7`, `node v20.11.1`).
        #[serde(default)]
        runtime: Option<String>,
    },
    LoadError {
        message: String,
        #[serde(default)]
        traceback: String,
    },
    Returned {
        #[serde(default)]
        output: Value,
    },
    Raised {
        message: String,
        #[serde(default)]
        traceback: String,
    },
    Fatal {
        message: String,
    },
}

impl Reply {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Reply::Loading => "loading",
            Reply::Ready { .. } => "ready",
            Reply::LoadError { .. } => "load_error",
            Reply::Returned { .. } => "returned",
            Reply::Raised { .. } => "raised",
            Reply::Fatal { .. } => "fatal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs_encode_as_kwargs_arg_or_null() {
        let id = ExecutionId::new();
        let nonce = Nonce::random();
        let object = ExecutionInput::Object(json!({"a": 1}).as_object().expect("object").clone());
        let positional = ExecutionInput::Positional(json!("raw"));
        let encode = |input: Option<&ExecutionInput>| {
            serde_json::to_value(Request::Invoke {
                id: &nonce,
                execution_id: id,
                input: input.map(WireInput::from),
            })
            .expect("serialize")
        };
        assert_eq!(
            encode(Some(&object)),
            json!({"type": "invoke", "id": nonce.0, "execution_id": id.to_string(), "input": {"kwargs": {"a": 1}}})
        );
        assert_eq!(encode(Some(&positional))["input"], json!({"arg": "raw"}));
        assert_eq!(encode(None)["input"], Value::Null);
    }

    #[test]
    fn replies_decode_by_type() {
        let r: Reply =
            serde_json::from_value(json!({"type": "returned", "output": null})).expect("returned");
        assert!(matches!(
            r,
            Reply::Returned {
                output: Value::Null
            }
        ));
        let r: Reply =
            serde_json::from_value(json!({"type": "raised", "message": "boom", "traceback": "tb"}))
                .expect("raised");
        assert_eq!(r.kind(), "raised");
        assert!(serde_json::from_value::<Reply>(json!({"type": "nope"})).is_err());
        // Optional fields make a minimal worker short.
        let r: Reply = serde_json::from_value(json!({"type": "raised", "message": "m"}))
            .expect("no traceback");
        assert!(matches!(r, Reply::Raised { traceback, .. } if traceback.is_empty()));
        let r: Reply = serde_json::from_value(json!({"type": "ready"})).expect("bare ready");
        assert!(matches!(r, Reply::Ready { runtime: None }));
    }

    #[test]
    fn nonces_are_random_and_heads_read_only_type_and_id() {
        let a = Nonce::random();
        assert_ne!(a, Nonce::random());
        assert_eq!(a.0.len(), 32);
        let head: Head = serde_json::from_str(&format!(
            r#"{{"output": [1, {{"x": "y"}}], "type": "returned", "id": "{}"}}"#,
            a.0
        ))
        .expect("head");
        assert_eq!(head.kind, "returned");
        assert!(a.is(head.id.as_deref()));
        let legacy: Head = serde_json::from_str(r#"{"type": "loading"}"#).expect("head");
        assert!(!a.is(legacy.id.as_deref()));
    }

    #[test]
    fn caps_leave_room_for_a_message_and_a_traceback() {
        let caps = Caps::new(6 << 20, 1 << 20);
        assert_eq!(caps.message, MESSAGE_CAP);
        assert_eq!(caps.reply_frame(), (6 << 20) + REPLY_ENVELOPE);
        assert_eq!(caps.returned_frame(), (6 << 20) + REPLY_ENVELOPE);
        let small = Caps::new(1000, 1 << 20);
        assert_eq!(small.message, 1000);
        assert_eq!(small.reply_frame(), 2 * (1000 + (1 << 20)) + REPLY_ENVELOPE);
    }

    #[test]
    fn long_messages_are_cut_with_a_marker() {
        let caps = Caps::new(10, 100);
        assert_eq!(caps.cut_message("short".into()), "short");
        assert_eq!(
            caps.cut_message("0123456789é".into()),
            "0123456789 [ridge: message truncated, 2 bytes over the 10-byte limit]"
        );
        let caps = Caps::new(6 << 20, 1 << 20);
        let cut = caps.cut_message("x".repeat(20 << 20));
        assert!(cut.len() < MESSAGE_CAP + 100, "{}", cut.len());
    }
}
