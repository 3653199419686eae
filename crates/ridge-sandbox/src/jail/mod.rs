//! The sandbox every worker runs in: its settings, and the builder that confines each worker.
//!
//! A worker is started through bubblewrap (`bwrap`), which is the better tool for the mount
//! namespace work (a new root, bind mounts, a fresh `/proc`, a minimal `/dev`) than hand-written
//! `unsafe` code. Ridge adds what bubblewrap does not do: cgroups, rlimits, the seccomp
//! programs, and (when Ridge runs as root) a user namespace in which the worker ends up as an
//! unprivileged host uid (see `userns.rs`).
//!
//! Defaults deny; every grant is a [`SandboxConfig`] field:
//! - new user, PID, mount, network, IPC, UTS (and cgroup) namespaces; `--die-with-parent`,
//!   `--new-session`;
//! - when Ridge runs as root, a uid of its own per worker ([`SandboxConfig::uids`]) in a user
//!   namespace of its own, gid 65534 (Ridge's own uid otherwise, inside the user namespace);
//!   no capabilities, `no_new_privs`;
//! - a read-only root holding only `/usr` (and the `/bin`, `/lib*` links), a few files of
//!   `/etc` (no `passwd`, no `shadow`), the interpreter's prefix, and the package at
//!   `/function`; a private `/tmp` tmpfs of [`SandboxConfig::tmp_size`] bytes; a fresh `/proc`;
//!   bubblewrap's minimal `/dev`. The data directory, `/root`, `/home` are not mounted;
//! - loopback only ([`Network::Loopback`]); a function granted outbound network gets a network
//!   namespace of its own plugged into the host's network by `pasta`, without the host's
//!   loopback or link-local addresses ([`Network::Outbound`], `outbound.rs`);
//! - the seccomp programs of `seccomp.rs`;
//! - rlimits: [`Rlimits`] (`nofile`, `core` 0, `fsize`);
//! - cgroup `memory` (swap off), `cpu` (CFS quota from millicores) and `pids`
//!   ([`SandboxConfig::pids`]), with whole-cgroup kill.
//!
//! [`Enforcement::Off`], an operator's explicit choice and never the default, sets none of this
//! up: a worker is a plain child process in its package directory, with only the rlimits, a
//! cleared environment and the protocol's descriptors ([`Sandbox::command`]).
//!
//! One file per concern: `bwrap.rs` finds bubblewrap, tries it at start-up and writes its
//! command line (options through a pipe); `preexec.rs` is the hook that runs between `fork` and
//! `exec`, and all of this module's `unsafe`; `protections.rs` is the honest report of what is
//! enforced on this host, and whether functions may run; `handle.rs` is the worker's [`Jail`];
//! `outbound.rs` plugs a worker's network namespace into the host's network; `privdrop.rs` is
//! what drops a root-mode worker to its uid inside its sandbox.

mod bwrap;
mod handle;
#[expect(
    unsafe_code,
    reason = "pidfds, and hooks that enter a network namespace"
)]
mod outbound;
#[expect(unsafe_code, reason = "the hooks between a child's creation and exec")]
mod preexec;
mod privdrop;
mod protections;
#[expect(unsafe_code, reason = "clone and execve of a worker's process")]
mod spawn;

use std::ffi::OsString;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use nix::libc;

use crate::cgroup::{CgroupLimits, Cgroups, Controller};
use crate::uids::{UidPool, UidRange};
use crate::{HostCapabilities, Rlimits, SandboxError, seccomp};
use bwrap::{Isolation, Purpose};
use outbound::Outbound;
use preexec::Hooks;

pub use handle::Jail;
pub use protections::{Protection, ProtectionStatus};
pub use spawn::WorkerCommand;

/// Where the function's package appears inside the sandbox.
pub const PACKAGE_MOUNT: &str = "/function";
/// Address space allowed above `memory_size` when `RLIMIT_AS` stands in for the memory
/// controller.
const AS_HEADROOM: u64 = 64 * 1024 * 1024;
/// Why a protection is not applied when the operator turned the sandbox off.
const OFF_REASON: &str = "off by the operator's choice (sandbox.mode = \"off\")";

