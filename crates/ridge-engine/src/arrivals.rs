//! The books of the keep-alive policy on this node: per function, when it was last called (and
//! which version), the inter-arrival times counted since the last flush, and the window
//! ([`Window`]) chosen from its whole history at that flush.
//!
//! The execution hot path only counts, in memory ([`Arrivals::arrived`]); the engine's reaper
//! flushes the counts to the store in one additive write per function called since the last
//! tick ([`Arrivals::take_pending`]), reads the merged history back (what every node saw) and
//! sets the window ([`Arrivals::learn`]). A crash loses the counts of at most one reaper tick,
//! and the time of each function's last call (its next call counts no inter-arrival time).
//! Pre-warms come due here ([`Arrivals::due_prewarms`]); the pools start and release workers.
//!
//! Bounds: one entry per function called on this node since it started, each with at most
//! [`ridge_core::arrivals::BUCKETS`] + 1 counts; an entry goes when its function is deleted
//! here, or when a flush finds the function gone (deleted through another node).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ridge_core::{ArrivalHistogram, Clock, FunctionId};

use crate::policy::{Basis, ScalingPolicy, Window};

struct Books {
    /// This node's last call of the function, on the engine's clock, and its version.
    last: Instant,
    version: i64,
    /// Counted since the last flush.
    pending: ArrivalHistogram,
    window: Window,
    /// A pre-warm was started for the last call.
    prewarmed: bool,
    /// The stored history was read at least once.
    read: bool,
}

/// A function's window as operators see it (metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAliveView {
    pub function: FunctionId,
    pub window: Window,
}

pub(crate) struct Arrivals {
    books: Mutex<HashMap<FunctionId, Books>>,
    policy: ScalingPolicy,
    clock: Arc<dyn Clock>,
}

