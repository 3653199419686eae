//! Who gets the start-up CPU allowance: whether a cold start may load its function at the
//! sandbox's `startup_cpu` (`[sandbox] startup_cpu`) rather than at the function's own `cpu`.
//!
//! The allowance exists because starting an interpreter is platform work that a small quota
//! stretches tenfold. A function could abuse it: do its real work at import time and crash on
//! purpose in every call, so that every execution is a cold start at ten times its `cpu`. The
//! rule: a worker that ends by failure (a crash, a timeout, a failed load, a broken protocol)
//! less than `cooldown` after it started costs its function the allowance for `cooldown` from
//! then on. A worker that served longer than that, or that the pool stopped (idle expiry,
//! scale-down, a new version), costs nothing. So a function whose workers keep failing young
//! gets the allowance at most once per `cooldown` (plus the cold starts already under way, at
//! most its pool's size), while a healthy function keeps it for every cold start, bursts of
//! them included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ridge_core::{Clock, FunctionId};

/// The ledger of functions that lost the allowance, and until when; read on the engine's clock.
#[derive(Debug)]
pub(crate) struct StartupAllowance {
    cooldown: Duration,
    clock: Arc<dyn Clock>,
    refused_until: Mutex<HashMap<FunctionId, Instant>>,
}

impl StartupAllowance {
    /// A `cooldown` of zero grants the allowance to every cold start.
    pub fn new(cooldown: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            cooldown,
            clock,
            refused_until: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<FunctionId, Instant>> {
        // Only bookkeeping happens under this lock; a poisoned one still holds consistent data.
        self.refused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether a cold start of `function` beginning now gets the allowance.
    pub fn granted(&self, function: FunctionId) -> bool {
        let now = self.clock.instant();
        let mut map = self.map();
        match map.get(&function) {
            Some(until) if now < *until => false,
            Some(_) => {
                map.remove(&function);
                true
            }
            None => true,
        }
    }

    /// A worker of `function` started at `started` ended by failure now.
    pub fn failed(&self, function: FunctionId, started: Instant) {
        let now = self.clock.instant();
        if now.saturating_duration_since(started) >= self.cooldown {
            return;
        }
        let mut map = self.map();
        // Forget functions whose cooldown is over, so the ledger holds only current ones.
        map.retain(|_, until| *until > now);
        map.insert(function, now + self.cooldown);
    }
}

#[cfg(test)]
mod tests {
    use ridge_core::{Clock, ManualClock};

    use super::*;

    #[test]
    fn a_worker_failing_young_costs_the_allowance_for_the_cooldown() {
        let clock = Arc::new(ManualClock::starting_now());
        let ledger = StartupAllowance::new(Duration::from_secs(60), clock.clone());
        let (f, other) = (FunctionId::new(), FunctionId::new());
        assert!(ledger.granted(f), "a function starts with the allowance");
        let started = clock.instant();
        clock.advance(Duration::from_secs(1));
        ledger.failed(f, started);
        assert!(!ledger.granted(f), "its worker crashed 1 s after starting");
        assert!(ledger.granted(other), "other functions keep theirs");
        clock.advance(Duration::from_secs(59));
        assert!(!ledger.granted(f), "still within the cooldown");
        clock.advance(Duration::from_secs(1));
        assert!(ledger.granted(f), "the cooldown is over");
    }

    #[test]
    fn a_worker_that_served_a_while_costs_nothing_and_zero_turns_the_rule_off() {
        let clock = Arc::new(ManualClock::starting_now());
        let ledger = StartupAllowance::new(Duration::from_secs(60), clock.clone());
        let f = FunctionId::new();
        let started = clock.instant();
        clock.advance(Duration::from_secs(60));
        ledger.failed(f, started);
        assert!(
            ledger.granted(f),
            "the worker served for the whole cooldown"
        );

        let off = StartupAllowance::new(Duration::ZERO, clock.clone());
        off.failed(f, clock.instant());
        assert!(off.granted(f));
    }
}
