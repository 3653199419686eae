//! Executions: round trips, counting, the compare-and-swap transitions, logs.

use futures_util::future::join_all;
use ridge_core::fixtures::{at, execution, project};
use ridge_core::{
    Execution, ExecutionId, ExecutionInput, ExecutionResult, ExecutionStatus, FunctionId, ProjectId,
};
use ridge_store::{Durability, ExecutionOutcome, ProjectScope, Store, StoreError};
use serde_json::json;

use super::filters::all_of;
use super::fixtures::seed_function;

fn success(output: serde_json::Value, logs: &str) -> ExecutionOutcome {
    ExecutionOutcome {
        status: ExecutionStatus::Success,
        result: ExecutionResult::new(0.044, output),
        logs: logs.into(),
    }
}

pub async fn execution_round_trips_every_field(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let object = json!({"name": "ridge", "nested": {"z": 1, "a": [1.5, null, "x"]}});
    let serde_json::Value::Object(map) = object else {
        unreachable!("literal object")
    };
    let inputs = [
        None,
        Some(ExecutionInput::Object(map)),
        Some(ExecutionInput::Positional(json!("hello world"))),
        Some(ExecutionInput::Positional(json!(3))),
        Some(ExecutionInput::Positional(json!([1, 2]))),
    ];
    for (i, input) in inputs.into_iter().enumerate() {
        let mut e = execution(&f, 10 + i as i64);
        e.input = input;
        e.description = Some(format!("case {i}"));
        e.function_alias = Some("prod".into());
        e.sync = i % 2 == 0;
        store.create_execution(&e).await.expect("create");
        assert_eq!(store.get_execution(e.id).await.expect("get"), e);
    }

    // A finished execution with every optional field set, and a platform error without duration.
    let mut done = execution(&f, 20);
    done.status = ExecutionStatus::Success;
    done.result = Some(ExecutionResult::new(1.25, json!({"k": ["v", 2]})));
    done.started_at = Some(at(21));
    done.updated_at = Some(at(22));
    let mut broken = execution(&f, 30);
    broken.status = ExecutionStatus::Error;
    broken.result = Some(ExecutionResult::platform_error(
        "Function execution failed.",
    ));
    for e in [&done, &broken] {
        store.create_execution(e).await.expect("create");
        assert_eq!(&store.get_execution(e.id).await.expect("get"), e);
    }
}

pub async fn create_execution_counts_version_zero_only(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    for i in 0..3 {
        store
            .create_execution(&execution(&f, 10 + i))
            .await
            .expect("create");
    }
    store
        .create_version(f.id, ridge_core::VersionId::new(), None, at(15), 10)
        .await
        .expect("version 1");
    let mut versioned = execution(&f, 20);
    versioned.function_version = 1;
    store.create_execution(&versioned).await.expect("create");
    assert_eq!(
        store.get_execution(versioned.id).await.expect("get"),
        versioned
    );
    assert_eq!(store.get_function(f.id).await.expect("get").count, 3);
    // A version's executions count on the version.
    assert_eq!(store.get_version(f.id, 1).await.expect("get").count, 1);
}

pub async fn concurrent_creates_count_every_execution(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let batch: Vec<_> = (0..8).map(|i| execution(&f, 10 + i)).collect();
    let create = |i: usize| store.create_execution(&batch[i]);
    let results = tokio::join!(
        create(0),
        create(1),
        create(2),
        create(3),
        create(4),
        create(5),
        create(6),
        create(7)
    );
    for r in [
        results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7,
    ] {
        r.expect("create");
    }
    assert_eq!(store.get_function(f.id).await.expect("get").count, 8);
}

