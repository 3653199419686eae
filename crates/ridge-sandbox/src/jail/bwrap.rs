//! bubblewrap: finding and trying it at start-up, and the command line that confines a worker,
//! its options passed through a pipe.
//!
//! [`BwrapPlan`] gathers every input of the command line first (the host's `/bin`, `/lib*`
//! layout included), so that the options and arguments are written by pure functions and tested
//! to the last argument. Their order matters: bubblewrap applies its options in order, and a
//! later mount hides what an earlier one showed at or under the same path.

use std::ffi::{CString, OsString};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cgroup::WorkerCgroup;
use crate::path::find_on_path;
use crate::{SandboxError, userns};

use super::preexec::{Hooks, PackageMount};
use super::privdrop::Dropper;
use super::{Jail, JailSpec, Network, PACKAGE_MOUNT, Sandbox, SandboxConfig, WorkerCommand};

/// Hostname inside the sandbox.
const HOSTNAME: &str = "ridge";
/// The dropper's program argument that makes it wait for a zygote's worker (`helpers/drop.rs`).
const AWAIT_WORKER: &str = "--await-worker";
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
/// bubblewrap's own malloc settings (glibc tunables): set in its environment, and unset before
/// it starts the worker (`--unsetenv`). Large blocks are mapped and unmapped and the heap's top
/// is given back, so the memory of bubblewrap's setup (the mount table, parsed for each bind,
/// grows with the server's mounts) does not stay resident in the two bubblewrap processes each
/// worker keeps: about 50 KiB a worker (docs/benchmarks.md, "idle worker memory").
pub(super) const MALLOC_TUNABLES: (&str, &str) = (
    "GLIBC_TUNABLES",
    "glibc.malloc.mmap_threshold=4096:glibc.malloc.trim_threshold=0:glibc.malloc.top_pad=0",
);

/// Whether bubblewrap gets [`MALLOC_TUNABLES`]: unless the worker's environment sets the
/// variable itself (a runtime kind's `env`), which then reaches the worker untouched.
pub(super) fn tunes_malloc(spec: &JailSpec<'_>) -> bool {
    !spec.env.iter().any(|(key, _)| *key == MALLOC_TUNABLES.0)
}

/// bubblewrap, found and checked to work on this host.
#[derive(Debug)]
pub(super) struct Isolation {
    pub(super) bwrap: PathBuf,
    pub(super) version: String,
    /// Root mode: what drops to the worker's uid in the worker's own user namespace.
    pub(super) dropper: Option<Dropper>,
    /// Root mode: bubblewrap joins the worker's user namespace itself (`--userns`, from 0.5),
    /// so the child that runs it may share the server's memory (`spawn.rs`). Older ones are
    /// started inside it by the pre-exec hooks.
    pub(super) joins_userns: bool,
}

/// What a bubblewrap sandbox is started for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose<'a> {
    /// The start-up probe ([`Sandbox::probe`]): `program` (`true`) with no package, no cgroup
    /// and no limits, to learn whether bubblewrap works on this host.
    Probe { program: &'a Path },
    /// A worker: its package is mounted read-only at [`PACKAGE_MOUNT`] and is its working
    /// directory, and its own read-only paths and network grant apply.
    Worker(&'a JailSpec<'a>),
}

/// Every input of the bubblewrap command line.
struct BwrapPlan<'a> {
    purpose: Purpose<'a>,
    config: &'a SandboxConfig,
    /// Root mode: what drops to `uid` and the sandbox gid inside the worker's user namespace
    /// ([`Dropper`]). `None`: bubblewrap creates the user namespace itself.
    dropper: Option<&'a Dropper>,
    /// The worker's own host uid (root mode).
    uid: u32,
    /// Root mode: the worker's user namespace, for bubblewrap to join (`--userns`); `None`
    /// when the pre-exec hooks enter it.
    userns_fd: Option<RawFd>,
    /// (path, `Some(link target)` for a symbolic link, `None` for a directory).
    system_dirs: Vec<(&'static str, Option<PathBuf>)>,
    /// Where bubblewrap finds the package: the worker's `package_dir`, or, started from the
    /// spawn namespace, the directory its copy is attached at there.
    package_source: Option<PathBuf>,
}

