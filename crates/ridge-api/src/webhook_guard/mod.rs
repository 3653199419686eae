//! What makes a webhook safe to expose beyond Qinling's bare capability URL: an optional
//! per-webhook secret, proven by a signature or a bearer token, replay protection for
//! timestamped signatures, and rate limits that keep refused calls apart from accepted ones.
//!
//! Accepted proofs of the secret (any one):
//! - `X-Ridge-Timestamp: <Unix seconds>` with
//!   `X-Ridge-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>", keyed with the secret>`
//!   (the scheme of Stripe and Slack; recommended): refused outside the signature window
//!   (default five minutes either way), and each signature is accepted once ([`replay`]);
//! - `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>` (GitHub's convention;
//!   Gitea, Forgejo and many CI systems send it): kept for compatibility, and replayable;
//! - `Authorization: Bearer <secret>` (what Grafana and most alerting tools can send).
//!
//! Comparisons are constant-time. Rate limits are token buckets per webhook, in each node's
//! memory ([`RateLimiter`]) refilled at the node's share of the limit: one for accepted calls,
//! one for refused calls. A flood of calls
//! without the secret spends only the refused budget, so the secret holder is never locked
//! out; once the refused budget is spent, calls that carry no signature (a bearer guess, or
//! nothing) are answered 429 without being checked, which keeps guessing slow. Signed calls
//! are always checked: a wrong signature teaches nothing about the secret.

pub mod replay;

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use ridge_core::WebhookId;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use ridge_engine::rate::Buckets;

use replay::{ReplayCache, Seen};

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
pub const TIMESTAMP_HEADER: &str = "x-ridge-timestamp";
pub const RIDGE_SIGNATURE_HEADER: &str = "x-ridge-signature";

/// How far a signed timestamp may be from the server's clock, by default.
pub const DEFAULT_SIGNATURE_WINDOW: Duration = Duration::from_secs(300);

/// Why a call was not accepted as the secret holder's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No proof of the secret at all.
    Missing,
    /// A proof that does not match the secret (or the body).
    Wrong,
    /// `X-Ridge-Signature` without a readable `X-Ridge-Timestamp`.
    BadTimestamp,
    /// A correct timestamped signature, outside the window by this many seconds.
    Stale { off_by: u64 },
    /// A correct timestamped signature that was already accepted.
    Replayed,
}

impl Refusal {
    /// The `faultstring`: what to send instead.
    pub fn message(self, id: WebhookId, window: Duration) -> String {
        let how = "sign `<timestamp>.<body>` with HMAC-SHA256 keyed with the secret and send `X-Ridge-Timestamp: <Unix seconds>` and `X-Ridge-Signature: v1=<hex>`, or send `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` or `Authorization: Bearer <secret>`";
        let window = window.as_secs();
        match self {
            Refusal::Missing | Refusal::Wrong => {
                format!("webhook `{id}` needs its secret: {how}")
            }
            Refusal::BadTimestamp => format!(
                "webhook `{id}`: `X-Ridge-Signature` needs `X-Ridge-Timestamp`, the signing time in Unix seconds"
            ),
            Refusal::Stale { off_by } => format!(
                "webhook `{id}`: the signed timestamp is {off_by} s outside the {window} s window: sign each call when sending it, and keep the sender's clock in sync"
            ),
            Refusal::Replayed => format!(
                "webhook `{id}`: this signed call was already accepted: sign each call anew, with its own timestamp"
            ),
        }
    }
}

/// What a guard answers for a call to a webhook with a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// A timestamped signature, new to this node: accepted once the store says no other node
    /// saw it either ([`Signed`]).
    Signed(Signed),
    Refused(Refusal),
    /// The replay cache is full: try again shortly (429).
    Busy,
}

/// A valid timestamped signature (its MAC, which no variation of the headers changes) and
/// until when (Unix seconds) a replay of it must be refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed {
    pub mac: [u8; 32],
    pub until: i64,
}

impl Signed {
    /// The key the nodes record it under.
    pub fn key(&self) -> String {
        hex::encode(self.mac)
    }
}

/// The secret checks: the signature window and this node's replay cache (a fast first check;
/// the store's record of signatures makes it hold across nodes).
#[derive(Debug)]
pub struct SecretCheck {
    window: Duration,
    replays: ReplayCache,
}

