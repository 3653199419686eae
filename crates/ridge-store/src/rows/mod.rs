//! How each table's row reads back into the domain, shared by every store: both schemas have
//! the same columns with the same conventions (UUID text ids, fixed-width UTC RFC 3339 text
//! timestamps, JSON text), so only the SQL that writes and selects rows differs per store.

pub(crate) mod aliases;
pub(crate) mod event_triggers;
pub(crate) mod executions;
pub(crate) mod functions;
pub(crate) mod jobs;
pub(crate) mod runtimes;
pub(crate) mod target;
pub(crate) mod tenancy;
pub(crate) mod to_run;
pub(crate) mod versions;
pub(crate) mod webhooks;
