//! Per-project quotas: the number of functions, the bytes of stored packages, executions that
//! have not finished yet, and executions started per second. The limits in force are the
//! server's defaults with the project's overrides from the store (so they hold across
//! restarts); usage comes from the store and the package store, except the rate, which is a
//! token bucket in this node's memory.
//!
//! Past a count or size quota a request gets 403; past the concurrency or rate quota, 429.

use ridge_core::ProjectId;
use ridge_core::tenancy::{Limit, Quotas};

use crate::rate::Buckets;
use crate::{ApiError, AppState};

/// The configured defaults and the per-project rate buckets.
#[derive(Debug, Default)]
pub struct QuotaPolicy {
    pub defaults: Quotas,
    rates: Buckets<ProjectId>,
}

impl QuotaPolicy {
    pub fn new(defaults: Quotas) -> Self {
        Self {
            defaults,
            rates: Buckets::default(),
        }
    }
}

/// The quotas in force for `project`.
pub async fn in_force(state: &AppState, project: &ProjectId) -> Result<Quotas, ApiError> {
    let overrides = state.store.quota_overrides(project).await?;
    Ok(overrides.over(&state.quotas.defaults))
}

/// Before creating a function with a package of `package_len` bytes.
pub async fn admit_function(
    state: &AppState,
    project: &ProjectId,
    package_len: usize,
) -> Result<(), ApiError> {
    let quotas = in_force(state, project).await?;
    if let Limit::At(max) = quotas.functions {
        let used = state.store.project_usage(project).await?.functions;
        if !quotas.functions.allows(used, 1) {
            return Err(ApiError::Forbidden(format!(
                "quota exceeded: project `{project}` may have at most {max} functions and has {used}; delete a function or ask an admin to raise the `functions` quota"
            )));
        }
    }
    admit_package(state, project, &quotas, package_len).await
}

/// Before storing a new package of `package_len` bytes for an existing function.
pub async fn admit_package_update(
    state: &AppState,
    project: &ProjectId,
    package_len: usize,
) -> Result<(), ApiError> {
    let quotas = in_force(state, project).await?;
    admit_package(state, project, &quotas, package_len).await
}

async fn admit_package(
    state: &AppState,
    project: &ProjectId,
    quotas: &Quotas,
    package_len: usize,
) -> Result<(), ApiError> {
    let Limit::At(max) = quotas.package_bytes else {
        return Ok(());
    };
    let used = state.packages.project_bytes(project).await?;
    let adding = u64::try_from(package_len).unwrap_or(u64::MAX);
    if quotas.package_bytes.allows(used, adding) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "quota exceeded: project `{project}` may store at most {max} bytes of packages, uses {used}, and this package has {adding}; delete functions or versions, or ask an admin to raise the `package_bytes` quota"
        )))
    }
}

/// Before starting an execution of `project` (API, webhook): 429 past its concurrency or rate.
pub async fn admit_execution(state: &AppState, project: &ProjectId) -> Result<(), ApiError> {
    let quotas = in_force(state, project).await?;
    if let Limit::At(per_sec) = quotas.executions_per_second {
        // A bucket of one second's worth: bursts up to the rate, refilled at the rate.
        let rate = per_sec as f64;
        if let Err(wait) =
            state
                .quotas
                .rates
                .take(project.clone(), rate, rate, state.clock.instant())
        {
            return Err(ApiError::TooManyRequests(format!(
                "quota exceeded: project `{project}` may start at most {per_sec} executions a second; retry in {} ms or ask an admin to raise the `executions_per_second` quota",
                wait.as_millis().max(1)
            )));
        }
    }
    if let Limit::At(max) = quotas.concurrent_executions {
        let running = state
            .store
            .project_usage(project)
            .await?
            .unfinished_executions;
        if !quotas.concurrent_executions.allows(running, 1) {
            return Err(ApiError::TooManyRequests(format!(
                "quota exceeded: project `{project}` may have at most {max} unfinished executions and has {running}; wait for some to finish or ask an admin to raise the `concurrent_executions` quota"
            )));
        }
    }
    Ok(())
}
