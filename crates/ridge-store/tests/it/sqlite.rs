//! What only the SQLite store has: a file that persists, migrations applied once, its pragmas,
//! and strictness about rows written by something else.

use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use futures_util::future::join_all;
use ridge_core::{Execution, ExecutionStatus, Function, Runtime, RuntimeId, fixtures};
use ridge_store::{
    ExecutionOutcome, ExecutionQuery, ProjectScope, PurgeBy, PurgeScope, SqliteStore, Store,
    StoreError,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use std::path::Path;

fn runtime() -> Runtime {
    fixtures::runtime("default", true, 0)
}

fn function(runtime_id: RuntimeId) -> Function {
    fixtures::function("default", runtime_id, 0)
}

fn execution(function: &Function) -> Execution {
    Execution {
        description: Some("persisted".into()),
        sync: false,
        ..fixtures::execution(function, 0)
    }
}

/// A plain connection to the file, beside the store, to look at or tamper with it.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(path))
        .await
        .expect("raw connection")
}

#[tokio::test]
async fn open_creates_the_file_and_its_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/data/ridge.db");
    let store = SqliteStore::open(&path).await.expect("open");
    assert!(path.is_file());
    assert_eq!(store.describe(), format!("sqlite:{}", path.display()));

    let mut conn = raw(&path).await;
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .expect("pragma");
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn data_survives_reopen_and_migrations_run_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ridge.db");

    let rt = runtime();
    let f = function(rt.id);
    let e = execution(&f);
    {
        let store = SqliteStore::open(&path).await.expect("open");
        store.create_runtime(&rt).await.expect("create runtime");
        store.create_function(&f).await.expect("create function");
        store.create_execution(&e).await.expect("create execution");
        store
            .finish_execution(
                e.id,
                &ExecutionOutcome {
                    status: ExecutionStatus::Failed,
                    result: ridge_core::ExecutionResult::new(
                        5.0,
                        "Function execution timeout.".into(),
                    ),
                    logs: "partial output\n".into(),
                },
            )
            .await
            .expect("finish");
        store.close().await;
    }

    for _ in 0..2 {
        let store = SqliteStore::open(&path).await.expect("reopen");
        assert_eq!(store.get_runtime(rt.id).await.expect("runtime"), rt);
        let got = store.get_function(f.id).await.expect("function");
        assert_eq!(
            got,
            Function {
                count: 1,
                ..f.clone()
            }
        );
        let got = store.get_execution(e.id).await.expect("execution");
        assert_eq!(got.status, ExecutionStatus::Failed);
        assert_eq!(
            store.get_execution_logs(e.id).await.expect("logs"),
            "partial output\n"
        );
        store.close().await;
    }

    let mut conn = raw(&path).await;
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("migrations table");
    // Every migration under migrations/, once each, in order.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".sql"))
        })
        .count();
    let expected: Vec<(i64, bool)> = (1..=i64::try_from(files).expect("few files"))
        .map(|v| (v, true))
        .collect();
    assert_eq!(applied, expected);
    assert!(files >= 4, "found {files} migrations");
}

