//! The replay cache of timestamped signatures: each accepted signature is remembered until its
//! timestamp leaves the window (after which the timestamp alone refuses it), so a captured
//! request cannot be sent again. Bounded: past [`MAX_ENTRIES`] remembered signatures, expired
//! ones are dropped, and if none has expired the call is turned away (429) rather than let
//! through unremembered. Only correctly signed calls are remembered, so no one without the
//! secret can fill it.

use std::collections::HashMap;
use std::sync::Mutex;

use ridge_core::WebhookId;

/// The most signatures remembered at once, across webhooks (a few MB).
pub const MAX_ENTRIES: usize = 100_000;

/// What [`ReplayCache::remember`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// First time: remembered until the given Unix time.
    New,
    /// The same signature was accepted before, within the window.
    Again,
    /// The cache is full of unexpired signatures.
    Full,
}

#[derive(Debug)]
pub struct ReplayCache {
    max: usize,
    /// (webhook, signature) to the Unix time it may be forgotten at.
    seen: Mutex<HashMap<(WebhookId, [u8; 32]), i64>>,
}

impl Default for ReplayCache {
    fn default() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }
}

impl ReplayCache {
    pub fn with_capacity(max: usize) -> Self {
        Self {
            max,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Remembers `signature` of webhook `id` until `until` (Unix seconds), unless it was seen.
    pub fn remember(&self, id: WebhookId, signature: [u8; 32], until: i64, now: i64) -> Seen {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (id, signature);
        if seen.get(&key).is_some_and(|expires| *expires >= now) {
            return Seen::Again;
        }
        if seen.len() >= self.max {
            seen.retain(|_, expires| *expires >= now);
            if seen.len() >= self.max {
                return Seen::Full;
            }
        }
        seen.insert(key, until);
        Seen::New
    }

    /// Forgets a deleted webhook's signatures.
    pub fn forget(&self, id: WebhookId) {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .retain(|(webhook, _), _| *webhook != id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_accepted_once_within_its_window() {
        let cache = ReplayCache::default();
        let id = WebhookId::new();
        assert_eq!(cache.remember(id, [1; 32], 100, 0), Seen::New);
        assert_eq!(cache.remember(id, [1; 32], 100, 50), Seen::Again);
        // Another webhook, or another signature, is new.
        assert_eq!(
            cache.remember(WebhookId::new(), [1; 32], 100, 50),
            Seen::New
        );
        assert_eq!(cache.remember(id, [2; 32], 100, 50), Seen::New);
    }

    #[test]
    fn the_cache_stays_bounded_and_refuses_rather_than_forgets() {
        let cache = ReplayCache::with_capacity(2);
        let id = WebhookId::new();
        assert_eq!(cache.remember(id, [1; 32], 10, 0), Seen::New);
        assert_eq!(cache.remember(id, [2; 32], 20, 0), Seen::New);
        assert_eq!(cache.remember(id, [3; 32], 30, 5), Seen::Full);
        assert_eq!(cache.remember(id, [1; 32], 10, 5), Seen::Again, "kept");
        // Once the first expires, its room is reused.
        assert_eq!(cache.remember(id, [3; 32], 30, 11), Seen::New);
        assert_eq!(cache.len(), 2);
        cache.forget(id);
        assert_eq!(cache.len(), 0);
    }
}
