//! The user namespace a sandboxed worker enters when Ridge runs as root.
//!
//! bubblewrap resolves and mounts the sandbox's paths with the credentials it runs with, and
//! then switches to the sandbox's uid. Run by root with `--unshare-user`, it maps that uid to
//! host root; run as an unprivileged uid, it cannot reach an interpreter under `/root`. So when
//! Ridge runs as root it creates, for each worker, a user namespace that maps `0 → 0` and
//! `<uid> → <uid>` (the worker's own uid, see `uids.rs`): bubblewrap joins it (`--userns`; an
//! older bubblewrap is started inside it, `jail/spawn.rs`), mounts as root of that namespace
//! (no capability over the host), and the worker then drops to `<uid>`, a real unprivileged uid
//! on the host.
//!
//! The namespace is *owned* by `<uid>`: a helper process switches to that uid before
//! `unshare(CLONE_NEWUSER)`. The kernel charges per-user limits of a process in a user
//! namespace to its uid there and to the namespace's owner on the host, so the worker's
//! inotify instances, for one, count against its own uid and not against host root.
//!
//! The helper shares the server's memory (`clone(CLONE_VM)`) rather than copying it (`fork`):
//! a fork copied the page tables of the whole server and tore them down again at the helper's
//! exit, for every worker, and the server's writes after it took copy-on-write faults (in a
//! burst of cold starts, about a tenth of the machine's time went to forks:
//! docs/benchmarks.md, "the user namespace's helper"). It shares the server's descriptor table
//! too (`CLONE_FILES`): a copy took a reference on every open descriptor and closed them all at
//! the helper's exit, a thousand sockets' worth during a burst of connections. So the helper
//! closes nothing (a close would be the server's), the server keeps the pipes' four ends open
//! until the helper is reaped, and learns of a helper that ended without answering from
//! `waitid` (between short `poll`s of the pipe) rather than from the end of a pipe. The helper
//! dies with the server (`PR_SET_PDEATHSIG`): the table it shares would otherwise keep the
//! server's descriptors, its listening socket among them, open for as long as it waits. It
//! runs on a stack of its own with every signal blocked (a handler of the server's must not run
//! on it), makes raw system calls only, and touches no memory of the server's but the constants
//! it was given.
//!
//! A worker granted outbound network also gets a network namespace created in the same
//! `unshare`, so owned by its user namespace: `pasta` (see `outbound.rs`), running as the
//! worker's uid, may then join both and plug the namespace into the host's network.

use std::fs::{self, File};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::{pipe2, read};

use crate::SandboxError;

/// Bytes of the helper's own stack: it makes a few system calls and nothing else.
const HELPER_STACK: usize = 32 * 1024;

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
    // Close-on-exec: a worker spawned meanwhile by another thread must not keep them either.
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| err(format!("pipe: {e}")))?;
    let (done_r, done_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| err(format!("pipe: {e}")))?;
    let flags = if net {
        CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET
    } else {
        CloneFlags::CLONE_NEWUSER
    };
    let args = Box::new(HelperArgs {
        uid,
        flags: flags.bits(),
        ready_w: ready_w.as_raw_fd(),
        done_r: done_r.as_raw_fd(),
        server: nix::unistd::getpid().as_raw(),
    });
    let mut stack = vec![0u8; HELPER_STACK];
    let mut server_mask = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut server_mask),
    )
    .map_err(|e| err(format!("cannot block signals for the helper: {e}")))?;
    // The stack grows down from its end, which the ABI wants 16-byte aligned.
    let top = stack.as_mut_ptr_range().end;
    let top = top.wrapping_sub(top as usize % 16);
    // SAFETY: the helper shares this process's memory and descriptor table but runs on
    // `stack`, with `args`, both of which outlive it (`Running` holds them until it is reaped),
    // with every signal blocked (inherited from this thread's mask, set just above); it only
    // makes raw system calls on the integers of `args`, on descriptors that `Running` keeps
    // open until it is reaped, closes none, and never returns into Rust code that could
    // allocate or take locks. Errno, which it may set on a failure, is this thread's, which
    // meanwhile only waits in `poll`.
    let started = unsafe {
        libc::clone(
            helper_main,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_FILES | libc::SIGCHLD,
            std::ptr::from_ref::<HelperArgs>(&args).cast_mut().cast(),
        )
    };
    let started = nix::errno::Errno::result(started).map(nix::unistd::Pid::from_raw);
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&server_mask), None);
    let child = started.map_err(|e| err(format!("cannot start the helper: {e}")))?;
    // From here on, however this function ends, the helper is let go and reaped before its
    // stack is freed and before the descriptors it uses are closed.
    let helper = Running {
        child,
        done: Some(done_w),
        _fds: [ready_w, done_r],
        _stack: stack,
        _args: args,
    };
    match answer(&ready_r, helper.child) {
        Some(1) => {
            let proc = format!("/proc/{}", helper.child);
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
        Some(_) => Err(err(format!(
            "the kernel refused to create a user namespace (unshare({flags:?}))"
        ))),
        None => Err(err(
            "the helper that creates the user namespace ended without an answer".to_owned(),
        )),
    }
}