#[tokio::test]
async fn foreign_keys_are_enforced_on_every_connection() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("ridge.db"))
        .await
        .expect("open");
    let rt = runtime();
    store.create_runtime(&rt).await.expect("create runtime");
    // More functions than pooled connections, so several connections do the inserts.
    let mut functions = Vec::new();
    for _ in 0..10 {
        let f = function(rt.id);
        store.create_function(&f).await.expect("create function");
        functions.push(f);
    }
    for _ in 0..10 {
        let err = store.delete_runtime(rt.id).await.expect_err("in use");
        assert!(matches!(err, StoreError::RuntimeInUse { .. }), "{err:?}");
        let orphan = function(RuntimeId::new());
        let err = store
            .create_function(&orphan)
            .await
            .expect_err("no runtime");
        assert!(matches!(err, StoreError::RuntimeNotFound { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn rows_this_ridge_did_not_write_are_corrupt_not_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ridge.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let rt = runtime();
    let f = function(rt.id);
    let e = execution(&f);
    store.create_runtime(&rt).await.expect("create runtime");
    store.create_function(&f).await.expect("create function");
    store.create_execution(&e).await.expect("create execution");

    let mut conn = raw(&path).await;
    sqlx::query("UPDATE executions SET status = 'exploded' WHERE id = ?")
        .bind(e.id.to_string())
        .execute(&mut conn)
        .await
        .expect("tamper status");
    let err = store.get_execution(e.id).await.expect_err("bad status");
    match &err {
        StoreError::Corrupt { table, detail } => {
            assert_eq!(*table, "executions");
            assert!(detail.contains(&e.id.to_string()), "{detail}");
            assert!(detail.contains("status"), "{detail}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(
        store.list_executions(&all_executions()).await,
        Err(StoreError::Corrupt { .. })
    ));

    let created = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        .to_rfc3339();
    sqlx::query(
        "INSERT INTO runtimes (id, project_id, image, status, is_public, trusted, created_at) \
         VALUES ('not-a-uuid', 'default', 'python3', 'available', 1, 1, ?)",
    )
    .bind(&created)
    .execute(&mut conn)
    .await
    .expect("tamper runtime");
    assert!(matches!(
        store.all_runtimes().await,
        Err(StoreError::Corrupt {
            table: "runtimes",
            ..
        })
    ));

    sqlx::query("UPDATE functions SET code = '{\"source\": \"ftp\"}' WHERE id = ?")
        .bind(f.id.to_string())
        .execute(&mut conn)
        .await
        .expect("tamper code");
    assert!(matches!(
        store.get_function(f.id).await,
        Err(StoreError::Corrupt {
            table: "functions",
            ..
        })
    ));
}

#[tokio::test]
async fn sizes_past_i64_are_refused_not_wrapped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("ridge.db"))
        .await
        .expect("open");
    let rt = runtime();
    store.create_runtime(&rt).await.expect("create runtime");
    let mut f = function(rt.id);
    f.limits.memory_size = u64::MAX;
    let err = store.create_function(&f).await.expect_err("too large");
    assert!(
        matches!(
            err,
            StoreError::OutOfRange {
                field: "memory_size",
                value: u64::MAX
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn concurrent_execution_writes_commit_in_groups() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("ridge.db"))
        .await
        .expect("open");
    let batches = Arc::new(Mutex::new(Vec::new()));
    let seen = batches.clone();
    store.observe_write_batches(Arc::new(move |writes| {
        seen.lock().expect("not poisoned").push(writes)
    }));
    let rt = runtime();
    store.create_runtime(&rt).await.expect("create runtime");
    let f = function(rt.id);
    store.create_function(&f).await.expect("create function");

    // One at a time: one transaction per write, nothing waits for company.
    let alone = execution(&f);
    store.create_execution(&alone).await.expect("create");
    assert_eq!(*batches.lock().expect("not poisoned"), vec![1]);

    let burst: Vec<_> = (0..200).map(|_| execution(&f)).collect();
    for created in join_all(burst.iter().map(|e| store.create_execution(e))).await {
        created.expect("create");
    }
    let sizes = batches.lock().expect("not poisoned").clone();
    assert_eq!(sizes.iter().sum::<usize>(), 201, "{sizes:?}");
    assert!(
        sizes.len() < 20,
        "200 concurrent writes took {} transactions: {sizes:?}",
        sizes.len()
    );
    assert_eq!(store.get_function(f.id).await.expect("get").count, 201);

    store.close().await;
    let late = store.create_execution(&execution(&f)).await;
    assert!(matches!(late, Err(StoreError::WriterStopped)), "{late:?}");
}

async fn pragma(path: &Path, name: &str) -> i64 {
    let mut conn = raw(path).await;
    sqlx::query_scalar(&format!("PRAGMA {name}"))
        .fetch_one(&mut conn)
        .await
        .expect("pragma")
}

#[tokio::test]
async fn purged_executions_give_their_pages_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ridge.db");
    let store = SqliteStore::open(&path).await.expect("open");
    assert_eq!(pragma(&path, "auto_vacuum").await, 2, "incremental");
    let rt = runtime();
    store.create_runtime(&rt).await.expect("runtime");
    let f = function(rt.id);
    store.create_function(&f).await.expect("function");
    let bulky = "x".repeat(16 * 1024);
    for i in 0..400 {
        let e = Execution {
            description: Some(bulky.clone()),
            status: ExecutionStatus::Success,
            ..fixtures::execution(&f, i)
        };
        store.create_execution(&e).await.expect("create");
    }
    let full = pragma(&path, "page_count").await;
    assert!(full > 1_000, "{full} pages");

    let everything = PurgeBy::CreatedBefore(Utc::now());
    let mut purged = 0;
    loop {
        let n = store
            .purge_executions(&PurgeScope::Defaults, everything, 150)
            .await
            .expect("purge");
        assert!(n <= 150, "one batch at most: {n}");
        if n == 0 {
            break;
        }
        purged += n;
    }
    assert_eq!(purged, 400);
    assert!(pragma(&path, "freelist_count").await > 1_000, "pages freed");
    for _ in 0..10 {
        store.reclaim_space().await.expect("reclaim");
    }
    assert_eq!(pragma(&path, "freelist_count").await, 0);
    let after = pragma(&path, "page_count").await;
    assert!(after < full / 4, "{after} of {full} pages left");
    store.close().await;
}

#[tokio::test]
async fn an_older_database_is_switched_to_incremental_auto_vacuum_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ridge.db");
    {
        let mut conn = SqliteConnection::connect_with(
            &SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true),
        )
        .await
        .expect("create");
        sqlx::query("CREATE TABLE older (x INTEGER)")
            .execute(&mut conn)
            .await
            .expect("table");
    }
    assert_eq!(pragma(&path, "auto_vacuum").await, 0, "created without it");
    let store = SqliteStore::open(&path).await.expect("open");
    assert_eq!(pragma(&path, "auto_vacuum").await, 2);
    store.close().await;
}

/// A store at `path` with one function to execute.
/// A connection beside the store holding the database's write lock (`BEGIN IMMEDIATE`), as a
/// function's update through the pool does between its statements; `COMMIT` releases it.
async fn holding_the_write_lock(path: &Path) -> SqliteConnection {
    let mut other = raw(path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect("take the write lock");
    other
}

/// Every execution of the store, in one page.
fn all_executions() -> ExecutionQuery {
    ExecutionQuery {
        scope: ProjectScope::All,
        function_id: None,
        status: None,
        description: None,
        page: ridge_store::Page::default(),
    }
}

async fn open_with_function(path: &Path) -> (SqliteStore, Function) {
    let store = SqliteStore::open(path).await.expect("open");
    let rt = runtime();
    store.create_runtime(&rt).await.expect("runtime");
    let f = function(rt.id);
    store.create_function(&f).await.expect("function");
    (store, f)
}

#[tokio::test]
async fn execution_writes_go_on_while_a_purge_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, f) = open_with_function(&dir.path().join("ridge.db")).await;
    for i in 0..2_000 {
        let old = Execution {
            status: ExecutionStatus::Success,
            ..fixtures::execution(&f, i)
        };
        store.create_execution(&old).await.expect("create");
    }
    // The purge (through the pool, batch by batch) and the hot path (through the writer) share
    // the write lock: every write of the hot path lands, none is refused as locked.
    let purger = async {
        let by = PurgeBy::CreatedBefore(fixtures::at(2_000));
        let mut total = 0;
        loop {
            let n = store
                .purge_executions(&PurgeScope::Defaults, by, 100)
                .await
                .expect("purge");
            store.reclaim_space().await.expect("reclaim");
            if n == 0 {
                return total;
            }
            total += n;
        }
    };
    let writes = join_all((0..300).map(|i| {
        let fresh = fixtures::execution(&f, 10_000 + i);
        let store = &store;
        async move { store.create_execution(&fresh).await }
    }));
    let (purged, written) = tokio::join!(purger, writes);
    assert_eq!(purged, 2_000);
    assert!(written.iter().all(Result::is_ok), "{written:?}");
    assert_eq!(
        store
            .list_executions(&all_executions())
            .await
            .expect("list")
            .len(),
        300
    );
    store.close().await;
}

