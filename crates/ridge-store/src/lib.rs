//! Ridge's persistence: the [`Store`] trait that the engine and the API use, and its two
//! implementations: [`SqliteStore`], embedded (the default), and [`PostgresStore`], which any
//! number of nodes share. [`open`] picks one from a [`StoreUrl`].
//!
//! The store is the source of truth for every resource and execution. Schema changes are numbered
//! migrations, one directory per database (`migrations/` for SQLite, `migrations-postgres/`
//! mirroring it file for file). Both schemas have the same columns, so rows are read by one
//! set of codecs (`rows`) and list filters are built once (`filter`); only the SQL that writes
//! and selects differs. [`StoreCopy`] (`ridge store copy`) moves every row of one store into
//! an empty other, in any direction. This crate knows nothing of HTTP, processes or packages.

mod codec;
mod copy;
mod error;
mod filter;
mod migrations;
mod nodes;
mod postgres;
mod retention;
mod rows;
mod shared;
mod shared_reads;
mod signatures;
mod sqlite;
mod tenancy;
#[cfg(feature = "testing")]
pub mod testing;
mod url;
mod writer;

pub use copy::{CopyProgress, NOT_COPIED, PAGE_ROWS, PackageRef, StoreCopy, TABLES, Table};
pub use error::StoreError;
pub use nodes::Node;
pub use postgres::PostgresStore;
pub use retention::{PurgeBy, PurgeScope};
pub use sqlite::SqliteStore;
pub use tenancy::{ProjectUsage, TenancyStore};
pub use url::StoreUrl;

use std::sync::Arc;

use async_trait::async_trait;
use ridge_core::{
    Alias, AliasName, ArrivalHistogram, EventTrigger, EventTriggerId, Execution, ExecutionId,
    ExecutionResult, ExecutionStatus, Filter, Function, FunctionId, FunctionVersion, Job, JobId,
    JobStatus, ProjectId, RetentionOverrides, Runtime, RuntimeId, RuntimeStatus, Timestamp,
    TriggerState, VersionId, Webhook, WebhookId,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Opens the store `url` names and brings its schema up to date: the SQLite file (created with
/// its directory when missing) or the PostgreSQL database (which must exist).
pub async fn open(url: &StoreUrl) -> Result<Arc<dyn Store>> {
    Ok(match url {
        StoreUrl::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        StoreUrl::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
    })
}

/// Which projects a list covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectScope {
    /// One project's resources.
    Project(ProjectId),
    /// Every project (admin `all_projects=true`).
    All,
}

/// Filters of `GET /v1/executions`; `None` fields do not filter. `neq` and `nin` also match a
/// NULL column (an execution without a description is "not equal" to any description).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionQuery {
    pub scope: ProjectScope,
    pub function_id: Option<Filter>,
    pub status: Option<Filter>,
    pub description: Option<Filter>,
    pub page: Page,
}

/// Which part of a list, in its order (`created_at`, then `id`): at most `limit` items that
/// come after the item `marker` (OpenStack's paging). The default is everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Page {
    /// The most items to return; `None` returns all.
    pub limit: Option<u64>,
    /// Start after this execution; one that does not exist gives an empty page.
    pub marker: Option<ExecutionId>,
}

/// When a write of the execution hot path may return: once its commit is on disk, or once it
/// is committed (visible to every reader) with its flush to disk left to a later commit.
///
/// A sync execution's caller is answered only after the execution's finish, whose flushed
/// commit also puts every earlier commit on disk (PostgreSQL's log is one sequence), so its
/// create and start need not wait for the disk each: that is two flushes fewer per sync
/// execution. A crash before the finish may lose such a row, but nobody was told of it. An
/// async execution's create is flushed: its caller is answered at once. SQLite, whose commits
/// never wait for the disk (`synchronous = NORMAL` in WAL mode), treats both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The write returns once its commit is on disk.
    Flushed,
    /// The write returns once committed; a later flushed commit (or the database's own
    /// background flush, within PostgreSQL's `wal_writer_delay`) puts it on disk.
    Deferred,
}