impl SecretCheck {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            replays: ReplayCache::default(),
        }
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// Whether the call proves it knows `secret`, at `now` (Unix seconds).
    pub fn verify(
        &self,
        id: WebhookId,
        secret: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Verdict {
        if let Some(signatures) = header(headers, RIDGE_SIGNATURE_HEADER) {
            return self.timestamped(id, secret, headers, signatures, body, now);
        }
        if let Some(sig) = header(headers, SIGNATURE_HEADER) {
            let matches = sig
                .strip_prefix("sha256=")
                .and_then(|sig| hex::decode(sig.trim()).ok())
                .is_some_and(|sig| mac(secret, &[body]).verify_slice(&sig).is_ok());
            return accepted_if(matches);
        }
        if let Some(token) = bearer(headers) {
            return accepted_if(bool::from(token.as_bytes().ct_eq(secret.as_bytes())));
        }
        Verdict::Refused(Refusal::Missing)
    }

    fn timestamped(
        &self,
        id: WebhookId,
        secret: &str,
        headers: &HeaderMap,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Verdict {
        let Some(timestamp) = header(headers, TIMESTAMP_HEADER) else {
            return Verdict::Refused(Refusal::BadTimestamp);
        };
        let Ok(at) = timestamp.parse::<i64>() else {
            return Verdict::Refused(Refusal::BadTimestamp);
        };
        let expected: [u8; 32] = mac(secret, &[timestamp.as_bytes(), b".", body])
            .finalize()
            .into_bytes()
            .into();
        // Several `v1=` entries may be sent (while a secret is being rotated).
        let matches = signatures
            .split(',')
            .filter_map(|s| s.trim().strip_prefix("v1="))
            .filter_map(|s| hex::decode(s.trim()).ok())
            .any(|sig| bool::from(sig.as_slice().ct_eq(&expected)));
        if !matches {
            return Verdict::Refused(Refusal::Wrong);
        }
        let window = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        let off = now.saturating_sub(at).saturating_abs();
        if off > window {
            return Verdict::Refused(Refusal::Stale {
                off_by: u64::try_from(off - window).unwrap_or(u64::MAX),
            });
        }
        let until = at.saturating_add(window);
        match self.replays.remember(id, expected, until, now) {
            Seen::New => Verdict::Signed(Signed {
                mac: expected,
                until,
            }),
            Seen::Again => Verdict::Refused(Refusal::Replayed),
            Seen::Full => Verdict::Busy,
        }
    }

    /// Forgets a deleted webhook.
    pub fn forget(&self, id: WebhookId) {
        self.replays.forget(id);
    }
}

fn accepted_if(matches: bool) -> Verdict {
    if matches {
        Verdict::Accepted
    } else {
        Verdict::Refused(Refusal::Wrong)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    header(headers, axum::http::header::AUTHORIZATION.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Whether the call carries a signature (of either scheme), which is always checked.
pub fn is_signed(headers: &HeaderMap) -> bool {
    headers.contains_key(RIDGE_SIGNATURE_HEADER) || headers.contains_key(SIGNATURE_HEADER)
}

fn mac(secret: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// `X-Hub-Signature-256`'s value for `body` (for tests and documentation).
pub fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, &[body]).finalize().into_bytes())
    )
}

/// `X-Ridge-Signature`'s value for `body` sent with `X-Ridge-Timestamp: <timestamp>`.
pub fn sign_timestamped(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let mac = mac(secret, &[timestamp.as_bytes(), b".", body]);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Token buckets per webhook: `per_minute` calls a minute on average, in bursts of up to
/// `per_minute`, for accepted calls and, apart, for refused ones. Zero disables both.
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    accepted: Buckets<WebhookId>,
    refused: Buckets<WebhookId>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            accepted: Buckets::default(),
            refused: Buckets::default(),
        }
    }

    /// One node's bucket capacity and refill per second, with `nodes` live nodes sharing the
    /// limit.
    fn rates(&self, nodes: usize) -> (f64, f64) {
        let (capacity, per_minute) = ridge_engine::rate::share(f64::from(self.per_minute), nodes);
        (capacity, per_minute / 60.0)
    }

    /// Takes a token for an accepted call to `id`, on one of `nodes` live nodes; `Err(wait)`
    /// when there is none.
    pub fn check(&self, id: WebhookId, nodes: usize, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let (capacity, rate) = self.rates(nodes);
        self.accepted.take(id, capacity, rate, now)
    }

    /// Whether `id` may still hear a refused call, without counting one.
    pub fn refusals_left(&self, id: WebhookId, nodes: usize, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let (capacity, rate) = self.rates(nodes);
        self.refused.peek(&id, capacity, rate, now)
    }

    /// Counts a refused call to `id`; `Err(wait)` when the refused budget is spent.
    pub fn refused(&self, id: WebhookId, nodes: usize, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let (capacity, rate) = self.rates(nodes);
        self.refused.take(id, capacity, rate, now)
    }

    /// Forgets a deleted webhook's buckets.
    pub fn forget(&self, id: WebhookId) {
        self.accepted.forget(&id);
        self.refused.forget(&id);
    }
}

#[cfg(test)]
mod tests;
