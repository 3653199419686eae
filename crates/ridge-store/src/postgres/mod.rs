//! [`PostgresStore`]: the store that several `ridge serve` nodes share, one PostgreSQL
//! database reached through a pool of connections.
//!
//! The schema mirrors SQLite's column for column (`migrations-postgres/`, one file per SQLite
//! migration, applied in order under the advisory lock that sqlx's migrator takes, so nodes
//! starting together migrate once), and rows are read by the shared codecs of [`crate::rows`].
//! Each resource's SQL lives in its own module; this one connects, migrates and routes the
//! [`Store`] methods.
//!
//! Nodes coordinate through the rows themselves: every transition that two nodes could race
//! for (an execution starting or finishing, a job's tick) is one compare-and-swap `UPDATE`,
//! which PostgreSQL re-checks against the row as committed by whoever locked it first.
//!
//! The execution hot path (create, start, finish) goes through a writer task, as on SQLite
//! ([`crate::writer`]): it commits whatever is queued in one transaction on a connection of its
//! own, counting a batch's executions on their function once (`postgres::writer`). Without it,
//! each create locked its function's row until its own commit was flushed, so the executions of
//! one function were created one flush at a time, on every node.

mod aliases;
pub(crate) mod copy;
mod executions;
mod functions;
/// SQL of the `jobs` table: the same on both stores.
mod jobs {
    crate::shared::jobs::jobs_queries!(sqlx::PgPool);
}
mod runtimes;
mod statistics {
    crate::shared::statistics::statistics_queries!(
        sqlx::Postgres,
        "CAST(CAST(result AS jsonb) ->> 'duration' AS DOUBLE PRECISION)"
    );
}
mod tenancy;
mod versions;
/// SQL of the `event_triggers` table: the same on both stores.
mod event_triggers {
    crate::shared::event_triggers::event_triggers_queries!(sqlx::PgPool, sqlx::Postgres);
}

/// SQL of the `webhooks` table: the same on both stores.
mod webhooks {
    crate::shared::webhooks::webhooks_queries!(sqlx::PgPool);
}
mod writer;

/// The node methods: the same SQL on both stores.
mod nodes {
    crate::nodes::node_queries!(sqlx::PgPool);
}

/// Retention: the same SQL on both stores.
mod retention {
    crate::retention::retention_queries!(sqlx::PgPool, crate::retention::SKIP_LOCKED);
}

/// A function with what running it needs (`rows::to_run`; SQLite reads it through
/// `sqlite::native`).
mod to_run {
    use ridge_core::FunctionId;
    use sqlx::PgPool;

    use crate::rows::to_run;
    use crate::{FunctionToRun, Result, StoreError};

    pub(super) async fn get(pool: &PgPool, id: FunctionId) -> Result<FunctionToRun> {
        let row = sqlx::query(&to_run::SQL)
            .bind(id.to_string())
            .fetch_optional(pool)
            .await?
            .ok_or(StoreError::FunctionNotFound { id })?;
        to_run::read(&row)
    }
}

/// Projects' quota overrides: the same SQL on both stores.
mod quotas {
    crate::shared::quotas::quota_queries!(sqlx::PgPool);
}

/// Runtimes' pre-started pool sizes: the same SQL on both stores.
mod runtime_pools {
    crate::shared::runtime_pools::runtime_pool_queries!(sqlx::PgPool);
}

/// Inter-arrival histograms: the same SQL on both stores.
mod arrivals {
    crate::shared::arrivals::arrival_queries!(sqlx::PgPool, sqlx::Postgres);
}

/// Webhook signatures: the same SQL on both stores.
mod signatures {
    crate::signatures::signature_queries!(sqlx::PgPool);
}

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use ridge_core::{
    Alias, AliasName, ArrivalHistogram, EventTrigger, EventTriggerId, Execution, ExecutionId,
    Function, FunctionId, FunctionVersion, Job, JobId, JobStatus, ProjectId, RetentionOverrides,
    Runtime, RuntimeId, RuntimeStatus, Timestamp, TriggerState, VersionId, Webhook, WebhookId,
};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use crate::shared_reads::SharedReads;
use crate::url::redact;
use crate::writer::Writer;
use crate::{
    Durability, ExecutionOutcome, ExecutionQuery, ExecutionStatistics, FunctionToRun,
    FunctionUsage, JobClaim, Node, ProjectScope, PurgeBy, PurgeScope, Result, Store, StoreError,
    WriteBatchObserver,
};
use writer::PostgresBatches;

/// Connections per node, besides the writer's ([`WRITERS`]). Each API request holds one for a statement
/// or a short transaction; a few dozen nodes stay well under PostgreSQL's default 100.
const MAX_CONNECTIONS: u32 = 10;

/// Connections of the writer task. It applies one batch at a time, and the next on another
/// connection only when one is stuck ([`crate::writer`]); with four, three batches in a row
/// may wait on other transactions' locks before the node's writes stop.
const WRITERS: u32 = 4;