impl Durability {
    /// What the writes of `execution` that come before its finish need: deferred for a sync
    /// execution, flushed for an async one.
    pub fn before_finish(execution: &Execution) -> Self {
        if execution.sync {
            Durability::Deferred
        } else {
            Durability::Flushed
        }
    }
}

/// A function read with what running it needs ([`Store::get_function_to_run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionToRun {
    pub function: Function,
    /// The function's runtime (every version of a function has its runtime).
    pub runtime: Runtime,
    /// The quota overrides of the function's project.
    pub quotas: ridge_core::tenancy::QuotaOverrides,
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionOutcome {
    pub status: ExecutionStatus,
    pub result: ExecutionResult,
    pub logs: String,
}

/// What refers to a function (QINLING-API.md §2: `jobs` counts only jobs that may still run).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FunctionUsage {
    pub running_jobs: i64,
    pub webhooks: i64,
    pub aliases: i64,
}

/// What [`Store::execution_statistics`] counts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecutionStatistics {
    /// Statuses with at least one execution, each once.
    pub by_status: Vec<(ExecutionStatus, u64)>,
    /// Executions accepted and not started yet (`running` without `started_at`).
    pub queued: u64,
    /// Seconds, of the newest finished executions that ran (newest first).
    pub durations: Vec<f64>,
}

/// What the scheduler writes when it claims a job's tick.
#[derive(Debug, Clone, PartialEq)]
pub struct JobClaim {
    /// `running`, or `done` after the last run.
    pub status: JobStatus,
    pub next_execution_time: Timestamp,
    /// Runs left after this one; `None` is unlimited.
    pub count: Option<i64>,
}

/// Told the number of writes in each transaction that a store commits for the execution hot path
/// (see [`Store::observe_write_batches`]). Called on the store's writer: it must be quick.
pub type WriteBatchObserver = Arc<dyn Fn(usize) + Send + Sync>;

