//! Test support (feature `testing`): a real PostgreSQL database per test.
//!
//! The cluster comes from `RIDGE_TEST_POSTGRES_URL` (a superuser URL; `scripts/test.sh` starts
//! one cluster per run with `scripts/postgres-test.sh` and exports it). When the variable is
//! unset, as under a bare `cargo nextest run`, the first test of the run starts a private
//! cluster with the same script and every later test of the run finds it: the run is known by
//! the test process's parent (nextest, or cargo under `cargo test`), and a watchdog stops the
//! cluster once that parent has exited. A test never skips for want of PostgreSQL: it fails,
//! saying what is missing.
//!
//! Each [`TestDatabase`] is a database of its own (`ridge_test_<random>`), dropped with it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// The variable that names a running cluster's superuser URL.
pub const URL_VAR: &str = "RIDGE_TEST_POSTGRES_URL";

/// A fresh, empty database on the test cluster; dropped (connections and all) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    admin: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Creates a database with a random name on the run's cluster.
    pub async fn create() -> Self {
        let admin = cluster_url();
        let name = format!("ridge_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = admin_connection(&admin).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database `{name}`: {e}"));
        let _ = conn.close().await;
        let url = with_database(&admin, &name);
        Self { admin, name, url }
    }

    /// A superuser URL of this database (password included).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The versions of the migrations applied to this database, in order (none before a store
    /// first connects).
    pub async fn applied_migrations(&self) -> Vec<i64> {
        let mut conn = admin_connection(&self.url).await;
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .expect("look for the migrations table");
        if !exists {
            return Vec::new();
        }
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .expect("read the applied migrations")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // Drop may run inside a Tokio runtime, which cannot be blocked on: use a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds");
            runtime.block_on(async {
                let mut conn = admin_connection(&admin).await;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("warning: cannot drop test database `{}`", self.name);
        }
    }
}

async fn admin_connection(url: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(url).expect("the test cluster URL parses");
    PgConnection::connect_with(&options)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test cluster ({URL_VAR}): {e}"))
}

/// `url` with its database (path) replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{scheme}://{authority}/{name}{query}")
}

/// The superuser URL of the run's cluster, started on first use when none was given.
fn cluster_url() -> String {
    if let Ok(url) = std::env::var(URL_VAR) {
        return url;
    }
    let run = std::os::unix::process::parent_id();
    let dir = std::env::temp_dir().join(format!("ridge-test-postgres-{run}"));
    let lock_path = std::env::temp_dir().join(format!("ridge-test-postgres-{run}.lock"));
    let lock = File::create(&lock_path).expect("create the cluster lock file");
    lock.lock().expect("lock the cluster lock file");
    let url_file = dir.join("url");
    if let Ok(url) = std::fs::read_to_string(&url_file) {
        return url.trim().to_owned();
    }
    let script = script();
    let started = Command::new(&script)
        .arg("start")
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", script.display()));
    assert!(
        started.status.success(),
        "cannot start a PostgreSQL cluster for the tests (set {URL_VAR} to use a running one): {}",
        String::from_utf8_lossy(&started.stderr)
    );
    watch(run, &script, &dir, &lock_path);
    String::from_utf8_lossy(&started.stdout).trim().to_owned()
}

/// Starts a detached watchdog that stops the cluster when process `run` has exited.
#[expect(
    clippy::zombie_processes,
    reason = "the watchdog outlives this test process on purpose; init reaps it"
)]
fn watch(run: u32, script: &Path, dir: &Path, lock_path: &Path) {
    let watchdog = format!(
        "while kill -0 {run} 2>/dev/null; do sleep 1; done; '{}' stop '{}'; rm -f '{}'",
        script.display(),
        dir.display(),
        lock_path.display()
    );
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(watchdog)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command.spawn().expect("start the test cluster's watchdog");
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres-test.sh")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_parameters_kept() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5/postgres?sslmode=disable", "x"),
            "postgres://u:p@127.0.0.1:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
    }
}
