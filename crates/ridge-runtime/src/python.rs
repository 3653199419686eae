//! The Python 3 runtime: one `python3 -I -S -B` process per warm worker, running the embedded
//! `runtimes/python3/worker.py`.
//!
//! Defaults, all denying what a function does not need:
//! - the real interpreter (a shim such as pyenv's is resolved once), in isolated mode without
//!   `site` and without writing `.pyc` files, so only the standard library and the package's own
//!   modules import;
//! - a cleared environment: only `PATH`, `LANG` and `HOME` (see [`WORKER_ENV`]);
//! - the package directory as working directory and first entry of `sys.path`;
//! - [`Rlimits`]: `nofile` from the configuration, no core dumps, `fsize` from the
//!   configuration;
//! - its own process group, killed as a whole;
//! - the server's [`Sandbox`] (namespaces, a read-only view holding the interpreter's prefix and
//!   the package, seccomp, cgroup limits from the function's `cpu` and `memory_size`); without
//!   one (the runtime's own tests), only the rlimits and the process group apply.
//!
//! The worker program is passed with `-c`: nothing is written to disk, so there is no file to
//! go stale, be swapped or be cleaned up; the cost is a long command line in `ps`.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::RuntimeKind;
use ridge_sandbox::{JailSpec, Rlimits, Sandbox};
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::frame::MAX_FRAME;
use crate::process::ProcessWorker;
use crate::protocol::Request;
use crate::{CheckError, Runtime, StartError, Worker, WorkerSpec};

/// The worker program, embedded at build time.
const WORKER_SOURCE: &str = include_str!("../../../runtimes/python3/worker.py");

/// The whole environment of a worker.
pub const WORKER_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ("LANG", "C.UTF-8"),
    ("HOME", "/tmp"),
];

/// Interpreter flags: isolated mode (no `PYTHON*` variables, no user site, no script directory
/// on `sys.path`), no `site` module (no site-packages), no bytecode writes.
const PYTHON_FLAGS: &[&str] = &["-I", "-S", "-B"];

/// The oldest Python the worker program supports.
const MIN_VERSION: (u32, u32) = (3, 8);

/// Prints the real executable (behind any shim), the version, and the prefixes the sandbox must
/// show read-only (the standard library lives there).
const PROBE: &str = "import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3]); \
                     print(sys.prefix); print(sys.base_prefix); print(sys.exec_prefix); \
                     print(sys.base_exec_prefix)";

/// How long the interpreter probe may take (a cold pyenv shim is slow, but not this slow).
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Numbers workers so that names are unique on this node.
static WORKER_COUNTER: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Clone)]
pub struct PythonConfig {
    /// The interpreter to run. `None` looks for `python3` on `PATH`. Either way the real
    /// executable (`sys.executable`) is resolved once and used for every worker.
    pub interpreter: Option<PathBuf>,
    /// `RLIMIT_NOFILE` of a worker (soft and hard).
    pub nofile: u64,
    /// `RLIMIT_FSIZE` of a worker (soft and hard), in bytes.
    pub fsize: u64,
    /// Where each worker gets a private directory for the capture of its output. `None` is the
    /// system temporary directory.
    pub scratch_dir: Option<PathBuf>,
    /// A backstop for a worker that neither loads nor fails; the engine's own timeout usually
    /// ends a slow start first.
    pub load_timeout: Duration,
    /// The sandbox every worker starts in. `None` applies only [`PythonConfig::rlimits`] and the
    /// process-group kill: for tests of the runtime itself, never for a server.
    pub sandbox: Option<Arc<Sandbox>>,
}

impl Default for PythonConfig {
    fn default() -> Self {
        Self {
            interpreter: None,
            nofile: Rlimits::DEFAULT_NOFILE,
            fsize: Rlimits::DEFAULT_FSIZE,
            scratch_dir: None,
            load_timeout: Duration::from_secs(300),
            sandbox: None,
        }
    }
}

impl PythonConfig {
    pub fn rlimits(&self) -> Rlimits {
        Rlimits {
            nofile: self.nofile,
            fsize: self.fsize,
            ..Rlimits::default()
        }
    }
}

#[derive(Debug, Clone)]
struct Interpreter {
    path: PathBuf,
    version: String,
    /// `sys.prefix` and friends, deduplicated: mounted read-only in the sandbox.
    prefixes: Vec<PathBuf>,
}

pub struct PythonRuntime {
    config: PythonConfig,
    sandbox: Arc<Sandbox>,
    interpreter: OnceCell<Interpreter>,
}

impl PythonRuntime {
    pub fn new(config: PythonConfig) -> Self {
        let sandbox = config
            .sandbox
            .clone()
            .unwrap_or_else(|| Arc::new(Sandbox::unconfined(config.rlimits())));
        Self {
            config,
            sandbox,
            interpreter: OnceCell::new(),
        }
    }

    pub fn config(&self) -> &PythonConfig {
        &self.config
    }

    /// The resolved interpreter; resolved on first use and cached (failures are not cached).
    async fn interpreter(&self) -> Result<&Interpreter, CheckError> {
        self.interpreter
            .get_or_try_init(|| resolve(self.config.interpreter.as_deref()))
            .await
    }
}

