//! Spawning one sandboxed worker process, before its init frame: shared by a cold start
//! ([`crate::ProcessAdapter`]) and the pre-started pool's refills ([`crate::standby`]).

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use ridge_core::RuntimeKind;
use ridge_runtime::{CheckError, StartError};
use ridge_sandbox::{JailSpec, Sandbox};
use tokio::sync::OnceCell;

use crate::capture::Capture;
use crate::launch::{CODE_VAR, Launcher, ProcessConfig, Resolved, WORKER_ENV};
use crate::process::{Channel, ProcessWorker};
use crate::protocol::Caps;

/// Set for a pre-started worker: it writes a `waiting` frame once past its start-up.
pub(crate) const PRESTARTED_VAR: &str = "RIDGE_PRESTARTED";

/// What a worker's sandbox is made for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub memory_bytes: u64,
    pub cpu_millicores: u32,
    pub startup_allowance: bool,
    pub network: ridge_core::NetworkAccess,
    /// Bytes of output kept before the function's own cap applies.
    pub log_cap: usize,
    /// Started ahead of its function: the worker says `waiting` before it reads its init frame.
    pub prestarted: bool,
}

/// What starting a worker process needs, shared with the pre-started pool's refills.
pub(crate) struct Starter {
    pub kind: RuntimeKind,
    pub launcher: Arc<dyn Launcher>,
    pub config: ProcessConfig,
    pub sandbox: Arc<Sandbox>,
    pub resolved: OnceCell<Resolved>,
}

impl Starter {
    /// The resolved interpreter; resolved on first use and cached (failures are not cached).
    pub(crate) async fn resolved(&self) -> Result<&Resolved, CheckError> {
        self.resolved
            .get_or_try_init(|| self.launcher.resolve())
            .await
    }

    /// Spawns a sandboxed worker showing `package_dir` at the package mount, before the init
    /// frame.
    pub(crate) fn spawn(
        &self,
        resolved: &Resolved,
        name: String,
        package_dir: &Path,
        args: Vec<OsString>,
        shape: Shape,
    ) -> Result<ProcessWorker, StartError> {
        // The worker's fds 1 and 2: a pipe Ridge drains, never a file.
        let capture = Capture::new(shape.log_cap)
            .map_err(|e| spawn_io("cannot create the worker's output pipe".to_owned(), e))?;
        let channel = Channel::new()
            .map_err(|e| spawn_io("cannot create the worker's pipes".to_owned(), e))?;
        // Held until the worker has its own copy (the spawn), then closed.
        let code = self
            .launcher
            .code()
            .map(code_memfd)
            .transpose()
            .map_err(|e| spawn_io("cannot hand the worker its program".to_owned(), e))?;
        let code_var = code.as_ref().map(|fd| fd.as_raw_fd().to_string());
        let mut keep_fds = channel.worker_fds().to_vec();
        keep_fds.extend(code.as_ref().map(AsRawFd::as_raw_fd));
        let fd_env = channel.env();
        let extra_env = self.launcher.env();
        let env: Vec<(&str, &str)> = WORKER_ENV
            .iter()
            .copied()
            .chain(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .chain(fd_env.iter().map(|(k, v)| (*k, v.as_str())))
            .chain(code_var.as_deref().map(|fd| (CODE_VAR, fd)))
            .chain(shape.prestarted.then_some((PRESTARTED_VAR, "1")))
            .collect();
        let jail_spec = JailSpec {
            name: &name,
            program: &resolved.program,
            args,
            env: &env,
            package_dir,
            read_only: &resolved.read_only,
            memory_bytes: shape.memory_bytes,
            address_space_limit: self.launcher.address_space_limit(),
            cpu_millicores: shape.cpu_millicores,
            startup_allowance: shape.startup_allowance,
            network: match shape.network {
                ridge_core::NetworkAccess::Loopback => ridge_sandbox::Network::Loopback,
                ridge_core::NetworkAccess::Outbound => ridge_sandbox::Network::Outbound,
            },
            keep_fds: &keep_fds,
        };
        let (command, jail) = self
            .sandbox
            .command(&jail_spec)
            .map_err(|e| StartError::Spawn {
                detail: format!("cannot sandbox worker `{name}`: {e}"),
                source: None,
            })?;
        let caps = Caps::new(0, 0);
        let worker = ProcessWorker::spawn(name, &command, jail, channel, capture, caps);
        drop(code);
        worker
    }
}

/// A memfd holding `code`, close-on-exec (the sandbox's pre-exec hook keeps it for the worker):
/// memory, not a file, so nothing goes stale or needs cleaning up, and each worker has its own.
fn code_memfd(code: &[u8]) -> std::io::Result<OwnedFd> {
    let fd =
        nix::sys::memfd::memfd_create(c"ridge-worker-code", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(std::io::Error::from)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(code)?;
    Ok(OwnedFd::from(file))
}

fn spawn_io(detail: String, e: std::io::Error) -> StartError {
    StartError::Spawn {
        detail: format!("{detail}: {e}"),
        source: Some(e),
    }
}
