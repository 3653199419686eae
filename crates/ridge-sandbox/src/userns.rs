//! The user namespace a sandboxed worker enters when Ridge runs as root.
//!
//! bubblewrap resolves and mounts the sandbox's paths with the credentials it runs with, and
//! then switches to the sandbox's uid. Run by root with `--unshare-user`, it maps that uid to
//! host root; run as an unprivileged uid, it cannot reach an interpreter under `/root`. So when
//! Ridge runs as root it creates, for each worker, a user namespace that maps `0 → 0` and
//! `<uid> → <uid>` (the worker's own uid, see `uids.rs`): the worker enters it before
//! bubblewrap starts, bubblewrap mounts as root of that namespace (no capability over the
//! host), and the worker then drops to `<uid>`, a real unprivileged uid on the host.
//!
//! The namespace is *owned* by `<uid>`: a forked helper switches to that uid before
//! `unshare(CLONE_NEWUSER)`. The kernel charges per-user limits of a process in a user
//! namespace to its uid there and to the namespace's owner on the host, so the worker's
//! inotify instances, for one, count against its own uid and not against host root.
//!
//! A worker granted outbound network also gets a network namespace created in the same
//! `unshare`, so owned by its user namespace: `pasta` (see `outbound.rs`), running as the
//! worker's uid, may then join both and plug the namespace into the host's network.

use std::fs::{self, File};
use std::os::fd::OwnedFd;
use std::sync::{Mutex, PoisonError};

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, unshare};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork, pipe2, read, write};

use crate::SandboxError;

/// One helper at a time. A helper forked while another's pipes are open inherits them and,
/// never exec'ing, holds them: two concurrent helpers then each hold the other's `done` pipe
/// open, neither reads end-of-file, and both spawning threads wait for ever (seen with
/// concurrent cold starts on 2026-12-06).
static HELPER: Mutex<()> = Mutex::new(());

fn err(detail: String) -> SandboxError {
    SandboxError::UserNamespace(detail)
}

/// A worker's user namespace, and the network namespace it owns, if one was asked for.
#[derive(Debug)]
pub(crate) struct Namespaces {
    pub(crate) user: OwnedFd,
    pub(crate) net: Option<OwnedFd>,
}

/// Creates a user namespace owned by host `uid` (with a network namespace of its own when
/// `net`) and returns handles on them (`/proc/<pid>/ns/user`, `/proc/<pid>/ns/net`).
pub(crate) fn create(uid: u32, gid: u32, net: bool) -> Result<Namespaces, SandboxError> {
    if uid == 0 || gid == 0 {
        return Err(err("the sandbox uid and gid must not be 0".to_owned()));
    }
    let _one_at_a_time = HELPER.lock().unwrap_or_else(PoisonError::into_inner);
    // Close-on-exec: a worker spawned meanwhile by another thread must not keep them either.
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| err(format!("pipe: {e}")))?;
    let (done_r, done_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| err(format!("pipe: {e}")))?;
    let flags = if net {
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET
    } else {
        CloneFlags::CLONE_NEWUSER
    };
    // SAFETY: the child only makes async-signal-safe system calls (setresuid, unshare, write,
    // read, close, _exit) before it exits; it never returns into Rust code that could allocate
    // or take locks.
    match unsafe { fork() }.map_err(|e| err(format!("fork: {e}")))? {
        ForkResult::Child => {
            drop(ready_r);
            drop(done_w);
            // The raw system call: this thread alone, not glibc's every-thread broadcast. The
            // namespace's owner is the effective uid that creates it.
            // SAFETY: setresuid(2) with integer arguments only.
            let owned = unsafe { nix::libc::syscall(nix::libc::SYS_setresuid, uid, uid, uid) } == 0;
            let ok = owned && unshare(flags).is_ok();
            let _ = write(&ready_w, &[u8::from(ok)]);
            let mut buf = [0u8; 1];
            // Returns once the parent closes its end.
            let _ = read(&done_r, &mut buf);
            // SAFETY: `_exit` ends the forked child without running destructors or atexit
            // handlers, which is what a forked child of a threaded process must do.
            unsafe { nix::libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(done_r);
            let mut buf = [0u8; 1];
            let answered = read(&ready_r, &mut buf);
            let result = match answered {
                Ok(1) if buf[0] == 1 => {
                    let proc = format!("/proc/{child}");
                    let map = |id: u32| format!("0 0 1\n{id} {id} 1\n");
                    let open = |ns: &str| File::open(format!("{proc}/ns/{ns}")).map(OwnedFd::from);
                    fs::write(format!("{proc}/uid_map"), map(uid))
                        .and_then(|()| fs::write(format!("{proc}/gid_map"), map(gid)))
                        .and_then(|()| {
                            Ok(Namespaces {
                                user: open("user")?,
                                net: if net { Some(open("net")?) } else { None },
                            })
                        })
                        .map_err(|e| err(format!("cannot set up the user namespace: {e}")))
                }
                _ => Err(err(format!(
                    "the kernel refused to create a user namespace (unshare({flags:?}))"
                ))),
            };
            drop(done_w);
            let _ = waitpid(child, None);
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Concurrent cold starts create namespaces from several threads at once; each helper must
    /// still end (two helpers forked together once held each other's pipes and hung for ever).
    #[test]
    fn concurrent_helpers_all_finish() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: only root creates user namespaces owned by another uid");
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        for t in 0..4u32 {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..10u32 {
                    let made = create(1_879_000_000 + t * 100 + i, 65534, false);
                    let _ = tx.send(made.map(|ns| drop(ns.user)).map_err(|e| e.to_string()));
                }
            });
        }
        drop(tx);
        for _ in 0..40 {
            let made = rx
                .recv_timeout(std::time::Duration::from_secs(20))
                .expect("every helper ends");
            made.expect("a user namespace");
        }
    }
}
