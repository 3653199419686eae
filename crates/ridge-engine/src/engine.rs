//! The [`Engine`]: the pools, the runtimes, and the background work that keeps them tidy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ridge_core::{Execution, Function, FunctionId, Runtime, RuntimeId, RuntimeKind, RuntimeStatus};
use ridge_package::PackageStore;
use ridge_runtime::{RuntimeAdapter, Worker};
use ridge_store::Store;
use tokio::task::JoinHandle;

use crate::capacity::Capacity;
use crate::metrics::{FunctionLabels, Metrics};
use crate::policy::ScalingPolicy;
use crate::pool::{Fingerprint, Pool, PoolKey};

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub scaling: ScalingPolicy,
    /// Cap on the stdout+stderr kept per execution, in bytes.
    pub log_cap: usize,
    /// How often idle workers are checked against the idle expiry.
    pub reap_interval: Duration,
    /// Host-wide budget: the sum of the live workers' `memory_size`, in bytes.
    pub worker_memory_budget: u64,
    /// Most executions waiting for a worker; past it new executions are refused.
    pub max_queue_length: usize,
    /// Longest a sync execution waits for a worker before it ends `error`.
    pub max_queue_wait: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            scaling: ScalingPolicy::default(),
            log_cap: 1024 * 1024,
            reap_interval: Duration::from_secs(10),
            worker_memory_budget: crate::capacity::worker_memory_budget(0.5),
            max_queue_length: 10_000,
            max_queue_wait: Duration::from_secs(60),
        }
    }
}

/// The queue is full: the caller should answer 429.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "too many executions are waiting for a worker ({waiting}, the limit is {limit}): retry later, or raise `max_queue_length`"
)]
pub struct QueueFull {
    pub waiting: usize,
    pub limit: usize,
}

/// One live worker, as the workers API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    pub function_id: FunctionId,
    pub function_version: i64,
    pub worker_name: String,
}

/// Workers of one runtime on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    pub total: u64,
    pub available: u64,
}

