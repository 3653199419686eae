//! The pool mechanism: the warm workers of one (function, version), how many are alive, their
//! names, and who waits for one. Decisions come from [`ScalingPolicy`], with the function's
//! keep-alive [`Window`] (a window with a pre-warm time releases each worker as its execution
//! ends); memory comes from the host-wide [`Capacity`]; how long a worker has been idle is read
//! on the engine's [`Clock`].
//!
//! A worker's `cpu` is a CFS quota per 100 ms period. A function called many times a second can
//! use all of it on one worker even at concurrency 1, and its calls then wait for the next
//! period although the pool could start more workers. So a worker given back throttled (see
//! [`Worker::throttled`]) makes the pool spread its calls: for [`SPREAD_FOR`] it hands out the
//! least recently used idle worker rather than the most recent one, and it asks for one more
//! worker (at most one every [`GROW_EVERY`], within `max_workers` and the memory budget), until
//! the workers' shares of the calls fit their quotas. Otherwise the most recently used worker
//! goes first, so that the others go idle and are released.
//!
//! An execution that finds no idle worker waits ([`ScalingPolicy::acquire`]): behind workers
//! still starting, until one is up; for a busy worker, at most about as long as this pool's
//! starts take ([`PATIENCE_BOUNDS`]), and then starts one (docs/architecture.md, *Scaling*).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ridge_core::{Clock, RunShape, RuntimeId};
use ridge_runtime::Worker;
use tokio::sync::Notify;

use crate::capacity::Capacity;
use crate::policy::{Acquire, Keep, ScalingPolicy, Window};

/// How long after a worker was throttled the pool hands out its least recently used worker.
pub(crate) const SPREAD_FOR: Duration = Duration::from_secs(10);

/// Fewest time between two workers asked for because workers were throttled: long enough for
/// the one started before to take its share of the calls.
pub(crate) const GROW_EVERY: Duration = Duration::from_secs(1);

/// How long an execution waits for a busy worker before starting one, before the pool has
/// timed a start of its own; then it waits as long as its starts take, within these bounds.
pub(crate) const DEFAULT_PATIENCE: Duration = Duration::from_millis(10);
const PATIENCE_BOUNDS: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(1));

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
    /// Workers being started (counted in `live`).
    starting: usize,
    /// How long this pool's workers took to start, smoothed (none timed yet: `None`).
    start_time: Option<Duration>,
    /// Names of the started workers, idle or busy.
    names: BTreeSet<String>,
    /// Set when the pool is replaced or released: returned workers are stopped.
    retired: bool,
    /// How long the function's idle workers stay.
    window: Window,
    /// Until when calls are spread over the workers (a worker was throttled).
    spread_until: Option<Instant>,
    /// When the pool last asked for one more worker because a worker was throttled.
    grew_at: Option<Instant>,
}

impl State {
    /// The idle worker to hand out: the most recently used, or while calls are spread, the
    /// least recently used.
    fn take_idle(&mut self, now: Instant) -> Option<IdleWorker> {
        if self.spread_until.is_some_and(|until| now < until) {
            let oldest = (0..self.idle.len()).min_by_key(|&i| self.idle[i].since)?;
            Some(self.idle.remove(oldest))
        } else {
            self.idle.pop()
        }
    }
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
                starting: 0,
                start_time: None,
                names: BTreeSet::new(),
                retired: false,
                window,
                spread_until: None,
                grew_at: None,
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

    /// One attempt. `impatient`: the caller waited its patience for a busy worker, and
    /// starts one if the pool may.
    fn try_acquire(self: &Arc<Self>, impatient: bool) -> Attempt {
        let mut state = self.state();
        match self
            .policy
            .acquire(state.idle.len(), state.live, state.starting)
        {
            Acquire::Reuse => {
                let idle = state
                    .take_idle(self.clock.instant())
                    .expect("policy said an idle worker exists");
                Attempt::Done(Ok(Lease::new(
                    self.clone(),
                    Some((idle.worker, idle.started)),
                )))
            }
            Acquire::Start => Attempt::Done(self.reserve(&mut state).ok_or(NoCapacity)),
            Acquire::WaitThenStart | Acquire::WaitForStarting if impatient => {
                Attempt::Done(self.reserve(&mut state).ok_or(NoCapacity))
            }
            Acquire::WaitThenStart => {
                let (low, high) = PATIENCE_BOUNDS;
                let patience = state.start_time.unwrap_or(DEFAULT_PATIENCE);
                Attempt::Wait(Some(Patience::Busy(patience.clamp(low, high))))
            }
            Acquire::WaitForStarting => Attempt::Wait(Some(Patience::BehindStarts)),
            Acquire::Wait => Attempt::Wait(None),
        }
    }