/// What Ridge does when this host cannot apply a protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// Run no function at all (the default).
    #[default]
    Refuse,
    /// Run functions with what can be applied, and the listed fallbacks.
    Degraded,
    /// No sandbox, by the operator's choice, for deployments that run only trusted code:
    /// workers are plain child processes of the server (no bubblewrap, namespaces, seccomp,
    /// cgroups or uid of their own), in the package directory. What stays: the rlimits, a
    /// cleared environment, no inherited descriptor, and the process group killed at the
    /// timeout. Never the default.
    Off,
}

impl Enforcement {
    /// The `[sandbox] mode` value that selects it, as `GET /v1/info` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Enforcement::Refuse => "refuse",
            Enforcement::Degraded => "degraded",
            Enforcement::Off => "off",
        }
    }
}

/// The network a worker gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Its own network namespace with only loopback (the default).
    #[default]
    Loopback,
    /// Its own network namespace with a NAT to the host's network (`pasta`): other machines
    /// and the host's non-loopback addresses, never the host's loopback or link-local
    /// addresses (169.254.0.0/16, the cloud metadata address). Only for workers: a grant to
    /// one function.
    Outbound,
    /// The host's network: an operator's explicit grant to every function.
    Host,
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub enforcement: Enforcement,
    /// The bubblewrap binary; `None` looks for `bwrap` on `PATH`.
    pub bwrap: Option<PathBuf>,
    /// The `pasta` binary (Debian `passt`) for [`Network::Outbound`]; `None` looks for `pasta`
    /// on `PATH`.
    pub pasta: Option<PathBuf>,
    /// Size of each worker's private `/tmp`, in bytes (64 MiB).
    pub tmp_size: u64,
    /// Most processes (and threads) in one worker (128).
    pub pids: u64,
    pub network: Network,
    /// Host uids of workers when Ridge runs as root: each live worker has one of its own
    /// ([`UidRange::DEFAULT`]).
    pub uids: UidRange,
    /// Host gid of workers when Ridge runs as root (65534, `nogroup`).
    pub gid: u32,
    /// Name of the cgroup subtree under Ridge's own cgroup (`ridge`).
    pub cgroup_name: String,
    /// CPU quota of a worker while it starts and loads its function, in millicores, when above
    /// the function's own `cpu` (1000: one CPU). Interpreter start-up is platform work that a
    /// 100-millicore quota stretches tenfold; [`Jail::finish_startup`] applies the function's
    /// quota once the function is loaded. 0 keeps the function's quota from the first instant.
    pub startup_cpu: u32,
    pub rlimits: Rlimits,
    /// Host directories no worker may see, canonical: Ridge's data directory. A read-only
    /// path that is `/`, holds one of them or lies in one is refused ([`crate::shown_path`]).
    pub hidden: Vec<PathBuf>,
    /// How packages reach [`PACKAGE_MOUNT`]: `Ok(cache bytes)` when each unpacked package is a
    /// tmpfs of its own in the server's private mount namespace (so its bind mount names no
    /// host path), within an unpack cache of that many bytes; otherwise why not. Only reported
    /// ([`Protection::HiddenHostPaths`]); the package store does the mounting.
    pub package_tmpfs: Result<u64, String>,
}

impl SandboxConfig {
    pub const DEFAULT_TMP_SIZE: u64 = 64 * 1024 * 1024;
    pub const DEFAULT_PIDS: u64 = 128;
    pub const DEFAULT_STARTUP_CPU: u32 = 1000;
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            enforcement: Enforcement::Refuse,
            bwrap: None,
            pasta: None,
            tmp_size: Self::DEFAULT_TMP_SIZE,
            pids: Self::DEFAULT_PIDS,
            network: Network::Loopback,
            uids: UidRange::DEFAULT,
            gid: 65534,
            cgroup_name: "ridge".to_owned(),
            startup_cpu: Self::DEFAULT_STARTUP_CPU,
            rlimits: Rlimits::default(),
            hidden: Vec::new(),
            package_tmpfs: Err("not set up".to_owned()),
        }
    }
}

