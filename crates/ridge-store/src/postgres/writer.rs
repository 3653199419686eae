//! How the PostgreSQL store applies a batch of the writer's ([`crate::writer`]) writes: one
//! transaction on one of the writer's connections (several batches are under way at once,
//! one per connection, so that one commit's flush does not hold back the next batch), in which
//!
//! * the batch's creates are counted once per function and version (`count = count + n`) and
//!   inserted in one statement ([`executions::create_batch`]), so a function's hot row is
//!   locked once per batch, not once per execution, and its lock is held for one commit flush
//!   shared by the whole batch;
//! * the starts and finishes follow, one compare-and-swap `UPDATE` each, ordered by execution
//!   id (a write's order among those of the same execution is kept).
//!
//! Several nodes, each with several such connections, write one database. Each batch takes its
//! row locks in one order
//! (functions, versions, then executions, each by id), so their batches wait for one another
//! rather than deadlock; should PostgreSQL still report a deadlock or a serialization failure,
//! the batch is rolled back and applied again, up to [`ATTEMPTS`] times. A lone write is one
//! statement without a transaction around it ([`executions::create_one`] for a create), and the
//! connection stays open from batch to batch (it is not pinged first): at low load a write
//! costs one round trip, as it did before batching.
//!
//! A batch whose writes are all [`Durability::Deferred`] (a sync execution's create and start)
//! commits with `synchronous_commit = off`: committed and visible at once, without waiting for
//! the log's flush, which the execution's finish (always flushed) does for it. The setting is
//! the connection's, changed only when a batch needs the other one, so a run of async creates
//! or of sync executions costs no statement more; the writer's connections are its own, so no
//! other write ever runs with it off.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::executions;
use crate::writer::{ApplyBatch, Done, NewExecution, Write, batch_durability};
use crate::{Durability, Result, StoreError};

/// Most times one batch is applied when PostgreSQL aborts it for a deadlock or a
/// serialization failure, or the connection fails under it.
const ATTEMPTS: u32 = 5;

/// One of the writer's connections, held from batch to batch (no round trip to check it each
/// time), and the writer's pool it comes from: a connection that fails (not a statement on it)
/// is dropped, and the batch is applied again on a new one.
pub(super) struct PostgresBatches {
    pool: PgPool,
    conn: Option<PoolConnection<Postgres>>,
    /// The held connection's `synchronous_commit`, as this writer last set it (`None`: unknown,
    /// after a `SET` that failed).
    commits: Option<Durability>,
}

impl PostgresBatches {
    pub(super) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            conn: None,
            commits: None,
        }
    }
}

#[async_trait]
impl ApplyBatch for PostgresBatches {
    async fn apply(&mut self, writes: &[&Write]) -> Result<Vec<Result<Done>>> {
        let mut attempt = 1;
        loop {
            let conn = match self.conn.take() {
                Some(conn) => conn,
                None => match self.pool.acquire().await {
                    Ok(conn) => {
                        // The writer's pool is its own and gets a connection back only when
                        // the writer closes: this one has the database's setting.
                        self.commits = Some(Durability::Flushed);
                        conn
                    }
                    Err(e) => return unavailable(writes, e),
                },
            };
            let conn = self.conn.insert(conn);
            let applied = match commit_as(conn, &mut self.commits, batch_durability(writes)).await {
                Ok(()) => apply_once(conn, writes).await,
                Err(e) => Err(e),
            };
            match applied {
                // The connection failed, not a statement: drop it, and apply the batch again
                // on a new one (or fail it at once if none comes).
                Err(StoreError::Database(e)) if is_lost(&e) => {
                    if let Some(mut conn) = self.conn.take() {
                        conn.close_on_drop();
                    }
                    if attempt >= ATTEMPTS {
                        return Err(e.into());
                    }
                    tracing::warn!(error = %e, "the writer's connection failed: opening another");
                }
                Err(StoreError::Database(e)) if attempt < ATTEMPTS && is_transient(&e) => {
                    tracing::debug!(error = %e, attempt, "a batch of writes is applied again");
                }
                result => return result,
            }
            attempt += 1;
        }
    }

