//! How the SQLite store applies a batch of the writer's ([`crate::writer`]) writes: one
//! `BEGIN IMMEDIATE` transaction on the writer's own connection, each write's statements in
//! turn (SQLite has one writer at a time, so there are no row locks to order).

use async_trait::async_trait;
use sqlx::{Connection, SqliteConnection};

use super::executions;
use crate::writer::{ApplyBatch, Done, Write};
use crate::{Result, StoreError};

/// The writer's connection.
pub(super) struct SqliteBatches(pub(super) SqliteConnection);

#[async_trait]
impl ApplyBatch for SqliteBatches {
    async fn apply(&mut self, writes: &[&Write]) -> Result<Vec<Result<Done>>> {
        if let [write] = writes {
            return match alone(&mut self.0, write).await {
                Err(e @ StoreError::Database(_)) => Err(e),
                result => Ok(vec![result]),
            };
        }
        let mut tx = self.0.begin_with("BEGIN IMMEDIATE").await?;
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            match apply(&mut tx, write).await {
                Err(e @ StoreError::Database(_)) => return Err(e),
                // Any other error left nothing behind (`executions::create`).
                result => results.push(result),
            }
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn close(self) {
        if let Err(e) = self.0.close().await {
            tracing::warn!(error = %e, "cannot close the store's write connection cleanly");
        }
    }
}

/// A write alone in its batch (every write at concurrency 1) as one message to the
/// connection's thread, not one each for `BEGIN`, each statement and `COMMIT`: a start or a
/// finish is one statement, atomic on its own; a create of version 0 one multi-statement query
/// ([`executions::create_alone`]). A version's create keeps its transaction.
async fn alone(conn: &mut SqliteConnection, write: &Write) -> Result<Done> {
    match write {
        Write::CreateExecution(new) if new.execution.function_version == 0 => {
            executions::create_alone(conn, &new.execution, &new.logs)
                .await
                .map(|()| Done::Created)
        }
        Write::CreateExecution(_) => {
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let done = apply(&mut tx, write).await?;
            tx.commit().await?;
            Ok(done)
        }
        Write::MarkStarted { .. } | Write::Finish { .. } => apply(conn, write).await,
    }
}

async fn apply(conn: &mut SqliteConnection, write: &Write) -> Result<Done> {
    match write {
        Write::CreateExecution(new) => executions::create(conn, &new.execution, &new.logs)
            .await
            .map(|()| Done::Created),
        // SQLite's commits do not wait for the disk: every write is deferred already.
        Write::MarkStarted { id, node, at, .. } => executions::mark_started(conn, *id, node, *at)
            .await
            .map(Done::Swapped),
        Write::Finish { id, outcome } => executions::finish(conn, *id, outcome)
            .await
            .map(|row| Done::Finished(row.map(Box::new))),
    }
}
