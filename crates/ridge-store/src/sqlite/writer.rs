//! How the SQLite store applies a batch of the writer's ([`crate::writer`]) writes: one
//! `BEGIN IMMEDIATE` transaction on the writer's own connection, each write's statements in
//! turn (SQLite has one writer at a time, so there are no row locks to order), run in the
//! writer's task through SQLite's C API ([`super::native`]): a commit into the WAL with
//! `synchronous=NORMAL` writes to the page cache and flushes nothing, so it costs microseconds,
//! less than the two context switches a hop to another thread would.
//!
//! Two things could make it wait, and neither does on an async worker thread:
//! - another connection's write lock (a function's update, a job's claim, a purge through the
//!   pool): the connection's busy timeout is zero, and a `BEGIN` refused as busy is tried again
//!   after an asynchronous pause, until the store's busy timeout;
//! - the WAL's checkpoint, which flushes the database file: this connection never checkpoints
//!   itself (`wal_autocheckpoint=0`); every so many commits the writer has the pool run a
//!   passive one beside its writes, on sqlx's connection thread ([`SqliteBatches::checkpoint`]).
//!   A checkpoint that runs while commits go on rarely finds the whole WAL copied, which is when
//!   the next commit starts the WAL over, so under a steady load the WAL grows: past
//!   [`WAL_LIMIT`] the writer waits for a checkpoint that copies all of it and makes the next
//!   commit start it over (`RESTART`). When it checkpointed after every 100 commits and waited
//!   each time, those waits were the p99 of a warm execution at concurrency 1 (about 5 ms,
//!   docs/benchmarks.md).
//!
//! The WAL file is started over, not emptied: its next frames overwrite blocks the file already
//! has, where a file truncated to nothing has the filesystem allocate them again as it regrows
//! (with the truncation, about 3% of the server's CPU per warm execution, docs/benchmarks.md).
//! The commit that starts it over cuts it back to [`WAL_LIMIT`] (`journal_size_limit`), so the
//! file stays about that size, and its size stays the measure of how much the WAL holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ridge_core::{Execution, ExecutionId, Timestamp};
use rusqlite::{Connection, params};
use sqlx::SqlitePool;

use super::{BUSY_TIMEOUT, native};
use crate::codec;
use crate::rows::executions::{COLUMNS, ExecutionRow};
use crate::writer::{ApplyBatch, Done, Write};
use crate::{ExecutionOutcome, Result, StoreError};

/// Commits, or writes, after which the writer checkpoints: about what SQLite's own automatic
/// checkpoint (every 1,000 WAL pages) would do, since a commit of one execution adds about ten
/// pages (the table's, its indexes', its function's) and a write in a large batch one or two.
const CHECKPOINT_AFTER_COMMITS: usize = 100;
const CHECKPOINT_AFTER_WRITES: usize = 1000;

/// The WAL's size past which the writer stops for a checkpoint that starts it over, and to
/// which the commit that starts it over cuts the file back: about 800 commits of one
/// execution each.
pub(super) const WAL_LIMIT: u64 = 32 << 20;

/// Pauses between tries of a write lock another connection holds, doubling from the first:
/// about what SQLite's own busy handler waits.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const LONGEST_PAUSE: Duration = Duration::from_millis(25);

/// The writer's connection, and the pool that checkpoints what it writes.
pub(super) struct SqliteBatches {
    conn: Connection,
    pool: SqlitePool,
    /// The WAL file, `<database>-wal`, and its size past which the writer waits for a
    /// checkpoint that starts it over ([`WAL_LIMIT`]).
    wal: PathBuf,
    wal_limit: u64,
    /// Commits and writes since the last checkpoint.
    commits: usize,
    writes: usize,
    /// A checkpoint beside the writes is under way.
    checkpointing: Arc<AtomicBool>,
}

impl SqliteBatches {
    pub(super) fn new(conn: Connection, pool: SqlitePool, database: &Path) -> Result<Self> {
        Self::with_wal_limit(conn, pool, database, WAL_LIMIT)
    }

    fn with_wal_limit(
        conn: Connection,
        pool: SqlitePool,
        database: &Path,
        wal_limit: u64,
    ) -> Result<Self> {
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(
            None,
            "journal_size_limit",
            codec::int("wal_limit", wal_limit)?,
        )?;
        conn.busy_timeout(Duration::ZERO)?;
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        Ok(Self {
            conn,
            pool,
            wal: PathBuf::from(wal),
            wal_limit,
            commits: 0,
            writes: 0,
            checkpointing: Arc::default(),
        })
    }

