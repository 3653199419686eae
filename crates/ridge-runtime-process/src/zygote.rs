//! A runtime's zygote: one interpreter per runtime, already past its start and the worker
//! program's imports, that forks each new worker into a sandbox bubblewrap made for it
//! (SOCK's zygotes; the Python side is `worker-programs/python3/zygote.py`).
//!
//! An interpreter's start was most of a Python cold start's CPU (6.2 ms of `python3 -I -S -B`
//! on the benchmark machine, docs/benchmarks.md "2026-12-07 (9)"). With a zygote, a worker's start
//! is bubblewrap making the sandbox exactly as before (namespaces, mounts, seccomp, cgroups,
//! uid) around the drop helper waiting as its process 1 (`--await-worker`), and a fork:
//!
//! 1. the server spawns bubblewrap ([`Starter::spawn`]) with one end of a socket pair as the
//!    waiting helper's; the helper writes a byte once the sandbox is made, and the server
//!    learns its host pid from that message's credentials ([`hand_off`]);
//! 2. the server sends the zygote that pid, bubblewrap's, the worker's uid, gid, rlimits,
//!    environment, and its descriptors (the protocol's pipes, the output pipe, the other end
//!    of the socket pair, its `cgroup.procs`);
//! 3. the zygote checks the pid is still the sandbox's process 1 (a child of that
//!    bubblewrap) and forks the worker into the sandbox's PID namespace; the worker joins the
//!    cgroups, enters the sandbox's other namespaces, drops every privilege, applies the
//!    seccomp programs, tells the helper its pid and goes on as any worker;
//! 4. the zygote reaps the worker when it ends and sends its wait status to the helper, which
//!    exits with it (the kernel reaps the sandbox's other processes meanwhile), so to the
//!    server the worker is bubblewrap's process as before: its end, its kill (process group,
//!    cgroup) and its exit status are unchanged. A worker that outlives its zygote serves on;
//!    the helper then waits for its end through a pidfd and exits with 124.
//!
//! The worker is forked once, straight into the sandbox: an intermediate child that forked it
//! and exited, so that the helper adopted it, cost a fork and the exit of a copy of the
//! zygote's page tables, with its own copy-on-write faults: about 1.3 ms of a cold start's
//! 13.7 ms of CPU (docs/benchmarks.md (18)).
//!
//! A runtime's check starts its zygote and waits for it (at most 5 s), so that its workers are
//! forked from the first; a spawn that finds none (still starting, or dead) starts one in the
//! background and its worker the old way. One that cannot start (an interpreter without
//! `socket.recv_fds`, a kernel without `setns` through a pidfd) or dies within a minute of its
//! start is not tried again, and says why once in the log; one that dies later is replaced.
//! Only where [`Sandbox::zygote_ready`].

use std::ffi::OsString;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    UnixCredentials, recvmsg, sendmsg, setsockopt, socketpair, sockopt,
};
use ridge_sandbox::{Sandbox, WorkerProcess, ZygoteEntry};

use crate::spawn::memfd;
use tokio::io::Interest;

/// How long a zygote may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// A zygote that dies sooner than this after its start is not started again.
const STEADY: Duration = Duration::from_secs(60);
/// The largest request: a worker's environment is small.
const MAX_REQUEST: usize = 64 * 1024;

/// What starting a zygote needs, gathered by the caller (the interpreter, its bootstrap
/// arguments, the worker program's code, the environment every worker starts with).
pub(crate) struct ZygoteSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub code: Vec<u8>,
    pub env: Vec<(String, String)>,
}

enum State {
    /// None yet, or the last one died: the next spawn starts one.
    Idle,
    Starting,
    Ready(Arc<Zygote>),
    /// It could not start, or died young: why. Not tried again.
    Failed(String),
}

/// A runtime's zygote, started on demand.
pub(crate) struct Zygotes {
    state: Mutex<State>,
}

pub(crate) struct Zygote {
    started: Instant,
    process: Mutex<WorkerProcess>,
    /// The server's end of the zygote's `SOCK_SEQPACKET` pair, non-blocking.
    control: OwnedFd,
}

impl Zygotes {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::Idle),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The running zygote; `None` while there is none, after starting one in the background
    /// (`spec` is called only then).
    pub(crate) fn get(
        self: &Arc<Self>,
        sandbox: &Arc<Sandbox>,
        spec: impl FnOnce() -> Option<ZygoteSpec>,
    ) -> Option<Arc<Zygote>> {
        let mut state = self.state();
        match &*state {
            State::Ready(zygote) if zygote.is_running() => return Some(zygote.clone()),
            State::Ready(zygote) if zygote.started.elapsed() < STEADY => {
                let why = format!(
                    "the zygote died {:.1} s after it started",
                    zygote.started.elapsed().as_secs_f64()
                );
                tracing::warn!(%why, "Python workers start their own interpreter from now on");
                *state = State::Failed(why);
                return None;
            }
            State::Ready(_) => tracing::warn!("the zygote died; starting another"),
            State::Idle => {}
            State::Starting | State::Failed(_) => return None,
        }
        *state = State::Idle;
        if sandbox.zygote_ready().is_err() || tokio::runtime::Handle::try_current().is_err() {
            return None;
        }
        let spec = spec()?;
        *state = State::Starting;
        let (zygotes, sandbox) = (self.clone(), sandbox.clone());
        tokio::spawn(async move {
            let started = start(&sandbox, spec).await;
            let mut state = zygotes.state();
            *state = match started {
                Ok(zygote) => {
                    tracing::info!("the zygote is ready: Python workers are forked from it");
                    State::Ready(Arc::new(zygote))
                }
                Err(why) => {
                    tracing::warn!(%why, "no zygote: Python workers start their own interpreter");
                    State::Failed(why)
                }
            };
        });
        None
    }
}

