//! The [`Dispatcher`]: one recorded execution, from the queue to a stored outcome.
//!
//! Its steps: wait for a worker [slot](Dispatcher::slot) from the pool and
//! [claim](Dispatcher::claim_and_run) the execution in the store (compare-and-swap), [cold start](Dispatcher::cold_start) a worker when the slot
//! has none, [invoke](Dispatcher::invoke) it, and [finish](Dispatcher::finish) by writing the
//! outcome, which gives back the stored row.
//!
//! Time limits: the wait in the queue does not count against the function. From the claim on,
//! the function's `timeout` is the longest the execution may take: the cold start (if any) and
//! the call share one deadline, so no execution runs past its limit. At the deadline the
//! outcome is recorded at once; the worker is killed in the background (its slot stays taken
//! until it is gone), so a tree of processes that takes a while to die does not delay it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ridge_core::{Clock, Execution, Function, Runtime};
use ridge_package::PackageStore;
use ridge_runtime::{Invocation, StartError, Worker, WorkerSpec};
use ridge_store::{Durability, ExecutionOutcome, Store, StoreError};
use tokio::sync::SemaphorePermit;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::adapters::{Adapter, Adapters};
use crate::coldstarts::{ColdStarts, StartFor, Turn, cold_start_permits};
use crate::metrics::{FunctionLabels, Metrics, StatusLabels};
use crate::outcome;
use crate::pool::Lease;
use crate::pools::Pools;
use crate::startup::StartupAllowance;

/// How long a sync execution given a warm worker before it was recorded
/// ([`Dispatcher::run_warm`]) runs before it is recorded `running`: one that ends sooner is
/// recorded once, complete; a longer one shows in listings, counts against quotas and is ended
/// by a lost node's takeover like any other.
const RECORD_RUNNING_AFTER: Duration = Duration::from_millis(50);

/// What dispatch needs from the engine's configuration.
#[derive(Debug, Clone)]
pub(crate) struct DispatchConfig {
    /// This node's name (see [`crate::NodeConfig`]).
    pub node: String,
    /// Cap on the stdout+stderr kept per execution, in bytes.
    pub log_cap: usize,
    /// Cap on an execution's output, in bytes of JSON.
    pub result_cap: usize,
    /// Longest a sync execution waits for a worker before it ends `error`.
    pub max_queue_wait: Duration,
    /// How long a function whose worker failed young goes without the start-up CPU allowance
    /// (see [`StartupAllowance`]).
    pub startup_cooldown: Duration,
}

/// Runs recorded executions: holds what that takes (the store, packages, adapters, pools and
/// metrics) and how many executions this node holds, and never the engine itself.
pub(crate) struct Dispatcher {
    store: Arc<dyn Store>,
    packages: Arc<dyn PackageStore>,
    adapters: Arc<Adapters>,
    pools: Arc<Pools>,
    metrics: Arc<Metrics>,
    config: DispatchConfig,
    /// Cold starts allowed to run at once on this host, first workers ahead
    /// ([`crate::coldstarts`]).
    cold_starts: ColdStarts,
    startup: StartupAllowance,
    load: Load,
}

/// How many executions this node holds: submitted and waiting for a worker, and submitted and
/// not yet finished. Counted by [`Counted`] guards only.
#[derive(Debug, Default)]
struct Load {
    waiting: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
}

/// One execution in one of [`Load`]'s counts, from [`Dispatcher::submit`] until the guard is
/// dropped, however the execution gets there: `waiting` until it holds a worker (or ends),
/// `in_flight` until it is finished (for draining).
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The function's `timeout` for one execution, counted from its claim: the cold start (if any)
/// and the call share it.
#[derive(Debug, Clone, Copy)]
struct Deadline {
    claimed: Instant,
    at: Instant,
}

impl Deadline {
    fn from_now(timeout_secs: u32) -> Self {
        let claimed = Instant::now();
        Self {
            claimed,
            at: claimed + Duration::from_secs(u64::from(timeout_secs)),
        }
    }

