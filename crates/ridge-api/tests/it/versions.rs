//! Function versions through the router: snapshots, running a version, limits, deletion and
//! its guards.

use ridge_core::api::{CreateAlias, CreateExecution, ExecutionView};
use serde_json::json;

use crate::harness::{TestApi, api_error, output, returning};

async fn run_version(t: &TestApi, function_id: &str, version: u64) -> ExecutionView {
    t.api
        .create_execution(&CreateExecution {
            function_id: Some(function_id.to_owned()),
            function_version: Some(json!(version)),
            ..Default::default()
        })
        .await
        .expect("execution created")
}

#[tokio::test]
async fn versions_snapshot_the_code_and_run_it_after_updates() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"one\"").await;

    let v1 = t
        .api
        .create_version(&f.id, Some("first".into()))
        .await
        .expect("v1");
    assert_eq!(v1.version_number, 1);
    assert_eq!(v1.function_id, f.id);
    assert_eq!(v1.description.as_deref(), Some("first"));
    let (status, msg) = api_error(t.api.create_version(&f.id, None).await);
    assert_eq!(
        (status, msg.as_str()),
        (
            403,
            "Function package not changed since the latest version 1."
        )
    );

    t.update_code(&f, "\"two\"").await;
    assert_eq!(output(&t.run(&f, None).await)["v"], "two");
    let e = run_version(&t, &f.id, 1).await;
    assert_eq!(e.status, "success", "{:?}", e.result);
    assert_eq!(e.function_version, 1);
    assert_eq!(output(&e)["v"], "one", "version 1 keeps its code");
    assert_eq!(t.api.get_version(&f.id, 1).await.expect("v1").count, 1);

    let v2 = t.api.create_version(&f.id, None).await.expect("v2");
    assert_eq!(v2.version_number, 2);
    // Replacing the function's package keeps the blob that version 2 still runs.
    t.update_code(&f, "\"three\"").await;
    assert_eq!(output(&run_version(&t, &f.id, 2).await)["v"], "two");
    assert_eq!(output(&t.run(&f, None).await)["v"], "three");

    let zip = t.api.download_version(&f.id, 1).await.expect("download");
    assert_eq!(zip.as_ref(), returning("\"one\"").as_slice());
    let listed = t.api.list_versions(&f.id).await.expect("list");
    assert_eq!(
        listed.iter().map(|v| v.version_number).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(
        t.api.get_function(&f.id).await.expect("f").latest_version,
        2
    );

    // Deleting a version frees its number for nobody: numbers are never reused.
    t.api.delete_version(&f.id, 2).await.expect("delete v2");
    let (status, msg) = api_error(t.api.get_version(&f.id, 2).await);
    assert_eq!(status, 404);
    assert_eq!(
        msg,
        format!(
            "FunctionVersion not found [function_id={}, version_number=2]",
            f.id
        )
    );
    let (status, _) = api_error(
        t.api
            .create_execution(&CreateExecution {
                function_id: Some(f.id.clone()),
                function_version: Some(json!(2)),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 404);
    let v3 = t.api.create_version(&f.id, None).await.expect("v3");
    assert_eq!(v3.version_number, 3);
    assert_eq!(output(&run_version(&t, &f.id, 3).await)["v"], "three");
    assert_eq!(output(&run_version(&t, &f.id, 1).await)["v"], "one");
}

#[tokio::test]
async fn version_limits_and_guards() {
    let t = TestApi::start_with(|s| s.config.max_versions = 2).await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "1").await;
    t.api.create_version(&f.id, None).await.expect("v1");
    t.update_code(&f, "2").await;
    t.api.create_version(&f.id, None).await.expect("v2");
    t.update_code(&f, "3").await;
    let (status, msg) = api_error(t.api.create_version(&f.id, None).await);
    assert_eq!(
        (status, msg.as_str()),
        (403, "Can not exceed maximum number(2) of versions")
    );

    // A version an alias points at cannot be deleted, nor can the function.
    t.api
        .create_alias(&CreateAlias {
            name: Some("stable".into()),
            function_id: Some(f.id.clone()),
            function_version: Some(json!(1)),
            description: None,
        })
        .await
        .expect("alias");
    let (status, msg) = api_error(t.api.delete_version(&f.id, 1).await);
    assert_eq!(
        (status, msg.as_str()),
        (403, "The function version is still associated with alias.")
    );
    let (status, msg) = api_error(t.api.delete_function(&f.id).await);
    assert_eq!(
        (status, msg.as_str()),
        (
            403,
            "The function is still associated with function alias(es)."
        )
    );

    // Bad numbers and unknown functions.
    let reply = t
        .api
        .get(&format!("/v1/functions/{}/versions/abc", f.id))
        .send()
        .await;
    assert_eq!(reply.status, 400);
    let unknown = ridge_core::FunctionId::new().to_string();
    let (status, msg) = api_error(t.api.create_version(&unknown, None).await);
    assert_eq!(
        (status, msg),
        (404, format!("Function not found [id={unknown}]"))
    );

    t.api.delete_alias("stable").await.expect("alias deleted");
    t.api.delete_version(&f.id, 1).await.expect("v1 deleted");
    t.api
        .delete_function(&f.id)
        .await
        .expect("function deleted with its versions");
}
