//! A worker process: spawning, the start handshake, one execution at a time, and its end.
//!
//! Runtime-neutral: [`crate::ProcessAdapter`] builds the command and the init frame; anything
//! that speaks [the protocol](crate::protocol) can run here.
//!
//! The descriptors a worker starts with (see docs/runtime-protocol.md): fd 0 reads `/dev/null`;
//! fds 1 and 2 are the write end of the output pipe ([`Capture`]), so everything the worker and
//! its children print is captured at the descriptor level without the worker's help; the frames
//! travel on two pipes whose numbers are in `RIDGE_FD_IN` and `RIDGE_FD_OUT`, and every reply
//! is checked by the worker's [`Exchange`].

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::ExecutionId;
use ridge_core::execution_log::{LogEnd, frame};
use ridge_runtime::{Invocation, InvocationOutcome, StartError, Worker, WorkerError};
use std::path::Path;

use ridge_sandbox::{Jail, PackageSlot, WorkerCommand, WorkerProcess};
use tokio::io::BufReader;
use tokio::net::unix::pipe;

use crate::capture::{Capture, Captured, with_traceback};
use crate::exchange::{Exchange, Received};
use crate::exit::{End, SIGKILL, describe_exit};
use crate::frame::{FrameError, write_frame};
use crate::protocol::{Caps, Reply, Request, WireInput};
use crate::throttle::ThrottleWatch;

/// How long a worker that closed its protocol pipe gets to finish exiting before Ridge kills it.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// Output outside executions (while loading, between calls) shown in the server log, at most.
const STRAY_OUTPUT_LOGGED: usize = 4096;
/// The end of the captured output quoted to explain a failed start, at most.
const START_OUTPUT_QUOTED: usize = 2048;
/// The buffer of a worker's reply pipe: a whole small reply in one read. A larger frame's body
/// is read straight into its own allocation, past the buffer. Small, because each live worker
/// keeps it (zeroed, so resident) in the server.
const REPLY_BUFFER: usize = 8 * 1024;
/// The environment variables naming the worker's frame descriptors.
pub(crate) const FD_IN_VAR: &str = "RIDGE_FD_IN";
pub(crate) const FD_OUT_VAR: &str = "RIDGE_FD_OUT";

/// The two pipes of the protocol. The worker's ends are inherited at their numbers (given in
/// [`FD_IN_VAR`] and [`FD_OUT_VAR`]); Ridge's ends stay close-on-exec.
pub(crate) struct Channel {
    /// The worker reads frames from here.
    worker_in: OwnedFd,
    /// The worker writes frames here.
    worker_out: OwnedFd,
    to_worker: OwnedFd,
    from_worker: OwnedFd,
}

impl Channel {
    pub(crate) fn new() -> std::io::Result<Self> {
        let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
        let (worker_in, to_worker) = nix::unistd::pipe2(cloexec)?;
        let (from_worker, worker_out) = nix::unistd::pipe2(cloexec)?;
        Ok(Self {
            worker_in,
            worker_out,
            to_worker,
            from_worker,
        })
    }

    /// The descriptors the worker must inherit.
    pub(crate) fn worker_fds(&self) -> [RawFd; 2] {
        [self.worker_in.as_raw_fd(), self.worker_out.as_raw_fd()]
    }

    /// Copies of the worker's ends (close-on-exec), for a zygote to hand its worker.
    pub(crate) fn copy_worker_fds(&self) -> std::io::Result<(OwnedFd, OwnedFd)> {
        Ok((self.worker_in.try_clone()?, self.worker_out.try_clone()?))
    }

