//! A worker process: spawning, the start handshake, one execution at a time, and its end.
//!
//! Runtime-neutral: the Python adapter builds the command and the init frame; anything that
//! speaks [the protocol](crate::protocol) can run here.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::ExecutionId;
use ridge_sandbox::Jail;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use crate::capture::{Captured, execution_logs, load_logs, take_capture};
use crate::frame::{FrameError, read_frame, write_frame};
use crate::protocol::{Reply, Request, WireInput};
use crate::{Invocation, InvocationOutcome, StartError, Worker, WorkerError};

/// How long a worker that closed its protocol pipe gets to finish exiting before Ridge kills it.
const EXIT_GRACE: Duration = Duration::from_secs(2);
/// Lines of the worker's stderr kept to explain a failed start.
const STDERR_TAIL_LINES: usize = 20;
/// Longest stderr line forwarded to the log in one piece.
const STDERR_LINE_MAX: u64 = 4096;
/// Import-time output shown in the debug log, at most.
const IMPORT_OUTPUT_LOGGED: usize = 4096;
/// Prefix of the worker program's own messages on stderr (logged as warnings).
const WORKER_PREFIX: &str = "ridge-worker: ";

type StderrTail = Arc<Mutex<VecDeque<String>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Loaded, waiting for a call.
    Idle,
    /// A call is in flight, or was abandoned midway: unusable until killed.
    Busy,
    /// Dead or killed.
    Gone,
}

/// How a worker ended, once it has been reaped.
enum End {
    /// It exited by itself (or was killed by someone other than Ridge).
    Exited(ExitStatus),
    /// It closed its pipe but kept running, so Ridge killed it.
    KilledHung,
    /// Reaping failed (should not happen for our own child).
    Unknown(String),
}

pub(crate) struct ProcessWorker {
    name: String,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    capture_path: PathBuf,
    log_cap: usize,
    stderr_tail: StderrTail,
    state: State,
    /// The worker's sandbox: its cgroups (limits, whole-tree kill, OOM report).
    jail: Jail,
    /// Holds the capture file; removed with the worker.
    _scratch: TempDir,
}

impl ProcessWorker {
    /// Spawns `command` as the leader of a new process group, with piped stdio. The caller has
    /// set the program, arguments, environment and working directory, through `jail`'s sandbox.
    pub(crate) fn spawn(
        name: String,
        mut command: Command,
        mut jail: Jail,
        scratch: TempDir,
        capture_path: PathBuf,
        log_cap: usize,
    ) -> Result<Self, StartError> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let spawned = command.spawn();
        jail.spawned();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = remove_cgroup(&mut jail);
                return Err(StartError::Spawn {
                    detail: format!("cannot spawn worker `{name}`: {e}"),
                    source: Some(e),
                });
            }
        };
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            // Dropping `child` kills it (kill_on_drop).
            return Err(StartError::Spawn {
                detail: "worker pipes were not created".to_owned(),
                source: None,
            });
        };
        let stderr_tail = StderrTail::default();
        tokio::spawn(drain_stderr(name.clone(), stderr, stderr_tail.clone()));
        tracing::debug!(worker = %name, pid = child.id(), "worker spawned");
        Ok(Self {
            name,
            child,
            stdin,
            stdout: BufReader::with_capacity(64 * 1024, stdout),
            capture_path,
            log_cap,
            stderr_tail,
            state: State::Busy,
            jail,
            _scratch: scratch,
        })
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
        loop {
            let reply = match &sent {
                Ok(()) => read_frame::<_, Reply>(&mut self.stdout).await,
                Err(_) => Ok(None),
            };
            match reply {
                Ok(Some(Reply::Loading)) if !*loading => *loading = true,
                Ok(Some(Reply::Ready { python })) if *loading => {
                    let output = self.take_capture();
                    if !output.text.is_empty() {
                        let shown: String =
                            output.text.chars().take(IMPORT_OUTPUT_LOGGED).collect();
                        tracing::debug!(worker = %self.name, output = %shown, "output while loading the function");
                    }
                    tracing::debug!(worker = %self.name, %python, "worker ready");
                    return Ok(());
                }
                Ok(Some(Reply::LoadError { message, traceback })) if *loading => {
                    let logs = load_logs(&self.take_capture(), &traceback);
                    self.kill().await;
                    return Err(StartError::Load { message, logs });
                }
                Ok(Some(Reply::Fatal { message })) => {
                    self.kill().await;
                    return Err(self.spawn_error(message));
                }
                Ok(Some(other)) => {
                    self.kill().await;
                    return Err(self.spawn_error(format!(
                        "unexpected `{}` frame while starting",
                        other.kind()
                    )));
                }
                Ok(None) | Err(FrameError::Io(_) | FrameError::Truncated) => {
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
                Err(e @ (FrameError::TooLarge { .. } | FrameError::Json(_))) => {
                    self.kill().await;
                    return Err(self.spawn_error(format!("the worker broke the protocol: {e}")));
                }
            }
        }
    }

    fn take_capture(&self) -> Captured {
        take_capture(&self.capture_path, self.log_cap).unwrap_or_else(|e| {
            tracing::warn!(worker = %self.name, error = %e, "cannot read the worker's captured output");
            Captured {
                cap: self.log_cap,
                ..Captured::default()
            }
        })
    }

    /// A start failure that is the platform's, with the worker's last stderr lines.
    fn spawn_error(&self, detail: String) -> StartError {
        let tail = self
            .stderr_tail
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n");
        let detail = if tail.is_empty() {
            detail
        } else {
            format!("{detail}; stderr: {tail}")
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
        // The leader is unreaped, so the group id is still ours: leftovers die with it, and
        // with the cgroup kill, so do those that left the group.
        self.jail.kill();
        if let Err(e) = ridge_sandbox::kill_process_group(pid) {
            tracing::warn!(worker = %self.name, error = %e, "cannot kill the worker's process group");
        }
        match self.child.wait().await {
            Ok(status) if exited_by_itself => End::Exited(status),
            Ok(_) => End::KilledHung,
            Err(e) => End::Unknown(e.to_string()),
        }
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
        let logs = execution_logs(id, &self.take_capture(), None, false);
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
        let request = Request::Invoke {
            execution_id: id,
            input: invocation.input.as_ref().map(WireInput::from),
        };
        let reply = match write_frame(&mut self.stdin, &request).await {
            Ok(()) => read_frame::<_, Reply>(&mut self.stdout).await,
            Err(FrameError::Io(_)) => Ok(None),
            Err(e) => Err(e),
        };
        match reply {
            Ok(Some(Reply::Returned { output })) => {
                self.state = State::Idle;
                let logs = execution_logs(id, &self.take_capture(), None, true);
                Ok(InvocationOutcome {
                    output: Ok(output),
                    logs,
                })
            }
            Ok(Some(Reply::Raised { message, traceback })) => {
                self.state = State::Idle;
                let logs = execution_logs(id, &self.take_capture(), Some(&traceback), true);
                Ok(InvocationOutcome {
                    output: Err(message),
                    logs,
                })
            }
            Ok(Some(Reply::Fatal { message })) => {
                self.kill().await;
                Err(WorkerError::Protocol { detail: message })
            }
            Ok(Some(other)) => {
                self.kill().await;
                Err(WorkerError::Protocol {
                    detail: format!("unexpected `{}` frame during an execution", other.kind()),
                })
            }
            Ok(None) | Err(FrameError::Io(_) | FrameError::Truncated) => {
                Err(self.failed_during(id).await)
            }
            Err(e @ (FrameError::TooLarge { .. } | FrameError::Json(_))) => {
                self.kill().await;
                Err(WorkerError::Protocol {
                    detail: e.to_string(),
                })
            }
        }
    }
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
        // `id()` is `None` once reaped: then there is nothing left to kill, and the group id
        // may belong to someone else.
        let Some(pid) = self.child.id() else {
            return;
        };
        self.jail.kill();
        if let Err(e) = ridge_sandbox::kill_process_group(pid) {
            tracing::warn!(worker = %self.name, error = %e, "cannot kill the worker's process group");
            let _ = self.child.start_kill();
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
        // Not reaped yet, so the group id is still the worker's. `kill_on_drop` then kills and
        // reaps the leader in the background.
        let Some(pid) = self.child.id() else {
            let _ = remove_cgroup(&mut self.jail);
            return;
        };
        self.jail.kill();
        if let Err(e) = ridge_sandbox::kill_process_group(pid) {
            tracing::warn!(worker = %self.name, error = %e, "cannot kill the worker's process group");
        }
        let _ = remove_cgroup(&mut self.jail);
    }
}

