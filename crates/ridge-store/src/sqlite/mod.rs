//! [`SqliteStore`]: the embedded store, one SQLite file in WAL mode, read through a small pool
//! and written on the execution hot path by one writer task that commits in groups
//! ([`crate::writer`]).
//!
//! Each resource's SQL lives in its own module; this one opens the database, runs the
//! migrations and routes the [`Store`] methods.

mod aliases;
pub(crate) mod copy;
mod executions;
mod functions;
/// SQL of the `jobs` table: the same on both stores.
mod native;
#[cfg(test)]
mod plans;
mod jobs {
    crate::shared::jobs::jobs_queries!(sqlx::SqlitePool);
}
mod runtimes;
mod statistics {
    crate::shared::statistics::statistics_queries!(
        sqlx::Sqlite,
        "CAST(json_extract(result, '$.duration') AS REAL)"
    );
}
mod tenancy;
mod to_run_cache;
mod versions;
/// SQL of the `event_triggers` table: the same on both stores.
mod event_triggers {
    crate::shared::event_triggers::event_triggers_queries!(sqlx::SqlitePool, sqlx::Sqlite);
}

/// SQL of the `webhooks` table: the same on both stores.
mod webhooks {
    crate::shared::webhooks::webhooks_queries!(sqlx::SqlitePool);
}
mod writer;

/// The node methods: the same SQL on both stores.
mod nodes {
    crate::nodes::node_queries!(sqlx::SqlitePool);
}

/// Retention: the same SQL on both stores.
mod retention {
    crate::retention::retention_queries!(sqlx::SqlitePool, "");
}

/// Projects' quota overrides: the same SQL on both stores.
mod quotas {
    crate::shared::quotas::quota_queries!(sqlx::SqlitePool);
}

/// Runtimes' pre-started pool sizes: the same SQL on both stores.
mod runtime_pools {
    crate::shared::runtime_pools::runtime_pool_queries!(sqlx::SqlitePool);
}

/// Inter-arrival histograms: the same SQL on both stores.
mod arrivals {
    crate::shared::arrivals::arrival_queries!(sqlx::SqlitePool, sqlx::Sqlite);
}

/// Webhook signatures: the same SQL on both stores.
mod signatures {
    crate::signatures::signature_queries!(sqlx::SqlitePool);
}

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::{
    Alias, AliasName, ArrivalHistogram, EventTrigger, EventTriggerId, Execution, ExecutionId,
    Function, FunctionId, FunctionVersion, Job, JobId, JobStatus, ProjectId, RetentionOverrides,
    Runtime, RuntimeId, RuntimeStatus, Timestamp, TriggerState, VersionId, Webhook, WebhookId,
};
use sqlx::SqlitePool;
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};

use crate::writer::Writer;
use crate::{
    Durability, ExecutionOutcome, ExecutionQuery, ExecutionStatistics, FunctionToRun,
    FunctionUsage, JobClaim, Node, ProjectScope, PurgeBy, PurgeScope, Result, Store, StoreError,
    WriteBatchObserver,
};
use writer::SqliteBatches;

/// How long a connection waits for another writer before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections in the pool, besides the writer's own. WAL lets readers run beside the one
/// writer; the pool also carries the rarer writes (functions, versions, jobs...).
const MAX_CONNECTIONS: u32 = 6;

/// Free pages given back to the file system per [`Store::reclaim_space`] (4 MiB of 4 KiB
/// pages): a short write, so the execution writer never waits long behind it.
const RECLAIM_PAGES: u32 = 1000;

/// `PRAGMA auto_vacuum` of a database in incremental mode.
const AUTO_VACUUM_INCREMENTAL: i64 = 2;

