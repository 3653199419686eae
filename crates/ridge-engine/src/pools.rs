//! Every pool of this node and their bookkeeping: which pool serves a function version (and
//! retiring one started for what the function no longer is), waiting for a lease when the
//! host's memory budget is spent, releasing idle workers, and the counts the API and metrics
//! show. The mechanism of one pool is [`crate::pool`]; its decisions are [`crate::policy`];
//! each function's keep-alive window comes from its calls ([`crate::arrivals`]), and is given
//! to its pools when learned. Idle time is read on the engine's [`Clock`], so tests move it
//! instead of waiting.

use ridge_core::{Clock, Function, FunctionId, RuntimeId};
use ridge_runtime::Worker;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::arrivals::Arrivals;
use crate::capacity::Capacity;
use crate::policy::{ScalingPolicy, Window};
use crate::pool::{Lease, Pool, PoolKey};

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

pub(crate) struct Pools {
    map: Mutex<HashMap<PoolKey, Arc<Pool>>>,
    capacity: Arc<Capacity>,
    scaling: ScalingPolicy,
    clock: Arc<dyn Clock>,
    /// Each function's calls and keep-alive window.
    pub arrivals: Arrivals,
}

impl Pools {
    pub fn new(scaling: ScalingPolicy, memory_budget: u64, clock: Arc<dyn Clock>) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            capacity: Arc::new(Capacity::new(memory_budget)),
            scaling,
            arrivals: Arrivals::new(scaling, clock.clone()),
            clock,
        }
    }

    /// The host's worker memory budget, shared with the pre-started pools.
    pub fn capacity(&self) -> Arc<Capacity> {
        self.capacity.clone()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<PoolKey, Arc<Pool>>> {
        // Only bookkeeping happens under this lock; a poisoned one still holds consistent data.
        self.map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The pool for this function's current [run shape](ridge_core::RunShape). A pool started
    /// for another shape is retired (its idle workers stopped, its busy ones stopped when they
    /// finish).
    pub async fn pool_for(
        &self,
        function: &Function,
        version: i64,
        runtime_id: RuntimeId,
    ) -> Arc<Pool> {
        let shape = function.run_shape();
        let key = (function.id, version);
        let (pool, stale) = {
            let mut pools = self.map();
            match pools.get(&key) {
                Some(pool) if pool.shape == shape && !pool.is_retired() => (pool.clone(), None),
                _ => {
                    let pool = Pool::new(
                        runtime_id,
                        shape,
                        self.scaling,
                        self.capacity.clone(),
                        self.clock.clone(),
                        self.arrivals.window(function.id),
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

    /// An idle warm worker of the function version, if one is idle now (see
    /// [`Pool::try_reuse`]).
    pub async fn try_warm(
        &self,
        function: &Function,
        version: i64,
        runtime_id: RuntimeId,
    ) -> Option<Lease> {
        self.pool_for(function, version, runtime_id)
            .await
            .try_reuse()
    }

    /// Waits for a lease on `pool`: freeing host memory held by idle workers of other pools
    /// when the budget is spent, or waiting for memory to be given back.
    pub async fn lease(&self, pool: &Arc<Pool>) -> Lease {
        loop {
            let freed = self.capacity.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            match pool.acquire().await {
                Ok(lease) => return lease,
                Err(_no_capacity) => {
                    if self.evict_one_idle().await {
                        continue;
                    }
                    // No memory to start one: a worker of this pool given back will do too.
                    let back = pool.returned().notified();
                    tokio::pin!(back);
                    back.as_mut().enable();
                    if pool.counts().1 > 0 {
                        continue;
                    }
                    tokio::select! {
                        () = &mut freed => {}
                        () = &mut back => {}
                    }
                }
            }
        }
    }

    /// Frees host memory for another pool by stopping the longest-idle worker anywhere.
    /// Returns whether one was stopped.
    async fn evict_one_idle(&self) -> bool {
        let victim = {
            let pools = self.map();
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

    /// Stops up to `count` idle workers of the function version, keeping at least one.
    pub async fn scale_down(&self, id: FunctionId, version: i64, count: usize) {
        let pool = self.map().get(&(id, version)).cloned();
        if let Some(pool) = pool {
            kill_all(pool.scale_down(count)).await;
        }
    }

    /// Stops every worker of one function version.
    pub async fn detach(&self, id: FunctionId, version: i64) {
        let pool = self.map().remove(&(id, version));
        if let Some(pool) = pool {
            kill_all(pool.retire()).await;
        }
    }

    /// Stops every worker of the function (all versions).
    pub async fn release_function(&self, id: FunctionId) {
        self.release(|(f, _), _| *f == id).await;
    }

    /// Stops every worker of functions of this runtime.
    pub async fn release_runtime(&self, id: RuntimeId) {
        self.release(|_, p| p.runtime_id == id).await;
    }

    /// Stops every idle worker and retires every pool; busy workers stop when their execution
    /// ends.
    pub async fn shutdown(&self) {
        self.release(|_, _| true).await;
    }

    async fn release(&self, which: impl Fn(&PoolKey, &Pool) -> bool) {
        let pools: Vec<_> = {
            let mut pools = self.map();
            let keys: Vec<_> = pools
                .iter()
                .filter(|(k, p)| which(k, p))
                .map(|(k, _)| *k)
                .collect();
            keys.into_iter().filter_map(|k| pools.remove(&k)).collect()
        };
        for pool in pools {
            kill_all(pool.retire()).await;
        }
    }

    /// Stops the workers idle past the expiry, and forgets pools left without workers.
    pub async fn reap_idle(&self) {
        let now = self.clock.instant();
        let (expired, empty): (Vec<_>, Vec<_>) = {
            let pools = self.map();
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
        let mut pools = self.map();
        for key in empty {
            if pools.get(&key).is_some_and(|p| p.is_empty()) {
                pools.remove(&key);
            }
        }
    }

    /// Gives the function's pools the window learned from its calls.
    pub fn set_window(&self, id: FunctionId, window: Window) {
        for ((f, _), pool) in self.map().iter() {
            if *f == id {
                pool.set_window(window);
            }
        }
    }

    /// Idle workers of one function version.
    pub fn idle(&self, id: FunctionId, version: i64) -> usize {
        self.map().get(&(id, version)).map_or(0, |p| p.counts().1)
    }

    /// The live workers of a function, of one version or of all.
    pub fn workers(&self, id: FunctionId, version: Option<i64>) -> Vec<WorkerInfo> {
        let pools = self.map();
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

    /// Workers of one runtime alive on this node, and how many are idle.
    pub fn stats(&self, runtime_id: RuntimeId) -> PoolStats {
        self.map()
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

    /// Live workers per function, for the metrics.
    pub fn live_by_function(&self) -> HashMap<FunctionId, usize> {
        let mut live: HashMap<FunctionId, usize> = HashMap::new();
        for ((id, _), pool) in self.map().iter() {
            *live.entry(*id).or_default() += pool.counts().0;
        }
        live
    }

    /// Bytes of the host memory budget reserved by live workers.
    pub fn memory_used(&self) -> u64 {
        self.capacity.usage().0
    }
}

async fn kill_all(workers: Vec<Box<dyn Worker>>) {
    for mut worker in workers {
        worker.kill().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ridge_core::ManualClock;

    use super::*;
    use crate::testing::Named;

    #[tokio::test]
    async fn out_of_memory_an_execution_takes_its_own_pools_worker_when_it_comes_back() {
        let runtime = RuntimeId::new();
        let function = ridge_core::fixtures::function("default", runtime, 0);
        // Memory for one worker: a second cannot start, and nothing idle can be evicted.
        let pools = Pools::new(
            ScalingPolicy {
                max_workers: 2,
                ..ScalingPolicy::default()
            },
            function.limits.memory_size,
            Arc::new(ridge_core::SystemClock),
        );
        let pool = pools.pool_for(&function, 0, runtime).await;
        let mut busy = pools.lease(&pool).await;
        busy.set_worker(Box::new(Named("w".into())));
        let waiting = async {
            let lease = pools.lease(&pool).await;
            lease.is_warm()
        };
        let returning = async {
            // Past the waiter's patience (a few ms): it tried to start one and was refused.
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(busy.give_back().await.is_none(), "not throttled");
        };
        let both = async { tokio::join!(waiting, returning).0 };
        let warm = tokio::time::timeout(Duration::from_secs(5), both)
            .await
            .expect("the waiter was woken by the worker coming back");
        assert!(warm, "it got the worker given back");
    }

    #[tokio::test]
    async fn idle_workers_are_released_once_the_clock_passes_the_expiry() {
        let clock = Arc::new(ManualClock::starting_now());
        let pools = Pools::new(
            ScalingPolicy {
                max_workers: 2,
                idle_expiry: Duration::from_secs(60),
                ..ScalingPolicy::default()
            },
            u64::MAX,
            clock.clone(),
        );
        let runtime = RuntimeId::new();
        let function = ridge_core::fixtures::function("default", runtime, 0);
        let pool = pools.pool_for(&function, 0, runtime).await;
        let mut lease = pools.lease(&pool).await;
        lease.set_worker(Box::new(Named("w".into())));
        assert!(lease.give_back().await.is_none(), "not throttled");
        let live = |pools: &Pools| pools.workers(function.id, None).len();

        pools.reap_idle().await;
        assert_eq!(live(&pools), 1, "idle for no time yet");
        clock.advance(Duration::from_secs(59));
        pools.reap_idle().await;
        assert_eq!(live(&pools), 1, "idle for less than the expiry");
        assert_eq!(pools.stats(runtime).available, 1);
        clock.advance(Duration::from_secs(1));
        pools.reap_idle().await;
        assert_eq!(live(&pools), 0, "idle for the expiry: released");
        assert_eq!(pools.stats(runtime), PoolStats::default());
        assert!(pools.map().is_empty(), "the empty pool is forgotten");
        assert_eq!(pools.memory_used(), 0);
    }

    #[tokio::test]
    async fn a_learned_prewarm_releases_after_the_call_and_keeps_the_prewarmed_worker() {
        let clock = Arc::new(ManualClock::starting_now());
        let pools = Pools::new(
            ScalingPolicy {
                max_workers: 2,
                idle_expiry: Duration::from_secs(300),
                keep_alive: crate::policy::KeepAlive::Adaptive,
                bucket: Duration::from_secs(60),
            },
            u64::MAX,
            clock.clone(),
        );
        let runtime = RuntimeId::new();
        let function = ridge_core::fixtures::function("default", runtime, 0);
        let live = |pools: &Pools| pools.workers(function.id, None).len();
        pools.arrivals.arrived(function.id, 0);
        let pool = pools.pool_for(&function, 0, runtime).await;
        // Called every 10 minutes: pre-warm at 9 min less 10%, keep until 11 min plus 10%.
        let mut history = ridge_core::ArrivalHistogram::default();
        history.add(10, 40);
        let window = pools
            .arrivals
            .learn(function.id, &history)
            .expect("learned");
        pools.set_window(function.id, window);

        let mut lease = pools.lease(&pool).await;
        lease.set_worker(Box::new(Named("called".into())));
        assert!(lease.give_back().await.is_none(), "not throttled");
        assert_eq!(live(&pools), 0, "released right after its call");
        assert_eq!(pools.memory_used(), 0);

        clock.advance(window.prewarm);
        assert_eq!(pools.arrivals.due_prewarms(10), [(function.id, 0)]);
        let mut lease = pool.try_start().expect("room for a pre-warm");
        lease.set_worker(Box::new(Named("prewarmed".into())));
        lease.give_back_prewarmed().await;
        assert_eq!(pools.idle(function.id, 0), 1, "a pre-warmed worker stays");
        clock.advance(window.keep_alive - Duration::from_secs(1));
        pools.reap_idle().await;
        assert_eq!(live(&pools), 1, "within its keep-alive window");
        clock.advance(Duration::from_secs(1));
        pools.reap_idle().await;
        assert_eq!(live(&pools), 0, "released at the end of the window");
    }
}
