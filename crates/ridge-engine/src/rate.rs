//! Token buckets kept in this node's memory, one per key: what the per-webhook invoke limit
//! and the per-project executions-per-second quota share. With several nodes each refills its
//! buckets at its [`share`] of the limit, so that together they keep to it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One node's part of a limit of `limit` a period spread over `nodes` live nodes: the bucket's
/// capacity (never under one call, or a small limit would admit nothing) and its refill per
/// period. Together the nodes refill at `limit`; a burst may take one call per node more.
pub fn share(limit: f64, nodes: usize) -> (f64, f64) {
    let part = limit / nodes.max(1) as f64;
    (part.max(1.0), part)
}

#[derive(Debug)]
pub struct Buckets<K> {
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq> Default for Buckets<K> {
    fn default() -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq> Buckets<K> {
    /// Takes a token from `key`'s bucket, which holds up to `capacity` and refills `per_sec` a
    /// second; `Err(wait)` when it is empty, with how long until it is not. A zero rate lets
    /// nothing through.
    pub fn take(&self, key: K, capacity: f64, per_sec: f64, now: Instant) -> Result<(), Duration> {
        if per_sec <= 0.0 || capacity < 1.0 {
            return Err(Duration::from_secs(1));
        }
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_sec))
        }
    }

    /// Whether `key`'s bucket holds a token now, without taking it: `Err(wait)` as
    /// [`Buckets::take`] would answer.
    pub fn peek(&self, key: &K, capacity: f64, per_sec: f64, now: Instant) -> Result<(), Duration> {
        if per_sec <= 0.0 || capacity < 1.0 {
            return Err(Duration::from_secs(1));
        }
        let buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(bucket) = buckets.get(key) else {
            return Ok(());
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        let tokens = (bucket.tokens + elapsed * per_sec).min(capacity);
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / per_sec))
        }
    }

    /// Keys with a bucket (full ones included, until [`Buckets::forget_full`]).
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every bucket that has refilled to `capacity` by `now`: a full bucket is the same
    /// as none, so this bounds the memory of keys chosen by strangers (client addresses).
    pub fn forget_full(&self, capacity: f64, per_sec: f64, now: Instant) {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
                b.tokens + elapsed * per_sec < capacity
            });
    }

    /// Forgets a key's bucket.
    pub fn forget(&self, key: &K) {
        self.buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_share_a_limit_and_each_admits_at_least_one() {
        assert_eq!(share(60.0, 1), (60.0, 60.0));
        assert_eq!(share(60.0, 3), (20.0, 20.0));
        assert_eq!(share(1.0, 3), (1.0, 1.0 / 3.0));
        assert_eq!(share(5.0, 0), (5.0, 5.0));
        // One call a second over three nodes: each admits one, then one every three seconds.
        let buckets = Buckets::default();
        let t0 = Instant::now();
        let (burst, rate) = share(1.0, 3);
        assert!(buckets.take("p", burst, rate, t0).is_ok());
        assert!(
            buckets
                .take("p", burst, rate, t0 + Duration::from_secs(2))
                .is_err()
        );
        assert!(
            buckets
                .take("p", burst, rate, t0 + Duration::from_secs(3))
                .is_ok()
        );
    }
}
