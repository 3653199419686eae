//! What keeps bad tokens cheap in `keystone` mode: a refused token is remembered for
//! [`REFUSAL_TTL`], so asking again costs no Keystone round trip, and each client address may
//! have only so many tokens refused ([`BURST`] at once, then one every [`REFILL`]) before its
//! unknown tokens get 429 without Keystone being asked at all. Both are bounded in memory:
//! past [`MAX_REMEMBERED`] refused tokens the expired ones are dropped (and if none has expired,
//! all are: this is a cache), and past [`MAX_ADDRESSES`] addresses with a partly spent budget,
//! new addresses share one budget.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ridge_engine::rate::Buckets;

/// How long a refused token is answered from memory.
pub const REFUSAL_TTL: Duration = Duration::from_secs(30);
/// Refused tokens one address may send at once.
pub const BURST: f64 = 20.0;
/// How often an address earns one more refusal.
pub const REFILL: Duration = Duration::from_secs(1);
/// Refused tokens remembered at most.
pub const MAX_REMEMBERED: usize = 10_000;
/// Addresses with a budget of their own at most.
pub const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug, Default)]
pub struct Refusals {
    /// Token hash to the instant it may be asked about again.
    tokens: Mutex<HashMap<String, Instant>>,
    /// Refusals left per client address (`None`: unknown, or past [`MAX_ADDRESSES`]).
    budgets: Buckets<Option<IpAddr>>,
}

fn per_sec() -> f64 {
    1.0 / REFILL.as_secs_f64()
}

impl Refusals {
    /// Whether the token with hash `key` was refused within [`REFUSAL_TTL`].
    pub fn was_refused(&self, key: &str, now: Instant) -> bool {
        self.tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .is_some_and(|until| *until > now)
    }

    /// Whether `client` may still have a token checked: `Err(wait)` once its budget is spent.
    pub fn budget_left(&self, client: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        self.budgets
            .peek(&self.key(client, now), BURST, per_sec(), now)
    }

    /// Records that `client` sent the token with hash `key` and Keystone refused it.
    pub fn refused(&self, key: String, client: Option<IpAddr>, now: Instant) {
        let mut tokens = self
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if tokens.len() >= MAX_REMEMBERED {
            tokens.retain(|_, until| *until > now);
            if tokens.len() >= MAX_REMEMBERED {
                tokens.clear();
            }
        }
        tokens.insert(key, now + REFUSAL_TTL);
        drop(tokens);
        let _ = self
            .budgets
            .take(self.key(client, now), BURST, per_sec(), now);
    }

    /// The budget `client` spends: its own, unless too many addresses have one.
    fn key(&self, client: Option<IpAddr>, now: Instant) -> Option<IpAddr> {
        if self.budgets.len() >= MAX_ADDRESSES {
            self.budgets.forget_full(BURST, per_sec(), now);
            if self.budgets.len() >= MAX_ADDRESSES {
                return None;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_tokens_are_remembered_briefly() {
        let r = Refusals::default();
        let t0 = Instant::now();
        assert!(!r.was_refused("k", t0));
        r.refused("k".into(), None, t0);
        assert!(r.was_refused("k", t0 + REFUSAL_TTL - Duration::from_secs(1)));
        assert!(!r.was_refused("k", t0 + REFUSAL_TTL));
    }

    #[test]
    fn each_address_has_its_own_budget_of_refusals() {
        let r = Refusals::default();
        let t0 = Instant::now();
        let a: Option<IpAddr> = Some("192.0.2.1".parse().expect("ip"));
        let b: Option<IpAddr> = Some("192.0.2.2".parse().expect("ip"));
        for i in 0..BURST as usize {
            assert!(r.budget_left(a, t0).is_ok(), "{i}");
            r.refused(format!("bad-{i}"), a, t0);
        }
        let wait = r.budget_left(a, t0).expect_err("spent");
        assert!(wait <= REFILL, "{wait:?}");
        assert!(
            r.budget_left(b, t0).is_ok(),
            "another address is not affected"
        );
        assert!(r.budget_left(a, t0 + REFILL).is_ok(), "it refills");
    }

    #[test]
    fn memory_stays_bounded() {
        let r = Refusals::default();
        let t0 = Instant::now();
        for i in 0..MAX_REMEMBERED + 10 {
            r.refused(format!("token-{i}"), None, t0);
        }
        let remembered = r
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len();
        assert!(remembered <= MAX_REMEMBERED, "{remembered}");
    }
}