impl Arrivals {
    pub fn new(policy: ScalingPolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            books: Mutex::new(HashMap::new()),
            policy,
            clock,
        }
    }

    fn books(&self) -> MutexGuard<'_, HashMap<FunctionId, Books>> {
        // Only bookkeeping happens under this lock; a poisoned one still holds consistent data.
        self.books
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a call of the function's `version` now.
    pub fn arrived(&self, function: FunctionId, version: i64) {
        let now = self.clock.instant();
        let mut books = self.books();
        match books.get_mut(&function) {
            Some(b) => {
                b.pending
                    .record(now.saturating_duration_since(b.last), self.policy.bucket);
                b.last = now;
                b.version = version;
                b.prewarmed = false;
            }
            None => {
                books.insert(
                    function,
                    Books {
                        last: now,
                        version,
                        pending: ArrivalHistogram::default(),
                        window: self.policy.fixed_window(self.basis()),
                        prewarmed: false,
                        read: false,
                    },
                );
            }
        }
    }

    /// The basis of a window not learned yet.
    fn basis(&self) -> Basis {
        match self.policy.keep_alive {
            crate::policy::KeepAlive::Fixed => Basis::Fixed,
            crate::policy::KeepAlive::Adaptive | crate::policy::KeepAlive::Histogram => {
                Basis::Learning
            }
        }
    }

    /// The function's window: the fixed expiry until a flush learned another.
    pub fn window(&self, function: FunctionId) -> Window {
        self.books()
            .get(&function)
            .map_or_else(|| self.policy.fixed_window(self.basis()), |b| b.window)
    }

    /// The counts not yet flushed, taken out: every function called since the last flush
    /// (with an empty histogram for one called once, so that its history is read).
    pub fn take_pending(&self) -> Vec<(FunctionId, ArrivalHistogram)> {
        self.books()
            .iter_mut()
            .filter(|(_, b)| !b.pending.is_empty() || !b.read)
            .map(|(id, b)| (*id, std::mem::take(&mut b.pending)))
            .collect()
    }

    /// Puts back counts a flush could not write, for the next one.
    pub fn restore(&self, function: FunctionId, pending: &ArrivalHistogram) {
        if let Some(b) = self.books().get_mut(&function) {
            b.pending.merge(pending);
        }
    }

    /// Sets the function's window from its whole `history` (as the store has it); returns it.
    pub fn learn(&self, function: FunctionId, history: &ArrivalHistogram) -> Option<Window> {
        let window = self.policy.window(history);
        let mut books = self.books();
        let b = books.get_mut(&function)?;
        b.window = window;
        b.read = true;
        Some(window)
    }

    /// Forgets the function (deleted).
    pub fn forget(&self, function: FunctionId) {
        self.books().remove(&function);
    }

    /// Forgets a function a flush found gone: it wrote counts and read back none.
    pub fn forget_if_gone(&self, function: FunctionId, stored: &ArrivalHistogram, wrote: bool) {
        if wrote && stored.is_empty() {
            self.forget(function);
        }
    }

    /// Up to `most` (function, version) pairs whose pre-warm time after their last call has
    /// come and whose keep-alive window has not passed, each once per call; the others stay due
    /// for the next round.
    pub fn due_prewarms(&self, most: usize) -> Vec<(FunctionId, i64)> {
        let now = self.clock.instant();
        let mut due = Vec::new();
        for (id, b) in self.books().iter_mut() {
            if b.prewarmed || !b.window.release_after_call() {
                continue;
            }
            if due.len() >= most {
                break;
            }
            let from = b.last + b.window.prewarm;
            if now >= from {
                // Once per call, even when the window has passed already.
                b.prewarmed = true;
                if now < from + b.window.keep_alive {
                    due.push((*id, b.version));
                }
            }
        }
        due
    }

    /// Every function's window, for the metrics.
    pub fn views(&self) -> Vec<KeepAliveView> {
        self.books()
            .iter()
            .map(|(id, b)| KeepAliveView {
                function: *id,
                window: b.window,
            })
            .collect()
    }

    /// How long after the function's last call its pre-warm is due, if one is.
    #[cfg(test)]
    fn prewarm_in(&self, function: FunctionId) -> Option<std::time::Duration> {
        let now = self.clock.instant();
        let books = self.books();
        let b = books.get(&function)?;
        b.window
            .release_after_call()
            .then(|| (b.last + b.window.prewarm).saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ridge_core::ManualClock;

    use super::*;
    use crate::policy::KeepAlive;

    fn arrivals() -> (Arc<ManualClock>, Arrivals) {
        let clock = Arc::new(ManualClock::starting_now());
        let policy = ScalingPolicy {
            keep_alive: KeepAlive::Adaptive,
            bucket: Duration::from_secs(60),
            idle_expiry: Duration::from_secs(300),
            ..ScalingPolicy::default()
        };
        (clock.clone(), Arrivals::new(policy, clock))
    }

    #[test]
    fn calls_are_counted_by_their_gaps_and_taken_once() {
        let (clock, a) = arrivals();
        let f = FunctionId::new();
        a.arrived(f, 0);
        let first = a.take_pending();
        assert_eq!(first.len(), 1, "a new function's history is read");
        assert!(first[0].1.is_empty(), "one call has no gap");
        for _ in 0..3 {
            clock.advance(Duration::from_secs(150));
            a.arrived(f, 0);
        }
        let pending = a.take_pending();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].1.entries().collect::<Vec<_>>(), [(2, 3)]);
        a.learn(f, &pending[0].1);
        assert!(a.take_pending().is_empty(), "taken, and nothing new");
        a.restore(f, &pending[0].1);
        assert_eq!(
            a.take_pending()[0].1,
            pending[0].1,
            "a failed flush is kept"
        );
    }

    #[test]
    fn a_learned_period_schedules_one_prewarm_per_call() {
        let (clock, a) = arrivals();
        let f = FunctionId::new();
        a.arrived(f, 3);
        let mut history = ArrivalHistogram::default();
        history.add(10, 50);
        let w = a.learn(f, &history).expect("learned");
        assert_eq!(w.basis, Basis::Learned);
        assert_eq!(a.window(f), w);
        assert_eq!(a.prewarm_in(f), Some(Duration::from_secs(540)));
        clock.advance(Duration::from_secs(539));
        assert!(a.due_prewarms(10).is_empty(), "before the pre-warm time");
        clock.advance(Duration::from_secs(1));
        assert!(a.due_prewarms(0).is_empty(), "none this round: at most 0");
        assert_eq!(a.due_prewarms(10), [(f, 3)], "still due the next round");
        assert!(a.due_prewarms(10).is_empty(), "once per call");
        clock.advance(Duration::from_secs(60));
        a.arrived(f, 3);
        clock.advance(Duration::from_secs(600) + w.keep_alive);
        assert!(
            a.due_prewarms(10).is_empty(),
            "a pre-warm whose window passed unseen is skipped"
        );
    }

    #[test]
    fn a_function_found_gone_is_forgotten() {
        let (clock, a) = arrivals();
        let f = FunctionId::new();
        a.arrived(f, 0);
        clock.advance(Duration::from_secs(5));
        a.arrived(f, 0);
        let pending = a.take_pending();
        let stored = ArrivalHistogram::default();
        a.forget_if_gone(f, &stored, !pending[0].1.is_empty());
        assert!(a.views().is_empty());
    }
}
