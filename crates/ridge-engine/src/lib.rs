//! The engine: every execution from its request to its recorded outcome, on warm workers.
//!
//! [`Engine::start`] is the one way an execution begins, whoever asks (the API, a webhook, a
//! job): the target is resolved once (`resolve`), admitted against the project's quotas and
//! this node's queue (`admission`), recorded, and handed to the dispatcher (`dispatch`). It
//! leases a worker from the function version's pool (`pools`; one pool's mechanism is `pool`,
//! its decisions are [`policy`], each function's keep-alive window learned from its calls in
//! `arrivals`), claims the execution, starts a worker if needed, calls it
//! within the function's timeout (one deadline for the cold start and the call), and records
//! the outcome. `recovery` resolves what a crash left `running` and `membership` what a lost node held, [`retention`] purges finished executions past their time, [`jobs`] fires jobs through
//! [`Engine::start`], and `functions` holds the rules for changing a function. [`Engine`]
//! itself is a thin front over these parts.
//!
//! The engine does not parse requests or know HTTP; it does not spawn processes itself (that is
//! the runtime adapters').

mod adapters;
mod admission;
mod arrivals;
mod capacity;
mod coldstarts;
mod dispatch;
mod engine;
mod error;
mod functions;
pub mod jobs;
mod keep_alive;
mod membership;
mod metrics;
mod outcome;
pub mod policy;
mod pool;
mod pools;
mod prestart;
pub mod rate;
mod recovery;
mod request;
mod resolve;
pub mod retention;
mod startup;
#[cfg(test)]
mod testing;

pub use capacity::{host_memory, worker_memory_budget};
pub use engine::{Engine, EngineConfig, NodeCounts};
pub use error::EngineError;
pub use functions::{NewFunction, Upload};
pub use jobs::{JobScheduler, MissedTicks, SchedulerConfig};
pub use membership::NodeConfig;
pub use metrics::openmetrics_to_classic;
pub use policy::KeepAlive;
pub use pools::{PoolStats, WorkerInfo};
pub use prestart::PrestartConfig;
pub use request::{ExecutionRequest, Origin, RunTarget, Started};
pub use retention::RetentionConfig;
pub use ridge_runtime::Prestarted;
pub use ridge_store::Node;
