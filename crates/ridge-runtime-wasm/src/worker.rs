//! A warm WebAssembly worker: a module pre-instantiated against the WASI imports. It holds no
//! process and no instance between executions; each [`Worker::invoke`] instantiates afresh.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::execution::messages;
use ridge_core::execution_log::{LogEnd, frame};
use ridge_core::{ExecutionId, ExecutionInput};
use ridge_runtime::{Invocation, InvocationOutcome, Worker, WorkerError, WorkerSpec};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wasmtime::InstancePre;

use crate::execute::{Ending, Job, Ran};
use crate::host::Guest;

/// Numbers workers so that names are unique on this node.
static WORKER_COUNTER: AtomicU64 = AtomicU64::new(1);

/// What every execution of one (function, version) shares.
pub(crate) struct Prepared {
    pub pre: InstancePre<Guest>,
    pub program: String,
    pub export: String,
    pub initialize: bool,
    pub scratch: Option<PathBuf>,
}

pub(crate) struct WasmWorker {
    name: String,
    prepared: Arc<Prepared>,
    memory_limit: u64,
    cpu_millicores: u32,
    timeout: Duration,
    log_cap: usize,
    result_cap: usize,
    kill: watch::Sender<bool>,
    /// The execution in flight, kept so that `kill` can wait for it to stop.
    running: Option<JoinHandle<Ran>>,
    memory_refused: Arc<AtomicBool>,
}

impl WasmWorker {
    pub(crate) fn new(spec: &WorkerSpec, prepared: Arc<Prepared>) -> Self {
        let n = WORKER_COUNTER.fetch_add(1, Ordering::Relaxed);
        Self {
            name: format!("wasm-{}-v{}-{n}", spec.function_id, spec.function_version),
            prepared,
            memory_limit: spec.limits.memory_size,
            cpu_millicores: spec.limits.cpu,
            timeout: Duration::from_secs(u64::from(spec.limits.timeout)),
            log_cap: spec.log_cap,
            result_cap: spec.result_cap,
            kill: watch::channel(false).0,
            running: None,
            memory_refused: Arc::default(),
        }
    }
}

#[async_trait]
impl Worker for WasmWorker {
    fn name(&self) -> &str {
        &self.name
    }

    fn pid(&self) -> Option<u32> {
        None
    }

    async fn invoke(&mut self, invocation: &Invocation) -> Result<InvocationOutcome, WorkerError> {
        self.memory_refused.store(false, Ordering::Relaxed);
        let prepared = &self.prepared;
        let job = Job {
            pre: prepared.pre.clone(),
            program: prepared.program.clone(),
            export: prepared.export.clone(),
            initialize: prepared.initialize,
            stdin: stdin(invocation.input.as_ref()),
            memory_limit: self.memory_limit,
            cpu_millicores: self.cpu_millicores,
            // The engine's timeout usually ends the call first; this one is the backstop.
            timeout: self.timeout,
            log_cap: self.log_cap,
            result_cap: self.result_cap,
            scratch: prepared.scratch.clone(),
            kill: self.kill.subscribe(),
            memory_refused: self.memory_refused.clone(),
        };
        // Most executions end within their first slice, which runs here: a module that is
        // still running at its first epoch tick yields there (`execute.rs`), so it holds this
        // async worker one tick at most. Handing every execution to a blocking thread and back
        // cost more than a no-op's whole run.
        let mut run = Box::pin(job.run());
        if let Poll::Ready(ran) =
            std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await
        {
            return outcome(invocation.execution_id, ran, self.memory_limit);
        }
        // The rest (a module that computes, or waits in a host call) on a blocking thread.
        let runtime = tokio::runtime::Handle::current();
        let running = self
            .running
            .insert(tokio::task::spawn_blocking(move || runtime.block_on(run)));
        let joined = running.await;
        self.running = None;
        match joined {
            Ok(ran) => outcome(invocation.execution_id, ran, self.memory_limit),
            Err(e) => Err(WorkerError::Io(std::io::Error::other(format!(
                "the execution thread failed: {e}"
            )))),
        }
    }

    async fn kill(&mut self) {
        self.kill.send_replace(true);
        if let Some(running) = self.running.take() {
            // Stops within one epoch tick: the module is interrupted or its wait abandoned.
            let _ = running.await;
        }
    }

    fn hit_resource_limit(&self) -> bool {
        self.memory_refused.load(Ordering::Relaxed)
    }
}

/// The module's stdin: the input as JSON, or nothing without input.
fn stdin(input: Option<&ExecutionInput>) -> Vec<u8> {
    let value = match input {
        None => return Vec::new(),
        Some(ExecutionInput::Object(map)) => serde_json::to_vec(map),
        Some(ExecutionInput::Positional(value)) => serde_json::to_vec(value),
    };
    value.expect("a JSON value always serializes")
}

