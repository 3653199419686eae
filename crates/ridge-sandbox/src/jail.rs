//! The sandbox every worker runs in, and the honest list of what it enforces on this host.
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
//! - uid/gid 65534 when Ridge runs as root (Ridge's own uid otherwise, inside the user
//!   namespace), no capabilities, `no_new_privs`;
//! - a read-only root holding only `/usr` (and the `/bin`, `/lib*` links), a few files of
//!   `/etc` (no `passwd`, no `shadow`), the interpreter's prefix, and the package at
//!   `/function`; a private `/tmp` tmpfs of [`SandboxConfig::tmp_size`] bytes; a fresh `/proc`;
//!   bubblewrap's minimal `/dev`. The data directory, `/root`, `/home` are not mounted;
//! - loopback only ([`Network::Loopback`]);
//! - the seccomp programs of `seccomp.rs`;
//! - rlimits: [`Rlimits`] (`nofile`, `core` 0, `fsize`);
//! - cgroup `memory` (swap off), `cpu` (CFS quota from millicores) and `pids`
//!   ([`SandboxConfig::pids`]), with whole-cgroup kill.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use nix::libc;

use crate::cgroup::{CgroupLimits, Cgroups, Controller, WorkerCgroup};
use crate::path::find_on_path;
use crate::{HostCapabilities, Protection, Rlimits, SandboxError, seccomp, userns};

/// Where the function's package appears inside the sandbox.
pub const PACKAGE_MOUNT: &str = "/function";
/// Hostname inside the sandbox.
const HOSTNAME: &str = "ridge";
/// Files of `/etc` a worker sees (those that exist on the host). No `passwd`, `group`,
/// `shadow` or anything else that describes the host's users.
const ETC_FILES: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
];
/// Top-level directories (or merged-`/usr` links) a worker sees besides `/usr`.
const SYSTEM_DIRS: &[&str] = &["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
/// Address space allowed above `memory_size` when `RLIMIT_AS` stands in for the memory
/// controller.
const AS_HEADROOM: u64 = 64 * 1024 * 1024;

/// What Ridge does when this host cannot apply a protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Enforcement {
    /// Run no function at all (the default).
    #[default]
    Refuse,
    /// Run functions with what can be applied, and the listed fallbacks.
    Degraded,
}

/// The network a worker gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Its own network namespace with only loopback (the default).
    #[default]
    Loopback,
    /// The host's network: an operator's explicit grant to every function.
    Host,
}

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub enforcement: Enforcement,
    /// The bubblewrap binary; `None` looks for `bwrap` on `PATH`.
    pub bwrap: Option<PathBuf>,
    /// Size of each worker's private `/tmp`, in bytes (64 MiB).
    pub tmp_size: u64,
    /// Most processes (and threads) in one worker (128).
    pub pids: u64,
    pub network: Network,
    /// Host uid and gid of workers when Ridge runs as root (65534, `nobody`).
    pub uid: u32,
    pub gid: u32,
    /// Name of the cgroup subtree under Ridge's own cgroup (`ridge`).
    pub cgroup_name: String,
    /// CPU quota of a worker while it starts and loads its function, in millicores, when above
    /// the function's own `cpu` (1000: one CPU). Interpreter start-up is platform work that a
    /// 100-millicore quota stretches tenfold; [`Jail::finish_startup`] applies the function's
    /// quota once the function is loaded. 0 keeps the function's quota from the first instant.
    pub startup_cpu: u32,
    pub rlimits: Rlimits,
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
            tmp_size: Self::DEFAULT_TMP_SIZE,
            pids: Self::DEFAULT_PIDS,
            network: Network::Loopback,
            uid: 65534,
            gid: 65534,
            cgroup_name: "ridge".to_owned(),
            startup_cpu: Self::DEFAULT_STARTUP_CPU,
            rlimits: Rlimits::default(),
        }
    }
}

/// bubblewrap, found and checked to work on this host.
#[derive(Debug)]
struct Isolation {
    bwrap: PathBuf,
    version: String,
    /// Root mode: the user namespace workers enter, and `setpriv` to drop to the sandbox uid.
    root: Option<(OwnedFd, PathBuf)>,
}

