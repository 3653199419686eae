//! One execution, from a pool lease to a recorded outcome.

use std::time::{Duration, Instant};

use ridge_core::{Execution, Function};
use ridge_runtime::{Invocation, StartError, WorkerSpec};
use ridge_store::ExecutionOutcome;

use crate::engine::Engine;
use crate::outcome;

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

/// `None` when the execution was not ours to run (the compare-and-swap claim lost).
async fn execute(
    engine: &Engine,
    execution: &Execution,
    function: &Function,
) -> Option<ExecutionOutcome> {
    let runtime = match engine.store.get_runtime(function.runtime_id).await {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(execution = %execution.id, error = %e, "cannot load the function's runtime");
            return claim(engine, execution).await.then(outcome::platform_error);
        }
    };
    let Some(adapter) = runtime.kind().and_then(|k| engine.adapter(k)) else {
        tracing::error!(execution = %execution.id, image = %runtime.image, "no runtime adapter for this image");
        return claim(engine, execution).await.then(outcome::platform_error);
    };
    let pool = engine
        .pool_for(function, execution.function_version, runtime.id)
        .await;
    let mut lease = pool.acquire().await;
    if !claim(engine, execution).await {
        lease.give_back().await;
        return None;
    }
    let timeout = Duration::from_secs(u64::from(function.limits.timeout));
    let started = Instant::now();

    if !lease.is_warm() {
        let spec = match worker_spec(engine, execution, function).await {
            Ok(spec) => spec,
            Err(e) => {
                tracing::error!(execution = %execution.id, error = %e, "cannot unpack the function's package");
                lease.discard().await;
                return Some(outcome::platform_error());
            }
        };
        match tokio::time::timeout(timeout, adapter.start(&spec)).await {
            Ok(Ok(worker)) => lease.set_worker(worker),
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
            lease.discard().await;
            outcome::timed_out(execution.id, function.limits.timeout, took)
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

async fn worker_spec(
    engine: &Engine,
    execution: &Execution,
    function: &Function,
) -> Result<WorkerSpec, ridge_package::PackageError> {
    let package_dir = engine
        .packages
        .unpacked(&function.project_id, function.id, function.code.md5sum())
        .await?;
    Ok(WorkerSpec {
        function_id: function.id,
        function_version: execution.function_version,
        package_dir,
        entry: function.entry.clone(),
        limits: function.limits,
        log_cap: engine.config.log_cap,
    })
}