/// What an execution's ending means for the caller.
fn outcome(id: ExecutionId, ran: Ran, memory_limit: u64) -> Result<InvocationOutcome, WorkerError> {
    let mut notes = String::new();
    let end = match ran.ending {
        Ending::TimedOut | Ending::Killed => LogEnd::CutShort,
        _ => LogEnd::Finished,
    };
    let output = match ran.ending {
        Ending::Exited(0) if ran.stdout.dropped > 0 => Err(format!(
            "function output is too large: the module wrote {} bytes to stdout, over the result limit of {} bytes",
            ran.stdout.bytes.len() as u64 + ran.stdout.dropped,
            ran.stdout.cap
        )),
        Ending::Exited(0) => Ok(ran.stdout.output()),
        _ if ran.memory_refused => {
            notes = format!(
                "[ridge: the module's memory would have grown past its memory_size of {memory_limit} bytes]\n"
            );
            Err(format!(
                "{}: memory would have grown past the memory_size of {memory_limit} bytes",
                messages::RESOURCE
            ))
        }
        Ending::Exited(status) => Err(format!("the module exited with status {status}")),
        Ending::Trapped { message, details } => {
            notes = details;
            Err(message)
        }
        Ending::TimedOut => Err(messages::TIMEOUT.to_owned()),
        Ending::Killed => Err("the execution was stopped: its worker was killed".to_owned()),
        Ending::Platform(detail) => {
            return Err(WorkerError::Io(std::io::Error::other(detail)));
        }
    };
    Ok(InvocationOutcome {
        output,
        logs: frame(id, &[&ran.stderr.render(), &notes], end),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Captured;
    use serde_json::json;

    fn ran(ending: Ending, stdout: &str, stderr: &str) -> Ran {
        Ran {
            ending,
            stdout: Captured {
                bytes: stdout.as_bytes().to_vec(),
                ..Captured::default()
            },
            stderr: Captured {
                bytes: stderr.as_bytes().to_vec(),
                ..Captured::default()
            },
            memory_refused: false,
        }
    }

    #[test]
    fn input_arrives_as_json() {
        assert_eq!(stdin(None), b"");
        let object = ExecutionInput::from_request(&json!({"name": "ridge"}));
        assert_eq!(stdin(object.as_ref()), br#"{"name":"ridge"}"#);
        let text = ExecutionInput::from_request(&json!("free text"));
        assert_eq!(stdin(text.as_ref()), br#""free text""#);
    }

    #[test]
    fn exit_status_and_traps_fail_with_the_log_kept() {
        let id = ExecutionId::new();
        let ok = outcome(id, ran(Ending::Exited(0), "{\"a\":1}", "log"), 1).expect("ok");
        assert_eq!(ok.output, Ok(json!({"a": 1})));
        assert_eq!(
            ok.logs,
            format!("Start execution: {id}\nlog\nFinished execution: {id}\n")
        );

        let exit = outcome(id, ran(Ending::Exited(3), "partial", "why"), 1).expect("ok");
        assert_eq!(
            exit.output,
            Err("the module exited with status 3".to_owned())
        );
        assert!(exit.logs.contains("why\n"));

        let trap = Ending::Trapped {
            message: "the module trapped: unreachable".into(),
            details: "backtrace".into(),
        };
        let trapped = outcome(id, ran(trap, "", ""), 1).expect("ok");
        assert_eq!(
            trapped.output,
            Err("the module trapped: unreachable".to_owned())
        );
        assert!(trapped.logs.contains("backtrace\nFinished"));

        let timed_out = outcome(id, ran(Ending::TimedOut, "", ""), 1).expect("ok");
        assert_eq!(timed_out.output, Err(messages::TIMEOUT.to_owned()));
        assert!(!timed_out.logs.contains("Finished"));
    }

    #[test]
    fn a_refused_growth_explains_the_failure_it_caused() {
        let id = ExecutionId::new();
        let mut refused = ran(Ending::Exited(1), "", "malloc failed");
        refused.memory_refused = true;
        let failed = outcome(id, refused, 1024).expect("ok");
        let message = failed.output.expect_err("failed");
        assert!(message.starts_with(messages::RESOURCE), "{message}");
        assert!(message.contains("1024 bytes"), "{message}");

        // A module that copes with a refused growth succeeds.
        let mut coped = ran(Ending::Exited(0), "\"fine\"", "");
        coped.memory_refused = true;
        assert_eq!(outcome(id, coped, 1).expect("ok").output, Ok(json!("fine")));

        let platform = outcome(id, ran(Ending::Platform("pool".into()), "", ""), 1);
        assert!(matches!(platform, Err(WorkerError::Io(_))));
    }
}
