//! The pool mechanism: the warm workers of one (function, version), how many are alive, their
//! names, and who waits for one. Decisions come from [`ScalingPolicy`], with the function's
//! keep-alive [`Window`] (a window with a pre-warm time releases each worker as its execution
//! ends); memory comes from the host-wide [`Capacity`]; how long a worker has been idle is read
//! on the engine's [`Clock`].

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ridge_core::{Clock, RunShape, RuntimeId};
use ridge_runtime::Worker;
use tokio::sync::Notify;

use crate::capacity::Capacity;
use crate::policy::{Acquire, Keep, ScalingPolicy, Window};

/// A pool serves one (function, version).
pub(crate) type PoolKey = (ridge_core::FunctionId, i64);

struct IdleWorker {
    worker: Box<dyn Worker>,
    /// When it started (on the pool's clock), for its age.
    started: Instant,
    since: Instant,
}

struct State {
    idle: Vec<IdleWorker>,
    /// Idle, busy and starting workers.
    live: usize,
    /// Names of the started workers, idle or busy.
    names: BTreeSet<String>,
    /// Set when the pool is replaced or released: returned workers are stopped.
    retired: bool,
    /// How long the function's idle workers stay.
    window: Window,
}

/// The pool could start a worker but the host-wide memory budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoCapacity;

pub(crate) struct Pool {
    pub runtime_id: RuntimeId,
    /// What this pool's workers were started with: a function whose shape changed gets a new
    /// pool, and workers of the old one are never reused.
    pub shape: RunShape,
    policy: ScalingPolicy,
    capacity: Arc<Capacity>,
    /// When a worker became idle, for the idle expiry.
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    returned: Notify,
}

impl Pool {
    pub fn new(
        runtime_id: RuntimeId,
        shape: RunShape,
        policy: ScalingPolicy,
        capacity: Arc<Capacity>,
        clock: Arc<dyn Clock>,
        window: Window,
    ) -> Arc<Self> {
        Arc::new(Self {
            runtime_id,
            shape,
            policy,
            capacity,
            clock,
            state: Mutex::new(State {
                idle: Vec::new(),
                live: 0,
                names: BTreeSet::new(),
                retired: false,
                window,
            }),
            returned: Notify::new(),
        })
    }

    fn memory(&self) -> u64 {
        self.shape.limits.memory_size
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock would be a bug in this module, which only does
        // bookkeeping under it; the data stays consistent, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One attempt: `None` when the pool is at its limit and the caller must wait.
    fn try_acquire(self: &Arc<Self>) -> Option<Result<Lease, NoCapacity>> {
        let mut state = self.state();
        match self.policy.acquire(state.idle.len(), state.live) {
            Acquire::Reuse => {
                let idle = state.idle.pop().expect("policy said an idle worker exists");
                Some(Ok(Lease::new(
                    self.clone(),
                    Some((idle.worker, idle.started)),
                )))
            }
            Acquire::Start => {
                if !self.capacity.try_reserve(self.memory()) {
                    return Some(Err(NoCapacity));
                }
                state.live += 1;
                Some(Ok(Lease::new(self.clone(), None)))
            }
            Acquire::Wait => None,
        }
    }

    /// Waits for a warm worker or for the right to start one. `NoCapacity` when a worker
    /// should start but the host budget is spent: the caller frees memory or waits for it.
    pub async fn acquire(self: &Arc<Self>) -> Result<Lease, NoCapacity> {
        loop {
            let notified = self.returned.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(acquired) = self.try_acquire() {
                return acquired;
            }
            notified.await;
        }
    }

    /// An idle warm worker, without waiting and without starting one: `None` when none is idle.
    pub fn try_reuse(self: &Arc<Self>) -> Option<Lease> {
        let mut state = self.state();
        if state.retired {
            return None;
        }
        let idle = state.idle.pop()?;
        Some(Lease::new(self.clone(), Some((idle.worker, idle.started))))
    }

    /// A slot for one more worker, without waiting (pre-warming): `None` at the pool limit or
    /// when the host budget is spent.
    pub fn try_start(self: &Arc<Self>) -> Option<Lease> {
        let mut state = self.state();
        if state.retired || state.live >= self.policy.max_workers {
            return None;
        }
        if !self.capacity.try_reserve(self.memory()) {
            return None;
        }
        state.live += 1;
        Some(Lease::new(self.clone(), None))
    }

    /// Removes up to `count` idle workers, keeping at least one worker alive (Qinling's
    /// `scale_down`), and hands them out for stopping.
    pub fn scale_down(&self, count: usize) -> Vec<Box<dyn Worker>> {
        let mut state = self.state();
        let removable = state
            .live
            .saturating_sub(1)
            .min(count)
            .min(state.idle.len());
        let split = state.idle.len() - removable;
        // The longest-idle workers go first.
        state.idle.sort_by_key(|i| std::cmp::Reverse(i.since));
        let removed: Vec<_> = state.idle.drain(split..).map(|i| i.worker).collect();
        self.forget(&mut state, &removed);
        removed
    }

    /// Stops accepting workers back and hands out the idle ones for stopping.
    pub fn retire(&self) -> Vec<Box<dyn Worker>> {
        let mut state = self.state();
        state.retired = true;
        let idle: Vec<_> = state.idle.drain(..).map(|i| i.worker).collect();
        self.forget(&mut state, &idle);
        drop(state);
        self.returned.notify_waiters();
        idle
    }

    /// Hands out the idle workers that the policy says to release at `now` (read on the
    /// pool's clock).
    pub fn reap(&self, now: Instant) -> Vec<Box<dyn Worker>> {
        let mut state = self.state();
        let window = state.window;
        let (expired, kept): (Vec<_>, Vec<_>) = state.idle.drain(..).partition(|i| {
            self.policy
                .keep_idle(now.saturating_duration_since(i.since), &window)
                == Keep::Release
        });
        state.idle = kept;
        let expired: Vec<_> = expired.into_iter().map(|i| i.worker).collect();
        self.forget(&mut state, &expired);
        expired
    }

    /// Takes the longest-idle worker out (to free memory for another pool), with how long it
    /// has been idle.
    pub fn evict_oldest_idle(&self) -> Option<Box<dyn Worker>> {
        let mut state = self.state();
        let oldest = state
            .idle
            .iter()
            .enumerate()
            .min_by_key(|(_, i)| i.since)
            .map(|(n, _)| n)?;
        let worker = state.idle.remove(oldest).worker;
        self.forget(&mut state, std::slice::from_ref(&worker));
        Some(worker)
    }

    /// When the longest-idle worker became idle, if there is one.
    pub fn oldest_idle_since(&self) -> Option<Instant> {
        self.state().idle.iter().map(|i| i.since).min()
    }

    /// Bookkeeping for workers leaving the pool.
    fn forget(&self, state: &mut State, workers: &[Box<dyn Worker>]) {
        for w in workers {
            state.names.remove(w.name());
        }
        self.forget_slots(state, workers.len());
    }

    fn forget_slots(&self, state: &mut State, n: usize) {
        state.live -= n;
        if n > 0 {
            self.capacity.release(self.memory() * n as u64);
        }
    }

    /// (live, idle) workers.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state();
        (state.live, state.idle.len())
    }

