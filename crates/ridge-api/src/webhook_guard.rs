//! What makes a webhook safe to expose beyond Qinling's bare capability URL: an optional
//! per-webhook secret, checked as a bearer token or as an HMAC-SHA256 signature of the body,
//! and a per-webhook rate limit.
//!
//! Accepted proofs of the secret (either one):
//! - `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>`
//!   (GitHub's convention; Gitea, Forgejo and many CI systems send the same header);
//! - `Authorization: Bearer <secret>` (what Grafana's webhook contact point and most
//!   alerting tools can send).
//!
//! Comparisons are constant-time. The rate limit is a token bucket per webhook, kept in this
//! node's memory (a limit per node, not per cluster).

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use ridge_core::WebhookId;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use ridge_engine::rate::Buckets;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Whether the request proves it knows `secret`.
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    if let Some(sig) = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("sha256="))
        && let Ok(sig) = hex::decode(sig.trim())
        && let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
    {
        mac.update(body);
        if mac.verify_slice(&sig).is_ok() {
            return true;
        }
    }
    if let Some(token) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
    {
        return bool::from(token.trim().as_bytes().ct_eq(secret.as_bytes()));
    }
    false
}

/// The signature a sender computes (for tests and documentation).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A token bucket per webhook: `per_minute` requests a minute on average, in bursts of up to
/// `per_minute`. Zero disables the limit.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: Buckets<WebhookId>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Buckets::default(),
        }
    }

    /// Takes a token for `id`; `Err(wait)` when there is none, with how long until there is.
    pub fn check(&self, id: WebhookId, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        self.buckets.take(id, capacity, capacity / 60.0, now)
    }

    /// Forgets a deleted webhook's bucket.
    pub fn forget(&self, id: WebhookId) {
        self.buckets.forget(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn signatures_and_bearer_tokens_are_checked() {
        let secret = "0123456789abcdef";
        let body = br#"{"a": 1}"#;
        let mut h = HeaderMap::new();
        assert!(!verify(secret, &h, body));
        h.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&sign(secret, body)).expect("ascii"),
        );
        assert!(verify(secret, &h, body));
        assert!(!verify(secret, &h, b"tampered"));
        assert!(!verify("another-secret-value", &h, body));

        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdef"),
        );
        assert!(verify(secret, &h, b"anything"));
        h.insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer 0123456789abcdeX"),
        );
        assert!(!verify(secret, &h, b"anything"));
    }

    #[test]
    fn the_bucket_refills_over_time() {
        let limiter = RateLimiter::new(2);
        let id = WebhookId::new();
        let t0 = Instant::now();
        assert!(limiter.check(id, t0).is_ok());
        assert!(limiter.check(id, t0).is_ok());
        let wait = limiter.check(id, t0).expect_err("empty");
        assert!(wait <= Duration::from_secs(30), "{wait:?}");
        // Another webhook has its own bucket.
        assert!(limiter.check(WebhookId::new(), t0).is_ok());
        assert!(limiter.check(id, t0 + Duration::from_secs(31)).is_ok());
        assert!(RateLimiter::new(0).check(id, t0).is_ok());
    }
}
