//! Discovery, info, and runtimes through the API.

use crate::common::TestServer;
use ridge_core::api::{CreateRuntime, UpdateRuntime};
use serde_json::{Value, json};

async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

#[tokio::test]
async fn discovery_and_info() {
    let t = TestServer::start().await;
    let (status, root) = body(t.http().get(&t.url).send().await.expect("GET /")).await;
    assert_eq!(status, 200);
    assert_eq!(root["versions"][0]["id"], "v1.0");
    assert_eq!(
        root["versions"][0]["links"][0]["href"],
        format!("{}/v1", t.url)
    );
    let (status, v1) = body(
        t.http()
            .get(format!("{}/v1/", t.url))
            .send()
            .await
            .expect("GET /v1/"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v1, json!({"uri": format!("{}/v1", t.url)}));

    let info = t.client.info().await.expect("info");
    assert!(info.store.starts_with("sqlite:"), "{}", info.store);
    assert_eq!(info.auth, "none");
    let python = info
        .runtimes
        .iter()
        .find(|r| r.kind == "python3")
        .expect("python3 listed");
    assert!(python.available, "{}", python.detail);
    assert!(
        !info.sandbox.protections.is_empty(),
        "info lists every protection and whether it is enforced"
    );

    let (status, fault) = body(
        t.http()
            .get(t.v1("nothing-here"))
            .send()
            .await
            .expect("404"),
    )
    .await;
    assert_eq!(status, 404);
    assert!(fault["faultstring"].as_str().is_some_and(|s| !s.is_empty()));
    t.stop().await;
}

#[tokio::test]
async fn runtime_lifecycle() {
    let t = TestServer::start().await;
    let created = t
        .client
        .create_runtime(&CreateRuntime {
            image: Some("openstackqinling/python3-runtime:0.0.2".into()),
            name: Some("qinling-era".into()),
            ..Default::default()
        })
        .await
        .expect("created");
    assert_eq!(created.status, "creating");
    assert!(created.is_public && created.trusted);
    let rt = t.python_runtime().await;
    assert_eq!(rt.status, "available");

    // Double and trailing slashes are tolerated (tempest sends them).
    let (status, listed) = body(
        t.http()
            .get(format!("{}/v1//runtimes/", t.url))
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listed["runtimes"].as_array().map(Vec::len), Some(2));

    let updated = t
        .client
        .update_runtime(
            &rt.id,
            &UpdateRuntime {
                name: Some("py".into()),
                description: Some("CPython".into()),
                image: None,
            },
        )
        .await
        .expect("updated");
    assert_eq!(updated.name.as_deref(), Some("py"));
    assert!(updated.updated_at.is_some());

    let pool = t.client.runtime_pool(&rt.id).await.expect("pool");
    assert_eq!(pool.name, rt.id);
    assert_eq!(
        (pool.capacity.total, pool.capacity.available),
        (0, 0),
        "no function ran: no worker"
    );

    t.client.delete_runtime(&created.id).await.expect("deleted");
    let err = t.client.get_runtime(&created.id).await.expect_err("gone");
    assert_eq!(err.status(), Some(404));
    assert!(
        err.to_string()
            .contains(&format!("Runtime not found [id={}]", created.id)),
        "{err}"
    );
    t.stop().await;
}

#[tokio::test]
async fn pool_counts_warm_workers() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "def main(**kw):\n    return 1\n").await;
    assert_eq!(t.run(&f, None).await.status, "success");
    let pool = t.client.runtime_pool(&rt.id).await.expect("pool");
    assert_eq!(
        (pool.capacity.total, pool.capacity.available),
        (1, 1),
        "one warm idle worker"
    );
    t.stop().await;
}

#[tokio::test]
async fn bad_runtime_requests_get_clear_4xx() {
    let t = TestServer::start().await;
    let post = |b: Value| t.http().post(t.v1("runtimes")).json(&b).send();
    let (status, fault) = body(post(json!({"name": "x"})).await.expect("resp")).await;
    assert_eq!(
        (status, fault["faultstring"].clone()),
        (400, json!("Required param is missing. Required: {'image'}"))
    );
    assert_eq!(fault["faultcode"], "Client");
    let (status, fault) = body(post(json!({"image": "ubuntu:22.04"})).await.expect("resp")).await;
    assert_eq!(status, 400);
    assert_eq!(
        fault["faultstring"],
        "unknown runtime image `ubuntu:22.04`: known runtime kinds are nodejs, python3, wasm"
    );
    let (status, fault) = body(
        post(json!({"image": "python3", "status": "available"}))
            .await
            .expect("resp"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        fault["faultstring"]
            .as_str()
            .is_some_and(|s| s.contains("status")),
        "{fault}"
    );
    let resp = t
        .http()
        .post(t.v1("runtimes"))
        .header("content-type", "application/json")
        .body("[oops")
        .send()
        .await
        .expect("resp");
    assert_eq!(resp.status().as_u16(), 400);
    let (status, fault) = body(
        t.http()
            .get(t.v1("runtimes/abc"))
            .send()
            .await
            .expect("resp"),
    )
    .await;
    assert_eq!(
        (status, fault["faultstring"].clone()),
        (400, json!("Expected a uuid but received abc."))
    );
    let (status, _) = body(
        t.http()
            .delete(t.v1("runtimes/6f1c4a37-1b38-4c4b-9c2e-0c1f0c2d9a11"))
            .send()
            .await
            .expect("resp"),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = body(t.http().patch(t.v1("runtimes")).send().await.expect("resp")).await;
    assert_eq!(status, 405);
    t.stop().await;
}
