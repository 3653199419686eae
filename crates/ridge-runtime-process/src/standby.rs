//! Pre-started workers: per runtime, a few sandboxed interpreters already past their start-up
//! and the worker program's imports, each waiting for the init frame of the one function it
//! will serve. Taking one costs a bind mount, a few cgroup writes and the function's own import
//! instead of bubblewrap, namespaces and the interpreter's start.
//!
//! Every pre-started worker is started exactly as a cold-started one is (same sandbox, seccomp,
//! uid of its own, rlimits), with [`PRESTART_MEMORY`] and the start-up CPU allowance as its
//! cgroup limits while it waits; taking it sets the function's memory and CPU limits and shows
//! the function's package at `/function` through its slot (`ridge_sandbox::PackageSlot`). It
//! serves that one function until it is killed: it never returns to the pool.
//!
//! With the sandbox off (`sandbox.mode = "off"`) a pre-started worker is a plain process
//! waiting in `/`, with no cgroup and no slot; taking it only tells it where its function's
//! package is (the init frame's `package_dir`).
//!
//! The pool of a runtime is refilled in the background after each take, one start at a time. A
//! start that fails stops the refill until the size is set again (the error is reported in
//! [`Prestarted::last_error`]), so a broken host does not spin.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ridge_core::{NetworkAccess, RuntimeId};
use ridge_runtime::{PRESTART_MEMORY, Prestarted, StartError, Worker};
use ridge_sandbox::PackageSlots;

use crate::process::ProcessWorker;
use crate::spawn::{Shape, Starter};

/// Bytes of output a pre-started worker may print before it is taken.
const PRESTART_LOG_CAP: usize = 4096;

/// Numbers pre-started workers so that names are unique on this node.
static PRESTART_COUNTER: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct Pool {
    size: usize,
    ready: VecDeque<ProcessWorker>,
    /// Starts in flight.
    starting: usize,
    last_error: Option<String>,
}

pub(crate) struct Standby {
    starter: Arc<Starter>,
    /// Mounted on first use; why not, when it cannot be.
    slots: Mutex<Option<Result<Arc<PackageSlots>, String>>>,
    pools: Mutex<HashMap<RuntimeId, Pool>>,
}

