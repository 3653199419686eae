//! The Node.js launcher: `node <heap flags> -e <worker-programs/nodejs/worker.js> <worker name>`.
//!
//! - the real `node` binary, resolved once (`process.execPath`); when it lives outside `/usr`
//!   (nvm, a tarball under /opt) its installation prefix is shown read-only in the sandbox;
//! - V8's heap is sized from the function's `memory_size` (`--max-old-space-size` of the whole
//!   limit, a young generation of a sixteenth, at most 16 MiB): V8 then collects garbage before
//!   the cgroup limit rather than growing as if the host's memory were its own, and a function
//!   that really needs more memory is ended by the cgroup's OOM killer (reported as too much
//!   resource consumption);
//! - pre-started workers ([`crate::standby`]) are started with the heap of
//!   [`ProcessConfig::prestart_memory_size`] (the operator's default `memory_size`), and only a
//!   function whose `memory_size` gives the same heap takes one: V8 fixes its heap limit when
//!   the isolate is made, and `v8.setFlagsFromString('--max-old-space-size=...')` afterwards
//!   changes nothing (`v8.getHeapStatistics().heap_size_limit` stays as it was, and the heap
//!   grows past the new value). Other functions start a worker cold;
//! - no `RLIMIT_AS` fallback: V8 reserves gigabytes of address space it never touches, so an
//!   address-space limit would keep node from starting. Without a cgroup memory controller
//!   (a degraded sandbox) Node functions have no memory limit beyond V8's heap size;
//! - the environment is cleared like every worker's: no `NODE_OPTIONS`, no `NODE_PATH`, no
//!   `NODE_EXTRA_CA_CERTS` (which alone doubles node's start time).

use std::ffi::OsString;
use std::path::PathBuf;

use async_trait::async_trait;
use ridge_core::RuntimeKind;
use ridge_runtime::{CheckError, WorkerSpec};
use ridge_sandbox::find_on_path;

use crate::launch::{Launcher, ProcessAdapter, ProcessConfig, Resolved, prefix_of, probe};

/// The worker program, embedded at build time.
const WORKER_SOURCE: &str = include_str!("../worker-programs/nodejs/worker.js");

/// The oldest Node.js major version the worker program supports.
const MIN_MAJOR: u32 = 16;

/// Prints the real executable and the version.
const PROBE: &str = "process.execPath + '\\n' + process.version";

const MIB: u64 = 1024 * 1024;

impl ProcessAdapter {
    /// The `nodejs` runtime. `node: None` looks for `node` on `PATH`.
    pub fn nodejs(node: Option<PathBuf>, config: ProcessConfig) -> Self {
        let pooled_memory = config.prestart_memory_size;
        Self::new(
            RuntimeKind::NODEJS,
            Box::new(Node {
                node,
                pooled_memory,
            }),
            config,
        )
    }
}

struct Node {
    node: Option<PathBuf>,
    /// The `memory_size` pre-started workers are made for.
    pooled_memory: u64,
}

#[async_trait]
impl Launcher for Node {
    async fn resolve(&self) -> Result<Resolved, CheckError> {
        let candidate = match &self.node {
            Some(path) => path.clone(),
            None => find_on_path("node").ok_or_else(|| {
                CheckError::Unavailable(
                    "no node binary found on PATH; install Node.js 16 or later (Debian: \
                     `apt-get install nodejs`), or set `node` in the configuration file"
                        .to_owned(),
                )
            })?,
        };
        let shown = candidate.display().to_string();
        let stdout = probe(&candidate, &["-p", PROBE], "node binary").await?;
        let mut lines = stdout.lines().map(str::trim);
        let executable = PathBuf::from(lines.next().unwrap_or(""));
        let version = lines.next().unwrap_or("").to_owned();
        let major = parse_major(&version).ok_or_else(|| {
            CheckError::Unavailable(format!(
                "node binary `{shown}` reported an unexpected version `{version}`"
            ))
        })?;
        if major < MIN_MAJOR {
            return Err(CheckError::Unavailable(format!(
                "node {version} at `{shown}` is too old; Ridge needs Node.js {MIN_MAJOR} or later"
            )));
        }
        let program = if executable.is_absolute() {
            executable
        } else {
            candidate
        };
        Ok(Resolved {
            description: format!("node {version} at {}", program.display()),
            read_only: prefix_of(&program).into_iter().collect(),
            program,
        })
    }

