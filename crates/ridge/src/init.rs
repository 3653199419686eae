//! `ridge serve` as process 1 of its PID namespace: a container started without an init, as
//! `deploy/kubernetes/ridge.yaml` runs it.
//!
//! Process 1 adopts every orphan of its namespace and must reap it. The server reaps only the
//! children it started, each by its pid; an orphan left unreaped is a zombie for good. One
//! matters more than a process-table entry: a Python worker is its zygote's child, made in its
//! sandbox's PID namespace from outside (`ridge-runtime-process`'s `zygote.rs`), and if the
//! zygote dies first, the worker goes to this namespace's process 1. A PID namespace ends only
//! once each of its processes has been reaped, so until that worker is, its sandbox cannot end:
//! the sandbox's process 1, its bubblewrap and its cgroup stay for good.
//!
//! So, as process 1, `ridge serve` starts itself again, with the same arguments and
//! environment, before anything else: that child is the server; this process only reaps every
//! child it gets (the server, orphans), passes the signals an operator
//! or a container runtime sends (`SIGTERM`, `SIGINT`, `SIGHUP`, `SIGQUIT`, `SIGUSR1`,
//! `SIGUSR2`) on to the server, and exits with the server's status, which ends everything
//! still in the namespace. Under a real init (systemd, `tini`, a shell) none of this happens.

use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// The signals process 1 passes on to the server.
const PASSED_ON: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// When this process is its PID namespace's process 1, starts the server as its child and
/// never returns: it stays process 1 (see the module's documentation). Otherwise unblocks the
/// signals the server handles (its process 1 blocked them, and a child inherits its parent's
/// mask) and returns. Call it before any thread starts.
pub fn stand_in_for_init() {
    let mut waited = SigSet::empty();
    for signal in PASSED_ON {
        waited.add(signal);
    }
    waited.add(Signal::SIGCHLD);
    if std::process::id() != 1 {
        let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&waited), None);
        return;
    }
    // Blocked before the server starts, so that none sent meanwhile is lost: this process
    // takes them with sigwait. The server, not process 1, unblocks them above.
    if let Err(e) = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&waited), None) {
        eprintln!("warning: as process 1, cannot block signals ({e}): orphans are not reaped");
        return;
    }
    let server = std::env::current_exe().and_then(|exe| {
        std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .spawn()
    });
    match server {
        Ok(server) => {
            let pid = i32::try_from(server.id()).expect("Linux pids fit in an i32");
            supervise(Pid::from_raw(pid), &waited)
        }
        Err(e) => {
            let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&waited), None);
            eprintln!(
                "warning: as process 1, cannot start the server as its child ({e}): orphans \
                 are not reaped"
            );
        }
    }
}

/// Process 1's loop: reaps, passes signals on, exits with `server`'s status.
fn supervise(server: Pid, waited: &SigSet) -> ! {
    loop {
        match waited.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(code) = reap(server) {
                    std::process::exit(code);
                }
            }
            Ok(signal) => {
                let _ = kill(server, signal);
            }
            Err(_) => {}
        }
    }
}

/// Reaps every child that has ended; the exit code to pass on once one of them is `server`
/// (its code, or 128 and the signal that killed it, as a shell reports it).
fn reap(server: Pid) -> Option<i32> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == server => return Some(code),
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == server => {
                return Some(128 + signal as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}
