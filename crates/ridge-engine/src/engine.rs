//! The [`Engine`]: the front the API, the job scheduler and the binary talk to. It holds the
//! parts and passes each call to the one that owns it: [`Engine::start`] (every execution) to
//! resolve, admission and the dispatcher; worker calls to the pools; function changes to
//! [`crate::functions`]. It keeps no state of its own beyond them.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ridge_core::tenancy::Quotas;
use ridge_core::{
    Clock, Execution, ExecutionId, ExecutionStatus, Function, FunctionId, FunctionPatch,
    InvalidInput, ProjectId, Retention, Runtime, RuntimeId, RuntimeKind, RuntimeStatus,
    SystemClock,
};
use ridge_package::PackageStore;
use ridge_store::{Node, Store, StoreError};

use crate::adapters::{Adapter, Adapters};
use crate::admission::{Admission, NodesLoad};
use crate::dispatch::{DispatchConfig, Dispatcher};
use crate::error::EngineError;
use crate::functions::{Functions, NewFunction, Upload};
use crate::membership::{Membership, NodeConfig};
use crate::metrics::{FunctionLabels, Metrics};
use crate::policy::ScalingPolicy;
use crate::pools::{PoolStats, Pools, WorkerInfo};
use crate::prestart::{Prestart, PrestartConfig};
use crate::request::{ExecutionRequest, Started};
use crate::resolve::resolve;
use crate::retention::RetentionConfig;
use ridge_runtime::Prestarted;

/// What [`Engine::node_counts`] sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeCounts {
    pub warm_workers: u64,
    pub cold_starts: u64,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub scaling: ScalingPolicy,
    /// Cap on the stdout+stderr kept per execution, in bytes.
    pub log_cap: usize,
    /// Cap on an execution's output, in bytes of JSON.
    pub result_cap: usize,
    /// How often idle workers are checked against their keep-alive window, the inter-arrival
    /// counts flushed to the store and due pre-warms started.
    pub reap_interval: Duration,
    /// Host-wide budget: the sum of the live workers' `memory_size`, in bytes.
    pub worker_memory_budget: u64,
    /// Most executions waiting for a worker; past it new executions are refused.
    pub max_queue_length: usize,
    /// Longest a sync execution waits for a worker before it ends `error`.
    pub max_queue_wait: Duration,
    /// Per-project quota defaults (a project's overrides are in the store).
    pub quotas: Quotas,
    /// How long a function whose worker failed soon after it started goes without the
    /// start-up CPU allowance (`[sandbox] startup_cpu_cooldown`); zero never withholds it.
    pub startup_cooldown: Duration,
    /// What time-based decisions read (the per-project rate, the job scheduler's "now", how
    /// long a worker has been idle): the system clock in the server, a clock the tests move.
    pub clock: Arc<dyn Clock>,
    /// This node among the nodes sharing the store.
    pub node: NodeConfig,
    /// How long finished executions are kept, and how they are purged.
    pub retention: RetentionConfig,
    /// Pre-started workers per runtime: the default and the most an admin may set.
    pub prestart: PrestartConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            scaling: ScalingPolicy::default(),
            log_cap: 1024 * 1024,
            result_cap: 6 * 1024 * 1024,
            reap_interval: Duration::from_secs(10),
            worker_memory_budget: crate::capacity::worker_memory_budget(0.5),
            max_queue_length: 10_000,
            max_queue_wait: Duration::from_secs(60),
            quotas: Quotas::default(),
            startup_cooldown: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
            node: NodeConfig::default(),
            retention: RetentionConfig::default(),
            prestart: PrestartConfig::default(),
        }
    }
}

pub struct Engine {
    store: Arc<dyn Store>,
    packages: Arc<dyn PackageStore>,
    adapters: Arc<Adapters>,
    pools: Arc<Pools>,
    prestart: Prestart,
    dispatcher: Arc<Dispatcher>,
    admission: Admission,
    membership: Membership,
    metrics: Arc<Metrics>,
    config: EngineConfig,
}