    /// The variables that tell the worker its descriptors.
    pub(crate) fn env(&self) -> [(&'static str, String); 2] {
        [
            (FD_IN_VAR, self.worker_in.as_raw_fd().to_string()),
            (FD_OUT_VAR, self.worker_out.as_raw_fd().to_string()),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Loaded, waiting for a call.
    Idle,
    /// A call is in flight, or was abandoned midway: unusable until killed.
    Busy,
    /// Dead or killed.
    Gone,
}

pub(crate) struct ProcessWorker {
    name: String,
    child: WorkerProcess,
    stdin: pipe::Sender,
    stdout: BufReader<pipe::Receiver>,
    /// What the worker prints.
    capture: Capture,
    /// Which reply Ridge waits for, and the caps every reply is checked against.
    exchange: Exchange,
    state: State,
    /// The worker's sandbox: its cgroups (limits, whole-tree kill, OOM report).
    jail: Jail,
    /// A pre-started worker's package slot, unmounted after the worker is gone.
    slot: Option<PackageSlot>,
    /// Whether its CPU quota held it back since the engine last asked.
    throttle: ThrottleWatch,
}

impl ProcessWorker {
    /// Spawns `command` as the leader of a new process group, with `/dev/null` as fd 0, the
    /// write end of `capture`'s pipe (`output`) as fds 1 and 2, and the worker's ends of
    /// `channel` (which `command` must keep open). The caller has set the program, arguments,
    /// environment and working directory, through `jail`'s sandbox.
    pub(crate) fn spawn(
        name: String,
        command: &WorkerCommand,
        mut jail: Jail,
        channel: Channel,
        (capture, output): (Capture, OwnedFd),
        caps: Caps,
    ) -> Result<Self, StartError> {
        let spawned = std::fs::File::open("/dev/null").and_then(|null| {
            let out = output.as_raw_fd();
            command.spawn([null.as_raw_fd(), out, out])
        });
        jail.spawned();
        // The worker has its own copies: once they are closed, the capture reads to the end.
        drop(output);
        let Channel {
            worker_in,
            worker_out,
            to_worker,
            from_worker,
        } = channel;
        // The worker has its own copies now; ours would hide its end of the pipes.
        drop((worker_in, worker_out));
        let child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = remove_cgroup(&mut jail);
                return Err(StartError::Spawn {
                    detail: format!("cannot spawn worker `{name}`: {e}"),
                    source: Some(e),
                });
            }
        };
        let pipes = pipe::Sender::from_owned_fd(to_worker)
            .and_then(|tx| Ok((tx, pipe::Receiver::from_owned_fd(from_worker)?)));
        let (stdin, stdout) = pipes.map_err(|e| StartError::Spawn {
            // Dropping `child` kills and reaps it.
            detail: format!("cannot use the pipes of worker `{name}`: {e}"),
            source: Some(e),
        })?;
        tracing::debug!(worker = %name, pid = child.id(), "worker spawned");
        Ok(Self {
            name,
            child,
            stdin,
            stdout: BufReader::with_capacity(REPLY_BUFFER, stdout),
            capture,
            exchange: Exchange::new(caps),
            state: State::Busy,
            jail,
            slot: None,
            throttle: ThrottleWatch::default(),
        })
    }

    /// Keeps a pre-started worker's package slot for as long as the worker lives.
    pub(crate) fn hold_slot(&mut self, slot: PackageSlot) {
        self.slot = Some(slot);
    }

    /// Shows `package_dir` to a pre-started worker: in its slot, or (a plain process, the
    /// sandbox off) by telling it the path.
    pub(crate) fn fill_slot(&mut self, package_dir: &Path) -> std::io::Result<()> {
        match &mut self.slot {
            Some(slot) => slot.fill(package_dir),
            None if self.jail.is_plain() => self.jail.show_package_at(package_dir),
            None => Err(std::io::Error::other("the worker has no package slot")),
        }
    }

    pub(crate) fn jail_mut(&mut self) -> &mut Jail {
        &mut self.jail
    }

    /// Where the worker sees its package.
    pub(crate) fn package_path(&self) -> &Path {
        self.jail.package_path()
    }

    /// A pre-started worker takes the name of the worker it becomes.
    pub(crate) fn rename(&mut self, name: String) {
        self.name = name;
    }

    /// Sets the caps of the function the worker is about to load.
    pub(crate) fn set_caps(&mut self, caps: Caps) {
        self.capture.set_cap(caps.log);
        self.exchange.set_caps(caps);
    }

    /// Waits for a pre-started worker's `waiting` frame: it is past its start-up and blocked
    /// reading its init frame.
    pub(crate) async fn wait_started(&mut self, timeout: Duration) -> Result<(), StartError> {
        let read = crate::frame::read_body(&mut self.stdout, 1024);
        match tokio::time::timeout(timeout, read).await {
            Ok(Ok(Some(body))) => match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(frame) if frame["type"] == "waiting" => Ok(()),
                _ => Err(self.spawn_error(format!(
                    "unexpected frame from a pre-started worker: {}",
                    String::from_utf8_lossy(&body)
                ))),
            },
            Ok(Ok(None)) => {
                let how = self.end().await;
                Err(self.spawn_error(format!("the pre-started worker exited: {how}")))
            }
            Ok(Err(e)) => {
                Err(self.spawn_error(format!("the pre-started worker broke the protocol: {e}")))
            }
            Err(_) => Err(self.spawn_error(format!(
                "the pre-started worker did not start within {} s",
                timeout.as_secs_f64()
            ))),
        }
    }

