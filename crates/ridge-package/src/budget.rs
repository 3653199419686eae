//! Which unpacked packages stay in the bounded unpack cache: a pure ledger of what each one
//! takes and when it was last asked for, answering "what must go so that this fits?" with the
//! least recently used first. It decides; `tmpfs.rs` and `local.rs` mount and unmount.

use std::collections::HashMap;
use std::hash::Hash;

/// The bytes each cached entry takes, within `capacity`.
#[derive(Debug)]
pub(crate) struct CacheBudget<K> {
    capacity: u64,
    used: u64,
    /// A counter that orders uses; larger is more recent.
    clock: u64,
    entries: HashMap<K, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    bytes: u64,
    last_used: u64,
}

/// An entry that can never fit: it alone takes more than the capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DoesNotFit {
    pub(crate) bytes: u64,
    pub(crate) capacity: u64,
}

impl<K: Eq + Hash + Clone> CacheBudget<K> {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            capacity,
            used: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether `key` is cached; if so it becomes the most recently used.
    pub(crate) fn touch(&mut self, key: &K) -> bool {
        self.clock += 1;
        let now = self.clock;
        match self.entries.get_mut(key) {
            Some(entry) => {
                entry.last_used = now;
                true
            }
            None => false,
        }
    }

    /// Removes, least recently used first, as many entries as it takes for `bytes` more to fit,
    /// and returns them (for the caller to unmount). Removes nothing when `bytes` alone exceed
    /// the capacity.
    pub(crate) fn make_room(&mut self, bytes: u64) -> Result<Vec<K>, DoesNotFit> {
        if bytes > self.capacity {
            return Err(DoesNotFit {
                bytes,
                capacity: self.capacity,
            });
        }
        let mut by_age: Vec<(u64, K)> = self
            .entries
            .iter()
            .map(|(k, e)| (e.last_used, k.clone()))
            .collect();
        by_age.sort_by_key(|(last_used, _)| *last_used);
        let mut evicted = Vec::new();
        for (_, key) in by_age {
            if self.used.saturating_add(bytes) <= self.capacity {
                break;
            }
            self.remove(&key);
            evicted.push(key);
        }
        Ok(evicted)
    }

    /// Records `key` taking `bytes`, as the most recently used (after [`Self::make_room`]).
    pub(crate) fn insert(&mut self, key: K, bytes: u64) {
        self.remove(&key);
        self.clock += 1;
        self.used = self.used.saturating_add(bytes);
        self.entries.insert(
            key,
            Entry {
                bytes,
                last_used: self.clock,
            },
        );
    }

    /// Forgets `key`; whether it was there.
    pub(crate) fn remove(&mut self, key: &K) -> bool {
        match self.entries.remove(key) {
            Some(entry) => {
                self.used = self.used.saturating_sub(entry.bytes);
                true
            }
            None => false,
        }
    }

    /// Every cached key for which `matches` holds.
    pub(crate) fn keys_where(&self, matches: impl Fn(&K) -> bool) -> Vec<K> {
        self.entries
            .keys()
            .filter(|k| matches(k))
            .cloned()
            .collect()
    }

    pub(crate) fn used(&self) -> u64 {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_and_only_as_many_as_needed() {
        let mut b = CacheBudget::new(100);
        b.insert("a", 40);
        b.insert("b", 30);
        b.insert("c", 20);
        assert!(b.touch(&"a"), "a is now the most recent");
        assert_eq!(b.make_room(10), Ok(vec![]), "90 + 10 fit in 100");
        assert_eq!(b.make_room(35), Ok(vec!["b"]), "b is the oldest");
        assert_eq!(b.used(), 60);
        b.insert("d", 35);
        assert_eq!(b.make_room(60), Ok(vec!["c", "a"]));
        assert_eq!(b.used(), 35);
        assert!(!b.touch(&"a"), "evicted");
    }

    #[test]
    fn what_cannot_fit_evicts_nothing() {
        let mut b = CacheBudget::new(100);
        b.insert("a", 60);
        assert_eq!(
            b.make_room(101),
            Err(DoesNotFit {
                bytes: 101,
                capacity: 100
            })
        );
        assert_eq!(b.used(), 60);
        assert_eq!(b.make_room(100), Ok(vec!["a"]), "exactly the capacity fits");
    }

    #[test]
    fn reinserting_and_removing_keep_the_books() {
        let mut b = CacheBudget::new(100);
        b.insert("a", 60);
        b.insert("a", 70);
        assert_eq!(b.used(), 70);
        assert!(b.remove(&"a"));
        assert!(!b.remove(&"a"));
        assert_eq!(b.used(), 0);
        b.insert("p1/x", 1);
        b.insert("p2/x", 1);
        assert_eq!(b.keys_where(|k| k.starts_with("p1/")), vec!["p1/x"]);
    }
}
