//! What only the PostgreSQL store has: several nodes (stores) on one database, migrations under
//! the advisory lock, compare-and-swaps across connections, and start-up errors that say why.

use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use ridge_core::fixtures::{self, at};
use ridge_core::{Execution, ExecutionStatus, Function, JobStatus};
use ridge_store::testing::TestDatabase;
use ridge_store::{
    Durability, ExecutionOutcome, JobClaim, PostgresStore, PurgeBy, PurgeScope, Store, StoreError,
};
use sqlx::Connection;

/// How many migrations this Ridge ships for PostgreSQL.
fn shipped_migrations() -> usize {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations-postgres");
    std::fs::read_dir(dir)
        .expect("migrations directory")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count()
}

/// Two seeded nodes on one database.
async fn two_nodes(db: &TestDatabase) -> (PostgresStore, PostgresStore) {
    let a = PostgresStore::connect(db.url()).await.expect("node a");
    let b = PostgresStore::connect(db.url()).await.expect("node b");
    (a, b)
}

/// A store on `db` with `N` functions of one runtime.
async fn with_functions<const N: usize>(db: &TestDatabase) -> (PostgresStore, [Function; N]) {
    let store = PostgresStore::connect(db.url()).await.expect("connect");
    let rt = fixtures::runtime("p1", true, 1);
    store.create_runtime(&rt).await.expect("runtime");
    let functions = std::array::from_fn(|i| fixtures::function("p1", rt.id, 2 + i as i64));
    for f in &functions {
        store.create_function(f).await.expect("function");
    }
    (store, functions)
}

/// The sizes of the write batches `nodes` commit from now on.
fn observe(nodes: &[&PostgresStore]) -> Arc<Mutex<Vec<usize>>> {
    let batches = Arc::new(Mutex::new(Vec::new()));
    for node in nodes {
        let seen = batches.clone();
        node.observe_write_batches(Arc::new(move |writes| {
            seen.lock().expect("not poisoned").push(writes)
        }));
    }
    batches
}

fn success() -> ExecutionOutcome {
    ExecutionOutcome {
        status: ridge_core::ExecutionStatus::Success,
        result: ridge_core::ExecutionResult::new(0.1, serde_json::json!(1)),
        logs: String::new(),
    }
}

async fn execute(conn: &mut sqlx::PgConnection, sql: &str) {
    sqlx::query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let db = TestDatabase::create().await;
    assert!(db.applied_migrations().await.is_empty());
    let nodes = join_all((0..4).map(|_| PostgresStore::connect(db.url()))).await;
    for node in &nodes {
        assert!(node.is_ok(), "{node:?}");
    }
    let versions = db.applied_migrations().await;
    assert_eq!(versions.len(), shipped_migrations(), "{versions:?}");
    assert_eq!(versions, (1..=versions.len() as i64).collect::<Vec<_>>());
    // A later start finds every migration applied and applies none again.
    PostgresStore::connect(db.url()).await.expect("restart");
    assert_eq!(db.applied_migrations().await, versions);
}

#[tokio::test]
async fn what_one_node_writes_another_reads_and_started_executions_are_claimed_once() {
    let db = TestDatabase::create().await;
    let (a, b) = two_nodes(&db).await;
    let rt = fixtures::runtime("p1", true, 1);
    a.create_runtime(&rt).await.expect("runtime");
    let f = fixtures::function("p1", rt.id, 2);
    a.create_function(&f).await.expect("function");
    assert_eq!(b.get_function(f.id).await.expect("seen by b"), f);

    let executions: Vec<_> = (0..20).map(|i| fixtures::execution(&f, 10 + i)).collect();
    for (i, e) in executions.iter().enumerate() {
        let node: &dyn Store = if i % 2 == 0 { &a } else { &b };
        node.create_execution(e).await.expect("create");
    }
    // Both nodes race to start every execution, each from two connections at once.
    let races = executions.iter().map(|e| async {
        let (w, x, y, z) = tokio::join!(
            a.mark_execution_started(e.id, "local", at(50), Durability::Flushed),
            b.mark_execution_started(e.id, "local", at(51), Durability::Flushed),
            a.mark_execution_started(e.id, "local", at(52), Durability::Flushed),
            b.mark_execution_started(e.id, "local", at(53), Durability::Flushed),
        );
        [w, x, y, z]
            .into_iter()
            .filter(|won| *won.as_ref().expect("mark started"))
            .count()
    });
    let winners = join_all(races).await;
    assert!(winners.iter().all(|n| *n == 1), "{winners:?}");
    assert_eq!(b.get_function(f.id).await.expect("get").count, 20);
}