impl Standby {
    pub(crate) fn new(starter: Arc<Starter>) -> Self {
        Self {
            starter,
            slots: Mutex::new(None),
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn pools(&self) -> MutexGuard<'_, HashMap<RuntimeId, Pool>> {
        self.pools.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why this adapter cannot pre-start workers, if it cannot.
    fn unavailable(&self) -> Option<String> {
        if self.starter.launcher.prestart_args("probe").is_none() {
            return Some(format!(
                "workers of the `{}` runtime kind depend on their function from their first \
                 instant (their command line), so they cannot be started ahead",
                self.starter.kind
            ));
        }
        if self.starter.sandbox.is_off() {
            // Plain processes: a taken worker is told where its package is; no slot, no mount.
            return None;
        }
        if !self.starter.sandbox.pid_namespace() {
            return Some("pre-started workers need the sandbox (bubblewrap)".to_owned());
        }
        if !self.starter.sandbox.memory_cgroup() {
            return Some("pre-started workers need the cgroup memory controller, to set the function's memory limit when one is taken".to_owned());
        }
        self.slots().err()
    }

    fn slots(&self) -> Result<Arc<PackageSlots>, String> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .get_or_insert_with(|| match &self.starter.config.slots_dir {
                Some(dir) => PackageSlots::new(&dir.join(self.starter.kind.as_str())).map(Arc::new),
                None => Err("no directory for package slots is configured".to_owned()),
            })
            .clone()
    }

    /// Keeps `size` workers ready for `runtime`; stops the ones over it.
    pub(crate) fn set_size(self: &Arc<Self>, runtime: RuntimeId, size: usize) {
        let surplus = {
            let mut pools = self.pools();
            if size == 0 {
                pools.remove(&runtime).map(|p| p.ready).unwrap_or_default()
            } else {
                let pool = pools.entry(runtime).or_default();
                pool.size = size;
                pool.last_error = None;
                let keep = size.min(pool.ready.len());
                pool.ready.split_off(keep)
            }
        };
        kill_all(surplus);
        if size > 0 {
            self.refill(runtime);
        }
    }

    /// Takes a ready worker of `runtime`, if there is one, and starts refilling.
    pub(crate) fn take(self: &Arc<Self>, runtime: RuntimeId) -> Option<ProcessWorker> {
        let (taken, dead) = {
            let mut pools = self.pools();
            let pool = pools.get_mut(&runtime)?;
            let mut dead = Vec::new();
            let mut taken = None;
            while let Some(mut worker) = pool.ready.pop_front() {
                if worker.is_running() {
                    taken = Some(worker);
                    break;
                }
                dead.push(worker);
            }
            (taken, dead)
        };
        kill_all(dead);
        self.refill(runtime);
        taken
    }

    pub(crate) fn stats(&self, runtime: RuntimeId) -> Prestarted {
        let unavailable = self.unavailable();
        // Which functions may take one: said only when there can be one to take.
        let memory_size = match unavailable {
            None => self.starter.launcher.prestart_memory(),
            Some(_) => None,
        };
        let pools = self.pools();
        let pool = pools.get(&runtime);
        Prestarted {
            size: pool.map_or(0, |p| p.size),
            ready: pool.map_or(0, |p| p.ready.len()),
            workers: pool
                .map(|p| p.ready.iter().map(|w| w.name().to_owned()).collect())
                .unwrap_or_default(),
            unavailable,
            last_error: pool.and_then(|p| p.last_error.clone()),
            memory_size,
            zygote: self.starter.zygote_status(),
        }
    }

    /// Stops every pre-started worker of every runtime.
    pub(crate) async fn stop_all(&self) {
        let workers: Vec<ProcessWorker> = self
            .pools()
            .drain()
            .flat_map(|(_, pool)| pool.ready)
            .collect();
        for mut worker in workers {
            worker.kill().await;
        }
    }

    /// Starts what `runtime`'s pool lacks, in the background, one at a time.
    fn refill(self: &Arc<Self>, runtime: RuntimeId) {
        if self.unavailable().is_some() {
            return;
        }
        {
            let mut pools = self.pools();
            let Some(pool) = pools.get_mut(&runtime) else {
                return;
            };
            if pool.starting > 0 || pool.ready.len() >= pool.size || pool.last_error.is_some() {
                return;
            }
            pool.starting = 1;
        }
        let standby = self.clone();
        tokio::spawn(async move {
            loop {
                let started = standby.start_one().await;
                let mut pools = standby.pools();
                let Some(pool) = pools.get_mut(&runtime) else {
                    drop(pools);
                    if let Ok(worker) = started {
                        kill_all(vec![worker]);
                    }
                    return;
                };
                match started {
                    Ok(worker) if pool.ready.len() < pool.size => pool.ready.push_back(worker),
                    Ok(worker) => {
                        pool.starting = 0;
                        drop(pools);
                        kill_all(vec![worker]);
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(%runtime, error = %e, "cannot pre-start a worker");
                        pool.last_error = Some(e.to_string());
                        pool.starting = 0;
                        return;
                    }
                }
                if pool.ready.len() >= pool.size {
                    pool.starting = 0;
                    return;
                }
            }
        });
    }

    async fn start_one(&self) -> Result<ProcessWorker, StartError> {
        let spawn_error = |detail: String| StartError::Spawn {
            detail,
            source: None,
        };
        let starter = &self.starter;
        let resolved = starter
            .resolved()
            .await
            .map_err(|e| spawn_error(e.to_string()))?;
        // The server's pid: names stay unique among servers sharing a host (and its cgroups).
        let name = format!(
            "{}-prestarted-{}-{}",
            starter.kind,
            std::process::id(),
            PRESTART_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let args = starter
            .launcher
            .prestart_args(&name)
            .ok_or_else(|| spawn_error("this runtime kind cannot pre-start workers".to_owned()))?;
        // A plain worker (sandbox off) waits in `/` and is told its package's path; a
        // sandboxed one is shown its package in a slot of its own.
        let slot = match starter.sandbox.is_off() {
            true => None,
            false => Some(
                self.slots()
                    .map_err(spawn_error)?
                    .slot(&name)
                    .map_err(|e| {
                        spawn_error(format!("cannot make the package slot of `{name}`: {e}"))
                    })?,
            ),
        };
        let shape = Shape {
            memory_bytes: PRESTART_MEMORY,
            cpu_millicores: starter.sandbox.config().startup_cpu.max(100),
            startup_allowance: true,
            network: NetworkAccess::Loopback,
            log_cap: PRESTART_LOG_CAP,
            prestarted: true,
        };
        let path = slot
            .as_ref()
            .map_or_else(|| std::path::PathBuf::from("/"), |s| s.path().to_owned());
        let mut worker = starter.spawn(resolved, name, &path, args, shape)?;
        if let Some(slot) = slot {
            worker.hold_slot(slot);
        }
        // Ready only once past the interpreter's start and the worker program's imports.
        if let Err(e) = worker.wait_started(starter.config.load_timeout).await {
            worker.kill().await;
            return Err(e);
        }
        Ok(worker)
    }
}

/// Kills workers in the background.
fn kill_all(workers: impl IntoIterator<Item = ProcessWorker> + Send + 'static) {
    let workers: Vec<ProcessWorker> = workers.into_iter().collect();
    if workers.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for mut worker in workers {
            worker.kill().await;
        }
    });
}
