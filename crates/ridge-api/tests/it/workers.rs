//! The admin worker calls through the router (scale up and down, detach, per version), and the
//! Prometheus metrics: pool mechanics with stand-in workers. Growth, queueing, idle release and
//! memory budgets with real workers are tested end to end in `crates/ridge`.

use std::time::Duration;

use ridge_core::api::FunctionView;
use serde_json::{Value, json};

use crate::harness::TestApi;

async fn workers(t: &TestApi, f: &FunctionView) -> Vec<Value> {
    let reply = t
        .api
        .get(&format!("/v1/functions/{}/workers", f.id))
        .send()
        .await;
    assert_eq!(reply.status, 200);
    reply.value()["workers"]
        .as_array()
        .cloned()
        .expect("workers array")
}

/// Polls until the function has `n` workers (bounded: scaling up runs in the background).
async fn await_workers(t: &TestApi, f: &FunctionView, n: usize) {
    for _ in 0..10_000 {
        if workers(t, f).await.len() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("function never had {n} workers: {:?}", workers(t, f).await);
}

#[tokio::test]
async fn scale_up_scale_down_detach_and_bad_counts() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"slept\"").await;
    let post = |path: &str, body: Value| {
        t.api
            .post(&format!("/v1/functions/{}/{path}", f.id))
            .json(&body)
            .send()
    };
    assert_eq!(post("scale_up", json!({"count": 3})).await.status, 202);
    await_workers(&t, &f, 3).await;
    let pool = t.api.runtime_pool(&rt.id).await.expect("pool");
    assert_eq!((pool.capacity.total, pool.capacity.available), (3, 3));
    assert_eq!(post("scale_down", json!({"count": 5})).await.status, 202);
    assert_eq!(
        workers(&t, &f).await.len(),
        1,
        "scale_down keeps one worker"
    );
    assert_eq!(t.run(&f, None).await.status, "success");
    assert_eq!(post("detach", json!({})).await.status, 202);
    assert!(workers(&t, &f).await.is_empty());

    for bad in [
        json!({"count": 0}),
        json!({"count": "x"}),
        json!({"count": -1}),
    ] {
        assert_eq!(post("scale_up", bad.clone()).await.status, 400, "{bad}");
    }
    let reply = t
        .api
        .get(&format!(
            "/v1/functions/{}/workers?function_version=x",
            f.id
        ))
        .send()
        .await;
    assert_eq!(reply.status, 400);
    let reply = t
        .api
        .get(&format!(
            "/v1/functions/{}/workers/?function_version=0",
            f.id
        ))
        .send()
        .await;
    assert_eq!(reply.status, 200, "tempest's trailing slash");
    let reply = t
        .api
        .post("/v1/functions/not-a-uuid/scale_up")
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn metrics_are_exported_in_prometheus_format() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"slept\"").await;
    assert_eq!(t.run(&f, None).await.status, "success");
    // A plain client gets the classic text format; a scraper that asks, OpenMetrics.
    let reply = t.api.get("/metrics").send().await;
    let content_type = reply.headers.get("content-type").cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = reply.text();
    assert!(!text.contains("# EOF"), "{text}");
    assert!(
        text.contains("# TYPE ridge_executions_total counter"),
        "{text}"
    );
    let open = t
        .api
        .get("/metrics")
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await;
    let content_type = open.headers.get("content-type").cloned();
    let content_type = content_type.as_ref().and_then(|v| v.to_str().ok());
    assert!(
        content_type.is_some_and(|v| v.starts_with("application/openmetrics-text")),
        "{content_type:?}"
    );
    let open = open.text();
    assert!(open.ends_with("# EOF\n") && open.contains("# TYPE ridge_executions counter"));
    let ok = format!(
        "ridge_executions_total{{function=\"{}\",status=\"success\"}} 1",
        f.id
    );
    assert!(text.contains(&ok), "{text}");
    assert!(
        text.contains(&format!(
            "ridge_cold_starts_total{{function=\"{}\"}} 1",
            f.id
        )),
        "{text}"
    );
    assert!(text.contains("ridge_cold_start_seconds_count 1"), "{text}");
    assert!(
        text.contains(&format!("ridge_warm_workers{{function=\"{}\"}} 1", f.id)),
        "{text}"
    );
    assert!(text.contains("ridge_queue_depth 0"), "{text}");
    // One sync execution that ends within 50 ms (its worker's cold start included) is one
    // write, complete: committed, in one batch.
    let batched = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no `{name}` in {text}"))
    };
    assert_eq!(batched("ridge_store_write_batch_size_sum "), 1.0, "{text}");
    assert!(
        batched("ridge_store_write_batch_size_count ") >= 1.0,
        "{text}"
    );
}

#[tokio::test]
async fn versions_scale_and_detach_on_their_own() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"slept\"").await;
    let reply = t
        .api
        .post(&format!("/v1/functions/{}/versions", f.id))
        .json(&json!({"description": "v1"}))
        .send()
        .await;
    assert_eq!(reply.status, 201);
    let post = |path: String, body: Value| {
        let api = t.api.clone();
        async move { api.post(&path).json(&body).send().await.status }
    };
    let up = post(
        format!("/v1/functions/{}/versions/1/scale_up", f.id),
        json!({"count": 2}),
    );
    assert_eq!(up.await, 202);
    let of_version = |v: i64| {
        let api = t.api.clone();
        let path = format!("/v1/functions/{}/workers?function_version={v}", f.id);
        async move {
            let body = api.get(&path).send().await.value();
            body["workers"].as_array().map_or(0, Vec::len)
        }
    };
    let mut seen = 0;
    for _ in 0..10_000 {
        seen = of_version(1).await;
        if seen == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(seen, 2);
    assert_eq!(of_version(0).await, 0, "version 0 has a pool of its own");
    let detach = post(
        format!("/v1/functions/{}/versions/1/detach", f.id),
        json!({}),
    );
    assert_eq!(detach.await, 202);
    assert_eq!(of_version(1).await, 0);
    let up = post(
        format!("/v1/functions/{}/versions/1/scale_up", f.id),
        json!({"count": 1}),
    );
    assert_eq!(up.await, 202);
    for _ in 0..10_000 {
        seen = of_version(1).await;
        if seen == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(seen, 1, "version 1 has a warm worker before it is deleted");
    let deleted = t
        .api
        .delete(&format!("/v1/functions/{}/versions/1", f.id))
        .send()
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        of_version(1).await,
        0,
        "deleting a version stops its workers"
    );
    let unknown = post(
        format!("/v1/functions/{}/versions/5/scale_up", f.id),
        json!({}),
    );
    assert_eq!(unknown.await, 404);
    let bad = post(
        format!("/v1/functions/{}/versions/x/detach", f.id),
        json!({}),
    );
    assert_eq!(bad.await, 400);
}
