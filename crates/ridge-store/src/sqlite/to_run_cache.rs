//! Functions as [`crate::Store::get_function_to_run`] read them, kept between executions.
//!
//! Every execution reads its function, runtime and project quotas (one joined row): about a
//! tenth of the server's CPU for a warm no-op at concurrency 1, for rows that change only when
//! an operator or user changes a definition (docs/benchmarks.md, "the function read once").
//! A SQLite store is one node's: every write to its file passes through this [`SqliteStore`]
//! (`ridge serve` locks the file against a second server: `lock_sqlite` in
//! `crates/ridge/src/serve.rs`), so the store sees every change and drops the whole cache at
//! each one. PostgreSQL, shared by nodes that write it behind each other's backs, reads the
//! row every time.
//!
//! Which writes drop it (`SqliteStore::changing`): those to the three tables the row is read
//! from. That is a function's create, update and delete, a version's creation (it bumps the
//! function's latest version), a runtime's writes (its pool size too, a column of `runtimes`)
//! and a project's quota overrides. A function's delete cascades to its other rows, never the
//! other way round. The function's execution `count`, which the writer increments with each
//! execution, is the one column a cached row lets lag: nothing that runs a function reads it,
//! and [`crate::Store::get_function`] reads it fresh.
//!
//! A read that races a change cannot put the old row back for good: the reader notes the
//! change counter before it reads, and an entry counts only while the counter has not moved
//! since.
//!
//! [`SqliteStore`]: super::SqliteStore

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use ridge_core::FunctionId;

use crate::FunctionToRun;

/// Functions kept at most; past it the cache starts over (a node running more distinct
/// functions than this between two definition changes reads some again).
const CAPACITY: usize = 4096;

#[derive(Debug, Default)]
pub(super) struct ToRunCache {
    /// Changes so far; an entry is valid only if read at the current count.
    changes: AtomicU64,
    entries: Mutex<HashMap<FunctionId, (u64, FunctionToRun)>>,
}

impl ToRunCache {
    /// The change count to read at: note it before reading the row.
    pub(super) fn now(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// The function `id` as read at the current change count, if it was.
    pub(super) fn get(&self, id: FunctionId) -> Option<FunctionToRun> {
        let now = self.now();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&id)
            .filter(|(at, _)| *at == now)
            .map(|(_, row)| row.clone())
    }

    /// Keeps `row`, read at change count `at`.
    pub(super) fn insert(&self, id: FunctionId, at: u64, row: FunctionToRun) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(id, (at, row));
    }

    /// A definition may have changed: every entry is stale.
    pub(super) fn changed(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function of its own (a fresh id each time) with its runtime and no quota overrides.
    fn row() -> FunctionToRun {
        let runtime = ridge_core::fixtures::runtime("default", true, 0);
        FunctionToRun {
            function: ridge_core::fixtures::function("default", runtime.id, 0),
            runtime,
            quotas: ridge_core::tenancy::QuotaOverrides::default(),
        }
    }

    #[test]
    fn an_entry_read_before_a_change_is_never_served_after_it() {
        let cache = ToRunCache::default();
        let first = row();
        let id = first.function.id;
        let at = cache.now();
        cache.insert(id, at, first.clone());
        assert_eq!(cache.get(id), Some(first.clone()));
        // A reader notes the count, a change lands, then the reader inserts what it read.
        let before = cache.now();
        cache.changed();
        assert_eq!(cache.get(id), None, "dropped at the change");
        cache.insert(id, before, first);
        assert_eq!(cache.get(id), None, "read before the change: never served");
    }

    #[test]
    fn the_cache_holds_at_most_its_capacity() {
        let cache = ToRunCache::default();
        for _ in 0..CAPACITY + 10 {
            let r = row();
            cache.insert(r.function.id, cache.now(), r);
        }
        assert!(cache.len() <= CAPACITY, "{}", cache.len());
    }
}
