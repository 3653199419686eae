//! Shared test harness: a real Ridge server on `127.0.0.1:0` with a temporary data directory,
//! real SQLite and real Python workers, and a `ridge-client` pointed at it; or `ridge serve` as
//! a process ([`serve_process`]), for what only a process shows (signals, `kill -9`).

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ridge::config::{FileConfig, Overrides, Settings};
use ridge::serve::{Server, start};
use ridge_client::{FunctionUpload, RidgeClient};
use ridge_core::api::{ExecutionView, FunctionView, RuntimeView};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct TestServer {
    pub server: Server,
    pub client: RidgeClient,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, adjust).await
    }

    /// Starts on an existing data directory (to test restarts).
    pub async fn start_in(dir: tempfile::TempDir, adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start_from(dir, FileConfig::default(), adjust).await
    }

    /// Starts with the settings of a configuration file (as `ridge serve --config` reads it).
    pub async fn start_with_config(
        path: &std::path::Path,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = FileConfig::load(path).expect("valid config file");
        Self::start_from(dir, file, adjust).await
    }

    async fn start_from(
        dir: tempfile::TempDir,
        file: FileConfig,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let mut settings = Settings::merge(
            Overrides {
                listen: Some("127.0.0.1:0".to_owned()),
                data_dir: Some(dir.path().to_path_buf()),
                ..Overrides::default()
            },
            file,
        )
        .expect("valid settings");
        adjust(&mut settings);
        let server = start(settings).await.expect("server starts");
        let url = server.url();
        let client = RidgeClient::new(&url).expect("client");
        Self {
            server,
            client,
            url,
            dir,
        }
    }

    pub async fn stop(self) -> tempfile::TempDir {
        self.server.stop().await.expect("server stops");
        self.dir
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }

    pub fn v1(&self, path: &str) -> String {
        format!("{}/v1/{}", self.url, path.trim_start_matches('/'))
    }

    /// Creates a python3 runtime and waits (bounded) until it is available.
    /// Waits too (bounded) until a pre-started worker is ready when this host can pre-start
    /// them, so that a first execution takes one (the hostile and limits tests run in them).
    pub async fn python_runtime(&self) -> RuntimeView {
        let rt = self.runtime("python3").await;
        for _ in 0..400 {
            let pool = self.client.runtime_pool(&rt.id).await.expect("pool");
            if pool.prestarted.ready > 0 || pool.prestarted.unavailable.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        rt
    }

    /// Creates a runtime of the kind `image` names and waits (bounded) until it is available.
    pub async fn runtime(&self, image: &str) -> RuntimeView {
        let created = self
            .client
            .create_runtime(&ridge_core::api::CreateRuntime {
                image: Some(image.to_owned()),
                name: Some(image.to_owned()),
                ..Default::default()
            })
            .await
            .expect("runtime created");
        self.wait_runtime(&created.id).await
    }

    /// Polls a runtime until it is available (bounded).
    pub async fn wait_runtime(&self, id: &str) -> RuntimeView {
        for _ in 0..200 {
            let rt = self.client.get_runtime(id).await.expect("runtime");
            if rt.status == "available" {
                return rt;
            }
            assert_eq!(rt.status, "creating", "runtime went to {}", rt.status);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("runtime never became available");
    }

    /// Creates a function from one Python source file `function.py` with entry `function.main`.
    pub async fn function(&self, runtime: &RuntimeView, source: &str) -> FunctionView {
        self.function_with(runtime, zip_files(&[("function.py", source)]), |_| {})
            .await
    }

    pub async fn function_with(
        &self,
        runtime: &RuntimeView,
        package: Vec<u8>,
        adjust: impl FnOnce(&mut FunctionUpload),
    ) -> FunctionView {
        let mut upload = FunctionUpload {
            name: Some("function".to_owned()),
            runtime_id: Some(runtime.id.clone()),
            entry: Some("function.main".to_owned()),
            package: Some(package.into()),
            ..FunctionUpload::default()
        };
        adjust(&mut upload);
        self.client
            .create_function(&upload)
            .await
            .expect("function created")
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Runs the function synchronously with `input` (a string, as Qinling clients send it).
    pub async fn run(&self, function: &FunctionView, input: Option<&str>) -> ExecutionView {
        self.client
            .create_execution(&ridge_core::api::CreateExecution {
                function_id: Some(function.id.clone()),
                input: input.map(|i| serde_json::Value::String(i.to_owned())),
                ..Default::default()
            })
            .await
            .expect("execution created")
    }

    /// Polls an execution until it leaves `running` (bounded).
    pub async fn wait(&self, id: &str) -> ExecutionView {
        for _ in 0..400 {
            let e = self.client.get_execution(id).await.expect("execution");
            if e.status != "running" {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("execution {id} did not finish");
    }
}

/// Starts `ridge serve` as a process on a free port with `data` as its data directory (and
/// `config`, the text of a TOML settings file, when given); returns the child and its URL once
/// it says it listens. Its stderr is drained from then on; the child is killed when dropped.
pub async fn serve_process(data: &Path, config: Option<&str>) -> (Child, String) {
    serve_process_with(data, config, |_| {}).await
}

/// [`serve_process`] with more arguments or variables, which `adjust` adds.
pub async fn serve_process_with(
    data: &Path,
    config: Option<&str>,
    adjust: impl FnOnce(&mut Command),
) -> (Child, String) {
    let mut command = serve_command(data, config);
    adjust(&mut command);
    serve_child(command).await
}

/// Runs `command`, which starts `ridge serve` (directly or through another program), and
/// returns the child and the server's URL once it says it listens; as [`serve_process`].
pub async fn serve_child(mut command: Command) -> (Child, String) {
    let mut child = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(url) = line.strip_prefix("Ridge listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server starts within a minute");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

/// A `python3` runtime created through `client` (a server the test started as a process), once
/// it is available (at most 10 s).
pub async fn python_runtime_via(client: &RidgeClient) -> RuntimeView {
    let runtime = client
        .create_runtime(&ridge_core::api::CreateRuntime {
            image: Some("python3".into()),
            ..Default::default()
        })
        .await
        .expect("runtime");
    for _ in 0..400 {
        let view = client.get_runtime(&runtime.id).await.expect("runtime");
        if view.status == "available" {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the python3 runtime is not available within 10 s");
}

/// `ridge serve` on a free port with `data` as its data directory (and `config`, the text of
/// a TOML settings file, when given), not yet started.
pub fn serve_command(data: &Path, config: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ridge"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data);
    if let Some(config) = config {
        let config_path = data.join("ridge.toml");
        std::fs::write(&config_path, config).expect("config");
        command.arg("--config").arg(&config_path);
    }
    command
}

/// The unchanged `openstack` CLI: `RIDGE_OPENSTACK_CLI`, else the venv that `scripts/test.sh`
/// installs under target/; without either the calling test fails and says how to get it.
pub fn openstack_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("RIDGE_OPENSTACK_CLI") {
        return PathBuf::from(path);
    }
    let venv =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/openstack-venv/bin/openstack");
    assert!(
        venv.exists(),
        "the openstack CLI is not installed: run the tests with `scripts/test.sh`, which installs it, or set RIDGE_OPENSTACK_CLI"
    );
    venv
}

/// Qinling's result for an execution whose worker ran out of a resource (memory, processes, ...)
/// or was killed.
pub const RESOURCE: &str = "Function execution failed because of too much resource consumption";

/// The `output` of an execution's result.
pub fn output(e: &ExecutionView) -> serde_json::Value {
    e.result_json().expect("result is JSON")["output"].clone()
}

/// Asserts that `e` failed at its timeout, Qinling's way, within a few seconds of it.
pub fn assert_timed_out(e: &ExecutionView) {
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(e), serde_json::json!("Function execution timeout."));
    let took = e.result_json().expect("json")["duration"]
        .as_f64()
        .expect("duration");
    assert!((1.0..10.0).contains(&took), "duration {took}");
}

/// A zip (deflated) holding the given files.
pub fn zip_files(files: &[(&str, &str)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default();
        for (name, contents) in files {
            zip.start_file(*name, options).expect("zip entry");
            zip.write_all(contents.as_bytes()).expect("zip write");
        }
        zip.finish().expect("zip finish");
    }
    buf.into_inner()
}

/// A Python source whose `main` returns `value` (a Python literal) and echoes its kwargs.
pub fn returning(value: &str) -> String {
    format!(
        "def main(*args, **kwargs):\n    kwargs.pop('context', None)\n    return {{'v': {value}, 'kwargs': kwargs}}\n"
    )
}

/// The HTTP status and `faultstring` of a failed client call.
pub fn api_error<T: std::fmt::Debug>(
    result: Result<T, ridge_client::ClientError>,
) -> (u16, String) {
    match result {
        Err(ridge_client::ClientError::Api {
            status,
            faultstring,
        }) => (status, faultstring),
        other => panic!("expected an API error, got {other:?}"),
    }
}

impl TestServer {
    /// Replaces the function's code with one Python source file `function.py`.
    pub async fn update_code(&self, function: &FunctionView, source: &str) -> FunctionView {
        self.client
            .update_function(
                &function.id,
                &ridge_client::FunctionUpdate {
                    package: Some(zip_files(&[("function.py", source)]).into()),
                    ..Default::default()
                },
            )
            .await
            .expect("function updated")
    }

    /// Gives the function a timeout of `seconds`. Tests that check a 1-second timeout raise it
    /// before they expect success again: the timeout also covers a fresh worker's cold start,
    /// which a loaded CI machine can stretch past a second.
    pub async fn set_timeout(&self, function: &FunctionView, seconds: u64) -> FunctionView {
        self.client
            .update_function(
                &function.id,
                &ridge_client::FunctionUpdate {
                    timeout: Some(seconds),
                    ..Default::default()
                },
            )
            .await
            .expect("timeout updated")
    }

    /// Polls (bounded, ~10 s) until `check` holds for the executions whose description
    /// contains `needle`; returns them.
    pub async fn executions_until(
        &self,
        needle: &str,
        check: impl Fn(&[ExecutionView]) -> bool,
    ) -> Vec<ExecutionView> {
        for _ in 0..400 {
            let found = self
                .client
                .list_executions(&[("description".to_owned(), format!("has:{needle}"))])
                .await
                .expect("list executions");
            if check(&found) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the executions described with `{needle}` never reached the expected state");
    }
}

/// Awaits every future together (each execution waits on the server, not on the others).
pub async fn join_all<F: std::future::Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    let mut slots: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut futures: Vec<Option<F>> = futures.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in futures.iter_mut().enumerate() {
            if let Some(f) = slot {
                match std::pin::Pin::new(f).poll(cx) {
                    std::task::Poll::Ready(v) => {
                        slots[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    slots
        .into_iter()
        .map(|s| s.expect("every future finished"))
        .collect()
}

/// Runs `runs` executions of `f` at once, whose output is `{"worker": <a token per worker>,
/// "calls": <executions this worker ran>}`, and asserts that all succeed on at most
/// `max_workers` workers, some of which ran more than one execution (warm reuse).
pub async fn assert_warm_reuse(t: &TestServer, f: &FunctionView, runs: usize, max_workers: usize) {
    let done = join_all((0..runs).map(|_| Box::pin(t.run(f, None))).collect()).await;
    let mut workers = std::collections::HashSet::new();
    let mut most_calls = 0;
    for e in &done {
        assert_eq!(e.status, "success", "{e:?}");
        let out = output(e);
        workers.insert(out["worker"].as_str().expect("worker").to_owned());
        most_calls = most_calls.max(out["calls"].as_u64().expect("calls"));
    }
    assert!(
        workers.len() <= max_workers,
        "at most {max_workers} workers: {done:?}"
    );
    assert!(most_calls >= 2, "warm workers are reused: {done:?}");
}