pub async fn execution_needs_an_existing_function(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let mut orphan = execution(&f, 2);
    orphan.function_id = FunctionId::new();
    let err = store.create_execution(&orphan).await.expect_err("orphan");
    assert!(
        matches!(err, StoreError::FunctionNotFound { id } if id == orphan.function_id),
        "{err:?}"
    );
    assert!(matches!(
        store.get_execution(orphan.id).await,
        Err(StoreError::ExecutionNotFound { .. })
    ));
    assert_eq!(store.get_function(f.id).await.expect("get").count, 0);
}

/// A sync execution that a warm worker answered before it was recorded: one write, complete
/// with its logs, counted like any other, and final (no finish swaps it again).
pub async fn a_finished_execution_is_recorded_complete_in_one_write(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    store
        .create_version(f.id, ridge_core::VersionId::new(), None, at(5), 10)
        .await
        .expect("version 1");
    let finished = |version: i64, second: i64| {
        let mut e = execution(&f, second);
        e.sync = true;
        e.function_version = version;
        e.status = ExecutionStatus::Success;
        e.result = Some(ExecutionResult::new(0.002, json!({"n": second})));
        e.started_at = Some(at(second));
        e.updated_at = Some(at(second + 1));
        e
    };
    // Alone, and many at once (in the writer's batches, beside running creates).
    let alone = finished(0, 10);
    store
        .record_execution(&alone, "out\n")
        .await
        .expect("record");
    assert_eq!(store.get_execution(alone.id).await.expect("get"), alone);
    assert_eq!(
        store.get_execution_logs(alone.id).await.expect("logs"),
        "out\n"
    );
    let many: Vec<Execution> = (0..20).map(|i| finished(i % 2, 20 + i)).collect();
    let running: Vec<Execution> = (0..10).map(|i| execution(&f, 50 + i)).collect();
    let recorded = join_all(many.iter().map(|e| store.record_execution(e, "many")));
    let created = join_all(running.iter().map(|e| store.create_execution(e)));
    let (recorded, created) = tokio::join!(recorded, created);
    for result in recorded.into_iter().chain(created) {
        result.expect("every write lands");
    }
    for e in &many {
        assert_eq!(&store.get_execution(e.id).await.expect("get"), e);
        assert_eq!(store.get_execution_logs(e.id).await.expect("logs"), "many");
    }
    assert_eq!(
        store.get_function(f.id).await.expect("get").count,
        1 + 10 + 10
    );
    assert_eq!(store.get_version(f.id, 1).await.expect("get").count, 10);
    // Final: a finish finds nothing running to swap.
    assert!(
        store
            .finish_execution(alone.id, &success(json!(2), "late"))
            .await
            .expect("finish")
            .is_none()
    );
    assert_eq!(
        store.get_execution_logs(alone.id).await.expect("logs"),
        "out\n"
    );
    // A target that is gone: refused, nothing written.
    let mut orphan = finished(0, 80);
    orphan.function_id = FunctionId::new();
    let err = store
        .record_execution(&orphan, "")
        .await
        .expect_err("orphan");
    assert!(
        matches!(err, StoreError::FunctionNotFound { id } if id == orphan.function_id),
        "{err:?}"
    );
    let mut no_version = finished(0, 81);
    no_version.function_version = 7;
    let err = store
        .record_execution(&no_version, "")
        .await
        .expect_err("no version");
    assert!(
        matches!(err, StoreError::VersionNotFound { version: 7, .. }),
        "{err:?}"
    );
    for gone in [orphan.id, no_version.id] {
        assert!(matches!(
            store.get_execution(gone).await,
            Err(StoreError::ExecutionNotFound { .. })
        ));
    }
    assert_eq!(store.get_function(f.id).await.expect("get").count, 21);
}