impl Zygotes {
    /// What `GET /v1/runtimes/{id}/pool` says of it ([`ridge_runtime::Prestarted::zygote`]).
    pub(crate) fn status(&self) -> String {
        match &*self.state() {
            State::Idle => "not started yet: it starts with the next worker".to_owned(),
            State::Starting => "starting".to_owned(),
            State::Ready(zygote) if zygote.is_running() => "ready".to_owned(),
            State::Ready(_) => "died: another starts with the next worker".to_owned(),
            State::Failed(why) => format!("unavailable: {why}"),
        }
    }

    /// Starts the zygote if none runs, and waits until it is ready or cannot be, for at most
    /// `wait`: a runtime's check, so that its first workers are forked too.
    pub(crate) async fn warm(
        self: &Arc<Self>,
        sandbox: &Arc<Sandbox>,
        spec: impl FnOnce() -> Option<ZygoteSpec>,
        wait: Duration,
    ) {
        self.get(sandbox, spec);
        let deadline = Instant::now() + wait;
        while matches!(*self.state(), State::Starting) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Zygote {
    fn is_running(&self) -> bool {
        let mut process = self.process.lock().unwrap_or_else(PoisonError::into_inner);
        matches!(process.try_wait(), Ok(None))
    }

    /// Sends one request: `json` and `fds`, in one message.
    fn send(&self, json: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
        if json.len() > MAX_REQUEST {
            return Err(std::io::Error::other("the request is too large"));
        }
        let iov = [IoSlice::new(json)];
        let rights = [ControlMessage::ScmRights(fds)];
        sendmsg::<()>(
            self.control.as_raw_fd(),
            &iov,
            &rights,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        Ok(())
    }
}

/// Starts a zygote and waits until it says it is ready.
async fn start(sandbox: &Sandbox, spec: ZygoteSpec) -> Result<Zygote, String> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| format!("socketpair: {e}"))?;
    let mut programs = Vec::new();
    for program in sandbox.seccomp_programs()? {
        let size = u32::try_from(program.len()).map_err(|_| "a huge seccomp program")?;
        programs.extend(size.to_le_bytes());
        programs.extend(program);
    }
    let seccomp = memfd(c"ridge-zygote-seccomp", &programs)
        .map_err(|e| format!("cannot pass the seccomp programs: {e}"))?;
    let code = memfd(c"ridge-zygote-code", &spec.code)
        .map_err(|e| format!("cannot pass the worker program: {e}"))?;
    let (theirs_fd, seccomp_fd, code_fd) = (
        theirs.as_raw_fd().to_string(),
        seccomp.as_raw_fd().to_string(),
        code.as_raw_fd().to_string(),
    );
    let mut env: Vec<(&str, &str)> = spec
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.extend([
        ("RIDGE_ZYGOTE", theirs_fd.as_str()),
        ("RIDGE_ZYGOTE_SECCOMP", seccomp_fd.as_str()),
        (crate::launch::CODE_VAR, code_fd.as_str()),
    ]);
    let keep = [theirs.as_raw_fd(), seccomp.as_raw_fd(), code.as_raw_fd()];
    let command = sandbox
        .zygote_command(&spec.program, &spec.args, &env, &keep)
        .map_err(|e| e.to_string())?;
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
    let stderr = std::io::stderr().as_raw_fd();
    let process = command
        .spawn([null.as_raw_fd(), null.as_raw_fd(), stderr])
        .map_err(|e| format!("cannot start the zygote: {e}"))?;
    drop((theirs, seccomp, code));
    let (ours, ready) = tokio::task::spawn_blocking(move || {
        let ready = wait_ready(&ours);
        (ours, ready)
    })
    .await
    .map_err(|e| format!("cannot wait for the zygote: {e}"))?;
    ready?;
    // Requests never wait on a zygote that stopped reading: they fail instead.
    fcntl(&ours, FcntlArg::F_SETFL(OFlag::O_NONBLOCK)).map_err(|e| format!("fcntl: {e}"))?;
    Ok(Zygote {
        started: Instant::now(),
        process: Mutex::new(process),
        control: ours,
    })
}

/// Waits, on a blocking thread, for the zygote's `ready`.
fn wait_ready(control: &OwnedFd) -> Result<(), String> {
    let timeout = u16::try_from(READY_TIMEOUT.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(control.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(timeout)) {
        Ok(0) => return Err(format!("the zygote was not ready within {READY_TIMEOUT:?}")),
        Ok(_) => {}
        Err(e) => return Err(format!("cannot wait for the zygote: {e}")),
    }
    let mut buf = [0u8; 16];
    match nix::unistd::read(control, &mut buf) {
        Ok(n) if buf[..n] == *b"ready" => Ok(()),
        Ok(_) => {
            Err("the zygote ended as it started (its error is in the server's log)".to_owned())
        }
        Err(e) => Err(format!("cannot read from the zygote: {e}")),
    }
}

/// The two ends of the socket between the server and a zygote's sandbox's waiting helper:
/// `(server's, helper's)`. The server's receives credentials, and is non-blocking.
pub(crate) fn await_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (ours, theirs) = socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    setsockopt(&ours, sockopt::PassCred, &true)?;
    fcntl(&ours, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
    Ok((ours, theirs))
}

/// The zygote's last argument: its name, with room after it for each worker's, which the worker
/// writes there so that `ps` shows it as a freshly started worker's command line.
pub(crate) const TITLE: &str = "ridge-zygote                                                    ";

/// What the zygote is sent for one worker, besides the sandbox's pid.
pub(crate) struct Request {
    /// The worker's name, shown as its command line's last argument.
    pub name: String,
    /// bubblewrap's pid: the sandbox's process 1 is its child.
    pub parent: u32,
    pub entry: ZygoteEntry,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    /// The worker's ends of the protocol's pipes, and its output pipe.
    pub worker_in: OwnedFd,
    pub worker_out: OwnedFd,
    pub output: OwnedFd,
}

/// Waits for the sandbox's helper to say the sandbox is made, then has `zygote` fork the
/// worker into it. On any failure the descriptors close, the helper exits for want of a
/// worker, and the server sees the worker's start fail.
pub(crate) async fn hand_off(
    zygote: Arc<Zygote>,
    await_fd: OwnedFd,
    request: Request,
) -> Result<(), String> {
    let watched = tokio::net::UnixStream::from_std(std::os::unix::net::UnixStream::from(await_fd))
        .map_err(|e| format!("cannot watch the sandbox: {e}"))?;
    let pid = loop {
        watched
            .readable()
            .await
            .map_err(|e| format!("cannot watch the sandbox: {e}"))?;
        match watched.try_io(Interest::READABLE, || sender_pid(watched.as_raw_fd())) {
            Ok(pid) => break pid,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(format!("cannot hear from the sandbox: {e}")),
        }
    };
    let Some(pid) = pid else {
        return Err("the sandbox ended before it was made".to_owned());
    };
    let json = serde_json::json!({
        "pid": pid,
        "name": request.name,
        "parent": request.parent,
        "uid": request.entry.uid,
        "gid": request.entry.gid,
        "rlimits": request.entry.rlimits.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
        "env": request.env,
        "cwd": request.cwd,
        "cgroups": request.entry.cgroup_procs.len(),
    });
    let await_fd = OwnedFd::from(
        watched
            .into_std()
            .map_err(|e| format!("cannot hand the sandbox's socket on: {e}"))?,
    );
    let mut fds = vec![
        request.worker_in.as_raw_fd(),
        request.worker_out.as_raw_fd(),
        request.output.as_raw_fd(),
        await_fd.as_raw_fd(),
    ];
    fds.extend(request.entry.cgroup_procs.iter().map(AsRawFd::as_raw_fd));
    zygote
        .send(json.to_string().as_bytes(), &fds)
        .map_err(|e| format!("cannot ask the zygote for the worker: {e}"))
}

/// Reads the helper's one byte; the host pid of its sender, or `None` at end of file.
fn sender_pid(fd: RawFd) -> std::io::Result<Option<i32>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!(UnixCredentials);
    let message = recvmsg::<()>(fd, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    if message.bytes == 0 {
        return Ok(None);
    }
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmCredentials(credentials) = cmsg {
            return Ok(Some(credentials.pid()));
        }
    }
    Err(std::io::Error::other("the message has no credentials"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The helper's one byte names its sender: here, this process.
    #[test]
    fn the_sandbox_is_heard_with_its_pid_and_its_end_with_none() {
        let (ours, theirs) = await_pair().expect("a socket pair");
        assert_eq!(
            sender_pid(ours.as_raw_fd())
                .expect_err("nothing yet")
                .kind(),
            std::io::ErrorKind::WouldBlock
        );
        nix::unistd::write(&theirs, b"r").expect("write");
        let me = i32::try_from(std::process::id()).expect("a pid");
        assert_eq!(sender_pid(ours.as_raw_fd()).expect("read"), Some(me));
        drop(theirs);
        assert_eq!(sender_pid(ours.as_raw_fd()).expect("read"), None);
    }

    /// Room for the longest worker name: `python3-<8>-v<u32>-<u64>`.
    #[test]
    fn the_title_holds_any_worker_name() {
        let longest = format!("python3-{}-v{}-{}", "f".repeat(8), u32::MAX, u64::MAX);
        assert!(
            TITLE.len() >= longest.len(),
            "{} < {}",
            TITLE.len(),
            longest.len()
        );
        assert!(TITLE.starts_with("ridge-zygote"));
    }
}