/// The sandbox of this server. Built once at start-up; [`Sandbox::command`] confines each
/// worker.
#[derive(Debug)]
pub struct Sandbox {
    config: SandboxConfig,
    host: HostCapabilities,
    isolation: Result<Isolation, String>,
    seccomp: Result<Vec<Vec<u8>>, String>,
    cgroups: Cgroups,
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
    /// This worker's network: `Host` for a function granted outbound access. The server-wide
    /// `network` setting, when `Host`, applies to every worker regardless.
    pub network: Network,
    /// Descriptors of the caller's that the program inherits, at the same numbers. They must
    /// stay open until the command is spawned.
    pub keep_fds: &'a [RawFd],
}

impl Sandbox {
    /// Sets the sandbox up on this host: finds and tries bubblewrap, compiles the seccomp
    /// programs, prepares the cgroup subtrees. Never fails: what cannot be applied is listed by
    /// [`Sandbox::protections`], and [`Sandbox::refusal`] says whether functions may run.
    pub fn new(config: SandboxConfig, host: HostCapabilities) -> Self {
        let seccomp = seccomp::programs().map_err(|e| e.to_string());
        let cgroups = Cgroups::prepare(Path::new("/"), &host.cgroup, &config.cgroup_name);
        let mut sandbox = Self {
            isolation: Err(String::new()),
            config,
            host,
            seccomp,
            cgroups,
        };
        sandbox.isolation = sandbox.find_isolation();
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
            seccomp: Err("not requested (an unconfined sandbox)".to_owned()),
            cgroups: Cgroups::default(),
        }
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// What the host offered at start-up.
    pub fn host(&self) -> &HostCapabilities {
        &self.host
    }

    fn find_isolation(&self) -> Result<Isolation, String> {
        let bwrap = match &self.config.bwrap {
            Some(path) => path.clone(),
            None => find_on_path("bwrap").ok_or(
                "bubblewrap (`bwrap`) was not found on PATH; install it (Debian/Ubuntu: \
                 `apt-get install bubblewrap`) or set sandbox.bwrap",
            )?,
        };
        let version = Command::new(&bwrap)
            .arg("--version")
            .output()
            .map_err(|e| format!("cannot run `{}`: {e}", bwrap.display()))?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        if let Err(e) = self.seccomp.as_ref() {
            return Err(format!("the seccomp programs do not compile: {e}"));
        }
        let root = if self.host.running_as_root {
            let setpriv = find_on_path("setpriv")
                .filter(|p| p.starts_with("/usr"))
                .ok_or("`setpriv` (util-linux) was not found under /usr")?;
            let ns = userns::create(self.config.uid, self.config.gid).map_err(|e| e.to_string())?;
            Some((ns, setpriv))
        } else {
            None
        };
        let isolation = Isolation {
            bwrap,
            version,
            root,
        };
        self.try_isolation(&isolation)?;
        Ok(isolation)
    }