impl Engine {
    pub fn new(
        store: Arc<dyn Store>,
        packages: Arc<dyn PackageStore>,
        adapters: Vec<Adapter>,
        config: EngineConfig,
    ) -> Arc<Self> {
        let metrics = Arc::new(Metrics::new());
        let batches = metrics.write_batch_size.clone();
        store.observe_write_batches(Arc::new(move |writes| batches.observe(writes as f64)));
        let adapters = Arc::new(Adapters::new(adapters));
        let pools = Arc::new(Pools::new(
            config.scaling,
            config.worker_memory_budget,
            config.clock.clone(),
        ));
        let dispatcher = Arc::new(Dispatcher::new(
            store.clone(),
            packages.clone(),
            adapters.clone(),
            pools.clone(),
            metrics.clone(),
            DispatchConfig {
                node: config.node.name.clone(),
                log_cap: config.log_cap,
                result_cap: config.result_cap,
                max_queue_wait: config.max_queue_wait,
                startup_cooldown: config.startup_cooldown,
            },
            config.clock.clone(),
        ));
        Arc::new(Self {
            store,
            packages,
            adapters,
            prestart: Prestart::new(pools.capacity()),
            pools,
            dispatcher,
            admission: Admission::new(config.quotas, config.clock.clone()),
            membership: Membership::new(config.node.clone()),
            metrics,
            config,
        })
    }

    /// Checks every runtime kind on this host, settles the stored runtimes' status, joins the
    /// nodes of the store (refused when a live node has this node's name), resolves what a
    /// previous run or a lost node left unfinished, and starts the heartbeat and the idle
    /// reaper. Call once at start-up.
    pub async fn boot(self: &Arc<Self>) -> Result<(), EngineError> {
        self.adapters.check_all().await;
        for runtime in self.store.all_runtimes().await? {
            if matches!(
                runtime.status,
                RuntimeStatus::Creating | RuntimeStatus::Available | RuntimeStatus::Error
            ) {
                settle_runtime(self.store.as_ref(), &self.adapters, &runtime).await;
                self.apply_runtime_pool(&runtime).await;
            }
        }
        self.membership
            .join(self.store.as_ref(), &self.dispatcher, self.room())
            .await?;
        tokio::spawn(reap(Arc::downgrade(self), self.config.reap_interval));
        tokio::spawn(heartbeat(
            Arc::downgrade(self),
            self.membership.beat_interval(),
        ));
        tokio::spawn(purge(Arc::downgrade(self), self.config.retention.interval));
        Ok(())
    }

    /// How many more executions this node's queue takes.
    fn room(&self) -> usize {
        self.config
            .max_queue_length
            .saturating_sub(self.queue_length())
    }

    /// One heartbeat (see [`crate::membership`]), then the workers of functions deleted
    /// through another node are stopped here too.
    pub(crate) async fn beat(&self) {
        if let Err(e) = self
            .membership
            .beat_and_take_over(self.store.as_ref(), &self.dispatcher, self.room())
            .await
        {
            tracing::error!(node = %self.membership.name(), error = %e, "heartbeat failed");
        }
        for (id, _) in self.pools.live_by_function() {
            if let Err(StoreError::FunctionNotFound { .. }) = self.store.get_function(id).await {
                self.pools.release_function(id).await;
                self.pools.arrivals.forget(id);
            }
        }
    }

    /// One round of retention (see [`crate::retention`]) at the engine clock's time; returns
    /// how many executions it deleted.
    pub async fn purge_expired(&self) -> Result<u64, EngineError> {
        let now = self.config.clock.now();
        let store = self.store.as_ref();
        let purged = &self.metrics.executions_purged;
        Ok(crate::retention::purge_round(store, &self.config.retention, now, purged).await?)
    }

    /// The live nodes as of the last heartbeat, this one included: what shares a limit.
    pub fn node_count(&self) -> usize {
        1 + self.membership.others().len()
    }

    /// This node's name.
    pub fn node_name(&self) -> &str {
        self.membership.name()
    }

