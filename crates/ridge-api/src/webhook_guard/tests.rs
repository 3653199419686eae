use axum::http::HeaderValue;

use super::*;

const SECRET: &str = "0123456789abcdef";

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(*name, HeaderValue::from_str(value).expect("ascii"));
    }
    h
}

#[test]
fn hub_signatures_and_bearer_tokens_are_checked() {
    let check = SecretCheck::new(DEFAULT_SIGNATURE_WINDOW);
    let id = WebhookId::new();
    let body = br#"{"a": 1}"#;
    let refused = Verdict::Refused(Refusal::Wrong);
    assert_eq!(
        check.verify(id, SECRET, &HeaderMap::new(), body, 0),
        Verdict::Refused(Refusal::Missing)
    );
    let h = headers(&[(SIGNATURE_HEADER, sign(SECRET, body))]);
    assert_eq!(check.verify(id, SECRET, &h, body, 0), Verdict::Accepted);
    // GitHub's scheme carries no time: the same call is accepted again.
    assert_eq!(check.verify(id, SECRET, &h, body, 0), Verdict::Accepted);
    assert_eq!(check.verify(id, SECRET, &h, b"tampered", 0), refused);
    assert_eq!(
        check.verify(id, "another-secret-value", &h, body, 0),
        refused
    );

    let h = headers(&[("authorization", format!("Bearer {SECRET}"))]);
    assert_eq!(check.verify(id, SECRET, &h, b"x", 0), Verdict::Accepted);
    let h = headers(&[("authorization", "Bearer 0123456789abcdeX".into())]);
    assert_eq!(check.verify(id, SECRET, &h, b"x", 0), refused);
}

fn timestamped(at: i64, signature: String) -> HeaderMap {
    headers(&[
        (TIMESTAMP_HEADER, at.to_string()),
        (RIDGE_SIGNATURE_HEADER, signature),
    ])
}

#[test]
fn timestamped_signatures_hold_within_the_window_once() {
    let check = SecretCheck::new(Duration::from_secs(300));
    let id = WebhookId::new();
    let body = b"{}";
    let now = 1_700_000_000;

    // Valid: signed just now (or a little in the future, a sender's clock ahead).
    let fresh = timestamped(now - 10, sign_timestamped(SECRET, now - 10, body));
    let Verdict::Signed(signed) = check.verify(id, SECRET, &fresh, body, now) else {
        panic!("a fresh signature is accepted, to be recorded");
    };
    // Recorded until the end of the window, under the MAC itself: a replay that adds a bogus
    // `v1=` entry to the header is the same call.
    assert_eq!(signed.until, now - 10 + 300);
    assert_eq!(signed.key().len(), 64);
    let padded = timestamped(
        now - 10,
        format!("v1=00,{}", sign_timestamped(SECRET, now - 10, body)),
    );
    let other = SecretCheck::new(Duration::from_secs(300));
    assert_eq!(
        other.verify(id, SECRET, &padded, body, now),
        Verdict::Signed(signed)
    );
    let ahead = timestamped(now + 60, sign_timestamped(SECRET, now + 60, body));
    assert!(matches!(
        check.verify(id, SECRET, &ahead, body, now),
        Verdict::Signed(_)
    ));

    // Replayed: the same call again, even a minute later.
    assert_eq!(
        check.verify(id, SECRET, &fresh, body, now + 60),
        Verdict::Refused(Refusal::Replayed)
    );

    // Stale: a correct signature of a time outside the window.
    let old = timestamped(now - 301, sign_timestamped(SECRET, now - 301, body));
    assert_eq!(
        check.verify(id, SECRET, &old, body, now),
        Verdict::Refused(Refusal::Stale { off_by: 1 })
    );

    // Wrong: another secret, another body, or a timestamp changed after signing.
    let wrong = timestamped(now, sign_timestamped("another-secret-value", now, body));
    assert_eq!(
        check.verify(id, SECRET, &wrong, body, now),
        Verdict::Refused(Refusal::Wrong)
    );
    let moved = timestamped(now + 1, sign_timestamped(SECRET, now, body));
    assert_eq!(
        check.verify(id, SECRET, &moved, body, now),
        Verdict::Refused(Refusal::Wrong)
    );
    let good = timestamped(now, sign_timestamped(SECRET, now, body));
    assert_eq!(
        check.verify(id, SECRET, &good, b"other", now),
        Verdict::Refused(Refusal::Wrong)
    );
    // A signature without its timestamp.
    let bare = headers(&[(RIDGE_SIGNATURE_HEADER, sign_timestamped(SECRET, now, body))]);
    assert_eq!(
        check.verify(id, SECRET, &bare, body, now),
        Verdict::Refused(Refusal::BadTimestamp)
    );
    // Several signatures: any one may match (a secret being rotated).
    let both = format!("v1=00, {}", sign_timestamped(SECRET, now + 1, body));
    let rotated = timestamped(now + 1, both);
    assert!(matches!(
        check.verify(id, SECRET, &rotated, body, now),
        Verdict::Signed(_)
    ));
}

#[test]
fn refused_calls_have_their_own_budget() {
    let limiter = RateLimiter::new(2);
    let id = WebhookId::new();
    let t0 = Instant::now();
    // Refusals spend only the refused budget.
    assert!(limiter.refused(id, 1, t0).is_ok());
    assert!(limiter.refused(id, 1, t0).is_ok());
    assert!(limiter.refusals_left(id, 1, t0).is_err());
    assert!(limiter.refused(id, 1, t0).is_err());
    assert!(limiter.check(id, 1, t0).is_ok());
    assert!(limiter.check(id, 1, t0).is_ok());
    let wait = limiter.check(id, 1, t0).expect_err("empty");
    assert!(wait <= Duration::from_secs(30), "{wait:?}");
    // Another webhook has its own buckets; both refill over time.
    assert!(limiter.check(WebhookId::new(), 1, t0).is_ok());
    let later = t0 + Duration::from_secs(31);
    assert!(limiter.check(id, 1, later).is_ok());
    assert!(limiter.refusals_left(id, 1, later).is_ok());
    assert!(RateLimiter::new(0).check(id, 1, t0).is_ok());
}

#[test]
fn nodes_share_a_webhooks_limit() {
    // 60 a minute over three nodes: each node takes 20 at once, then one every 3 s.
    let limiter = RateLimiter::new(60);
    let id = WebhookId::new();
    let t0 = Instant::now();
    for _ in 0..20 {
        assert!(limiter.check(id, 3, t0).is_ok());
    }
    let wait = limiter
        .check(id, 3, t0)
        .expect_err("this node's share is spent");
    assert!(
        wait > Duration::from_secs(2) && wait <= Duration::from_secs(3),
        "{wait:?}"
    );
    assert!(limiter.check(id, 3, t0 + Duration::from_secs(3)).is_ok());
}
