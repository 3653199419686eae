//! Ridge's persistence: the [`Store`] trait that the engine and the API use, and
//! [`SqliteStore`], the embedded implementation (a PostgreSQL one will implement the same trait).
//!
//! The store is the source of truth for every resource and execution. Schema changes are numbered
//! migrations under `migrations/`. This crate knows nothing of HTTP, processes or packages.

mod error;
mod sqlite;

pub use error::StoreError;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use ridge_core::{
    Execution, ExecutionId, ExecutionResult, ExecutionStatus, Filter, Function, FunctionId,
    ProjectId, Runtime, RuntimeId, RuntimeStatus, Timestamp,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionOutcome {
    pub status: ExecutionStatus,
    pub result: ExecutionResult,
    pub logs: String,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
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
    /// `RuntimeInUse` if any function of any project uses it; `RuntimeNotFound` when absent.
    async fn delete_runtime(&self, id: RuntimeId) -> Result<()>;

    // Functions.
    /// `RuntimeNotFound` when its runtime does not exist.
    async fn create_function(&self, function: &Function) -> Result<()>;
    /// `FunctionNotFound` when absent.
    async fn get_function(&self, id: FunctionId) -> Result<Function>;
    /// By `created_at` then `id`.
    async fn list_functions(&self, scope: &ProjectScope) -> Result<Vec<Function>>;
    /// Writes every mutable field (name, description, code, entry, limits, updated_at) as
    /// given; `runtime_id`, `count` and `latest_version` are left alone. `FunctionNotFound`
    /// when absent.
    async fn update_function(&self, function: &Function) -> Result<()>;
    /// Deletes the function and its executions. `FunctionNotFound` when absent.
    async fn delete_function(&self, id: FunctionId) -> Result<()>;

    // Executions.
    /// Inserts the execution and, for `function_version` 0, increments its function's `count`,
    /// in one transaction. `FunctionNotFound` when the function does not exist.
    async fn create_execution(&self, execution: &Execution) -> Result<()>;
    /// `ExecutionNotFound` when absent.
    async fn get_execution(&self, id: ExecutionId) -> Result<Execution>;
    /// By `created_at` then `id`. `InvalidFilter` for a single-valued operator without exactly
    /// one value.
    async fn list_executions(&self, query: &ExecutionQuery) -> Result<Vec<Execution>>;
    /// Records that a worker took the execution. Compare-and-swap: returns false (and changes
    /// nothing) unless the execution is `running` and not yet started, so two engines never
    /// both run one execution. Sets `started_at` and `updated_at` to `at`.
    async fn mark_execution_started(&self, id: ExecutionId, at: Timestamp) -> Result<bool>;
    /// Writes the final status, result and logs, only if it is still `running`; returns whether
    /// it did (an execution deleted or finished meanwhile is left alone). Sets `updated_at`.
    async fn finish_execution(&self, id: ExecutionId, outcome: &ExecutionOutcome) -> Result<bool>;
    /// The captured logs (empty while running). `ExecutionNotFound` when absent.
    async fn get_execution_logs(&self, id: ExecutionId) -> Result<String>;
    /// `ExecutionNotFound` when absent.
    async fn delete_execution(&self, id: ExecutionId) -> Result<()>;
    /// Executions still `running`, oldest first: what a restart must resolve.
    async fn unfinished_executions(&self) -> Result<Vec<Execution>>;
}
