//! `ridge function version`, `ridge alias`, `ridge webhook` and `ridge job` through the binary.

use crate::common::{TestServer, returning};
use serde_json::Value;
use tokio::process::Command;

pub(crate) async fn ridge(url: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(args)
        .env("RIDGE_URL", url)
        .env_remove("RIDGE_WEBHOOK_SECRET")
        .output()
        .await
        .expect("ridge runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) async fn json(url: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let (code, stdout, stderr) = ridge(url, &all).await;
    assert_eq!(code, 0, "ridge {args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

#[tokio::test]
async fn versions_aliases_webhooks_and_jobs_from_the_cli() {
    let t = TestServer::start().await;
    let url = t.url.clone();
    let rt = t.python_runtime().await;
    let f = t.function(&rt, &returning("'one'")).await;

    let v = json(
        &url,
        &[
            "function",
            "version",
            "create",
            "function",
            "--description",
            "v1",
        ],
    )
    .await;
    assert_eq!(v["version_number"], 1);
    let listed = json(&url, &["function", "version", "list", "function"]).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let dir = tempfile::tempdir().expect("tmp");
    let zip = dir.path().join("v1.zip");
    let (code, _, stderr) = ridge(
        &url,
        &[
            "function",
            "version",
            "download",
            &f.id,
            "1",
            "-o",
            zip.to_str().expect("utf-8"),
        ],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Code package downloaded to"), "{stderr}");
    assert!(std::fs::metadata(&zip).expect("written").len() > 0);

    let a = json(
        &url,
        &[
            "alias",
            "create",
            "prod",
            "--function",
            "function",
            "--function-version",
            "1",
        ],
    )
    .await;
    assert_eq!(
        (a["name"].as_str(), a["function_version"].as_i64()),
        (Some("prod"), Some(1))
    );
    let a = json(
        &url,
        &["alias", "update", "prod", "--function-version", "0"],
    )
    .await;
    assert_eq!(a["function_version"], 0);

    let w = json(
        &url,
        &["webhook", "create", "--function-alias", "prod", "--secret"],
    )
    .await;
    let id = w["id"].as_str().expect("id").to_owned();
    let secret = w["secret"].as_str().expect("secret shown once").to_owned();
    let (code, _, stderr) = ridge(&url, &["webhook", "invoke", &id, "--input", "{\"a\": 1}"]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    let run = json(
        &url,
        &[
            "webhook",
            "invoke",
            &id,
            "--input",
            "{\"a\": 1}",
            "--secret",
            &secret,
        ],
    )
    .await;
    let e = t
        .wait(run["execution_id"].as_str().expect("execution id"))
        .await;
    assert_eq!(e.status, "success");

    let j = json(
        &url,
        &[
            "job",
            "create",
            "--function",
            "function",
            "--pattern",
            "0 0 * * *",
            "--name",
            "nightly",
        ],
    )
    .await;
    let job_id = j["id"].as_str().expect("id").to_owned();
    let paused = json(&url, &["job", "update", &job_id, "--status", "paused"]).await;
    assert_eq!(paused["status"], "paused");
    let (code, stdout, _) = ridge(&url, &["job", "list", "-f", "value"]).await;
    assert_eq!(code, 0);
    assert!(
        stdout.contains("nightly") && stdout.contains("paused"),
        "{stdout}"
    );

    let (code, _, stderr) = ridge(&url, &["alias", "delete", "prod"]).await;
    assert_ne!(code, 0, "the webhook still uses the alias");
    assert!(stderr.contains("still used by webhook(s)"), "{stderr}");
    for args in [
        ["job", "delete", job_id.as_str()],
        ["webhook", "delete", id.as_str()],
        ["alias", "delete", "prod"],
    ] {
        let (code, _, stderr) = ridge(&url, &args).await;
        assert_eq!(code, 0, "{args:?}: {stderr}");
    }
    let (code, _, stderr) = ridge(&url, &["function", "version", "delete", "function", "1"]).await;
    assert_eq!(code, 0, "{stderr}");
    t.stop().await;
}

#[tokio::test]
async fn event_triggers_from_the_cli() {
    let t = TestServer::start().await;
    let url = t.url.clone();
    let rt = t.python_runtime().await;
    t.function(&rt, &returning("'one'")).await;
    let created = json(
        &url,
        &[
            "trigger",
            "create",
            "--function",
            "function",
            "--amqp-url",
            "amqp://nova:hunter2-secret@127.0.0.1:1/%2f",
            "--exchange",
            "nova",
            "--binding-key",
            "notifications.info",
            "--event-type",
            "compute.instance.*.end",
            "--prefetch",
            "4",
        ],
    )
    .await;
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["amqp_url"], "amqp://nova:***@127.0.0.1:1/%2f");
    assert_eq!(created["event_types"][0], "compute.instance.*.end");
    let (code, table, _) = ridge(&url, &["trigger", "list"]).await;
    assert_eq!(code, 0);
    assert!(table.contains(&id) && !table.contains("hunter2"), "{table}");
    let paused = json(&url, &["trigger", "pause", &id]).await;
    assert_eq!(paused["status"], "paused");
    let updated = json(&url, &["trigger", "update", &id, "--max-retries", "7"]).await;
    assert_eq!(updated["max_retries"], 7);
    let resumed = json(&url, &["trigger", "resume", &id]).await;
    assert_ne!(resumed["status"], "paused");
    let shown = json(&url, &["trigger", "show", &id]).await;
    assert_eq!(shown["prefetch"], 4);

    // Refusals: the server's faultstring on stderr and a non-zero exit.
    let (code, _, stderr) = ridge(
        &url,
        &[
            "trigger",
            "create",
            "--function",
            "function",
            "--amqp-url",
            "http://not-amqp",
            "--queue",
            "q",
        ],
    )
    .await;
    assert_ne!(code, 0);
    assert!(stderr.contains("amqp://"), "{stderr}");
    let (code, _, stderr) = ridge(&url, &["trigger", "create", "--function", "function"]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("amqp_url"), "{stderr}");

    let (code, _, stderr) = ridge(&url, &["trigger", "delete", &id]).await;
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = ridge(&url, &["trigger", "show", &id]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("not found"), "{stderr}");
}
