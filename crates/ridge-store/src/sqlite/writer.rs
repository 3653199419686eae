//! The writer: one task that owns the store's write connection and commits the execution hot
//! path (execution rows and the counters they bump) in groups.
//!
//! Callers send a [`Write`] and await their own answer. The task takes the first write waiting,
//! then every other write already queued (up to [`MAX_BATCH`]), applies them in one
//! transaction, commits once and answers each caller. There is no timer: a lone write is
//! committed at once, and the writes that arrive while a commit is under way form the next
//! batch, so batches grow with the load and an idle store adds no latency.
//!
//! One write must not fail another. A failed compare-and-swap is not an error (it is answered
//! `false`, or no row for a finish). Each write is shaped so that its expected failures (a missing function or version)
//! happen before it has changed anything, so the batch carries on without it. Any other error
//! (disk full, I/O, a busy database) rolls the batch back, and its writes are retried one
//! transaction each, so that only the write that fails sees the error.

use std::sync::{Arc, RwLock};

use ridge_core::{Execution, ExecutionId, Timestamp};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use super::executions;
use crate::{ExecutionOutcome, Result, StoreError, WriteBatchObserver};

/// Most writes in one transaction. Large enough that a burst of a few hundred concurrent
/// executions commits in one or two transactions; small enough that one commit stays short.
const MAX_BATCH: usize = 256;

/// Writes waiting for the task; past this, callers wait to enqueue (back-pressure).
const QUEUE: usize = 4096;

/// One write of the hot path.
pub(super) enum Write {
    CreateExecution(Box<Execution>),
    MarkStarted {
        id: ExecutionId,
        node: String,
        at: Timestamp,
    },
    Finish {
        id: ExecutionId,
        outcome: Box<ExecutionOutcome>,
    },
}

/// What a write did: `Swapped(false)` and `Finished(None)` are compare-and-swaps that found
/// the row changed.
enum Done {
    Created,
    Swapped(bool),
    Finished(Option<Box<Execution>>),
}

impl Done {
    /// The row a finish wrote (other writes return none).
    fn into_row(self) -> Option<Execution> {
        match self {
            Done::Finished(row) => row.map(|row| *row),
            Done::Created | Done::Swapped(_) => None,
        }
    }
}

enum Message {
    Write {
        write: Write,
        reply: oneshot::Sender<Result<Done>>,
    },
    /// Commit what came before, close the connection, then acknowledge.
    Close(oneshot::Sender<()>),
}

/// The observer of batch sizes, replaceable after the store is open.
type Observer = Arc<RwLock<Option<WriteBatchObserver>>>;

/// A handle on the writer task; cheap to clone. The task ends when every handle is dropped or
/// on [`Writer::close`].
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Message>,
    observer: Observer,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the task on the current Tokio runtime; it owns `conn` from now on.
    pub(super) fn spawn(conn: SqliteConnection) -> Self {
        let (queue, messages) = mpsc::channel(QUEUE);
        let observer = Observer::default();
        tokio::spawn(run(conn, messages, observer.clone()));
        Self { queue, observer }
    }

    pub(super) fn observe(&self, observer: WriteBatchObserver) {
        *self
            .observer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(observer);
    }

    pub(super) async fn create_execution(&self, execution: &Execution) -> Result<()> {
        self.send(Write::CreateExecution(Box::new(execution.clone())))
            .await
            .map(|_| ())
    }

    pub(super) async fn mark_started(
        &self,
        id: ExecutionId,
        node: &str,
        at: Timestamp,
    ) -> Result<bool> {
        self.swap(Write::MarkStarted {
            id,
            node: node.to_owned(),
            at,
        })
        .await
    }

    pub(super) async fn finish(
        &self,
        id: ExecutionId,
        outcome: &ExecutionOutcome,
    ) -> Result<Option<Execution>> {
        let write = Write::Finish {
            id,
            outcome: Box::new(outcome.clone()),
        };
        Ok(self.send(write).await?.into_row())
    }

    /// Commits every write sent before, then closes the write connection. Later writes fail
    /// with [`StoreError::WriterStopped`].
    pub(super) async fn close(&self) {
        let (ack, done) = oneshot::channel();
        if self.queue.send(Message::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    async fn swap(&self, write: Write) -> Result<bool> {
        match self.send(write).await? {
            Done::Swapped(swapped) => Ok(swapped),
            Done::Created => Ok(true),
            Done::Finished(row) => Ok(row.is_some()),
        }
    }

    async fn send(&self, write: Write) -> Result<Done> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Message::Write { write, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

type Pending = (Write, oneshot::Sender<Result<Done>>);

async fn run(
    mut conn: SqliteConnection,
    mut messages: mpsc::Receiver<Message>,
    observer: Observer,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = messages.recv().await {
        let mut closing = None;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Write { write, reply } => batch.push((write, reply)),
                Message::Close(ack) => {
                    closing = Some(ack);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = messages.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit(&mut conn, &mut batch, &observer).await;
        }
        if let Some(ack) = closing {
            if let Err(e) = conn.close().await {
                tracing::warn!(error = %e, "cannot close the store's write connection cleanly");
            }
            let _ = ack.send(());
            return;
        }
    }
    let _ = conn.close().await;
}

/// Applies `batch` in one transaction and answers every caller; on a database failure, retries
/// each write in a transaction of its own.
async fn commit(conn: &mut SqliteConnection, batch: &mut Vec<Pending>, observer: &Observer) {
    match apply_together(conn, batch).await {
        Ok(results) => {
            observe(observer, batch.len());
            for ((_, reply), result) in batch.drain(..).zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                writes = batch.len(),
                "a batch of writes failed: retrying them one at a time"
            );
            for (write, reply) in batch.drain(..) {
                let result = apply_alone(conn, &write).await;
                observe(observer, 1);
                let _ = reply.send(result);
            }
        }
    }
}

fn observe(observer: &Observer, writes: usize) {
    let observer = observer
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(observe) = observer.as_ref() {
        observe(writes);
    }
}

/// Every write of `batch` in one transaction: each one's own result, or the database failure
/// that aborted the transaction (dropping it rolls back).
async fn apply_together(
    conn: &mut SqliteConnection,
    batch: &[Pending],
) -> Result<Vec<Result<Done>>> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(batch.len());
    for (write, _) in batch {
        match apply(&mut tx, write).await {
            Err(e @ StoreError::Database(_)) => return Err(e),
            // Any other error left nothing behind (see the module comment).
            result => results.push(result),
        }
    }
    tx.commit().await?;
    Ok(results)
}

async fn apply_alone(conn: &mut SqliteConnection, write: &Write) -> Result<Done> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let done = apply(&mut tx, write).await?;
    tx.commit().await?;
    Ok(done)
}

async fn apply(conn: &mut SqliteConnection, write: &Write) -> Result<Done> {
    match write {
        Write::CreateExecution(execution) => executions::create(conn, execution)
            .await
            .map(|()| Done::Created),
        Write::MarkStarted { id, node, at } => executions::mark_started(conn, *id, node, *at)
            .await
            .map(Done::Swapped),
        Write::Finish { id, outcome } => executions::finish(conn, *id, outcome)
            .await
            .map(|row| Done::Finished(row.map(Box::new))),
    }
}