    /// Runs `true` in a sandbox, to learn at start-up rather than at the first execution that
    /// this host lets bubblewrap work (user namespaces, AppArmor, seccomp).
    fn try_isolation(&self, isolation: &Isolation) -> Result<(), String> {
        let truth = find_on_path("true").unwrap_or_else(|| PathBuf::from("/usr/bin/true"));
        let (mut command, mut jail) = self
            .bwrap_command(
                isolation,
                &truth,
                Vec::new(),
                None,
                &[],
                &[],
                None,
                Network::Loopback,
            )
            .map_err(|e| e.to_string())?;
        let output = command
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run bubblewrap: {e}"))?;
        jail.spawned();
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "bubblewrap cannot create a sandbox on this host ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// `None` if functions may run; otherwise why not (enforcement is `refuse` and a protection
    /// cannot be applied).
    pub fn refusal(&self) -> Option<String> {
        if self.config.enforcement == Enforcement::Degraded {
            return None;
        }
        let granted_network = self.config.network == Network::Host;
        let missing: Vec<String> = self
            .protections()
            .into_iter()
            // An operator's network grant is not a missing protection.
            .filter(|p| {
                let granted = p.name == "network isolation" && granted_network;
                !p.enforced && !granted
            })
            .map(|p| format!("{} ({})", p.name, p.detail))
            .collect();
        (!missing.is_empty()).then(|| {
            format!(
                "the sandbox cannot apply every protection on this host and sandbox.mode is \
                 `refuse`; set sandbox.mode = \"degraded\" to run functions anyway. Missing: {}",
                missing.join("; ")
            )
        })
    }

    /// Whether workers get their own PID namespace (so a worker may kill every other process
    /// it sees after an execution).
    pub fn pid_namespace(&self) -> bool {
        self.isolation.is_ok()
    }

    /// The command that runs `spec` in the sandbox, and the worker's handle on it.
    pub fn command(&self, spec: &JailSpec<'_>) -> Result<(Command, Jail), SandboxError> {
        if let Some(reason) = self.refusal() {
            return Err(SandboxError::Refused(reason));
        }
        let limits = CgroupLimits {
            memory_bytes: spec.memory_bytes,
            cpu_millicores: spec.cpu_millicores.max(self.config.startup_cpu),
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
            Ok(isolation) => self.bwrap_command(
                isolation,
                spec.program,
                spec.args.clone(),
                Some(spec.package_dir),
                spec.read_only,
                spec.keep_fds,
                Some(cgroup),
                spec.network,
            )?,
            Err(_) => {
                let mut command = Command::new(spec.program);
                command.args(&spec.args).current_dir(spec.package_dir);
                let jail = Jail {
                    cgroup: Some(cgroup),
                    cpu_millicores: 0,
                    transient: Vec::new(),
                    package_path: spec.package_dir.to_owned(),
                    bwrap: false,
                };
                let hooks = self.hooks(&jail, spec.keep_fds.to_vec(), None, address_space)?;
                install(&mut command, hooks);
                (command, jail)
            }
        };
        if self.isolation.is_ok() {
            let hooks = self.hooks(
                &jail,
                self.keep_with(&jail, spec.keep_fds),
                self.userns_fd(),
                address_space,
            )?;
            install(&mut command, hooks);
        }
        command.env_clear().envs(spec.env.iter().copied());
        jail.cpu_millicores = spec.cpu_millicores;
        Ok((command, jail))
    }

    fn userns_fd(&self) -> Option<RawFd> {
        match &self.isolation {
            Ok(Isolation {
                root: Some((ns, _)),
                ..
            }) => Some(ns.as_raw_fd()),
            _ => None,
        }
    }

    fn keep_with(&self, jail: &Jail, keep: &[RawFd]) -> Vec<RawFd> {
        let mut all = keep.to_vec();
        all.extend(jail.transient.iter().map(AsRawFd::as_raw_fd));
        all
    }

    fn hooks(
        &self,
        jail: &Jail,
        keep: Vec<RawFd>,
        userns: Option<RawFd>,
        memory_bytes: u64,
    ) -> Result<Hooks, SandboxError> {
        let procs = match &jail.cgroup {
            Some(cg) => cg.open_procs().map_err(|source| SandboxError::Cgroup {
                worker: String::new(),
                source,
            })?,
            None => Vec::new(),
        };
        let r = self.config.rlimits;
        let mut rlimits = vec![
            (libc::RLIMIT_NOFILE, r.nofile),
            (libc::RLIMIT_CORE, r.core),
            (libc::RLIMIT_FSIZE, r.fsize),
        ];
        if self.cgroups.version_of(Controller::Memory).is_none() && memory_bytes > 0 {
            rlimits.push((libc::RLIMIT_AS, memory_bytes.saturating_add(AS_HEADROOM)));
        }
        Ok(Hooks {
            procs,
            keep,
            rlimits,
            userns,
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one private builder with two callers"
    )]
    fn bwrap_command(
        &self,
        isolation: &Isolation,
        program: &Path,
        args: Vec<OsString>,
        package_dir: Option<&Path>,
        read_only: &[PathBuf],
        keep_fds: &[RawFd],
        cgroup: Option<WorkerCgroup>,
        network: Network,
    ) -> Result<(Command, Jail), SandboxError> {
        let mut transient = Vec::new();
        let mut seccomp_fds = Vec::new();
        for program in self
            .seccomp
            .as_ref()
            .map_err(|e| SandboxError::Seccomp(e.clone()))?
        {
            let read = pipe_with(program)
                .map_err(|e| SandboxError::Seccomp(format!("cannot pass the filter: {e}")))?;
            seccomp_fds.push(read.as_raw_fd());
            transient.push(read);
        }
        let options = bwrap_args(&BwrapPlan {
            unshare_user: isolation.root.is_none(),
            // The server-wide grant, or this worker's own.
            network: if self.config.network == Network::Host {
                Network::Host
            } else {
                network
            },
            tmp_size: self.config.tmp_size,
            package_dir,
            read_only,
            seccomp_fds: &seccomp_fds,
            system_dirs: system_dirs(),
        });
        // The options name host paths (the data directory): pass them through a pipe, so that
        // the sandbox's init, whose command line the worker can read, shows none of them.
        let mut packed = Vec::new();
        for option in &options {
            packed.extend_from_slice(option.as_encoded_bytes());
            packed.push(0);
        }
        let options_fd = pipe_with(&packed)
            .map_err(|e| SandboxError::Spawn(format!("cannot pass bubblewrap its options: {e}")))?;
        let mut argv: Vec<OsString> = vec![
            "--args".into(),
            options_fd.as_raw_fd().to_string().into(),
            "--".into(),
        ];
        transient.push(options_fd);
        if let Some((_, setpriv)) = &isolation.root {
            argv.push(setpriv.into());
            argv.push(format!("--reuid={}", self.config.uid).into());
            argv.push(format!("--regid={}", self.config.gid).into());
            argv.extend(["--clear-groups", "--inh-caps=-all", "--"].map(OsString::from));
        }
        argv.push(program.into());
        argv.extend(args);
        let mut command = Command::new(&isolation.bwrap);
        command.args(argv).current_dir("/");
        let jail = Jail {
            cgroup,
            cpu_millicores: 0,
            transient,
            package_path: PathBuf::from(PACKAGE_MOUNT),
            bwrap: true,
        };
        if package_dir.is_none() {
            // The start-up probe: no cgroup, but the same descriptors and user namespace.
            let hooks = Hooks {
                procs: Vec::new(),
                keep: self.keep_with(&jail, keep_fds),
                rlimits: Vec::new(),
                userns: self.userns_fd(),
            };
            install(&mut command, hooks);
        }
        Ok((command, jail))
    }

    /// Every protection, whether it is enforced on this host, and how.
    pub fn protections(&self) -> Vec<Protection> {
        let isolated = self.isolation.is_ok();
        let why_not = self.isolation.as_ref().err().cloned().unwrap_or_default();
        let mut list = Vec::new();
        let mut push = |name: &'static str, enforced: bool, detail: String| {
            list.push(Protection {
                name,
                enforced,
                detail,
            })
        };
        let bwrap = match &self.isolation {
            Ok(i) => format!("{} at {}", i.version, i.bwrap.display()),
            Err(_) => String::new(),
        };
        push(
            "namespaces",
            isolated,
            if isolated {
                format!(
                    "every worker gets new user, PID, mount, network, IPC, UTS and cgroup \
                     namespaces ({bwrap})"
                )
            } else {
                format!("not applied: {why_not}")
            },
        );
        let c = &self.config;
        push(
            "unprivileged user",
            isolated,
            match (&self.isolation, self.host.running_as_root) {
                (Ok(_), true) => format!(
                    "workers run as uid {} and gid {} on the host, with no capabilities and \
                     no_new_privs",
                    c.uid, c.gid
                ),
                (Ok(_), false) => format!(
                    "workers run as Ridge's own uid {} inside their user namespace, with no \
                     capabilities and no_new_privs",
                    nix::unistd::geteuid()
                ),
                (Err(_), true) => "not applied: workers run as root, like Ridge".to_owned(),
                (Err(_), false) => "not applied: workers run as Ridge's own user".to_owned(),
            },
        );
        push(
            "filesystem view",
            isolated,
            if isolated {
                format!(
                    "read-only: /usr, a few files of /etc, the interpreter's prefix and the \
                     package at {PACKAGE_MOUNT}; a private {} MiB /tmp; a fresh /proc; a minimal \
                     /dev. The data directory, /root, /home and /etc/shadow are not visible",
                    c.tmp_size / (1024 * 1024)
                )
            } else {
                "not applied: workers see the host's whole filesystem with their user's \
                 permissions"
                    .to_owned()
            },
        );
        push(
            "network isolation",
            isolated && c.network == Network::Loopback,
            match (isolated, c.network) {
                (true, Network::Loopback) => "loopback only".to_owned(),
                (_, Network::Host) => {
                    "granted: sandbox.network = \"host\" gives every function the host's network"
                        .to_owned()
                }
                (false, _) => "not applied: workers share the host's network".to_owned(),
            },
        );
        push(
            "seccomp",
            isolated,
            match (&self.seccomp, isolated) {
                (Ok(_), true) => format!(
                    "denied with EPERM: {}; clone with namespace flags too",
                    seccomp::denied_names().join(", ")
                ),
                (Err(e), _) => format!("not applied: {e}"),
                (Ok(_), false) => "not applied: bubblewrap installs the filter".to_owned(),
            },
        );
        push(
            "rlimits",
            true,
            format!(
                "RLIMIT_NOFILE {}, RLIMIT_CORE {}, RLIMIT_FSIZE {} (soft = hard), set before \
                 the worker starts",
                c.rlimits.nofile, c.rlimits.core, c.rlimits.fsize
            ),
        );
        for (name, controller, what) in [
            ("memory limit", Controller::Memory, "memory_size, swap off"),
            ("cpu limit", Controller::Cpu, "cpu as a CFS quota"),
            ("pids limit", Controller::Pids, "a pids limit"),
        ] {
            let pids = if controller == Controller::Pids {
                format!(" of {}", c.pids)
            } else {
                String::new()
            };
            let (enforced, detail) = match self.cgroups.version_of(controller) {
                Some(v) => (
                    true,
                    format!(
                        "cgroup {} {} controller: {what}{pids}",
                        v.name(),
                        controller.name()
                    ),
                ),
                None => {
                    let why = self.cgroups.why_missing(controller).unwrap_or("not set up");
                    let fallback = if controller == Controller::Memory {
                        "; fallback: RLIMIT_AS of memory_size + 64 MiB (address space, coarse; not \
                         for Node.js, whose V8 reserves far more than it uses)"
                    } else {
                        ""
                    };
                    (false, format!("not applied: {why}{fallback}"))
                }
            };
            push(name, enforced, detail);
        }
        let kill = self.cgroups.can_kill();
        push(
            "process tree kill",
            kill || isolated,
            match (kill, isolated) {
                (true, _) => "on timeout or discard, every process in the worker's cgroup is \
                              killed (v2 cgroup.kill, or freeze + kill)"
                    .to_owned(),
                (false, true) => "on timeout or discard, the worker's PID namespace is ended \
                                  with it (no cgroup freezer or cgroup.kill on this host)"
                    .to_owned(),
                (false, false) => "not applied: only the worker's process group is killed; a \
                                   process that calls setsid() escapes"
                    .to_owned(),
            },
        );
        push(
            "cleared environment",
            true,
            "workers get only the variables their runtime sets".to_owned(),
        );
        list
    }
}

/// What runs in the child between `fork` and `exec`. Holds only what the child needs, as raw
/// numbers, so that the hook allocates nothing.
struct Hooks {
    /// `cgroup.procs` files to write `0` (this process) to.
    procs: Vec<OwnedFd>,
    /// Descriptors to leave open across `exec`.
    keep: Vec<RawFd>,
    rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// The user namespace to enter last.
    userns: Option<RawFd>,
}

fn install(command: &mut Command, hooks: Hooks) {
    let hook = move || -> io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        for fd in &hooks.procs {
            // SAFETY: write(2) on a descriptor this closure owns, from a static buffer.
            let n = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        for (resource, value) in &hooks.rlimits {
            let limit = libc::rlimit {
                rlim_cur: *value,
                rlim_max: *value,
            };
            // SAFETY: setrlimit(2) with a valid pointer to a local struct.
            check(unsafe { libc::setrlimit(*resource, &limit) })?;
        }
        for fd in &hooks.keep {
            // SAFETY: fcntl(2) clearing FD_CLOEXEC on a descriptor the caller keeps open.
            check(unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) })?;
        }
        // SAFETY: prctl(2) with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
        if let Some(ns) = hooks.userns {
            // SAFETY: setns(2) on an open namespace descriptor; the child is single-threaded.
            check(unsafe { libc::setns(ns, libc::CLONE_NEWUSER) })?;
        }
        Ok(())
    };
    // SAFETY: the hook only makes async-signal-safe system calls (write, setrlimit, fcntl,
    // prctl, setns) on data prepared before the fork; it neither allocates nor takes locks.
    unsafe {
        command.pre_exec(hook);
    }
}

