//! A worker's process, as its parent holds it: waited for through a pidfd, killed and reaped
//! when dropped.
//!
//! Tokio's `Child` only holds processes Tokio spawned; a worker is spawned by `jail/spawn.rs`.
//! While the process is not reaped its pid cannot be reused, so signalling it by pid is safe;
//! [`WorkerProcess::id`] is `None` once it is reaped.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use nix::libc;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A child process of the server's.
#[derive(Debug)]
pub struct WorkerProcess {
    pid: libc::pid_t,
    /// Readable once the process has ended. `None` on a kernel without `pidfd_open` (before
    /// 5.3) or outside a Tokio runtime: then waiting blocks a blocking thread.
    pidfd: Option<AsyncFd<OwnedFd>>,
    status: Option<ExitStatus>,
}

impl WorkerProcess {
    /// Takes charge of the unreaped child `pid`.
    pub(crate) fn new(pid: libc::pid_t) -> Self {
        Self {
            pid,
            pidfd: pidfd_open(pid).and_then(|fd| {
                tokio::runtime::Handle::try_current().ok()?;
                // SAFETY: an `OwnedFd` holds its descriptor open, unchanged, until it is
                // dropped with the `AsyncFd`.
                unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok()
            }),
            status: None,
        }
    }

    /// The pid, until the process is reaped.
    pub fn id(&self) -> Option<u32> {
        match self.status {
            None => u32::try_from(self.pid).ok(),
            Some(_) => None,
        }
    }

    /// Reaps the process if it has ended.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.reap(libc::WNOHANG)
    }

    /// Waits until the process ends, and reaps it.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
                Some(fd) => {
                    let mut ready = fd.readable().await?;
                    // Readable for good once the process has ended: reaped above next time.
                    ready.clear_ready();
                }
                None => {
                    let pid = self.pid;
                    let status = tokio::task::spawn_blocking(move || blocking_reap(pid))
                        .await
                        .map_err(io::Error::other)??;
                    self.status = Some(status);
                    return Ok(status);
                }
            }
        }
    }

    /// Waits until the process ends, blocking this thread, and reaps it.
    pub fn wait_blocking(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = blocking_reap(self.pid)?;
        self.status = Some(status);
        Ok(status)
    }

    /// Sends SIGKILL, unless the process is reaped.
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // SAFETY: kill(2) with integer arguments, on a child that is not reaped (its pid is
        // still its own).
        if unsafe { libc::kill(self.pid, libc::SIGKILL) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn reap(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = waitpid(self.pid, flags)?;
        }
        Ok(self.status)
    }
}

impl Drop for WorkerProcess {
    /// Kills the process and reaps it, in the background if it has not ended yet.
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        let _ = self.start_kill();
        if let Ok(Some(_)) = self.try_wait() {
            return;
        }
        let pid = self.pid;
        // Reaped by someone else from here on.
        self.status = Some(ExitStatus::from_raw(0));
        let pidfd = self.pidfd.take();
        match (pidfd, tokio::runtime::Handle::try_current()) {
            (Some(pidfd), Ok(runtime)) => {
                runtime.spawn(async move {
                    let _ = pidfd.readable().await;
                    // Dropped unfinished (the runtime shutting down): killed, so soon reaped.
                    let _ = blocking_reap(pid);
                });
            }
            _ => {
                let _ = std::thread::Builder::new()
                    .name("ridge-reap".to_owned())
                    .spawn(move || blocking_reap(pid));
            }
        }
    }
}

/// Reaps the child `pid` if it has ended (with `WNOHANG` in `flags`), or once it ends.
fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
    let mut raw = 0;
    loop {
        // SAFETY: waitpid(2) on this process's own child, into a local integer.
        let rc = unsafe { libc::waitpid(pid, &mut raw, flags) };
        if rc == pid {
            return Ok(Some(ExitStatus::from_raw(raw)));
        }
        if rc == 0 {
            return Ok(None);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits for the child `pid` to end, blocking, and reaps it.
fn blocking_reap(pid: libc::pid_t) -> io::Result<ExitStatus> {
    waitpid(pid, 0)?.ok_or_else(|| io::Error::other("waitpid without WNOHANG returned no child"))
}

/// Whether this kernel has `pidfd_open` (Linux 5.3), learnt once.
pub(crate) fn pidfds_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| pidfd_open(std::process::id().cast_signed()).is_some())
}

/// Sends SIGKILL through `pidfd`: to the process it was opened on, never to another that took
/// its pid since. An error if it has ended already.
pub(crate) fn pidfd_kill(pidfd: &OwnedFd) -> io::Result<()> {
    // SAFETY: pidfd_send_signal(2) on an open pidfd, with no siginfo (a null pointer).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A pidfd of `pid` (close-on-exec), if the kernel has `pidfd_open` and the process exists.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) with integer arguments; a non-negative result is a new descriptor
    // owned by nothing else.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: as above.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}