/// The sandbox of this server. Built once at start-up; [`Sandbox::command`] confines each
/// worker.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    host: HostCapabilities,
    isolation: Result<Isolation, String>,
    /// pasta, for workers granted [`Network::Outbound`]; otherwise why they are refused.
    outbound: Result<Outbound, String>,
    seccomp: Result<Vec<Vec<u8>>, String>,
    cgroups: Cgroups,
    uids: UidPool,
}

/// What a zygote's child needs to become a worker ([`Sandbox::zygote_entry`]).
#[derive(Debug)]
pub struct ZygoteEntry {
    /// The worker's `cgroup.procs`, open for writing, one per controller.
    pub cgroup_procs: Vec<std::os::fd::OwnedFd>,
    /// Its uid and gid (the same numbers on the host and in its user namespace).
    pub uid: u32,
    pub gid: u32,
    /// Its `RLIMIT_NOFILE`, `RLIMIT_CORE` and `RLIMIT_FSIZE`.
    pub rlimits: [(&'static str, u64); 3],
}

/// What one worker is.
#[derive(Debug)]
pub struct JailSpec<'a> {
    /// Unique on this node; names the worker's cgroup.
    pub name: &'a str,
    /// The program, at the same path inside the sandbox as on the host.
    pub program: &'a Path,
    pub args: Vec<OsString>,
    pub env: &'a [(&'a str, &'a str)],
    /// The unpacked package on the host, mounted read-only at [`PACKAGE_MOUNT`].
    pub package_dir: &'a Path,
    /// More host directories the program needs (the interpreter's prefix), mounted read-only
    /// at the same paths.
    pub read_only: &'a [PathBuf],
    pub memory_bytes: u64,
    /// Whether `RLIMIT_AS` may stand in for a missing memory controller. False for programs
    /// that reserve much more address space than they use (V8).
    pub address_space_limit: bool,
    pub cpu_millicores: u32,
    /// Whether the worker starts under [`SandboxConfig::startup_cpu`] (when above
    /// `cpu_millicores`) until [`Jail::finish_startup`]; the engine withholds it from
    /// functions whose workers keep failing young.
    pub startup_allowance: bool,
    /// This worker's network: `Outbound` for a function granted outbound access. The
    /// server-wide `network` setting, when `Host`, applies to every worker regardless.
    pub network: Network,
    /// Descriptors of the caller's that the program inherits, at the same numbers. They must
    /// stay open until the command is spawned.
    pub keep_fds: &'a [RawFd],
    /// A worker a zygote forks into the sandbox ([`Sandbox::zygote_entry`]): the sandbox's
    /// process 1 is then the drop helper waiting for it on this socket (one of `keep_fds`),
    /// and `program`, `args` and `env` are the zygote's business. Root mode with the drop
    /// helper only ([`Sandbox::zygote_ready`]).
    pub await_socket: Option<RawFd>,
}

impl Sandbox {
    /// Sets the sandbox up on this host: finds and tries bubblewrap, compiles the seccomp
    /// programs, prepares the cgroup subtrees. Never fails: what cannot be applied is listed by
    /// [`Sandbox::protections`], and [`Sandbox::refusal`] says whether functions may run.
    pub fn new(config: SandboxConfig, host: HostCapabilities) -> Self {
        if config.enforcement == Enforcement::Off {
            return Self::off(config, host);
        }
        let seccomp = seccomp::programs().map_err(|e| e.to_string());
        let cgroups = Cgroups::prepare(Path::new("/"), &host.cgroup, &config.cgroup_name);
        let uids = UidPool::new(config.uids);
        let mut sandbox = Self {
            isolation: Err(String::new()),
            outbound: Err(String::new()),
            config,
            host,
            seccomp,
            cgroups,
            uids,
        };
        sandbox.isolation = sandbox.find_isolation();
        sandbox.outbound = sandbox.find_outbound();
        if crate::private_mount_namespace().is_ok()
            && let Err(why) = crate::mountns::spawn_namespace()
        {
            // Workers still start, from the server's namespace: slower beside many packages.
            tracing::warn!(
                %why,
                "workers start from the server's mount namespace, so each start copies the \
                 mount of every package unpacked on this node"
            );
        }
        sandbox
    }