    /// Names of the started workers, idle or busy.
    pub fn worker_names(&self) -> Vec<String> {
        self.state().names.iter().cloned().collect()
    }

    /// Sets how long the function's idle workers stay (learned from its calls).
    pub fn set_window(&self, window: Window) {
        self.state().window = window;
    }

    pub fn is_retired(&self) -> bool {
        self.state().retired
    }

    /// True when the pool holds no worker at all and can be forgotten.
    pub fn is_empty(&self) -> bool {
        self.state().live == 0
    }

    fn started(&self, name: &str) {
        self.state().names.insert(name.to_owned());
    }

    /// Takes a worker back as idle; hands it out for stopping when the pool was retired, or
    /// when the window says to release workers after their call (`after_call`; a pre-warmed
    /// worker is given back with `after_call` false and stays).
    fn give_back(
        &self,
        worker: Box<dyn Worker>,
        started: Instant,
        after_call: bool,
    ) -> Option<Box<dyn Worker>> {
        let mut state = self.state();
        let back = if state.retired || (after_call && state.window.release_after_call()) {
            self.forget(&mut state, std::slice::from_ref(&worker));
            Some(worker)
        } else {
            state.idle.push(IdleWorker {
                worker,
                started,
                since: self.clock.instant(),
            });
            None
        };
        drop(state);
        self.returned.notify_one();
        back
    }

    fn forget_one(&self, name: Option<&str>) {
        let mut state = self.state();
        if let Some(name) = name {
            state.names.remove(name);
        }
        self.forget_slots(&mut state, 1);
        drop(state);
        self.returned.notify_one();
    }
}

/// The right to use one worker slot of a pool: holds the worker while an execution runs.
/// Dropping a lease without [`Lease::give_back`] frees the slot and drops the worker, whose
/// process tree is killed on drop; [`Lease::discard`] does the same and waits for the kill.
pub(crate) struct Lease {
    pool: Arc<Pool>,
    worker: Option<Box<dyn Worker>>,
    /// When the worker started, on the pool's clock; for a lease without a worker yet, when
    /// the lease was taken (its cold start begins then).
    started: Instant,
    done: bool,
}

impl Lease {
    fn new(pool: Arc<Pool>, worker: Option<(Box<dyn Worker>, Instant)>) -> Self {
        let (worker, started) = match worker {
            Some((worker, started)) => (Some(worker), started),
            None => (None, pool.clock.instant()),
        };
        Self {
            pool,
            worker,
            started,
            done: false,
        }
    }

