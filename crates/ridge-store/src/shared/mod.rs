//! SQL that both stores run as it is, written once: each module is a macro that a store
//! instantiates for its pool type (as [`crate::nodes`] and [`crate::signatures`] are).

pub(crate) mod arrivals;
pub(crate) mod event_triggers;
pub(crate) mod jobs;
pub(crate) mod quotas;
pub(crate) mod runtime_pools;
pub(crate) mod statistics;
pub(crate) mod webhooks;