#[async_trait]
pub trait Store: TenancyStore + Send + Sync + 'static {
    /// A short description for `GET /v1/info` (`sqlite:/path/ridge.db`).
    fn describe(&self) -> String;

    // Runtimes.
    async fn create_runtime(&self, runtime: &Runtime) -> Result<()>;
    /// `RuntimeNotFound` when absent.
    async fn get_runtime(&self, id: RuntimeId) -> Result<Runtime>;
    /// Runtimes of `project` plus every public runtime, by `created_at` then `id`.
    async fn list_runtimes(&self, project: &ProjectId) -> Result<Vec<Runtime>>;
    /// Every runtime of every project (used at start-up to prepare them).
    async fn all_runtimes(&self) -> Result<Vec<Runtime>>;
    /// Writes `name`, `description`, `image`, `status` and `updated_at` as given.
    /// `RuntimeNotFound` when absent.
    async fn update_runtime(&self, runtime: &Runtime) -> Result<()>;
    /// Sets the status and `updated_at` (to now). `RuntimeNotFound` when absent.
    async fn set_runtime_status(&self, id: RuntimeId, status: RuntimeStatus) -> Result<()>;
    /// How many pre-started workers each node keeps for the runtime, when an admin set it
    /// (`None`: the server's default). `RuntimeNotFound` when absent.
    async fn runtime_pool_size(&self, id: RuntimeId) -> Result<Option<u32>>;
    /// Sets (or with `None` clears) the runtime's pre-started pool size. `RuntimeNotFound`
    /// when absent.
    async fn set_runtime_pool_size(&self, id: RuntimeId, size: Option<u32>) -> Result<()>;
    /// `RuntimeInUse` if any function of any project uses it; `RuntimeNotFound` when absent.
    async fn delete_runtime(&self, id: RuntimeId) -> Result<()>;

    // Functions.
    /// `RuntimeNotFound` when its runtime does not exist.
    async fn create_function(&self, function: &Function) -> Result<()>;
    /// `FunctionNotFound` when absent.
    async fn get_function(&self, id: FunctionId) -> Result<Function>;
    /// The function, its runtime and its project's quota overrides, read together in one query
    /// (to run it: one read instead of three). `FunctionNotFound` when absent.
    async fn get_function_to_run(&self, id: FunctionId) -> Result<FunctionToRun>;
    /// By `created_at` then `id`.
    async fn list_functions(&self, scope: &ProjectScope) -> Result<Vec<Function>>;
    /// Writes every mutable field (name, description, code, entry, limits, updated_at) as
    /// given; `runtime_id`, `count` and `latest_version` are left alone. `FunctionNotFound`
    /// when absent.
    async fn update_function(&self, function: &Function) -> Result<()>;
    /// Deletes the function and its executions. `FunctionNotFound` when absent.
    async fn delete_function(&self, id: FunctionId) -> Result<()>;

    /// Registers `observer` to be told the size of every batch of execution writes the store
    /// commits from now on, replacing an earlier one. Stores that do not batch ignore it.
    fn observe_write_batches(&self, observer: WriteBatchObserver) {
        let _ = observer;
    }

    // Executions.
    /// Inserts the execution and, for `function_version` 0, increments its function's `count`,
    /// in one transaction (flushed for an async execution, deferred for a sync one:
    /// [`Durability::before_finish`]). `FunctionNotFound` when the function does not exist.
    async fn create_execution(&self, execution: &Execution) -> Result<()>;
    /// Inserts an execution that finished before it was recorded (a sync execution that a warm
    /// worker answered at once: one write instead of a create, a start and a finish), complete
    /// with its `logs`, and counts it as [`Store::create_execution`] does, in one commit that
    /// is on disk when this returns. `FunctionNotFound` or `VersionNotFound` when its target is
    /// gone, and then nothing was written.
    async fn record_execution(&self, execution: &Execution, logs: &str) -> Result<()>;
    /// `ExecutionNotFound` when absent.
    async fn get_execution(&self, id: ExecutionId) -> Result<Execution>;
    /// By `created_at` then `id`. `InvalidFilter` for a single-valued operator without exactly
    /// one value.
    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>>;
    /// Records that a worker of `node` took the execution. Compare-and-swap: returns false
    /// (and changes nothing) unless the execution is `running`, not yet started and held by
    /// `node`, so no execution is run twice, by one node or two. Sets `started_at` and
    /// `updated_at` to `at`. Returns once the commit is on disk, or, `Deferred`, once committed.
    async fn mark_execution_started(
        &self,
        id: ExecutionId,
        node: &str,
        at: Timestamp,
        durability: Durability,
    ) -> Result<bool>;
    /// Writes the final status, result and logs, and sets `updated_at`, only if it is still
    /// `running`; returns the execution as stored then, or `None` when it was not running (an
    /// execution deleted or finished meanwhile is left alone).
    async fn finish_execution(
        &self,
        id: ExecutionId,
        outcome: &ExecutionOutcome,
    ) -> Result<Option<Execution>>;
    /// The captured logs (empty while running). `ExecutionNotFound` when absent.
    async fn get_execution_logs(&self, id: ExecutionId) -> Result<String>;
    /// `ExecutionNotFound` when absent.
    async fn delete_execution(&self, id: ExecutionId) -> Result<()>;
    /// Executions of `scope` created at or after `since`, counted by status; the executions
    /// queued now (running, not started; of any age); and the durations of at most
    /// `max_durations` of the newest finished ones since `since`.
    async fn execution_statistics(
        &self,
        scope: &ProjectScope,
        since: Timestamp,
        max_durations: u64,
    ) -> Result<ExecutionStatistics>;

    // Nodes (docs/scale-out.md).
    /// Writes `node`'s heartbeat, inserting its row the first time. Refused when the name
    /// belongs to another live node (a row of another incarnation at another address whose
    /// heartbeat is not older than `stale_before`): then returns that node and writes nothing.
    async fn heartbeat_node(&self, node: &Node, stale_before: Timestamp) -> Result<Option<Node>>;
    /// Every node's row, by name, live or not yet removed.
    async fn list_nodes(&self) -> Result<Vec<Node>>;
    /// Removes the rows of nodes whose heartbeat is older than `stale_before` (lost nodes);
    /// returns their names. Their executions are then [stranded](Store::stranded_executions).
    async fn remove_stale_nodes(&self, stale_before: Timestamp) -> Result<Vec<String>>;
    /// Removes the node's row if it is still this incarnation's (a node that stops).
    async fn remove_node(&self, name: &str, incarnation: &str) -> Result<()>;
    /// The `running` executions `node` holds, oldest first: what it resolves when it restarts.
    async fn node_executions(&self, node: &str) -> Result<Vec<Execution>>;
    /// Up to `limit` `running` executions no live node holds (handed back, or held by a node
    /// whose row is gone), oldest first.
    async fn stranded_executions(&self, limit: u64) -> Result<Vec<Execution>>;
    /// Moves a `running`, not yet started execution from node `from` (`None`: handed back) to
    /// node `to`. Compare-and-swap: false when it started, ended or moved meanwhile.
    async fn take_execution(&self, id: ExecutionId, from: Option<&str>, to: &str) -> Result<bool>;
    /// Hands back the async executions `node` holds that have not started, for any node to
    /// take; returns how many.
    async fn hand_back_executions(&self, node: &str) -> Result<u64>;

    // Keep-alive history (docs/keep-alive.md).
    /// Adds `arrivals` to the function's inter-arrival histogram: counts add up, whichever node
    /// writes them. Nothing is written for a function that does not exist (deleted meanwhile).
    async fn add_arrivals(&self, function: FunctionId, arrivals: &ArrivalHistogram) -> Result<()>;
    /// The function's inter-arrival histogram, empty when none was recorded. Deleting the
    /// function deletes it.
    async fn arrival_histogram(&self, function: FunctionId) -> Result<ArrivalHistogram>;

    // Webhook signatures.
    /// Records a timestamped signature of `webhook`, valid until `until` (Unix seconds), and
    /// forgets the ones stale at `now`; false when a node recorded it before (a replay).
    async fn record_webhook_signature(
        &self,
        webhook: WebhookId,
        signature: &str,
        until: i64,
        now: i64,
    ) -> Result<bool>;

    // Retention (docs/retention.md).
    /// Deletes at most `limit` finished executions of `scope` that `by` selects, in short
    /// statements; never a `running` one. Returns how many it deleted. Idempotent: several
    /// nodes may purge at once.
    async fn purge_executions(&self, scope: &PurgeScope, by: PurgeBy, limit: u64) -> Result<u64>;
    /// Gives the space of purged rows back to the file system, a little at a time (SQLite's
    /// incremental vacuum); stores whose database vacuums itself do nothing.
    async fn reclaim_space(&self) -> Result<()> {
        Ok(())
    }
    /// The project's retention overrides (empty when none were set).
    async fn retention_overrides(&self, project: &ProjectId) -> Result<RetentionOverrides>;
    /// Replaces the project's retention overrides.
    async fn set_retention_overrides(
        &self,
        project: &ProjectId,
        overrides: &RetentionOverrides,
    ) -> Result<()>;
    /// Every project's overrides, by project.
    async fn all_retention_overrides(&self) -> Result<Vec<(ProjectId, RetentionOverrides)>>;

    // Functions, continued.
    /// Jobs that may still run, webhooks and aliases that refer to the function.
    async fn function_usage(&self, id: FunctionId) -> Result<FunctionUsage>;

    // Versions.
    /// Snapshots the function's current code, entry and limits as version
    /// `latest_version + 1` and bumps `latest_version`, atomically. `VersionLimit` when it has
    /// `max_versions` versions already; `VersionUnchanged` when the newest version is the same
    /// snapshot; `FunctionNotFound` when absent. Numbers are never reused.
    async fn create_version(
        &self,
        function_id: FunctionId,
        id: VersionId,
        description: Option<&str>,
        at: Timestamp,
        max_versions: i64,
    ) -> Result<FunctionVersion>;
    /// `VersionNotFound` when absent.
    async fn get_version(&self, function_id: FunctionId, version: i64) -> Result<FunctionVersion>;
    /// By `version_number`.
    async fn list_versions(&self, function_id: FunctionId) -> Result<Vec<FunctionVersion>>;
    /// `VersionInUse` when a job that may still run, a webhook or an alias uses it;
    /// `VersionNotFound` when absent.
    async fn delete_version(&self, function_id: FunctionId, version: i64) -> Result<()>;

    // Aliases (keyed by name within a project).
    /// `DuplicateAlias` for a taken name, `DuplicateAliasTarget` when another alias points at
    /// the same version, `FunctionNotFound` when the function does not exist.
    async fn create_alias(&self, alias: &Alias) -> Result<()>;
    /// `AliasNotFound` when absent.
    async fn get_alias(&self, project: &ProjectId, name: &AliasName) -> Result<Alias>;
    /// By `created_at` then `id`.
    async fn list_aliases(&self, scope: &ProjectScope) -> Result<Vec<Alias>>;
    /// Writes the target, description and `updated_at`; errors as [`Store::create_alias`].
    async fn update_alias(&self, alias: &Alias) -> Result<()>;
    /// `AliasInUse` when a job that may still run or a webhook uses it; `AliasNotFound` when
    /// absent.
    async fn delete_alias(&self, project: &ProjectId, name: &AliasName) -> Result<()>;

    // Webhooks.
    /// `FunctionNotFound` when a function target does not exist.
    async fn create_webhook(&self, webhook: &Webhook) -> Result<()>;
    /// `WebhookNotFound` when absent.
    async fn get_webhook(&self, id: WebhookId) -> Result<Webhook>;
    /// By `created_at` then `id`.
    async fn list_webhooks(&self, scope: &ProjectScope) -> Result<Vec<Webhook>>;
    /// Writes the target, description, secret, `split_alerts` and `updated_at`.
    async fn update_webhook(&self, webhook: &Webhook) -> Result<()>;
    /// `WebhookNotFound` when absent.
    async fn delete_webhook(&self, id: WebhookId) -> Result<()>;

    // Event triggers.
    /// `FunctionNotFound` when a function target does not exist.
    async fn create_event_trigger(&self, trigger: &EventTrigger) -> Result<()>;
    /// `EventTriggerNotFound` when absent.
    async fn get_event_trigger(&self, id: EventTriggerId) -> Result<EventTrigger>;
    /// By `created_at` then `id`.
    async fn list_event_triggers(&self, scope: &ProjectScope) -> Result<Vec<EventTrigger>>;
    /// How many triggers `project` has.
    async fn count_event_triggers(&self, project: &ProjectId) -> Result<u64>;
    /// Writes every column but the id, project and creation time.
    async fn update_event_trigger(&self, trigger: &EventTrigger) -> Result<()>;
    /// What a consumer reports: writes only the state and the last error.
    async fn set_event_trigger_state(
        &self,
        id: EventTriggerId,
        state: TriggerState,
        last_error: Option<&str>,
    ) -> Result<()>;
    /// `EventTriggerNotFound` when absent.
    async fn delete_event_trigger(&self, id: EventTriggerId) -> Result<()>;

    // Jobs.
    /// `FunctionNotFound` when a function target does not exist.
    async fn create_job(&self, job: &Job) -> Result<()>;
    /// `JobNotFound` when absent.
    async fn get_job(&self, id: JobId) -> Result<Job>;
    /// By `created_at` then `id`.
    async fn list_jobs(&self, scope: &ProjectScope) -> Result<Vec<Job>>;
    /// Writes name, input, pattern, status, next time, count and `updated_at`, only if the
    /// stored status and next time are still `expected` (compare-and-swap against the
    /// scheduler); returns whether it did. `JobNotFound` when absent.
    async fn update_job(&self, job: &Job, expected: (JobStatus, Timestamp)) -> Result<bool>;
    /// `JobNotFound` when absent.
    async fn delete_job(&self, id: JobId) -> Result<()>;
    /// `running` jobs whose next time is at or before `before`, soonest first, every project.
    async fn due_jobs(&self, before: Timestamp) -> Result<Vec<Job>>;
    /// Claims one tick of a job. Compare-and-swap: writes `claim` (and `updated_at`) only if
    /// the job is still `running` with next time `expected_next`; returns whether it did, so
    /// that two schedulers sharing a database never both run a tick.
    async fn claim_job(
        &self,
        id: JobId,
        expected_next: Timestamp,
        claim: &JobClaim,
    ) -> Result<bool>;
}