pub async fn mark_started_is_compare_and_swap(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let e = execution(&f, 2);
    store.create_execution(&e).await.expect("create");

    assert!(
        store
            .mark_execution_started(e.id, "local", at(5), Durability::Flushed)
            .await
            .expect("mark")
    );
    assert!(
        !store
            .mark_execution_started(e.id, "local", at(6), Durability::Flushed)
            .await
            .expect("mark")
    );
    let got = store.get_execution(e.id).await.expect("get");
    assert_eq!(
        got,
        ridge_core::Execution {
            started_at: Some(at(5)),
            updated_at: Some(at(5)),
            ..e.clone()
        }
    );

    // A finished execution cannot be started.
    let queued = execution(&f, 3);
    store.create_execution(&queued).await.expect("create");
    assert!(
        store
            .finish_execution(queued.id, &success(json!(1), ""))
            .await
            .expect("finish")
            .is_some()
    );
    assert!(
        !store
            .mark_execution_started(queued.id, "local", at(7), Durability::Flushed)
            .await
            .expect("mark")
    );
    assert_eq!(
        store
            .get_execution(queued.id)
            .await
            .expect("get")
            .started_at,
        None
    );

    assert!(
        !store
            .mark_execution_started(ExecutionId::new(), "local", at(8), Durability::Flushed)
            .await
            .expect("unknown id changes nothing")
    );
}

pub async fn finish_is_compare_and_swap(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let e = execution(&f, 2);
    store.create_execution(&e).await.expect("create");
    assert!(
        store
            .mark_execution_started(e.id, "local", at(3), Durability::Flushed)
            .await
            .expect("mark")
    );

    let first = success(json!({"greeting": "Hello, bar"}), "line 1\nline 2\n");
    let finished = store.finish_execution(e.id, &first).await.expect("finish");
    let second = ExecutionOutcome {
        status: ExecutionStatus::Failed,
        result: ExecutionResult::platform_error("Function execution timeout."),
        logs: "late".into(),
    };
    assert!(
        store
            .finish_execution(e.id, &second)
            .await
            .expect("finish")
            .is_none()
    );

    let got = store.get_execution(e.id).await.expect("get");
    assert_eq!(finished.as_ref(), Some(&got), "the finished row comes back");
    assert_eq!(got.status, ExecutionStatus::Success);
    assert_eq!(got.result, Some(first.result.clone()));
    assert_eq!(got.started_at, Some(at(3)));
    let updated_at = got.updated_at.expect("finish sets updated_at");
    assert!(updated_at > at(3));
    assert_eq!(
        got,
        ridge_core::Execution {
            status: ExecutionStatus::Success,
            result: Some(first.result),
            started_at: Some(at(3)),
            updated_at: Some(updated_at),
            ..e
        }
    );
    assert_eq!(
        store.get_execution_logs(e.id).await.expect("logs"),
        "line 1\nline 2\n"
    );

    assert!(
        store
            .finish_execution(ExecutionId::new(), &second)
            .await
            .expect("unknown id changes nothing")
            .is_none()
    );
}

pub async fn logs_are_stored_on_finish_only(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let e = execution(&f, 2);
    store.create_execution(&e).await.expect("create");
    assert_eq!(store.get_execution_logs(e.id).await.expect("logs"), "");
    let logs = "ünïcode ✓\n\0binary-ish\n".repeat(1000);
    assert!(
        store
            .finish_execution(e.id, &success(json!(null), &logs))
            .await
            .expect("finish")
            .is_some()
    );
    assert_eq!(store.get_execution_logs(e.id).await.expect("logs"), logs);

    let id = ExecutionId::new();
    let err = store.get_execution_logs(id).await.expect_err("absent");
    assert_eq!(err.to_string(), format!("Execution not found [id={id}]"));
}

pub async fn delete_execution_removes_it(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let gone = execution(&f, 2);
    let kept = execution(&f, 3);
    for e in [&gone, &kept] {
        store.create_execution(e).await.expect("create");
    }
    store.delete_execution(gone.id).await.expect("delete");
    assert!(matches!(
        store.get_execution(gone.id).await,
        Err(StoreError::ExecutionNotFound { id }) if id == gone.id
    ));
    assert!(matches!(
        store.delete_execution(gone.id).await,
        Err(StoreError::ExecutionNotFound { id }) if id == gone.id
    ));
    assert_eq!(store.get_execution(kept.id).await.expect("get"), kept);
    // Deleting an execution does not uncount it (Qinling's count is of calls made).
    assert_eq!(store.get_function(f.id).await.expect("get").count, 2);
}

