//! The pool mechanism: the warm workers of one (function, version), how many are alive, and
//! who waits for one. Decisions come from [`ScalingPolicy`].

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ridge_core::{Entry, FunctionId, Limits, RuntimeId};
use ridge_runtime::Worker;
use tokio::sync::Notify;

use crate::policy::{Acquire, Keep, ScalingPolicy};

/// A pool serves one (function, version).
pub(crate) type PoolKey = (FunctionId, i64);

/// What the workers of a pool were started with. A function whose code, entry or limits
/// changed gets a new pool; workers of the old one are never reused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub md5sum: String,
    pub entry: Entry,
    pub limits: Limits,
}

struct IdleWorker {
    worker: Box<dyn Worker>,
    since: Instant,
}

#[derive(Default)]
struct State {
    idle: Vec<IdleWorker>,
    /// Idle, busy and starting workers.
    live: usize,
    /// Set when the pool is replaced or released: returned workers are stopped.
    retired: bool,
}

pub(crate) struct Pool {
    pub runtime_id: RuntimeId,
    pub fingerprint: Fingerprint,
    policy: ScalingPolicy,
    state: Mutex<State>,
    returned: Notify,
}

impl Pool {
    pub fn new(
        runtime_id: RuntimeId,
        fingerprint: Fingerprint,
        policy: ScalingPolicy,
    ) -> Arc<Self> {
        Arc::new(Self {
            runtime_id,
            fingerprint,
            policy,
            state: Mutex::new(State::default()),
            returned: Notify::new(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock would be a bug in this module, which only does
        // bookkeeping under it; the data stays consistent, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a warm worker or for the right to start one.
    pub async fn acquire(self: &Arc<Self>) -> Lease {
        loop {
            let notified = self.returned.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state();
                match self.policy.acquire(state.idle.len(), state.live) {
                    Acquire::Reuse => {
                        let idle = state.idle.pop().expect("policy said an idle worker exists");
                        return Lease::new(self.clone(), Some(idle.worker));
                    }
                    Acquire::Start => {
                        state.live += 1;
                        return Lease::new(self.clone(), None);
                    }
                    Acquire::Wait => {}
                }
            }
            notified.await;
        }
    }

    /// Stops accepting workers back and hands out the idle ones for stopping.
    pub fn retire(&self) -> Vec<Box<dyn Worker>> {
        let mut state = self.state();
        state.retired = true;
        let idle: Vec<_> = state.idle.drain(..).map(|i| i.worker).collect();
        state.live -= idle.len();
        drop(state);
        self.returned.notify_waiters();
        idle
    }

    /// Hands out the idle workers that the policy says to release.
    pub fn reap(&self, now: Instant) -> Vec<Box<dyn Worker>> {
        let mut state = self.state();
        let (expired, kept): (Vec<_>, Vec<_>) = state
            .idle
            .drain(..)
            .partition(|i| self.policy.keep_idle(now.duration_since(i.since)) == Keep::Release);
        state.idle = kept;
        state.live -= expired.len();
        expired.into_iter().map(|i| i.worker).collect()
    }

    /// (live, idle) workers.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state();
        (state.live, state.idle.len())
    }

    pub fn is_retired(&self) -> bool {
        self.state().retired
    }

    /// True when the pool holds no worker at all and can be forgotten.
    pub fn is_empty(&self) -> bool {
        self.state().live == 0
    }

    fn give_back(&self, worker: Box<dyn Worker>) -> Option<Box<dyn Worker>> {
        let mut state = self.state();
        let back = if state.retired {
            state.live -= 1;
            Some(worker)
        } else {
            state.idle.push(IdleWorker {
                worker,
                since: Instant::now(),
            });
            None
        };
        drop(state);
        self.returned.notify_one();
        back
    }

    fn forget_one(&self) {
        self.state().live -= 1;
        self.returned.notify_one();
    }
}

/// The right to use one worker slot of a pool: holds the worker while an execution runs.
/// Dropping a lease without [`Lease::give_back`] frees the slot and drops the worker, whose
/// process tree is killed on drop; [`Lease::discard`] does the same and waits for the kill.
pub(crate) struct Lease {
    pool: Arc<Pool>,
    worker: Option<Box<dyn Worker>>,
    done: bool,
}

impl Lease {
    fn new(pool: Arc<Pool>, worker: Option<Box<dyn Worker>>) -> Self {
        Self {
            pool,
            worker,
            done: false,
        }
    }

    pub fn is_warm(&self) -> bool {
        self.worker.is_some()
    }

    pub fn set_worker(&mut self, worker: Box<dyn Worker>) {
        self.worker = Some(worker);
    }

    pub fn worker(&mut self) -> Option<&mut Box<dyn Worker>> {
        self.worker.as_mut()
    }

    /// Returns a healthy worker to the pool (or stops it if the pool was retired meanwhile).
    pub async fn give_back(mut self) {
        self.done = true;
        match self.worker.take() {
            Some(worker) => {
                if let Some(mut stale) = self.pool.give_back(worker) {
                    stale.kill().await;
                }
            }
            None => self.pool.forget_one(),
        }
    }

    /// Stops the worker (if any) and frees the slot.
    pub async fn discard(mut self) {
        self.done = true;
        if let Some(mut worker) = self.worker.take() {
            worker.kill().await;
        }
        self.pool.forget_one();
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.done {
            self.pool.forget_one();
        }
    }
}
