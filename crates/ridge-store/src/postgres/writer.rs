//! How the PostgreSQL store applies a batch of the writer's ([`crate::writer`]) writes: one
//! transaction on the writer's own connection, in which
//!
//! * the batch's creates are counted once per function and version (`count = count + n`) and
//!   inserted in one statement ([`executions::create_batch`]), so a function's hot row is
//!   locked once per batch, not once per execution, and its lock is held for one commit flush
//!   shared by the whole batch;
//! * the starts and finishes follow, one compare-and-swap `UPDATE` each, ordered by execution
//!   id (a write's order among those of the same execution is kept).
//!
//! Several nodes run such a writer on one database. Each takes its row locks in one order
//! (functions, versions, then executions, each by id), so their batches wait for one another
//! rather than deadlock; should PostgreSQL still report a deadlock or a serialization failure,
//! the batch is rolled back and applied again, up to [`ATTEMPTS`] times.

use async_trait::async_trait;
use ridge_core::Execution;
use sqlx::PgPool;

use super::executions;
use crate::writer::{ApplyBatch, Done, Write};
use crate::{Result, StoreError};

/// Most times one batch is applied when PostgreSQL aborts it for a deadlock or a
/// serialization failure.
const ATTEMPTS: u32 = 5;

/// The writer's connection: a pool of one, so that a connection lost with the database is
/// opened again for the next batch.
pub(super) struct PostgresBatches(pub(super) PgPool);

#[async_trait]
impl ApplyBatch for PostgresBatches {
    async fn apply(&mut self, writes: &[&Write]) -> Result<Vec<Result<Done>>> {
        let mut attempt = 1;
        loop {
            match self.apply_once(writes).await {
                Err(StoreError::Database(e)) if attempt < ATTEMPTS && is_transient(&e) => {
                    tracing::debug!(error = %e, attempt, "a batch of writes is applied again");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn close(self) {
        self.0.close().await;
    }
}

impl PostgresBatches {
    async fn apply_once(&self, writes: &[&Write]) -> Result<Vec<Result<Done>>> {
        let mut tx = match self.0.begin().await {
            Ok(tx) => tx,
            // No connection (the database is unreachable, the pool timed out waiting for
            // it): no write of the batch can be applied, and trying them one at a time would
            // make each wait as long again, so every caller is told at once.
            Err(e @ (sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)) => {
                tracing::warn!(error = %e, writes = writes.len(), "no connection for a batch of writes");
                let unavailable = || match e {
                    sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
                    _ => sqlx::Error::PoolTimedOut,
                };
                return Ok(writes
                    .iter()
                    .map(|_| Err(StoreError::Database(unavailable())))
                    .collect());
            }
            Err(e) => return Err(e.into()),
        };
        let mut results: Vec<Option<Result<Done>>> = writes.iter().map(|_| None).collect();
        let creates: Vec<(usize, &Execution)> = writes
            .iter()
            .enumerate()
            .filter_map(|(i, write)| match write {
                Write::CreateExecution(execution) => Some((i, &**execution)),
                Write::MarkStarted { .. } | Write::Finish { .. } => None,
            })
            .collect();
        let executions: Vec<&Execution> = creates.iter().map(|(_, e)| *e).collect();
        let created = executions::create_batch(&mut tx, &executions).await?;
        for ((i, _), result) in creates.iter().zip(created) {
            results[*i] = Some(result.map(|()| Done::Created));
        }
        let mut swaps: Vec<(usize, &Write)> = writes.iter().copied().enumerate().collect();
        swaps.sort_by_key(|(_, write)| write.execution_id());
        for (i, write) in swaps {
            let done = match write {
                Write::MarkStarted { id, node, at } => {
                    Done::Swapped(executions::mark_started(&mut tx, *id, node, *at).await?)
                }
                Write::Finish { id, outcome } => Done::Finished(
                    executions::finish(&mut tx, *id, outcome)
                        .await?
                        .map(Box::new),
                ),
                // Counted and inserted above.
                Write::CreateExecution(_) => continue,
            };
            results[i] = Some(Ok(done));
        }
        tx.commit().await?;
        Ok(results
            .into_iter()
            .map(|result| result.unwrap_or(Err(StoreError::WriterStopped)))
            .collect())
    }
}

/// Whether PostgreSQL aborted the transaction for a deadlock (`40P01`) or a serialization
/// failure (`40001`): applying it again may well succeed.
fn is_transient(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}