    /// The nodes sharing the store whose heartbeat is within the lease, this one included.
    pub async fn live_nodes(&self) -> Result<Vec<Node>, EngineError> {
        Ok(self.membership.live(self.store.as_ref()).await?)
    }

    /// Starts an execution, whatever asked for it: resolves the target (reading the function,
    /// version and runtime once), admits it (quotas, rate, queue length), records it as
    /// `running` (counting it on the function or version) and submits it. Nothing is written
    /// when it is refused. One that finds an idle warm worker takes it at once: a sync one is
    /// run in this call's task and may be recorded only when it ends, an async one is recorded
    /// already started (docs/architecture.md, step 2).
    pub async fn start(&self, request: ExecutionRequest) -> Result<Started, EngineError> {
        let resolved = resolve(self.store.as_ref(), &request.project, request.target).await?;
        let project = &resolved.function.project_id;
        // Every origin is admitted alike: a job or a webhook counts against its project's
        // quotas and this node's queue as an API call does.
        let load = NodesLoad {
            waiting: self
                .queue_length()
                .saturating_add(self.membership.others_waiting()),
            max_queue: self.config.max_queue_length,
            nodes: self.node_count(),
        };
        let quotas = match self
            .admission
            .admit_execution(self.store.as_ref(), project, resolved.quotas, load)
            .await
        {
            Ok(quotas) => quotas,
            Err(refused) => {
                tracing::debug!(origin = %request.origin, %project, reason = %refused, "execution refused");
                return Err(refused);
            }
        };
        // A sync execution whose caller waits for the outcome runs before it is recorded: it
        // is then written once, complete, before the caller is answered, when it ends soon
        // enough (`dispatch::sync`). Not when its project's concurrency quota counts the
        // executions recorded as `running`: every node must see it at once.
        let record_late =
            request.sync && quotas.concurrent_executions == ridge_core::tenancy::Limit::Unlimited;
        let mut execution = Execution {
            id: ExecutionId::new(),
            project_id: project.clone(),
            function_id: resolved.function.id,
            function_version: resolved.version,
            function_alias: resolved.alias.map(String::from),
            description: request.description,
            status: ExecutionStatus::Running,
            sync: request.sync,
            input: request.input,
            result: None,
            started_at: None,
            created_at: ridge_core::time::now(),
            updated_at: None,
            node: Some(self.membership.name().to_owned()),
        };
        // Recorded and submitted in a task of its own, so that a caller that goes away
        // meanwhile (an HTTP client that disconnects, a trigger's consumer that stops) cannot
        // leave behind a row `running` that nothing runs: once written, it is always run.
        let (store, pools, dispatcher) = (
            self.store.clone(),
            self.pools.clone(),
            self.dispatcher.clone(),
        );
        let recorded = tokio::spawn(async move {
            // An idle warm worker, taken now: a sync execution that may be recorded late, or an
            // async one (recorded first in any case).
            let warm = if record_late || !execution.sync {
                let runtime = resolved.runtime.id;
                pools
                    .try_warm(&resolved.function, resolved.version, runtime)
                    .await
            } else {
                None
            };
            if let Some(lease) = warm {
                pools
                    .arrivals
                    .arrived(resolved.function.id, resolved.version);
                execution.started_at = Some(ridge_core::time::now());
                if execution.sync {
                    // Run here, in this task: no second task to hand it to and wait on.
                    let done = dispatcher
                        .run_warm(execution, &resolved.function, lease)
                        .await;
                    return Ok(Started::done(done));
                }
                // Recorded as started by this node (it holds its worker: no claim to write),
                // on disk before its caller hears of it, then run.
                if let Err(e) = store.create_execution(&execution).await {
                    // No call ran: nothing the pool could want to grow for.
                    let _ = lease.give_back().await;
                    return Err(e.into());
                }
                let finished =
                    dispatcher.submit_claimed(execution.clone(), resolved.function, lease);
                return Ok(Started::new(execution, finished));
            }
            if record_late {
                // No idle worker: it waits for one, still unrecorded for a while.
                pools
                    .arrivals
                    .arrived(resolved.function.id, resolved.version);
                let done = dispatcher
                    .run_sync(execution, &resolved.function, &resolved.runtime)
                    .await;
                return Ok(Started::done(done));
            }
            store.create_execution(&execution).await?;
            pools
                .arrivals
                .arrived(resolved.function.id, resolved.version);
            let finished =
                dispatcher.submit(execution.clone(), resolved.function, resolved.runtime);
            Ok::<_, EngineError>(Started::new(execution, finished))
        });
        recorded.await.map_err(EngineError::Lost)?
    }

