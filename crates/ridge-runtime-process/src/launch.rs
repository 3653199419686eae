//! [`ProcessAdapter`]: one mechanism for every runtime whose workers are processes speaking
//! [the worker protocol](crate::protocol). What differs between languages is a [`Launcher`]:
//! how the interpreter is found and checked, its arguments, and what else the sandbox must show.
//! Python ([`crate::python`]), Node.js ([`crate::node`]) and the kinds an operator declares
//! ([`crate::custom`]) are three launchers; starting, sandboxing, capturing, calling and
//! killing workers is the same code for all of them.
//!
//! Defaults, all denying what a function does not need:
//! - a cleared environment: only `PATH`, `LANG` and `HOME` (see [`WORKER_ENV`]), what the
//!   launcher adds, and the two descriptor numbers of the protocol;
//! - the package directory as working directory;
//! - [`Rlimits`]: `nofile` from the configuration, no core dumps, `fsize` from the
//!   configuration;
//! - its own process group, killed as a whole;
//! - the server's [`Sandbox`] (namespaces, a read-only view holding the interpreter and the
//!   package, seccomp, cgroup limits from the function's `cpu` and `memory_size`); without one
//!   (the runtime's own tests), only the rlimits and the process group apply.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::RuntimeKind;
use ridge_runtime::{CheckError, RuntimeAdapter, StartError, Worker, WorkerSpec};
use ridge_sandbox::{JailSpec, Rlimits, SYSTEM_PATH, Sandbox};
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::capture::Capture;
use crate::frame::MAX_FRAME;
use crate::process::{Channel, ProcessWorker};
use crate::protocol::{Caps, Request};

/// The environment every worker starts with, before what its launcher adds.
pub const WORKER_ENV: &[(&str, &str)] =
    &[("PATH", SYSTEM_PATH), ("LANG", "C.UTF-8"), ("HOME", "/tmp")];

/// How long an interpreter probe may take (a cold pyenv shim is slow, but not this slow).
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Numbers workers so that names are unique on this node.
static WORKER_COUNTER: AtomicU64 = AtomicU64::new(1);

/// What every process runtime shares: limits, scratch space, the sandbox.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// `RLIMIT_NOFILE` of a worker (soft and hard).
    pub nofile: u64,
    /// `RLIMIT_FSIZE` of a worker (soft and hard), in bytes.
    pub fsize: u64,
    /// A backstop for a worker that neither loads nor fails; the engine's own timeout usually
    /// ends a slow start first.
    pub load_timeout: Duration,
    /// The sandbox every worker starts in. `None` applies only [`ProcessConfig::rlimits`] and
    /// the process-group kill: for tests of the runtime itself, never for a server.
    pub sandbox: Option<Arc<Sandbox>>,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        Self {
            nofile: Rlimits::DEFAULT_NOFILE,
            fsize: Rlimits::DEFAULT_FSIZE,
            load_timeout: Duration::from_secs(300),
            sandbox: None,
        }
    }
}

impl ProcessConfig {
    pub fn rlimits(&self) -> Rlimits {
        Rlimits {
            nofile: self.nofile,
            fsize: self.fsize,
            ..Rlimits::default()
        }
    }
}

/// An interpreter found and checked once.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The program to execute, at the same path inside the sandbox.
    pub program: PathBuf,
    /// Host directories outside `/usr` the program needs, shown read-only at the same paths.
    pub read_only: Vec<PathBuf>,
    /// What was found, for `GET /v1/info` (`python 3.11.7 at /usr/bin/python3.11`).
    pub description: String,
}

/// The language-specific part of a process runtime.
#[async_trait]
pub(crate) trait Launcher: Send + Sync + 'static {
    /// Finds and checks the interpreter. Called once; a failure is retried on the next use.
    async fn resolve(&self) -> Result<Resolved, CheckError>;

    /// The arguments after the program, for one worker.
    fn args(&self, spec: &WorkerSpec, name: &str) -> Vec<OsString>;

    /// Variables added to [`WORKER_ENV`].
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Whether `RLIMIT_AS` may stand in for a missing cgroup memory controller. Not for V8,
    /// which reserves far more address space than it uses.
    fn address_space_limit(&self) -> bool {
        true
    }
}

/// The adapter for a runtime kind whose workers are sandboxed processes speaking the worker
/// protocol.
pub struct ProcessAdapter {
    kind: RuntimeKind,
    launcher: Box<dyn Launcher>,
    config: ProcessConfig,
    sandbox: Arc<Sandbox>,
    resolved: OnceCell<Resolved>,
}

impl ProcessAdapter {
    pub(crate) fn new(
        kind: RuntimeKind,
        launcher: Box<dyn Launcher>,
        config: ProcessConfig,
    ) -> Self {
        let sandbox = config
            .sandbox
            .clone()
            .unwrap_or_else(|| Arc::new(Sandbox::unconfined(config.rlimits())));
        Self {
            kind,
            launcher,
            config,
            sandbox,
            resolved: OnceCell::new(),
        }
    }

    pub fn config(&self) -> &ProcessConfig {
        &self.config
    }

    /// The resolved interpreter; resolved on first use and cached (failures are not cached).
    async fn resolved(&self) -> Result<&Resolved, CheckError> {
        self.resolved
            .get_or_try_init(|| self.launcher.resolve())
            .await
    }
}