    /// A sandbox that applies only rlimits and the process-group kill: for the runtime's own
    /// tests and tools, never for `ridge serve`.
    pub fn unconfined(rlimits: Rlimits) -> Self {
        Self {
            config: SandboxConfig {
                enforcement: Enforcement::Degraded,
                rlimits,
                ..SandboxConfig::default()
            },
            host: HostCapabilities::probe_at(Path::new("/nonexistent")),
            isolation: Err("not requested (an unconfined sandbox)".to_owned()),
            outbound: Err("not requested (an unconfined sandbox)".to_owned()),
            seccomp: Err("not requested (an unconfined sandbox)".to_owned()),
            cgroups: Cgroups::default(),
            uids: UidPool::new(UidRange::DEFAULT),
        }
    }

    /// The sandbox of `sandbox.mode = "off"`: nothing is probed or prepared (no bubblewrap
    /// run, no seccomp program compiled, no cgroup created), and every worker is a plain
    /// process ([`Sandbox::command`]).
    fn off(config: SandboxConfig, host: HostCapabilities) -> Self {
        let off = || OFF_REASON.to_owned();
        Self {
            uids: UidPool::new(config.uids),
            config,
            host,
            isolation: Err(off()),
            outbound: Err(off()),
            seccomp: Err(off()),
            cgroups: Cgroups::default(),
        }
    }

