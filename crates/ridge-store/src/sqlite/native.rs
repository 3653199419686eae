//! The SQLite store's execution hot path on SQLite's C API (`rusqlite`), run on the calling
//! thread: the read that starts an execution ([`Store::get_function_to_run`]), the read of an
//! execution, and the writer's connection ([`super::writer`]).
//!
//! sqlx runs every SQLite statement on its connection's own thread, reached through channels:
//! each statement is a message there and an answer back, two context switches, where the
//! statement itself (a point read, a few-row write into the WAL with `synchronous=NORMAL`, no
//! disk flush) costs a few microseconds. Run here, it costs what SQLite does. Both ends open the
//! same file with the same settings; the rest of the store (the rarer writes, listings, the
//! migrations) stays on sqlx's pool.
//!
//! What could block here is bounded: a reader in WAL mode never waits for the writer, and the
//! writer waits for another writer's lock in asynchronous pauses, never holding its thread
//! ([`super::writer`]).
//!
//! [`Store::get_function_to_run`]: crate::Store::get_function_to_run

use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use ridge_core::{Execution, ExecutionId, FunctionId};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use super::BUSY_TIMEOUT;
use crate::rows::executions::{COLUMNS, ExecutionRow};
use crate::rows::to_run;
use crate::{FunctionToRun, Result, StoreError};

/// Idle read connections kept for the next read; more are opened when reads overlap, and closed
/// when they end past this.
const IDLE_READERS: usize = 4;

/// Opens the store's file (which `SqliteStore::open` created and migrated) as sqlx's
/// connections do: foreign keys on, `synchronous=NORMAL`, the busy timeout. The WAL journal is
/// the file's own setting.
pub(super) fn connect(path: &Path) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Read connections, lent one per read.
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::with_capacity(IDLE_READERS)),
        }
    }

    /// Runs `read` on an idle connection, or a new one when every one is lent.
    fn with<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.path)?,
        };
        let result = read(&conn);
        let mut idle = self.lock();
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn function_to_run(&self, id: FunctionId) -> Result<FunctionToRun> {
        self.with(|conn| {
            conn.prepare_cached(&to_run::SQL)?
                .query_row([id.to_string()], to_run::read_native)
                .optional()?
                .ok_or(StoreError::FunctionNotFound { id })?
        })
    }

    pub(super) fn execution(&self, id: ExecutionId) -> Result<Execution> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {COLUMNS} FROM executions WHERE id = ?1"));
        let row = self.with(|conn| {
            Ok(conn
                .prepare_cached(&SQL)?
                .query_row([id.to_string()], |row| ExecutionRow::from_native(row, 0))
                .optional()?)
        })?;
        row.ok_or(StoreError::ExecutionNotFound { id })?.try_into()
    }
}

/// Another connection holds the write lock (or, for a reader, the WAL is being recovered).
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
}

/// The statement broke a foreign key.
pub(super) fn is_foreign_key(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(failure, _)
        if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)
}
