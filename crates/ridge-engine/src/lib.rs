//! The engine: runs executions on warm workers.
//!
//! It keeps one [`pool`] of warm workers per (function, version), starts workers on demand up to
//! a limit, hands each execution to a free worker, enforces the function's timeout by killing
//! the worker's process tree, records the outcome in the store, and releases workers that stay
//! idle. Async executions are rows in the store before they are queued here, and [`recovery`]
//! resolves what a crash left `running`. The decisions (start another worker? release this
//! one?) live in [`policy`], apart from the mechanism.
//!
//! The engine does not parse requests or know HTTP; it does not spawn processes itself (that is
//! `ridge-runtime`).

mod adapters;
mod admission;
mod capacity;
mod dispatch;
mod engine;
mod error;
mod functions;
pub mod jobs;
mod metrics;
mod outcome;
pub mod policy;
mod pool;
mod pools;
pub mod rate;
mod recovery;
mod request;
mod resolve;
#[cfg(test)]
mod testing;

pub use capacity::{host_memory, worker_memory_budget};
pub use engine::{Engine, EngineConfig};
pub use error::EngineError;
pub use functions::{NewFunction, Upload};
pub use jobs::{JobScheduler, MissedTicks, SchedulerConfig};
pub use pools::{PoolStats, WorkerInfo};
pub use request::{ExecutionRequest, Origin, RunTarget, Started};