    /// The store this engine records executions in (the job scheduler reads jobs from it).
    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The clock this engine's time-based decisions read (the job scheduler's "now").
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.config.clock
    }

    /// Executions waiting for a worker on this node.
    pub fn queue_length(&self) -> usize {
        self.dispatcher.waiting()
    }

    /// The quotas in force for `project`: the defaults with its overrides.
    pub async fn quotas(&self, project: &ProjectId) -> Result<Quotas, EngineError> {
        self.admission.in_force(self.store.as_ref(), project).await
    }

    /// The retention in force for `project`: its overrides over the server's default.
    pub async fn retention(&self, project: &ProjectId) -> Result<Retention, EngineError> {
        let overrides = self.store.retention_overrides(project).await?;
        Ok(overrides.over(&self.config.retention.defaults))
    }

    /// Before creating a job in `project`: its `jobs` quota.
    pub async fn admit_job(&self, project: &ProjectId) -> Result<(), EngineError> {
        self.admission.admit_job(self.store.as_ref(), project).await
    }

    fn functions(&self) -> Functions<'_> {
        Functions {
            store: self.store.as_ref(),
            packages: self.packages.as_ref(),
            admission: &self.admission,
        }
    }

    /// Creates a function with its package, within the project's quotas.
    pub async fn create_function(
        &self,
        new: NewFunction,
        upload: Upload,
    ) -> Result<Function, EngineError> {
        self.functions().create(new, upload).await
    }

    /// Changes `function` (as the caller read it) by `patch` and, with `upload`, replaces its
    /// package. When it now runs differently its workers are released; a replaced package is
    /// removed unless a version still uses it.
    pub async fn update_function(
        &self,
        function: Function,
        patch: FunctionPatch,
        upload: Option<Upload>,
    ) -> Result<Function, EngineError> {
        let functions = self.functions();
        let updated = functions.update(function, patch, upload).await?;
        if updated.runs_differently {
            self.pools.release_function(updated.function.id).await;
        }
        if let Some(md5) = &updated.replaced {
            functions.remove_if_unused(&updated.function, md5).await?;
        }
        Ok(updated.function)
    }

    /// Deletes the function, its executions, its workers and its packages.
    pub async fn delete_function(&self, function: &Function) -> Result<(), EngineError> {
        self.store.delete_function(function.id).await?;
        self.pools.release_function(function.id).await;
        self.pools.arrivals.forget(function.id);
        self.functions().remove_all(function).await;
        Ok(())
    }

    /// Removes a package of the function unless its code or a version still uses it (after a
    /// version was deleted).
    pub async fn remove_package_if_unused(
        &self,
        function: &Function,
        md5: &str,
    ) -> Result<(), EngineError> {
        self.functions().remove_if_unused(function, md5).await
    }

    /// The result of each runtime kind's host check, for `GET /v1/info`, sorted by kind.
    pub fn runtime_checks(&self) -> Vec<(RuntimeKind, Result<String, String>)> {
        self.adapters.checks()
    }

    /// Why this node cannot run `runtime`, when it cannot (the `status_reason` of an `error`
    /// runtime).
    pub fn runtime_problem(&self, runtime: &Runtime) -> Option<String> {
        self.adapters.problem(runtime)
    }

    /// The runtime kind an `image` names, if this server has that kind (built in, or declared
    /// in its configuration file).
    pub fn runtime_kind(&self, image: &str) -> Result<RuntimeKind, InvalidInput> {
        self.adapters.kind(image)
    }

    /// Brings a newly created (or re-imaged) runtime to `available`, or `error` when this host
    /// cannot run its kind. Runs in the background; the API has already answered `creating`.
    pub fn prepare_runtime(self: &Arc<Self>, runtime: Runtime) {
        let engine = self.clone();
        tokio::spawn(async move {
            settle_runtime(engine.store.as_ref(), &engine.adapters, &runtime).await;
            engine.apply_runtime_pool(&runtime).await;
        });
    }

    /// The pre-started pools' default size and the most an admin may set.
    pub fn prestart_config(&self) -> PrestartConfig {
        self.config.prestart
    }

    /// Gives the runtime's pre-started pool the size its admin set (or the default), within
    /// the memory budget; returns how many workers were granted. None when this host cannot
    /// run the runtime.
    pub async fn apply_runtime_pool(&self, runtime: &Runtime) -> usize {
        let Some(adapter) = self.adapters.for_runtime(runtime) else {
            return 0;
        };
        if self.adapters.problem(runtime).is_some() {
            return self.prestart.apply(&adapter, runtime.id, 0);
        }
        let size = match self.store.runtime_pool_size(runtime.id).await {
            Ok(size) => size.unwrap_or(self.config.prestart.default_size),
            Err(e) => {
                tracing::warn!(runtime = %runtime.id, error = %e, "cannot read the runtime's pool size");
                self.config.prestart.default_size
            }
        };
        self.prestart.apply(&adapter, runtime.id, size as usize)
    }

    /// Stops the runtime's pre-started workers (the runtime is deleted, or changes kind).
    pub fn stop_runtime_pool(&self, runtime: &Runtime) {
        if let Some(adapter) = self.adapters.for_runtime(runtime) {
            self.prestart.apply(&adapter, runtime.id, 0);
        }
    }

    /// The runtime's pre-started workers on this node.
    pub fn prestarted(&self, runtime: &Runtime) -> Prestarted {
        match self.adapters.for_runtime(runtime) {
            Some(adapter) => adapter.prestarted(runtime.id),
            None => Prestarted {
                unavailable: Some(format!(
                    "this server has no `{}` runtime kind",
                    runtime.image
                )),
                ..Prestarted::default()
            },
        }
    }

    /// Pre-warms up to `count` workers for the function version in the background (Qinling's
    /// `scale_up`), within the pool limit and the host memory budget.
    pub async fn scale_up(&self, function: Function, version: i64, count: usize) {
        let Ok(runtime) = self.store.get_runtime(function.runtime_id).await else {
            return;
        };
        self.dispatcher
            .prewarm(function, version, &runtime, count)
            .await;
    }

    /// Stops up to `count` idle workers of the function version, keeping at least one
    /// (Qinling's `scale_down`).
    pub async fn scale_down(&self, id: FunctionId, version: i64, count: usize) {
        self.pools.scale_down(id, version, count).await;
    }

    /// Stops every worker of one function version (Qinling's `detach`).
    pub async fn detach(&self, id: FunctionId, version: i64) {
        self.pools.detach(id, version).await;
    }

    /// The live workers of a function, of one version or of all.
    pub fn workers(&self, id: FunctionId, version: Option<i64>) -> Vec<WorkerInfo> {
        self.pools.workers(id, version)
    }

    /// Stops every worker of functions of this runtime, and its pre-started workers.
    pub async fn release_runtime(&self, runtime: &Runtime) {
        self.stop_runtime_pool(runtime);
        self.pools.release_runtime(runtime.id).await;
    }

    /// Workers of one runtime alive on this node, and how many are idle.
    pub fn pool_stats(&self, runtime_id: RuntimeId) -> PoolStats {
        self.pools.stats(runtime_id)
    }

    /// This node's live workers and the cold starts since it started, summed over `functions`
    /// (the dashboard's statistics of one project).
    pub fn node_counts(&self, functions: &[FunctionId]) -> NodeCounts {
        let live = self.pools.live_by_function();
        let mut counts = NodeCounts::default();
        for id in functions {
            counts.warm_workers += live.get(id).copied().unwrap_or(0) as u64;
            let labels = crate::metrics::FunctionLabels {
                function: id.to_string(),
            };
            if let Some(counter) = self.metrics.cold_starts.get(&labels) {
                counts.cold_starts += counter.get();
            }
        }
        counts
    }

    /// One round of the keep-alive policy, every `reap_interval` (see [`crate::keep_alive`]).
    pub async fn keep_alive_round(&self) {
        crate::keep_alive::round(
            self.store.as_ref(),
            &self.pools,
            &self.dispatcher,
            &self.metrics,
        )
        .await;
    }

    /// The Prometheus text exposition of the engine's metrics.
    pub fn metrics_text(&self) -> String {
        self.metrics.keep_alive_seconds.clear();
        self.metrics.prewarm_seconds.clear();
        for view in self.pools.arrivals.views() {
            let labels = crate::metrics::KeepAliveLabels {
                function: view.function.to_string(),
                basis: view.window.basis.as_str().to_owned(),
            };
            let prewarm = view.window.prewarm;
            let end = prewarm + view.window.keep_alive;
            self.metrics
                .keep_alive_seconds
                .get_or_create(&labels)
                .set(end.as_secs_f64());
            self.metrics
                .prewarm_seconds
                .get_or_create(&labels)
                .set(prewarm.as_secs_f64());
        }
        self.metrics.warm_workers.clear();
        for (id, n) in self.pools.live_by_function() {
            self.metrics
                .warm_workers
                .get_or_create(&FunctionLabels {
                    function: id.to_string(),
                })
                .set(n as i64);
        }
        self.metrics.queue_depth.set(self.queue_length() as i64);
        self.metrics
            .capacity_used
            .set(self.pools.memory_used() as i64);
        self.metrics.encode()
    }

    /// Hands this node's queued async executions back for the other nodes to run, then waits
    /// until every execution still submitted here has finished, up to `deadline`; returns how
    /// many were still unfinished. Those stay in the store: queued ones run at the next start
    /// or on another node, ones that had started end `error` then.
    pub async fn drain(&self, deadline: Duration) -> usize {
        match self.membership.hand_back(self.store.as_ref()).await {
            Ok(0) => {}
            Ok(handed) => {
                tracing::info!(handed, "handed queued executions back to the other nodes")
            }
            Err(e) => tracing::error!(error = %e, "cannot hand queued executions back"),
        }
        let until = Instant::now() + deadline;
        loop {
            let left = self.dispatcher.in_flight();
            if left == 0 || Instant::now() >= until {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every idle worker and retires every pool; busy workers stop when their execution
    /// ends (or when the process exits). Executions still running are resolved at next start.
    pub async fn shutdown(&self) {
        self.adapters.stop_prestarted().await;
        self.prestart.clear();
        self.pools.shutdown().await;
        if let Err(e) = self.membership.leave(self.store.as_ref()).await {
            tracing::error!(error = %e, "cannot remove this node from the store");
        }
    }
}

/// Sets a runtime's stored status to what this host can do for its kind.
async fn settle_runtime(store: &dyn Store, adapters: &Adapters, runtime: &Runtime) {
    let status = adapters.status(runtime);
    if status != runtime.status
        && let Err(e) = store.set_runtime_status(runtime.id, status).await
    {
        tracing::error!(runtime = %runtime.id, error = %e, "cannot record runtime status");
    }
}

/// Heartbeats every `every` until the engine is dropped.
async fn heartbeat(engine: Weak<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(engine) = engine.upgrade() else {
            break;
        };
        engine.beat().await;
    }
}

/// Purges executions past their retention every `every` until the engine is dropped.
async fn purge(engine: Weak<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(engine) = engine.upgrade() else {
            break;
        };
        if let Err(e) = engine.purge_expired().await {
            tracing::error!(error = %e, "purging executions failed");
        }
    }
}

/// Runs a [keep-alive round](Engine::keep_alive_round) every `every` until the engine is
/// dropped.
async fn reap(engine: Weak<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(engine) = engine.upgrade() else {
            break;
        };
        engine.keep_alive_round().await;
    }
}