    /// Copies the WAL's pages into the database file on one of the pool's connections (sqlx
    /// runs it on that connection's thread): beside the writes, one at a time; or, the WAL past
    /// [`WAL_LIMIT`], while this writer waits, so that its next commit starts the WAL over.
    async fn checkpoint(&mut self) {
        (self.commits, self.writes) = (0, 0);
        let size = std::fs::metadata(&self.wal).map_or(0, |wal| wal.len());
        if size > self.wal_limit {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, wal_bytes = size, "cannot start the store's WAL over");
            }
            return;
        }
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pool, checkpointing) = (self.pool.clone(), self.checkpointing.clone());
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "cannot checkpoint the store's WAL");
            }
            checkpointing.store(false, Ordering::Release);
        });
    }

    async fn transaction(&mut self, writes: &[&Write]) -> Result<Vec<Result<Done>>> {
        begin(&mut self.conn).await?;
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            match apply(&self.conn, write) {
                Err(e @ StoreError::Sqlite(_)) => {
                    rollback(&self.conn);
                    return Err(e);
                }
                // Any other error left nothing behind (`create`).
                result => results.push(result),
            }
        }
        if let Err(e) = control(&self.conn, "COMMIT") {
            rollback(&self.conn);
            return Err(e.into());
        }
        Ok(results)
    }
}

#[async_trait]
impl ApplyBatch for SqliteBatches {
    /// One writer at a time: a batch waits only for the database's write lock, which every
    /// write would wait for anyway.
    const GATHER: bool = true;

    /// A batch is local work of microseconds. Dropped at either of its awaits, it leaves the
    /// connection as it found it: a `BEGIN` refused as busy opened nothing, and a checkpoint
    /// comes after the commit.
    const INLINE: bool = true;

    async fn apply(&mut self, writes: &[&Write]) -> Result<Vec<Result<Done>>> {
        let results = self.transaction(writes).await?;
        self.commits += 1;
        self.writes += writes.len();
        if self.commits >= CHECKPOINT_AFTER_COMMITS || self.writes >= CHECKPOINT_AFTER_WRITES {
            self.checkpoint().await;
        }
        Ok(results)
    }

    async fn close(self) {
        if let Err((_, e)) = self.conn.close() {
            tracing::warn!(error = %e, "cannot close the store's write connection cleanly");
        }
    }
}

/// Takes the write lock: at once, or (another connection holds it) trying again after a
/// pause, without holding the thread, until the busy timeout. (A busy handler would block the
/// thread, and on a single-threaded runtime the very task that holds the lock.)
async fn begin(conn: &mut Connection) -> Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    let mut pause = FIRST_PAUSE;
    loop {
        match control(conn, "BEGIN IMMEDIATE") {
            Err(e) if native::is_busy(&e) && Instant::now() < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            begun => return Ok(begun?),
        }
    }
}

/// Runs a transaction's `BEGIN` or `COMMIT` from the connection's statement cache: parsed once,
/// not at every batch (a warm sync execution is a batch of one).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

/// Rolls back what a failed statement left open (some failures end the transaction
/// themselves).
fn rollback(conn: &Connection) {
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::warn!(error = %e, "cannot roll back a failed batch of writes");
    }
}

fn apply(conn: &Connection, write: &Write) -> Result<Done> {
    match write {
        Write::CreateExecution(new) => {
            create(conn, &new.execution, &new.logs).map(|()| Done::Created)
        }
        // SQLite's commits do not wait for the disk: every write is deferred already.
        Write::MarkStarted { id, node, at, .. } => {
            mark_started(conn, *id, node, *at).map(Done::Swapped)
        }
        Write::Finish { id, outcome } => {
            finish(conn, *id, outcome).map(|row| Done::Finished(row.map(Box::new)))
        }
    }
}

/// Inserts the execution with `logs` and counts it on its function (version 0) or its version,
/// in the open transaction. `FunctionNotFound` or `VersionNotFound` when the target does not
/// exist, and then nothing was written (the batch carries on without this write).
fn create(conn: &Connection, execution: &Execution, logs: &str) -> Result<()> {
    let function_id = execution.function_id.to_string();
    if execution.function_version != 0 {
        // Counted first: a missing version fails before anything is written.
        let counted = conn
            .prepare_cached(
                "UPDATE function_versions SET count = count + 1 \
                 WHERE function_id = ?1 AND version_number = ?2",
            )?
            .execute(params![function_id, execution.function_version])?;
        if counted == 0 {
            let function = conn
                .prepare_cached("SELECT 1 FROM functions WHERE id = ?1")?
                .exists([&function_id])?;
            return Err(if function {
                StoreError::VersionNotFound {
                    function_id: execution.function_id,
                    version: execution.function_version,
                }
            } else {
                StoreError::FunctionNotFound {
                    id: execution.function_id,
                }
            });
        }
    }
    conn.prepare_cached(
        "INSERT INTO executions (id, project_id, function_id, function_version, \
         function_alias, description, status, sync, input, result, logs, started_at, \
         created_at, updated_at, node) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        execution.id.to_string(),
        execution.project_id.as_str(),
        function_id,
        execution.function_version,
        execution.function_alias.as_deref(),
        execution.description.as_deref(),
        execution.status.as_str(),
        execution.sync,
        execution
            .input
            .as_ref()
            .map(|input| codec::json_text(&input.to_stored())),
        execution.result.as_ref().map(codec::json_text),
        logs,
        codec::opt_ts(execution.started_at.as_ref()),
        codec::ts(&execution.created_at),
        codec::opt_ts(execution.updated_at.as_ref()),
        execution.node.as_deref(),
    ])
    // A failed statement changes nothing; with a version, its row (and so the function) was
    // found above, so this happens for version 0 only.
    .map_err(|e| match native::is_foreign_key(&e) {
        true => StoreError::FunctionNotFound {
            id: execution.function_id,
        },
        false => StoreError::Sqlite(e),
    })?;
    if execution.function_version == 0 {
        conn.prepare_cached("UPDATE functions SET count = count + 1 WHERE id = ?1")?
            .execute([&function_id])?;
    }
    Ok(())
}

