//! The messages between Ridge and a worker process, carried in [frames](crate::frame).
//! docs/runtime-protocol.md is the reference for worker authors.
//!
//! ```text
//! Ridge → worker   {"type":"init", package_dir, module, function, entry, function_id,
//!                   function_version, kill_strays, rlimits:{nofile,core,fsize}, max_frame}
//! worker → Ridge   {"type":"loading"}                 set up; about to load the function's code
//! worker → Ridge   {"type":"ready","runtime":"python 3.11.7"} or {"type":"load_error",message,traceback}
//! Ridge → worker   {"type":"invoke","execution_id":..,"input":null|{"kwargs":{..}}|{"arg":v}}
//! worker → Ridge   {"type":"returned","output":v} or {"type":"raised",message,traceback}
//! worker → Ridge   {"type":"fatal",message}           the worker broke; it exits after this
//! ```
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
    },
    Invoke {
        execution_id: ExecutionId,
        input: Option<WireInput<'a>>,
    },
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
        let object = ExecutionInput::Object(json!({"a": 1}).as_object().expect("object").clone());
        let positional = ExecutionInput::Positional(json!("raw"));
        let encode = |input: Option<&ExecutionInput>| {
            serde_json::to_value(Request::Invoke {
                execution_id: id,
                input: input.map(WireInput::from),
            })
            .expect("serialize")
        };
        assert_eq!(
            encode(Some(&object)),
            json!({"type": "invoke", "execution_id": id.to_string(), "input": {"kwargs": {"a": 1}}})
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
}