    fn args(&self, spec: &WorkerSpec, name: &str) -> Vec<OsString> {
        command(spec.limits.memory_size, name)
    }

    fn prestart_args(&self, name: &str) -> Option<Vec<OsString>> {
        Some(command(self.pooled_memory, name))
    }

    fn prestart_memory(&self) -> Option<u64> {
        Some(self.pooled_memory)
    }

    /// The heap limit is on the command line: only a function with the same one.
    fn prestart_fits(&self, spec: &WorkerSpec) -> bool {
        heap_mib(spec.limits.memory_size) == heap_mib(self.pooled_memory)
    }

    fn address_space_limit(&self) -> bool {
        false
    }
}

/// The arguments of a worker whose function may use `memory_bytes`.
fn command(memory_bytes: u64, name: &str) -> Vec<OsString> {
    let (old, young) = heap_mib(memory_bytes);
    vec![
        format!("--max-old-space-size={old}").into(),
        format!("--max-semi-space-size={young}").into(),
        "-e".into(),
        WORKER_SOURCE.into(),
        // process.argv[1] names the worker in `ps`.
        name.into(),
    ]
}

/// V8's old-generation and semi-space sizes, in MiB, for a memory limit in bytes.
fn heap_mib(memory_bytes: u64) -> (u64, u64) {
    let total = (memory_bytes / MIB).max(16);
    (total, (total / 16).clamp(1, 16))
}

/// `v20.11.1` → 20.
fn parse_major(version: &str) -> Option<u32> {
    version.strip_prefix('v')?.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_versions() {
        assert_eq!(parse_major("v20.11.1"), Some(20));
        assert_eq!(parse_major("20.11.1"), None);
        assert_eq!(parse_major("vx"), None);
    }

    #[test]
    fn the_heap_follows_memory_size() {
        assert_eq!(heap_mib(32 * MIB), (32, 2));
        assert_eq!(heap_mib(1024 * MIB), (1024, 16));
        assert_eq!(heap_mib(0), (16, 1));
    }

    #[test]
    fn a_prestarted_worker_serves_only_functions_of_its_heap() {
        let node = Node {
            node: None,
            pooled_memory: 32 * MIB,
        };
        let args = node
            .prestart_args("nodejs-prestarted-1-1")
            .expect("pre-startable");
        assert_eq!(args[0], "--max-old-space-size=32");
        assert_eq!(args[1], "--max-semi-space-size=2");
        assert_eq!(
            args.last().map(|a| a.as_os_str()),
            Some("nodejs-prestarted-1-1".as_ref())
        );
        let spec = |memory_size| WorkerSpec {
            runtime_id: ridge_core::RuntimeId::new(),
            function_id: ridge_core::FunctionId::new(),
            function_version: 0,
            package_dir: PathBuf::from("/function"),
            entry: ridge_core::Entry::try_from("main.main".to_owned()).expect("an entry"),
            limits: ridge_core::Limits {
                cpu: 100,
                memory_size,
                timeout: 5,
            },
            network: ridge_core::NetworkAccess::Loopback,
            log_cap: 1024,
            result_cap: 1024,
            startup_allowance: true,
        };
        assert!(node.prestart_fits(&spec(32 * MIB)));
        assert!(node.prestart_fits(&spec(32 * MIB + 1000)), "the same heap");
        assert!(!node.prestart_fits(&spec(33 * MIB)));
        assert!(!node.prestart_fits(&spec(128 * MIB)));
    }

    #[test]
    fn the_embedded_worker_is_the_runtime_program() {
        assert!(WORKER_SOURCE.contains("RIDGE_FD_IN"));
    }
}
