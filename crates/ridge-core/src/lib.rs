//! Ridge's domain model: typed ids, the runtime, function and execution resources, resource
//! limits with Qinling's validation rules, execution input and result shapes, list filters, and
//! the JSON wire types that the API server and the client share, and Qinling's framing of an
//! execution's log.
//!
//! This crate does no IO and knows nothing of tokio, SQL, HTTP or processes: everything here is
//! plain data and pure functions, unit-tested in place.

pub mod alias;
pub mod api;
pub mod arrivals;
pub mod clock;
pub mod error;
pub mod event_trigger;
pub mod execution;
pub mod execution_log;
pub mod filter;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod function;
pub mod ids;
pub mod job;
pub mod json;
pub mod limits;
pub mod notification;
pub mod retention;
pub mod runtime;
pub mod tenancy;
pub mod time;
pub mod version;
pub mod webhook;

pub use alias::{Alias, AliasName, Target};
pub use arrivals::ArrivalHistogram;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::InvalidInput;
pub use event_trigger::{EventSource, EventTrigger, TriggerState};
pub use execution::{Execution, ExecutionInput, ExecutionResult, ExecutionStatus};
pub use filter::{Filter, FilterOp};
pub use function::{Code, Entry, Function, FunctionPatch, NetworkAccess, RunShape};
pub use ids::{
    AliasId, EventTriggerId, ExecutionId, FunctionId, JobId, ProjectId, RuntimeId, VersionId,
    WebhookId,
};
pub use job::{CronPattern, Job, JobStatus};
pub use limits::{Limits, LimitsPolicy};
pub use retention::{Retention, RetentionOverrides};
pub use runtime::{Runtime, RuntimeKind, RuntimeStatus};
pub use tenancy::{ApiToken, Project, Role, TokenId, User, UserId};
pub use time::Timestamp;
pub use version::FunctionVersion;
pub use webhook::Webhook;