    /// Time used since the claim: what an execution that ran out of time reports as its
    /// duration (about its whole timeout).
    fn spent(&self) -> Duration {
        self.claimed.elapsed()
    }
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        packages: Arc<dyn PackageStore>,
        adapters: Arc<Adapters>,
        pools: Arc<Pools>,
        metrics: Arc<Metrics>,
        config: DispatchConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            startup: StartupAllowance::new(config.startup_cooldown, clock),
            store,
            packages,
            adapters,
            pools,
            metrics,
            config,
            cold_starts: ColdStarts::new(cold_start_permits()),
            load: Load::default(),
        }
    }

    /// Executions waiting for a worker on this node.
    pub fn waiting(&self) -> usize {
        self.load.waiting.load(Ordering::SeqCst)
    }

    /// Executions submitted and not yet finished on this node.
    pub fn in_flight(&self) -> usize {
        self.load.in_flight.load(Ordering::SeqCst)
    }

    /// Runs a recorded `running` execution in its own task, so that a sync caller that goes
    /// away does not abandon it; the task ends with the execution as stored afterwards.
    pub fn submit(
        self: &Arc<Self>,
        execution: Execution,
        function: Function,
        runtime: Runtime,
    ) -> JoinHandle<Execution> {
        let waiting = Counted::new(&self.load.waiting);
        let in_flight = Counted::new(&self.load.in_flight);
        let dispatcher = self.clone();
        tokio::spawn(async move {
            let outcome = dispatcher
                .execute(waiting, &execution, &function, &runtime)
                .await;
            let done = dispatcher
                .conclude_recorded(execution, &function, outcome)
                .await;
            drop(in_flight);
            done
        })
    }

    /// Runs a recorded execution that already holds a warm worker and was recorded as started
    /// by this node (an async one that found an idle worker), in its own task: no claim to
    /// write, no wait in the queue. The task ends with the execution as stored afterwards.
    pub fn submit_claimed(
        self: &Arc<Self>,
        execution: Execution,
        function: Function,
        lease: Lease,
    ) -> JoinHandle<Execution> {
        let in_flight = self.at_once();
        let dispatcher = self.clone();
        tokio::spawn(async move {
            let deadline = Deadline::from_now(function.limits.timeout);
            let outcome = dispatcher
                .invoke(lease, &execution, &function, deadline)
                .await;
            let done = dispatcher.finish(execution, &function, outcome).await;
            drop(in_flight);
            done
        })
    }

    /// An execution that took an idle worker when it arrived: in flight until the guard is
    /// dropped, and counted in the queue-wait histogram as waiting 0.
    fn at_once(&self) -> Counted {
        self.metrics.queue_wait.observe(0.0);
        Counted::new(&self.load.in_flight)
    }

    /// `None` when the execution was not ours to run (the compare-and-swap claim lost).
    async fn execute(
        self: &Arc<Self>,
        waiting: Counted,
        execution: &Execution,
        function: &Function,
        runtime: &Runtime,
    ) -> Option<ExecutionOutcome> {
        let Some(adapter) = self.adapters.for_runtime(runtime) else {
            tracing::error!(execution = %execution.id, image = %runtime.image, "no runtime adapter for this image");
            return self.claim(execution).await.then(outcome::platform_error);
        };
        let slot = self.slot(waiting, execution, function, runtime).await;
        self.claim_and_run(slot, &adapter, execution, function)
            .await
    }

    /// Claims a recorded execution and runs it on `slot`; without a slot (it waited for one in
    /// vain), claims it to end it with the capacity error. `None` when the claim lost: the
    /// execution was not ours to run.
    ///
    /// An async execution is claimed before it runs: any node may have taken it. A sync one
    /// runs on the node that received it and recorded it; its claim fails only when the row
    /// moved meanwhile (deleted, or ended by another node that found this one lost), and then
    /// the call runs once and its outcome is dropped. It is claimed while it runs, so that the
    /// worker is not held for the write: on PostgreSQL, where a write waits for the batch under
    /// way to flush, that wait had bounded how many calls a second each warm worker could serve.
    async fn claim_and_run(
        self: &Arc<Self>,
        slot: Option<(Lease, Option<SemaphorePermit<'_>>)>,
        adapter: &Adapter,
        execution: &Execution,
        function: &Function,
    ) -> Option<ExecutionOutcome> {
        let Some((lease, starting)) = slot else {
            let waited = self.config.max_queue_wait;
            let claimed = self.claim(execution).await;
            return claimed.then(|| outcome::capacity_exhausted(waited));
        };
        if execution.sync {
            let run = self.run_leased(lease, starting, adapter, execution, function);
            let (claimed, outcome) = tokio::join!(self.claim(execution), run);
            return claimed.then_some(outcome);
        }
        if !self.claim(execution).await {
            // No call ran: nothing the pool could want to grow for.
            let _ = lease.give_back().await;
            return None;
        }
        Some(
            self.run_leased(lease, starting, adapter, execution, function)
                .await,
        )
    }

    /// Waits for a slot in the function version's pool (a sync execution for at most
    /// `max_queue_wait`: `None` when it waited that long in vain), and for a cold-start
    /// permit when the slot has no worker.
    async fn slot(
        &self,
        waiting: Counted,
        execution: &Execution,
        function: &Function,
        runtime: &Runtime,
    ) -> Option<(Lease, Option<SemaphorePermit<'_>>)> {
        let pool = self
            .pools
            .pool_for(function, execution.function_version, runtime.id)
            .await;
        let waited = Instant::now();
        let lease = if execution.sync {
            // A sync caller is waiting on the line: bound its wait. Async executions wait in
            // the queue as long as it takes (they are rows in the store).
            let wait = self.config.max_queue_wait;
            tokio::time::timeout(wait, self.pools.lease(&pool))
                .await
                .ok()?
        } else {
            self.pools.lease(&pool).await
        };
        // A cold start waits for its turn in the queue, not on the function's clock.
        let (lease, starting) = if lease.is_warm() {
            (lease, None)
        } else {
            match self.cold_starts.turn(&pool, StartFor::lease(&lease)).await {
                Turn::Start(permit) => (lease, Some(permit)),
                // The start is not made: dropping its lease frees the slot.
                Turn::Reuse(idle) => (idle, None),
            }
        };
        drop(waiting);
        self.metrics
            .queue_wait
            .observe(waited.elapsed().as_secs_f64());
        Some((lease, starting))
    }

    /// Runs the execution on its slot: starts a worker into it first when it has none. The
    /// function's timeout counts from here.
    async fn run_leased(
        self: &Arc<Self>,
        lease: Lease,
        starting: Option<SemaphorePermit<'_>>,
        adapter: &Adapter,
        execution: &Execution,
        function: &Function,
    ) -> ExecutionOutcome {
        let deadline = Deadline::from_now(function.limits.timeout);
        let lease = if lease.is_warm() {
            lease
        } else {
            let started = self
                .cold_start(lease, adapter, execution, function, deadline)
                .await;
            drop(starting);
            match started {
                Ok(lease) => lease,
                Err(outcome) => return outcome,
            }
        };
        self.invoke(lease, execution, function, deadline).await
    }

    /// Starts a worker into the lease within the deadline; the outcome when it could not.
    async fn cold_start(
        &self,
        mut lease: Lease,
        adapter: &Adapter,
        execution: &Execution,
        function: &Function,
        deadline: Deadline,
    ) -> Result<Lease, ExecutionOutcome> {
        let started = Instant::now();
        let start = self.start_worker(adapter, function, execution.function_version);
        match tokio::time::timeout_at(deadline.at, start).await {
            Ok(Ok(worker)) => {
                let labels = FunctionLabels {
                    function: function.id.to_string(),
                };
                self.metrics.cold_starts.get_or_create(&labels).inc();
                self.metrics
                    .cold_start_seconds
                    .observe(started.elapsed().as_secs_f64());
                lease.set_worker(worker);
                Ok(lease)
            }
            Ok(Err(StartError::Load { message, logs })) => {
                self.startup.failed(function.id, lease.started());
                lease.discard().await;
                let took = started.elapsed();
                Err(outcome::load_failed(execution.id, message, logs, took))
            }
            Ok(Err(e @ StartError::Spawn { .. })) => {
                tracing::error!(execution = %execution.id, error = %e, "cannot start a worker");
                lease.discard().await;
                Err(outcome::platform_error())
            }
            Err(_) => {
                self.startup.failed(function.id, lease.started());
                discard_in_background(lease);
                let limit = function.limits.timeout;
                Err(outcome::timed_out(execution.id, limit, deadline.spent()))
            }
        }
    }

    /// Calls the lease's worker until the deadline; a worker that fails or runs out of time is
    /// discarded, a healthy one given back.
    async fn invoke(
        self: &Arc<Self>,
        mut lease: Lease,
        execution: &Execution,
        function: &Function,
        deadline: Deadline,
    ) -> ExecutionOutcome {
        let invocation = Invocation {
            execution_id: execution.id,
            input: execution.input.clone(),
        };
        let invoked = Instant::now();
        let worker = lease
            .worker()
            .expect("the lease holds a worker: warm, or just started");
        let result = tokio::time::timeout_at(deadline.at, worker.invoke(&invocation)).await;
        let took = invoked.elapsed();
        match result {
            Ok(Ok(done)) => {
                if let Some(pool) = lease.give_back().await {
                    self.grow(pool, function, execution.function_version);
                }
                outcome::completed(done, took)
            }
            Ok(Err(e)) => {
                tracing::warn!(execution = %execution.id, error = %e, "worker failed during the execution");
                self.startup.failed(function.id, lease.started());
                lease.discard().await;
                outcome::worker_failed(e, took)
            }
            Err(_) => {
                // A function that exhausted its memory or processes (a fork bomb under a small
                // memory limit churns until the timeout) failed for that reason, not for time.
                let exhausted = worker.hit_resource_limit();
                self.startup.failed(function.id, lease.started());
                discard_in_background(lease);
                let spent = deadline.spent();
                if exhausted {
                    outcome::resources_exhausted(execution.id, spent)
                } else {
                    outcome::timed_out(execution.id, function.limits.timeout, spent)
                }
            }
        }
    }

    /// Records an execution that finished before it was recorded, in one write, and returns it
    /// as written.
    async fn record(
        &self,
        execution: Execution,
        function: &Function,
        outcome: ExecutionOutcome,
    ) -> Execution {
        self.count(function, &outcome);
        let (finished, logs) = concluded(execution, outcome);
        match self.store.record_execution(&finished, &logs).await {
            Ok(()) => {}
            Err(e @ (StoreError::FunctionNotFound { .. } | StoreError::VersionNotFound { .. })) => {
                tracing::debug!(execution = %finished.id, error = %e, "deleted while it ran: not recorded");
            }
            Err(e) => {
                tracing::error!(execution = %finished.id, error = %e, "cannot record execution outcome");
            }
        }
        finished
    }

    /// Records the outcome and returns the execution as the store has it now.
    async fn finish(
        &self,
        execution: Execution,
        function: &Function,
        outcome: ExecutionOutcome,
    ) -> Execution {
        self.count(function, &outcome);
        match self.store.finish_execution(execution.id, &outcome).await {
            Ok(Some(finished)) => finished,
            // Finished elsewhere meanwhile, or deleted: then the caller still learns what ran.
            Ok(None) => match self.store.get_execution(execution.id).await {
                Ok(stored) => stored,
                Err(_) => concluded(execution, outcome).0,
            },
            Err(e) => {
                tracing::error!(execution = %execution.id, error = %e, "cannot record execution outcome");
                concluded(execution, outcome).0
            }
        }
    }

    /// Counts the outcome in the metrics.
    fn count(&self, function: &Function, outcome: &ExecutionOutcome) {
        self.metrics
            .executions
            .get_or_create(&StatusLabels {
                function: function.id.to_string(),
                status: outcome.status.to_string(),
            })
            .inc();
        if let Some(took) = outcome.result.duration {
            self.metrics
                .duration
                .get_or_create(&FunctionLabels {
                    function: function.id.to_string(),
                })
                .observe(took);
        }
    }

    /// Writes a recorded execution's outcome and returns the row as stored; without an
    /// outcome (claimed elsewhere, or deleted while it waited: nothing of ours to record),
    /// the row as it is.
    async fn conclude_recorded(
        &self,
        execution: Execution,
        function: &Function,
        outcome: Option<ExecutionOutcome>,
    ) -> Execution {
        match outcome {
            Some(outcome) => self.finish(execution, function, outcome).await,
            None => self.reload(execution).await,
        }
    }

    async fn reload(&self, execution: Execution) -> Execution {
        self.store
            .get_execution(execution.id)
            .await
            .unwrap_or(execution)
    }

    /// Claims the execution for this node; false if it was claimed or deleted meanwhile.
    async fn claim(&self, execution: &Execution) -> bool {
        match self
            .store
            .mark_execution_started(
                execution.id,
                &self.config.node,
                ridge_core::time::now(),
                Durability::before_finish(execution),
            )
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(execution = %execution.id, error = %e, "cannot claim execution");
                false
            }
        }
    }

    /// Pre-warms up to `count` workers for the function version in the background (Qinling's
    /// `scale_up`), within the pool limit and the host memory budget.
    pub async fn prewarm(
        self: &Arc<Self>,
        function: Function,
        version: i64,
        runtime: &Runtime,
        count: usize,
    ) {
        let Some(adapter) = self.adapters.for_runtime(runtime) else {
            return;
        };
        let pool = self.pools.pool_for(&function, version, runtime.id).await;
        let dispatcher = self.clone();
        tokio::spawn(async move {
            for _ in 0..count {
                let Some(lease) = pool.try_start() else {
                    break;
                };
                let start = dispatcher.start_worker(&adapter, &function, version);
                if !start_ahead(lease, start, None, &function).await {
                    break;
                }
            }
        });
    }

    /// Starts one more worker into `pool`, whose workers are held at their CPU quota while its
    /// calls keep coming (see [`crate::pool`]), in the background, as a pre-warm: only when a
    /// cold-start permit is free at once and no first worker of a pool waits for one (the
    /// host's limit on starts holds for these too, [`crate::coldstarts`]), and within the
    /// function's timeout.
    fn grow(self: &Arc<Self>, pool: Arc<crate::pool::Pool>, function: &Function, version: i64) {
        let dispatcher = self.clone();
        let function = function.clone();
        tokio::spawn(async move {
            let Some(_permit) = dispatcher.cold_starts.try_acquire_more() else {
                return;
            };
            let runtime = match dispatcher.store.get_runtime(function.runtime_id).await {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::warn!(function = %function.id, error = %e, "cannot start a worker for a throttled function");
                    return;
                }
            };
            let Some(adapter) = dispatcher.adapters.for_runtime(&runtime) else {
                return;
            };
            let Some(lease) = pool.try_start() else {
                return;
            };
            tracing::debug!(function = %function.id, version, "its workers are throttled: one more");
            let labels = FunctionLabels {
                function: function.id.to_string(),
            };
            dispatcher
                .metrics
                .throttled_starts
                .get_or_create(&labels)
                .inc();
            let limit = Duration::from_secs(u64::from(function.limits.timeout));
            let start = dispatcher.start_worker(&adapter, &function, version);
            start_ahead(lease, start, Some(limit), &function).await;
        });
    }

    /// Unpacks the function's package (once) and starts a worker that has loaded it.
    async fn start_worker(
        &self,
        adapter: &Adapter,
        function: &Function,
        version: i64,
    ) -> Result<Box<dyn Worker>, StartError> {
        let package_dir = self
            .packages
            .unpacked(&function.project_id, function.id, function.code.md5sum())
            .await
            .map_err(|e| StartError::Spawn {
                detail: format!("cannot unpack the function's package: {e}"),
                source: None,
            })?;
        let spec = WorkerSpec {
            runtime_id: function.runtime_id,
            function_id: function.id,
            function_version: version,
            package_dir,
            entry: function.entry.clone(),
            limits: function.limits,
            network: function.network,
            log_cap: self.config.log_cap,
            result_cap: self.config.result_cap,
            startup_allowance: self.startup.granted(function.id),
        };
        adapter.start(&spec).await
    }
}

