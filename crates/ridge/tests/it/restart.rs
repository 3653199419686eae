//! The server as a process: a `kill -9` loses no accepted execution, and SIGTERM lets running
//! executions finish before it exits.

use std::path::Path;
use std::time::Duration;

use crate::common::{serve_process, zip_files};
use ridge_client::{FunctionUpload, RidgeClient};
use ridge_core::api::{CreateExecution, ExecutionView};
use tokio::process::{Child, Command};

/// Starts `ridge serve` on a free port with `config` as its TOML settings.
async fn serve(data: &Path, config: &str) -> (Child, String) {
    serve_process(data, Some(config)).await
}

async fn setup(client: &RidgeClient) -> String {
    let rt = crate::common::python_runtime_via(client).await;
    let source =
        "import time\ndef main(sleep=0, **kw):\n    time.sleep(sleep)\n    return 'done'\n";
    client
        .create_function(&FunctionUpload {
            runtime_id: Some(rt.id),
            entry: Some("function.main".into()),
            package: Some(zip_files(&[("function.py", source)]).into()),
            ..Default::default()
        })
        .await
        .expect("function")
        .id
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

async fn start_async(client: &RidgeClient, function: &str, sleep: f64) -> String {
    client
        .create_execution(&CreateExecution {
            function_id: Some(function.to_owned()),
            sync: Some(false),
            input: Some(serde_json::json!(format!("{{\"sleep\": {sleep}}}"))),
            ..Default::default()
        })
        .await
        .expect("accepted")
        .id
}

async fn wait_final(client: &RidgeClient, id: &str) -> ExecutionView {
    for _ in 0..600 {
        let e = client.get_execution(id).await.expect("execution");
        if e.status != "running" {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("execution {id} never finished");
}

#[tokio::test]
async fn kill_9_loses_no_accepted_execution() {
    let data = tempfile::tempdir().expect("tmp");
    // A short lease: the restart, at another port, waits for the killed run's to run out.
    let config = "max_workers_per_function = 1\n[nodes]\nlease = 2\n";
    let (mut child, url) = serve(data.path(), config).await;
    let client = RidgeClient::new(&url).expect("client");
    let function = setup(&client).await;
    // One runs (and is cut off by the kill); the others wait in the queue.
    let running = start_async(&client, &function, 30.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(start_async(&client, &function, 0.0).await);
    }
    child.start_kill().expect("kill -9");
    child.wait().await.expect("reaped");
    // A crash can leave an unpacked copy half written: the restart must not serve it. (As
    // root, a copy is a tmpfs in the server's own mount namespace and ends with it, leaving
    // its empty mount point: a damaged copy is planted there.)
    let unpacked = data.path().join("unpacked");
    let mut damaged = 0;
    for file in files_under(&unpacked) {
        std::fs::write(&file, "this is not python (").expect("damage");
        damaged += 1;
    }
    if damaged == 0 {
        for project in std::fs::read_dir(&unpacked).into_iter().flatten().flatten() {
            for copy in std::fs::read_dir(project.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                std::fs::write(copy.path().join("function.py"), "this is not python (")
                    .expect("plant");
                damaged += 1;
            }
        }
    }
    assert!(damaged > 0, "the running execution had an unpacked package");

    let (mut child, url) = serve(data.path(), config).await;
    let client = RidgeClient::new(&url).expect("client");
    let interrupted = wait_final(&client, &running).await;
    assert_eq!(interrupted.status, "error");
    assert!(
        interrupted
            .result
            .as_deref()
            .is_some_and(|r| r.contains("interrupted")),
        "{:?}",
        interrupted.result
    );
    for id in &queued {
        assert_eq!(wait_final(&client, id).await.status, "success", "{id}");
    }
    child.start_kill().expect("kill");
}

#[tokio::test]
async fn sigterm_lets_running_executions_finish() {
    let data = tempfile::tempdir().expect("tmp");
    let config = "shutdown_timeout = 20\n";
    let (mut child, url) = serve(data.path(), config).await;
    let client = RidgeClient::new(&url).expect("client");
    let function = setup(&client).await;
    let id = start_async(&client, &function, 1.0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = child.id().expect("pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .expect("kill")
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after draining")
        .expect("wait");
    assert!(status.success(), "{status}");

    // Read the outcome back through a fresh server on the same data: it finished before exit.
    let (mut child, url) = serve(data.path(), config).await;
    let client = RidgeClient::new(&url).expect("client");
    let e = client.get_execution(&id).await.expect("execution");
    assert_eq!(e.status, "success", "{:?}", e.result);
    child.start_kill().expect("kill");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let data = tempfile::tempdir().expect("tmp");
    let mut command = crate::common::serve_command(data.path(), None);
    let mut child = command
        .args(["--log-format", "json"])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut logged = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.starts_with("Ridge listening on ") {
                return;
            }
            logged.push(line);
        }
        panic!("server exited before listening: {logged:?}");
    })
    .await
    .expect("listens within a minute");
    child.start_kill().expect("kill");
    let objects: Vec<serde_json::Value> = logged
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let serving = objects
        .iter()
        .find(|o| o["message"] == "Ridge is serving")
        .unwrap_or_else(|| panic!("no start-up line in {logged:?}"));
    assert_eq!(serving["level"], "INFO");
    assert!(
        serving["timestamp"].is_string() && serving["url"].is_string(),
        "{serving}"
    );
}

/// A SQLite store is one node's: a second `ridge serve` on the same database refuses to start,
/// saying why, and leaves the first serving; once the first has exited, a server starts on it.
#[tokio::test]
async fn a_second_server_on_one_sqlite_store_refuses_to_start() {
    let data = tempfile::tempdir().expect("tempdir");
    let (mut first, url) = serve(data.path(), "").await;
    let second = crate::common::serve_command(data.path(), None)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    let second = tokio::time::timeout(Duration::from_secs(60), second)
        .await
        .expect("the second server ends by itself")
        .expect("run");
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("is in use by another `ridge serve`") && said.contains("ridge.db.lock"),
        "{said}"
    );
    let client = RidgeClient::new(&url).expect("client");
    client
        .list_runtimes()
        .await
        .expect("the first still serves");
    first.kill().await.expect("kill");
    let _ = first.wait().await;
    let (_third, url) = serve(data.path(), "").await;
    let client = RidgeClient::new(&url).expect("client");
    client
        .list_runtimes()
        .await
        .expect("a server after the first");
}
