//! One execution, from a pool lease to a recorded outcome.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ridge_core::{Execution, Function};
use ridge_runtime::{Invocation, RuntimeAdapter, StartError, Worker, WorkerSpec};
use ridge_store::ExecutionOutcome;

use crate::engine::Engine;
use crate::metrics::{FunctionLabels, StatusLabels};
use crate::outcome;
use crate::pool::{Lease, Pool};

/// Runs the execution and records how it ended. Returns the execution as stored afterwards.
pub(crate) async fn run(
    engine: &Engine,
    mut execution: Execution,
    function: Function,
) -> Execution {
    let outcome = match execute(engine, &execution, &function).await {
        Some(outcome) => outcome,
        // Claimed elsewhere, or deleted while it waited: nothing of ours to record.
        None => return reload(engine, execution).await,
    };
    engine
        .metrics
        .executions
        .get_or_create(&StatusLabels {
            function: function.id.to_string(),
            status: outcome.status.to_string(),
        })
        .inc();
    if let Some(took) = outcome.result.duration {
        engine
            .metrics
            .duration
            .get_or_create(&FunctionLabels {
                function: function.id.to_string(),
            })
            .observe(took);
    }
    match engine.store.finish_execution(execution.id, &outcome).await {
        Ok(true) => {
            execution.status = outcome.status;
            execution.result = Some(outcome.result);
            execution.updated_at = Some(ridge_core::time::now());
            execution
        }
        Ok(false) => reload(engine, execution).await,
        Err(e) => {
            tracing::error!(execution = %execution.id, error = %e, "cannot record execution outcome");
            execution.status = outcome.status;
            execution.result = Some(outcome.result);
            execution
        }
    }
}

async fn reload(engine: &Engine, execution: Execution) -> Execution {
    engine
        .store
        .get_execution(execution.id)
        .await
        .unwrap_or(execution)
}

/// Leaves the queue count when dropped, however the wait ends.
struct Queued<'a>(&'a Engine);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Waits for a lease: from the pool, freeing host memory held by idle workers of other pools
/// when the budget is spent, or waiting for memory to be given back.
async fn lease(engine: &Engine, pool: &Arc<Pool>) -> Lease {
    loop {
        let freed = engine.capacity.freed.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        match pool.acquire().await {
            Ok(lease) => return lease,
            Err(_no_capacity) => {
                if !engine.evict_one_idle().await {
                    freed.await;
                }
            }
        }
    }
}

/// `None` when the execution was not ours to run (the compare-and-swap claim lost).
async fn execute(
    engine: &Engine,
    execution: &Execution,
    function: &Function,
) -> Option<ExecutionOutcome> {
    let queued = Queued(engine);
    let runtime = match engine.store.get_runtime(function.runtime_id).await {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(execution = %execution.id, error = %e, "cannot load the function's runtime");
            return claim(engine, execution).await.then(outcome::platform_error);
        }
    };
    let Some(adapter) = runtime.kind().and_then(|k| engine.adapter(&k)) else {
        tracing::error!(execution = %execution.id, image = %runtime.image, "no runtime adapter for this image");
        return claim(engine, execution).await.then(outcome::platform_error);
    };
    let pool = engine
        .pool_for(function, execution.function_version, runtime.id)
        .await;
    let waited = Instant::now();
    let mut lease = if execution.sync {
        // A sync caller is waiting on the line: bound its wait. Async executions wait in the
        // queue as long as it takes (they are rows in the store).
        match tokio::time::timeout(engine.config.max_queue_wait, lease(engine, &pool)).await {
            Ok(lease) => lease,
            Err(_) => {
                return claim(engine, execution)
                    .await
                    .then(|| outcome::capacity_exhausted(engine.config.max_queue_wait));
            }
        }
    } else {
        lease(engine, &pool).await
    };
    // A cold start waits for its turn in the queue, not on the function's clock.
    let starting = if lease.is_warm() {
        None
    } else {
        engine.cold_starts.acquire().await.ok()
    };
    drop(queued);
    engine
        .metrics
        .queue_wait
        .observe(waited.elapsed().as_secs_f64());
    if !claim(engine, execution).await {
        lease.give_back().await;
        return None;
    }
    let timeout = Duration::from_secs(u64::from(function.limits.timeout));
    let started = Instant::now();

    if !lease.is_warm() {
        match tokio::time::timeout(
            timeout,
            start_worker(engine, &adapter, function, execution.function_version),
        )
        .await
        {
            Ok(Ok(worker)) => {
                let labels = FunctionLabels {
                    function: function.id.to_string(),
                };
                engine.metrics.cold_starts.get_or_create(&labels).inc();
                engine
                    .metrics
                    .cold_start_seconds
                    .observe(started.elapsed().as_secs_f64());
                lease.set_worker(worker);
            }
            Ok(Err(StartError::Load { message, logs })) => {
                lease.discard().await;
                return Some(outcome::load_failed(
                    execution.id,
                    message,
                    logs,
                    started.elapsed(),
                ));
            }
            Ok(Err(e @ StartError::Spawn { .. })) => {
                tracing::error!(execution = %execution.id, error = %e, "cannot start a worker");
                lease.discard().await;
                return Some(outcome::platform_error());
            }
            Err(_) => {
                lease.discard().await;
                return Some(outcome::timed_out(
                    execution.id,
                    function.limits.timeout,
                    started.elapsed(),
                ));
            }
        }
    }

    drop(starting);

    let invocation = Invocation {
        execution_id: execution.id,
        input: execution.input.clone(),
    };
    let invoked = Instant::now();
    let worker = lease
        .worker()
        .expect("the lease holds a worker: warm, or just started");
    let result = tokio::time::timeout(timeout, worker.invoke(&invocation)).await;
    let took = invoked.elapsed();
    Some(match result {
        Ok(Ok(done)) => {
            lease.give_back().await;
            outcome::completed(done, took)
        }
        Ok(Err(e)) => {
            tracing::warn!(execution = %execution.id, error = %e, "worker failed during the execution");
            lease.discard().await;
            outcome::worker_failed(e, took)
        }
        Err(_) => {
            // A function that exhausted its memory or processes (a fork bomb under a small
            // memory limit churns until the timeout) failed for that reason, not for time.
            let exhausted = worker.hit_resource_limit();
            lease.discard().await;
            if exhausted {
                outcome::resources_exhausted(execution.id, took)
            } else {
                outcome::timed_out(execution.id, function.limits.timeout, took)
            }
        }
    })
}

/// Claims the execution for this engine; false if it was claimed or deleted meanwhile.
async fn claim(engine: &Engine, execution: &Execution) -> bool {
    match engine
        .store
        .mark_execution_started(execution.id, ridge_core::time::now())
        .await
    {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::error!(execution = %execution.id, error = %e, "cannot claim execution");
            false
        }
    }
}

/// Unpacks the function's package (once) and starts a worker that has loaded it.
pub(crate) async fn start_worker(
    engine: &Engine,
    adapter: &Arc<dyn RuntimeAdapter>,
    function: &Function,
    version: i64,
) -> Result<Box<dyn Worker>, StartError> {
    let package_dir = engine
        .packages
        .unpacked(&function.project_id, function.id, function.code.md5sum())
        .await
        .map_err(|e| StartError::Spawn {
            detail: format!("cannot unpack the function's package: {e}"),
            source: None,
        })?;
    let spec = WorkerSpec {
        function_id: function.id,
        function_version: version,
        package_dir,
        entry: function.entry.clone(),
        limits: function.limits,
        network: function.network,
        log_cap: engine.config.log_cap,
    };
    adapter.start(&spec).await
}
