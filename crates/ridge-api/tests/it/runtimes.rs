//! Discovery, info, and runtimes through the router.

use ridge_core::api::{CreateRuntime, UpdateRuntime};
use serde_json::json;

use crate::harness::{PUBLIC_URL, TestApi};

#[tokio::test]
async fn discovery_and_info() {
    let t = TestApi::start().await;
    let root = t.api.get("/").send().await;
    assert_eq!(root.status, 200);
    let root = root.value();
    assert_eq!(root["versions"][0]["id"], "v1.0");
    assert_eq!(
        root["versions"][0]["links"][0]["href"],
        format!("{PUBLIC_URL}/v1")
    );
    let v1 = t.api.get("/v1/").send().await;
    assert_eq!(v1.status, 200);
    assert_eq!(v1.value(), json!({"uri": format!("{PUBLIC_URL}/v1")}));

    let info = t.api.info().await.expect("info");
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

    let missing = t.api.get("/v1/nothing-here").send().await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.value()["faultstring"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[tokio::test]
async fn runtime_lifecycle() {
    let t = TestApi::start().await;
    let created = t
        .api
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
    let listed = t.api.get("/v1//runtimes/").send().await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.value()["runtimes"].as_array().map(Vec::len), Some(2));

    let updated = t
        .api
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

    let pool = t.api.runtime_pool(&rt.id).await.expect("pool");
    assert_eq!(pool.name, rt.id);
    assert_eq!(
        (pool.capacity.total, pool.capacity.available),
        (0, 0),
        "no function ran: no worker"
    );

    t.api.delete_runtime(&created.id).await.expect("deleted");
    let err = t.api.get_runtime(&created.id).await.expect_err("gone");
    assert_eq!(err.status, 404);
    assert!(
        err.faultstring
            .contains(&format!("Runtime not found [id={}]", created.id)),
        "{err:?}"
    );
}

#[tokio::test]
async fn pool_counts_warm_workers() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "1").await;
    assert_eq!(t.run(&f, None).await.status, "success");
    let pool = t.api.runtime_pool(&rt.id).await.expect("pool");
    assert_eq!(
        (pool.capacity.total, pool.capacity.available),
        (1, 1),
        "one warm idle worker"
    );
}

#[tokio::test]
async fn bad_runtime_requests_get_clear_4xx() {
    let t = TestApi::start().await;
    let post = |b: serde_json::Value| t.api.post("/v1/runtimes").json(&b).send();
    let reply = post(json!({"name": "x"})).await;
    assert_eq!(
        reply.fault(),
        (
            400,
            "Required param is missing. Required: {'image'}".to_owned()
        )
    );
    assert_eq!(reply.value()["faultcode"], "Client");
    assert_eq!(
        post(json!({"image": "ubuntu:22.04"})).await.fault(),
        (
            400,
            "unknown runtime image `ubuntu:22.04`: known runtime kinds are nodejs, python3, wasm"
                .to_owned()
        )
    );
    let (status, message) = post(json!({"image": "python3", "status": "available"}))
        .await
        .fault();
    assert_eq!(status, 400);
    assert!(message.contains("status"), "{message}");
    let reply = t
        .api
        .post("/v1/runtimes")
        .raw("application/json", "[oops")
        .send()
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        t.api.get("/v1/runtimes/abc").send().await.fault(),
        (400, "Expected a uuid but received abc.".to_owned())
    );
    let reply = t
        .api
        .delete("/v1/runtimes/6f1c4a37-1b38-4c4b-9c2e-0c1f0c2d9a11")
        .send()
        .await;
    assert_eq!(reply.fault().0, 404);
    let reply = t
        .api
        .call(axum::http::Method::PATCH, "/v1/runtimes")
        .send()
        .await;
    assert_eq!(reply.fault().0, 405);
}

#[tokio::test]
async fn a_runtime_this_node_cannot_run_says_why() {
    let t = TestApi::start().await;
    // A runtime of a kind this server no longer has (left by another configuration).
    let gone = ridge_core::Runtime {
        image: "cobol85".into(),
        status: ridge_core::RuntimeStatus::Error,
        ..ridge_core::fixtures::runtime("default", true, 0)
    };
    t.state.store.create_runtime(&gone).await.expect("stored");
    let shown = t
        .api
        .get_runtime(&gone.id.to_string())
        .await
        .expect("shown");
    assert_eq!(shown.status, "error");
    let reason = shown.status_reason.expect("a reason");
    assert!(
        reason.contains("image `cobol85` is no runtime kind of this server")
            && reason.contains("python3"),
        "{reason}"
    );
    // An available runtime has none, and Qinling's clients see no new key.
    let rt = t.python_runtime().await;
    assert_eq!(rt.status_reason, None);
    let raw = t
        .api
        .get(&format!("/v1/runtimes/{}", rt.id))
        .send()
        .await
        .value();
    assert!(raw.get("status_reason").is_none(), "{raw}");
}
