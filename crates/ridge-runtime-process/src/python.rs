//! The Python 3 launcher: `python3 -I -S -B -c <bootstrap> <worker name>`.
//!
//! - the real interpreter (a shim such as pyenv's is resolved once), in isolated mode without
//!   `site` and without writing `.pyc` files, so only the standard library and the package's own
//!   modules import;
//! - the interpreter's prefixes are shown read-only in the sandbox (the standard library lives
//!   there); the package directory is the first entry of `sys.path`.
//!
//! The worker program (`worker-programs/python3/worker.py`) is compiled once, by the resolved
//! interpreter when the runtime is first used, into `marshal` data; each worker gets that code in
//! a memfd named by `RIDGE_FD_CODE` and runs it (the [`BOOTSTRAP`] is its whole command line).
//! Compiling the source in every worker left about 1.4 MiB of the compiler's freed memory in each
//! idle worker's heap, and the source on the command line cost another 0.3 MiB in the worker
//! and its two bubblewrap processes (docs/benchmarks.md, "idle worker memory"). Nothing is
//! written to disk, so there is no file to go stale, be swapped or be cleaned up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use async_trait::async_trait;
use ridge_core::RuntimeKind;
use ridge_runtime::{CheckError, WorkerSpec};
use ridge_sandbox::find_on_path;

use crate::launch::{Launcher, ProcessAdapter, ProcessConfig, Resolved, probe, probe_bytes};

/// The worker program, embedded at build time: its zygote mode (`zygote.py`, definitions only)
/// and the worker itself (`worker.py`, which ends by running the one or the other).
const WORKER_SOURCE: &str = concat!(
    include_str!("../worker-programs/python3/zygote.py"),
    include_str!("../worker-programs/python3/worker.py")
);

/// The worker's command line: runs the compiled worker program from the memfd named by
/// `RIDGE_FD_CODE` (the worker program closes it). `marshal` and `posix` are built in and
/// already loaded at start-up, so this imports nothing.
const BOOTSTRAP: &str = "import marshal,posix;_fd=int(posix.environ[b'RIDGE_FD_CODE']);\
                         exec(marshal.loads(posix.pread(_fd,posix.fstat(_fd).st_size,0)))";

/// Compiles the worker program (its source is the argument) and writes the `marshal` data of
/// the code to stdout. The file name is the one worker frames carry in tracebacks.
const COMPILE: &str = "import marshal,sys;sys.stdout.buffer.write(marshal.dumps(\
                       compile(sys.argv[1],'<ridge-worker>','exec')))";

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

impl ProcessAdapter {
    /// The `python3` runtime. `interpreter: None` looks for `python3` on `PATH`; either way the
    /// real executable (`sys.executable`) is resolved once and used for every worker.
    pub fn python(interpreter: Option<PathBuf>, config: ProcessConfig) -> Self {
        Self::new(
            RuntimeKind::PYTHON3,
            Box::new(Python {
                interpreter,
                code: OnceLock::new(),
            }),
            config,
        )
    }
}

struct Python {
    interpreter: Option<PathBuf>,
    /// The worker program compiled by the resolved interpreter (`marshal` data).
    code: OnceLock<Vec<u8>>,
}

#[async_trait]
impl Launcher for Python {
    async fn resolve(&self) -> Result<Resolved, CheckError> {
        let resolved = resolve(self.interpreter.as_deref()).await?;
        let code = probe_bytes(
            &resolved.program,
            &["-I", "-S", "-B", "-c", COMPILE, WORKER_SOURCE],
            "python interpreter",
        )
        .await?;
        if code.is_empty() {
            return Err(CheckError::Unavailable(format!(
                "{} compiled the worker program to nothing",
                resolved.description
            )));
        }
        // Resolved once (the adapter caches the result): a second call keeps the first code,
        // compiled by the same interpreter.
        let _ = self.code.set(code);
        Ok(resolved)
    }

    fn args(&self, _spec: &WorkerSpec, name: &str) -> Vec<OsString> {
        worker_args(name)
    }

    /// Nothing of the command line depends on the function.
    fn prestart_args(&self, name: &str) -> Option<Vec<OsString>> {
        Some(worker_args(name))
    }

    fn code(&self) -> Option<&[u8]> {
        self.code.get().map(Vec::as_slice)
    }

    fn zygote(&self) -> bool {
        true
    }
}

/// The interpreter's arguments; sys.argv[1] names the worker in `ps`.
fn worker_args(name: &str) -> Vec<OsString> {
    PYTHON_FLAGS
        .iter()
        .map(OsString::from)
        .chain([OsString::from("-c"), BOOTSTRAP.into(), name.into()])
        .collect()
}

async fn resolve(configured: Option<&Path>) -> Result<Resolved, CheckError> {
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
    let stdout = probe(&candidate, &["-I", "-S", "-c", PROBE], "python interpreter").await?;
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
    // Links resolved: `/bin/python3` (a link into `/usr/bin`) would otherwise make `/` the
    // executable's prefix, and the sandbox would show the whole host.
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    // The executable itself must be visible too (a venv's may live outside its base prefix).
    if let Some(dir) = path.parent().and_then(Path::parent)
        && !prefixes.iter().any(|p| path.starts_with(p))
    {
        prefixes.push(dir.to_owned());
    }
    Ok(Resolved {
        description: format!("python {version} at {}", path.display()),
        program: path,
        read_only: prefixes,
    })
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::CODE_VAR;

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
        assert!(
            WORKER_SOURCE.contains(CODE_VAR),
            "the worker closes its code's descriptor"
        );
        assert!(BOOTSTRAP.contains(CODE_VAR));
    }
}
