//! Jobs end to end, on a fast scheduler tick and no minimum lead time, so nothing waits minutes:
//! a one-shot job and a counted cron job that follows its alias. Qinling's validation, pause
//! and cancel are tested through the router in `crates/ridge-api/tests/it/jobs.rs`.
//!
//! The server reads the time on a clock these tests move: a job falls due when the test says
//! so, not when a real second has passed. The scheduler still ticks on a real 50 ms interval.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{TestServer, api_error, output, returning};
use ridge_core::api::{CreateAlias, CreateJob, FunctionView, UpdateAlias};
use ridge_core::{Clock, ManualClock};
use serde_json::json;

async fn fast() -> (TestServer, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::starting_now());
    let t = TestServer::start_with(|s| {
        s.triggers.scheduler.tick = Duration::from_millis(50);
        s.triggers.job_min_lead = Duration::ZERO;
        // Patterns with a seconds field, so the clock moves seconds, not minutes.
        s.triggers.job_min_interval = Duration::from_secs(1);
        s.clock = clock.clone();
    })
    .await;
    (t, clock)
}

fn in_secs(clock: &ManualClock, secs: i64) -> String {
    ridge_core::time::format(&(clock.now() + chrono::Duration::seconds(secs)))
}

/// Moves the clock by `by`, then waits until a one-shot job due by then has run: the scheduler
/// has ticked at the new time, so whatever else was due by then has fired too.
async fn ticked_after(t: &TestServer, clock: &ManualClock, f: &FunctionView, by: Duration) {
    let by_secs = i64::try_from(by.as_secs()).expect("a short move");
    let sentinel = t
        .client
        .create_job(&CreateJob {
            function_id: Some(f.id.clone()),
            first_execution_time: Some(in_secs(clock, by_secs)),
            ..Default::default()
        })
        .await
        .expect("sentinel job");
    clock.advance(by);
    t.executions_until(&sentinel.id, |e| !e.is_empty()).await;
}

#[tokio::test]
async fn a_one_shot_job_runs_exactly_once_and_is_done() {
    let (t, clock) = fast().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, &returning("'once'")).await;
    let j = t
        .client
        .create_job(&CreateJob {
            function_id: Some(f.id.clone()),
            first_execution_time: Some(in_secs(&clock, 1)),
            function_input: Some(json!("{\"who\": \"job\"}")),
            ..Default::default()
        })
        .await
        .expect("job");
    clock.advance(Duration::from_secs(1));
    let runs = t.executions_until(&j.id, |e| !e.is_empty()).await;
    assert_eq!(
        runs[0].description,
        Some(format!("Created by Job {}", j.id))
    );
    assert!(!runs[0].sync);
    let e = t.wait(&runs[0].id).await;
    assert_eq!(output(&e)["kwargs"], json!({"who": "job"}));
    assert_eq!(t.client.get_job(&j.id).await.expect("job").status, "done");
    // Many ticks later (an hour on the clock) there is still one run.
    ticked_after(&t, &clock, &f, Duration::from_secs(3600)).await;
    let runs = t.executions_until(&j.id, |_| true).await;
    assert_eq!(runs.len(), 1);
    let done = t.client.get_job(&j.id).await.expect("job");
    assert_eq!((done.status.as_str(), done.count), ("done", Some(0)));
    t.stop().await;
}

#[tokio::test]
async fn a_cron_job_with_count_two_runs_twice_and_follows_its_alias() {
    let (t, clock) = fast().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, &returning("'one'")).await;
    t.client.create_version(&f.id, None).await.expect("v1");
    t.update_code(&f, &returning("'two'")).await;
    t.client
        .create_alias(&CreateAlias {
            name: Some("nightly".into()),
            function_id: Some(f.id.clone()),
            function_version: Some(json!(1)),
            description: None,
        })
        .await
        .expect("alias");
    // Every second, twice.
    let j = t
        .client
        .create_job(&CreateJob {
            function_alias: Some("nightly".into()),
            pattern: Some("* * * * * *".into()),
            count: Some(json!(2)),
            ..Default::default()
        })
        .await
        .expect("job");
    assert_eq!(
        (j.count, j.function_alias.as_deref()),
        (Some(2), Some("nightly"))
    );
    clock.advance(Duration::from_secs(1));
    let first = t.executions_until(&j.id, |e| !e.is_empty()).await;
    // Move the alias before the next tick (a second later on the clock): the second run
    // follows it.
    t.client
        .update_alias(
            "nightly",
            &UpdateAlias {
                function_version: Some(json!(0)),
                ..Default::default()
            },
        )
        .await
        .expect("moved");
    let (status, msg) = api_error(t.client.delete_alias("nightly").await);
    assert_eq!(status, 403, "{msg}");
    clock.advance(Duration::from_secs(1));
    let runs = t.executions_until(&j.id, |e| e.len() == 2).await;
    assert_eq!(runs[0].id, first[0].id);
    let outputs: Vec<_> = {
        let mut out = Vec::new();
        for r in &runs {
            out.push(output(&t.wait(&r.id).await)["v"].clone());
        }
        out
    };
    assert_eq!(outputs, [json!("one"), json!("two")]);
    for _ in 0..100 {
        if t.client.get_job(&j.id).await.expect("job").status == "done" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(t.client.get_job(&j.id).await.expect("job").status, "done");
    ticked_after(&t, &clock, &f, Duration::from_secs(2)).await;
    assert_eq!(
        t.executions_until(&j.id, |_| true).await.len(),
        2,
        "no third run"
    );
    // A finished job no longer holds the alias.
    t.client
        .delete_alias("nightly")
        .await
        .expect("alias deleted");
    t.stop().await;
}
