//! How the PostgreSQL store applies a batch of the writer's ([`crate::writer`]) writes: one
//! transaction on one of the writer's connections (one batch at a time, another beside it only
//! when that one is stuck on a lock), in which
//!
//! * the batch's creates are counted once per function and version (`count = count + n`) and
//!   inserted in one statement ([`executions::create_batch`]), so a function's hot row is
//!   locked once per batch, not once per execution, and its lock is held for one commit flush
//!   shared by the whole batch;
//! * the starts and finishes follow, all of the batch's starts in one compare-and-swap
//!   `UPDATE` and all its finishes in another, their rows locked in the order of their ids
//!   (an execution written twice in one batch, rarely, has its second write in another pair
//!   of statements after the first, so its writes keep their order).
//!
//! Several nodes, each with such connections, write one database. Each batch takes its row
//! locks in one order (functions, versions, then executions, each by id), so their batches wait
//! for one another rather than deadlock; should PostgreSQL still report a deadlock or a
//! serialization failure, the batch is rolled back and applied again, up to [`ATTEMPTS`] times.
//! A batch of creates that all count on one function (or one version), a lone create among
//! them, is one statement without a transaction around it ([`executions::create_counted`]), and
//! so is a lone start or finish; and the connection stays open from batch to batch (it is not
//! pinged first): at low load a write costs one round trip, as it did before batching, and a
//! batch of one function's sync executions, written once each, costs one too.
//!
//! A batch whose writes are all [`Durability::Deferred`] (a sync execution's create and start)
//! commits with `synchronous_commit = off`: committed and visible at once, without waiting for
//! the log's flush, which the execution's finish (always flushed) does for it. The setting is
//! the connection's, changed only when a batch needs the other one, so a run of async creates
//! or of sync executions costs no statement more; the writer's connections are its own, so no
//! other write ever runs with it off.

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool, Postgres};

use super::executions;
use crate::writer::{ApplyBatch, Done, NewExecution, Write, batch_durability};
use crate::{Durability, Result, StoreError};

/// The writer's connections, as `options` makes them, with sequential scans ruled out: every
/// statement they run reaches its rows by primary key (an execution, a function, a version).
/// A prepared statement's generic plan is kept until the table's statistics change, and one
/// planned while `executions` was empty (a new database, or just purged) scans the whole
/// table; autovacuum analyzes it up to a minute later, and meanwhile a burst of async
/// executions read every row for each batch: 1,115 and 1,567 µs a batch's start and finish on
/// a fresh database against ~230 µs (`pg_stat_statements`, scenario 4).
pub(super) fn connect_options(options: PgConnectOptions) -> PgConnectOptions {
    options.options([("enable_seqscan", "off")])
}

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
    // Creates of one function's executions, a lone one or many, are one statement, which
    // commits itself; so is a lone start or finish.
    if let Some(news) = one_target(writes) {
        let created = executions::create_counted(conn, &news).await?;
        return Ok(created
            .into_iter()
            .map(|created| created.map(|()| Done::Created))
            .collect());
    }
    if let [write] = writes {
        // A start or a finish: a lone create went above.
        let mut done = vec![None];
        swap_round(conn, &[(0, write)], &mut done).await?;
        return Ok(vec![
            done.pop()
                .flatten()
                .unwrap_or(Err(StoreError::WriterStopped)),
        ]);
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
    for round in rounds(writes) {
        swap_round(&mut tx, &round, &mut results).await?;
    }
    tx.commit().await?;
    Ok(results
        .into_iter()
        .map(|result| result.unwrap_or(Err(StoreError::WriterStopped)))
        .collect())
}

/// The batch's executions to create when it holds creates only, all of one function at one
/// version.
fn one_target<'w>(writes: &[&'w Write]) -> Option<Vec<&'w NewExecution>> {
    let mut news = Vec::with_capacity(writes.len());
    for write in writes {
        let Write::CreateExecution(new) = write else {
            return None;
        };
        if let Some(first) = news.first().map(|first: &&NewExecution| &first.execution)
            && (first.function_id, first.function_version)
                != (new.execution.function_id, new.execution.function_version)
        {
            return None;
        }
        news.push(&**new);
    }
    (!news.is_empty()).then_some(news)
}

/// The batch's starts and finishes (each with its index in `writes`) in rounds that name each
/// execution at most once, since one statement changes a row once: an execution's first write
/// goes in the first round, its second in the second, and so on, so a write's order among
/// those of its execution is kept. Each round is sorted by execution id, the order in which
/// its statements lock the rows.
fn rounds<'w>(writes: &[&'w Write]) -> Vec<Vec<(usize, &'w Write)>> {
    let mut swaps: Vec<(usize, &Write)> = writes
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, write)| !matches!(write, Write::CreateExecution(_)))
        .collect();
    // Stable: an execution's writes stay in the order they were sent.
    swaps.sort_by_key(|(_, write)| write.execution_id());
    let mut rounds: Vec<Vec<(usize, &Write)>> = Vec::new();
    let mut previous = None;
    let mut round = 0;
    for swap in swaps {
        let id = swap.1.execution_id();
        round = if previous == Some(id) { round + 1 } else { 0 };
        previous = Some(id);
        if rounds.len() == round {
            rounds.push(Vec::new());
        }
        rounds[round].push(swap);
    }
    rounds
}

/// Applies one round's starts in one statement, then its finishes in another, and puts each
/// write's result at its index in `results`.
async fn swap_round(
    conn: &mut PgConnection,
    round: &[(usize, &Write)],
    results: &mut [Option<Result<Done>>],
) -> Result<()> {
    let mut starts = Vec::new();
    let mut finishes = Vec::new();
    for (i, write) in round {
        match write {
            Write::MarkStarted { id, node, at, .. } => starts.push((
                *i,
                executions::Start {
                    id: *id,
                    node,
                    at: *at,
                },
            )),
            Write::Finish { id, outcome } => finishes.push((*i, (*id, &**outcome))),
            Write::CreateExecution(_) => {}
        }
    }
    if !starts.is_empty() {
        let (at, starts): (Vec<usize>, Vec<executions::Start>) = starts.into_iter().unzip();
        let started = executions::mark_started(conn, &starts).await?;
        for (i, started) in at.into_iter().zip(started) {
            results[i] = Some(Ok(Done::Swapped(started)));
        }
    }
    if !finishes.is_empty() {
        let (at, finishes): (Vec<usize>, Vec<_>) = finishes.into_iter().unzip();
        let finished = executions::finish(conn, &finishes).await?;
        for (i, row) in at.into_iter().zip(finished) {
            results[i] = Some(Ok(Done::Finished(row.map(Box::new))));
        }
    }
    Ok(())
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
