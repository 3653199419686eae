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