    /// Whether the process is still running (a pre-started worker may have died idle).
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The id the init frame must carry.
    pub(crate) fn init_id(&self) -> &crate::protocol::Nonce {
        self.exchange.current()
    }

    /// Sends the init frame and waits until the function is loaded.
    pub(crate) async fn handshake(
        &mut self,
        init: &Request<'_>,
        load_timeout: Duration,
    ) -> Result<(), StartError> {
        let mut loading = false;
        let result = tokio::time::timeout(load_timeout, self.load(init, &mut loading)).await;
        match result {
            Ok(Ok(())) => {
                if let Err(e) = self.jail.finish_startup() {
                    self.kill().await;
                    return Err(self.spawn_error(format!(
                        "cannot lower the worker's CPU quota to the function's after loading: {e}"
                    )));
                }
                self.state = State::Idle;
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.kill().await;
                let secs = load_timeout.as_secs_f64();
                if loading {
                    Err(StartError::Load {
                        message: format!("loading the function took longer than {secs} s"),
                        logs: self.take_capture().render(),
                    })
                } else {
                    Err(self.spawn_error(format!("the worker did not start within {secs} s")))
                }
            }
        }
    }

    async fn load(&mut self, init: &Request<'_>, loading: &mut bool) -> Result<(), StartError> {
        let sent = write_frame(&mut self.stdin, init).await;
        let caps = self.exchange.caps();
        loop {
            let received = match &sent {
                Ok(()) => self.exchange.receive(&mut self.stdout).await,
                Err(_) => Received::Closed,
            };
            match received {
                Received::Reply(Reply::Loading) if !*loading => *loading = true,
                Received::Reply(Reply::Ready { runtime }) if *loading => {
                    self.log_stray_output("while loading the function");
                    let runtime = runtime.unwrap_or_default();
                    tracing::debug!(worker = %self.name, %runtime, ids = self.exchange.checks_ids(), "worker ready");
                    return Ok(());
                }
                Received::Reply(Reply::LoadError { message, traceback }) if *loading => {
                    let logs = with_traceback(self.take_capture(), &traceback);
                    self.kill().await;
                    return Err(StartError::Load {
                        message: caps.cut_message(message),
                        logs,
                    });
                }
                Received::Reply(Reply::Fatal { message }) => {
                    self.kill().await;
                    return Err(self.spawn_error(caps.cut_message(message)));
                }
                Received::Reply(other) => {
                    self.kill().await;
                    return Err(self.spawn_error(format!(
                        "unexpected `{}` frame while starting",
                        other.kind()
                    )));
                }
                Received::Closed => {
                    let how = self.end().await;
                    return Err(if *loading {
                        StartError::Load {
                            message: format!("the worker exited while loading the function: {how}"),
                            logs: self.take_capture().render(),
                        }
                    } else {
                        self.spawn_error(format!("the worker exited during setup: {how}"))
                    });
                }
                Received::Tampered(why) if *loading => {
                    self.kill().await;
                    return Err(StartError::Load {
                        message: tampered_message(&why),
                        logs: self.take_capture().render(),
                    });
                }
                Received::TooLarge { len, .. } if *loading => {
                    self.kill().await;
                    return Err(StartError::Load {
                        message: format!(
                            "the worker's reply while loading the function is {len} bytes, over the limit of {} bytes",
                            caps.reply_frame()
                        ),
                        logs: self.take_capture().render(),
                    });
                }
                Received::Tampered(why) => {
                    self.kill().await;
                    return Err(self.spawn_error(format!("the worker broke the protocol: {why}")));
                }
                Received::TooLarge { len, .. } => {
                    self.kill().await;
                    return Err(self.spawn_error(format!(
                        "the worker broke the protocol: a frame of {len} bytes while starting"
                    )));
                }
                Received::Invalid(e) => {
                    self.kill().await;
                    return Err(self.spawn_error(format!("the worker broke the protocol: {e}")));
                }
            }
        }
    }

    fn take_capture(&self) -> Captured {
        self.capture.take()
    }

    /// Output the worker printed outside an execution goes to the server's debug log, never
    /// into an execution's log.
    fn log_stray_output(&self, when: &str) {
        let output = self.take_capture();
        if !output.text.is_empty() {
            let shown: String = output.text.chars().take(STRAY_OUTPUT_LOGGED).collect();
            tracing::debug!(worker = %self.name, output = %shown, "output {when}");
        }
    }

