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
use ridge_core::RuntimeId;
use ridge_core::RuntimeKind;
use ridge_runtime::{CheckError, Prestarted, RuntimeAdapter, StartError, Worker, WorkerSpec};
use ridge_sandbox::{Rlimits, SYSTEM_PATH, Sandbox};
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::frame::MAX_FRAME;
use crate::process::ProcessWorker;
use crate::protocol::{Caps, Request};
use crate::spawn::{Shape, Starter};
use crate::standby::Standby;

/// The environment every worker starts with, before what its launcher adds.
pub const WORKER_ENV: &[(&str, &str)] =
    &[("PATH", SYSTEM_PATH), ("LANG", "C.UTF-8"), ("HOME", "/tmp")];

/// Names the descriptor of a memfd holding the worker program's code, for a launcher that has
/// one ([`Launcher::code`]); the worker closes it.
pub(crate) const CODE_VAR: &str = "RIDGE_FD_CODE";

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
    /// Where the package slots of pre-started workers are mounted (a tmpfs of the server's own
    /// mount namespace); `None`: no pre-started workers.
    pub slots_dir: Option<PathBuf>,
    /// The `memory_size` pre-started workers are made for when a runtime's command line
    /// depends on it (Node.js: V8's heap limit); only functions with it take one. The
    /// operator's default `memory_size`.
    pub prestart_memory_size: u64,
    /// The sandbox every worker starts in. `None` applies only [`ProcessConfig::rlimits`] and
    /// the process-group kill: for tests of the runtime itself, never for a server.
    pub sandbox: Option<Arc<Sandbox>>,
    /// Whether workers of a launcher that has a zygote (Python) are forked from it where the
    /// sandbox allows (`zygote.rs`); `false` starts each worker's interpreter itself, so that
    /// no two workers share an address-space layout or a hash secret.
    pub zygote: bool,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        Self {
            nofile: Rlimits::DEFAULT_NOFILE,
            fsize: Rlimits::DEFAULT_FSIZE,
            load_timeout: Duration::from_secs(300),
            slots_dir: None,
            prestart_memory_size: ridge_core::LimitsPolicy::default().memory_size.default,
            sandbox: None,
            zygote: true,
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

    /// The arguments of a worker started before its function is known (the pre-started
    /// pool), or `None` when the command line depends on the function.
    fn prestart_args(&self, _name: &str) -> Option<Vec<OsString>> {
        None
    }

    /// The worker program's code, handed to each worker in a memfd named by [`CODE_VAR`]
    /// rather than on its command line; `None`: the arguments carry the program.
    fn code(&self) -> Option<&[u8]> {
        None
    }

    /// The `memory_size` a pre-started worker is made for, when only functions with that
    /// limit may take one (its command line depends on it); `None`: any function may.
    fn prestart_memory(&self) -> Option<u64> {
        None
    }

    /// Whether a pre-started worker may serve `spec`'s function.
    fn prestart_fits(&self, _spec: &WorkerSpec) -> bool {
        true
    }

    /// Whether its workers may be forked by a zygote (`zygote.rs`): the worker program has a
    /// zygote mode, and its start does not depend on the function (its
    /// [`Launcher::prestart_args`] start the zygote).
    fn zygote(&self) -> bool {
        false
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
    starter: Arc<Starter>,
    /// Workers started ahead of need, per runtime (kinds with [`Launcher::prestart_args`]).
    standby: Arc<Standby>,
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
        let starter = Arc::new(Starter {
            kind: kind.clone(),
            launcher: Arc::from(launcher),
            config,
            sandbox,
            resolved: OnceCell::new(),
            zygotes: Arc::new(crate::zygote::Zygotes::new()),
        });
        Self {
            kind,
            standby: Arc::new(Standby::new(starter.clone())),
            starter,
        }
    }

    pub fn config(&self) -> &ProcessConfig {
        &self.starter.config
    }

    /// The resolved interpreter; resolved on first use and cached (failures are not cached).
    async fn resolved(&self) -> Result<&Resolved, CheckError> {
        self.starter.resolved().await
    }
}