#[async_trait]
impl RuntimeAdapter for ProcessAdapter {
    fn kind(&self) -> RuntimeKind {
        self.kind.clone()
    }

    async fn check(&self) -> Result<String, CheckError> {
        if let Some(reason) = self.sandbox.refusal() {
            return Err(CheckError::Unavailable(reason));
        }
        let resolved = self.resolved().await?;
        // A prefix of `/` or one holding the data directory would show it all to workers.
        self.sandbox
            .shown_paths(&resolved.read_only)
            .map_err(|why| CheckError::Unavailable(format!("{}: {why}", resolved.description)))?;
        Ok(resolved.description.clone())
    }

    async fn start(&self, spec: &WorkerSpec) -> Result<Box<dyn Worker>, StartError> {
        let resolved = self.resolved().await.map_err(|e| StartError::Spawn {
            detail: e.to_string(),
            source: None,
        })?;
        let package_dir = tokio::fs::canonicalize(&spec.package_dir)
            .await
            .map_err(|e| StartError::Spawn {
                detail: format!(
                    "package directory `{}` is not usable: {e}",
                    spec.package_dir.display()
                ),
                source: Some(e),
            })?;
        let name = worker_name(&self.kind, spec);
        // The worker's fds 1 and 2: a pipe Ridge drains, never a file.
        let capture = Capture::new(spec.log_cap)
            .map_err(|e| spawn_io("cannot create the worker's output pipe".to_owned(), e))?;
        let channel = Channel::new()
            .map_err(|e| spawn_io("cannot create the worker's pipes".to_owned(), e))?;
        let fd_env = channel.env();
        let extra_env = self.launcher.env();
        let env: Vec<(&str, &str)> = WORKER_ENV
            .iter()
            .copied()
            .chain(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .chain(fd_env.iter().map(|(k, v)| (*k, v.as_str())))
            .collect();
        let jail_spec = JailSpec {
            name: &name,
            program: &resolved.program,
            args: self.launcher.args(spec, &name),
            env: &env,
            package_dir: &package_dir,
            read_only: &resolved.read_only,
            memory_bytes: spec.limits.memory_size,
            address_space_limit: self.launcher.address_space_limit(),
            cpu_millicores: spec.limits.cpu,
            startup_allowance: spec.startup_allowance,
            network: match spec.network {
                ridge_core::NetworkAccess::Loopback => ridge_sandbox::Network::Loopback,
                ridge_core::NetworkAccess::Outbound => ridge_sandbox::Network::Outbound,
            },
            keep_fds: &channel.worker_fds(),
        };
        let (command, jail) = self
            .sandbox
            .command(&jail_spec)
            .map_err(|e| StartError::Spawn {
                detail: format!("cannot sandbox worker `{name}`: {e}"),
                source: None,
            })?;
        let package_path = jail.package_path().to_owned();
        let caps = Caps::new(spec.result_cap, spec.log_cap);
        let mut worker =
            ProcessWorker::spawn(name, Command::from(command), jail, channel, capture, caps)?;

        let (module, function) = spec.entry.split();
        let init_id = worker.init_id().clone();
        let init = Request::Init {
            id: &init_id,
            package_dir: &package_path,
            module,
            function,
            entry: spec.entry.as_str(),
            function_id: spec.function_id,
            function_version: spec.function_version,
            kill_strays: self.sandbox.pid_namespace(),
            rlimits: self.config.rlimits().into(),
            max_frame: MAX_FRAME,
            max_output: caps.result,
            max_message: caps.message,
            max_log: caps.log,
        };
        worker.handshake(&init, self.config.load_timeout).await?;
        Ok(Box::new(worker))
    }
}

fn spawn_io(detail: String, e: std::io::Error) -> StartError {
    StartError::Spawn {
        detail: format!("{detail}: {e}"),
        source: Some(e),
    }
}

/// `<kind>-<first 8 of the function id>-v<version>-<n>`.
fn worker_name(kind: &RuntimeKind, spec: &WorkerSpec) -> String {
    let id = spec.function_id.to_string();
    let short = id.get(..8).unwrap_or(&id);
    let n = WORKER_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{kind}-{short}-v{}-{n}", spec.function_version)
}

/// Runs `program args` (in Ridge's environment: a shim such as pyenv's needs it) and returns
/// its stdout, or why it failed; `what` names the interpreter in messages.
pub(crate) async fn probe(program: &Path, args: &[&str], what: &str) -> Result<String, CheckError> {
    let shown = program.display();
    let run = Command::new(program).args(args).kill_on_drop(true).output();
    let output = tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| {
            CheckError::Unavailable(format!(
                "{what} `{shown}` did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| CheckError::Unavailable(format!("cannot run {what} `{shown}`: {e}")))?;
    if !output.status.success() {
        return Err(CheckError::Unavailable(format!(
            "{what} `{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The directories to show read-only so that `executable` runs in the sandbox: none under
/// `/usr` (always shown); otherwise its installation prefix (`<prefix>/bin/<exe>`), links
/// resolved first (`/bin/sh` is `/usr/bin/sh` on a merged-`/usr` host, not a program whose
/// prefix is `/`).
pub(crate) fn prefix_of(executable: &Path) -> Option<PathBuf> {
    let executable = std::fs::canonicalize(executable).unwrap_or_else(|_| executable.to_owned());
    if executable.starts_with("/usr") {
        return None;
    }
    executable
        .parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
}