/// The execution with `outcome` applied, as a finish writes it (status, result, `updated_at`),
/// and the outcome's logs.
fn concluded(execution: Execution, outcome: ExecutionOutcome) -> (Execution, String) {
    let finished = Execution {
        status: outcome.status,
        result: Some(outcome.result),
        updated_at: Some(ridge_core::time::now()),
        ..execution
    };
    (finished, outcome.logs)
}

/// Stops a worker that ran out of time without making its execution wait: the outcome is
/// recorded at the deadline, while killing a big process tree may take a while longer. The
/// lease keeps the worker's slot and memory until the kill is done.
fn discard_in_background(lease: Lease) {
    tokio::spawn(lease.discard());
}

/// Starts a worker ahead of calls on `lease` (`start`, within `limit` if given) and gives it to
/// the pool as pre-warmed; a start that fails or runs out of time is discarded. Whether the
/// worker started.
async fn start_ahead(
    mut lease: Lease,
    start: impl Future<Output = Result<Box<dyn Worker>, StartError>>,
    limit: Option<Duration>,
    function: &Function,
) -> bool {
    let started = match limit {
        Some(limit) => tokio::time::timeout(limit, start)
            .await
            .unwrap_or_else(|_| {
                Err(StartError::Spawn {
                    detail: format!("the worker took longer than {limit:?} to start"),
                    source: None,
                })
            }),
        None => start.await,
    };
    match started {
        Ok(worker) => {
            lease.set_worker(worker);
            lease.give_back_prewarmed().await;
            true
        }
        Err(e) => {
            tracing::warn!(function = %function.id, error = %e, "cannot start a worker ahead of calls");
            lease.discard().await;
            false
        }
    }
}

mod sync;
#[cfg(test)]
mod tests;
