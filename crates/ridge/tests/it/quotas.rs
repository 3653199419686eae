//! Per-project quotas through the HTTP API: exhaustion, recovery, overrides that survive a
//! restart, and 429 past the concurrency and rate quotas.

use std::time::Duration;

use ridge_core::api::{CreateExecution, SetQuotas};
use ridge_core::tenancy::Limit;
use serde_json::json;

use crate::common::{TestServer, api_error, returning, zip_files};

#[tokio::test]
async fn function_and_package_quotas_hold_across_restarts_and_recover() {
    let ts = TestServer::start_with(|s| s.quotas.functions = Limit::At(1)).await;
    let runtime = ts.python_runtime().await;
    let first = ts.function(&runtime, &returning("1")).await;
    let (status, message) = api_error(
        ts.client
            .create_function(&ridge_client::FunctionUpload {
                runtime_id: Some(runtime.id.clone()),
                package: Some(zip_files(&[("function.py", "x = 1")]).into()),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 403);
    assert!(message.contains("at most 1 functions"), "{message}");
    let q = ts.client.quotas(None).await.expect("quotas");
    assert_eq!((q.functions.limit, q.functions.in_use), (Some(1), 1));
    assert!(q.package_bytes.in_use > 0);

    // Recovery: deleting a function frees its place.
    ts.client.delete_function(&first.id).await.expect("delete");
    let second = ts.function(&runtime, &returning("2")).await;

    // An admin override replaces the default and survives a restart.
    let set = ts
        .client
        .set_quotas(
            "default",
            &SetQuotas {
                functions: Some(json!(3)),
                package_bytes: Some(json!(10)),
                ..SetQuotas::default()
            },
        )
        .await
        .expect("set quotas");
    assert_eq!(set.functions.limit, Some(3));
    let (status, message) = api_error(
        ts.client
            .update_function(
                &second.id,
                &ridge_client::FunctionUpdate {
                    package: Some(zip_files(&[("function.py", &returning("3"))]).into()),
                    ..Default::default()
                },
            )
            .await,
    );
    assert_eq!(status, 403);
    assert!(message.contains("package_bytes"), "{message}");
    let dir = ts.stop().await;
    let ts = TestServer::start_in(dir, |s| s.quotas.functions = Limit::At(1)).await;
    let q = ts.client.quotas(None).await.expect("quotas after restart");
    assert_eq!(
        (q.functions.limit, q.package_bytes.limit),
        (Some(3), Some(10))
    );
    // `null` goes back to the server's default; -1 lifts a quota.
    let q = ts
        .client
        .set_quotas(
            "default",
            &SetQuotas {
                functions: Some(serde_json::Value::Null),
                package_bytes: Some(json!(-1)),
                ..SetQuotas::default()
            },
        )
        .await
        .expect("reset");
    assert_eq!((q.functions.limit, q.package_bytes.limit), (Some(1), None));
    let (status, message) = api_error(
        ts.client
            .set_quotas(
                "default",
                &SetQuotas {
                    functions: Some(json!("lots")),
                    ..SetQuotas::default()
                },
            )
            .await,
    );
    assert_eq!(status, 400);
    assert!(message.contains("invalid quota `functions`"), "{message}");
}

#[tokio::test]
async fn concurrency_and_rate_quotas_answer_429_and_recover() {
    let ts = TestServer::start_with(|s| s.quotas.concurrent_executions = Limit::At(1)).await;
    let runtime = ts.python_runtime().await;
    let slow = ts
        .function(
            &runtime,
            "import time\ndef main(**kw):\n    time.sleep(1.5)\n    return 'done'\n",
        )
        .await;
    let first = ts
        .client
        .create_execution(&CreateExecution {
            function_id: Some(slow.id.clone()),
            sync: Some(false),
            ..Default::default()
        })
        .await
        .expect("first execution");
    let (status, message) = api_error(
        ts.client
            .create_execution(&CreateExecution {
                function_id: Some(slow.id.clone()),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 429);
    assert!(
        message.contains("at most 1 unfinished executions"),
        "{message}"
    );
    assert_eq!(ts.wait(&first.id).await.status, "success");
    // Recovery once the first one finished.
    let quick = ts.function(&runtime, &returning("1")).await;
    assert_eq!(ts.run(&quick, None).await.status, "success");

    ts.client
        .set_quotas(
            "default",
            &SetQuotas {
                concurrent_executions: Some(json!(-1)),
                executions_per_second: Some(json!(1)),
                ..SetQuotas::default()
            },
        )
        .await
        .expect("set rate");
    // Let the bucket fill, then: one passes, the next within the second is refused.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ts.run(&quick, None).await.status, "success");
    let (status, message) = api_error(
        ts.client
            .create_execution(&CreateExecution {
                function_id: Some(quick.id.clone()),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 429);
    assert!(message.contains("executions a second"), "{message}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ts.run(&quick, None).await.status, "success");
}
