//! Spawning one sandboxed worker process, before its init frame: shared by a cold start
//! ([`crate::ProcessAdapter`]) and the pre-started pool's refills ([`crate::standby`]).

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Arc;

use ridge_core::RuntimeKind;
use ridge_runtime::{CheckError, StartError};
use ridge_sandbox::{Jail, JailSpec, Sandbox, WorkerCommand};
use tokio::sync::OnceCell;

use crate::capture::Capture;
use crate::launch::{CODE_VAR, Launcher, ProcessConfig, Resolved, WORKER_ENV};
use crate::process::{Channel, ProcessWorker};
use crate::protocol::Caps;
use crate::zygote::{self, ZygoteSpec, Zygotes};

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
    /// The runtime's zygote, for launchers that have one ([`Launcher::zygote`]).
    pub zygotes: Arc<Zygotes>,
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
        if let Some(zygote) = self.zygote(resolved) {
            return self.spawn_from_zygote(
                zygote,
                resolved,
                name,
                package_dir,
                shape,
                capture,
                channel,
            );
        }
        // Held until the worker has its own copy (the spawn), then closed.
        let code = self
            .launcher
            .code()
            .map(|code| memfd(c"ridge-worker-code", code))
            .transpose()
            .map_err(|e| spawn_io("cannot hand the worker its program".to_owned(), e))?;
        let code_var = code.as_ref().map(|fd| fd.as_raw_fd().to_string());
        let mut keep_fds = channel.worker_fds().to_vec();
        keep_fds.extend(code.as_ref().map(AsRawFd::as_raw_fd));
        let fd_env = channel.env();
        let worker_env = self.worker_env(shape.prestarted);
        let env: Vec<(&str, &str)> = worker_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(fd_env.iter().map(|(k, v)| (*k, v.as_str())))
            .chain(code_var.as_deref().map(|fd| (CODE_VAR, fd)))
            .collect();
        let program = Program {
            args,
            env: &env,
            keep_fds: &keep_fds,
            await_socket: None,
        };
        let (command, jail) = self.sandboxed(&name, resolved, package_dir, shape, program)?;
        let caps = Caps::new(0, 0);
        let worker = ProcessWorker::spawn(name, &command, jail, channel, capture, caps);
        drop(code);
        worker
    }
}

impl Starter {
    /// The sandboxed command of worker `name`, showing `package_dir`, made for `shape`.
    fn sandboxed(
        &self,
        name: &str,
        resolved: &Resolved,
        package_dir: &Path,
        shape: Shape,
        program: Program<'_>,
    ) -> Result<(WorkerCommand, Jail), StartError> {
        let jail_spec = JailSpec {
            name,
            program: &resolved.program,
            args: program.args,
            env: program.env,
            package_dir,
            read_only: &resolved.read_only,
            memory_bytes: shape.memory_bytes,
            address_space_limit: self.launcher.address_space_limit(),
            cpu_millicores: shape.cpu_millicores,
            startup_allowance: shape.startup_allowance,
            network: network(shape.network),
            keep_fds: program.keep_fds,
            await_socket: program.await_socket,
        };
        self.sandbox
            .command(&jail_spec)
            .map_err(|e| StartError::Spawn {
                detail: format!("cannot sandbox worker `{name}`: {e}"),
                source: None,
            })
    }

    /// The runtime's zygote, when its launcher has one and it is running (see `zygote.rs`).
    fn zygote(&self, resolved: &Resolved) -> Option<Arc<zygote::Zygote>> {
        if !self.forks() {
            return None;
        }
        self.zygotes
            .get(&self.sandbox, || self.zygote_spec(resolved))
    }

    /// Starts the runtime's zygote, if its launcher has one, and waits until it is ready (at
    /// most `wait`).
    pub(crate) async fn warm_zygote(&self, resolved: &Resolved, wait: std::time::Duration) {
        if self.forks() {
            let spec = || self.zygote_spec(resolved);
            self.zygotes.warm(&self.sandbox, spec, wait).await;
        }
    }

    /// Whether the runtime's workers are to be forked from a zygote: its launcher has one, and
    /// the operator did not turn it off (`python_zygote`).
    fn forks(&self) -> bool {
        self.config.zygote && self.launcher.zygote()
    }

    /// How the runtime's workers start, as [`ridge_runtime::Prestarted::zygote`] says it.
    pub(crate) fn zygote_status(&self) -> Option<String> {
        if !self.launcher.zygote() {
            return None;
        }
        if !self.config.zygote {
            return Some("off: python_zygote = false".to_owned());
        }
        if let Err(why) = self.sandbox.zygote_ready() {
            return Some(format!("unavailable: {why}"));
        }
        Some(self.zygotes.status())
    }

