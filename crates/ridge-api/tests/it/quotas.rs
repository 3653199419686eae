//! Per-project quotas through the router: exhaustion, recovery, overrides that survive a
//! restart of the server's state, and 429 past the concurrency and rate quotas.

use std::time::Duration;

use ridge_core::api::{CreateExecution, SetQuotas};
use ridge_core::tenancy::Limit;
use serde_json::json;

use crate::harness::{TestApi, Upload, api_error, returning, zip_files};

#[tokio::test]
async fn function_and_package_quotas_hold_across_restarts_and_recover() {
    let ts = TestApi::start_with(|s| s.quotas.functions = Limit::At(1)).await;
    let runtime = ts.python_runtime().await;
    let first = ts.function(&runtime, "1").await;
    let (status, message) = api_error(
        ts.api
            .create_function(&Upload {
                runtime_id: Some(runtime.id.clone()),
                package: Some(zip_files(&[("function.py", "x = 1")])),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 403);
    assert!(message.contains("at most 1 functions"), "{message}");
    let q = ts.api.quotas(None).await.expect("quotas");
    assert_eq!((q.functions.limit, q.functions.in_use), (Some(1), 1));
    assert!(q.package_bytes.in_use > 0);

    // Recovery: deleting a function frees its place.
    ts.api.delete_function(&first.id).await.expect("delete");
    let second = ts.function(&runtime, "2").await;

    // An admin override replaces the default and survives a restart.
    let set = ts
        .api
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
        ts.api
            .update_function(
                &second.id,
                &Upload {
                    package: Some(returning("3")),
                    ..Default::default()
                },
            )
            .await,
    );
    assert_eq!(status, 403);
    assert!(message.contains("package_bytes"), "{message}");
    let ts = ts.restart(|s| s.quotas.functions = Limit::At(1)).await;
    let q = ts.api.quotas(None).await.expect("quotas after restart");
    assert_eq!(
        (q.functions.limit, q.package_bytes.limit),
        (Some(3), Some(10))
    );
    // `null` goes back to the server's default; -1 lifts a quota.
    let q = ts
        .api
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
        ts.api
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
    let ts = TestApi::start_with(|s| s.quotas.concurrent_executions = Limit::At(1)).await;
    let runtime = ts.python_runtime().await;
    // Its executions wait until the test opens the gate.
    let slow = ts
        .api
        .create_function(&Upload {
            runtime_id: Some(runtime.id.clone()),
            entry: Some("function.wait".into()),
            package: Some(returning("\"done\"")),
            ..Default::default()
        })
        .await
        .expect("function");
    let first = ts
        .api
        .create_execution(&CreateExecution {
            function_id: Some(slow.id.clone()),
            sync: Some(false),
            ..Default::default()
        })
        .await
        .expect("first execution");
    let (status, message) = api_error(
        ts.api
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
    ts.gate.open();
    assert_eq!(ts.wait(&first.id).await.status, "success");
    // Recovery once the first one finished.
    let quick = ts.function(&runtime, "1").await;
    assert_eq!(ts.run(&quick, None).await.status, "success");

    ts.api
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
    ts.clock.advance(Duration::from_millis(1100));
    assert_eq!(ts.run(&quick, None).await.status, "success");
    let (status, message) = api_error(
        ts.api
            .create_execution(&CreateExecution {
                function_id: Some(quick.id.clone()),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 429);
    assert!(message.contains("executions a second"), "{message}");
    ts.clock.advance(Duration::from_millis(1100));
    assert_eq!(ts.run(&quick, None).await.status, "success");
}
