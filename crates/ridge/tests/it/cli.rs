//! The `ridge` binary: `ridge serve` as a process, and the CLI against a real server.

use std::time::Duration;

use crate::common::{TestServer, serve_process};
use serde_json::Value;
use tokio::process::Command;

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) async fn ridge(url: &str, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(args)
        .env("RIDGE_URL", url)
        .output()
        .await
        .expect("ridge runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub(crate) async fn json(url: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let run = ridge(url, &all).await;
    assert_eq!(run.code, 0, "ridge {args:?} failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
}

#[tokio::test]
async fn the_seed_quick_start_works_with_the_cli() {
    let t = TestServer::start().await;
    let url = t.url.clone();
    let rt = json(&url, &["runtime", "create", "python3", "--name", "python3"]).await;
    assert_eq!(rt["name"], "python3");
    for _ in 0..200 {
        if json(&url, &["runtime", "show", "python3"]).await["status"] == "available" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("function.py");
    std::fs::write(
        &file,
        "def main(name='World', **kwargs):\n    print('greeting', name)\n    return 'Hello, ' + name\n",
    )
    .expect("write");
    let f = json(
        &url,
        &[
            "function",
            "create",
            "--name",
            "function",
            "--runtime",
            "python3",
            "--entry",
            "function.main",
            "--file",
            file.to_str().expect("utf8"),
        ],
    )
    .await;
    assert_eq!(f["code"]["source"], "package");
    assert_eq!(f["memory_size"], 33_554_432);

    let e = json(
        &url,
        &[
            "execution",
            "create",
            "function",
            "--input",
            r#"{"name":"x"}"#,
        ],
    )
    .await;
    assert_eq!(e["status"], "success");
    let result: Value = serde_json::from_str(e["result"].as_str().expect("string")).expect("json");
    assert_eq!(result["output"], "Hello, x");

    let log = ridge(&url, &["execution", "log", e["id"].as_str().expect("id")]).await;
    assert_eq!(log.code, 0, "{}", log.stderr);
    assert!(log.stdout.contains("greeting x"), "{}", log.stdout);

    let queued = json(&url, &["execution", "create", "function", "--async"]).await;
    assert_eq!(queued["status"], "running");
    let done = t.wait(queued["id"].as_str().expect("id")).await;
    assert_eq!(done.status, "success");

    let value = ridge(&url, &["function", "show", "function", "-f", "value"]).await;
    assert_eq!(value.code, 0);
    assert!(value.stdout.contains(f["id"].as_str().expect("id")));
    let table = ridge(&url, &["execution", "list"]).await;
    assert_eq!(table.code, 0);
    assert!(table.stdout.contains(e["id"].as_str().expect("id")));

    let missing = ridge(&url, &["execution", "create", "nope"]).await;
    assert_ne!(missing.code, 0);
    assert!(missing.stderr.contains("nope"), "{}", missing.stderr);
    assert!(missing.stdout.is_empty());
    let bad = ridge(
        &url,
        &["function", "show", "6f1c4a37-1b38-4c4b-9c2e-0c1f0c2d9a11"],
    )
    .await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("Function not found"), "{}", bad.stderr);
    t.stop().await;
}

#[tokio::test]
async fn unreachable_servers_are_reported() {
    let run = ridge("http://127.0.0.1:9", &["runtime", "list"]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("127.0.0.1:9"), "{}", run.stderr);
}

#[tokio::test]
async fn serve_answers_when_ready_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tmp");
    let (mut child, url) = serve_process(dir.path(), None).await;

    let resp = reqwest::get(&url).await.expect("GET /");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(dir.path().join("ridge.db").exists());

    let pid = child.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("wait");
    assert!(status.success(), "clean exit: {status}");
}

#[tokio::test]
async fn admin_worker_commands() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "def main(**kw):\n    return 1\n").await;
    let url = t.url.clone();
    let workers = |url: String, id: String| async move {
        json(&url, &["function", "worker", "list", &id])
            .await
            .as_array()
            .map_or(0, Vec::len)
    };
    let up = ridge(&url, &["function", "scaleup", &f.id, "--count", "2"]).await;
    assert_eq!(up.code, 0, "{}", up.stderr);
    let mut seen = 0;
    for _ in 0..300 {
        seen = workers(url.clone(), f.id.clone()).await;
        if seen == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, 2, "scaleup pre-warmed two workers");
    let down = ridge(&url, &["function", "scaledown", "function", "--count", "5"]).await;
    assert_eq!(down.code, 0, "{}", down.stderr);
    assert_eq!(workers(url.clone(), f.id.clone()).await, 1);
    let detach = ridge(&url, &["function", "detach", &f.id]).await;
    assert_eq!(detach.code, 0, "{}", detach.stderr);
    assert_eq!(workers(url.clone(), f.id.clone()).await, 0);
    let bad = ridge(&url, &["function", "scaleup", &f.id, "--count", "0"]).await;
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("count"), "{}", bad.stderr);
    t.stop().await;
}

#[test]
fn doctor_names_each_missing_piece_and_its_fix() {
    let data = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(["doctor", "--python", "/nonexistent/python3", "--data-dir"])
        .arg(data.path())
        .output()
        .expect("ridge doctor runs");
    let report = String::from_utf8_lossy(&out.stdout);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{report}{errors}");
    assert!(report.contains("MISSING runtime: python3: "), "{report}");
    assert!(report.contains("fix: install Python 3"), "{report}");
    assert!(
        report.contains("ok      runtime: nodejs: node "),
        "{report}"
    );
    assert!(report.contains("sandbox: namespaces: "), "{report}");
    assert!(
        report.contains(&format!("disk: {}: ", data.path().display())),
        "{report}"
    );
    assert!(errors.contains("missing on this host"), "{errors}");
}
