//! Compiled modules kept in memory after their workers are gone, so that a worker started again
//! (after `detach`, an idle release, or a second worker of a busy function) is an instance of a
//! module already loaded and linked: no file read, no hash, no deserialization, no blocking
//! thread. A kept module is its linked [`crate::worker::Prepared`] form, keyed by the function's unpacked
//! package directory (named after the package's md5, so its content never changes) and entry.
//!
//! Bounded by the operator's budget of bytes of machine code ([`WasmConfig::module_memory`])
//! and by [`MAX_KEPT`] entries; the least recently started module goes first. A module larger
//! than the whole budget is not kept. A budget of 0 keeps nothing.
//!
//! [`WasmConfig::module_memory`]: crate::WasmConfig::module_memory

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// The most modules kept at once, whatever their size: the eviction scan stays short.
pub(crate) const MAX_KEPT: usize = 1024;

/// What a kept module is found by: the unpacked package directory and the function's entry.
pub(crate) type Key = (PathBuf, String);

struct Entry<T> {
    prepared: Arc<T>,
    bytes: u64,
    used: u64,
}

struct State<T> {
    entries: HashMap<Key, Entry<T>>,
    bytes: u64,
    clock: u64,
}

/// Kept modules: `T` is [`crate::worker::Prepared`] (anything, in the tests).
pub(crate) struct Kept<T> {
    budget: u64,
    state: Mutex<State<T>>,
}

impl<T> Kept<T> {
    pub(crate) fn new(budget: u64) -> Self {
        Self {
            budget,
            state: Mutex::new(State {
                entries: HashMap::new(),
                bytes: 0,
                clock: 0,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State<T>> {
        // Only bookkeeping happens under the lock: a panic cannot leave it inconsistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The module kept under `key`, marked as just used.
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<T>> {
        let mut state = self.state();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(key)?;
        entry.used = now;
        Some(entry.prepared.clone())
    }

    /// Keeps `prepared` (`bytes` of machine code) under `key`, evicting the least recently used
    /// modules until it fits; nothing when it alone is over the budget.
    pub(crate) fn keep(&self, key: Key, prepared: Arc<T>, bytes: u64) {
        if bytes > self.budget {
            return;
        }
        let mut state = self.state();
        if let Some(old) = state.entries.remove(&key) {
            state.bytes -= old.bytes;
        }
        while !state.entries.is_empty()
            && (state.bytes + bytes > self.budget || state.entries.len() >= MAX_KEPT)
        {
            let oldest = state
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
                .expect("not empty");
            let evicted = state.entries.remove(&oldest).expect("just found");
            state.bytes -= evicted.bytes;
        }
        state.clock += 1;
        let used = state.clock;
        state.bytes += bytes;
        state.entries.insert(
            key,
            Entry {
                prepared,
                bytes,
                used,
            },
        );
    }

    /// (modules kept, bytes of machine code they hold).
    #[cfg(test)]
    pub(crate) fn usage(&self) -> (usize, u64) {
        let state = self.state();
        (state.entries.len(), state.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> Key {
        (
            PathBuf::from(format!("/unpacked/p/f_{n}")),
            "main".to_owned(),
        )
    }

    #[test]
    fn the_least_recently_started_goes_first_and_the_budget_holds() {
        let kept = Kept::new(100);
        kept.keep(key(1), Arc::new(1), 40);
        kept.keep(key(2), Arc::new(2), 40);
        assert_eq!(
            kept.get(&key(1)).as_deref(),
            Some(&1),
            "1 is now the most recent"
        );
        kept.keep(key(3), Arc::new(3), 40);
        assert_eq!(kept.usage(), (2, 80), "one went to make room");
        assert!(kept.get(&key(2)).is_none(), "2 was the least recently used");
        assert!(kept.get(&key(1)).is_some() && kept.get(&key(3)).is_some());
        kept.keep(key(3), Arc::new(33), 10);
        assert_eq!(
            kept.usage(),
            (2, 50),
            "kept again: replaced, not counted twice"
        );
        assert_eq!(kept.get(&key(3)).as_deref(), Some(&33));
        kept.keep(key(4), Arc::new(4), 101);
        assert!(
            kept.get(&key(4)).is_none(),
            "over the whole budget: not kept"
        );
        assert_eq!(kept.usage(), (2, 50), "and nothing evicted for it");
    }

    #[test]
    fn a_zero_budget_keeps_nothing_and_the_count_is_capped() {
        let none = Kept::new(0);
        none.keep(key(1), Arc::new(1), 1);
        assert!(none.get(&key(1)).is_none());
        let many = Kept::new(u64::MAX);
        for n in 0..=u32::try_from(MAX_KEPT).expect("small") {
            many.keep(key(n), Arc::new(n), 1);
        }
        assert_eq!(many.usage().0, MAX_KEPT);
        assert!(many.get(&key(0)).is_none(), "the first went");
    }
}