    async fn close(mut self) {
        drop(self.conn.take());
        self.pool.close().await;
    }
}

/// Sets the connection's `synchronous_commit` for `durability`, unless `current` says it is
/// set so already.
async fn commit_as(
    conn: &mut PgConnection,
    current: &mut Option<Durability>,
    durability: Durability,
) -> Result<()> {
    if *current == Some(durability) {
        return Ok(());
    }
    // Unknown until it is set again, should the statement fail.
    *current = None;
    let statement = match durability {
        // Back to the database's own setting (`on`, or what its operator chose).
        Durability::Flushed => "RESET synchronous_commit",
        Durability::Deferred => "SET synchronous_commit = off",
    };
    sqlx::query(statement).execute(&mut *conn).await?;
    *current = Some(durability);
    Ok(())
}

/// No connection came (the database is unreachable and the pool gave up waiting for it): no
/// write of the batch can be applied, and trying them one at a time would make each wait as
/// long again, so every caller is told at once.
fn unavailable(writes: &[&Write], e: sqlx::Error) -> Result<Vec<Result<Done>>> {
    let again = || match e {
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        _ => sqlx::Error::PoolTimedOut,
    };
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            tracing::warn!(error = %e, writes = writes.len(), "no connection for a batch of writes");
            Ok(writes
                .iter()
                .map(|_| Err(StoreError::Database(again())))
                .collect())
        }
        e => Err(e.into()),
    }
}

async fn apply_once(conn: &mut PgConnection, writes: &[&Write]) -> Result<Vec<Result<Done>>> {
    // A lone write is one statement, which commits itself.
    if let [write] = writes {
        return Ok(vec![match write {
            Write::CreateExecution(new) => match executions::create_one(conn, new).await {
                Err(e @ StoreError::Database(_)) => return Err(e),
                created => created.map(|()| Done::Created),
            },
            Write::MarkStarted { .. } | Write::Finish { .. } => match swap(conn, write).await? {
                Some(done) => Ok(done),
                None => Err(StoreError::WriterStopped),
            },
        }]);
    }
    let mut tx = conn.begin().await?;
    let mut results: Vec<Option<Result<Done>>> = writes.iter().map(|_| None).collect();
    let creates: Vec<(usize, &NewExecution)> = writes
        .iter()
        .enumerate()
        .filter_map(|(i, write)| match write {
            Write::CreateExecution(new) => Some((i, &**new)),
            Write::MarkStarted { .. } | Write::Finish { .. } => None,
        })
        .collect();
    let news: Vec<&NewExecution> = creates.iter().map(|(_, new)| *new).collect();
    let created = executions::create_batch(&mut tx, &news).await?;
    for ((i, _), result) in creates.iter().zip(created) {
        results[*i] = Some(result.map(|()| Done::Created));
    }
    let mut swaps: Vec<(usize, &Write)> = writes.iter().copied().enumerate().collect();
    swaps.sort_by_key(|(_, write)| write.execution_id());
    for (i, write) in swaps {
        if let Some(done) = swap(&mut tx, write).await? {
            results[i] = Some(Ok(done));
        }
    }
    tx.commit().await?;
    Ok(results
        .into_iter()
        .map(|result| result.unwrap_or(Err(StoreError::WriterStopped)))
        .collect())
}

/// Applies a start or a finish (`None` for a create, which [`executions::create_batch`]
/// applies).
async fn swap(conn: &mut PgConnection, write: &Write) -> Result<Option<Done>> {
    Ok(Some(match write {
        Write::MarkStarted { id, node, at, .. } => {
            Done::Swapped(executions::mark_started(conn, *id, node, *at).await?)
        }
        Write::Finish { id, outcome } => {
            Done::Finished(executions::finish(conn, *id, outcome).await?.map(Box::new))
        }
        Write::CreateExecution(_) => return Ok(None),
    }))
}

/// Whether PostgreSQL aborted the transaction for a deadlock (`40P01`) or a serialization
/// failure (`40001`): applying it again may well succeed.
fn is_transient(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("40P01" | "40001")))
}

/// Whether the connection itself failed (I/O, TLS, the protocol), not a statement on it.
fn is_lost(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
    )
}