    /// A lease on a worker to start, its memory reserved; `None` when the budget is spent.
    fn reserve(self: &Arc<Self>, state: &mut State) -> Option<Lease> {
        if !self.capacity.try_reserve(self.memory()) {
            return None;
        }
        let first = state.live == 0;
        state.live += 1;
        state.starting += 1;
        let mut lease = Lease::new(self.clone(), None);
        lease.first = first;
        Some(lease)
    }

    /// Waits for a warm worker or for the right to start one. `NoCapacity` when a worker
    /// should start but the host budget is spent: the caller frees memory or waits for it.
    pub async fn acquire(self: &Arc<Self>) -> Result<Lease, NoCapacity> {
        // When this execution's patience runs out, and what it was waiting for: patience
        // counts anew when that changes (the worker it waited behind is up, and busy).
        let mut give_up: Option<(tokio::time::Instant, Patience)> = None;
        loop {
            let notified = self.returned.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let impatient = give_up.is_some_and(|(at, _)| tokio::time::Instant::now() >= at);
            match self.try_acquire(impatient) {
                Attempt::Done(acquired) => return acquired,
                Attempt::Wait(Some(patience)) => {
                    let at = match give_up {
                        Some((at, before))
                            if std::mem::discriminant(&before)
                                == std::mem::discriminant(&patience) =>
                        {
                            at
                        }
                        _ => tokio::time::Instant::now() + patience.span(),
                    };
                    give_up = Some((at, patience));
                    tokio::select! {
                        () = &mut notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                Attempt::Wait(None) => {
                    // At the limit, or behind workers still starting: patience counts anew
                    // once a worker is up.
                    give_up = None;
                    notified.await;
                }
            }
        }
    }

    /// An idle warm worker, without waiting and without starting one: `None` when none is idle.
    pub fn try_reuse(self: &Arc<Self>) -> Option<Lease> {
        let mut state = self.state();
        if state.retired {
            return None;
        }
        let idle = state.take_idle(self.clock.instant())?;
        Some(Lease::new(self.clone(), Some((idle.worker, idle.started))))
    }

    /// A slot for one more worker, without waiting (pre-warming): `None` at the pool limit or
    /// when the host budget is spent.
    pub fn try_start(self: &Arc<Self>) -> Option<Lease> {
        let mut state = self.state();
        if state.retired || state.live >= self.policy.max_workers {
            return None;
        }
        self.reserve(&mut state)
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

    /// A worker being started is up (`took` its start) or was given up (`None`). Executions
    /// waiting behind it look again once it is up: they may start more. (A start given up
    /// frees its slot, which wakes one of them: not all, as a function whose every start
    /// fails would otherwise wake its whole queue each time.)
    fn start_settled(&self, took: Option<Duration>) {
        let mut state = self.state();
        state.starting = state.starting.saturating_sub(1);
        if let Some(took) = took {
            // Smoothed over about the last four starts.
            state.start_time = Some(match state.start_time {
                Some(before) => (before * 3 + took) / 4,
                None => took,
            });
        }
        drop(state);
        if took.is_some() {
            self.returned.notify_waiters();
        }
    }

    /// Woken when a worker is given back or a slot freed (see [`Pool::acquire`]).
    pub fn returned(&self) -> &Notify {
        &self.returned
    }

    /// Takes a worker back as idle; hands it out for stopping when the pool was retired, or
    /// when the window says to release workers after their call (`after_call`; a pre-warmed
    /// worker is given back with `after_call` false and stays). A `throttled` worker starts
    /// (or prolongs) the spreading of calls, and may ask for one more worker.
    fn give_back(
        &self,
        worker: Box<dyn Worker>,
        started: Instant,
        after_call: bool,
        throttled: bool,
    ) -> Returned {
        let mut state = self.state();
        let mut grow = false;
        if throttled && !state.retired {
            let now = self.clock.instant();
            state.spread_until = Some(now + SPREAD_FOR);
            let due = state
                .grew_at
                .is_none_or(|at| now.saturating_duration_since(at) >= GROW_EVERY);
            if due && state.live < self.policy.max_workers {
                state.grew_at = Some(now);
                grow = true;
            }
        }
        let stale = if state.retired || (after_call && state.window.release_after_call()) {
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
        Returned { stale, grow }
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

/// What one [`Pool::try_acquire`] came to.
enum Attempt {
    Done(Result<Lease, NoCapacity>),
    /// Wait for a worker: for at most so long before starting one, or (`None`, at the limit)
    /// until one is returned.
    Wait(Option<Patience>),
}

/// How long an execution waits for a worker before it starts one of its own.
#[derive(Debug, Clone, Copy)]
enum Patience {
    /// For a busy worker: about what this pool's starts take.
    Busy(Duration),
    /// Behind workers still starting: [`crate::policy::STARTING_PATIENCE`].
    BehindStarts,
}

impl Patience {
    fn span(self) -> Duration {
        match self {
            Patience::Busy(span) => span,
            Patience::BehindStarts => crate::policy::STARTING_PATIENCE,
        }
    }
}

/// What [`Pool::give_back`] did with a worker.
struct Returned {
    /// The worker, when it is to be stopped rather than kept.
    stale: Option<Box<dyn Worker>>,
    /// Whether the pool wants one more worker, its workers being throttled.
    grow: bool,
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
    /// While its worker is being started: since when (real time, to time the start).
    starting: Option<tokio::time::Instant>,
    /// A lease to start a worker into a pool that had none, up or starting, when it was
    /// taken (its start goes ahead of others: [`crate::coldstarts`]).
    first: bool,
    done: bool,
}

impl Lease {
    fn new(pool: Arc<Pool>, worker: Option<(Box<dyn Worker>, Instant)>) -> Self {
        let (worker, started, starting) = match worker {
            Some((worker, started)) => (Some(worker), started, None),
            None => (
                None,
                pool.clock.instant(),
                Some(tokio::time::Instant::now()),
            ),
        };
        Self {
            pool,
            worker,
            started,
            starting,
            first: false,
            done: false,
        }
    }

    /// Its worker is up (`up`) or will not be: the pool counts one start fewer.
    fn settle_start(&mut self, up: bool) {
        if let Some(since) = self.starting.take() {
            self.pool.start_settled(up.then(|| since.elapsed()));
        }
    }

    /// When the lease's worker started (or its cold start began), on the pool's clock.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Whether this lease starts the first worker of a pool that had none, up or starting.
    pub fn first_of_pool(&self) -> bool {
        self.first
    }

    pub fn is_warm(&self) -> bool {
        self.worker.is_some()
    }

    pub fn set_worker(&mut self, worker: Box<dyn Worker>) {
        self.pool.started(worker.name());
        self.worker = Some(worker);
        self.settle_start(true);
    }

    pub fn worker(&mut self) -> Option<&mut Box<dyn Worker>> {
        self.worker.as_mut()
    }

    /// Returns a healthy worker to the pool after its execution (or stops it, if the pool was
    /// retired meanwhile or the function's window releases workers after their call). The
    /// pool, when it wants one more worker: its workers are held at their CPU quota while
    /// calls keep coming (the caller starts one into it, as a pre-warm).
    #[must_use = "a pool whose workers are throttled wants one more worker"]
    pub async fn give_back(self) -> Option<Arc<Pool>> {
        let pool = self.pool.clone();
        self.return_worker(true).await.then_some(pool)
    }

    /// Returns a worker just started ahead of calls (pre-warmed): it stays idle in any window.
    pub async fn give_back_prewarmed(self) {
        let _ = self.return_worker(false).await;
    }

    async fn return_worker(mut self, after_call: bool) -> bool {
        self.done = true;
        self.settle_start(false);
        match self.worker.take() {
            Some(mut worker) => {
                let throttled = after_call && worker.throttled();
                let returned = self
                    .pool
                    .give_back(worker, self.started, after_call, throttled);
                if let Some(mut stale) = returned.stale {
                    stale.kill().await;
                }
                returned.grow
            }
            None => {
                self.pool.forget_one(None);
                false
            }
        }
    }

    /// Stops the worker (if any) and frees the slot.
    pub async fn discard(mut self) {
        self.done = true;
        self.settle_start(false);
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
        self.settle_start(false);
        if !self.done {
            let name = self.worker.as_ref().map(|w| w.name().to_owned());
            self.pool.forget_one(name.as_deref());
        }
    }
}

#[cfg(test)]
mod tests;