/// Compare-and-swap: false unless the execution is `running` and not yet started.
fn mark_started(conn: &Connection, id: ExecutionId, node: &str, at: Timestamp) -> Result<bool> {
    let at = codec::ts(&at);
    let swapped = conn
        .prepare_cached(
            "UPDATE executions SET started_at = ?1, updated_at = ?1 \
             WHERE id = ?2 AND status = 'running' AND started_at IS NULL AND node = ?3",
        )?
        .execute(params![at, id.to_string(), node])?;
    Ok(swapped == 1)
}

/// Compare-and-swap: `None` unless the execution is still `running`; else the row as written.
fn finish(
    conn: &Connection,
    id: ExecutionId,
    outcome: &ExecutionOutcome,
) -> Result<Option<Execution>> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "UPDATE executions SET status = ?1, result = ?2, logs = ?3, updated_at = ?4 \
             WHERE id = ?5 AND status = 'running' RETURNING {COLUMNS}"
        )
    });
    let mut statement = conn.prepare_cached(&SQL)?;
    let mut rows = statement.query(params![
        outcome.status.as_str(),
        codec::json_text(&outcome.result),
        outcome.logs,
        codec::ts(&ridge_core::time::now()),
        id.to_string(),
    ])?;
    let row = match rows.next()? {
        Some(row) => Some(ExecutionRow::from_native(row, 0)?),
        None => None,
    };
    // Stepped to its end: the update is done when the statement is.
    while rows.next()?.is_some() {}
    row.map(Execution::try_from).transpose()
}

#[cfg(test)]
mod tests {
    use ridge_core::fixtures;

    use super::*;
    use crate::Store;
    use crate::writer::NewExecution;

    /// Under a steady stream of commits the checkpoints beside them may never empty the WAL:
    /// past its limit, the writer waits for one that makes its next commit start the WAL over,
    /// in a file cut back to the limit. Here none runs beside the writes (one is marked under
    /// way), so only the limit can start it over.
    #[tokio::test]
    async fn past_its_limit_the_wal_is_started_over_by_the_next_write() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ridge.db");
        let store = crate::SqliteStore::open(&path).await.expect("open");
        let runtime = fixtures::runtime("p1", true, 0);
        store.create_runtime(&runtime).await.expect("runtime");
        let function = fixtures::function("p1", runtime.id, 0);
        store.create_function(&function).await.expect("function");

        let conn = native::connect(&path).expect("connect");
        let limit = 64 << 10;
        let mut batches =
            SqliteBatches::with_wal_limit(conn, store.pool.clone(), &path, limit).expect("writer");
        batches.checkpointing.store(true, Ordering::Release);
        let wal_size =
            |batches: &SqliteBatches| std::fs::metadata(&batches.wal).map_or(0, |m| m.len());
        let commits = CHECKPOINT_AFTER_COMMITS + 1;
        for i in 0..commits {
            let new = NewExecution {
                execution: fixtures::execution(&function, i64::try_from(i).expect("small")),
                logs: String::new(),
            };
            let write = Write::CreateExecution(Box::new(new));
            if i + 1 == CHECKPOINT_AFTER_COMMITS {
                let before = wal_size(&batches);
                assert!(before > limit, "{before} bytes of WAL before the check");
            }
            let results = batches.apply(&[&write]).await.expect("commit");
            assert!(matches!(results.as_slice(), [Ok(Done::Created)]));
        }
        // The commit after the check wrote its frames at the WAL's start and cut the file back.
        let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&store.pool)
            .await
            .expect("checkpoint");
        let page_size: i64 = batches
            .conn
            .pragma_query_value(None, "page_size", |row| row.get(0))
            .expect("page size");
        assert!(
            frames * page_size < i64::try_from(limit).expect("small"),
            "the WAL holds {frames} frames after the commit that should have started it over"
        );
        // Cut back to the limit, not to nothing: the blocks the file keeps are written over.
        assert_eq!(wal_size(&batches), limit, "the WAL file's size");
        assert_eq!(
            store
                .get_function(function.id)
                .await
                .expect("function")
                .count,
            i64::try_from(commits).expect("small"),
            "what the WAL held is in the database"
        );
        batches.close().await;
        store.close().await;
    }
}
