//! How what happened to an execution becomes its stored status, result and logs.
//!
//! "The function failed" (it raised, timed out, exceeded a limit, could not be loaded) is
//! `failed`; "the platform failed" (no worker could be started, a broken protocol) is `error`.

use std::time::Duration;

use ridge_core::execution::messages;
use ridge_core::execution_log::{LogEnd, frame};
use ridge_core::{ExecutionId, ExecutionResult, ExecutionStatus};
use ridge_runtime::{InvocationOutcome, WorkerError};
use ridge_store::ExecutionOutcome;
use serde_json::Value;

pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The function ran and returned or raised.
pub(crate) fn completed(outcome: InvocationOutcome, took: Duration) -> ExecutionOutcome {
    let (status, output) = match outcome.output {
        Ok(value) => (ExecutionStatus::Success, value),
        Err(message) => (ExecutionStatus::Failed, Value::String(message)),
    };
    ExecutionOutcome {
        status,
        result: ExecutionResult::new(secs(took), output),
        logs: outcome.logs,
    }
}

/// The function's code could not be loaded; `logs` is what the import printed and the traceback.
pub(crate) fn load_failed(
    id: ExecutionId,
    message: String,
    logs: String,
    took: Duration,
) -> ExecutionOutcome {
    ExecutionOutcome {
        status: ExecutionStatus::Failed,
        result: ExecutionResult::new(secs(took), Value::String(message)),
        logs: frame(id, &[&logs], LogEnd::Finished),
    }
}

/// The function ran past its timeout and its worker was killed.
pub(crate) fn timed_out(id: ExecutionId, timeout_secs: u32, took: Duration) -> ExecutionOutcome {
    ExecutionOutcome {
        status: ExecutionStatus::Failed,
        result: ExecutionResult::new(secs(took), Value::String(messages::TIMEOUT.to_owned())),
        logs: frame(
            id,
            &[&format!(
                "[ridge: the execution exceeded its timeout of {timeout_secs} s; its processes were killed]"
            )],
            LogEnd::CutShort,
        ),
    }
}

/// The execution ran out of time after its worker hit the memory or pids limit.
pub(crate) fn resources_exhausted(id: ExecutionId, took: Duration) -> ExecutionOutcome {
    ExecutionOutcome {
        status: ExecutionStatus::Failed,
        result: ExecutionResult::new(secs(took), Value::String(messages::RESOURCE.to_owned())),
        logs: frame(
            id,
            &[
                "[ridge: the execution hit its memory or process limit and did not finish; its processes were killed]",
            ],
            LogEnd::CutShort,
        ),
    }
}

/// The worker failed during the call.
pub(crate) fn worker_failed(error: WorkerError, took: Duration) -> ExecutionOutcome {
    match error {
        WorkerError::Exited {
            killed: true, logs, ..
        } => ExecutionOutcome {
            status: ExecutionStatus::Failed,
            result: ExecutionResult::new(secs(took), Value::String(messages::RESOURCE.to_owned())),
            logs,
        },
        WorkerError::Exited { detail, logs, .. } => ExecutionOutcome {
            status: ExecutionStatus::Failed,
            result: ExecutionResult::new(
                secs(took),
                Value::String(format!(
                    "Function execution failed: the worker process exited unexpectedly ({detail})"
                )),
            ),
            logs,
        },
        WorkerError::Tampered { detail, logs } => ExecutionOutcome {
            status: ExecutionStatus::Failed,
            result: ExecutionResult::new(
                secs(took),
                Value::String(format!(
                    "Function execution failed: the function wrote to its worker's protocol descriptor ({detail}); the worker was replaced"
                )),
            ),
            logs,
        },
        WorkerError::Protocol { .. } | WorkerError::Io(_) => platform_error(),
    }
}

/// No worker became free for a sync execution within the queue wait: the platform's capacity
/// was exhausted, not the function's fault.
pub(crate) fn capacity_exhausted(waited: Duration) -> ExecutionOutcome {
    ExecutionOutcome {
        status: ExecutionStatus::Error,
        result: ExecutionResult::platform_error(format!(
            "Function execution failed: capacity exhausted, no worker became free within {} s; retry later or run it asynchronously",
            waited.as_secs()
        )),
        logs: String::new(),
    }
}

/// Ridge could not run the function. Details go to the server log, not to the user.
pub(crate) fn platform_error() -> ExecutionOutcome {
    ExecutionOutcome {
        status: ExecutionStatus::Error,
        result: ExecutionResult::platform_error(messages::FAILED),
        logs: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn returns_are_success_and_raises_are_failed() {
        let ok = completed(
            InvocationOutcome {
                output: Ok(json!("hi")),
                logs: "log".into(),
            },
            Duration::from_millis(12),
        );
        assert_eq!(ok.status, ExecutionStatus::Success);
        assert_eq!(ok.result.render(), r#"{"duration": 0.012, "output": "hi"}"#);
        let err = completed(
            InvocationOutcome {
                output: Err("boom".into()),
                logs: String::new(),
            },
            Duration::ZERO,
        );
        assert_eq!(err.status, ExecutionStatus::Failed);
        assert_eq!(err.result.output, json!("boom"));
    }

    #[test]
    fn killed_workers_report_resource_consumption() {
        let o = worker_failed(
            WorkerError::Exited {
                detail: "signal SIGKILL".into(),
                killed: true,
                logs: String::new(),
            },
            Duration::ZERO,
        );
        assert_eq!(o.status, ExecutionStatus::Failed);
        assert_eq!(o.result.output, json!(messages::RESOURCE));
        let o = worker_failed(
            WorkerError::Exited {
                detail: "exit status 3".into(),
                killed: false,
                logs: String::new(),
            },
            Duration::ZERO,
        );
        assert!(
            o.result
                .output
                .as_str()
                .is_some_and(|s| s.contains("exit status 3"))
        );
    }

    #[test]
    fn protocol_errors_are_platform_errors() {
        let o = worker_failed(
            WorkerError::Protocol {
                detail: "bad frame".into(),
            },
            Duration::ZERO,
        );
        assert_eq!(o.status, ExecutionStatus::Error);
        assert_eq!(
            o.result.render(),
            r#"{"output": "Function execution failed."}"#
        );
    }

    #[test]
    fn forged_frames_fail_the_function_not_the_platform() {
        let o = worker_failed(
            WorkerError::Tampered {
                detail: "a `returned` frame without an id".into(),
                logs: "printed\n".into(),
            },
            Duration::ZERO,
        );
        assert_eq!(o.status, ExecutionStatus::Failed);
        assert_eq!(
            o.result.output,
            json!(
                "Function execution failed: the function wrote to its worker's protocol descriptor (a `returned` frame without an id); the worker was replaced"
            )
        );
        assert_eq!(o.logs, "printed\n");
    }

    #[test]
    fn timeouts_use_qinlings_message() {
        let o = timed_out(ExecutionId::new(), 5, Duration::from_secs(5));
        assert_eq!(o.status, ExecutionStatus::Failed);
        assert_eq!(o.result.output, json!("Function execution timeout."));
    }
}
