//! Dispatch's tests: on a temporary SQLite store, with stand-in workers (`crate::testing`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ridge_core::{Execution, ExecutionStatus, Limits};
use serde_json::json;

use crate::testing::{Crashing, Fixture, Slow};
use crate::{EngineConfig, ExecutionRequest, Origin, RunTarget};

/// Runs one sync execution of a function with `timeout` seconds on a stand-in worker that
/// takes `start` to start and `call` to answer; returns it and how long it took.
async fn run(timeout: u32, start: u64, call: u64) -> (Execution, Duration, Fixture) {
    let slow = Slow {
        start: Duration::from_millis(start),
        call: Duration::from_millis(call),
        ..Slow::default()
    };
    let fx = Fixture::with_adapters(EngineConfig::default(), vec![Arc::new(slow)]).await;
    let mut function = fx.function.clone();
    function.limits = Limits {
        timeout,
        ..function.limits
    };
    fx.store.update_function(&function).await.expect("update");
    let began = Instant::now();
    let started = fx
        .engine
        .start(ExecutionRequest {
            project: function.project_id.clone(),
            target: RunTarget::Loaded {
                function,
                version: 0,
            },
            input: None,
            description: None,
            sync: true,
            origin: Origin::Api,
        })
        .await
        .expect("started");
    let done = started.finished().await.expect("finished");
    (done, began.elapsed(), fx)
}

