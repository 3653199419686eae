//! The engine at work through the API with real workers: warm reuse, pool growth up to its
//! limit, queueing, 429 on a full queue, capacity errors for sync callers, idle release,
//! fairness between functions, the host memory budget, and the adaptive keep-alive (a learned
//! period releases the worker after each call and pre-warms one before the next). The admin scale calls and metrics
//! are tested through the router in `crates/ridge-api/tests/it/workers.rs`.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{TestServer, join_all, output};
use ridge_core::ManualClock;
use ridge_core::api::FunctionView;
use serde_json::json;

const SLEEPER: &str =
    "import time\ndef main(sleep=0, **kw):\n    time.sleep(sleep)\n    return 'slept'\n";

async fn workers(t: &TestServer, f: &FunctionView) -> Vec<serde_json::Value> {
    let resp = t
        .http()
        .get(t.v1(&format!("functions/{}/workers", f.id)))
        .send()
        .await
        .expect("workers");
    assert_eq!(resp.status().as_u16(), 200);
    let body: serde_json::Value = resp.json().await.expect("json");
    body["workers"].as_array().cloned().expect("workers array")
}

/// Polls until the function has `n` workers (bounded).
async fn await_workers(t: &TestServer, f: &FunctionView, n: usize) {
    for _ in 0..300 {
        if workers(t, f).await.len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("function never had {n} workers: {:?}", workers(t, f).await);
}

async fn start_async(t: &TestServer, f: &FunctionView, input: &str) -> reqwest::Response {
    t.http()
        .post(t.v1("executions"))
        .json(&json!({"function_id": f.id, "sync": false, "input": input}))
        .send()
        .await
        .expect("response")
}

#[tokio::test]
async fn sequential_executions_reuse_one_worker() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, SLEEPER).await;
    assert!(
        workers(&t, &f).await.is_empty(),
        "a function never called holds no worker"
    );
    for _ in 0..3 {
        assert_eq!(t.run(&f, None).await.status, "success");
    }
    let w = workers(&t, &f).await;
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0]["function_id"], f.id);
    assert_eq!(w[0]["function_version"], 0);
    assert!(w[0]["worker_name"].as_str().is_some_and(|n| !n.is_empty()));
    t.stop().await;
}