#[async_trait]
impl RuntimeAdapter for ProcessAdapter {
    fn kind(&self) -> RuntimeKind {
        self.kind.clone()
    }

    async fn check(&self) -> Result<String, CheckError> {
        if let Some(reason) = self.starter.sandbox.refusal() {
            return Err(CheckError::Unavailable(reason));
        }
        let resolved = self.resolved().await?;
        // Its workers forked from the start, when it has a zygote (never waiting long: a
        // runtime whose zygote is slow still runs, its workers started as without one).
        self.starter
            .warm_zygote(resolved, std::time::Duration::from_secs(5))
            .await;
        // A prefix of `/` or one holding the data directory would show it all to workers.
        self.starter
            .sandbox
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
        if spec.network == ridge_core::NetworkAccess::Loopback
            && self.starter.launcher.prestart_fits(spec)
            && let Some(worker) = self.standby.take(spec.runtime_id)
        {
            match self.assign(worker, &name, &package_dir, spec) {
                Ok(mut worker) => {
                    self.handshake(&mut worker, spec).await?;
                    return Ok(Box::new(worker));
                }
                Err(e) => {
                    tracing::warn!(worker = %name, error = %e, "cannot give a pre-started worker its function; starting a new one");
                }
            }
        }
        // A new name: a failed assignment may have renamed the discarded worker's cgroups to
        // the first one, and they go in the background.
        let name = worker_name(&self.kind, spec);
        let shape = Shape {
            memory_bytes: spec.limits.memory_size,
            cpu_millicores: spec.limits.cpu,
            startup_allowance: spec.startup_allowance,
            network: spec.network,
            log_cap: spec.log_cap,
            prestarted: false,
        };
        let args = self.starter.launcher.args(spec, &name);
        let mut worker = self
            .starter
            .spawn(resolved, name, &package_dir, args, shape)?;
        self.handshake(&mut worker, spec).await?;
        Ok(Box::new(worker))
    }

    fn set_prestarted(&self, runtime: RuntimeId, size: usize) {
        self.standby.set_size(runtime, size);
    }

    fn prestarted(&self, runtime: RuntimeId) -> Prestarted {
        self.standby.stats(runtime)
    }

    async fn stop_prestarted(&self) {
        self.standby.stop_all().await;
    }
}

impl ProcessAdapter {
    /// Gives a pre-started worker to the function of `spec`: its package in the slot, its
    /// limits in its cgroups, its name.
    fn assign(
        &self,
        mut worker: ProcessWorker,
        name: &str,
        package_dir: &Path,
        spec: &WorkerSpec,
    ) -> Result<ProcessWorker, String> {
        let startup =
            spec.startup_allowance && self.starter.sandbox.config().startup_cpu > spec.limits.cpu;
        worker
            .fill_slot(package_dir)
            .map_err(|e| format!("cannot show the package to the worker: {e}"))?;
        worker
            .jail_mut()
            .assign(name, spec.limits.memory_size, spec.limits.cpu, startup)
            .map_err(|e| format!("cannot set the function's limits: {e}"))?;
        worker.rename(name.to_owned());
        Ok(worker)
    }

    /// Sends the init frame of `spec`'s function and waits until it is loaded.
    async fn handshake(
        &self,
        worker: &mut ProcessWorker,
        spec: &WorkerSpec,
    ) -> Result<(), StartError> {
        let caps = Caps::new(spec.result_cap, spec.log_cap);
        worker.set_caps(caps);
        let package_path = worker.package_path().to_owned();
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
            kill_strays: self.starter.sandbox.pid_namespace(),
            rlimits: self.starter.config.rlimits().into(),
            max_frame: MAX_FRAME,
            max_output: caps.result,
            max_message: caps.message,
            max_log: caps.log,
        };
        worker
            .handshake(&init, self.starter.config.load_timeout)
            .await
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
    let stdout = probe_bytes(program, args, what).await?;
    Ok(String::from_utf8_lossy(&stdout).into_owned())
}

/// [`probe`], for a program whose stdout is binary.
pub(crate) async fn probe_bytes(
    program: &Path,
    args: &[&str],
    what: &str,
) -> Result<Vec<u8>, CheckError> {
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
    Ok(output.stdout)
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
