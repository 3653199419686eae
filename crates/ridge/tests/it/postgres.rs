//! `ridge serve --store postgres://...` on a real PostgreSQL: functions run (sync and async) and
//! everything survives a restart; `--migrate-only` migrates and exits; a database that cannot be
//! reached stops the start with the reason.

use std::process::Stdio;
use std::time::Duration;

use ridge_core::api::CreateExecution;
use ridge_store::StoreUrl;
use ridge_store::testing::TestDatabase;
use tokio::process::Command;

use crate::common::TestServer;

const SOURCE: &str =
    "def main(name='nobody', **kw):\n    print('greeting', name)\n    return 'hello ' + name\n";

#[tokio::test]
async fn serve_on_postgres_runs_functions_and_survives_a_restart() {
    let db = TestDatabase::create().await;
    let store = StoreUrl::Postgres(db.url().to_owned());
    let s = TestServer::start_with({
        let store = store.clone();
        move |settings| settings.store = store
    })
    .await;
    let info: serde_json::Value = s
        .http()
        .get(format!("{}/v1/info", s.url))
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    let shown = info["store"].as_str().expect("store shown");
    assert!(shown.starts_with("postgres://ridge@127.0.0.1:"), "{shown}");
    assert!(
        !shown.contains("ridge-test"),
        "the password is never shown: {shown}"
    );

    let rt = s.python_runtime().await;
    let f = s.function(&rt, SOURCE).await;
    let sync = s.run(&f, Some(r#"{"name": "pg"}"#)).await;
    assert_eq!(sync.status, "success", "{sync:?}");
    let result = sync.result.as_deref().unwrap_or_default();
    assert!(result.contains("hello pg"), "{result}");
    let accepted = s
        .client
        .create_execution(&CreateExecution {
            function_id: Some(f.id.clone()),
            sync: Some(false),
            input: Some(serde_json::json!(r#"{"name": "later"}"#)),
            ..Default::default()
        })
        .await
        .expect("async accepted");
    let done = s.wait(&accepted.id).await;
    assert_eq!(done.status, "success", "{done:?}");
    let result = done.result.as_deref().unwrap_or_default();
    assert!(result.contains("hello later"), "{result}");
    let log = s.client.execution_log(&accepted.id).await.expect("log");
    assert!(log.contains("greeting later"), "{log}");
    let dir = s.stop().await;
    assert!(
        !dir.path().join("ridge.db").exists(),
        "no SQLite file beside a PostgreSQL store"
    );

    // A new server on the same database finds everything and runs the function again.
    let s = TestServer::start_in(dir, move |settings| settings.store = store).await;
    let again = s
        .client
        .get_function(&f.id)
        .await
        .expect("function survives");
    assert_eq!(again.id, f.id);
    let kept = s
        .client
        .get_execution(&accepted.id)
        .await
        .expect("execution survives");
    assert_eq!(
        (kept.status.as_str(), kept.result),
        ("success", done.result)
    );
    let rerun = s.run(&f, Some(r#"{"name": "again"}"#)).await;
    assert_eq!(rerun.status, "success", "{rerun:?}");
    s.stop().await;
}

/// Runs `ridge serve ARGS` to its end (bounded); returns whether it succeeded and its stderr.
async fn serve_to_the_end(args: &[&str]) -> (bool, String) {
    let data = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("ridge serve exits by itself")
        .expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn migrate_only_applies_the_migrations_and_exits() {
    let db = TestDatabase::create().await;
    assert!(db.applied_migrations().await.is_empty());
    let (ok, stderr) = serve_to_the_end(&["--migrate-only", "--store", db.url()]).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("is up to date"), "{stderr}");
    assert!(
        !stderr.contains("ridge-test"),
        "the password is never shown: {stderr}"
    );
    let applied = db.applied_migrations().await;
    assert!(applied.len() >= 4, "{applied:?}");
    // Again: nothing left to apply, still a success.
    let (ok, stderr) = serve_to_the_end(&["--migrate-only", "--store", db.url()]).await;
    assert!(ok, "{stderr}");
    assert_eq!(db.applied_migrations().await, applied);
}

#[tokio::test]
async fn an_unreachable_store_stops_the_start_with_the_reason() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("postgres://ridge:hunter2@127.0.0.1:{port}/ridge");
    let (ok, stderr) = serve_to_the_end(&["--store", &url]).await;
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot open the store `postgres://ridge@127.0.0.1:{port}/ridge`"
        )),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let (ok, stderr) = serve_to_the_end(&["--store", "mysql://u:hunter2@h/d"]).await;
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains("expected sqlite://PATH or postgres://"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