#[tokio::test]
async fn parallel_executions_grow_the_pool_to_its_limit_then_queue() {
    let t = TestServer::start_with(|s| s.max_workers_per_function = 2).await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, SLEEPER).await;
    let runs = (0..5).map(|_| Box::pin(t.run(&f, Some(r#"{"sleep": 0.3}"#))));
    let done = join_all(runs.collect()).await;
    assert!(done.iter().all(|e| e.status == "success"), "{done:?}");
    assert_eq!(
        workers(&t, &f).await.len(),
        2,
        "grew to the limit and no further"
    );
    t.stop().await;
}

/// Polls all the futures concurrently on this task and collects their outputs in order.
#[tokio::test]
async fn a_full_queue_refuses_with_429_and_a_sync_caller_gets_a_capacity_error() {
    let t = TestServer::start_with(|s| {
        s.max_workers_per_function = 1;
        s.max_queue_length = 2;
        s.max_queue_wait = Duration::from_secs(1);
    })
    .await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, SLEEPER).await;
    // One execution holds the only worker; two more wait in the queue.
    let mut ids = Vec::new();
    for _ in 0..3 {
        let resp = start_async(&t, &f, r#"{"sleep": 3}"#).await;
        assert_eq!(resp.status().as_u16(), 201);
        let body: serde_json::Value = resp.json().await.expect("json");
        ids.push(body["id"].as_str().expect("id").to_owned());
        // Let it reach the worker or the queue before the next one arrives.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let refused = start_async(&t, &f, r#"{"sleep": 0}"#).await;
    assert_eq!(refused.status().as_u16(), 429);
    let fault: serde_json::Value = refused.json().await.expect("json");
    assert!(
        fault["faultstring"]
            .as_str()
            .is_some_and(|s| s.contains("max_queue_length")),
        "{fault}"
    );
    let count = t.client.list_executions(&[]).await.expect("list").len();
    assert_eq!(count, 3, "a refused execution is not stored");
    for id in &ids {
        assert_eq!(t.wait(id).await.status, "success");
    }

    // A sync caller waits at most max_queue_wait for the busy worker.
    let busy = start_async(&t, &f, r#"{"sleep": 3}"#).await;
    assert_eq!(busy.status().as_u16(), 201);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "error");
    assert!(
        output(&e)
            .as_str()
            .is_some_and(|m| m.contains("capacity exhausted")),
        "{:?}",
        e.result
    );
    t.stop().await;
}

#[tokio::test]
async fn idle_workers_are_released_after_the_expiry() {
    // Idle time is read on a clock the test moves; the reaper still runs every 100 ms.
    let clock = Arc::new(ManualClock::starting_now());
    let t = TestServer::start_with(|s| {
        s.function_service_expiration = Duration::from_millis(200);
        s.clock = clock.clone();
    })
    .await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, SLEEPER).await;
    assert_eq!(t.run(&f, None).await.status, "success");
    assert_eq!(workers(&t, &f).await.len(), 1);
    clock.advance(Duration::from_millis(200));
    await_workers(&t, &f, 0).await;
    assert_eq!(
        t.run(&f, None).await.status,
        "success",
        "a released function starts again"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_flooded_function_does_not_starve_another() {
    let t = TestServer::start_with(|s| s.max_workers_per_function = 1).await;
    let rt = t.python_runtime().await;
    let flooded = t.function(&rt, SLEEPER).await;
    let quiet = t
        .function(&rt, "def main(**kw):\n    return 'quiet'\n")
        .await;
    for _ in 0..8 {
        assert_eq!(
            start_async(&t, &flooded, r#"{"sleep": 0.5}"#)
                .await
                .status()
                .as_u16(),
            201
        );
    }
    let e = t.run(&quiet, None).await;
    assert_eq!(e.status, "success");
    assert_eq!(output(&e), json!("quiet"));
    let waiting = t
        .client
        .list_executions(&[
            ("function_id".to_owned(), flooded.id.clone()),
            ("status".to_owned(), "running".to_owned()),
        ])
        .await
        .expect("list");
    assert!(
        waiting.len() >= 4,
        "the quiet function finished while the flood was still queued ({} left)",
        waiting.len()
    );
    t.stop().await;
}

#[tokio::test]
async fn the_host_memory_budget_evicts_idle_workers_of_other_functions() {
    let host = ridge_engine::host_memory().expect("meminfo");
    // Room for one 32 MiB worker and not two.
    let share = (48u64 << 20) as f64 / host as f64;
    let t = TestServer::start_with(|s| s.worker_memory_share = share).await;
    let rt = t.python_runtime().await;
    let a = t.function(&rt, SLEEPER).await;
    let b = t.function(&rt, SLEEPER).await;
    assert_eq!(t.run(&a, None).await.status, "success");
    assert_eq!(workers(&t, &a).await.len(), 1);
    assert_eq!(t.run(&b, None).await.status, "success");
    assert!(
        workers(&t, &a).await.is_empty(),
        "a's idle worker made room for b's"
    );
    assert_eq!(workers(&t, &b).await.len(), 1);
    t.stop().await;
}

/// One line of `/metrics` for the function: the value of `name` (0 when absent).
async fn metric(t: &TestServer, name: &str, f: &FunctionView) -> (f64, String) {
    let text = t.metrics().await;
    let needle = format!("function=\"{}\"", f.id);
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(&needle))
        .map(|l| {
            let value = l.rsplit(' ').next().and_then(|v| v.parse().ok());
            (value.unwrap_or(f64::NAN), l.to_owned())
        })
        .unwrap_or((0.0, String::new()))
}

#[tokio::test]
async fn a_function_with_a_learned_period_is_prewarmed_before_its_next_call() {
    // Buckets of 100 ms on a clock the test moves: calls 1 s apart land in bucket 10, so the
    // policy pre-warms 0.9 s after a call. The reaper runs every 100 ms of real time.
    let clock = Arc::new(ManualClock::starting_now());
    let t = TestServer::start_with(|s| {
        s.keep_alive = ridge_engine::KeepAlive::Adaptive;
        s.keep_alive_bucket = Duration::from_millis(100);
        s.clock = clock.clone();
    })
    .await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, SLEEPER).await;
    for n in 0..11 {
        if n > 0 {
            clock.advance(Duration::from_secs(1));
        }
        assert_eq!(t.run(&f, None).await.status, "success");
    }
    assert_eq!(
        workers(&t, &f).await.len(),
        1,
        "while it learns, the fixed expiry (300 s) keeps the worker"
    );
    let mut learned = String::new();
    for _ in 0..300 {
        learned = metric(&t, "ridge_prewarm_seconds", &f).await.1;
        if learned.contains("basis=\"learned\"") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(learned.contains("basis=\"learned\""), "{learned:?}");
    assert!(learned.ends_with(" 0.9"), "pre-warm 0.9 s: {learned}");

    // Past the learned window (so no pre-warm for the last call), then a call: its worker is
    // released as soon as it is done.
    clock.advance(Duration::from_millis(1500));
    assert_eq!(t.run(&f, None).await.status, "success");
    await_workers(&t, &f, 0).await;
    let cold = metric(&t, "ridge_cold_starts_total", &f).await.0;

    // 0.9 s after that call a worker is started ahead of the next one...
    clock.advance(Duration::from_millis(900));
    await_workers(&t, &f, 1).await;
    // ...which runs on it, warm, and releases it again.
    clock.advance(Duration::from_millis(100));
    assert_eq!(t.run(&f, None).await.status, "success");
    assert_eq!(
        metric(&t, "ridge_cold_starts_total", &f).await.0,
        cold,
        "the call found the pre-warmed worker"
    );
    assert_eq!(metric(&t, "ridge_prewarms_total", &f).await.0, 1.0);
    await_workers(&t, &f, 0).await;
    t.stop().await;
}

#[tokio::test]
async fn a_function_held_at_its_cpu_quota_gets_more_workers_even_one_call_at_a_time() {
    // About 2 ms of CPU a call under the default quota, a tenth of a core: back to back, one
    // worker uses its 10 ms of each 100 ms period in a few calls and waits out the rest. A
    // second worker, with its own quota, takes half of the calls.
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let busy =
        "def main(**kw):\n    n = 0\n    for i in range(20000):\n        n += i\n    return n\n";
    let f = t.function(&rt, busy).await;
    let mut calls = 0;
    while calls < 600 && workers(&t, &f).await.len() < 2 {
        for _ in 0..10 {
            assert_eq!(t.run(&f, None).await.status, "success");
        }
        calls += 10;
    }
    let w = workers(&t, &f).await;
    assert!(
        w.len() >= 2,
        "still {} worker(s) after {calls} calls",
        w.len()
    );
    let (asked, line) = metric(&t, "ridge_throttled_starts_total", &f).await;
    assert!(asked >= 1.0, "{line:?}");
    t.stop().await;
}