    /// Whether the operator turned the sandbox off (`sandbox.mode = "off"`).
    pub fn is_off(&self) -> bool {
        self.config.enforcement == Enforcement::Off
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// What the host offered at start-up.
    pub fn host(&self) -> &HostCapabilities {
        &self.host
    }

    /// Whether a function granted outbound network can run on this host, and if not, why.
    /// With the sandbox off every worker has the host's network, a granted one included.
    pub fn outbound_network(&self) -> Result<(), String> {
        if self.is_off() {
            return Ok(());
        }
        self.outbound.as_ref().map(drop).map_err(Clone::clone)
    }

    /// pasta, tried at start-up: only when Ridge runs as root (each worker then owns its user
    /// namespace, which pasta joins as the worker's uid) and `network` is not `Host`.
    fn find_outbound(&self) -> Result<Outbound, String> {
        match &self.isolation {
            Err(_) => {
                Err("workers are not isolated on this host (see the sandbox report)".to_owned())
            }
            Ok(_) if self.config.network == Network::Host => Err(
                "not needed: sandbox.network = \"host\" gives every worker the host's network"
                    .to_owned(),
            ),
            Ok(isolation) if isolation.dropper.is_none() => Err(
                "outbound network needs Ridge to run as root, so that pasta may run as each \
                 worker's own uid"
                    .to_owned(),
            ),
            Ok(_) => {
                let lease = self.uids.lease().map_err(|e| e.to_string())?;
                Outbound::find(self.config.pasta.as_deref(), lease.uid(), self.config.gid)
            }
        }
    }

    /// Whether workers' memory is limited by a cgroup (whose limit can change while they run).
    pub fn memory_cgroup(&self) -> bool {
        self.cgroups.version_of(Controller::Memory).is_some()
    }

    /// Whether workers get their own PID namespace (so a worker may kill every other process
    /// it sees after an execution).
    pub fn pid_namespace(&self) -> bool {
        self.isolation.is_ok()
    }

    /// `paths` with their links resolved, if every one may be shown to workers (see
    /// [`crate::shown_path`]); otherwise why not.
    /// With the sandbox off nothing is shown: workers see the host as the server does.
    pub fn shown_paths(&self, paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
        if self.is_off() {
            return Ok(paths.to_vec());
        }
        paths
            .iter()
            .map(|p| crate::shown_path(p, &self.config.hidden))
            .collect()
    }

    /// The command that runs `spec` in the sandbox, and the worker's handle on it.
    pub fn command(&self, spec: &JailSpec<'_>) -> Result<(WorkerCommand, Jail), SandboxError> {
        if let Some(reason) = self.refusal() {
            return Err(SandboxError::Refused(reason));
        }
        if self.is_off() {
            return self.plain_command(spec);
        }
        let read_only = self
            .shown_paths(spec.read_only)
            .map_err(SandboxError::Refused)?;
        let spec = &JailSpec {
            read_only: &read_only,
            args: spec.args.clone(),
            ..*spec
        };
        let limits = CgroupLimits {
            memory_bytes: spec.memory_bytes,
            cpu_millicores: if spec.startup_allowance {
                spec.cpu_millicores.max(self.config.startup_cpu)
            } else {
                spec.cpu_millicores
            },
            pids: self.config.pids,
        };
        let cgroup =
            self.cgroups
                .create(spec.name, limits)
                .map_err(|source| SandboxError::Cgroup {
                    worker: spec.name.to_owned(),
                    source,
                })?;
        let address_space = if spec.address_space_limit {
            spec.memory_bytes
        } else {
            0
        };
        let (mut command, mut jail) = match &self.isolation {
            Ok(isolation) => {
                // bubblewrap gives every worker a PID namespace of its own (`--unshare-pid`).
                let cgroup = cgroup.in_own_pid_namespace();
                let (mut command, jail, package) =
                    self.bwrap_command(isolation, Purpose::Worker(spec), Some(cgroup))?;
                let mut keep = spec.keep_fds.to_vec();
                keep.extend(jail.transient_fds());
                let mut hooks = self.hooks(&jail, keep, address_space)?;
                self.enter_user_namespace(isolation, &jail, &mut hooks);
                hooks.netns = jail.netns_fd();
                hooks.package = package;
                command.set_hooks(hooks);
                (command, jail)
            }
            Err(_) => {
                let mut command = WorkerCommand::new(spec.program, spec.package_dir);
                command.args(&spec.args);
                let jail = Jail::unsandboxed(cgroup, spec.package_dir);
                command.set_hooks(self.hooks(&jail, spec.keep_fds.to_vec(), address_space)?);
                (command, jail)
            }
        };
        for (key, value) in spec.env {
            command.env(key, value);
        }
        if self.isolation.is_ok() && bwrap::tunes_malloc(spec) {
            command.env(bwrap::MALLOC_TUNABLES.0, bwrap::MALLOC_TUNABLES.1);
        }
        jail.set_function_cpu(spec.cpu_millicores);
        Ok((command, jail))
    }

    /// Whether a zygote may fork workers into sandboxes of this host ([`JailSpec::await_socket`]),
    /// and if not, why: it needs Ridge to run as root with its own drop helper (each worker
    /// has a user namespace the zygote, host root, may enter, and a process 1 that waits for
    /// it) and the memory controller (a worker's memory is limited by its cgroup alone, which
    /// the zygote's child joins; never by `RLIMIT_AS`).
    pub fn zygote_ready(&self) -> Result<(), String> {
        match &self.isolation {
            _ if self.is_off() => Err(OFF_REASON.to_owned()),
            Err(_) => Err("workers are not isolated on this host".to_owned()),
            Ok(isolation)
                if isolation
                    .dropper
                    .as_ref()
                    .and_then(privdrop::Dropper::fd)
                    .is_none() =>
            {
                Err("it needs Ridge to run as root, with its own drop helper".to_owned())
            }
            Ok(_) if !self.memory_cgroup() => {
                Err("it needs the cgroup memory controller".to_owned())
            }
            Ok(_) => Ok(()),
        }
    }

    /// What a zygote's child needs to become the worker of `jail` (made from a spec with
    /// [`JailSpec::await_socket`]): the worker's `cgroup.procs` to join (one per controller),
    /// its uid and gid inside its user namespace, and its rlimits.
    pub fn zygote_entry(&self, jail: &Jail) -> Result<ZygoteEntry, SandboxError> {
        let cgroup_error = |source| SandboxError::Cgroup {
            worker: String::new(),
            source,
        };
        let procs = jail
            .cgroup()
            .ok_or_else(|| cgroup_error(std::io::Error::other("the worker has no cgroup")))?
            .open_procs()
            .map_err(cgroup_error)?;
        let uid = jail.uid().ok_or_else(|| {
            SandboxError::Refused("a zygote's worker needs a uid of its own".into())
        })?;
        Ok(ZygoteEntry {
            cgroup_procs: procs,
            uid,
            gid: self.config.gid,
            rlimits: self.worker_rlimits().map(|(name, _, value)| (name, value)),
        })
    }

    /// The rlimits every sandboxed worker gets, however it starts (the pre-exec hooks, a
    /// zygote's child): name, resource, value.
    fn worker_rlimits(&self) -> [(&'static str, libc::__rlimit_resource_t, u64); 3] {
        let r = self.config.rlimits;
        [
            ("nofile", libc::RLIMIT_NOFILE, r.nofile),
            ("core", libc::RLIMIT_CORE, r.core),
            ("fsize", libc::RLIMIT_FSIZE, r.fsize),
        ]
    }

    /// The command that starts a zygote (`ridge-runtime-process`'s `zygote.rs`): `program` with
    /// `args` and only `env`, in `/`, as a process of the server's own outside any sandbox (it
    /// enters its workers' sandboxes from outside, as host root), with `no_new_privs`, keeping
    /// `keep_fds` and none of the server's other descriptors.
    pub fn zygote_command(
        &self,
        program: &Path,
        args: &[OsString],
        env: &[(&str, &str)],
        keep_fds: &[RawFd],
    ) -> Result<WorkerCommand, SandboxError> {
        self.zygote_ready().map_err(SandboxError::Refused)?;
        let mut command = WorkerCommand::new(program, Path::new("/"));
        command.args(args);
        for (key, value) in env {
            command.env(key, value);
        }
        command.set_hooks(Hooks {
            keep: keep_fds.to_vec(),
            ..Hooks::default()
        });
        Ok(command)
    }

    /// The seccomp programs every worker gets, in the order they are applied (classic BPF,
    /// `struct sock_filter` each), for a zygote's children.
    pub fn seccomp_programs(&self) -> Result<&[Vec<u8>], String> {
        self.seccomp.as_deref().map_err(Clone::clone)
    }

    /// A worker as a plain child process (`sandbox.mode = "off"`): in its package directory,
    /// with the cleared environment, the rlimits (no `RLIMIT_AS`: no memory limit) and only
    /// the protocol's descriptors; no cgroup, so no limit on memory, CPU or processes.
    fn plain_command(&self, spec: &JailSpec<'_>) -> Result<(WorkerCommand, Jail), SandboxError> {
        let mut command = WorkerCommand::new(spec.program, spec.package_dir);
        command.args(&spec.args);
        for (key, value) in spec.env {
            command.env(key, value);
        }
        let jail = Jail::plain(spec.package_dir);
        command.set_hooks(self.hooks(&jail, spec.keep_fds.to_vec(), 0)?);
        Ok((command, jail))
    }

    /// What a worker's pre-exec hooks do: join its cgroups, set its rlimits (with `RLIMIT_AS`
    /// of `memory_bytes` plus headroom when there is no memory controller), keep `keep` open.
    fn hooks(
        &self,
        jail: &Jail,
        keep: Vec<RawFd>,
        memory_bytes: u64,
    ) -> Result<Hooks, SandboxError> {
        let procs = match jail.cgroup() {
            Some(cg) => cg.open_procs().map_err(|source| SandboxError::Cgroup {
                worker: String::new(),
                source,
            })?,
            None => Vec::new(),
        };
        let mut rlimits: Vec<_> = self
            .worker_rlimits()
            .iter()
            .map(|&(_, resource, value)| (resource, value))
            .collect();
        if self.cgroups.version_of(Controller::Memory).is_none() && memory_bytes > 0 {
            rlimits.push((libc::RLIMIT_AS, memory_bytes.saturating_add(AS_HEADROOM)));
        }
        Ok(Hooks {
            procs,
            keep,
            rlimits,
            ..Hooks::default()
        })
    }
}