impl BwrapPlan<'_> {
    /// The program and its arguments: a zygote's worker's sandbox runs the dropper's wait for
    /// it instead ([`JailSpec::await_socket`]).
    fn command(&self) -> Vec<OsString> {
        match self.purpose {
            Purpose::Probe { program } => vec![program.into()],
            Purpose::Worker(JailSpec {
                await_socket: Some(socket),
                ..
            }) => vec![AWAIT_WORKER.into(), socket.to_string().into()],
            Purpose::Worker(spec) => std::iter::once(spec.program.as_os_str().to_owned())
                .chain(spec.args.iter().cloned())
                .collect(),
        }
    }

    /// Whether the sandbox's process 1 is the dropper waiting for a zygote's worker.
    fn awaits_worker(&self) -> bool {
        matches!(
            self.purpose,
            Purpose::Worker(JailSpec {
                await_socket: Some(_),
                ..
            })
        )
    }

    fn read_only(&self) -> &[PathBuf] {
        match self.purpose {
            Purpose::Probe { .. } => &[],
            Purpose::Worker(spec) => spec.read_only,
        }
    }

    fn package_dir(&self) -> Option<&Path> {
        self.package_source.as_deref()
    }

    /// The server-wide grant, or this worker's own.
    fn network(&self) -> Network {
        match (self.config.network, self.purpose) {
            (Network::Host, _) => Network::Host,
            (_, Purpose::Probe { .. }) => Network::Loopback,
            (_, Purpose::Worker(spec)) => spec.network,
        }
    }

    /// bubblewrap's options, passed through a pipe; `seccomp_fds` are the read ends of the
    /// pipes holding the seccomp programs.
    fn options(&self, seccomp_fds: &[RawFd]) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
        push(&["--die-with-parent", "--new-session"]);
        if self.awaits_worker() {
            // The dropper reaps the sandbox's orphans itself, and ends with the worker.
            push(&["--as-pid-1"]);
        }
        if let Purpose::Worker(spec) = self.purpose
            && tunes_malloc(spec)
        {
            push(&["--unsetenv", MALLOC_TUNABLES.0]);
        }
        if self.dropper.is_none() {
            push(&["--unshare-user"]);
        } else {
            // Root mode: in the worker's user namespace (joined here, or entered by the
            // pre-exec hooks); keep only what the dropper needs to drop to the sandbox uid,
            // which clears them.
            if let Some(fd) = self.userns_fd {
                // bubblewrap keeps the descriptor it joins open, and the worker would inherit
                // it. As `--block-fd` it is closed in the sandbox before `exec` (and in its
                // init): the read that would wait on it fails at once (EINVAL: a namespace
                // file cannot be read) and its result is ignored.
                let fd = fd.to_string();
                push(&["--userns", &fd, "--block-fd", &fd]);
            }
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
        if self.network() == Network::Loopback {
            push(&["--unshare-net"]);
        }
        push(&["--hostname", HOSTNAME, "--ro-bind", "/usr", "/usr"]);
        for (dir, link) in &self.system_dirs {
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
        // The private /tmp comes before the read-only paths, so that one that lives under the
        // host's /tmp (a runtime directory in a checkout under /tmp) is shown on top of it, not
        // hidden.
        a.extend(
            [
                "--size".to_owned(),
                self.config.tmp_size.to_string(),
                "--perms".to_owned(),
                "1777".to_owned(),
                "--tmpfs".to_owned(),
                "/tmp".to_owned(),
            ]
            .map(OsString::from),
        );
        for path in self.read_only().iter().filter(|p| !p.starts_with("/usr")) {
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
        if let Some(package) = self.package_dir() {
            a.extend(["--ro-bind".into(), package.into(), PACKAGE_MOUNT.into()]);
        }
        a.extend(["--proc", "/proc", "--dev", "/dev"].map(OsString::from));
        if self.package_dir().is_some() {
            a.extend(["--chdir", PACKAGE_MOUNT].map(OsString::from));
        }
        for fd in seccomp_fds {
            a.push("--add-seccomp-fd".into());
            a.push(fd.to_string().into());
        }
        a.extend(["--remount-ro", "/"].map(OsString::from));
        a
    }

    /// bubblewrap's own arguments (after the binary): the pipe that holds its options, then
    /// the program, behind the dropper in root mode.
    fn argv(&self, options_fd: RawFd) -> Vec<OsString> {
        let mut argv: Vec<OsString> =
            vec!["--args".into(), options_fd.to_string().into(), "--".into()];
        if let Some(dropper) = self.dropper {
            argv.extend(dropper.argv(self.uid, self.config.gid));
        }
        argv.extend(self.command());
        argv
    }
}

/// The entries of [`SYSTEM_DIRS`] on this host: links (merged `/usr`) or directories.
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

impl Sandbox {
    pub(super) fn find_isolation(&self) -> Result<Isolation, String> {
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
        let joins_userns = joins_userns(&version);
        let mut isolation = Isolation {
            bwrap,
            version,
            dropper: None,
            joins_userns,
        };
        if !self.host.running_as_root {
            self.probe(&isolation)?;
            return Ok(isolation);
        }
        // Root mode: Ridge's helper if it runs here, else setpriv.
        match Dropper::helper() {
            Ok(Some(helper)) => {
                isolation.dropper = Some(helper);
                match self.probe(&isolation) {
                    Ok(()) => return Ok(isolation),
                    Err(e) => tracing::warn!(
                        error = %e,
                        "Ridge's drop helper cannot run in a sandbox on this host; workers drop \
                         to their uid through setpriv"
                    ),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "cannot load Ridge's drop helper; workers drop to their uid through setpriv"
            ),
        }
        isolation.dropper = Some(Dropper::setpriv()?);
        self.probe(&isolation)?;
        Ok(isolation)
    }

    /// Runs `true` in a sandbox, to learn at start-up rather than at the first execution that
    /// this host lets bubblewrap work (user namespaces, AppArmor, seccomp).
    fn probe(&self, isolation: &Isolation) -> Result<(), String> {
        let truth = find_on_path("true").unwrap_or_else(|| PathBuf::from("/usr/bin/true"));
        let (mut command, mut jail, _) = self
            .bwrap_command(isolation, Purpose::Probe { program: &truth }, None)
            .map_err(|e| e.to_string())?;
        let mut hooks = probe_hooks(&jail);
        self.enter_user_namespace(isolation, &jail, &mut hooks);
        command.set_hooks(hooks);
        let output = command
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

    /// The bubblewrap command for `purpose`, with its seccomp programs and options in pipes
    /// that the returned [`Jail`] holds until the spawn. In root mode the jail also holds the
    /// worker's own uid and a new user namespace owned by it (see `uids.rs`, `userns.rs`). A
    /// worker started from the spawn namespace also gets its package's copy, for the pre-exec
    /// hook, which the caller installs.
    pub(super) fn bwrap_command(
        &self,
        isolation: &Isolation,
        purpose: Purpose<'_>,
        cgroup: Option<WorkerCgroup>,
    ) -> Result<(WorkerCommand, Jail, Option<PackageMount>), SandboxError> {
        let outbound = match purpose {
            Purpose::Worker(spec)
                if spec.network == Network::Outbound && self.config.network != Network::Host =>
            {
                Some(self.outbound.as_ref().map_err(|reason| {
                    SandboxError::Refused(format!(
                        "this function's outbound network cannot be given on this host: {reason}"
                    ))
                })?)
            }
            _ => None,
        };
        let (identity, pasta) = match isolation.dropper {
            Some(_) => {
                let lease = self.uids.lease()?;
                let ns = userns::create(lease.uid(), self.config.gid, outbound.is_some())?;
                let pasta = match (outbound, &ns.net) {
                    (Some(outbound), Some(net)) => {
                        Some(outbound.attach(lease.uid(), &ns.user, net, cgroup.as_ref())?)
                    }
                    _ => None,
                };
                (Some((lease, ns)), pasta)
            }
            None => (None, None),
        };
        let package = match purpose {
            Purpose::Worker(spec) => package_mount(spec.package_dir)?,
            Purpose::Probe { .. } => None,
        };
        let package_source = match purpose {
            Purpose::Probe { .. } => None,
            Purpose::Worker(spec) => Some(match (&package, spec.package_dir.parent()) {
                (Some(_), Some(parent)) => parent.to_owned(),
                _ => spec.package_dir.to_owned(),
            }),
        };
        let plan = BwrapPlan {
            purpose,
            config: &self.config,
            dropper: isolation.dropper.as_ref(),
            uid: identity.as_ref().map_or(0, |(lease, _)| lease.uid()),
            userns_fd: identity
                .as_ref()
                .filter(|_| isolation.joins_userns)
                .map(|(_, ns)| ns.user.as_raw_fd()),
            system_dirs: system_dirs(),
            package_source,
        };
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
        // The options name host paths (the data directory): pass them through a pipe, so that
        // the sandbox's init, whose command line the worker can read, shows none of them.
        let options_fd = pipe_with(&pack(&plan.options(&seccomp_fds)))
            .map_err(|e| SandboxError::Spawn(format!("cannot pass bubblewrap its options: {e}")))?;
        let argv = plan.argv(options_fd.as_raw_fd());
        transient.push(options_fd);
        let mut command = WorkerCommand::new(&isolation.bwrap, Path::new("/"));
        command.args(argv);
        Ok((
            command,
            Jail::bubblewrapped(cgroup, transient, identity, pasta),
            package,
        ))
    }
}

/// How a worker whose package is at `package_dir` starts from the spawn namespace: a copy of
/// the package's mount, to attach there over the package's parent directory (a directory of
/// the host's file system, so present in that namespace, and shadowed only in the worker's
/// private copy of it). `None` without a spawn namespace: the worker starts from the server's.
fn package_mount(package_dir: &Path) -> Result<Option<PackageMount>, SandboxError> {
    let (Ok(namespace), Some(parent)) = (crate::mountns::spawn_namespace(), package_dir.parent())
    else {
        return Ok(None);
    };
    let tree = crate::mountns::clone_tree(package_dir).map_err(|e| {
        SandboxError::Spawn(format!(
            "cannot copy the mount of the package `{}`: {e}",
            package_dir.display()
        ))
    })?;
    let target = CString::new(parent.as_os_str().as_bytes())
        .map_err(|_| SandboxError::Spawn(format!("a NUL byte in `{}`", parent.display())))?;
    Ok(Some(PackageMount {
        namespace,
        tree,
        target,
    }))
}

/// The probe's pre-exec hooks: no cgroup and no limits, but the same descriptors as a
/// worker's (and the same way into its user namespace, [`Sandbox::enter_user_namespace`]), so
/// that the probe tries what workers will do.
fn probe_hooks(jail: &Jail) -> Hooks {
    Hooks {
        keep: jail.transient_fds().collect(),
        ..Hooks::default()
    }
}

impl Sandbox {
    /// How a root-mode worker (or the probe) gets into its user namespace: bubblewrap joins it
    /// (`--userns`, in the options), so the descriptor must survive `exec`; or, with a
    /// bubblewrap too old for that, the pre-exec hooks enter it. And out of root in it: the
    /// drop helper's memfd, which bubblewrap runs, survives `exec` too.
    pub(super) fn enter_user_namespace(
        &self,
        isolation: &Isolation,
        jail: &Jail,
        hooks: &mut Hooks,
    ) {
        hooks
            .keep
            .extend(isolation.dropper.as_ref().and_then(Dropper::fd));
        let Some(fd) = jail.userns_fd() else {
            return;
        };
        if isolation.joins_userns {
            hooks.keep.push(fd);
        } else {
            hooks.userns = Some(fd);
        }
    }
}

/// Whether bubblewrap `version` (`bubblewrap 0.8.0`) has `--userns`: 0.5.0 and later.
fn joins_userns(version: &str) -> bool {
    let number = version.rsplit(' ').next().unwrap_or_default();
    let mut parts = number.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (0, 5),
        _ => false,
    }
}

/// Options as `--args` reads them: each one followed by a NUL byte.
fn pack(options: &[OsString]) -> Vec<u8> {
    let mut packed = Vec::new();
    for option in options {
        packed.extend_from_slice(option.as_encoded_bytes());
        packed.push(0);
    }
    packed
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
mod tests;