/// The writer's commits run on the calling thread: when another connection holds the write lock
/// (a function's update through the pool, which awaits between its statements), the writer
/// waits for it without holding the thread, here the runtime's only one, which the lock's
/// holder needs to finish.
#[tokio::test]
async fn an_execution_write_waits_for_another_writers_lock_without_holding_the_thread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ridge.db");
    let (store, f) = open_with_function(&path).await;

    let mut other = holding_the_write_lock(&path).await;
    // When the holder began to let go: its COMMIT runs on sqlx's own thread, so the write can
    // finish (and be polled first) before the holder's task learns that COMMIT returned.
    let releasing = Arc::new(Mutex::new(None));
    let holder = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        *releasing.lock().expect("lock") = Some(std::time::Instant::now());
        sqlx::query("COMMIT")
            .execute(&mut other)
            .await
            .expect("release");
    };
    let e = execution(&f);
    let write = async {
        store
            .create_execution(&e)
            .await
            .expect("written once the lock is free");
        std::time::Instant::now()
    };
    let ((), written) = tokio::join!(holder, write);
    let releasing = releasing.lock().expect("lock").expect("released");
    assert!(written >= releasing, "the write waited for the lock");
    assert_eq!(store.get_execution(e.id).await.expect("get"), e);
    store.close().await;
}