#[async_trait]
impl Runtime for PythonRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::PYTHON3
    }

    async fn check(&self) -> Result<String, CheckError> {
        if let Some(reason) = self.sandbox.refusal() {
            return Err(CheckError::Unavailable(reason));
        }
        let interpreter = self.interpreter().await?;
        Ok(format!(
            "python {} at {}",
            interpreter.version,
            interpreter.path.display()
        ))
    }

    async fn start(&self, spec: &WorkerSpec) -> Result<Box<dyn Worker>, StartError> {
        let interpreter = self.interpreter().await.map_err(|e| StartError::Spawn {
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
        let name = worker_name(spec);
        let scratch_root = self
            .config
            .scratch_dir
            .clone()
            .unwrap_or_else(std::env::temp_dir);
        let scratch = tempfile::Builder::new()
            .prefix("ridge-worker-")
            .tempdir_in(&scratch_root)
            .map_err(|e| StartError::Spawn {
                detail: format!(
                    "cannot create a scratch directory in `{}`: {e}",
                    scratch_root.display()
                ),
                source: Some(e),
            })?;
        let capture_path = scratch.path().join("capture");
        // The worker appends to this file through the descriptor it inherits.
        let capture = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&capture_path)
            .map_err(|e| StartError::Spawn {
                detail: format!("cannot create `{}`: {e}", capture_path.display()),
                source: Some(e),
            })?;
        let args: Vec<OsString> = PYTHON_FLAGS
            .iter()
            .map(OsString::from)
            .chain([
                OsString::from("-c"),
                WORKER_SOURCE.into(),
                name.clone().into(),
            ])
            .collect();
        let jail_spec = JailSpec {
            name: &name,
            program: &interpreter.path,
            // sys.argv[1] names the worker in `ps`.
            args,
            env: WORKER_ENV,
            package_dir: &package_dir,
            read_only: &interpreter.prefixes,
            memory_bytes: spec.limits.memory_size,
            cpu_millicores: spec.limits.cpu,
            network: match spec.network {
                ridge_core::NetworkAccess::Loopback => ridge_sandbox::Network::Loopback,
                ridge_core::NetworkAccess::Outbound => ridge_sandbox::Network::Host,
            },
            keep_fds: &[capture.as_raw_fd()],
        };
        let (command, jail) = self
            .sandbox
            .command(&jail_spec)
            .map_err(|e| StartError::Spawn {
                detail: format!("cannot sandbox worker `{name}`: {e}"),
                source: None,
            })?;
        let package_path = jail.package_path().to_owned();
        let mut worker = ProcessWorker::spawn(
            name,
            Command::from(command),
            jail,
            scratch,
            capture_path,
            spec.log_cap,
        )?;
        let capture_fd = capture.as_raw_fd();
        // The worker has its own copy now.
        drop(capture);

        let (module, function) = spec.entry.split();
        let init = Request::Init {
            package_dir: &package_path,
            module,
            function,
            entry: spec.entry.as_str(),
            function_id: spec.function_id,
            function_version: spec.function_version,
            capture_fd,
            kill_strays: self.sandbox.pid_namespace(),
            rlimits: self.config.rlimits().into(),
            max_frame: MAX_FRAME,
        };
        worker.handshake(&init, self.config.load_timeout).await?;
        Ok(Box::new(worker))
    }
}

/// `python3-<first 8 of the function id>-v<version>-<n>`.
fn worker_name(spec: &WorkerSpec) -> String {
    let id = spec.function_id.to_string();
    let short = id.get(..8).unwrap_or(&id);
    let n = WORKER_COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("python3-{short}-v{}-{n}", spec.function_version)
}

async fn resolve(configured: Option<&Path>) -> Result<Interpreter, CheckError> {
    let candidate = match configured {
        Some(path) => path.to_owned(),
        None => find_on_path("python3").ok_or_else(|| {
            CheckError::Unavailable(
                "no python3 interpreter found on PATH; install Python 3.8 or later, or set the \
                 interpreter path in the python runtime configuration"
                    .to_owned(),
            )
        })?,
    };
    let shown = candidate.display().to_string();
    let run = Command::new(&candidate)
        .args(["-I", "-S", "-c", PROBE])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| {
            CheckError::Unavailable(format!(
                "python interpreter `{shown}` did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| {
            CheckError::Unavailable(format!("cannot run python interpreter `{shown}`: {e}"))
        })?;
    if !output.status.success() {
        return Err(CheckError::Unavailable(format!(
            "python interpreter `{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let executable = lines.next().unwrap_or("").trim();
    let version = lines.next().unwrap_or("").trim().to_owned();
    let mut prefixes: Vec<PathBuf> = Vec::new();
    for line in lines.map(str::trim).filter(|l| !l.is_empty()) {
        let prefix = PathBuf::from(line);
        if !prefixes.contains(&prefix) {
            prefixes.push(prefix);
        }
    }
    let (major, minor) = parse_version(&version).ok_or_else(|| {
        CheckError::Unavailable(format!(
            "python interpreter `{shown}` reported an unexpected version `{version}`"
        ))
    })?;
    if (major, minor) < MIN_VERSION {
        return Err(CheckError::Unavailable(format!(
            "python {version} at `{shown}` is too old; Ridge needs Python {}.{} or later",
            MIN_VERSION.0, MIN_VERSION.1
        )));
    }
    let path = if executable.is_empty() {
        candidate
    } else {
        PathBuf::from(executable)
    };
    // The executable itself must be visible too (a venv's may live outside its base prefix).
    if let Some(dir) = path.parent().and_then(Path::parent)
        && !prefixes.iter().any(|p| path.starts_with(p))
    {
        prefixes.push(dir.to_owned());
    }
    Ok(Interpreter {
        path,
        version,
        prefixes,
    })
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The first executable file called `name` in the directories of `PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|file| {
            file.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("3.11.7"), Some((3, 11)));
        assert_eq!(parse_version("3.8"), Some((3, 8)));
        assert_eq!(parse_version("garbage"), None);
        assert!(parse_version("3.7.1").is_some_and(|v| v < MIN_VERSION));
    }

    #[test]
    fn the_embedded_worker_is_the_runtime_program() {
        assert!(WORKER_SOURCE.contains("def _main():"));
    }
}
