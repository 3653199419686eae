//! One execution: a fresh instance in a fresh store, its stdio in memory, its memory capped,
//! its time bounded, stopped at once when the worker is killed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use wasmtime::{InstancePre, Store, Trap, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::cpu::CpuShare;
use crate::entry::INITIALIZE_EXPORT;
use crate::host::{Guest, MemoryLimiter};
use crate::output::{Capture, Captured};

/// Where a module sees its scratch directory, when the server grants one.
pub(crate) const SCRATCH_GUEST_PATH: &str = "/tmp";

/// Everything one execution needs.
pub(crate) struct Job {
    pub pre: InstancePre<Guest>,
    /// The module's file name, the guest's `argv[0]`.
    pub program: String,
    pub export: String,
    /// Call the reactor's `_initialize` first.
    pub initialize: bool,
    pub stdin: Vec<u8>,
    pub memory_limit: u64,
    /// The function's `cpu`, in millicores (see [`CpuShare`]).
    pub cpu_millicores: u32,
    pub timeout: Duration,
    pub log_cap: usize,
    /// The most a module may write to stdout (its output): kept up to this, the rest counted
    /// and dropped, so no more than this is ever parsed.
    pub result_cap: usize,
    /// A parent for this execution's scratch directory; `None` gives the module no filesystem.
    pub scratch: Option<PathBuf>,
    /// Becomes `true` when the worker is killed.
    pub kill: watch::Receiver<bool>,
    /// Set when the memory limiter refused a growth.
    pub memory_refused: Arc<AtomicBool>,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// `_start` returned (status 0) or the module called `proc_exit`.
    Exited(i32),
    /// A trap or a failed host call: the function's fault.
    Trapped {
        message: String,
        details: String,
    },
    TimedOut,
    Killed,
    /// Ridge could not run it (the instance pool is exhausted, the scratch directory cannot be
    /// created).
    Platform(String),
}

/// What an execution left behind.
#[derive(Debug)]
pub(crate) struct Ran {
    pub ending: Ending,
    pub stdout: Captured,
    pub stderr: Captured,
    pub memory_refused: bool,
}

impl Job {
    /// Runs the execution to its end. Call on a thread that may block: the module's code runs
    /// on the thread that polls this future.
    pub(crate) async fn run(self) -> Ran {
        let stdout = Capture::new(self.result_cap);
        let stderr = Capture::new(self.log_cap);
        let memory_refused = self.memory_refused.clone();
        let ending = self.run_captured(&stdout, &stderr).await;
        Ran {
            ending,
            stdout: stdout.take(),
            stderr: stderr.take(),
            memory_refused: memory_refused.load(Ordering::Relaxed),
        }
    }

    async fn run_captured(self, stdout: &Capture, stderr: &Capture) -> Ending {
        let scratch = match &self.scratch {
            None => None,
            Some(parent) => match tempfile::Builder::new()
                .prefix("ridge-wasm-")
                .tempdir_in(parent)
            {
                Ok(dir) => Some(dir),
                Err(e) => {
                    return Ending::Platform(format!(
                        "cannot create a scratch directory in `{}`: {e}",
                        parent.display()
                    ));
                }
            },
        };
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdin(MemoryInputPipe::new(self.stdin))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            // Not `allow_blocking_current_thread`: with it a `sleep` blocks the thread in
            // `std::thread::sleep`, where neither the timeout nor `kill` can end it.
            .arg(&self.program);
        if let Some(dir) = &scratch
            && let Err(e) = wasi.preopened_dir(dir.path(), SCRATCH_GUEST_PATH, FsPerms::ReadWrite)
        {
            return Ending::Platform(format!(
                "cannot open the scratch directory `{}`: {e:#}",
                dir.path().display()
            ));
        }
        let mut store = Store::new(
            self.pre.module().engine(),
            Guest {
                wasi: wasi.build_p1(),
                limiter: MemoryLimiter {
                    limit: self.memory_limit,
                    refused: self.memory_refused,
                },
            },
        );
        store.limiter(|guest| &mut guest.limiter);
        // The module's own code checks the epoch; at every tick the callback decides whether it
        // goes on, or pauses to stay within its `cpu`. Host calls that wait (a sleep) and
        // pauses are ended by the `select!` below.
        let deadline = Instant::now() + self.timeout;
        let killed = self.kill.clone();
        let mut share = CpuShare::start(self.cpu_millicores);
        let mut first_tick = true;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            // A dropped sender is a worker dropped without `kill`: stop all the same.
            let stop = killed.has_changed().is_err() || *killed.borrow();
            Ok(if stop || Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else if let Some(pause) = share.pause() {
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::time::sleep(pause)))
            } else if std::mem::take(&mut first_tick) {
                // The execution may have started on an async worker (`worker.rs`): it leaves
                // it here, at most one tick in, and goes on on a blocking thread.
                UpdateDeadline::Yield(1)
            } else {
                UpdateDeadline::Continue(1)
            })
        });

        let pre = self.pre;
        let export = self.export;
        let initialize = self.initialize;
        let call = async {
            let instance = pre
                .instantiate_async(&mut store)
                .await
                .map_err(Failure::Instantiate)?;
            if initialize {
                let init = instance
                    .get_typed_func::<(), ()>(&mut store, INITIALIZE_EXPORT)
                    .map_err(Failure::Call)?;
                init.call_async(&mut store, ())
                    .await
                    .map_err(Failure::Call)?;
            }
            let function = instance
                .get_typed_func::<(), ()>(&mut store, &export)
                .map_err(Failure::Call)?;
            function
                .call_async(&mut store, ())
                .await
                .map_err(Failure::Call)
        };
        let mut kill = self.kill;
        let result = tokio::select! {
            result = call => result,
            _ = kill.wait_for(|killed| *killed) => return Ending::Killed,
            () = tokio::time::sleep_until(deadline) => return Ending::TimedOut,
        };
        let killed = *kill.borrow();
        drop(store);
        drop(scratch);
        match result {
            Ok(()) => Ending::Exited(0),
            Err(failure) => failure.ending(killed),
        }
    }
}

enum Failure {
    /// Before the module's code ran.
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

impl Failure {
    fn ending(self, killed: bool) -> Ending {
        match self {
            Failure::Call(e) => {
                if let Some(exit) = e.downcast_ref::<I32Exit>() {
                    return Ending::Exited(exit.0);
                }
                match e.downcast_ref::<Trap>() {
                    Some(Trap::Interrupt) if killed => Ending::Killed,
                    Some(Trap::Interrupt) => Ending::TimedOut,
                    Some(trap) => Ending::Trapped {
                        message: format!("the module trapped: {trap}"),
                        details: format!("{e:?}"),
                    },
                    None => Ending::Trapped {
                        message: format!("the module failed: {}", e.root_cause()),
                        details: format!("{e:?}"),
                    },
                }
            }
            // Refused initial memory is the function's; the limiter noted it.
            Failure::Instantiate(e) => Ending::Platform(format!("cannot instantiate: {e:#}")),
        }
    }
}
