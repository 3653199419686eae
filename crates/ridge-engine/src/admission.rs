//! Admission: every quota and limit a request must pass before anything is written, in one
//! place for every way in (the API, webhooks, jobs).
//!
//! Per project: the number of functions, of jobs that may still run, and the bytes of stored packages (403 at the API),
//! executions not finished yet and executions started per second (429). The limits in force are
//! the server's defaults with the project's overrides from the store, so they hold across
//! restarts; usage comes from the store and the package store, except the rate, which is a
//! token bucket in each node's memory refilled at the node's share of the rate. All nodes
//! together: at most `max_queue_length` executions wait for a worker.

use std::sync::Arc;

use ridge_core::tenancy::{Limit, QuotaOverrides, Quotas};
use ridge_core::{Clock, ProjectId};
use ridge_package::PackageStore;
use ridge_store::Store;

use crate::error::EngineError;
use crate::rate::Buckets;

/// The queue an execution joins, across the nodes sharing the store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodesLoad {
    /// Executions waiting for a worker: this node's now, the others' at their last heartbeat.
    pub waiting: usize,
    /// `max_queue_length`: the most that may wait, all nodes together.
    pub max_queue: usize,
    /// Live nodes, this one included: each admits its share of a project's rate.
    pub nodes: usize,
}

/// The configured quota defaults and the per-project rate buckets.
#[derive(Debug)]
pub(crate) struct Admission {
    defaults: Quotas,
    rates: Buckets<ProjectId>,
    /// What the rate buckets refill by.
    clock: Arc<dyn Clock>,
}

impl Admission {
    pub fn new(defaults: Quotas, clock: Arc<dyn Clock>) -> Self {
        Self {
            defaults,
            rates: Buckets::default(),
            clock,
        }
    }

    /// The quotas in force for `project`.
    pub async fn in_force(
        &self,
        store: &dyn Store,
        project: &ProjectId,
    ) -> Result<Quotas, EngineError> {
        let overrides = store.quota_overrides(project).await?;
        Ok(overrides.over(&self.defaults))
    }

    /// Before creating a function with a package that takes `package_bytes` on disk (zip and
    /// unpacked copy).
    pub async fn admit_function(
        &self,
        store: &dyn Store,
        packages: &dyn PackageStore,
        project: &ProjectId,
        package_bytes: u64,
    ) -> Result<(), EngineError> {
        let quotas = self.in_force(store, project).await?;
        if let Limit::At(max) = quotas.functions {
            let used = store.project_usage(project).await?.functions;
            if !quotas.functions.allows(used, 1) {
                return Err(EngineError::FunctionQuota {
                    project: project.clone(),
                    max,
                    used,
                });
            }
        }
        admit_package(packages, project, &quotas, package_bytes).await
    }

    /// Before storing a new package taking `package_bytes` on disk for an existing function.
    pub async fn admit_package(
        &self,
        store: &dyn Store,
        packages: &dyn PackageStore,
        project: &ProjectId,
        package_bytes: u64,
    ) -> Result<(), EngineError> {
        let quotas = self.in_force(store, project).await?;
        admit_package(packages, project, &quotas, package_bytes).await
    }

    /// Before creating a job: the project's `jobs` quota (jobs that may still run).
    pub async fn admit_job(
        &self,
        store: &dyn Store,
        project: &ProjectId,
    ) -> Result<(), EngineError> {
        let quotas = self.in_force(store, project).await?;
        if let Limit::At(max) = quotas.jobs {
            let used = store.project_usage(project).await?.jobs;
            if !quotas.jobs.allows(used, 1) {
                return Err(EngineError::JobQuota {
                    project: project.clone(),
                    max,
                    used,
                });
            }
        }
        Ok(())
    }

    /// Before recording an execution of `project`, whatever its origin: its rate and
    /// concurrency quotas, then the queue of every node (`load`). The project's overrides are
    /// read unless given (`overrides`, read with the function). The quotas in force when it is
    /// admitted.
    pub async fn admit_execution(
        &self,
        store: &dyn Store,
        project: &ProjectId,
        overrides: Option<QuotaOverrides>,
        load: NodesLoad,
    ) -> Result<Quotas, EngineError> {
        let quotas = match overrides {
            Some(overrides) => overrides.over(&self.defaults),
            None => self.in_force(store, project).await?,
        };
        if let Limit::At(per_second) = quotas.executions_per_second {
            // A bucket of one second's worth: bursts up to the rate, refilled at the rate. With
            // several nodes each refills at its share, so that together they keep to the rate
            // (a burst may take one call per node more).
            let (burst, rate) = crate::rate::share(per_second as f64, load.nodes);
            if let Err(retry_in) =
                self.rates
                    .take(project.clone(), burst, rate, self.clock.instant())
            {
                return Err(EngineError::RateQuota {
                    project: project.clone(),
                    per_second,
                    retry_in,
                });
            }
        }
        if let Limit::At(max) = quotas.concurrent_executions {
            let running = store.project_usage(project).await?.unfinished_executions;
            if !quotas.concurrent_executions.allows(running, 1) {
                return Err(EngineError::ConcurrencyQuota {
                    project: project.clone(),
                    max,
                    running,
                });
            }
        }
        if load.waiting >= load.max_queue {
            return Err(EngineError::QueueFull {
                waiting: load.waiting,
                limit: load.max_queue,
            });
        }
        Ok(quotas)
    }
}

async fn admit_package(
    packages: &dyn PackageStore,
    project: &ProjectId,
    quotas: &Quotas,
    package_bytes: u64,
) -> Result<(), EngineError> {
    let Limit::At(max) = quotas.package_bytes else {
        return Ok(());
    };
    let used = packages.project_bytes(project).await?;
    let adding = package_bytes;
    if quotas.package_bytes.allows(used, adding) {
        Ok(())
    } else {
        Err(EngineError::PackageQuota {
            project: project.clone(),
            max,
            used,
            adding,
        })
    }
}