/// How long the server waits on the helper's pipe before it checks whether the helper ended.
const ANSWER_POLL_MS: u8 = 10;

/// The helper's one-byte answer, or `None` if it ended without writing one: the pipe's write
/// end stays open in the shared descriptor table, so its end is learnt from `waitid` (without
/// reaping it: [`Running`] does), checked each time the pipe stays silent for
/// [`ANSWER_POLL_MS`]. A helper answers before it can end, so a readable pipe is read first.
fn answer(ready: &OwnedFd, helper: nix::unistd::Pid) -> Option<u8> {
    loop {
        let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ANSWER_POLL_MS)) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return None,
            Ok(0) => {
                let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
                match waitid(Id::Pid(helper), flags) {
                    Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => continue,
                    _ => return None,
                }
            }
            Ok(_) => {
                let mut buf = [0u8; 1];
                return match read(ready, &mut buf) {
                    Ok(1) => Some(buf[0]),
                    _ => None,
                };
            }
        }
    }
}

/// What the helper is given: plain integers, read from the server's memory.
#[repr(C)]
struct HelperArgs {
    uid: u32,
    flags: libc::c_int,
    ready_w: libc::c_int,
    done_r: libc::c_int,
    /// The server's pid: the helper's parent, until the server dies.
    server: libc::pid_t,
}

/// The helper: switches to the namespace's owner, arranges to die with the server, creates
/// the namespace, says whether it could, and waits until the server has read it and closed the
/// `done` pipe's write end. It shares the server's descriptor table, so it closes nothing.
/// Raw system calls only: glibc's wrappers of `read` and `write` are cancellation points, which
/// update the thread's descriptor, and this task has none of its own (it runs with the server
/// thread's, as it shares its memory).
extern "C" fn helper_main(args: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `args` points at the `HelperArgs` that `create` keeps alive until this helper is
    // reaped; the calls are raw system calls on its integers, in this task's own descriptor
    // table and credentials; `SYS_exit` ends this task alone without unwinding or running
    // anything of the server's.
    unsafe {
        let a = &*args.cast::<HelperArgs>();
        // The namespace's owner is the effective uid that creates it.
        let owned = libc::syscall(libc::SYS_setresuid, a.uid, a.uid, a.uid) == 0;
        // Dies with the server: it shares the server's descriptor table, so once the server
        // is gone the `done` pipe's write end (and every descriptor of the server's, its
        // listening socket included) would stay open in it, and it would wait for ever. Set
        // after `setresuid`, which clears it; a server already gone is seen as a new parent.
        libc::syscall(
            libc::SYS_prctl,
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL,
            0,
            0,
            0,
        );
        if libc::syscall(libc::SYS_getppid) != libc::c_long::from(a.server) {
            libc::syscall(libc::SYS_exit, 0);
        }
        let ok = owned && libc::syscall(libc::SYS_unshare, a.flags) == 0;
        let answer = [u8::from(ok)];
        libc::syscall(libc::SYS_write, a.ready_w, answer.as_ptr(), 1);
        let mut buf = [0u8; 1];
        // Returns once the server closes the write end (the one there is: the table is shared).
        libc::syscall(libc::SYS_read, a.done_r, buf.as_mut_ptr(), 1);
        libc::syscall(libc::SYS_exit, 0);
    }
    0
}