    fn zygote_spec(&self, resolved: &Resolved) -> Option<ZygoteSpec> {
        Some(ZygoteSpec {
            program: resolved.program.clone(),
            // The last argument is where each worker writes its own name (its command line
            // as a freshly started worker's): room for the longest.
            args: self.launcher.prestart_args(zygote::TITLE)?,
            code: self.launcher.code()?.to_vec(),
            env: self.worker_env(false),
        })
    }

    /// The environment a worker starts with, but for the protocol's descriptors.
    fn worker_env(&self, prestarted: bool) -> Vec<(String, String)> {
        WORKER_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .chain(self.launcher.env())
            .chain(prestarted.then(|| (PRESTARTED_VAR.to_owned(), "1".to_owned())))
            .collect()
    }

    /// [`Starter::spawn`] through the zygote: bubblewrap makes the sandbox around the drop
    /// helper waiting for the worker, which the zygote forks into it once it is made.
    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one spawn, taken apart"
    )]
    fn spawn_from_zygote(
        &self,
        zygote: Arc<zygote::Zygote>,
        resolved: &Resolved,
        name: String,
        package_dir: &Path,
        shape: Shape,
        (capture, output): (Capture, OwnedFd),
        channel: Channel,
    ) -> Result<ProcessWorker, StartError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |e| spawn_io(what, e)
        };
        let (await_ours, await_theirs) =
            zygote::await_pair().map_err(io("cannot create the sandbox's socket"))?;
        let (worker_in, worker_out) = channel
            .copy_worker_fds()
            .map_err(io("cannot copy the worker's pipes"))?;
        let output_copy = output
            .try_clone()
            .map_err(io("cannot copy the worker's output pipe"))?;
        let program = Program {
            args: Vec::new(),
            env: &[],
            keep_fds: &[await_theirs.as_raw_fd()],
            await_socket: Some(await_theirs.as_raw_fd()),
        };
        let (command, jail) = self.sandboxed(&name, resolved, package_dir, shape, program)?;
        let mut worker = ProcessWorker::spawn(
            name,
            &command,
            jail,
            channel,
            (capture, output),
            Caps::new(0, 0),
        )?;
        drop(await_theirs);
        // After the spawn, so that a failure here drops the worker, which kills the sandbox and
        // removes its cgroups.
        let entry =
            self.sandbox
                .zygote_entry(worker.jail_mut())
                .map_err(|e| StartError::Spawn {
                    detail: format!(
                        "cannot prepare worker `{}` for the zygote: {e}",
                        ridge_runtime::Worker::name(&worker)
                    ),
                    source: None,
                })?;
        let request = zygote::Request {
            name: ridge_runtime::Worker::name(&worker).to_owned(),
            parent: ridge_runtime::Worker::pid(&worker).unwrap_or(0),
            entry,
            env: self.worker_env(shape.prestarted),
            cwd: ridge_sandbox::PACKAGE_MOUNT.to_owned(),
            worker_in,
            worker_out,
            output: output_copy,
        };
        let worker_name = ridge_runtime::Worker::name(&worker).to_owned();
        tokio::spawn(async move {
            if let Err(why) = zygote::hand_off(zygote, await_ours, request).await {
                tracing::warn!(worker = %worker_name, %why, "the zygote did not start the worker");
            }
        });
        Ok(worker)
    }
}

/// What the sandbox runs: the worker's program (`args`, `env`, `keep_fds`), or the wait for a
/// zygote's worker on `await_socket` ([`JailSpec::await_socket`]).
struct Program<'a> {
    args: Vec<OsString>,
    env: &'a [(&'a str, &'a str)],
    keep_fds: &'a [RawFd],
    await_socket: Option<RawFd>,
}

fn network(access: ridge_core::NetworkAccess) -> ridge_sandbox::Network {
    match access {
        ridge_core::NetworkAccess::Loopback => ridge_sandbox::Network::Loopback,
        ridge_core::NetworkAccess::Outbound => ridge_sandbox::Network::Outbound,
    }
}

/// A memfd named `name` holding `bytes`, close-on-exec (a hook or a spawn keeps it for the
/// process that needs it): memory, not a file, so nothing goes stale or needs cleaning up.
/// The worker program's code for each worker, and what a zygote is started with.
pub(crate) fn memfd(name: &std::ffi::CStr, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let fd = nix::sys::memfd::memfd_create(name, nix::sys::memfd::MFdFlags::MFD_CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    Ok(OwnedFd::from(file))
}

fn spawn_io(detail: String, e: std::io::Error) -> StartError {
    StartError::Spawn {
        detail: format!("{detail}: {e}"),
        source: Some(e),
    }
}
