//! The worker's handle on its sandbox: its cgroups, the start-up CPU allowance, and how it ended.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use crate::cgroup::WorkerCgroup;
use crate::uids::UidLease;
use crate::userns::Namespaces;

use super::outbound::Pasta;

use super::PACKAGE_MOUNT;

/// A worker's handle on its sandbox.
#[derive(Debug)]
pub struct Jail {
    cgroup: Option<WorkerCgroup>,
    /// The function's CPU quota, for [`Jail::finish_startup`].
    cpu_millicores: u32,
    /// Descriptors needed only until the command is spawned (seccomp programs, bubblewrap's
    /// options).
    transient: Vec<OwnedFd>,
    package_path: PathBuf,
    bwrap: bool,
    /// A plain process (`sandbox.mode = "off"`): no cgroup, and a pre-started one is told
    /// where its package is rather than shown it in a slot.
    plain: bool,
    /// Root mode: the worker's own host uid, held until the jail is dropped.
    uid: Option<UidLease>,
    /// Root mode: the user namespace (owned by that uid) the worker enters, and its network
    /// namespace when granted outbound network; needed only until the spawn.
    namespaces: Option<Namespaces>,
    /// The NAT of a worker granted outbound network, killed with the worker.
    pasta: Option<Pasta>,
}

impl Jail {
    /// A worker inside bubblewrap: its package is at [`PACKAGE_MOUNT`], and `transient` must
    /// stay open until the spawn. `identity` (root mode): its uid and namespaces; `pasta`: its
    /// outbound network.
    pub(super) fn bubblewrapped(
        cgroup: Option<WorkerCgroup>,
        transient: Vec<OwnedFd>,
        identity: Option<(UidLease, Namespaces)>,
        pasta: Option<Pasta>,
    ) -> Self {
        let (uid, namespaces) = identity.unzip();
        Self {
            cgroup,
            cpu_millicores: 0,
            transient,
            package_path: PathBuf::from(PACKAGE_MOUNT),
            bwrap: true,
            plain: false,
            uid,
            namespaces,
            pasta,
        }
    }

    /// A worker run directly (no bubblewrap on this host): it sees its package where it is.
    pub(super) fn unsandboxed(cgroup: WorkerCgroup, package_dir: &Path) -> Self {
        Self {
            cgroup: Some(cgroup),
            cpu_millicores: 0,
            transient: Vec::new(),
            package_path: package_dir.to_owned(),
            bwrap: false,
            plain: false,
            uid: None,
            namespaces: None,
            pasta: None,
        }
    }

    /// A worker run as a plain process by the operator's choice (`sandbox.mode = "off"`): no
    /// cgroup, its package where it is.
    pub(super) fn plain(package_dir: &Path) -> Self {
        Self {
            cgroup: None,
            cpu_millicores: 0,
            transient: Vec::new(),
            package_path: package_dir.to_owned(),
            bwrap: false,
            plain: true,
            uid: None,
            namespaces: None,
            pasta: None,
        }
    }

    /// Whether the worker is a plain process (`sandbox.mode = "off"`).
    pub fn is_plain(&self) -> bool {
        self.plain
    }

    /// Points a pre-started plain worker at its function's package, which it reads where it
    /// is on the host (see [`Jail::plain`]). Sandboxed workers are shown theirs in a slot.
    pub fn show_package_at(&mut self, package_dir: &Path) -> std::io::Result<()> {
        if !self.plain {
            return Err(std::io::Error::other(
                "a sandboxed worker sees its package only through its slot",
            ));
        }
        package_dir.clone_into(&mut self.package_path);
        Ok(())
    }

    pub(super) fn cgroup(&self) -> Option<&WorkerCgroup> {
        self.cgroup.as_ref()
    }