#[tokio::test]
async fn two_nodes_creating_one_functions_executions_at_once_batch_and_count_every_one() {
    let db = TestDatabase::create().await;
    let (a, b) = two_nodes(&db).await;
    let batches = observe(&[&a, &b]);
    let rt = fixtures::runtime("p1", true, 1);
    a.create_runtime(&rt).await.expect("runtime");
    let f = fixtures::function("p1", rt.id, 2);
    a.create_function(&f).await.expect("function");
    let version = a
        .create_version(f.id, ridge_core::VersionId::new(), None, at(3), 10)
        .await
        .expect("version");

    // A lone write is committed at once, on its own.
    a.create_execution(&fixtures::execution(&f, 4))
        .await
        .expect("create");
    assert_eq!(*batches.lock().expect("not poisoned"), vec![1]);

    // Each node creates, starts and finishes its share, all at once: both writers lock the
    // function's and the version's rows in every batch.
    let executions: Vec<_> = (0..400)
        .map(|i| {
            let mut e = fixtures::execution(&f, 10 + i);
            e.function_version = if i % 4 == 3 {
                version.version_number
            } else {
                0
            };
            e
        })
        .collect();
    let outcome = success();
    let lives = executions.iter().enumerate().map(|(i, e)| {
        let node: &dyn Store = if i % 2 == 0 { &a } else { &b };
        let outcome = &outcome;
        async move {
            node.create_execution(e).await?;
            let started = node
                .mark_execution_started(e.id, "local", at(50), Durability::Flushed)
                .await?;
            let finished = node.finish_execution(e.id, outcome).await?;
            Ok::<_, StoreError>((started, finished.is_some()))
        }
    });
    for life in join_all(lives).await {
        assert_eq!(life.expect("every write succeeds"), (true, true));
    }

    let function = b.get_function(f.id).await.expect("function");
    assert_eq!(function.count, 301);
    let version = b
        .get_version(f.id, version.version_number)
        .await
        .expect("version");
    assert_eq!(version.count, 100);
    for e in &executions {
        let stored = a.get_execution(e.id).await.expect("no execution lost");
        assert_eq!(stored.status, ridge_core::ExecutionStatus::Success);
    }
    let sizes = batches.lock().expect("not poisoned").clone();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        1 + 3 * executions.len(),
        "{sizes:?}"
    );
    assert!(
        sizes.iter().any(|n| *n > 1),
        "1200 concurrent writes never shared a transaction: {sizes:?}"
    );
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn a_batch_that_postgres_aborts_for_a_deadlock_is_applied_again_whole() {
    let db = TestDatabase::create().await;
    let (store, [f]) = with_functions(&db).await;
    let mut executions = [fixtures::execution(&f, 3), fixtures::execution(&f, 4)];
    executions.sort_by_key(|e| e.id);
    for e in &executions {
        store.create_execution(e).await.expect("create");
    }
    let [first, second] = &executions;
    let batches = observe(&[&store]);

    // Another session holds the second row, then asks for the first, which the writer's batch
    // holds while it waits for the second: a deadlock, which the writer's session detects
    // (its deadlock_timeout is the shorter), so the batch is the one aborted.
    let mut other = sqlx::PgConnection::connect(db.url())
        .await
        .expect("connect");
    execute(&mut other, "SET deadlock_timeout = '30s'").await;
    execute(&mut other, "BEGIN").await;
    let touch = "UPDATE executions SET description = 'touched' WHERE id = $1";
    sqlx::query(touch)
        .bind(second.id.to_string())
        .execute(&mut other)
        .await
        .expect("lock the second");
    let outcome = success();
    let crossing = async {
        let mut watch = sqlx::PgConnection::connect(db.url())
            .await
            .expect("connect");
        loop {
            let waiting: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE NOT granted")
                    .fetch_one(&mut watch)
                    .await
                    .expect("locks");
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        sqlx::query(touch)
            .bind(first.id.to_string())
            .execute(&mut other)
            .await
            .expect("lock the first once the writer gives it up");
        execute(&mut other, "COMMIT").await;
    };
    let (one, two, ()) = tokio::join!(
        store.finish_execution(first.id, &outcome),
        store.finish_execution(second.id, &outcome),
        crossing,
    );
    assert!(one.expect("finish").is_some());
    assert!(two.expect("finish").is_some());
    assert_eq!(*batches.lock().expect("not poisoned"), vec![2]);
    for e in &executions {
        let stored = store.get_execution(e.id).await.expect("get");
        assert_eq!(stored.status, ridge_core::ExecutionStatus::Success);
        assert_eq!(stored.description.as_deref(), Some("touched"));
    }
    store.close().await;
}

/// A batch of one function's creates (or one version's) is one statement: each execution is
/// stored and counted once, and when the target is missing each is refused with the reason and
/// nothing is written.
#[tokio::test]
async fn a_batch_of_one_targets_creates_counts_each_or_refuses_each() {
    let db = TestDatabase::create().await;
    let (store, [f, gone]) = with_functions(&db).await;
    let version = store
        .create_version(f.id, ridge_core::VersionId::new(), None, at(3), 10)
        .await
        .expect("version");
    store.delete_function(gone.id).await.expect("delete");
    let batches = observe(&[&store]);
    let of = |function: &Function, version: i64, from: i64| -> Vec<Execution> {
        (from..from + 30)
            .map(|i| {
                let mut e = fixtures::execution(function, i);
                e.function_version = version;
                e
            })
            .collect()
    };
    let groups = [
        of(&f, 0, 100),
        of(&f, version.version_number, 200),
        of(&gone, 0, 300),
        of(&f, 7, 400),
    ];
    for (i, group) in groups.iter().enumerate() {
        // Sent before the writer runs (the test's runtime has one thread): one batch.
        let created = join_all(group.iter().map(|e| store.create_execution(e))).await;
        for (e, created) in group.iter().zip(created) {
            match i {
                0 | 1 => {
                    created.expect("created");
                    assert_eq!(&store.get_execution(e.id).await.expect("stored"), e);
                }
                2 => assert!(
                    matches!(created, Err(StoreError::FunctionNotFound { id }) if id == gone.id),
                    "{created:?}"
                ),
                _ => assert!(
                    matches!(created, Err(StoreError::VersionNotFound { version: 7, .. })),
                    "{created:?}"
                ),
            }
            if i > 1 {
                assert!(matches!(
                    store.get_execution(e.id).await,
                    Err(StoreError::ExecutionNotFound { .. })
                ));
            }
        }
    }
    assert_eq!(*batches.lock().expect("not poisoned"), vec![30; 4]);
    assert_eq!(store.get_function(f.id).await.expect("function").count, 30);
    let version = store
        .get_version(f.id, version.version_number)
        .await
        .expect("version");
    assert_eq!(version.count, 30);
}

/// One batch's starts go in one statement and its finishes in another, and a statement changes
/// a row once: an execution written more than once in one batch has its writes applied in the
/// order they were sent, each compare-and-swap seeing the one before.
#[tokio::test]
async fn an_execution_written_twice_in_one_batch_keeps_its_writes_in_order() {
    let db = TestDatabase::create().await;
    let (store, [f]) = with_functions(&db).await;
    let (a, b, c) = (
        fixtures::execution(&f, 3),
        fixtures::execution(&f, 4),
        fixtures::execution(&f, 5),
    );
    for e in [&a, &b, &c] {
        store.create_execution(e).await.expect("create");
    }
    let batches = observe(&[&store]);
    let outcome = success();
    let start =
        |id, at_ms| store.mark_execution_started(id, "local", at(at_ms), Durability::Flushed);
    // Sent before the writer runs (the test's runtime has one thread): one batch.
    let (started, again, finished, b_done, b_again, c_started, c_elsewhere) = tokio::join!(
        start(a.id, 6_000),
        start(a.id, 6_001),
        store.finish_execution(a.id, &outcome),
        store.finish_execution(b.id, &outcome),
        store.finish_execution(b.id, &outcome),
        start(c.id, 6_002),
        store.mark_execution_started(c.id, "other", at(6_003), Durability::Flushed),
    );
    assert_eq!(*batches.lock().expect("not poisoned"), vec![7]);
    assert!(started.expect("start"), "the first start wins");
    assert!(!again.expect("start"), "the second start sees the first");
    let finished = finished
        .expect("finish")
        .expect("a started execution finishes");
    assert_eq!(finished.started_at, Some(at(6_000)));
    assert_eq!(finished.status, ExecutionStatus::Success);
    assert!(b_done.expect("finish").is_some(), "the first finish wins");
    assert!(
        b_again.expect("finish").is_none(),
        "the second finish sees the first"
    );
    assert!(c_started.expect("start"));
    assert!(!c_elsewhere.expect("start"), "another node cannot claim it");
    for (e, started_at) in [(&a, Some(at(6_000))), (&b, None), (&c, Some(at(6_002)))] {
        let stored = store.get_execution(e.id).await.expect("get");
        assert_eq!(stored.started_at, started_at, "{}", e.id);
    }
    store.close().await;
}

#[tokio::test]
async fn writes_fail_together_not_one_timeout_each_when_the_database_is_gone() {
    let db = TestDatabase::create().await;
    let (before, after) = db.url().split_once('@').expect("a URL with credentials");
    let (upstream, path) = after.split_once('/').expect("a URL with a database");
    let (proxy, link) = forward(upstream.parse().expect("an address")).await;
    let store = PostgresStore::connect(&format!("{before}@{proxy}/{path}"))
        .await
        .expect("connect");
    let rt = fixtures::runtime("p1", true, 1);
    store.create_runtime(&rt).await.expect("runtime");
    let f = fixtures::function("p1", rt.id, 2);
    store.create_function(&f).await.expect("function");
    store
        .create_execution(&fixtures::execution(&f, 3))
        .await
        .expect("create while the database is there");

    // The database goes away: open connections drop, new ones are refused. One batch waits
    // for a connection until the pool gives up (10 s); its writes must not then wait as long
    // again each, one after the other.
    link.abort();
    let _ = link.await;
    let started = std::time::Instant::now();
    let creates = (0..5)
        .map(|i| fixtures::execution(&f, 10 + i))
        .collect::<Vec<_>>();
    let results = join_all(creates.iter().map(|e| store.create_execution(e))).await;
    for result in &results {
        assert!(
            matches!(result, Err(StoreError::Database(sqlx::Error::PoolTimedOut))),
            "{result:?}"
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(35),
        "5 writes took {:?} to fail",
        started.elapsed()
    );
}

#[tokio::test]
async fn connections_the_network_dropped_are_replaced_not_lent() {
    let db = TestDatabase::create().await;
    let (before, after) = db.url().split_once('@').expect("a URL with credentials");
    let (upstream, path) = after.split_once('/').expect("a URL with a database");
    let upstream: std::net::SocketAddr = upstream.parse().expect("an address");
    // A forwarder whose open links can be cut while it goes on accepting new ones.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let proxy = listener.local_addr().expect("address");
    let links = Arc::new(Mutex::new(tokio::task::JoinSet::new()));
    let accepting = {
        let links = links.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                links.lock().expect("not poisoned").spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        })
    };
    let store = PostgresStore::connect(&format!("{before}@{proxy}/{path}"))
        .await
        .expect("connect");
    let rt = fixtures::runtime("p1", true, 1);
    store.create_runtime(&rt).await.expect("runtime");
    // Several reads at once, so that the pool holds several connections.
    let reads = join_all((0..4).map(|_| store.get_runtime(rt.id))).await;
    assert!(reads.iter().all(Result::is_ok), "{reads:?}");

    links.lock().expect("not poisoned").abort_all();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    // Each connection the pool holds is dead, and idle past the ping threshold: the pool
    // finds out before lending it and opens another.
    for _ in 0..6 {
        store
            .get_runtime(rt.id)
            .await
            .expect("read on a new connection");
    }
    accepting.abort();
}