/// How long a caller waits for a free connection (or for the database to come back) before
/// its request fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection idle longer than this is pinged before it is lent (a round trip that finds one
/// the database or the network dropped, so the pool opens another); one used more recently is
/// lent as it is. sqlx pings every connection it lends by default, one more round trip for
/// each read of the hot path; HikariCP, the JVM's pool, skips its check the same way within
/// 500 ms of a connection's last use.
const PING_IDLE_AFTER: Duration = Duration::from_millis(500);

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    writer: Writer,
    /// The function reads of executions that start at once, shared ([`SharedReads`]).
    to_run: SharedReads<FunctionId, FunctionToRun>,
    /// The URL without its password, for `GET /v1/info`.
    shown: String,
}

impl PostgresStore {
    /// Connects to the database at `url` (libpq's URL form: `sslmode`, `sslrootcert`,
    /// `application_name` and the other parameters are honoured; TLS trusts the system's
    /// roots) and brings its schema up to date.
    ///
    /// One connection is made first, so that an unreachable server or refused credentials
    /// fail at once with the driver's reason ([`StoreError::Connect`]) instead of after the
    /// pool's retries; the migrations run on it. The writer task (spawned on the current Tokio
    /// runtime) has [`WRITERS`] more connections of its own.
    pub async fn connect(url: &str) -> Result<Self> {
        let shown = redact(url);
        let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::InvalidUrl {
            url: shown.clone(),
            detail: source.to_string(),
        })?;
        let options = options.application_name("ridge");
        let mut first = PgConnection::connect_with(&options)
            .await
            .map_err(|source| StoreError::Connect {
                url: shown.clone(),
                source,
            })?;
        crate::migrations::POSTGRES
            .run(&mut first)
            .await
            .map_err(StoreError::Migrate)?;
        if let Err(e) = first.close().await {
            tracing::debug!(error = %e, "cannot close the migration connection cleanly");
        }
        let open = |connections, options: PgConnectOptions| {
            PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for > PING_IDLE_AFTER {
                            conn.ping().await?;
                        }
                        Ok(true)
                    })
                })
                .connect_with(options)
        };
        let connect_error = |source| StoreError::Connect {
            url: shown.clone(),
            source,
        };
        let pool = open(MAX_CONNECTIONS, options.clone())
            .await
            .map_err(&connect_error)?;
        let writes = open(WRITERS, writer::connect_options(options))
            .await
            .map_err(&connect_error)?;
        let writer = Writer::spawn(
            (0..WRITERS)
                .map(|_| PostgresBatches::new(writes.clone()))
                .collect(),
        );
        tracing::debug!(url = %shown, "opened postgres store");
        Ok(Self {
            pool,
            writer,
            to_run: SharedReads::default(),
            shown,
        })
    }

    /// Commits the writes already sent, then closes every connection, waiting for those in use
    /// to come back.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn describe(&self) -> String {
        self.shown.clone()
    }

    async fn create_runtime(&self, runtime: &Runtime) -> Result<()> {
        runtimes::create(&self.pool, runtime).await
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
        runtimes::update(&self.pool, runtime).await
    }

    async fn set_runtime_status(&self, id: RuntimeId, status: RuntimeStatus) -> Result<()> {
        runtimes::set_status(&self.pool, id, status).await
    }

    async fn runtime_pool_size(&self, id: RuntimeId) -> Result<Option<u32>> {
        runtime_pools::size(&self.pool, id).await
    }

    async fn set_runtime_pool_size(&self, id: RuntimeId, size: Option<u32>) -> Result<()> {
        runtime_pools::set_size(&self.pool, id, size).await
    }

    async fn delete_runtime(&self, id: RuntimeId) -> Result<()> {
        runtimes::delete(&self.pool, id).await
    }

    async fn create_function(&self, function: &Function) -> Result<()> {
        functions::create(&self.pool, function).await
    }

    async fn get_function(&self, id: FunctionId) -> Result<Function> {
        functions::get(&self.pool, id).await
    }

    /// Executions of one function that start at once share its read: a read sent after every
    /// one of them came, so each sees the function as it was when it came, or newer.
    async fn get_function_to_run(&self, id: FunctionId) -> Result<FunctionToRun> {
        let pool = self.pool.clone();
        self.to_run
            .get(id, move || {
                let pool = pool.clone();
                async move { to_run::get(&pool, id).await }
            })
            .await
    }

    async fn list_functions(&self, scope: &ProjectScope) -> Result<Vec<Function>> {
        functions::list(&self.pool, scope).await
    }

    async fn update_function(&self, function: &Function) -> Result<()> {
        functions::update(&self.pool, function).await
    }

    async fn delete_function(&self, id: FunctionId) -> Result<()> {
        functions::delete(&self.pool, id).await
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
        executions::get(&self.pool, id).await
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
        versions::create(&self.pool, function_id, id, description, at, max_versions).await
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
