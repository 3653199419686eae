//! Sync executions run before they are recorded: one write, complete, instead of a create, a
//! claim and a finish.
//!
//! A sync execution whose caller waits for its outcome (and whose project's concurrency quota
//! does not count `running` rows, see `Engine::start`) is run first and written once when it
//! ends within [`RECORD_RUNNING_AFTER`] of its arrival, whether it found an idle worker at once
//! ([`Dispatcher::run_warm`]), waited for one or had one started ([`Dispatcher::run_sync`]).
//! One that takes longer is recorded `running` then, so that it shows in listings and a lost
//! node's takeover ends it like any other, and finished as any other. A node that crashes
//! before the write loses an execution whose caller was never answered, and whose id nobody
//! was told.

use std::future::Future;
use std::sync::Arc;

use ridge_core::{Execution, Function, Runtime};
use ridge_store::ExecutionOutcome;
use tokio::time::Instant;

use super::{Counted, Deadline, Dispatcher, RECORD_RUNNING_AFTER};
use crate::outcome;
use crate::pool::Lease;

impl Dispatcher {
    /// Runs a sync execution that holds a warm worker and is not recorded yet, and returns it
    /// as stored (its `started_at` is set: it had its worker at once). The caller runs this in
    /// a task of its own, so that a sync caller that goes away does not abandon it.
    pub async fn run_warm(
        self: &Arc<Self>,
        execution: Execution,
        function: &Function,
        lease: Lease,
    ) -> Execution {
        let _in_flight = self.at_once();
        let record_at = Instant::now() + RECORD_RUNNING_AFTER;
        let deadline = Deadline::from_now(function.limits.timeout);
        let run = self.invoke(lease, &execution, function, deadline);
        let (outcome, recorded) = self.ran_or_recorded(&execution, run, record_at).await;
        self.conclude(execution, function, outcome, recorded).await
    }

    /// Runs a sync execution that is not recorded yet and found no idle worker: it waits for
    /// a slot in the queue as a recorded one does (at most `max_queue_wait`), a worker is
    /// started into it when it has none, and it is recorded once when all that ends within
    /// [`RECORD_RUNNING_AFTER`]. Still waiting then, it is recorded `running` and runs on as
    /// a queued execution. Returns it as stored; the caller runs this in a task of its own.
    pub async fn run_sync(
        self: &Arc<Self>,
        mut execution: Execution,
        function: &Function,
        runtime: &Runtime,
    ) -> Execution {
        let _in_flight = Counted::new(&self.load.in_flight);
        let record_at = Instant::now() + RECORD_RUNNING_AFTER;
        let Some(adapter) = self.adapters.for_runtime(runtime) else {
            tracing::error!(execution = %execution.id, image = %runtime.image, "no runtime adapter for this image");
            return self
                .record(execution, function, outcome::platform_error())
                .await;
        };
        let waiting = Counted::new(&self.load.waiting);
        let mut recorded = false;
        let slot = {
            let slot = self.slot(waiting, &execution, function, runtime);
            tokio::pin!(slot);
            tokio::select! {
                biased;
                slot = &mut slot => slot,
                () = tokio::time::sleep_until(record_at) => {
                    match self.store.create_execution(&execution).await {
                        Ok(()) => recorded = true,
                        Err(e) => tracing::warn!(execution = %execution.id, error = %e, "cannot record a waiting sync execution"),
                    }
                    slot.await
                }
            }
        };
        if recorded {
            // As any queued execution: claimed while it runs, finished.
            let outcome = self
                .claim_and_run(slot, &adapter, &execution, function)
                .await;
            return self.conclude_recorded(execution, function, outcome).await;
        }
        let Some((lease, starting)) = slot else {
            let waited = self.config.max_queue_wait;
            let outcome = outcome::capacity_exhausted(waited);
            return self.record(execution, function, outcome).await;
        };
        execution.started_at = Some(ridge_core::time::now());
        let run = self.run_leased(lease, starting, &adapter, &execution, function);
        let (outcome, recorded) = self.ran_or_recorded(&execution, run, record_at).await;
        self.conclude(execution, function, outcome, recorded).await
    }

    /// Awaits `run`; should it not be done at `record_at`, records the execution `running`
    /// meanwhile (while `run` goes on). The outcome, and whether the execution was recorded.
    async fn ran_or_recorded(
        &self,
        execution: &Execution,
        run: impl Future<Output = ExecutionOutcome>,
        record_at: Instant,
    ) -> (ExecutionOutcome, bool) {
        tokio::pin!(run);
        tokio::select! {
            biased;
            outcome = &mut run => (outcome, false),
            () = tokio::time::sleep_until(record_at) => {
                let (created, outcome) =
                    tokio::join!(self.store.create_execution(execution), run);
                if let Err(e) = created {
                    tracing::warn!(execution = %execution.id, error = %e, "cannot record a running sync execution");
                }
                (outcome, true)
            }
        }
    }

    /// Writes the outcome: a finish of the recorded row, or the one complete record.
    async fn conclude(
        &self,
        execution: Execution,
        function: &Function,
        outcome: ExecutionOutcome,
        recorded: bool,
    ) -> Execution {
        if recorded {
            self.finish(execution, function, outcome).await
        } else {
            self.record(execution, function, outcome).await
        }
    }
}
