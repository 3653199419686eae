//! `ridge store copy`: a SQLite node filled through its API, stopped, copied with its packages
//! onto PostgreSQL, and a server started on the copy finds everything under the same ids and
//! keeps working (the webhook's URL and secret, the logs, new executions); a second copy into
//! the now non-empty database is refused.

use std::path::Path;

use ridge_core::api::CreateExecution;
use ridge_store::StoreUrl;
use ridge_store::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::cli_triggers::{json as ridge_json, ridge};
use crate::common::TestServer;

const SOURCE: &str =
    "def main(name='nobody', **kw):\n    print('greeting', name)\n    return 'hello ' + name\n";

/// `ridge store copy ARGS`: its exit code and stderr.
async fn store_copy(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(["store", "copy"])
        .args(args)
        .output()
        .await
        .expect("ridge runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// What the API shows of everything, to compare before and after (webhook URLs without the
/// server's address, which is the caller's).
async fn snapshot(url: &str, function: &str, job: &str, webhook: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for args in [
        vec!["function", "show", function],
        vec!["function", "version", "list", function],
        vec!["alias", "show", "prod"],
        vec!["webhook", "show", webhook],
        vec!["job", "show", job],
        vec!["execution", "list"],
    ] {
        let mut shown = ridge_json(url, &args).await;
        if let Some(hook_url) = shown.get_mut("webhook_url") {
            let path = hook_url.as_str().and_then(|u| u.strip_prefix(url));
            *hook_url = json!(path.expect("a URL on this server"));
        }
        all.push(shown);
    }
    all
}

#[tokio::test]
async fn a_sqlite_node_copied_onto_postgres_keeps_everything_and_keeps_working() {
    let s = TestServer::start().await;
    let url = s.url.clone();
    let rt = s.python_runtime().await;
    let f = s.function(&rt, SOURCE).await;
    ridge_json(&url, &["function", "version", "create", &f.id]).await;
    ridge_json(
        &url,
        &[
            "alias",
            "create",
            "prod",
            "--function",
            &f.id,
            "--function-version",
            "1",
        ],
    )
    .await;
    let hook = ridge_json(
        &url,
        &["webhook", "create", "--function-alias", "prod", "--secret"],
    )
    .await;
    let hook_id = hook["id"].as_str().expect("id").to_owned();
    let secret = hook["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    let job = ridge_json(
        &url,
        &[
            "job",
            "create",
            "--function",
            &f.id,
            "--pattern",
            "0 0 * * *",
        ],
    )
    .await;
    let job_id = job["id"].as_str().expect("id").to_owned();
    let (code, _, stderr) = ridge(&url, &["quota", "set", &f.project_id, "--functions", "7"]).await;
    assert_eq!(code, 0, "{stderr}");
    let mut runs = Vec::new();
    for name in ["a", "b", "c"] {
        let e = s.run(&f, Some(&format!(r#"{{"name": "{name}"}}"#))).await;
        assert_eq!(e.status, "success", "{e:?}");
        runs.push(e);
    }
    let before = snapshot(&url, &f.id, &job_id, &hook_id).await;
    let quota_before = ridge_json(&url, &["quota", "show", &f.project_id]).await;
    let old = s.stop().await;

    let db = TestDatabase::create().await;
    let new = tempfile::tempdir().expect("new data dir");
    let from = format!("sqlite://{}", path_str(&old.path().join("ridge.db")));
    let packages_from = format!("file://{}", path_str(&old.path().join("packages")));
    let packages_to = format!("file://{}", path_str(&new.path().join("packages")));
    let args = [
        "--from",
        from.as_str(),
        "--to",
        db.url(),
        "--packages-from",
        packages_from.as_str(),
        "--packages-to",
        packages_to.as_str(),
    ];
    let (code, stderr) = store_copy(&args).await;
    assert_eq!(code, 0, "{stderr}");
    for line in [
        "executions: 3 rows",
        "webhooks: 1 rows",
        "quotas: 1 rows",
        "packages: 1 copied",
    ] {
        assert!(stderr.contains(line), "{line}: {stderr}");
    }
    assert!(
        !stderr.contains("ridge-test"),
        "no password shown: {stderr}"
    );

    // The nodes share the key that seals webhook secrets.
    std::fs::copy(
        old.path().join("webhook-secrets.key"),
        new.path().join("webhook-secrets.key"),
    )
    .expect("copy the key");
    let store = StoreUrl::Postgres(db.url().to_owned());
    let s = TestServer::start_in(new, move |settings| settings.store = store).await;
    let url = s.url.clone();
    assert_eq!(snapshot(&url, &f.id, &job_id, &hook_id).await, before);
    assert_eq!(
        ridge_json(&url, &["quota", "show", &f.project_id]).await,
        quota_before
    );
    let log = s.client.execution_log(&runs[1].id).await.expect("log");
    assert!(log.contains("greeting b"), "{log}");

    // The webhook still runs, with its secret checked.
    let (code, _, stderr) = ridge(&url, &["webhook", "invoke", &hook_id]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    let invoked = ridge_json(
        &url,
        &[
            "webhook",
            "invoke",
            &hook_id,
            "--input",
            r#"{"name": "hook"}"#,
            "--secret",
            &secret,
        ],
    )
    .await;
    let e = s
        .wait(invoked["execution_id"].as_str().expect("execution id"))
        .await;
    assert_eq!(e.status, "success", "{e:?}");
    let fresh = s
        .client
        .create_execution(&CreateExecution {
            function_id: Some(f.id.clone()),
            input: Some(json!(r#"{"name": "new"}"#)),
            ..Default::default()
        })
        .await
        .expect("a new execution");
    assert_eq!(fresh.status, "success", "{fresh:?}");
    assert!(fresh.result.unwrap_or_default().contains("hello new"));
    s.stop().await;

    // The target now holds data: a second copy is refused and changes nothing.
    let (code, stderr) = store_copy(&args[..4]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("already holds data"), "{stderr}");
}

#[tokio::test]
async fn bad_arguments_are_refused_before_anything_is_opened() {
    let dir = tempfile::tempdir().expect("dir");
    let db = format!("sqlite://{}", path_str(&dir.path().join("ridge.db")));
    for (args, expected) in [
        (
            vec!["--from", db.as_str(), "--to", db.as_str()],
            "are the same store",
        ),
        (
            vec!["--from", "mysql://u:pw@h/d", "--to", db.as_str()],
            "invalid store URL",
        ),
        (
            vec![
                "--from",
                db.as_str(),
                "--to",
                "sqlite:///x",
                "--packages-from",
                "file:///p",
            ],
            "--packages-to",
        ),
        (
            vec!["--from", db.as_str(), "--to", "sqlite:///x"],
            "no such database file",
        ),
    ] {
        let (code, stderr) = store_copy(&args).await;
        assert_ne!(code, 0, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(!dir.path().join("ridge.db").exists());
    assert!(
        !Path::new("/x").exists(),
        "the target is not created before the source is checked"
    );
}

#[tokio::test]
async fn packages_copied_into_s3_keep_their_size_markers_and_run() {
    use ridge::packages::PackagesSettings;
    use ridge_package::S3Location;
    use ridge_package::s3::testing::TestS3;

    let s = TestServer::start().await;
    let rt = s.python_runtime().await;
    let f = s.function(&rt, SOURCE).await;
    let old = s.stop().await;

    let s3 = TestS3::start();
    let bucket = s3.bucket().await;
    let packages_to = format!("s3://{}/ridge", bucket.name());
    let new = tempfile::tempdir().expect("new data dir");
    let db = new.path().join("ridge.db");
    let out = Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(["store", "copy", "--from"])
        .arg(format!(
            "sqlite://{}",
            path_str(&old.path().join("ridge.db"))
        ))
        .arg("--to")
        .arg(format!("sqlite://{}", path_str(&db)))
        .arg("--packages-from")
        .arg(format!("file://{}", path_str(&old.path().join("packages"))))
        .args(["--packages-to", &packages_to])
        .envs(s3.env())
        .output()
        .await
        .expect("ridge runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let md5 = f.code["md5sum"].as_str().expect("md5");
    let key = format!("ridge/{}/{}_{md5}.zip", f.project_id, f.id);
    let objects = bucket.list("").await.expect("list");
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], key);
    assert!(keys[1].starts_with(&format!("{key}.unpacked-")), "{keys:?}");

    let settings = PackagesSettings::S3 {
        location: S3Location::parse(&packages_to).expect("valid"),
        config: s3.config(),
    };
    let s = TestServer::start_in(new, move |s| s.packages = settings).await;
    let run = s.run(&f, Some(r#"{"name": "s3"}"#)).await;
    assert_eq!(run.status, "success", "{run:?}");
    s.stop().await;
}