    /// The descriptors the program must inherit besides the caller's own.
    pub(super) fn transient_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.transient.iter().map(AsRawFd::as_raw_fd)
    }

    /// The user namespace the program enters before it starts (root mode).
    pub(super) fn userns_fd(&self) -> Option<RawFd> {
        self.namespaces.as_ref().map(|ns| ns.user.as_raw_fd())
    }

    /// The network namespace the program enters before it starts (outbound network).
    pub(super) fn netns_fd(&self) -> Option<RawFd> {
        self.namespaces
            .as_ref()
            .and_then(|ns| ns.net.as_ref())
            .map(AsRawFd::as_raw_fd)
    }

    /// The worker's own host uid (root mode).
    pub fn uid(&self) -> Option<u32> {
        self.uid.as_ref().map(UidLease::uid)
    }

    /// The quota [`Jail::finish_startup`] applies.
    pub(super) fn set_function_cpu(&mut self, millicores: u32) {
        self.cpu_millicores = millicores;
    }

    /// Gives a pre-started worker to one function: renames its cgroups to `name` and sets its
    /// memory limit and function CPU quota. Its CPU quota stays at the start-up allowance when
    /// `startup_allowance` (until [`Jail::finish_startup`]); otherwise it is the function's at
    /// once. An error means the limits may not hold, and the worker must not be used.
    pub fn assign(
        &mut self,
        name: &str,
        memory_bytes: u64,
        cpu_millicores: u32,
        startup_allowance: bool,
    ) -> std::io::Result<()> {
        self.cpu_millicores = cpu_millicores;
        if self.plain {
            // No limits to set, by the operator's choice.
            return Ok(());
        }
        let Some(cg) = &mut self.cgroup else {
            return Err(std::io::Error::other(
                "the worker has no cgroup to set limits in",
            ));
        };
        cg.rename(name)?;
        cg.set_memory(memory_bytes)?;
        if !startup_allowance {
            cg.set_cpu(cpu_millicores)?;
        }
        Ok(())
    }

    /// Where the package is, as the worker sees it.
    pub fn package_path(&self) -> &Path {
        &self.package_path
    }

    /// Closes what only the spawn needed. Call right after spawning.
    pub fn spawned(&mut self) {
        self.transient.clear();
        self.namespaces = None;
    }

    /// Ends the start-up CPU allowance ([`crate::SandboxConfig::startup_cpu`]): from now on
    /// the worker runs under its function's own quota. Call once the function is loaded; an
    /// error means the quota could not be lowered, and the worker must not run the function.
    pub fn finish_startup(&self) -> std::io::Result<()> {
        match &self.cgroup {
            Some(cg) => cg.set_cpu(self.cpu_millicores),
            None => Ok(()),
        }
    }

    /// Kills every process of the worker through its cgroup (if it has one). The caller also
    /// kills the process group, which ends the PID namespace with bubblewrap. Also ends the
    /// worker's outbound network. Blocking.
    pub fn kill(&self) {
        if let Some(cg) = &self.cgroup {
            cg.kill();
        }
        if let Some(pasta) = &self.pasta {
            pasta.kill();
        }
    }

    /// The worker's cgroups, to [kill](WorkerCgroup::kill) from a blocking thread while the
    /// jail keeps them for their removal.
    pub fn kill_handle(&self) -> Option<WorkerCgroup> {
        self.cgroup.clone()
    }

    /// Whether the memory limit's OOM killer ended one of the worker's processes.
    pub fn oom_killed(&self) -> bool {
        self.cgroup.as_ref().is_some_and(WorkerCgroup::oom_killed)
    }

    /// How many CFS periods the worker was held at its CPU quota so far (`None` without a
    /// CPU quota of its own).
    pub fn throttled_periods(&self) -> Option<u64> {
        self.cgroup
            .as_ref()
            .and_then(WorkerCgroup::throttled_periods)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bubblewrap_exit_codes_name_the_signal() {
        let jail = Jail::bubblewrapped(None, Vec::new(), None, None);
        assert_eq!(jail.exit_signal(ExitStatus::from_raw(137 << 8)), Some(9));
        assert_eq!(jail.exit_signal(ExitStatus::from_raw(1 << 8)), None);
        assert_eq!(jail.exit_signal(ExitStatus::from_raw(9)), Some(9));
    }
}