/// The helper while it runs, on the stack and with the arguments this holds.
struct Running {
    child: nix::unistd::Pid,
    /// Closing it lets the helper exit.
    done: Option<OwnedFd>,
    /// The pipe ends the helper writes and reads: closed only once it is reaped, as their
    /// numbers in the shared table could otherwise be given to another file meanwhile.
    _fds: [OwnedFd; 2],
    _stack: Vec<u8>,
    _args: Box<HelperArgs>,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.done.take());
        // Until it is reaped it may still run on the stack: wait through interruptions.
        while let Err(nix::errno::Errno::EINTR) = waitpid(self.child, None) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_of(child: &std::process::Child) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid"))
    }

    /// `f` on a thread of its own, which must finish within 10 s: a wait that never ends
    /// fails the test instead of hanging it.
    fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("finished within 10 s")
    }

    /// The pipe's write end stays open (as it does in the table the helper shares): a helper
    /// that ended without answering is seen through `waitid`, not waited for, and left for
    /// its owner to reap.
    #[test]
    fn a_helper_that_ends_without_answering_is_an_error_not_a_hang() {
        let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = pid_of(&child);
        let answered = within_10s(move || answer(&ready_r, pid));
        assert_eq!(answered, None);
        assert!(child.wait().expect("still ours to reap").success());
        drop(ready_w);
    }

    #[test]
    fn an_answer_is_read_while_the_helper_runs() {
        let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = pid_of(&child);
        let answering = std::thread::spawn(move || {
            // After a few of the server's silent polls.
            std::thread::sleep(std::time::Duration::from_millis(50));
            nix::unistd::write(&ready_w, &[1]).expect("write");
            ready_w
        });
        assert_eq!(within_10s(move || answer(&ready_r, pid)), Some(1));
        drop(answering.join().expect("the writer"));
        child.kill().expect("kill");
        child.wait().expect("reap");
    }

    /// Not a test on its own: run by `a_helper_dies_with_its_server` in a process of its own
    /// (`RIDGE_TEST_HELPERS_UNTIL_KILLED` set), it creates namespaces until it is killed.
    #[test]
    fn helpers_until_killed() {
        if std::env::var_os("RIDGE_TEST_HELPERS_UNTIL_KILLED").is_none() {
            return;
        }
        for i in 0.. {
            let _ = create(1_879_600_000 + i % 1000, 65534, false);
        }
    }

    /// SIGKILLs this process's children (a failed test's leftovers), found in `/proc`.
    fn kill_children() {
        let me = std::process::id();
        for process in crate::fixtures::proc_stats() {
            if process.ppid() == Some(me)
                && let Ok(pid) = i32::try_from(process.pid)
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }

    /// A server killed while a helper waits for it: the helper shares the server's descriptor
    /// table, so the end of its pipe never comes; it must die with the server rather than
    /// keep every descriptor of the server's (its listening socket, the zygote's control
    /// socket) open for ever. This process adopts the killed server's orphans (a subreaper)
    /// and needs every one of them to end.
    #[test]
    fn a_helper_dies_with_its_server() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: only root creates user namespaces owned by another uid");
            return;
        }
        // SAFETY: prctl(2) with integer arguments only.
        let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        assert_eq!(rc, 0, "subreaper: {}", std::io::Error::last_os_error());
        for round in 0..5 {
            let mut server = std::process::Command::new(std::env::current_exe().expect("exe"))
                .args([
                    "--exact",
                    "userns::tests::helpers_until_killed",
                    "--nocapture",
                ])
                .env("RIDGE_TEST_HELPERS_UNTIL_KILLED", "1")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn the creating process");
            std::thread::sleep(std::time::Duration::from_millis(150 + 37 * round));
            server.kill().expect("kill");
            server.wait().expect("reap");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                    Err(nix::errno::Errno::ECHILD) => break,
                    Ok(WaitStatus::StillAlive) => {
                        if std::time::Instant::now() >= deadline {
                            kill_children();
                            panic!("a helper outlived its killed server by 5 s (round {round})");
                        }
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Ok(_) | Err(_) => {}
                }
            }
        }
    }

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