    /// A start failure that is the platform's, quoting the end of what the worker (or the
    /// sandbox, whose errors go to the same descriptors) printed.
    fn spawn_error(&self, detail: String) -> StartError {
        let printed = self.take_capture().text;
        let printed = printed.trim();
        let cut = printed
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| printed.len() - i <= START_OUTPUT_QUOTED)
            .unwrap_or(printed.len());
        let tail = &printed[cut..];
        let detail = if tail.is_empty() {
            detail
        } else {
            format!("{detail}; output: {tail}")
        };
        StartError::Spawn {
            detail,
            source: None,
        }
    }

    /// After the protocol pipe closed: waits briefly for the worker to exit by itself, kills
    /// what is left of its process group, and reaps it.
    async fn end(&mut self) -> End {
        self.state = State::Gone;
        let Some(pid) = self.child.id() else {
            return End::Unknown("already reaped".to_owned());
        };
        let wait =
            tokio::task::spawn_blocking(move || ridge_sandbox::wait_for_exit_without_reaping(pid));
        let exited_by_itself =
            matches!(tokio::time::timeout(EXIT_GRACE, wait).await, Ok(Ok(Ok(()))));
        // Leftovers die with the leader's group and cgroup.
        self.kill_tree().await;
        match self.child.wait().await {
            Ok(status) if exited_by_itself => End::Exited(status),
            Ok(_) => End::KilledHung,
            Err(e) => End::Unknown(e.to_string()),
        }
    }

    /// Kills everything the worker started: its process group (the leader itself if the
    /// group could not be signalled) and its cgroup, which also holds processes that left the
    /// group. Does not reap. Returns `false`, killing nothing, once the leader has been
    /// reaped: then nothing is left, and the group id may already belong to someone else.
    async fn kill_tree(&mut self) -> bool {
        if !self.kill_group() {
            return false;
        }
        if let Some(cgroup) = self.jail.kill_handle() {
            // Freezing and signalling a tree of many processes blocks for a while: never on
            // the server's async threads, where it would hold up every other execution's
            // timeout.
            let _ = tokio::task::spawn_blocking(move || cgroup.kill()).await;
        }
        true
    }

    /// Signals the worker's process group (one system call); `false` once the leader has
    /// been reaped.
    fn kill_group(&mut self) -> bool {
        let Some(pid) = self.child.id() else {
            return false;
        };
        if let Err(e) = ridge_sandbox::kill_process_group(pid) {
            tracing::warn!(worker = %self.name, error = %e, "cannot kill the worker's process group");
            let _ = self.child.start_kill();
        }
        true
    }

    /// Removes the worker's cgroups once its processes have left them.
    async fn release_cgroup(&mut self) {
        if let Some(cleanup) = remove_cgroup(&mut self.jail) {
            let _ = cleanup.await;
        }
    }

    /// The worker died (or hung up) during an execution.
    async fn failed_during(&mut self, id: ExecutionId) -> WorkerError {
        let end = self.end().await;
        // Read before the cgroup goes.
        let oom = self.jail.oom_killed();
        self.release_cgroup().await;
        let logs = frame(id, &[&self.take_capture().render()], LogEnd::CutShort);
        match end {
            End::Exited(status) => {
                let (detail, sigkill) = match (status.signal(), self.jail.exit_signal(status)) {
                    // bubblewrap reports its program's signal as an exit code.
                    (None, Some(signal)) => (
                        format!("killed by {}", ridge_sandbox::signal_name(signal)),
                        signal == SIGKILL,
                    ),
                    _ => describe_exit(status),
                };
                let detail = if oom {
                    format!("{detail}; the memory limit was exceeded")
                } else {
                    detail
                };
                WorkerError::Exited {
                    detail,
                    // Ridge sent no signal before the worker had exited: the OOM killer did, or
                    // someone outside.
                    killed: sigkill || oom,
                    logs,
                }
            }
            End::KilledHung => WorkerError::Protocol {
                detail: "the worker closed its protocol pipe but kept running; it was killed"
                    .to_owned(),
            },
            End::Unknown(detail) => WorkerError::Exited {
                detail,
                killed: false,
                logs,
            },
        }
    }

    async fn call(&mut self, invocation: &Invocation) -> Result<InvocationOutcome, WorkerError> {
        let id = invocation.execution_id;
        self.log_stray_output("between executions");
        let request = Request::Invoke {
            id: self.exchange.next(),
            execution_id: id,
            input: invocation.input.as_ref().map(WireInput::from),
        };
        let received = match write_frame(&mut self.stdin, &request).await {
            Ok(()) => self.exchange.receive(&mut self.stdout).await,
            Err(FrameError::Io(_)) => Received::Closed,
            Err(e) => Received::Invalid(e),
        };
        let caps = self.exchange.caps();
        match received {
            Received::Reply(Reply::Returned { output }) => {
                self.state = State::Idle;
                let logs = frame(id, &[&self.take_capture().render()], LogEnd::Finished);
                Ok(InvocationOutcome {
                    output: Ok(output),
                    logs,
                })
            }
            Received::Reply(Reply::Raised { message, traceback }) => {
                self.state = State::Idle;
                let output = with_traceback(self.take_capture(), &traceback);
                let logs = frame(id, &[&output], LogEnd::Finished);
                Ok(InvocationOutcome {
                    output: Err(caps.cut_message(message)),
                    logs,
                })
            }
            Received::TooLarge { len, cap } => {
                // Drained unread: the worker is still in step.
                self.state = State::Idle;
                let logs = frame(id, &[&self.take_capture().render()], LogEnd::Finished);
                Ok(InvocationOutcome {
                    output: Err(format!(
                        "function output is too large: a reply of {len} bytes, over the result limit of {cap} bytes of JSON"
                    )),
                    logs,
                })
            }
            Received::Reply(Reply::Fatal { message }) => {
                self.kill().await;
                Err(WorkerError::Protocol {
                    detail: caps.cut_message(message),
                })
            }
            Received::Reply(other) => {
                self.kill().await;
                Err(WorkerError::Protocol {
                    detail: format!("unexpected `{}` frame during an execution", other.kind()),
                })
            }
            Received::Tampered(why) => {
                self.kill().await;
                let logs = frame(id, &[&self.take_capture().render()], LogEnd::CutShort);
                Err(WorkerError::Tampered { detail: why, logs })
            }
            Received::Closed => Err(self.failed_during(id).await),
            Received::Invalid(e) => {
                self.kill().await;
                Err(WorkerError::Protocol {
                    detail: e.to_string(),
                })
            }
        }
    }
}

