//! Stand-in workers: a runtime adapter whose workers answer at once and deterministically,
//! without a process, so that API behaviour is tested apart from real interpreters (those are
//! the end-to-end tests in `crates/ridge`).
//!
//! A worker loads the module its entry names (`function.main` reads `function.py` from the
//! unpacked package; a missing file is a load error, as a missing module is for Python), then
//! answers by the entry's function name:
//!
//! - `main`: succeeds with `{"v": <the module's text, as JSON if it parses>, "kwargs": <an
//!   object input>, "args": [<any other input>], "worker": <its name>, "calls": <its count>}`,
//!   the shape the end-to-end tests' `returning` functions give;
//! - `fail`: fails with the module's text as the message (a raised exception);
//! - `wait`: waits until the test opens the [`Gate`], then answers as `main` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use ridge_core::{ExecutionInput, RuntimeKind};
use ridge_runtime::RuntimeAdapter;
use ridge_runtime::{
    CheckError, Invocation, InvocationOutcome, StartError, Worker, WorkerError, WorkerSpec,
};
use serde_json::{Value, json};

/// Holds `wait` workers until opened; shared by every stand-in of one test server.
#[derive(Debug, Clone)]
pub struct Gate(Arc<tokio::sync::watch::Sender<bool>>);

impl Gate {
    pub fn closed() -> Self {
        Self(Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Lets every waiting and future `wait` execution finish.
    pub fn open(&self) {
        self.0.send_replace(true);
    }

    async fn passed(&self) {
        let mut open = self.0.subscribe();
        // An error means the sender is gone: nothing can open the gate any more, so go on.
        let _ = open.wait_for(|open| *open).await;
    }
}

/// Stand-in adapters for `kinds`, sharing one gate and one worker counter.
pub fn adapters(kinds: &[RuntimeKind], gate: &Gate) -> Vec<Arc<dyn RuntimeAdapter>> {
    let started = Arc::new(AtomicUsize::new(0));
    kinds
        .iter()
        .map(|kind| {
            Arc::new(StandIn {
                kind: kind.clone(),
                gate: gate.clone(),
                started: started.clone(),
            }) as Arc<dyn RuntimeAdapter>
        })
        .collect()
}

struct StandIn {
    kind: RuntimeKind,
    gate: Gate,
    started: Arc<AtomicUsize>,
}

#[async_trait]
impl RuntimeAdapter for StandIn {
    fn kind(&self) -> RuntimeKind {
        self.kind.clone()
    }

    async fn check(&self) -> Result<String, CheckError> {
        Ok(format!("stand-in {} workers", self.kind))
    }

    async fn start(&self, spec: &WorkerSpec) -> Result<Box<dyn Worker>, StartError> {
        let (module, function) = spec.entry.split();
        let path = spec.package_dir.join(format!("{module}.py"));
        let source = tokio::fs::read_to_string(&path)
            .await
            .map_err(|_| StartError::Load {
                message: format!("No module named '{module}'"),
                logs: String::new(),
            })?;
        let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Box::new(StandInWorker {
            name: format!("stand-in-{n}"),
            function: function.to_owned(),
            value: serde_json::from_str(source.trim())
                .unwrap_or_else(|_| Value::String(source.trim().to_owned())),
            gate: self.gate.clone(),
            calls: 0,
        }))
    }
}

struct StandInWorker {
    name: String,
    function: String,
    value: Value,
    gate: Gate,
    calls: u64,
}

#[async_trait]
impl Worker for StandInWorker {
    fn name(&self) -> &str {
        &self.name
    }

    fn pid(&self) -> Option<u32> {
        None
    }

    async fn invoke(&mut self, invocation: &Invocation) -> Result<InvocationOutcome, WorkerError> {
        self.calls += 1;
        let output = match self.function.as_str() {
            "fail" => Err(match &self.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            "wait" => {
                self.gate.passed().await;
                Ok(self.answer(invocation))
            }
            _ => Ok(self.answer(invocation)),
        };
        Ok(InvocationOutcome {
            logs: format!("{} called {}\n", self.name, self.function),
            output,
        })
    }

    async fn kill(&mut self) {}
}

impl StandInWorker {
    fn answer(&self, invocation: &Invocation) -> Value {
        let (kwargs, args) = match &invocation.input {
            Some(ExecutionInput::Object(map)) => (Value::Object(map.clone()), json!([])),
            Some(ExecutionInput::Positional(v)) => (json!({}), json!([v])),
            None => (json!({}), json!([])),
        };
        json!({
            "v": self.value,
            "kwargs": kwargs,
            "args": args,
            "worker": self.name,
            "calls": self.calls,
        })
    }
}
