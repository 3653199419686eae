//! What a restart does with executions a previous run left `running` (DESIGN.md §5): one that
//! never started is run again; one that had started may have had effects, so it ends `error`
//! with a message that says why.

use std::sync::Arc;

use ridge_core::{ExecutionResult, ExecutionStatus};
use ridge_store::{ExecutionOutcome, Store, StoreError};

use crate::dispatch::Dispatcher;
use crate::resolve::resolve_stored;

pub(crate) const INTERRUPTED: &str =
    "Function execution interrupted: the Ridge server stopped while it ran.";

pub(crate) async fn recover(
    store: &dyn Store,
    dispatcher: &Arc<Dispatcher>,
) -> Result<(), StoreError> {
    let mut requeued = 0usize;
    let mut interrupted = 0usize;
    for execution in store.unfinished_executions().await? {
        if execution.started_at.is_some() {
            store
                .finish_execution(execution.id, &ended(INTERRUPTED))
                .await?;
            interrupted += 1;
            continue;
        }
        match resolve_stored(store, &execution).await {
            Ok((function, runtime)) => {
                drop(dispatcher.submit(execution, function, runtime));
                requeued += 1;
            }
            Err(e) => {
                tracing::warn!(execution = %execution.id, error = %e, "cannot requeue execution");
                let failed = ended(ridge_core::execution::messages::FAILED);
                store.finish_execution(execution.id, &failed).await?;
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

/// An `error` outcome with `message`.
fn ended(message: &str) -> ExecutionOutcome {
    ExecutionOutcome {
        status: ExecutionStatus::Error,
        result: ExecutionResult::platform_error(message),
        logs: String::new(),
    }
}