/// What a load that wrote to the protocol pipe fails with.
fn tampered_message(why: &str) -> String {
    format!(
        "the function's code wrote to the worker's protocol descriptor ({why}); the worker was discarded"
    )
}

#[async_trait]
impl Worker for ProcessWorker {
    fn name(&self) -> &str {
        &self.name
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    fn hit_resource_limit(&self) -> bool {
        self.jail.hit_resource_limit()
    }

    fn throttled(&mut self) -> bool {
        let jail = &self.jail;
        self.throttle
            .after_call(std::time::Instant::now(), || jail.throttled_periods())
    }

    async fn invoke(&mut self, invocation: &Invocation) -> Result<InvocationOutcome, WorkerError> {
        match self.state {
            State::Idle => {}
            State::Busy => {
                return Err(WorkerError::Protocol {
                    detail: "a previous call was abandoned midway; the worker must be killed"
                        .to_owned(),
                });
            }
            State::Gone => {
                return Err(WorkerError::Protocol {
                    detail: "the worker is no longer running".to_owned(),
                });
            }
        }
        self.state = State::Busy;
        self.call(invocation).await
    }

    async fn kill(&mut self) {
        self.state = State::Gone;
        if !self.kill_tree().await {
            return;
        }
        match self.child.wait().await {
            Ok(status) => tracing::debug!(worker = %self.name, %status, "worker killed"),
            Err(e) => tracing::warn!(worker = %self.name, error = %e, "cannot reap the worker"),
        }
        self.release_cgroup().await;
    }
}

impl Drop for ProcessWorker {
    fn drop(&mut self) {
        // Dropping `child` then reaps the leader in the background; the cgroup is killed and
        // removed on a blocking thread.
        self.kill_group();
        let _ = remove_cgroup(&mut self.jail);
    }
}

/// Kills what is left in a worker's cgroups and removes them, in the background (blocking: it
/// waits for killed processes to leave them); the handle may be awaited.
fn remove_cgroup(jail: &mut Jail) -> Option<tokio::task::JoinHandle<()>> {
    let cgroup = jail.take_cgroup()?;
    let remove = move || {
        cgroup.kill();
        cgroup.remove_when_empty();
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Some(handle.spawn_blocking(remove)),
        Err(_) => {
            remove();
            None
        }
    }
}
