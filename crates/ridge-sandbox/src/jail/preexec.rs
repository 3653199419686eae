//! The hooks that run in a worker's child process between its creation and `exec`
//! (`spawn.rs`).
//!
//! In that window the child either shares the server's memory or is a copy of a multi-threaded
//! parent with only one thread, so the hooks may only make async-signal-safe system calls on
//! data prepared before: they neither allocate nor take locks. Everything they need is
//! gathered in [`Hooks`] first.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::libc;

/// How the child shows its package to bubblewrap when it starts from the spawn namespace
/// (`mountns.rs`): it enters `namespace`, makes a private copy of it, and attaches `tree` (a
/// detached copy of the package's mount) at `target`, the directory bubblewrap binds.
pub(super) struct PackageMount {
    pub namespace: RawFd,
    pub tree: OwnedFd,
    pub target: CString,
}

/// What runs in the child between its creation and `exec`. Holds only what the child needs, as
/// raw numbers, so that the hooks allocate nothing.
#[derive(Default)]
pub(super) struct Hooks {
    /// Start from the spawn namespace, with the package attached there.
    pub package: Option<PackageMount>,
    /// `cgroup.procs` files to write `0` (this process) to.
    pub procs: Vec<OwnedFd>,
    /// Descriptors to leave open across `exec`; every other one above 2 is closed.
    pub keep: Vec<RawFd>,
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64)>,
    /// The network namespace to enter (a worker granted outbound network), before the user
    /// namespace that owns it.
    pub netns: Option<RawFd>,
    /// The user namespace to enter last.
    pub userns: Option<RawFd>,
}

impl Hooks {
    /// Runs the hooks in the child, in this order: move to a private copy of the spawn
    /// namespace with the package attached in it, join the cgroups, set the rlimits, mark every
    /// descriptor above 2 close-on-exec (whatever Ridge inherited from whoever started it: a
    /// shell's pipe, a service manager's sockets) and clear it again on the kept ones only, set
    /// `no_new_privs`, enter the network namespace, then the user namespace. `fd_bound` is
    /// [`open_files_bound`], read before the child was made.
    ///
    /// Only async-signal-safe system calls on data prepared before the child was made: it
    /// neither allocates nor takes locks.
    pub(super) fn run(&self, fd_bound: RawFd) -> io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        };
        if let Some(package) = &self.package {
            // Still host root here: entering the spawn namespace and making mounts needs it.
            // The child shares its filesystem context (root, working directory) with no one.
            crate::mountns::enter_copy_and_attach(
                package.namespace,
                package.tree.as_raw_fd(),
                &package.target,
            )?;
        }
        for fd in &self.procs {
            // SAFETY: write(2) on a descriptor this closure owns, from a static buffer.
            let n = unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        for (resource, value) in &self.rlimits {
            let limit = libc::rlimit {
                rlim_cur: *value,
                rlim_max: *value,
            };
            // SAFETY: setrlimit(2) with a valid pointer to a local struct.
            check(unsafe { libc::setrlimit(*resource, &limit) })?;
        }
        // SAFETY: close_range(2) with integer arguments only; it marks, and closes nothing.
        let marked = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if marked < 0 {
            for fd in 3..fd_bound {
                // SAFETY: fcntl(2) on a descriptor number; EBADF for one that is not open.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
        for fd in &self.keep {
            // SAFETY: fcntl(2) clearing FD_CLOEXEC on a descriptor the caller keeps open.
            check(unsafe { libc::fcntl(*fd, libc::F_SETFD, 0) })?;
        }
        // SAFETY: prctl(2) with integer arguments only.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
        if let Some(ns) = self.netns {
            // SAFETY: setns(2) on an open namespace descriptor; the child is a process of its
            // own (no thread shares its namespaces).
            check(unsafe { libc::setns(ns, libc::CLONE_NEWNET) })?;
        }
        if let Some(ns) = self.userns {
            // SAFETY: setns(2) on an open namespace descriptor. The kernel refuses it to a
            // process that shares its memory, so a command with this hook is spawned with a
            // memory of its own (`spawn.rs`).
            check(unsafe { libc::setns(ns, libc::CLONE_NEWUSER) })?;
        }
        Ok(())
    }
}

/// One above the highest descriptor number this process can hold (its `RLIMIT_NOFILE` hard
/// limit, at most 2^20), read before the fork.
pub(super) fn open_files_bound() -> RawFd {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) with a valid pointer to a local struct.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let max = if rc == 0 { limit.rlim_max } else { 1 << 20 };
    RawFd::try_from(max.min(1 << 20)).unwrap_or(1 << 20)
}
