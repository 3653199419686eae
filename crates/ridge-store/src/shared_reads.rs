//! Reads of one key shared by the callers that ask for it at once: the read-side match of the
//! writer's group commit ([`crate::writer`]), for a store whose reads cost a round trip
//! (PostgreSQL: every execution reads its function, [`crate::Store::get_function_to_run`]).
//!
//! A caller that finds no read of its key under way sends one and gets its answer. Callers that
//! come while it is under way wait for the next read, sent once that one has ended, and share
//! its answer; those who come during the next wait for the one after, and so on. So a read is
//! always sent after every caller it answers asked (none is answered with a row read before
//! it came: a function updated just before is seen updated, as without sharing), and a key
//! asked for by many callers at once is read at most once per round trip instead of once per
//! caller. Alone, a caller reads as it would without sharing, with no task or hop between.
//!
//! A shared read that fails answers no one: each of its callers reads again on its own, and
//! gets its own error (errors are rare, and the driver's are not `Clone`).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::Result;

/// The callers waiting for the next read of a key, each for a copy of its answer (`None`: it
/// failed, read on your own).
type Waiters<V> = Vec<oneshot::Sender<Option<V>>>;

/// Shared reads by key `K` of values `V`. The map holds a key while a read of it is under way.
pub(crate) struct SharedReads<K, V> {
    under_way: Arc<Mutex<HashMap<K, Waiters<V>>>>,
}

/// A clone shares the reads under way (as clones of a store share its pool).
impl<K, V> Clone for SharedReads<K, V> {
    fn clone(&self) -> Self {
        Self {
            under_way: self.under_way.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for SharedReads<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReads")
            .field("under_way", &lock(&self.under_way).len())
            .finish()
    }
}

impl<K, V> Default for SharedReads<K, V> {
    fn default() -> Self {
        Self {
            under_way: Arc::default(),
        }
    }
}

impl<K, V> SharedReads<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// The value of `key`, read by `read` (called once per read sent: here, or in a task that
    /// reads for the callers who waited).
    pub(crate) async fn get<R, F>(&self, key: K, read: R) -> Result<V>
    where
        R: Fn() -> F + Send + 'static,
        F: Future<Output = Result<V>> + Send + 'static,
    {
        let waiting = {
            let mut under_way = self.lock();
            match under_way.entry(key.clone()) {
                Entry::Occupied(mut waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.get_mut().push(tx);
                    Some(rx)
                }
                Entry::Vacant(slot) => {
                    slot.insert(Vec::new());
                    None
                }
            }
        };
        if let Some(rx) = waiting {
            return match rx.await {
                Ok(Some(value)) => Ok(value),
                // The shared read failed (or was given up): read alone.
                Ok(None) | Err(_) => read().await,
            };
        }
        let mut release = Release {
            under_way: self.under_way.clone(),
            key: Some(key),
        };
        let value = read().await;
        let waiters = release.next_waiters();
        if !waiters.is_empty() {
            tokio::spawn(read_for_waiters(release, read, waiters));
        }
        value
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Waiters<V>>> {
        lock(&self.under_way)
    }
}

fn lock<K, V>(under_way: &Mutex<HashMap<K, Waiters<V>>>) -> MutexGuard<'_, HashMap<K, Waiters<V>>> {
    // Only bookkeeping happens under the lock; a panic there leaves the map consistent.
    under_way.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A key whose read is under way, held by the caller or task that sent it. Dropped before the
/// key is free (the caller gave up on its read, a dropped request; or the task ended early),
/// it frees the key, and those who waited read alone.
struct Release<K: Hash + Eq, V> {
    under_way: Arc<Mutex<HashMap<K, Waiters<V>>>>,
    /// `None` once the key is free.
    key: Option<K>,
}

impl<K: Hash + Eq, V> Release<K, V> {
    /// The callers who came during the read that just ended, for the next one; when none
    /// came, the key is free.
    fn next_waiters(&mut self) -> Waiters<V> {
        let Some(key) = &self.key else {
            return Vec::new();
        };
        let mut under_way = lock(&self.under_way);
        let waiters = under_way
            .get_mut(key)
            .map(std::mem::take)
            .unwrap_or_default();
        if waiters.is_empty() {
            under_way.remove(key);
            drop(under_way);
            self.key = None;
        }
        waiters
    }
}

impl<K: Hash + Eq, V> Drop for Release<K, V> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let waiters = lock(&self.under_way).remove(&key).unwrap_or_default();
            for waiter in waiters {
                let _ = waiter.send(None);
            }
        }
    }
}

/// Reads for `waiters`, then for those who came during that read, until none came.
async fn read_for_waiters<K, V, R, F>(mut release: Release<K, V>, read: R, mut waiters: Waiters<V>)
where
    K: Hash + Eq,
    V: Clone,
    R: Fn() -> F,
    F: Future<Output = Result<V>>,
{
    while !waiters.is_empty() {
        let value = read().await.ok();
        for waiter in waiters {
            let _ = waiter.send(value.clone());
        }
        waiters = release.next_waiters();
    }
}

#[cfg(test)]
mod tests;
