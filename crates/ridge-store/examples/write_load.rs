//! The store's share of an execution, without HTTP or workers: `C` tasks each run the engine's
//! store calls for one execution (create, mark started, finish, read back) in a loop, for a
//! fixed time per concurrency level. Prints executions per second and the mean time of each
//! call, so that a slow store shows up apart from the rest of the server.
//!
//! ```sh
//! cargo run --release -p ridge-store --example write_load            # 3 s per level
//! cargo run --release -p ridge-store --example write_load -- 10      # 10 s per level
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ridge_core::{ExecutionResult, ExecutionStatus, Function};
use ridge_store::{Durability, ExecutionOutcome, SqliteStore, Store};

/// The conformance suite's stored runtime and function.
#[path = "../tests/it/conformance/fixtures.rs"]
mod fixtures;

/// Nanoseconds spent in each call, summed over every task.
#[derive(Default)]
struct Totals {
    executions: AtomicU64,
    create: AtomicU64,
    start: AtomicU64,
    finish: AtomicU64,
    read: AtomicU64,
}

/// Transactions of the store's writer and the writes they carried.
#[derive(Default)]
struct Batches {
    transactions: AtomicU64,
    writes: AtomicU64,
}

fn timed(total: &AtomicU64, since: Instant) {
    let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
    total.fetch_add(nanos, Ordering::Relaxed);
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 3,
    };
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("ridge.db")).await?);
    let function = Arc::new(fixtures::seed_function(&*store, "bench", 0).await);
    let batches = Arc::new(Batches::default());
    let seen = batches.clone();
    store.observe_write_batches(Arc::new(move |writes| {
        seen.transactions.fetch_add(1, Ordering::Relaxed);
        seen.writes.fetch_add(writes as u64, Ordering::Relaxed);
    }));

    println!("concurrency  executions/s  create µs  start µs  finish µs  read µs  writes/commit");
    let mut expected = 0;
    for concurrency in [1_u64, 8, 64] {
        let totals = Arc::new(Totals::default());
        let before = (
            batches.transactions.load(Ordering::Relaxed),
            batches.writes.load(Ordering::Relaxed),
        );
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let began = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (store, function, totals) = (store.clone(), function.clone(), totals.clone());
                tokio::spawn(async move { run(&*store, &function, &totals, deadline).await })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let took = began.elapsed().as_secs_f64();
        let n = totals.executions.load(Ordering::Relaxed);
        expected += n;
        let mean = |t: &AtomicU64| t.load(Ordering::Relaxed) as f64 / n.max(1) as f64 / 1e3;
        let transactions = batches.transactions.load(Ordering::Relaxed) - before.0;
        let writes = batches.writes.load(Ordering::Relaxed) - before.1;
        println!(
            "{concurrency:>11}  {:>12.0}  {:>9.0}  {:>8.0}  {:>9.0}  {:>7.0}  {:>13.1}",
            n as f64 / took,
            mean(&totals.create),
            mean(&totals.start),
            mean(&totals.finish),
            mean(&totals.read),
            writes as f64 / transactions.max(1) as f64,
        );
    }
    let count = store.get_function(function.id).await?.count;
    println!("function count {count}, executions run {expected}");
    if i64::try_from(expected)? != count {
        return Err(format!("count {count} != {expected} executions").into());
    }
    store.close().await;
    Ok(())
}

async fn run(
    store: &dyn Store,
    function: &Function,
    totals: &Totals,
    deadline: Instant,
) -> Result<(), ridge_store::StoreError> {
    while Instant::now() < deadline {
        let execution = ridge_core::fixtures::execution(function, 0);
        let t = Instant::now();
        store.create_execution(&execution).await?;
        timed(&totals.create, t);
        let t = Instant::now();
        assert!(
            store
                .mark_execution_started(
                    execution.id,
                    "local",
                    ridge_core::time::now(),
                    Durability::Flushed
                )
                .await?
        );
        timed(&totals.start, t);
        let outcome = ExecutionOutcome {
            status: ExecutionStatus::Success,
            result: ExecutionResult::new(0.001, serde_json::json!("ok")),
            logs: String::new(),
        };
        let t = Instant::now();
        assert!(
            store
                .finish_execution(execution.id, &outcome)
                .await?
                .is_some()
        );
        timed(&totals.finish, t);
        let t = Instant::now();
        store.get_execution(execution.id).await?;
        timed(&totals.read, t);
        totals.executions.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
