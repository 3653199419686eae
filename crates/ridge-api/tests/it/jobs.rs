//! Jobs through the router: Qinling's validation and messages, and the status changes of
//! `PUT /v1/jobs/{id}`. Jobs that fire are tested end to end in `crates/ridge`.

use ridge_core::api::{CreateJob, UpdateJob};
use ridge_core::{Clock, ManualClock};
use serde_json::json;

use crate::harness::{TestApi, api_error};

/// `secs` from now on the server's clock, which job validation reads.
fn in_secs(clock: &ManualClock, secs: i64) -> String {
    ridge_core::time::format(&(clock.now() + chrono::Duration::seconds(secs)))
}

#[tokio::test]
async fn validation_uses_qinlings_messages() {
    // The default minimum lead time: a minute.
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "1").await;
    let job = |body: CreateJob| CreateJob {
        function_id: Some(f.id.clone()),
        ..body
    };
    let cases = [
        (
            job(CreateJob::default()),
            400,
            "pattern or first_execution_time must be specified.",
        ),
        (
            job(CreateJob {
                first_execution_time: Some(in_secs(&t.clock, 10)),
                ..Default::default()
            }),
            400,
            "Execution time must be at least 1 minute in the future.",
        ),
        (
            job(CreateJob {
                first_execution_time: Some(in_secs(&t.clock, 3600)),
                count: Some(json!(2)),
                ..Default::default()
            }),
            400,
            "pattern must be provided if count is greater than 1.",
        ),
        (
            job(CreateJob {
                pattern: Some("61 * * * *".into()),
                ..Default::default()
            }),
            400,
            "The specified pattern is not valid: 61 * * * *",
        ),
        (
            CreateJob {
                pattern: Some("* * * * *".into()),
                ..Default::default()
            },
            400,
            "Either function_alias or function_id must be provided.",
        ),
    ];
    for (body, status, message) in cases {
        let (got, msg) = api_error(t.api.create_job(&body).await);
        assert_eq!((got, msg.as_str()), (status, message), "{body:?}");
    }
    let (status, _) = api_error(
        t.api
            .create_job(&CreateJob {
                function_version: Some(json!(3)),
                pattern: Some("* * * * *".into()),
                ..job(CreateJob::default())
            })
            .await,
    );
    assert_eq!(status, 404, "the version must exist");

    // A first time with an offset is converted to UTC; a one-shot job gets count 1.
    let j = t
        .api
        .create_job(&job(CreateJob {
            first_execution_time: Some("2999-01-31 14:00:00+02:00".into()),
            function_input: Some(json!("{\"a\": 1}")),
            ..Default::default()
        }))
        .await
        .expect("job");
    assert_eq!(j.status, "running");
    assert_eq!(j.count, Some(1));
    assert_eq!(
        j.first_execution_time.as_deref(),
        Some("2999-01-31T12:00:00Z")
    );
    assert_eq!(j.next_execution_time, j.first_execution_time);

    // Updates: type changes, invalid statuses, pause, cancel, finished jobs.
    let (status, msg) = api_error(
        t.api
            .update_job(
                &j.id,
                &UpdateJob {
                    pattern: Some("* * * * *".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    assert_eq!((status, msg.as_str()), (400, "Can not change job type."));
    let (status, msg) = api_error(
        t.api
            .update_job(
                &j.id,
                &UpdateJob {
                    status: Some("done".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    assert_eq!((status, msg.as_str()), (400, "Invalid status."));
    let paused = t
        .api
        .update_job(
            &j.id,
            &UpdateJob {
                status: Some("paused".into()),
                ..Default::default()
            },
        )
        .await
        .expect("paused");
    assert_eq!(paused.status, "paused");
    let (status, msg) = api_error(t.api.delete_function(&f.id).await);
    assert_eq!(
        (status, msg.as_str()),
        (403, "The function is still associated with running job(s).")
    );
    let cancelled = t
        .api
        .update_job(
            &j.id,
            &UpdateJob {
                status: Some("cancelled".into()),
                ..Default::default()
            },
        )
        .await
        .expect("cancelled");
    assert_eq!(cancelled.status, "cancelled");
    let (status, msg) = api_error(
        t.api
            .update_job(
                &j.id,
                &UpdateJob {
                    name: Some("x".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    assert_eq!(
        (status, msg.as_str()),
        (400, "Can not update a finished job.")
    );
    t.api.delete_job(&j.id).await.expect("deleted");
    let (status, msg) = api_error(t.api.get_job(&j.id).await);
    assert_eq!((status, msg), (404, format!("Job not found [id={}]", j.id)));
}

#[tokio::test]
async fn patterns_firing_too_often_are_refused() {
    let t =
        TestApi::start_with(|s| s.config.job_min_interval = std::time::Duration::from_secs(300))
            .await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "1").await;
    let with = |pattern: &str| CreateJob {
        function_id: Some(f.id.clone()),
        pattern: Some(pattern.into()),
        ..Default::default()
    };
    for (pattern, every) in [
        ("* * * * * *", 1),
        ("*/10 * * * * *", 10),
        ("*/2 * * * *", 120),
        ("0-4 9 * * 1", 60),
    ] {
        let (status, message) = api_error(t.api.create_job(&with(pattern)).await);
        assert_eq!(status, 400, "{pattern}: {message}");
        assert!(
            message.contains(&format!("runs every {every} s"))
                && message.contains("at most once every 300 s"),
            "{pattern}: {message}"
        );
    }
    let j = t
        .api
        .create_job(&with("*/5 * * * *"))
        .await
        .expect("every 5 min");
    // An update is held to the same bound.
    let (status, message) = api_error(
        t.api
            .update_job(
                &j.id,
                &UpdateJob {
                    pattern: Some("* * * * * *".into()),
                    ..Default::default()
                },
            )
            .await,
    );
    assert_eq!(status, 400, "{message}");
    t.api
        .update_job(
            &j.id,
            &UpdateJob {
                pattern: Some("0 * * * *".into()),
                ..Default::default()
            },
        )
        .await
        .expect("hourly");
}

#[tokio::test]
async fn a_project_holds_at_most_its_job_quota() {
    let t = TestApi::start_with(|s| s.quotas.jobs = ridge_core::tenancy::Limit::At(2)).await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "1").await;
    let job = || CreateJob {
        function_id: Some(f.id.clone()),
        pattern: Some("0 * * * *".into()),
        ..Default::default()
    };
    let first = t.api.create_job(&job()).await.expect("first");
    t.api.create_job(&job()).await.expect("second");
    let (status, message) = api_error(t.api.create_job(&job()).await);
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("at most 2 jobs") && message.contains("`jobs` quota"),
        "{message}"
    );
    let q = t.api.quotas(None).await.expect("quotas");
    assert_eq!((q.jobs.limit, q.jobs.in_use), (Some(2), 2));

    // A cancelled job no longer counts; an admin override replaces the default.
    t.api
        .update_job(
            &first.id,
            &UpdateJob {
                status: Some("cancelled".into()),
                ..Default::default()
            },
        )
        .await
        .expect("cancelled");
    t.api.create_job(&job()).await.expect("room again");
    t.api
        .set_quotas(
            "default",
            &ridge_core::api::SetQuotas {
                jobs: Some(json!(-1)),
                ..Default::default()
            },
        )
        .await
        .expect("no limit");
    t.api.create_job(&job()).await.expect("unlimited");
    let q = t.api.quotas(None).await.expect("quotas");
    assert_eq!((q.jobs.limit, q.jobs.in_use), (None, 3));
}