/// On a quiet store an execution's write commits on its caller's task (`writer.rs`), so a
/// caller that stops waiting while another connection holds the write lock (a write under a
/// timeout) abandons it there. That leaves nothing half-written and the writer usable: the next
/// write commits, and the function's count matches the executions on disk.
#[tokio::test]
async fn a_write_abandoned_while_it_waits_for_the_lock_leaves_the_writer_usable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ridge.db");
    let (store, f) = open_with_function(&path).await;

    let mut other = holding_the_write_lock(&path).await;
    let abandoned = fixtures::execution(&f, 1);
    let waited = tokio::time::timeout(
        std::time::Duration::from_millis(100),
        store.create_execution(&abandoned),
    )
    .await;
    assert!(waited.is_err(), "the write waits for the lock: {waited:?}");
    sqlx::query("COMMIT")
        .execute(&mut other)
        .await
        .expect("release");

    let next = fixtures::execution(&f, 2);
    store
        .create_execution(&next)
        .await
        .expect("the writer is usable");
    assert_eq!(store.get_execution(next.id).await.expect("get"), next);
    let on_disk = store
        .list_executions(&all_executions())
        .await
        .expect("list")
        .len();
    let counted = store.get_function(f.id).await.expect("function").count;
    assert_eq!(
        i64::try_from(on_disk).expect("fits"),
        counted,
        "one function"
    );
    store.close().await;
}

/// The writer's connection does not checkpoint on its own (a checkpoint flushes the file): the
/// writer has one run beside its writes every so many commits, and waits for one that empties
/// the WAL when it outgrows 32 MiB, so the WAL does not grow with every execution.
#[tokio::test]
async fn the_wal_is_checkpointed_as_executions_are_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ridge.db");
    let (store, f) = open_with_function(&path).await;
    for i in 0..3_000 {
        store
            .create_execution(&fixtures::execution(&f, i))
            .await
            .expect("create");
    }
    let wal = std::fs::metadata(dir.path().join("ridge.db-wal"))
        .expect("the WAL")
        .len();
    // A commit of one execution adds about ten 4 KiB pages: 3,000 of them, never checkpointed,
    // would make it about 120 MB; it is checked every 100 commits (about 4 MB).
    assert!(wal < 40 << 20, "the WAL holds {wal} bytes");
    store.close().await;
}
