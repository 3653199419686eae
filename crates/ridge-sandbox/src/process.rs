//! Ending a worker: its whole process group, without racing pid reuse.
//!
//! A worker is started as the leader of its own process group, so the group id is the worker's
//! pid. While the leader is not yet reaped (running, or a zombie) its pid cannot be reused, so
//! signalling the group is safe. Callers therefore signal first and reap afterwards, and use
//! [`wait_for_exit_without_reaping`] to learn that a worker died without giving up its pid.

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;

use crate::SandboxError;

fn to_pid(raw: u32) -> Result<Pid, SandboxError> {
    match i32::try_from(raw) {
        Ok(n) if n > 0 => Ok(Pid::from_raw(n)),
        _ => Err(SandboxError::InvalidPid(raw)),
    }
}

/// Sends SIGKILL to every process in the process group `pgid`. A group that no longer exists is
/// not an error (killing is idempotent).
///
/// Only call this while the group's leader is unreaped, or the id may belong to someone else.
/// A process that left the group (`setsid`, `setpgid`) is not reached; cgroups will close that
/// gap.
pub fn kill_process_group(pgid: u32) -> Result<(), SandboxError> {
    let pid = to_pid(pgid)?;
    match killpg(pid, Signal::SIGKILL) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(source) => Err(SandboxError::Signal { pgid, source }),
    }
}

/// Blocks until the child process `pid` has exited, but leaves it unreaped (a zombie), so that
/// its pid and process group id stay reserved until the caller reaps it. Blocking: call it from
/// a blocking thread.
pub fn wait_for_exit_without_reaping(pid: u32) -> Result<(), SandboxError> {
    let target = to_pid(pid)?;
    loop {
        match waitid(Id::Pid(target), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(source) => return Err(SandboxError::Wait { pid, source }),
        }
    }
}

/// The name of a signal number, such as `SIGKILL`, for messages about how a process ended.
pub fn signal_name(signal: i32) -> String {
    match Signal::try_from(signal) {
        Ok(known) => known.as_str().to_owned(),
        Err(_) => format!("signal {signal}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::group_members;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::Command;

    #[test]
    fn kills_the_whole_group_and_the_leader_stays_reapable() {
        // The shell starts a grandchild in the same group, then waits on it.
        let mut child = Command::new("/bin/sh")
            .args(["-c", "sleep 1000 & wait"])
            .process_group(0)
            .spawn()
            .expect("spawn sh");
        let pgid = child.id();
        wait_until(|| group_members(pgid).iter().any(|(_, comm)| comm == "sleep"));
        kill_process_group(pgid).expect("killpg");
        wait_for_exit_without_reaping(pgid).expect("waitid");
        // The grandchild was reached too (it may linger as a zombie until init reaps it).
        wait_until(|| group_members(pgid).is_empty());
        // Still unreaped: a second kill is harmless and the status is still ours to collect.
        kill_process_group(pgid).expect("second killpg");
        let status = child.wait().expect("reap");
        assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
    }

    fn wait_until(mut done: impl FnMut() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("condition not reached within 5 s");
    }

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(1000), "signal 1000");
    }

    #[test]
    fn rejects_pids_that_would_mean_something_else() {
        // 0 would mean "my own group" to killpg, and large values wrap to negative pids.
        assert!(matches!(
            kill_process_group(0),
            Err(SandboxError::InvalidPid(0))
        ));
        assert!(matches!(
            kill_process_group(u32::MAX),
            Err(SandboxError::InvalidPid(_))
        ));
    }
}