pub async fn executions_are_listed_by_scope_in_order(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let g = seed_function(store, "p2", 2).await;
    let late = execution(&f, 30);
    let other = execution(&g, 20);
    let early = execution(&f, 10);
    for e in [&late, &other, &early] {
        store.create_execution(e).await.expect("create");
    }
    let p1 = store
        .list_executions(&all_of(ProjectScope::Project(project("p1"))))
        .await
        .expect("list");
    assert_eq!(p1, vec![early.clone(), late.clone()]);
    let all = store
        .list_executions(&all_of(ProjectScope::All))
        .await
        .expect("list");
    assert_eq!(all, vec![early, other, late]);
    let none = store
        .list_executions(&all_of(ProjectScope::Project(ProjectId::default_project())))
        .await
        .expect("list");
    assert!(none.is_empty());
}

/// Creates, starts (twice: the second must lose) and finishes `e`.
async fn lifecycle(store: &dyn Store, e: &Execution) -> (bool, bool, bool) {
    store.create_execution(e).await.expect("create");
    let started = store
        .mark_execution_started(e.id, "local", at(5_000), Durability::Flushed)
        .await;
    let again = store
        .mark_execution_started(e.id, "local", at(5_001), Durability::Flushed)
        .await;
    let done = store
        .finish_execution(e.id, &success(json!(e.id.to_string()), "out"))
        .await;
    (
        started.expect("start"),
        again.expect("start"),
        done.expect("finish").is_some(),
    )
}

/// A burst of executions, all created, started and finished at once: every write lands, every
/// compare-and-swap succeeds once, and the function's `count` is exact.
pub async fn a_burst_of_writes_all_land(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let burst: Vec<_> = (0..300).map(|i| execution(&f, 10 + i)).collect();
    for (started, again, done) in join_all(burst.iter().map(|e| lifecycle(store, e))).await {
        assert!(started && !again && done);
    }
    assert_eq!(store.get_function(f.id).await.expect("get").count, 300);
    for e in &burst {
        let got = store.get_execution(e.id).await.expect("get");
        assert_eq!(got.status, ExecutionStatus::Success);
        assert_eq!(got.started_at, Some(at(5_000)));
        assert_eq!(got.result.map(|r| r.output), Some(json!(e.id.to_string())));
    }
}

/// Writes sent together with writes that fail (a missing function, a missing version, a
/// duplicate id, a compare-and-swap that loses) each get their own answer: the failures do not
/// take the others down, and counts include exactly the executions that were stored.
pub async fn a_failing_write_fails_alone(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let taken = execution(&f, 2);
    store.create_execution(&taken).await.expect("create");
    store
        .finish_execution(taken.id, &success(json!(1), ""))
        .await
        .expect("finish");

    let good: Vec<_> = (0..40).map(|i| execution(&f, 10 + i)).collect();
    let mut orphan = execution(&f, 3);
    orphan.function_id = FunctionId::new();
    let mut unversioned = execution(&f, 4);
    unversioned.function_version = 7;
    let mut duplicate = execution(&f, 5);
    duplicate.id = taken.id;

    let creates = good
        .iter()
        .chain([&orphan, &unversioned, &duplicate])
        .map(|e| store.create_execution(e));
    let (created, swaps) = tokio::join!(
        join_all(creates),
        // Compare-and-swaps on a finished execution lose, in the same burst.
        join_all((0..5).map(|_| store.mark_execution_started(
            taken.id,
            "local",
            at(9),
            Durability::Flushed
        ))),
    );
    let (ok, failed) = created.split_at(good.len());
    assert!(ok.iter().all(Result::is_ok), "{ok:?}");
    assert!(
        matches!(failed[0], Err(StoreError::FunctionNotFound { id }) if id == orphan.function_id),
        "{:?}",
        failed[0]
    );
    assert!(
        matches!(
            failed[1],
            Err(StoreError::VersionNotFound { version: 7, .. })
        ),
        "{:?}",
        failed[1]
    );
    assert!(failed[2].is_err(), "a duplicate id is refused");
    assert!(swaps.iter().all(|s| matches!(s, Ok(false))), "{swaps:?}");

    assert_eq!(store.get_function(f.id).await.expect("get").count, 41);
    for e in &good {
        assert_eq!(&store.get_execution(e.id).await.expect("get"), e);
    }
    for e in [&orphan, &unversioned] {
        assert!(matches!(
            store.get_execution(e.id).await,
            Err(StoreError::ExecutionNotFound { .. })
        ));
    }
    // The first execution with that id is untouched.
    let kept = store.get_execution(taken.id).await.expect("get");
    assert_eq!(kept.status, ExecutionStatus::Success);
    assert_eq!(kept.created_at, taken.created_at);
}