#[tokio::test]
async fn a_caller_that_goes_away_at_any_point_leaves_no_execution_unrun() {
    // Each start is dropped after a different time, from at once to after it returned:
    // before anything is written, while the create is under way, between the create and
    // the submit. Whatever was recorded runs.
    let slow = Slow {
        start: Duration::from_millis(1),
        call: Duration::from_millis(1),
        ..Slow::default()
    };
    let fx = Fixture::with_adapters(EngineConfig::default(), vec![Arc::new(slow)]).await;
    for step in 0..100u64 {
        let start = fx.engine.start(ExecutionRequest {
            project: fx.function.project_id.clone(),
            target: RunTarget::Loaded {
                function: fx.function.clone(),
                version: 0,
            },
            input: None,
            description: Some(format!("dropped after {} us", step * 30)),
            sync: step % 2 == 0,
            origin: Origin::Api,
        });
        let _ = tokio::time::timeout(Duration::from_micros(step * 30), start).await;
    }
    let mut running = Vec::new();
    for _ in 0..500 {
        let executions = fx
            .store
            .list_executions(&all_executions())
            .await
            .expect("list");
        running = executions
            .into_iter()
            .filter(|e| e.status == ExecutionStatus::Running)
            .collect();
        if running.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        running.is_empty(),
        "recorded but never run: {:?}",
        running.iter().map(|e| &e.description).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_cold_start_and_the_call_share_the_timeout() {
    // Each would fit in 1 s; together they do not, and the execution ends at the limit
    // (not at 1.4 s, as when each had the whole timeout).
    let (done, took, _fx) = run(1, 700, 700).await;
    assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    let result = done.result.expect("a result");
    assert_eq!(result.output, json!("Function execution timeout."));
    assert!(took < Duration::from_millis(1_350), "took {took:?}");
    assert!(
        result.duration.is_some_and(|d| (1.0..1.35).contains(&d)),
        "a timed-out execution reports the time it was given: {result:?}"
    );
}

#[tokio::test]
async fn a_function_whose_workers_crash_young_loses_the_startup_allowance_for_a_while() {
    let clock = Arc::new(ridge_core::ManualClock::starting_now());
    let crashing = Arc::new(Crashing::default());
    let config = EngineConfig {
        startup_cooldown: Duration::from_secs(60),
        clock: clock.clone(),
        ..EngineConfig::default()
    };
    let fx = Fixture::with_adapters(config, vec![crashing.clone()]).await;
    let run = || async {
        let started = fx.engine.start(sync_request(&fx)).await.expect("started");
        let done = started.finished().await.expect("finished");
        assert_eq!(done.status, ExecutionStatus::Failed, "{done:?}");
    };
    for _ in 0..3 {
        run().await;
    }
    clock.advance(Duration::from_secs(60));
    run().await;
    let allowances = crashing.allowances.lock().expect("not poisoned").clone();
    assert_eq!(
        allowances,
        [true, false, false, true],
        "only the first start, and the first after the cooldown, get the allowance"
    );
}

fn all_executions() -> ridge_store::ExecutionQuery {
    ridge_store::ExecutionQuery {
        scope: ridge_store::ProjectScope::All,
        function_id: None,
        status: None,
        description: None,
        page: ridge_store::Page::default(),
    }
}

/// The first stored execution that `wanted` picks, looked for every 10 ms for half a second.
async fn stored_soon(fx: &Fixture, wanted: impl Fn(&Execution) -> bool) -> Option<Execution> {
    for _ in 0..50 {
        let all = fx
            .store
            .list_executions(&all_executions())
            .await
            .expect("list");
        if let Some(row) = all.into_iter().find(|e| wanted(e)) {
            return Some(row);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// The writes the engine's store has committed so far (`store_write_batch_size`'s sum).
fn writes(fx: &Fixture) -> f64 {
    let text = fx.engine.metrics_text();
    let line = text
        .lines()
        .find(|line| line.starts_with("ridge_store_write_batch_size_sum"))
        .unwrap_or_else(|| panic!("no write batch sum in {text}"));
    line.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number in {line}"))
}

fn sync_request(fx: &Fixture) -> ExecutionRequest {
    ExecutionRequest {
        project: fx.function.project_id.clone(),
        target: RunTarget::Loaded {
            function: fx.function.clone(),
            version: 0,
        },
        input: None,
        description: None,
        sync: true,
        origin: Origin::Api,
    }
}

/// One sync execution of the fixture's function, run to its end in a task of its own.
fn spawn_sync(fx: &Fixture) -> tokio::task::JoinHandle<Execution> {
    let engine = fx.engine.clone();
    let request = sync_request(fx);
    tokio::spawn(async move {
        let started = engine.start(request).await.expect("started");
        started.finished().await.expect("finished")
    })
}

async fn slow_fixture(call: u64, config: EngineConfig) -> Fixture {
    let slow = Slow {
        start: Duration::from_millis(1),
        call: Duration::from_millis(call),
        ..Slow::default()
    };
    Fixture::with_adapters(config, vec![Arc::new(slow)]).await
}

#[tokio::test]
async fn a_sync_execution_that_ends_soon_is_written_once_complete_cold_or_warm() {
    let fx = slow_fixture(1, EngineConfig::default()).await;
    let run = || async {
        let started = fx.engine.start(sync_request(&fx)).await.expect("started");
        started.finished().await.expect("finished")
    };
    // Cold (a worker started for it), then warm (an idle worker taken at once).
    for n in 1..=4 {
        let done = run().await;
        assert_eq!(writes(&fx), f64::from(n), "one write per execution");
        let stored = fx.store.get_execution(done.id).await.expect("stored");
        assert_eq!(done, stored, "what the caller gets is the stored row");
        assert_eq!(done.status, ExecutionStatus::Success);
        assert!(
            done.started_at.is_some() && done.updated_at.is_some(),
            "{done:?}"
        );
        assert_eq!(
            fx.store.get_execution_logs(done.id).await.expect("logs"),
            "slept 1ms\n"
        );
    }
    let function = fx.store.get_function(fx.function.id).await.expect("get");
    assert_eq!(function.count, 4, "every execution is counted");
}

/// A fixture whose function has at most one worker, each call taking `call` ms.
async fn one_worker(call: u64, max_queue_wait: Duration) -> Fixture {
    let config = EngineConfig {
        scaling: crate::policy::ScalingPolicy {
            max_workers: 1,
            ..crate::policy::ScalingPolicy::default()
        },
        max_queue_wait,
        ..EngineConfig::default()
    };
    let fx = slow_fixture(call, config).await;
    let first = fx.engine.start(sync_request(&fx)).await.expect("started");
    first.finished().await.expect("the cold one");
    fx
}

#[tokio::test]
async fn a_sync_execution_that_waits_briefly_for_a_worker_is_written_once_too() {
    let fx = one_worker(2, Duration::from_secs(10)).await;
    let before = writes(&fx);
    let (a, b) = (spawn_sync(&fx), spawn_sync(&fx));
    for done in [a.await.expect("a"), b.await.expect("b")] {
        assert_eq!(done.status, ExecutionStatus::Success, "{done:?}");
        assert_eq!(done, fx.store.get_execution(done.id).await.expect("stored"));
        let started = done.started_at.expect("started");
        assert!(started >= done.created_at, "{done:?}");
    }
    assert_eq!(
        writes(&fx) - before,
        2.0,
        "one write each, the waiting one too"
    );
}

#[tokio::test]
async fn a_sync_execution_still_waiting_at_the_record_time_is_shown_then_claimed() {
    let fx = one_worker(300, Duration::from_secs(10)).await;
    let before = writes(&fx);
    let first = spawn_sync(&fx);
    // The first holds the only worker: the second waits for it, shown `running` and not
    // started meanwhile.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = spawn_sync(&fx);
    let waiting = stored_soon(&fx, |e| {
        e.status == ExecutionStatus::Running && e.started_at.is_none()
    })
    .await
    .expect("the waiting one is recorded while it waits");
    let (first, second) = (first.await.expect("first"), second.await.expect("second"));
    assert_eq!(second.id, waiting.id);
    for done in [&first, &second] {
        assert_eq!(done.status, ExecutionStatus::Success, "{done:?}");
        assert_eq!(
            *done,
            fx.store.get_execution(done.id).await.expect("stored")
        );
    }
    assert!(
        second.started_at.is_some(),
        "claimed when it ran: {second:?}"
    );
    // The first: recorded running, finished. The second: recorded, claimed, finished.
    assert_eq!(writes(&fx) - before, 5.0);
}

#[tokio::test]
async fn a_recorded_sync_execution_that_then_waits_in_vain_ends_with_its_error() {
    // Recorded `running` at 50 ms while it waits, then out of patience at 300 ms: claimed to
    // end it, and finished with the capacity error.
    let fx = one_worker(1_000, Duration::from_millis(300)).await;
    let first = spawn_sync(&fx);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before = writes(&fx);
    let second = spawn_sync(&fx);
    let waiting = stored_soon(&fx, |e| {
        e.status == ExecutionStatus::Running && e.started_at.is_none()
    })
    .await
    .expect("recorded while it waits");
    let refused = second.await.expect("refused");
    assert_eq!(refused.id, waiting.id);
    assert_eq!(refused.status, ExecutionStatus::Error, "{refused:?}");
    assert!(
        refused
            .result
            .as_ref()
            .is_some_and(|r| r.output.to_string().contains("capacity exhausted")),
        "{refused:?}"
    );
    assert_eq!(
        refused,
        fx.store.get_execution(refused.id).await.expect("stored")
    );
    // The first was recorded at 50 ms too; the second: recorded, claimed, finished.
    assert_eq!(writes(&fx) - before, 4.0, "{refused:?}");
    let first = first.await.expect("first");
    assert_eq!(first.status, ExecutionStatus::Success, "{first:?}");
}

#[tokio::test]
async fn a_sync_execution_that_waits_in_vain_is_written_once_with_its_error() {
    let fx = one_worker(300, Duration::from_millis(20)).await;
    let first = spawn_sync(&fx);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before = writes(&fx);
    let refused = spawn_sync(&fx).await.expect("refused");
    assert_eq!(writes(&fx) - before, 1.0, "{refused:?}");
    assert_eq!(refused.status, ExecutionStatus::Error, "{refused:?}");
    assert_eq!(refused.started_at, None, "it never had a worker");
    assert_eq!(
        refused,
        fx.store.get_execution(refused.id).await.expect("stored")
    );
    let first = first.await.expect("first");
    assert_eq!(first.status, ExecutionStatus::Success, "{first:?}");
}

#[tokio::test]
async fn an_async_execution_on_an_idle_warm_worker_is_recorded_started_then_finished() {
    let fx = slow_fixture(1, EngineConfig::default()).await;
    let run = || async {
        let request = ExecutionRequest {
            sync: false,
            ..sync_request(&fx)
        };
        let started = fx.engine.start(request).await.expect("started");
        // On disk before the caller hears of it.
        let recorded = fx.store.get_execution(started.execution.id).await;
        assert_eq!(recorded.expect("recorded").id, started.execution.id);
        started.finished().await.expect("finished")
    };
    // Cold: recorded, claimed, finished.
    let cold = run().await;
    assert_eq!(cold.status, ExecutionStatus::Success, "{cold:?}");
    assert_eq!(writes(&fx), 3.0);
    // Warm: recorded as started by this node, finished; no claim.
    let warm = run().await;
    assert_eq!(writes(&fx), 5.0, "two writes for a warm async execution");
    assert_eq!(warm.status, ExecutionStatus::Success, "{warm:?}");
    assert!(warm.started_at.is_some());
    assert_eq!(warm.node.as_deref(), Some("local"));
    assert_eq!(warm, fx.store.get_execution(warm.id).await.expect("stored"));
}

#[tokio::test]
async fn a_long_warm_sync_execution_is_shown_running_while_it_runs() {
    let fx = slow_fixture(600, EngineConfig::default()).await;
    let first = fx.engine.start(sync_request(&fx)).await.expect("started");
    first.finished().await.expect("the cold one");
    let run = spawn_sync(&fx);
    let seen = stored_soon(&fx, |e| e.status == ExecutionStatus::Running).await;
    let seen = seen.expect("recorded while it runs");
    assert!(seen.started_at.is_some(), "{seen:?}");
    let done = run.await.expect("the run");
    assert_eq!(done.id, seen.id);
    assert_eq!(done.status, ExecutionStatus::Success, "{done:?}");
    assert_eq!(done, fx.store.get_execution(done.id).await.expect("stored"));
    assert_eq!(
        fx.store.get_execution_logs(done.id).await.expect("logs"),
        "slept 600ms\n"
    );
}

#[tokio::test]
async fn under_a_concurrency_quota_a_sync_execution_is_recorded_before_it_runs() {
    let config = EngineConfig {
        quotas: ridge_core::tenancy::Quotas {
            concurrent_executions: ridge_core::tenancy::Limit::At(1),
            ..ridge_core::tenancy::Quotas::default()
        },
        ..EngineConfig::default()
    };
    let fx = slow_fixture(300, config).await;
    let first = fx.engine.start(sync_request(&fx)).await.expect("started");
    first.finished().await.expect("the cold one");
    let started = fx.engine.start(sync_request(&fx)).await.expect("started");
    let row = fx
        .store
        .get_execution(started.execution.id)
        .await
        .expect("recorded when start returns");
    assert_eq!(row.status, ExecutionStatus::Running);
    // It counts: the next is refused at once, on this node and on any other.
    let refused = fx.engine.start(sync_request(&fx)).await;
    assert!(
        matches!(refused, Err(crate::EngineError::ConcurrencyQuota { .. })),
        "{:?}",
        refused.map(|s| s.execution)
    );
    let done = started.finished().await.expect("finished");
    assert_eq!(done.status, ExecutionStatus::Success);
}

#[tokio::test]
async fn a_function_deleted_while_its_warm_sync_execution_runs_leaves_no_row() {
    // Deleted at `after_ms` into a call of `call_ms`: before the execution is recorded,
    // or after it was recorded `running` (its row goes with the function). Either way the
    // caller gets its outcome, and no row is left.
    for (call_ms, after_ms) in [(30, 10), (200, 100)] {
        let fx = slow_fixture(call_ms, EngineConfig::default()).await;
        let first = fx.engine.start(sync_request(&fx)).await.expect("started");
        first.finished().await.expect("the cold one");
        let run = spawn_sync(&fx);
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        fx.store
            .delete_function(fx.function.id)
            .await
            .expect("delete");
        let done = run.await.expect("the run");
        assert_eq!(done.status, ExecutionStatus::Success, "{done:?}");
        assert!(
            matches!(
                fx.store.get_execution(done.id).await,
                Err(ridge_store::StoreError::ExecutionNotFound { .. })
            ),
            "deleted after {after_ms} ms"
        );
        let left = fx
            .store
            .list_executions(&all_executions())
            .await
            .expect("list");
        assert!(left.is_empty(), "{left:?}");
    }
}

#[tokio::test]
async fn within_the_timeout_the_finished_row_comes_from_the_store() {
    let (done, _, fx) = run(1, 100, 100).await;
    assert_eq!(done.status, ExecutionStatus::Success, "{done:?}");
    assert_eq!(
        done.result.as_ref().map(|r| &r.output),
        Some(&json!("done"))
    );
    let stored = fx.store.get_execution(done.id).await.expect("stored");
    assert_eq!(done, stored, "what the caller gets is the stored row");
    assert!(done.updated_at.is_some());
}

/// A burst of async executions from many callers at once, as `ridge-bench async` sends: the
/// store's writer commits their creates, claims and finishes several to a transaction, most
/// wait in the queue for one of the pool's workers, and each runs exactly once and is stored
/// `success`, counted once on its function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_async_executions_runs_each_exactly_once() {
    const BURST: usize = 300;
    let workers = Arc::new(Slow::default());
    let fx = Fixture::with_adapters(EngineConfig::default(), vec![workers.clone()]).await;
    let submits: Vec<_> = (0..BURST)
        .map(|_| {
            let engine = fx.engine.clone();
            let request = ExecutionRequest {
                sync: false,
                ..sync_request(&fx)
            };
            tokio::spawn(async move { engine.start(request).await.map(|s| s.execution.id) })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for submit in submits {
        ids.insert(submit.await.expect("task").expect("admitted"));
    }
    assert_eq!(ids.len(), BURST);

    let mut stored = Vec::new();
    for _ in 0..500 {
        stored = fx
            .store
            .list_executions(&all_executions())
            .await
            .expect("list");
        if stored.iter().all(|e| e.status != ExecutionStatus::Running) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let succeeded: std::collections::BTreeSet<_> = stored
        .iter()
        .filter(|e| e.status == ExecutionStatus::Success && e.started_at.is_some())
        .map(|e| e.id)
        .collect();
    assert_eq!(succeeded, ids, "every execution stored `success`, started");

    let mut ran = workers.ran.lock().expect("not poisoned").clone();
    ran.sort();
    let once: Vec<_> = ids.iter().copied().collect();
    assert_eq!(ran, once, "each execution ran exactly once");
    let function = fx.store.get_function(fx.function.id).await.expect("get");
    assert_eq!(function.count, BURST as i64, "each counted once");
    assert_eq!(fx.engine.queue_length(), 0, "nothing left waiting");
}