/// A worker's handle on its sandbox.
#[derive(Debug)]
pub struct Jail {
    cgroup: Option<WorkerCgroup>,
    /// The function's CPU quota, for [`Jail::finish_startup`].
    cpu_millicores: u32,
    /// Descriptors needed only until the command is spawned (seccomp programs).
    transient: Vec<OwnedFd>,
    package_path: PathBuf,
    bwrap: bool,
}

impl Jail {
    /// Where the package is, as the worker sees it.
    pub fn package_path(&self) -> &Path {
        &self.package_path
    }

    /// Closes what only the spawn needed. Call right after spawning.
    pub fn spawned(&mut self) {
        self.transient.clear();
    }

    /// Ends the start-up CPU allowance ([`SandboxConfig::startup_cpu`]): from now on the
    /// worker runs under its function's own quota. Call once the function is loaded; an error
    /// means the quota could not be lowered, and the worker must not run the function.
    pub fn finish_startup(&self) -> std::io::Result<()> {
        match &self.cgroup {
            Some(cg) => cg.set_cpu(self.cpu_millicores),
            None => Ok(()),
        }
    }

    /// Kills every process of the worker through its cgroup (if it has one). The caller also
    /// kills the process group, which ends the PID namespace with bubblewrap.
    pub fn kill(&self) {
        if let Some(cg) = &self.cgroup {
            cg.kill();
        }
    }

