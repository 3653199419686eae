//! The one error of this crate: why the engine did not do what it was asked. The messages are
//! the API's `faultstring`s (Qinling's where clients match on them), so they say what to do.

use std::time::Duration;

use ridge_core::{FunctionId, ProjectId, RuntimeId};
use ridge_package::PackageError;
use ridge_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Package(#[from] PackageError),
    /// Qinling's message.
    #[error("Runtime {id} is not available.")]
    RuntimeUnavailable { id: RuntimeId },
    #[error(
        "quota exceeded: project `{project}` may have at most {max} functions and has {used}; delete a function or ask an admin to raise the `functions` quota"
    )]
    FunctionQuota {
        project: ProjectId,
        max: u64,
        used: u64,
    },
    #[error(
        "quota exceeded: project `{project}` may have at most {max} jobs that can still run and has {used}; delete or cancel a job, or ask an admin to raise the `jobs` quota"
    )]
    JobQuota {
        project: ProjectId,
        max: u64,
        used: u64,
    },
    #[error(
        "quota exceeded: project `{project}` may store at most {max} bytes of packages (zips and what they unpack to), uses {used}, and this package needs {adding}; delete functions or versions, or ask an admin to raise the `package_bytes` quota"
    )]
    PackageQuota {
        project: ProjectId,
        max: u64,
        used: u64,
        adding: u64,
    },
    #[error(
        "quota exceeded: project `{project}` may start at most {per_second} executions a second; retry in {} ms or ask an admin to raise the `executions_per_second` quota",
        .retry_in.as_millis().max(1)
    )]
    RateQuota {
        project: ProjectId,
        per_second: u64,
        retry_in: Duration,
    },
    #[error(
        "quota exceeded: project `{project}` may have at most {max} unfinished executions and has {running}; wait for some to finish or ask an admin to raise the `concurrent_executions` quota"
    )]
    ConcurrencyQuota {
        project: ProjectId,
        max: u64,
        running: u64,
    },
    #[error(
        "too many executions are waiting for a worker ({waiting}, the limit is {limit}): retry later, or raise `max_queue_length`"
    )]
    QueueFull { waiting: usize, limit: usize },
    /// Qinling's message: only a name, description or timeout may change under a running job.
    #[error("The function is still associated with running job(s).")]
    FunctionHasRunningJobs { id: FunctionId },
    /// Qinling's message: the md5 the client sent is the function's current one.
    #[error("The function code checksum is not changed.")]
    ChecksumUnchanged { id: FunctionId },
    /// At start-up: another live node of the same store has this node's name.
    #[error(
        "node name `{name}` is in use by a live node at {address}: give each node its own --node-name (RIDGE_NODE_NAME)"
    )]
    NodeNameInUse { name: String, address: String },
    /// The task recording an execution, or running a sync one, ended without an answer (it
    /// panicked).
    #[error("the execution's task ended without an answer")]
    Lost(#[source] tokio::task::JoinError),
}
