//! Webhook secrets under attack: a flood of calls without the secret never locks its holder
//! out, timestamped signatures are fresh and accepted once, and secrets are sealed at rest.

use ridge_api::secret_box::SecretBox;
use ridge_api::webhook_guard::{sign, sign_timestamped};
use ridge_core::api::WebhookRequest;
use ridge_core::{Clock, Webhook, WebhookId};
use serde_json::{Map, json};

use crate::harness::{SECRET_KEY_FILE, TestApi, api_error};

const SECRET: &str = "a-webhook-secret-nobody-guesses-42";

/// A server with a function and a webhook to it holding [`SECRET`].
async fn with_webhook(rate_limit: u32) -> (TestApi, String) {
    let t = TestApi::start_with(|s| s.config.webhook_rate_limit = rate_limit).await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"ok\"").await;
    let w = t
        .api
        .create_webhook(&WebhookRequest {
            function_id: Some(f.id.clone()),
            secret: Some(json!(SECRET)),
            ..Default::default()
        })
        .await
        .expect("webhook");
    (t, w.id)
}

/// `X-Ridge-Timestamp` and `X-Ridge-Signature` for an empty JSON object, signed at `at`.
fn signed_at(at: i64) -> Vec<(&'static str, String)> {
    vec![
        ("X-Ridge-Timestamp", at.to_string()),
        ("X-Ridge-Signature", sign_timestamped(SECRET, at, b"{}")),
    ]
}

#[tokio::test]
async fn a_flood_without_the_secret_never_locks_out_its_holder() {
    let (t, id) = with_webhook(5).await;
    let input = Map::new();
    let mut refused = Vec::new();
    for i in 0..40 {
        let headers = if i % 2 == 0 {
            vec![("Authorization", format!("Bearer guess-number-{i:04}-xxxx"))]
        } else {
            vec![("X-Hub-Signature-256", sign("a-wrong-secret-value", b"{}"))]
        };
        let (status, _) = api_error(t.api.invoke_webhook(&id, &input, &headers).await);
        refused.push(status);
    }
    // The refused budget (5) answers 401, then guessing is slowed to 429.
    assert_eq!(refused[..5], [401; 5]);
    assert!(refused[5..].iter().all(|s| *s == 429), "{refused:?}");
    let (status, message) = api_error(t.api.invoke_webhook(&id, &input, &[]).await);
    assert_eq!(status, 429, "{message}");
    assert!(message.contains("refused requests"), "{message}");

    // The holder's signed calls have their own, untouched budget, in either scheme.
    let now = t.clock.now().timestamp();
    for i in 0..4 {
        t.api
            .invoke_webhook(&id, &input, &signed_at(now - i))
            .await
            .expect("a signed call is accepted");
    }
    t.api
        .invoke_webhook(&id, &input, &[("X-Hub-Signature-256", sign(SECRET, b"{}"))])
        .await
        .expect("a GitHub-signed call is accepted");
}

#[tokio::test]
async fn timestamped_signatures_are_fresh_and_accepted_once() {
    let (t, id) = with_webhook(60).await;
    let input = Map::new();
    let now = t.clock.now().timestamp();

    // Valid.
    let call = signed_at(now);
    t.api
        .invoke_webhook(&id, &input, &call)
        .await
        .expect("accepted");
    // Replayed: the same call again.
    let (status, message) = api_error(t.api.invoke_webhook(&id, &input, &call).await);
    assert_eq!(status, 401);
    assert!(message.contains("already accepted"), "{message}");
    // Stale: signed ten minutes ago, outside the five-minute window.
    let (status, message) = api_error(
        t.api
            .invoke_webhook(&id, &input, &signed_at(now - 600))
            .await,
    );
    assert_eq!(status, 401);
    assert!(message.contains("outside the 300 s window"), "{message}");
    // A call signed now and captured is refused once the clock moved past the window.
    let captured = signed_at(now + 1);
    t.clock.advance(std::time::Duration::from_secs(400));
    let (status, _) = api_error(t.api.invoke_webhook(&id, &input, &captured).await);
    assert_eq!(status, 401);
    // Wrong signature: another secret.
    let now = t.clock.now().timestamp();
    let wrong = vec![
        ("X-Ridge-Timestamp", now.to_string()),
        (
            "X-Ridge-Signature",
            sign_timestamped("not-the-secret-at-all", now, b"{}"),
        ),
    ];
    let (status, message) = api_error(t.api.invoke_webhook(&id, &input, &wrong).await);
    assert_eq!(status, 401);
    assert!(message.contains("X-Ridge-Signature"), "{message}");
    t.api
        .invoke_webhook(&id, &input, &signed_at(now))
        .await
        .expect("a fresh call still works");
}

/// Every byte of the database's files.
fn database_bytes(t: &TestApi) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["ridge.db", "ridge.db-wal", "ridge.db-shm"] {
        if let Ok(bytes) = std::fs::read(t.dir.path().join(name)) {
            all.extend(bytes);
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_survive_a_restart() {
    let (t, id) = with_webhook(60).await;
    let input = Map::new();
    assert!(
        !contains(&database_bytes(&t), SECRET),
        "the secret is in the database"
    );
    let key = t.dir.path().join(SECRET_KEY_FILE);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&key).expect("the key file").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    t.api
        .invoke_webhook(&id, &input, &signed_at(t.clock.now().timestamp()))
        .await
        .expect("signed calls verify");

    // A secret stored in the clear (by an older Ridge) is sealed at the next start.
    let plain_id = WebhookId::new();
    let mut plain: Webhook = t
        .state
        .store
        .get_webhook(id.parse().expect("an id"))
        .await
        .expect("the webhook");
    plain.id = plain_id;
    plain.secret = Some("an-old-plain-secret-value".to_owned());
    t.state.store.create_webhook(&plain).await.expect("stored");

    let t = t.restart(|_| {}).await;
    let stored = t.state.store.get_webhook(plain_id).await.expect("stored");
    let sealed = stored.secret.expect("still has a secret");
    assert!(SecretBox::is_sealed(&sealed), "{sealed}");
    assert!(!sealed.contains("an-old-plain-secret-value"));
    assert!(!contains(&database_bytes(&t), SECRET));
    // The call before the restart, sent again, is a replay: the store remembers it.
    let replayed = t
        .api
        .invoke_webhook(&id, &input, &signed_at(t.clock.now().timestamp()))
        .await
        .expect_err("a replay");
    assert_eq!(replayed.status, 401);
    assert!(
        replayed.faultstring.contains("already accepted"),
        "{replayed:?}"
    );
    t.api
        .invoke_webhook(&id, &input, &signed_at(t.clock.now().timestamp() + 1))
        .await
        .expect("the key survives a restart");
    t.api
        .invoke_webhook(
            &plain_id.to_string(),
            &input,
            &[("Authorization", "Bearer an-old-plain-secret-value".into())],
        )
        .await
        .expect("a sealed old secret still verifies");
}