/// The SQLite implementation of [`Store`].
///
/// Executions are created, started and finished by the writer task (group commit: one
/// transaction for every write waiting, see [`crate::writer`]); everything else, reads and the
/// rarer writes, goes through the pool. Readers never wait for the writer (WAL).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    readers: Arc<native::Readers>,
    /// Functions read to run them, until a definition changes; shared by every clone.
    to_run: Arc<to_run_cache::ToRunCache>,
    writer: Writer,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating it and its parent directory if missing) the database at `path` and
    /// brings its schema up to date.
    ///
    /// Settings: incremental auto-vacuum (so purged executions give their space back, see
    /// [`Store::reclaim_space`]; a database created without it is converted by one `VACUUM`
    /// at its first open by this version), WAL journal, `synchronous=NORMAL` (durable across process crashes; a power
    /// loss may lose the last transactions, never corrupt the file), foreign keys on, a 5 s busy
    /// timeout, a pool of a few connections, and one more connection owned by the writer task
    /// (spawned on the current Tokio runtime).
    pub async fn open(path: &Path) -> Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|source| StoreError::CreateDir {
                    path: parent.to_path_buf(),
                    source,
                })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // A pool's commit that starts the WAL over cuts the file back as the writer's does.
            .pragma("journal_size_limit", writer::WAL_LIMIT.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            // A file opened by this process has no network to fail: the ping sqlx sends before
            // lending a connection is one more round trip to the connection's thread per read.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        crate::migrations::SQLITE
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        let auto_vacuum: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(&pool)
            .await?;
        if auto_vacuum != AUTO_VACUUM_INCREMENTAL {
            // A database created before Ridge set incremental auto-vacuum: the mode takes
            // effect only through a VACUUM, which rewrites the file once.
            tracing::info!(path = %path.display(), "converting the database to incremental auto-vacuum (once)");
            sqlx::query("VACUUM").execute(&pool).await?;
        }
        let writer = Writer::spawn(vec![SqliteBatches::new(
            native::connect(path)?,
            pool.clone(),
            path,
        )?]);
        tracing::debug!(path = %path.display(), "opened sqlite store");
        Ok(Self {
            pool,
            readers: Arc::new(native::Readers::new(path)),
            to_run: Arc::default(),
            writer,
            path: path.to_path_buf(),
        })
    }

    /// Awaits `write`, a write to a table the functions kept to run are read from (`functions`,
    /// `runtimes`, `quotas`), then drops them all (`to_run_cache.rs`). Dropped whatever the
    /// outcome, as a failed write may still have changed something.
    async fn changing<T>(&self, write: impl Future<Output = Result<T>>) -> Result<T> {
        let written = write.await;
        self.to_run.changed();
        written
    }

    /// Commits the writes already sent, then closes every connection, checkpointing the WAL.
    /// Dropping every clone of the store also closes it, but without waiting.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    async fn create_runtime(&self, runtime: &Runtime) -> Result<()> {
        self.changing(runtimes::create(&self.pool, runtime)).await
    }

    async fn get_runtime(&self, id: RuntimeId) -> Result<Runtime> {
        runtimes::get(&self.pool, id).await
    }

    async fn list_runtimes(&self, project: &ProjectId) -> Result<Vec<Runtime>> {
        runtimes::list(&self.pool, Some(project)).await
    }

    async fn all_runtimes(&self) -> Result<Vec<Runtime>> {
        runtimes::list(&self.pool, None).await
    }

    async fn update_runtime(&self, runtime: &Runtime) -> Result<()> {
        self.changing(runtimes::update(&self.pool, runtime)).await
    }

    async fn set_runtime_status(&self, id: RuntimeId, status: RuntimeStatus) -> Result<()> {
        self.changing(runtimes::set_status(&self.pool, id, status))
            .await
    }

    async fn runtime_pool_size(&self, id: RuntimeId) -> Result<Option<u32>> {
        runtime_pools::size(&self.pool, id).await
    }

    async fn set_runtime_pool_size(&self, id: RuntimeId, size: Option<u32>) -> Result<()> {
        self.changing(runtime_pools::set_size(&self.pool, id, size))
            .await
    }

    async fn delete_runtime(&self, id: RuntimeId) -> Result<()> {
        self.changing(runtimes::delete(&self.pool, id)).await
    }

    async fn create_function(&self, function: &Function) -> Result<()> {
        self.changing(functions::create(&self.pool, function)).await
    }

    async fn get_function(&self, id: FunctionId) -> Result<Function> {
        functions::get(&self.pool, id).await
    }

    async fn get_function_to_run(&self, id: FunctionId) -> Result<FunctionToRun> {
        if let Some(kept) = self.to_run.get(id) {
            return Ok(kept);
        }
        let at = self.to_run.now();
        let read = self.readers.function_to_run(id)?;
        self.to_run.insert(id, at, read.clone());
        Ok(read)
    }

    async fn list_functions(&self, scope: &ProjectScope) -> Result<Vec<Function>> {
        functions::list(&self.pool, scope).await
    }

    async fn update_function(&self, function: &Function) -> Result<()> {
        self.changing(functions::update(&self.pool, function)).await
    }

    async fn delete_function(&self, id: FunctionId) -> Result<()> {
        self.changing(functions::delete(&self.pool, id)).await
    }

    fn observe_write_batches(&self, observer: WriteBatchObserver) {
        self.writer.observe(observer);
    }

    async fn create_execution(&self, execution: &Execution) -> Result<()> {
        self.writer.create_execution(execution, "").await
    }

    async fn record_execution(&self, execution: &Execution, logs: &str) -> Result<()> {
        self.writer.create_execution(execution, logs).await
    }

    async fn get_execution(&self, id: ExecutionId) -> Result<Execution> {
        self.readers.execution(id)
    }

    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>> {
        executions::list(&self.pool, query).await
    }

    async fn mark_execution_started(
        &self,
        id: ExecutionId,
        node: &str,
        at: Timestamp,
        durability: Durability,
    ) -> Result<bool> {
        self.writer.mark_started(id, node, at, durability).await
    }

    async fn finish_execution(
        &self,
        id: ExecutionId,
        outcome: &ExecutionOutcome,
    ) -> Result<Option<Execution>> {
        self.writer.finish(id, outcome).await
    }

    async fn get_execution_logs(&self, id: ExecutionId) -> Result<String> {
        executions::logs(&self.pool, id).await
    }

    async fn delete_execution(&self, id: ExecutionId) -> Result<()> {
        executions::delete(&self.pool, id).await
    }

    async fn execution_statistics(
        &self,
        scope: &ProjectScope,
        since: Timestamp,
        max_durations: u64,
    ) -> Result<ExecutionStatistics> {
        statistics::statistics(&self.pool, scope, since, max_durations).await
    }

    async fn heartbeat_node(&self, node: &Node, stale_before: Timestamp) -> Result<Option<Node>> {
        nodes::heartbeat(&self.pool, node, stale_before).await
    }

    async fn list_nodes(&self) -> Result<Vec<Node>> {
        nodes::list(&self.pool).await
    }

    async fn remove_stale_nodes(&self, stale_before: Timestamp) -> Result<Vec<String>> {
        nodes::remove_stale(&self.pool, stale_before).await
    }

    async fn remove_node(&self, name: &str, incarnation: &str) -> Result<()> {
        nodes::remove(&self.pool, name, incarnation).await
    }

    async fn node_executions(&self, node: &str) -> Result<Vec<Execution>> {
        nodes::executions_of(&self.pool, node).await
    }

    async fn stranded_executions(&self, limit: u64) -> Result<Vec<Execution>> {
        nodes::stranded(&self.pool, limit).await
    }

    async fn take_execution(&self, id: ExecutionId, from: Option<&str>, to: &str) -> Result<bool> {
        nodes::take(&self.pool, id, from, to).await
    }

    async fn hand_back_executions(&self, node: &str) -> Result<u64> {
        nodes::hand_back(&self.pool, node).await
    }

    async fn add_arrivals(&self, function: FunctionId, arrivals: &ArrivalHistogram) -> Result<()> {
        arrivals::add(&self.pool, function, arrivals).await
    }

    async fn arrival_histogram(&self, function: FunctionId) -> Result<ArrivalHistogram> {
        arrivals::get(&self.pool, function).await
    }

    async fn record_webhook_signature(
        &self,
        webhook: WebhookId,
        signature: &str,
        until: i64,
        now: i64,
    ) -> Result<bool> {
        signatures::record(&self.pool, webhook, signature, until, now).await
    }

    async fn purge_executions(&self, scope: &PurgeScope, by: PurgeBy, limit: u64) -> Result<u64> {
        retention::purge(&self.pool, scope, by, limit).await
    }

    async fn reclaim_space(&self) -> Result<()> {
        sqlx::query(&format!("PRAGMA incremental_vacuum({RECLAIM_PAGES})"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn retention_overrides(&self, project: &ProjectId) -> Result<RetentionOverrides> {
        retention::overrides(&self.pool, project).await
    }

    async fn set_retention_overrides(
        &self,
        project: &ProjectId,
        overrides: &RetentionOverrides,
    ) -> Result<()> {
        retention::set_overrides(&self.pool, project, overrides).await
    }

    async fn all_retention_overrides(&self) -> Result<Vec<(ProjectId, RetentionOverrides)>> {
        retention::all_overrides(&self.pool).await
    }

    async fn function_usage(&self, id: FunctionId) -> Result<FunctionUsage> {
        functions::usage(&self.pool, id).await
    }

    async fn create_version(
        &self,
        function_id: FunctionId,
        id: VersionId,
        description: Option<&str>,
        at: Timestamp,
        max_versions: i64,
    ) -> Result<FunctionVersion> {
        self.changing(versions::create(
            &self.pool,
            function_id,
            id,
            description,
            at,
            max_versions,
        ))
        .await
    }

    async fn get_version(&self, function_id: FunctionId, version: i64) -> Result<FunctionVersion> {
        versions::get(&self.pool, function_id, version).await
    }

    async fn list_versions(&self, function_id: FunctionId) -> Result<Vec<FunctionVersion>> {
        versions::list(&self.pool, function_id).await
    }

    async fn delete_version(&self, function_id: FunctionId, version: i64) -> Result<()> {
        versions::delete(&self.pool, function_id, version).await
    }

    async fn create_alias(&self, alias: &Alias) -> Result<()> {
        aliases::create(&self.pool, alias).await
    }

    async fn get_alias(&self, project: &ProjectId, name: &AliasName) -> Result<Alias> {
        aliases::get(&self.pool, project, name).await
    }

    async fn list_aliases(&self, scope: &ProjectScope) -> Result<Vec<Alias>> {
        aliases::list(&self.pool, scope).await
    }

    async fn update_alias(&self, alias: &Alias) -> Result<()> {
        aliases::update(&self.pool, alias).await
    }

    async fn delete_alias(&self, project: &ProjectId, name: &AliasName) -> Result<()> {
        aliases::delete(&self.pool, project, name).await
    }

    async fn create_webhook(&self, webhook: &Webhook) -> Result<()> {
        webhooks::create(&self.pool, webhook).await
    }

    async fn get_webhook(&self, id: WebhookId) -> Result<Webhook> {
        webhooks::get(&self.pool, id).await
    }

    async fn list_webhooks(&self, scope: &ProjectScope) -> Result<Vec<Webhook>> {
        webhooks::list(&self.pool, scope).await
    }

    async fn update_webhook(&self, webhook: &Webhook) -> Result<()> {
        webhooks::update(&self.pool, webhook).await
    }

    async fn delete_webhook(&self, id: WebhookId) -> Result<()> {
        webhooks::delete(&self.pool, id).await
    }

    async fn create_event_trigger(&self, trigger: &EventTrigger) -> Result<()> {
        event_triggers::create(&self.pool, trigger).await
    }

    async fn get_event_trigger(&self, id: EventTriggerId) -> Result<EventTrigger> {
        event_triggers::get(&self.pool, id).await
    }

    async fn list_event_triggers(&self, scope: &ProjectScope) -> Result<Vec<EventTrigger>> {
        event_triggers::list(&self.pool, scope).await
    }

    async fn count_event_triggers(&self, project: &ProjectId) -> Result<u64> {
        event_triggers::count(&self.pool, project).await
    }

    async fn update_event_trigger(&self, trigger: &EventTrigger) -> Result<()> {
        event_triggers::update(&self.pool, trigger).await
    }

    async fn set_event_trigger_state(
        &self,
        id: EventTriggerId,
        state: TriggerState,
        last_error: Option<&str>,
    ) -> Result<()> {
        event_triggers::set_state(&self.pool, id, state, last_error).await
    }

    async fn delete_event_trigger(&self, id: EventTriggerId) -> Result<()> {
        event_triggers::delete(&self.pool, id).await
    }

    async fn create_job(&self, job: &Job) -> Result<()> {
        jobs::create(&self.pool, job).await
    }

    async fn get_job(&self, id: JobId) -> Result<Job> {
        jobs::get(&self.pool, id).await
    }

    async fn list_jobs(&self, scope: &ProjectScope) -> Result<Vec<Job>> {
        jobs::list(&self.pool, scope).await
    }

    async fn update_job(&self, job: &Job, expected: (JobStatus, Timestamp)) -> Result<bool> {
        jobs::update(&self.pool, job, expected).await
    }

    async fn delete_job(&self, id: JobId) -> Result<()> {
        jobs::delete(&self.pool, id).await
    }

    async fn due_jobs(&self, before: Timestamp) -> Result<Vec<Job>> {
        jobs::due(&self.pool, before).await
    }

    async fn claim_job(
        &self,
        id: JobId,
        expected_next: Timestamp,
        claim: &JobClaim,
    ) -> Result<bool> {
        jobs::claim(&self.pool, id, expected_next, claim).await
    }
}
