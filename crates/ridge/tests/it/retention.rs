//! Retention (docs/retention.md) end to end: the server purges finished executions past their
//! age once its clock (a clock these tests move) says so, counts them on `/metrics`, and
//! follows an admin's per-project override of the count per function.

use std::sync::Arc;
use std::time::Duration;

use ridge_core::ManualClock;
use ridge_core::api::{ExecutionView, RetentionView};
use ridge_core::tenancy::Limit;
use serde_json::json;

use crate::cli_triggers::{json, ridge};
use crate::common::{TestServer, returning};

/// A server on a clock the test moves, purging every 100 ms: executions older than an hour go.
async fn purging(clock: &Arc<ManualClock>, max_per_function: Limit) -> TestServer {
    TestServer::start_with(|s| {
        s.clock = clock.clone();
        s.retention.interval = Duration::from_millis(100);
        s.retention.defaults.max_age = Limit::At(3600);
        s.retention.defaults.max_per_function = max_per_function;
    })
    .await
}

async fn finished(t: &TestServer, n: usize) -> Vec<ExecutionView> {
    let runtime = t.python_runtime().await;
    let f = t.function(&runtime, &returning("1")).await;
    let mut done = Vec::new();
    for _ in 0..n {
        let e = t.run(&f, None).await;
        let e = t.wait(&e.id).await;
        assert_eq!(e.status, "success", "{e:?}");
        done.push(e);
    }
    done
}

/// Polls (bounded, ~10 s) until `check` holds for the stored executions.
async fn executions_until(
    t: &TestServer,
    check: impl Fn(&[ExecutionView]) -> bool,
) -> Vec<ExecutionView> {
    for _ in 0..400 {
        let all = t.client.list_executions(&[]).await.expect("list");
        if check(&all) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the executions never reached the expected state");
}

async fn purged_total(t: &TestServer) -> String {
    let text = t.metrics().await;
    text.lines()
        .find(|l| l.starts_with("ridge_executions_purged_total"))
        .unwrap_or("missing")
        .to_owned()
}

#[tokio::test]
async fn executions_past_their_age_are_purged_once_the_clock_moves_and_counted() {
    let clock = Arc::new(ManualClock::starting_now());
    let t = purging(&clock, Limit::Unlimited).await;
    finished(&t, 3).await;
    // Rounds run every 100 ms, but an hour has not passed: everything is kept.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.client.list_executions(&[]).await.expect("list").len(), 3);
    assert_eq!(purged_total(&t).await, "ridge_executions_purged_total 0");

    clock.advance(Duration::from_secs(3601));
    executions_until(&t, <[_]>::is_empty).await;
    assert_eq!(purged_total(&t).await, "ridge_executions_purged_total 3");
}

#[tokio::test]
async fn an_admin_override_keeps_fewer_executions_per_function_and_bad_values_get_400() {
    let clock = Arc::new(ManualClock::starting_now());
    let t = purging(&clock, Limit::At(10_000)).await;
    let http = t.http();
    let own: RetentionView = http
        .get(t.v1("retention"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("view");
    assert_eq!(
        (own.max_age, own.max_per_function),
        (Some(3600), Some(10_000))
    );

    let answer = http
        .put(t.v1("retention/default"))
        .json(&json!({"max_per_function": 1, "max_age": -1}))
        .send()
        .await
        .expect("put");
    assert_eq!(answer.status(), 200);
    let set: RetentionView = answer.json().await.expect("view");
    assert_eq!((set.max_age, set.max_per_function), (None, Some(1)));

    let done = finished(&t, 3).await;
    let newest = &done[2].id;
    let left = executions_until(&t, |all| all.len() == 1).await;
    assert_eq!(&left[0].id, newest, "the newest one is kept");
    // The age rule is lifted for this project: moving the clock purges nothing more.
    clock.advance(Duration::from_secs(7200));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.client.list_executions(&[]).await.expect("list").len(), 1);

    for bad in [json!({"max_age": "soon"}), json!({"max_days": 1})] {
        let answer = http
            .put(t.v1("retention/default"))
            .json(&bad)
            .send()
            .await
            .expect("put");
        assert_eq!(answer.status(), 400, "{bad}");
        let body: serde_json::Value = answer.json().await.expect("json");
        assert!(body["faultstring"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn the_cli_shows_and_overrides_a_projects_retention() {
    let t = TestServer::start().await;
    let shown: RetentionView = serde_json::from_value(json(&t.url, &["retention", "show"]).await)
        .expect("a retention view");
    assert_eq!(
        (shown.max_age, shown.max_per_function),
        (Some(30 * 86_400), Some(10_000))
    );

    let args = [
        "retention",
        "set",
        "default",
        "--max-age",
        "unlimited",
        "--max-per-function",
        "50",
    ];
    let set: RetentionView =
        serde_json::from_value(json(&t.url, &args).await).expect("a retention view");
    assert_eq!((set.max_age, set.max_per_function), (None, Some(50)));

    let bad = ["retention", "set", "default", "--max-age", "soon"];
    let (code, _, err) = ridge(&t.url, &bad).await;
    assert_ne!(code, 0);
    assert!(err.contains("invalid --max-age `soon`"), "{err}");
}