    /// Whether the memory limit's OOM killer ended one of the worker's processes.
    pub fn oom_killed(&self) -> bool {
        self.cgroup.as_ref().is_some_and(WorkerCgroup::oom_killed)
    }

    /// Whether the worker ran into its memory or pids limit at some point.
    pub fn hit_resource_limit(&self) -> bool {
        self.cgroup
            .as_ref()
            .is_some_and(|cg| cg.oom_killed() || cg.pids_exhausted())
    }

    /// The signal that ended the worker's program. bubblewrap reports a program killed by
    /// signal `n` as exit code `128 + n`.
    pub fn exit_signal(&self, status: ExitStatus) -> Option<i32> {
        status.signal().or_else(|| {
            let code = status.code()?;
            (self.bwrap && code > 128 && code < 128 + 65).then_some(code - 128)
        })
    }

    /// Takes the worker's cgroups out of the jail, to remove them with
    /// [`WorkerCgroup::remove_when_empty`] once the worker is reaped.
    pub fn take_cgroup(&mut self) -> Option<WorkerCgroup> {
        self.cgroup.take()
    }
}

/// Inputs of the bubblewrap command line.
struct BwrapPlan<'a> {
    unshare_user: bool,
    network: Network,
    tmp_size: u64,
    package_dir: Option<&'a Path>,
    read_only: &'a [PathBuf],
    seccomp_fds: &'a [RawFd],
    /// (path, `Some(link target)` for a symbolic link, `None` for a directory).
    system_dirs: Vec<(&'static str, Option<PathBuf>)>,
}

