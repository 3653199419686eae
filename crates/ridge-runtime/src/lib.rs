//! The runtime adapter interface: how the engine starts a worker for a function and calls it,
//! whatever runs the function's code.
//!
//! A [`RuntimeAdapter`] starts [`Worker`]s for one runtime kind; a worker has loaded one
//! function (version) once and serves executions one at a time. This crate holds only that
//! contract: the two traits, what a worker is started for ([`WorkerSpec`]), one call
//! ([`Invocation`]) and what it did ([`InvocationOutcome`]), and how starting or calling fails.
//!
//! Not here: any adapter. Process workers (Python, Node.js, operator-declared kinds) are in
//! `ridge-runtime-process`, WebAssembly in `ridge-runtime-wasm`; pools, scheduling and timeouts
//! in `ridge-engine`.

use std::path::PathBuf;

use async_trait::async_trait;
use ridge_core::{Entry, ExecutionId, ExecutionInput, FunctionId, Limits, RuntimeId, RuntimeKind};
use serde_json::Value;

/// What a worker is started for.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The function's runtime: whose pre-started workers (if any) may serve it.
    pub runtime_id: RuntimeId,
    pub function_id: FunctionId,
    pub function_version: i64,
    /// The unpacked package, read-only.
    pub package_dir: PathBuf,
    pub entry: Entry,
    pub limits: Limits,
    /// Loopback only, or the host's network for a function granted outbound access.
    pub network: ridge_core::NetworkAccess,
    /// Cap on the stdout+stderr captured per execution, in bytes; a traceback counts.
    pub log_cap: usize,
    /// Cap on an execution's output, in bytes of JSON: a larger one fails the execution
    /// before it is parsed.
    pub result_cap: usize,
    /// Whether the worker may load its function under the sandbox's start-up CPU allowance
    /// (`[sandbox] startup_cpu`) instead of `limits.cpu`. The engine withholds it from a
    /// function whose workers keep failing soon after they start.
    pub startup_allowance: bool,
}

/// One call.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub execution_id: ExecutionId,
    pub input: Option<ExecutionInput>,
}

/// What the function did.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationOutcome {
    /// The return value, or the failure message (`str(exception)` for Python).
    pub output: Result<Value, String>,
    /// Captured stdout and stderr (with a traceback on failure), capped.
    pub logs: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The function's code failed to load (a syntax error, a missing module or entry). The
    /// function failed, not the platform.
    #[error("{message}")]
    Load { message: String, logs: String },
    /// The worker process could not be started or broke the protocol while starting.
    #[error("failed to start worker: {detail}")]
    Spawn {
        detail: String,
        #[source]
        source: Option<std::io::Error>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The worker process ended during the call (crash, `os._exit`, killed by the OOM killer).
    #[error("worker exited during the execution: {detail}")]
    Exited {
        detail: String,
        /// Killed by SIGKILL that Ridge did not send: most likely the memory limit.
        killed: bool,
        /// Whatever the function printed before the worker died.
        logs: String,
    },
    /// The worker sent something that is not a valid frame.
    #[error("worker broke the protocol: {detail}")]
    Protocol { detail: String },
    /// A frame that does not answer the call reached Ridge on the worker's protocol pipe: the
    /// function wrote it. The function failed, not the platform; the worker must be killed.
    #[error("a frame that does not answer the call reached Ridge: {detail}")]
    Tampered { detail: String, logs: String },
    #[error("i/o error talking to the worker")]
    Io(#[source] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Unavailable(String),
}

/// How workers of one runtime kind are started. Not the API resource (`ridge_core::Runtime`,
/// which names a kind): the code that runs that kind on this host.
#[async_trait]
pub trait RuntimeAdapter: Send + Sync + 'static {
    fn kind(&self) -> RuntimeKind;

    /// Checks that this host can run the runtime (for Python and Node: finds and runs the
    /// interpreter).
    /// The `Ok` text describes what was found, for `GET /v1/info`.
    async fn check(&self) -> Result<String, CheckError>;

    /// Starts a worker and waits until it has loaded the function: one of the runtime's
    /// pre-started workers when one is ready, otherwise a new one.
    async fn start(&self, spec: &WorkerSpec) -> Result<Box<dyn Worker>, StartError>;

    /// Keeps `size` pre-started workers ready for `runtime` (0 stops them). Refilled in the
    /// background after each one taken. Adapters that cannot pre-start ignore it.
    fn set_prestarted(&self, _runtime: RuntimeId, _size: usize) {}

    /// The runtime's pre-started workers on this node.
    fn prestarted(&self, _runtime: RuntimeId) -> Prestarted {
        Prestarted {
            unavailable: Some(format!(
                "the `{}` runtime kind has no pre-started workers",
                self.kind()
            )),
            ..Prestarted::default()
        }
    }

    /// Stops every pre-started worker (server shutdown).
    async fn stop_prestarted(&self) {}
}

/// The memory limit of a pre-started worker while it waits for its function (an idle
/// interpreter uses a few MiB); the function's own applies once it is taken. The engine counts
/// this much per pre-started worker against the host's worker memory budget.
pub const PRESTART_MEMORY: u64 = 64 * 1024 * 1024;

/// A runtime's pool of pre-started workers on this node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prestarted {
    /// How many the pool keeps.
    pub size: usize,
    /// How many are started and waiting for a function.
    pub ready: usize,
    /// The names of those (their command lines carry them).
    pub workers: Vec<String>,
    /// Why this node cannot pre-start workers of the runtime, when it cannot (then functions
    /// start workers as before).
    pub unavailable: Option<String>,
    /// The last failure to pre-start a worker, if the latest attempt failed.
    pub last_error: Option<String>,
    /// The `memory_size` the workers are made for, when only functions with it may take one
    /// (Node.js: the heap limit is on the command line); `None`: any function may.
    pub memory_size: Option<u64>,
    /// For a runtime kind whose workers may be forked from a zygote (Python): `ready` when
    /// they are, `starting`, or why they are not (each then starts its own interpreter).
    /// `None`: the kind has no zygote.
    pub zygote: Option<String>,
}

/// One function (version), loaded once, serving executions one at a time.
#[async_trait]
pub trait Worker: Send + 'static {
    /// A name unique on this node, listed by the workers API.
    fn name(&self) -> &str;

    /// The worker's main process id, while it runs.
    fn pid(&self) -> Option<u32>;

    /// Runs one execution. Not cancel-safe: a call abandoned midway (the engine's timeout) leaves
    /// the worker unusable, and the caller must `kill` it.
    async fn invoke(&mut self, invocation: &Invocation) -> Result<InvocationOutcome, WorkerError>;

    /// Kills the worker's whole process tree and reaps it. Idempotent.
    async fn kill(&mut self);

    /// Whether the kernel held the worker at its CPU quota while it served several calls
    /// since this was last asked: calls that more workers, each with its own quota, could
    /// share (the engine then spreads the function's calls and starts one more). Asked after
    /// each call; a worker may look only every so often and answer false in between. A worker
    /// without a CPU quota of its own answers false.
    fn throttled(&mut self) -> bool {
        false
    }

    /// Whether the worker ran into its memory or process limit (an OOM kill, a fork refused at
    /// the pids limit). Lets a timeout caused by exhausted resources be reported as such.
    fn hit_resource_limit(&self) -> bool {
        false
    }
}