/// A TCP forwarder to `upstream` on a port of its own; aborting the returned task refuses new
/// connections and drops the open ones, as a lost database would.
async fn forward(
    upstream: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        let mut links = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            links.spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn a_batch_waiting_on_a_row_does_not_hold_back_the_next() {
    let db = TestDatabase::create().await;
    let (store, [busy, idle]) = with_functions(&db).await;
    // Another session holds the busy function's row, so a create of it waits in its batch.
    let mut other = sqlx::PgConnection::connect(db.url())
        .await
        .expect("connect");
    execute(&mut other, "BEGIN").await;
    sqlx::query("UPDATE functions SET description = 'held' WHERE id = $1")
        .bind(busy.id.to_string())
        .execute(&mut other)
        .await
        .expect("hold the row");
    let first = fixtures::execution(&busy, 4);
    let waiting = store.create_execution(&first);
    let next = async {
        // Sent once the first write is taken, so it is another batch.
        tokio::task::yield_now().await;
        let created = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            store.create_execution(&fixtures::execution(&idle, 5)),
        )
        .await;
        execute(&mut other, "COMMIT").await;
        created
    };
    let (waited, next) = tokio::join!(waiting, next);
    next.expect("committed while the other batch waits")
        .expect("create");
    waited.expect("create once the row is free");
    assert_eq!(store.get_function(busy.id).await.expect("get").count, 1);
    assert_eq!(store.get_function(idle.id).await.expect("get").count, 1);
    store.close().await;
}

