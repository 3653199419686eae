//! Executions through the router: listing with filters, show, delete, and request validation.

use ridge_core::api::{CreateExecution, ExecutionView};
use serde_json::json;

use crate::harness::{TestApi, Upload, api_error, returning};

#[tokio::test]
async fn list_filters_show_and_delete() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let ok = t.function(&rt, "1").await;
    let bad = t
        .api
        .create_function(&Upload {
            runtime_id: Some(rt.id.clone()),
            entry: Some("function.fail".into()),
            package: Some(returning("no")),
            ..Upload::default()
        })
        .await
        .expect("function");
    let e1 = t.run(&ok, None).await;
    let e2 = t.run(&bad, None).await;
    assert_eq!(
        (e1.status.as_str(), e2.status.as_str()),
        ("success", "failed")
    );
    let described = t
        .api
        .create_execution(&CreateExecution {
            function_id: Some(ok.id.clone()),
            description: Some("Created by Job 1234".to_owned()),
            ..Default::default()
        })
        .await
        .expect("execution");

    let ids = |list: Vec<ExecutionView>| list.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let list = |k: &'static str, v: String| {
        let api = t.api.clone();
        async move { api.list_executions(&[(k, &v)]).await }
    };
    let all = ids(t.api.list_executions(&[]).await.expect("list"));
    assert_eq!(
        all,
        vec![e1.id.clone(), e2.id.clone(), described.id.clone()],
        "oldest first"
    );
    assert_eq!(
        ids(list("status", "failed".into()).await.expect("list")),
        vec![e2.id.clone()]
    );
    assert_eq!(
        ids(list("status", "neq:failed".into()).await.expect("list")),
        vec![e1.id.clone(), described.id.clone()]
    );
    assert_eq!(
        ids(list("function_id", bad.id.clone()).await.expect("list")),
        vec![e2.id.clone()]
    );
    assert_eq!(
        ids(list("description", "has:Job 12".into())
            .await
            .expect("list")),
        vec![described.id.clone()]
    );
    let (status, _) = api_error(list("status", "sleeping".into()).await);
    assert_eq!(status, 400);
    let (_, message) = api_error(list("offset", "1".into()).await);
    assert!(
        message.contains("Unknown argument: \"offset\""),
        "{message}"
    );

    t.api.delete_execution(&e1.id).await.expect("deleted");
    let (status, message) = api_error(t.api.get_execution(&e1.id).await);
    assert_eq!(status, 404);
    assert!(
        message.contains(&format!("Execution not found [id={}]", e1.id)),
        "{message}"
    );
}

#[tokio::test]
async fn bad_execution_requests_get_clear_4xx() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"Hello\"").await;
    let cases = [
        (
            json!({}),
            400,
            "Either function_alias or function_id must be provided.",
        ),
        (
            json!({"function_id": "abc"}),
            400,
            "Expected a uuid but received abc.",
        ),
        (
            json!({"function_id": "6f1c4a37-1b38-4c4b-9c2e-0c1f0c2d9a11"}),
            404,
            "Function not found [id=6f1c4a37-1b38-4c4b-9c2e-0c1f0c2d9a11]",
        ),
        (
            json!({"function_alias": "nope"}),
            404,
            "FunctionAlias not found [name=nope]",
        ),
        (
            json!({"function_id": f.id, "function_version": 3}),
            404,
            "FunctionVersion not found",
        ),
        (
            json!({"function_id": f.id, "function_version": "x"}),
            400,
            "invalid `function_version`",
        ),
        (
            json!({"function_id": f.id, "bogus": 1}),
            400,
            "unknown field `bogus`",
        ),
    ];
    for (body, status, message) in cases {
        let (got, text) = t
            .api
            .post("/v1/executions")
            .json(&body)
            .send()
            .await
            .fault();
        assert_eq!(got, status, "{body}");
        assert!(text.contains(message), "{body}: {text}");
    }
    let reply = t
        .api
        .post("/v1/executions")
        .raw("application/json", "{not json")
        .send()
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        t.api.get("/v1/executions/not-a-uuid").send().await.status,
        400
    );
    assert_eq!(
        t.api
            .get("/v1/executions/not-a-uuid/log")
            .send()
            .await
            .status,
        400
    );
}

/// `GET /v1/executions?...` as JSON, or its fault.
async fn page(t: &TestApi, query: &str) -> (u16, serde_json::Value) {
    let reply = t.api.get(&format!("/v1/executions?{query}")).send().await;
    (reply.status, reply.value())
}

#[tokio::test]
async fn the_list_pages_with_limit_and_marker() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "1").await;
    let function = t
        .state
        .store
        .get_function(f.id.parse().expect("an id"))
        .await
        .expect("the function");
    // 250 executions, written straight to the store: more than a default page.
    let mut created = Vec::new();
    for i in 0..250 {
        let e = ridge_core::fixtures::execution(&function, i);
        t.state.store.create_execution(&e).await.expect("create");
        created.push(e.id.to_string());
    }
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["executions"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| e["id"].as_str().expect("an id").to_owned())
            .collect()
    };

    // No limit: the default page, with a link to the next one.
    let reply = t.api.get("/v1/executions").send().await;
    let first = reply.value();
    assert_eq!(ids(&first), created[..100].to_vec());
    let next = first["next"].as_str().expect("a next page");
    assert!(
        next.ends_with(&format!("/v1/executions?marker={}", created[99])),
        "{next}"
    );

    // Walking `limit` and `marker` with a filter visits each execution once, in order.
    let mut walked = Vec::new();
    let mut query = format!("limit=70&function_id={}", f.id);
    loop {
        let (status, body) = page(&t, &query).await;
        assert_eq!(status, 200, "{body}");
        let got = ids(&body);
        assert!(got.len() <= 70);
        walked.extend(got);
        match body["next"].as_str() {
            Some(next) => query = next.split_once('?').expect("a query").1.to_owned(),
            None => break,
        }
    }
    assert_eq!(walked, created);

    // A limit above the maximum is lowered to it; a bad limit or marker is refused.
    let (_, big) = page(&t, "limit=100000").await;
    assert_eq!(ids(&big).len(), 250);
    assert!(big.get("next").is_none(), "the last page has no next");
    for (query, expected) in [
        ("limit=0", "invalid `limit` `0`"),
        ("limit=ten", "invalid `limit` `ten`"),
        ("marker=nope", "marker `nope` not found"),
    ] {
        let (status, body) = page(&t, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        let fault = body["faultstring"].as_str().expect("a faultstring");
        assert!(fault.contains(expected), "{query}: {fault}");
    }
    let unknown = uuid::Uuid::new_v4();
    let (status, _) = page(&t, &format!("marker={unknown}")).await;
    assert_eq!(status, 400);
}
