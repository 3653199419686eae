//! Aliases through the router: validation, executions by alias, following an alias when it
//! moves.

use ridge_core::api::{CreateAlias, CreateExecution, ExecutionView, UpdateAlias, WebhookRequest};
use serde_json::json;

use crate::harness::{Refused, TestApi, api_error, output};

fn alias(name: &str, function_id: &str, version: u64) -> CreateAlias {
    CreateAlias {
        name: Some(name.to_owned()),
        function_id: Some(function_id.to_owned()),
        function_version: Some(json!(version)),
        description: None,
    }
}

async fn run_alias_result(t: &TestApi, name: &str) -> Result<ExecutionView, Refused> {
    t.api
        .create_execution(&CreateExecution {
            function_alias: Some(name.to_owned()),
            ..Default::default()
        })
        .await
}

async fn run_alias(t: &TestApi, name: &str) -> ExecutionView {
    run_alias_result(t, name).await.expect("execution created")
}

#[tokio::test]
async fn executions_by_alias_follow_the_alias() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"one\"").await;
    t.api.create_version(&f.id, None).await.expect("v1");
    t.update_code(&f, "\"two\"").await;

    let a = t
        .api
        .create_alias(&alias("prod", &f.id, 1))
        .await
        .expect("alias");
    assert_eq!((a.name.as_str(), a.function_version), ("prod", 1));
    let e = run_alias(&t, "prod").await;
    assert_eq!(e.status, "success", "{:?}", e.result);
    assert_eq!(output(&e)["v"], "one");
    assert_eq!(e.function_alias.as_deref(), Some("prod"));
    assert_eq!(
        (e.function_id.as_str(), e.function_version),
        (f.id.as_str(), 1)
    );

    let moved = t
        .api
        .update_alias(
            "prod",
            &UpdateAlias {
                function_version: Some(json!("0")),
                ..Default::default()
            },
        )
        .await
        .expect("moved");
    assert_eq!(moved.function_version, 0);
    assert!(moved.updated_at.is_some());
    assert_eq!(output(&run_alias(&t, "prod").await)["v"], "two");

    // An empty update is a no-op; the list uses Qinling's envelope.
    t.api
        .update_alias("prod", &UpdateAlias::default())
        .await
        .expect("no-op");
    let body = t.api.get("/v1/aliases").send().await.value();
    assert_eq!(body["function_aliases"][0]["name"], "prod");
}

#[tokio::test]
async fn alias_errors_use_qinlings_messages() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "1").await;

    let (status, msg) = api_error(
        t.api
            .create_alias(&CreateAlias {
                function_id: Some(f.id.clone()),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(
        (status, msg.as_str()),
        (400, "Required param is missing. Required: {'name'}")
    );
    let unknown = ridge_core::FunctionId::new().to_string();
    let (status, _) = api_error(t.api.create_alias(&alias("a", &unknown, 0)).await);
    assert_eq!(
        status, 404,
        "unlike Qinling, the target function must exist"
    );
    let (status, msg) = api_error(t.api.create_alias(&alias("a", &f.id, 4)).await);
    assert_eq!(status, 404);
    assert!(msg.starts_with("FunctionVersion not found"), "{msg}");

    t.api.create_alias(&alias("a", &f.id, 0)).await.expect("a");
    let (status, msg) = api_error(t.api.create_alias(&alias("a", &f.id, 0)).await);
    assert_eq!(status, 400);
    assert!(
        msg.starts_with("Duplicate entry for function_aliases"),
        "{msg}"
    );
    let (status, msg) = api_error(t.api.get_alias("nope").await);
    assert_eq!(
        (status, msg.as_str()),
        (404, "FunctionAlias not found [name=nope]")
    );
    let (status, msg) = api_error(run_alias_result(&t, "nope").await);
    assert_eq!(
        (status, msg.as_str()),
        (404, "FunctionAlias not found [name=nope]")
    );

    // An alias a webhook uses cannot be deleted.
    let w = t
        .api
        .create_webhook(&WebhookRequest {
            function_alias: Some("a".into()),
            ..Default::default()
        })
        .await
        .expect("webhook");
    let (status, msg) = api_error(t.api.delete_alias("a").await);
    assert_eq!(status, 403);
    assert!(
        msg.contains("alias `a` is still used by webhook(s)"),
        "{msg}"
    );
    t.api.delete_webhook(&w.id).await.expect("webhook deleted");
    t.api.delete_alias("a").await.expect("alias deleted");
    let (status, _) = api_error(t.api.get_alias("a").await);
    assert_eq!(status, 404);
}