fn system_dirs() -> Vec<(&'static str, Option<PathBuf>)> {
    SYSTEM_DIRS
        .iter()
        .filter_map(|dir| match std::fs::read_link(dir) {
            Ok(target) => Some((*dir, Some(target))),
            Err(_) if Path::new(dir).is_dir() => Some((*dir, None)),
            Err(_) => None,
        })
        .collect()
}

fn bwrap_args(plan: &BwrapPlan<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    push(&["--die-with-parent", "--new-session"]);
    if plan.unshare_user {
        push(&["--unshare-user"]);
    } else {
        // Root mode: already in Ridge's user namespace; keep only what setpriv needs to drop
        // to the sandbox uid, which clears them.
        push(&[
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
        ]);
    }
    push(&[
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
    ]);
    if plan.network == Network::Loopback {
        push(&["--unshare-net"]);
    }
    push(&["--hostname", HOSTNAME, "--ro-bind", "/usr", "/usr"]);
    for (dir, link) in &plan.system_dirs {
        match link {
            Some(target) => {
                a.push("--symlink".into());
                a.push(target.into());
                a.push(dir.into());
            }
            None => a.extend(["--ro-bind", dir, dir].map(OsString::from)),
        }
    }
    // bubblewrap would create /etc with mode 0700, unreadable to the worker.
    a.extend(["--perms", "0755", "--dir", "/etc"].map(OsString::from));
    for file in ETC_FILES {
        a.extend(["--ro-bind-try", file, file].map(OsString::from));
    }
    // The private /tmp comes before the read-only paths, so that one that lives under the host's
    // /tmp (a runtime directory in a checkout under /tmp) is shown on top of it, not hidden.
    a.extend(
        [
            "--size".to_owned(),
            plan.tmp_size.to_string(),
            "--perms".to_owned(),
            "1777".to_owned(),
            "--tmpfs".to_owned(),
            "/tmp".to_owned(),
        ]
        .map(OsString::from),
    );
    for path in plan.read_only.iter().filter(|p| !p.starts_with("/usr")) {
        // bubblewrap would create missing parents with mode 0700, unreadable to the worker.
        let mut ancestors: Vec<&Path> = path
            .ancestors()
            .skip(1)
            .filter(|p| *p != Path::new("/"))
            .collect();
        ancestors.reverse();
        for dir in ancestors {
            a.extend(["--perms".into(), "0755".into(), "--dir".into(), dir.into()]);
        }
        a.extend(["--ro-bind".into(), path.into(), path.into()]);
    }
    if let Some(package) = plan.package_dir {
        a.extend(["--ro-bind".into(), package.into(), PACKAGE_MOUNT.into()]);
    }
    a.extend(["--proc", "/proc", "--dev", "/dev"].map(OsString::from));
    if plan.package_dir.is_some() {
        a.extend(["--chdir", PACKAGE_MOUNT].map(OsString::from));
    }
    for fd in plan.seccomp_fds {
        a.push("--add-seccomp-fd".into());
        a.push(fd.to_string().into());
    }
    a.extend(["--remount-ro", "/"].map(OsString::from));
    a
}

