//! What a restart does with executions a previous run left `running` (DESIGN.md §5): one that
//! never started is run again; one that had started may have had effects, so it ends `error`
//! with a message that says why.

use std::sync::Arc;

use ridge_core::{ExecutionResult, ExecutionStatus};
use ridge_store::{ExecutionOutcome, StoreError};

use crate::engine::Engine;

pub(crate) const INTERRUPTED: &str =
    "Function execution interrupted: the Ridge server stopped while it ran.";

impl Engine {
    pub(crate) async fn recover(self: &Arc<Self>) -> Result<(), StoreError> {
        let mut requeued = 0usize;
        let mut interrupted = 0usize;
        for execution in self.store.unfinished_executions().await? {
            if execution.started_at.is_some() {
                let outcome = ExecutionOutcome {
                    status: ExecutionStatus::Error,
                    result: ExecutionResult::platform_error(INTERRUPTED),
                    logs: String::new(),
                };
                self.store.finish_execution(execution.id, &outcome).await?;
                interrupted += 1;
                continue;
            }
            match crate::resolve::resolve_stored(self.store.as_ref(), &execution).await {
                Ok((function, runtime)) => {
                    drop(self.submit(execution, function, runtime));
                    requeued += 1;
                }
                Err(e) => {
                    tracing::warn!(execution = %execution.id, error = %e, "cannot requeue execution");
                    let outcome = ExecutionOutcome {
                        status: ExecutionStatus::Error,
                        result: ExecutionResult::platform_error(
                            ridge_core::execution::messages::FAILED,
                        ),
                        logs: String::new(),
                    };
                    self.store.finish_execution(execution.id, &outcome).await?;
                    interrupted += 1;
                }
            }
        }
        if requeued + interrupted > 0 {
            tracing::info!(
                requeued,
                interrupted,
                "resolved executions left running by the last run"
            );
        }
        Ok(())
    }
}