    /// When the lease's worker started (or its cold start began), on the pool's clock.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn is_warm(&self) -> bool {
        self.worker.is_some()
    }

    pub fn set_worker(&mut self, worker: Box<dyn Worker>) {
        self.pool.started(worker.name());
        self.worker = Some(worker);
    }

    pub fn worker(&mut self) -> Option<&mut Box<dyn Worker>> {
        self.worker.as_mut()
    }

    /// Returns a healthy worker to the pool after its execution (or stops it, if the pool was
    /// retired meanwhile or the function's window releases workers after their call).
    pub async fn give_back(self) {
        self.return_worker(true).await;
    }

    /// Returns a worker just started ahead of calls (pre-warmed): it stays idle in any window.
    pub async fn give_back_prewarmed(self) {
        self.return_worker(false).await;
    }

    async fn return_worker(mut self, after_call: bool) {
        self.done = true;
        match self.worker.take() {
            Some(worker) => {
                if let Some(mut stale) = self.pool.give_back(worker, self.started, after_call) {
                    stale.kill().await;
                }
            }
            None => self.pool.forget_one(None),
        }
    }

    /// Stops the worker (if any) and frees the slot.
    pub async fn discard(mut self) {
        self.done = true;
        let name = match self.worker.take() {
            Some(mut worker) => {
                worker.kill().await;
                Some(worker.name().to_owned())
            }
            None => None,
        };
        self.pool.forget_one(name.as_deref());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.done {
            let name = self.worker.as_ref().map(|w| w.name().to_owned());
            self.pool.forget_one(name.as_deref());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ridge_core::{Entry, Limits, RuntimeId};

    use super::*;
    use crate::testing::Named;

    fn pool(max_workers: usize, budget: u64) -> Arc<Pool> {
        Pool::new(
            RuntimeId::new(),
            RunShape {
                md5sum: "x".into(),
                entry: Entry::default_entry(),
                limits: Limits {
                    cpu: 100,
                    memory_size: 10,
                    timeout: 5,
                },
                network: ridge_core::NetworkAccess::Loopback,
            },
            ScalingPolicy {
                max_workers,
                idle_expiry: Duration::from_secs(60),
                ..ScalingPolicy::default()
            },
            Arc::new(Capacity::new(budget)),
            Arc::new(ridge_core::SystemClock),
            ScalingPolicy::default().fixed_window(crate::policy::Basis::Fixed),
        )
    }

    async fn started(pool: &Arc<Pool>, name: &str) -> Lease {
        let mut lease = pool.acquire().await.expect("capacity");
        assert!(!lease.is_warm());
        lease.set_worker(Box::new(Named(name.into())));
        lease
    }

    #[tokio::test]
    async fn starts_up_to_the_limit_then_waits_for_a_returned_worker() {
        let p = pool(2, 1000);
        let a = started(&p, "a").await;
        let _b = started(&p, "b").await;
        assert_eq!(p.counts(), (2, 0));
        let waiter = tokio::spawn({
            let p = p.clone();
            async move {
                let lease = p.acquire().await.expect("capacity");
                let warm = lease.is_warm();
                lease.give_back().await;
                warm
            }
        });
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "a third execution waits at the limit"
        );
        a.give_back().await;
        assert!(
            waiter.await.expect("joined"),
            "it gets the returned warm worker"
        );
        assert_eq!(p.worker_names(), vec!["a".to_owned(), "b".to_owned()]);
        assert_eq!(p.counts(), (2, 1));
    }

    #[tokio::test]
    async fn the_memory_budget_stops_starts_and_is_given_back() {
        let p = pool(5, 25);
        let a = started(&p, "a").await;
        let _b = started(&p, "b").await;
        assert!(
            matches!(p.acquire().await, Err(NoCapacity)),
            "a third 10-byte worker does not fit in 25"
        );
        a.discard().await;
        assert!(p.acquire().await.is_ok(), "discarding gave the memory back");
    }

    #[tokio::test]
    async fn scale_down_keeps_one_and_retire_stops_what_comes_back() {
        let p = pool(5, 1000);
        let leases = [
            started(&p, "a").await,
            started(&p, "b").await,
            started(&p, "c").await,
        ];
        for lease in leases {
            lease.give_back().await;
        }
        assert_eq!(p.counts(), (3, 3));
        assert_eq!(p.scale_down(10).len(), 2);
        assert_eq!(p.counts(), (1, 1));
        let busy = p.acquire().await.expect("warm");
        assert!(busy.is_warm());
        assert!(p.retire().is_empty(), "the only worker is busy");
        busy.give_back().await;
        assert_eq!(
            p.counts(),
            (0, 0),
            "a retired pool stops workers handed back"
        );
        assert!(p.worker_names().is_empty());
        assert!(p.try_start().is_none(), "a retired pool starts nothing");
    }

    #[tokio::test]
    async fn a_dropped_lease_frees_its_slot() {
        let p = pool(1, 1000);
        drop(started(&p, "a").await);
        assert_eq!(p.counts(), (0, 0));
        assert!(p.worker_names().is_empty());
        assert!(p.acquire().await.is_ok());
    }
}