/// A pipe holding `bytes`, write end closed: its read end, close-on-exec until a hook clears it.
fn pipe_with(bytes: &[u8]) -> io::Result<OwnedFd> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    let mut write = std::fs::File::from(write);
    // A pipe holds 64 KiB before a write blocks; nothing reads until the child starts.
    if bytes.len() > 60 * 1024 {
        return Err(io::Error::other(format!(
            "{} bytes do not fit in a pipe",
            bytes.len()
        )));
    }
    write.write_all(bytes)?;
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan<'a>(read_only: &'a [PathBuf], package: Option<&'a Path>) -> BwrapPlan<'a> {
        BwrapPlan {
            unshare_user: false,
            network: Network::Loopback,
            tmp_size: 1024,
            package_dir: package,
            read_only,
            seccomp_fds: &[7, 8],
            system_dirs: vec![("/lib", Some(PathBuf::from("usr/lib"))), ("/sbin", None)],
        }
    }

    fn joined(args: &[OsString]) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_command_line_denies_by_default() {
        let prefixes = [
            PathBuf::from("/root/.pyenv/versions/3.11.7"),
            PathBuf::from("/usr/local"),
        ];
        let args = joined(&bwrap_args(&plan(
            &prefixes,
            Some(Path::new("/data/unpacked/abc")),
        )));
        for expected in [
            "--die-with-parent --new-session",
            "--unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try --unshare-net",
            "--ro-bind /usr /usr --symlink usr/lib /lib --ro-bind /sbin /sbin",
            "--size 1024 --perms 1777 --tmpfs /tmp --perms 0755 --dir /root --perms 0755 --dir \
             /root/.pyenv --perms 0755 --dir /root/.pyenv/versions --ro-bind \
             /root/.pyenv/versions/3.11.7 /root/.pyenv/versions/3.11.7",
            "--ro-bind /data/unpacked/abc /function --proc /proc --dev /dev --chdir /function",
            "--perms 0755 --dir /etc --ro-bind-try /etc/ld.so.cache /etc/ld.so.cache",
            "--add-seccomp-fd 7 --add-seccomp-fd 8 --remount-ro /",
        ] {
            assert!(args.contains(expected), "missing `{expected}` in {args}");
        }
        assert!(!args.contains("/usr/local"), "under /usr already: {args}");
        assert!(!args.contains("/etc/passwd") && !args.contains("/etc/shadow"));
        assert!(!args.contains("/home"));
        assert!(args.ends_with("--remount-ro /"));
    }

    #[test]
    fn a_read_only_path_under_tmp_is_shown_over_the_private_tmp() {
        let dirs = [PathBuf::from("/tmp/checkout/runtimes/perl")];
        let args = joined(&bwrap_args(&plan(&dirs, None)));
        let tmpfs = args.find("--tmpfs /tmp").expect("private /tmp");
        let bind = args
            .find("--ro-bind /tmp/checkout/runtimes/perl /tmp/checkout/runtimes/perl")
            .expect("the directory is bound");
        assert!(tmpfs < bind, "the tmpfs would hide the directory: {args}");
    }

    #[test]
    fn host_network_and_unprivileged_mode_are_explicit() {
        let mut p = plan(&[], None);
        p.network = Network::Host;
        p.unshare_user = true;
        let args = joined(&bwrap_args(&p));
        assert!(!args.contains("--unshare-net"));
        assert!(args.contains("--unshare-user"));
        assert!(!args.contains("--cap-add"));
        assert!(!args.contains("--chdir"));
    }

    #[test]
    fn bubblewrap_exit_codes_name_the_signal() {
        let jail = Jail {
            cgroup: None,
            cpu_millicores: 0,
            transient: Vec::new(),
            package_path: PathBuf::from(PACKAGE_MOUNT),
            bwrap: true,
        };
        assert_eq!(jail.exit_signal(ExitStatus::from_raw(137 << 8)), Some(9));
        assert_eq!(jail.exit_signal(ExitStatus::from_raw(1 << 8)), None);
        assert_eq!(jail.exit_signal(ExitStatus::from_raw(9)), Some(9));
    }

    #[test]
    fn an_unconfined_sandbox_says_so_and_degraded_runs() {
        let sandbox = Sandbox::unconfined(Rlimits::default());
        assert!(sandbox.refusal().is_none());
        let list = sandbox.protections();
        let enforced: Vec<&str> = list.iter().filter(|p| p.enforced).map(|p| p.name).collect();
        assert_eq!(enforced, ["rlimits", "cleared environment"]);
        let refusing = Sandbox {
            config: SandboxConfig::default(),
            ..Sandbox::unconfined(Rlimits::default())
        };
        let reason = refusing.refusal().expect("refuses");
        assert!(reason.contains("namespaces (not applied"), "{reason}");
        assert!(reason.contains("memory limit"), "{reason}");
    }
}
