//! Executions: one call of a function, its input, status, result and logs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::json::python_dumps;
use crate::{ExecutionId, FunctionId, InvalidInput, ProjectId, Timestamp};

/// Qinling's messages for executions that the platform ended; clients match on them.
pub mod messages {
    pub const TIMEOUT: &str = "Function execution timeout.";
    pub const RESOURCE: &str = "Function execution failed because of too much resource consumption";
    pub const FAILED: &str = "Function execution failed.";
}

/// An execution as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    pub id: ExecutionId,
    pub project_id: ProjectId,
    pub function_id: FunctionId,
    pub function_version: i64,
    pub function_alias: Option<String>,
    pub description: Option<String>,
    pub status: ExecutionStatus,
    pub sync: bool,
    pub input: Option<ExecutionInput>,
    pub result: Option<ExecutionResult>,
    /// When a worker took the execution; `None` while it waits. Lets crash recovery tell an
    /// execution that never started (safe to run again) from one that may have had effects.
    pub started_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    /// The node that holds the execution while it is `running`: the one that accepted it, or
    /// the one that took it over from a node that stopped or was lost (docs/scale-out.md).
    /// `None` for an execution handed back for any node to claim.
    pub node: Option<String>,
}

/// Qinling's execution states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionStatus {
    Running,
    /// The function returned.
    Success,
    /// The function failed: it raised, timed out, or exceeded a limit.
    Failed,
    /// The platform failed to run the function.
    Error,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Success => "success",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Error => "error",
        }
    }

    pub fn is_final(self) -> bool {
        self != ExecutionStatus::Running
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecutionStatus {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "running" => ExecutionStatus::Running,
            "success" => ExecutionStatus::Success,
            "failed" => ExecutionStatus::Failed,
            "error" => ExecutionStatus::Error,
            other => {
                return Err(InvalidInput::new(format!(
                    "unknown execution status `{other}`: expected running, success, failed or error"
                )));
            }
        })
    }
}

/// The key Qinling uses to store a non-object input.
const POSITIONAL_KEY: &str = "__function_input";

/// What a function is called with.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionInput {
    /// A JSON object: keyword arguments (Python `main(**input)`).
    Object(Map<String, Value>),
    /// Anything else, JSON or not: one positional argument. Non-JSON text is a string.
    Positional(Value),
}

impl ExecutionInput {
    /// Parses the `input` field of an execution request. Qinling sends a string holding JSON or
    /// free text; a JSON client may also send the value itself. Empty or null means no input.
    pub fn from_request(raw: &Value) -> Option<Self> {
        match raw {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(map)) => ExecutionInput::Object(map),
                Ok(Value::Null) => return None,
                Ok(value) => ExecutionInput::Positional(value),
                Err(_) => ExecutionInput::Positional(Value::String(s.clone())),
            }),
            Value::Object(map) => Some(ExecutionInput::Object(map.clone())),
            other => Some(ExecutionInput::Positional(other.clone())),
        }
    }

    /// The stored JSON form, Qinling's: an object as is, anything else as `{"__function_input": v}`.
    pub fn to_stored(&self) -> Value {
        match self {
            ExecutionInput::Object(map) => Value::Object(map.clone()),
            ExecutionInput::Positional(v) => {
                let mut map = Map::new();
                map.insert(POSITIONAL_KEY.to_owned(), v.clone());
                Value::Object(map)
            }
        }
    }

    /// The inverse of [`ExecutionInput::to_stored`].
    pub fn from_stored(value: Value) -> Self {
        match value {
            Value::Object(mut map) if map.len() == 1 && map.contains_key(POSITIONAL_KEY) => {
                ExecutionInput::Positional(map.remove(POSITIONAL_KEY).unwrap_or(Value::Null))
            }
            Value::Object(map) => ExecutionInput::Object(map),
            other => ExecutionInput::Positional(other),
        }
    }

    /// The `input` field of the API: `json.dumps` of an object, the raw text of a positional
    /// string, the JSON text of any other positional value.
    pub fn render(&self) -> String {
        match self {
            ExecutionInput::Object(map) => python_dumps(map),
            ExecutionInput::Positional(Value::String(s)) => s.clone(),
            ExecutionInput::Positional(v) => python_dumps(v),
        }
    }
}

/// What an execution produced: `{"duration": <seconds>, "output": <value>}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionResult {
    /// Seconds, rounded to milliseconds. Absent when the platform failed before running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    pub output: Value,
}

impl ExecutionResult {
    pub fn new(duration_secs: f64, output: Value) -> Self {
        Self {
            duration: Some((duration_secs * 1000.0).round() / 1000.0),
            output,
        }
    }

    /// A result with no duration, for executions the platform could not run.
    pub fn platform_error(message: impl Into<String>) -> Self {
        Self {
            duration: None,
            output: Value::String(message.into()),
        }
    }

    /// The JSON-encoded string Qinling returns as `result`.
    pub fn render(&self) -> String {
        python_dumps(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn input_objects_are_keyword_arguments() {
        let input = ExecutionInput::from_request(&json!(r#"{"name":"x"}"#)).expect("input");
        assert!(matches!(input, ExecutionInput::Object(_)));
        assert_eq!(input.render(), r#"{"name": "x"}"#);
    }

    #[test]
    fn other_inputs_are_positional() {
        let cases = [
            (json!("3"), json!(3), "3"),
            (json!("hello world"), json!("hello world"), "hello world"),
            (json!("[1,2]"), json!([1, 2]), "[1, 2]"),
            (json!("\"quoted\""), json!("quoted"), "quoted"),
            (json!(true), json!(true), "true"),
        ];
        for (raw, value, rendered) in cases {
            let input = ExecutionInput::from_request(&raw).expect("input");
            assert_eq!(input, ExecutionInput::Positional(value), "{raw}");
            assert_eq!(input.render(), rendered);
            assert_eq!(ExecutionInput::from_stored(input.to_stored()), input);
        }
    }

    #[test]
    fn empty_input_is_none() {
        for raw in [json!(null), json!(""), json!("  "), json!("null")] {
            assert_eq!(ExecutionInput::from_request(&raw), None, "{raw}");
        }
    }

    #[test]
    fn result_renders_like_qinling() {
        let r = ExecutionResult::new(0.04412, json!("Hello, bar"));
        assert_eq!(r.render(), r#"{"duration": 0.044, "output": "Hello, bar"}"#);
        let e = ExecutionResult::platform_error(messages::FAILED);
        assert_eq!(e.render(), r#"{"output": "Function execution failed."}"#);
    }
}
