//! What becomes of executions left `running` by a node that is gone (DESIGN.md §5,
//! docs/scale-out.md): this node's own previous run, or another node that stopped or was lost.
//! One that never started is run again (here, after this node takes it); one that had started
//! may have had effects, so it ends `error` with a message that says why.

use std::sync::Arc;

use ridge_core::{Execution, ExecutionResult, ExecutionStatus};
use ridge_store::{ExecutionOutcome, Store, StoreError};

use crate::dispatch::Dispatcher;
use crate::resolve::resolve_stored;

pub(crate) const INTERRUPTED: &str =
    "Function execution interrupted: the Ridge server stopped while it ran.";

/// For an execution that had started on `node` when it was lost or stopped.
fn lost(node: &str) -> String {
    format!("Function execution interrupted: Ridge node `{node}` stopped or was lost while it ran.")
}

/// At start-up: what this node's previous run (same name) left `running`.
pub(crate) async fn recover_own(
    store: &dyn Store,
    dispatcher: &Arc<Dispatcher>,
    node: &str,
) -> Result<(), StoreError> {
    let mut requeued = 0usize;
    let mut interrupted = 0usize;
    for execution in store.node_executions(node).await? {
        if execution.started_at.is_some() {
            store
                .finish_execution(execution.id, &ended(INTERRUPTED))
                .await?;
            interrupted += 1;
        } else if requeue(store, dispatcher, execution).await? {
            requeued += 1;
        } else {
            interrupted += 1;
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

/// Resolves up to `limit` executions that no live node holds: ends the ones that had started,
/// and takes (compare-and-swap) and runs at most `room` of the ones that had not.
pub(crate) async fn take_stranded(
    store: &dyn Store,
    dispatcher: &Arc<Dispatcher>,
    me: &str,
    limit: u64,
    mut room: usize,
) -> Result<(), StoreError> {
    let (mut taken, mut ended_lost) = (0usize, 0usize);
    for mut execution in store.stranded_executions(limit).await? {
        let from = execution.node.take();
        if execution.started_at.is_some() {
            let message = match &from {
                Some(node) => lost(node),
                None => INTERRUPTED.to_owned(),
            };
            if store
                .finish_execution(execution.id, &ended(&message))
                .await?
                .is_some()
            {
                ended_lost += 1;
            }
            continue;
        }
        if room == 0
            || !store
                .take_execution(execution.id, from.as_deref(), me)
                .await?
        {
            continue;
        }
        room -= 1;
        execution.node = Some(me.to_owned());
        requeue(store, dispatcher, execution).await?;
        taken += 1;
    }
    if taken + ended_lost > 0 {
        tracing::info!(
            taken,
            ended = ended_lost,
            "resolved executions of nodes that stopped or were lost"
        );
    }
    Ok(())
}

/// Runs an execution that has not started on this node; false when its function or runtime
/// is gone, and then it ends `error`.
async fn requeue(
    store: &dyn Store,
    dispatcher: &Arc<Dispatcher>,
    execution: Execution,
) -> Result<bool, StoreError> {
    match resolve_stored(store, &execution).await {
        Ok((function, runtime)) => {
            drop(dispatcher.submit(execution, function, runtime));
            Ok(true)
        }
        Err(e) => {
            tracing::warn!(execution = %execution.id, error = %e, "cannot requeue execution");
            let failed = ended(ridge_core::execution::messages::FAILED);
            store.finish_execution(execution.id, &failed).await?;
            Ok(false)
        }
    }
}

/// An `error` outcome with `message`.
fn ended(message: &str) -> ExecutionOutcome {
    ExecutionOutcome {
        status: ExecutionStatus::Error,
        result: ExecutionResult::platform_error(message),
        logs: String::new(),
    }
}