/// Removes a worker's cgroups in the background (blocking: it waits for killed processes to
/// leave them); the handle may be awaited.
fn remove_cgroup(jail: &mut Jail) -> Option<tokio::task::JoinHandle<()>> {
    let cgroup = jail.take_cgroup()?;
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Some(handle.spawn_blocking(move || cgroup.remove_when_empty())),
        Err(_) => {
            cgroup.remove_when_empty();
            None
        }
    }
}

/// SIGKILL's number on Linux.
const SIGKILL: i32 = 9;

/// "exit code 3" or "killed by SIGSEGV", and whether the signal was SIGKILL.
fn describe_exit(status: ExitStatus) -> (String, bool) {
    use std::os::unix::process::ExitStatusExt;
    if let Some(code) = status.code() {
        return (format!("exit code {code}"), false);
    }
    match status.signal() {
        Some(signal) => {
            let name = ridge_sandbox::signal_name(signal);
            let core = if status.core_dumped() {
                " (core dumped)"
            } else {
                ""
            };
            let sigkill = name == "SIGKILL";
            (format!("killed by {name}{core}"), sigkill)
        }
        None => (status.to_string(), false),
    }
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Exited(status) => f.write_str(&describe_exit(*status).0),
            End::KilledHung => f.write_str("it closed its pipe but kept running, and was killed"),
            End::Unknown(detail) => f.write_str(detail),
        }
    }
}

/// Forwards the worker's stderr (what it writes outside executions) to the log, keeping the
/// last lines to explain a failed start. Reads as fast as the worker writes, so it never blocks.
async fn drain_stderr(name: String, stderr: ChildStderr, tail: StderrTail) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(STDERR_LINE_MAX)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(worker = %name, error = %e, "stderr of worker unreadable");
                return;
            }
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        match text.strip_prefix(WORKER_PREFIX) {
            Some(own) => tracing::warn!(worker = %name, "{own}"),
            None => tracing::debug!(worker = %name, "stderr: {text}"),
        }
        let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn describes_exits_and_spots_sigkill() {
        assert_eq!(
            describe_exit(ExitStatus::from_raw(3 << 8)),
            ("exit code 3".to_owned(), false)
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(9)),
            ("killed by SIGKILL".to_owned(), true)
        );
        assert_eq!(
            describe_exit(ExitStatus::from_raw(11 | 0x80)),
            ("killed by SIGSEGV (core dumped)".to_owned(), false)
        );
    }
}