pub struct Engine {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) packages: Arc<dyn PackageStore>,
    adapters: HashMap<RuntimeKind, Arc<dyn RuntimeAdapter>>,
    /// What each runtime kind's check found on this host: a description, or why it cannot run.
    checks: Mutex<HashMap<RuntimeKind, Result<String, String>>>,
    pools: Mutex<HashMap<PoolKey, Arc<Pool>>>,
    pub(crate) capacity: Arc<Capacity>,
    /// Cold starts allowed to run at once on this host (see [`cold_start_permits`]).
    pub(crate) cold_starts: tokio::sync::Semaphore,
    /// Executions submitted and not yet holding a worker.
    pub(crate) queued: AtomicUsize,
    /// Executions submitted and not yet recorded as finished (for draining).
    pub(crate) in_flight: AtomicUsize,
    pub(crate) metrics: Metrics,
    pub(crate) config: EngineConfig,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        packages: Arc<dyn PackageStore>,
        adapters: Vec<Arc<dyn RuntimeAdapter>>,
        config: EngineConfig,
    ) -> Arc<Self> {
        let metrics = Metrics::new();
        let batches = metrics.write_batch_size.clone();
        store.observe_write_batches(Arc::new(move |writes| batches.observe(writes as f64)));
        Arc::new(Self {
            store,
            packages,
            adapters: adapters.into_iter().map(|a| (a.kind(), a)).collect(),
            checks: Mutex::new(HashMap::new()),
            pools: Mutex::new(HashMap::new()),
            capacity: Arc::new(Capacity::new(config.worker_memory_budget)),
            cold_starts: tokio::sync::Semaphore::new(cold_start_permits()),
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            metrics,
            config,
        })
    }

    /// Checks every runtime kind on this host, resolves what a previous run left unfinished,
    /// and starts the idle reaper. Call once at start-up.
    pub async fn start(self: &Arc<Self>) -> Result<(), ridge_store::StoreError> {
        for (kind, adapter) in &self.adapters {
            let found = adapter.check().await.map_err(|e| e.to_string());
            match &found {
                Ok(detail) => tracing::info!(runtime = %kind, %detail, "runtime ready"),
                Err(why) => {
                    tracing::warn!(runtime = %kind, %why, "runtime cannot run on this host")
                }
            }
            lock(&self.checks).insert(kind.clone(), found);
        }
        for runtime in self.store.all_runtimes().await? {
            if matches!(
                runtime.status,
                RuntimeStatus::Creating | RuntimeStatus::Available | RuntimeStatus::Error
            ) {
                self.settle_runtime(&runtime).await;
            }
        }
        self.recover().await?;
        let engine = Arc::downgrade(self);
        let every = self.config.reap_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(engine) = engine.upgrade() else {
                    break;
                };
                engine.reap_idle().await;
            }
        });
        Ok(())
    }

    /// The result of each runtime kind's host check, for `GET /v1/info`, sorted by kind.
    pub fn runtime_checks(&self) -> Vec<(RuntimeKind, Result<String, String>)> {
        let checks = lock(&self.checks);
        let mut all: Vec<_> = self
            .adapters
            .keys()
            .map(|k| {
                let found = checks
                    .get(k)
                    .cloned()
                    .unwrap_or_else(|| Err("not checked yet".to_owned()));
                (k.clone(), found)
            })
            .collect();
        all.sort_by(|(a, _), (b, _)| a.cmp(b));
        all
    }

    /// The runtime kind an `image` names, if this server has that kind (built in, or declared
    /// in its configuration file).
    pub fn runtime_kind(&self, image: &str) -> Result<RuntimeKind, ridge_core::InvalidInput> {
        let kind = RuntimeKind::from_image(image)?;
        if self.adapters.contains_key(&kind) {
            return Ok(kind);
        }
        let mut known: Vec<&str> = self.adapters.keys().map(RuntimeKind::as_str).collect();
        known.sort_unstable();
        Err(ridge_core::InvalidInput::new(format!(
            "unknown runtime image `{image}`: known runtime kinds are {}",
            known.join(", ")
        )))
    }

    /// Brings a newly created (or re-imaged) runtime to `available`, or `error` when this host
    /// cannot run its kind. Runs in the background; the API has already answered `creating`.
    pub fn prepare_runtime(self: &Arc<Self>, runtime: Runtime) {
        let engine = self.clone();
        tokio::spawn(async move { engine.settle_runtime(&runtime).await });
    }

    async fn settle_runtime(&self, runtime: &Runtime) {
        let status = match runtime.kind() {
            Some(kind) => match lock(&self.checks).get(&kind) {
                Some(Ok(_)) => RuntimeStatus::Available,
                _ => RuntimeStatus::Error,
            },
            None => RuntimeStatus::Error,
        };
        if status != runtime.status
            && let Err(e) = self.store.set_runtime_status(runtime.id, status).await
        {
            tracing::error!(runtime = %runtime.id, error = %e, "cannot record runtime status");
        }
    }

    pub(crate) fn adapter(&self, kind: &RuntimeKind) -> Option<Arc<dyn RuntimeAdapter>> {
        self.adapters.get(kind).cloned()
    }

    /// Runs a stored `running` execution on a worker and records its outcome. The work happens
    /// in its own task, so a sync caller that goes away does not abandon the execution; a sync
    /// caller awaits the handle, an async one drops it.
    pub fn submit(
        self: &Arc<Self>,
        execution: Execution,
        function: Function,
    ) -> JoinHandle<Execution> {
        let engine = self.clone();
        self.queued.fetch_add(1, Ordering::SeqCst);
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let done = crate::dispatch::run(&engine, execution, function).await;
            engine.in_flight.fetch_sub(1, Ordering::SeqCst);
            done
        })
    }

    /// Whether a new execution may be accepted. Checked before the execution is stored, so a
    /// refused one leaves nothing behind.
    pub fn admission(&self) -> Result<(), QueueFull> {
        let waiting = self.queued.load(Ordering::SeqCst);
        if waiting >= self.config.max_queue_length {
            Err(QueueFull {
                waiting,
                limit: self.config.max_queue_length,
            })
        } else {
            Ok(())
        }
    }

    /// Executions waiting for a worker on this node.
    pub fn queue_length(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Pre-warms up to `count` workers for the function version in the background (Qinling's
    /// `scale_up`), within the pool limit and the host memory budget.
    pub async fn scale_up(self: &Arc<Self>, function: Function, version: i64, count: usize) {
        let Ok(runtime) = self.store.get_runtime(function.runtime_id).await else {
            return;
        };
        let Some(adapter) = runtime.kind().and_then(|k| self.adapter(&k)) else {
            return;
        };
        let pool = self.pool_for(&function, version, runtime.id).await;
        let engine = self.clone();
        tokio::spawn(async move {
            for _ in 0..count {
                let Some(mut lease) = pool.try_start() else {
                    break;
                };
                match crate::dispatch::start_worker(&engine, &adapter, &function, version).await {
                    Ok(worker) => {
                        lease.set_worker(worker);
                        lease.give_back().await;
                    }
                    Err(e) => {
                        tracing::warn!(function = %function.id, error = %e, "cannot pre-warm a worker");
                        lease.discard().await;
                        break;
                    }
                }
            }
        });
    }

    /// Stops up to `count` idle workers of the function version, keeping at least one
    /// (Qinling's `scale_down`).
    pub async fn scale_down(&self, id: FunctionId, version: i64, count: usize) {
        let pool = lock(&self.pools).get(&(id, version)).cloned();
        if let Some(pool) = pool {
            kill_all(pool.scale_down(count)).await;
        }
    }

    /// Stops every worker of one function version (Qinling's `detach`).
    pub async fn detach(&self, id: FunctionId, version: i64) {
        let pool = lock(&self.pools).remove(&(id, version));
        if let Some(pool) = pool {
            kill_all(pool.retire()).await;
        }
    }

    /// The live workers of a function, of one version or of all.
    pub fn workers(&self, id: FunctionId, version: Option<i64>) -> Vec<WorkerInfo> {
        let pools = lock(&self.pools);
        let mut keys: Vec<_> = pools
            .keys()
            .filter(|(f, v)| *f == id && version.is_none_or(|want| want == *v))
            .copied()
            .collect();
        keys.sort();
        keys.into_iter()
            .flat_map(|key| {
                pools[&key]
                    .worker_names()
                    .into_iter()
                    .map(move |worker_name| WorkerInfo {
                        function_id: key.0,
                        function_version: key.1,
                        worker_name,
                    })
            })
            .collect()
    }

    /// Frees host memory for another pool by stopping the longest-idle worker anywhere.
    /// Returns whether one was stopped.
    pub(crate) async fn evict_one_idle(&self) -> bool {
        let victim = {
            let pools = lock(&self.pools);
            pools
                .values()
                .filter_map(|p| p.oldest_idle_since().map(|since| (since, p.clone())))
                .min_by_key(|(since, _)| *since)
                .and_then(|(_, p)| p.evict_oldest_idle())
        };
        match victim {
            Some(mut worker) => {
                tracing::debug!(
                    worker = worker.name(),
                    "stopping an idle worker to free memory"
                );
                worker.kill().await;
                true
            }
            None => false,
        }
    }

    /// The Prometheus text exposition of the engine's metrics.
    pub fn metrics_text(&self) -> String {
        {
            let pools = lock(&self.pools);
            let mut live: HashMap<FunctionId, i64> = HashMap::new();
            for ((id, _), pool) in pools.iter() {
                *live.entry(*id).or_default() += pool.counts().0 as i64;
            }
            self.metrics.warm_workers.clear();
            for (id, n) in live {
                self.metrics
                    .warm_workers
                    .get_or_create(&FunctionLabels {
                        function: id.to_string(),
                    })
                    .set(n);
            }
        }
        self.metrics.queue_depth.set(self.queue_length() as i64);
        self.metrics
            .capacity_used
            .set(self.capacity.usage().0 as i64);
        self.metrics.encode()
    }

    /// The pool for this function's current code and limits. A pool made for older code is
    /// retired (its idle workers stopped, its busy ones stopped when they finish).
    pub(crate) async fn pool_for(
        &self,
        function: &Function,
        version: i64,
        runtime_id: RuntimeId,
    ) -> Arc<Pool> {
        let fingerprint = Fingerprint {
            md5sum: function.code.md5sum().to_owned(),
            entry: function.entry.clone(),
            limits: function.limits,
            network: function.network,
        };
        let key = (function.id, version);
        let (pool, stale) = {
            let mut pools = lock(&self.pools);
            match pools.get(&key) {
                Some(pool) if pool.fingerprint == fingerprint && !pool.is_retired() => {
                    (pool.clone(), None)
                }
                _ => {
                    let pool = Pool::new(
                        runtime_id,
                        fingerprint,
                        self.config.scaling,
                        self.capacity.clone(),
                    );
                    let stale = pools.insert(key, pool.clone());
                    (pool, stale)
                }
            }
        };
        if let Some(stale) = stale {
            kill_all(stale.retire()).await;
        }
        pool
    }

    /// Stops every worker of the function (all versions); the next execution starts afresh.
    /// Called when a function's code or limits change and when it is deleted.
    pub async fn release_function(&self, id: FunctionId) {
        let pools: Vec<_> = {
            let mut pools = lock(&self.pools);
            let keys: Vec<_> = pools.keys().filter(|(f, _)| *f == id).copied().collect();
            keys.into_iter().filter_map(|k| pools.remove(&k)).collect()
        };
        for pool in pools {
            kill_all(pool.retire()).await;
        }
    }

    /// Stops every worker of functions of this runtime.
    pub async fn release_runtime(&self, id: RuntimeId) {
        let pools: Vec<_> = {
            let mut pools = lock(&self.pools);
            let keys: Vec<_> = pools
                .iter()
                .filter(|(_, p)| p.runtime_id == id)
                .map(|(k, _)| *k)
                .collect();
            keys.into_iter().filter_map(|k| pools.remove(&k)).collect()
        };
        for pool in pools {
            kill_all(pool.retire()).await;
        }
    }

    /// Workers of one runtime alive on this node, and how many are idle.
    pub fn pool_stats(&self, runtime_id: RuntimeId) -> PoolStats {
        lock(&self.pools)
            .values()
            .filter(|p| p.runtime_id == runtime_id)
            .fold(PoolStats::default(), |acc, p| {
                let (live, idle) = p.counts();
                PoolStats {
                    total: acc.total + live as u64,
                    available: acc.available + idle as u64,
                }
            })
    }

    async fn reap_idle(&self) {
        let now = Instant::now();
        let (expired, empty): (Vec<_>, Vec<_>) = {
            let pools = lock(&self.pools);
            let expired = pools.values().flat_map(|p| p.reap(now)).collect();
            let empty = pools
                .iter()
                .filter(|(_, p)| p.is_empty())
                .map(|(k, _)| *k)
                .collect();
            (expired, empty)
        };
        if !expired.is_empty() {
            tracing::debug!(count = expired.len(), "releasing idle workers");
        }
        kill_all(expired).await;
        let mut pools = lock(&self.pools);
        for key in empty {
            if pools.get(&key).is_some_and(|p| p.is_empty()) {
                pools.remove(&key);
            }
        }
    }

    /// Waits until every submitted execution has finished, up to `deadline`; returns how many
    /// were still unfinished. Those stay in the store: queued ones run at the next start, ones
    /// that had started end `error` then.
    pub async fn drain(&self, deadline: Duration) -> usize {
        let until = Instant::now() + deadline;
        loop {
            let left = self.in_flight.load(Ordering::SeqCst);
            if left == 0 || Instant::now() >= until {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every idle worker and retires every pool; busy workers stop when their execution
    /// ends (or when the process exits). Executions still running are resolved at next start.
    pub async fn shutdown(&self) {
        let pools: Vec<_> = lock(&self.pools).drain().map(|(_, p)| p).collect();
        for pool in pools {
            kill_all(pool.retire()).await;
        }
    }
}

/// Four cold starts per core. A cold start is CPU-bound (bubblewrap, the interpreter, the
/// import): started by the hundred at once, as a burst of new executions does, every one of
/// them ends late and many pass their function's timeout, while a few per core keep the cores
/// busy and each start short. The others wait in the queue, where the wait is not part of the
/// function's timeout.
fn cold_start_permits() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get) * 4
}

pub(crate) async fn kill_all(workers: Vec<Box<dyn Worker>>) {
    for mut worker in workers {
        worker.kill().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only bookkeeping happens under these locks; a poisoned one still holds consistent data.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