/// Statistics count one project's executions since a time by status, the queued ones of any
/// age, and at most the asked number of the newest finished durations.
pub async fn execution_statistics_are_scoped_and_bounded(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let g = seed_function(store, "p2", 2).await;
    let old = execution(&f, 10);
    let queued = execution(&f, 20);
    let started = execution(&f, 100);
    let mut finished = Vec::new();
    for (i, status) in [
        ExecutionStatus::Success,
        ExecutionStatus::Success,
        ExecutionStatus::Failed,
    ]
    .into_iter()
    .enumerate()
    {
        let e = execution(&f, 110 + i as i64);
        store.create_execution(&e).await.expect("create");
        let outcome = ExecutionOutcome {
            status,
            result: ExecutionResult::new(0.5 + i as f64, json!("out")),
            logs: String::new(),
        };
        store
            .finish_execution(e.id, &outcome)
            .await
            .expect("finish");
        finished.push(e);
    }
    let platform = execution(&f, 120);
    store.create_execution(&platform).await.expect("create");
    let outcome = ExecutionOutcome {
        status: ExecutionStatus::Error,
        result: ExecutionResult::platform_error("no worker"),
        logs: String::new(),
    };
    store
        .finish_execution(platform.id, &outcome)
        .await
        .expect("finish");
    let other = execution(&g, 130);
    for e in [&old, &queued, &started, &other] {
        store.create_execution(e).await.expect("create");
    }
    assert!(
        store
            .mark_execution_started(started.id, "local", at(101), Durability::Flushed)
            .await
            .expect("start")
    );

    let p1 = ProjectScope::Project(project("p1"));
    let mut stats = store
        .execution_statistics(&p1, at(50), 10)
        .await
        .expect("statistics");
    stats.by_status.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(
        stats.by_status,
        vec![
            (ExecutionStatus::Error, 1),
            (ExecutionStatus::Failed, 1),
            (ExecutionStatus::Running, 1),
            (ExecutionStatus::Success, 2),
        ],
        "the old execution and project p2's are not counted"
    );
    assert_eq!(stats.queued, 2, "queued of any age, started ones not");
    assert_eq!(
        stats.durations,
        vec![2.5, 1.5, 0.5],
        "newest first; none for the platform error"
    );

    let bounded = store
        .execution_statistics(&p1, at(50), 2)
        .await
        .expect("statistics");
    assert_eq!(bounded.durations, vec![2.5, 1.5]);
    let all = store
        .execution_statistics(&ProjectScope::All, at(50), 10)
        .await
        .expect("statistics");
    assert_eq!(all.queued, 3);
    let nothing = store
        .execution_statistics(&p1, at(1_000), 10)
        .await
        .expect("statistics");
    assert!(nothing.by_status.is_empty() && nothing.durations.is_empty());
}