#[tokio::test]
async fn a_job_tick_is_claimed_by_exactly_one_node() {
    let db = TestDatabase::create().await;
    let (a, b) = two_nodes(&db).await;
    let rt = fixtures::runtime("p1", true, 1);
    a.create_runtime(&rt).await.expect("runtime");
    let f = fixtures::function("p1", rt.id, 2);
    a.create_function(&f).await.expect("function");
    let job = fixtures::job(&f, 3);
    a.create_job(&job).await.expect("job");
    let mut expected = job.next_execution_time;
    for tick in 1..=10 {
        let claim = JobClaim {
            status: JobStatus::Running,
            next_execution_time: expected + chrono::Duration::seconds(1),
            count: None,
        };
        let claims = (0..8).map(|i| {
            let node: &dyn Store = if i % 2 == 0 { &a } else { &b };
            node.claim_job(job.id, expected, &claim)
        });
        let wins = join_all(claims)
            .await
            .into_iter()
            .filter(|won| *won.as_ref().expect("claim"))
            .count();
        assert_eq!(wins, 1, "tick {tick}");
        expected = claim.next_execution_time;
    }
}

#[tokio::test]
async fn nodes_purging_at_once_delete_each_execution_once_and_fail_nothing() {
    let db = TestDatabase::create().await;
    let (a, b) = two_nodes(&db).await;
    let rt = fixtures::runtime("p1", true, 1);
    a.create_runtime(&rt).await.expect("runtime");
    let f = fixtures::function("p1", rt.id, 2);
    a.create_function(&f).await.expect("function");
    for i in 0..300 {
        let e = Execution {
            status: ExecutionStatus::Success,
            ..fixtures::execution(&f, 10 + i)
        };
        a.create_execution(&e).await.expect("create");
    }
    // Four purgers on two nodes, by age and by count, each batch after batch until empty.
    let purge_all = |node: &PostgresStore, by: PurgeBy| {
        let node = node.clone();
        async move {
            let mut total = 0;
            loop {
                let n = node
                    .purge_executions(&PurgeScope::Defaults, by, 25)
                    .await
                    .expect("purge");
                if n == 0 {
                    return total;
                }
                total += n;
            }
        }
    };
    let by_age = PurgeBy::CreatedBefore(at(1_000));
    let by_count = PurgeBy::BeyondNewest(0);
    let (w, x, y, z) = tokio::join!(
        purge_all(&a, by_age),
        purge_all(&b, by_age),
        purge_all(&a, by_count),
        purge_all(&b, by_count),
    );
    assert_eq!(w + x + y + z, 300, "each row deleted once: {w} {x} {y} {z}");
    assert!(a.get_function(f.id).await.is_ok());
}

#[tokio::test]
async fn the_url_is_shown_without_its_password() {
    let db = TestDatabase::create().await;
    let store = PostgresStore::connect(db.url()).await.expect("connect");
    let shown = store.describe();
    assert!(shown.starts_with("postgres://ridge@127.0.0.1:"), "{shown}");
    assert!(!shown.contains("ridge-test"), "{shown}");
}

#[tokio::test]
async fn an_unreachable_database_says_so_at_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("postgres://ridge:hunter2@127.0.0.1:{port}/ridge");
    let started = std::time::Instant::now();
    let err = PostgresStore::connect(&url)
        .await
        .expect_err("nothing listens");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "no retrying until a pool timeout"
    );
    let text = chain(&err);
    assert!(matches!(err, StoreError::Connect { .. }), "{text}");
    assert!(
        text.contains(&format!("postgres://ridge@127.0.0.1:{port}/ridge")),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn refused_credentials_say_so() {
    let db = TestDatabase::create().await;
    let wrong = db.url().replace(":ridge-test@", ":not-the-password@");
    assert_ne!(wrong, db.url());
    let err = PostgresStore::connect(&wrong)
        .await
        .expect_err("wrong password");
    let text = chain(&err);
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}

/// An error and its sources, as the binary prints them.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
