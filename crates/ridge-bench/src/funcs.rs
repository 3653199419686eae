//! The Python functions the scenarios run, packaged as Ridge expects them (a zip with
//! `main.py`, entry `main.main`), and the requests that run them.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use reqwest::StatusCode;
use ridge_client::{FunctionUpload, RidgeClient};
use serde::Deserialize;

use crate::client::Request;

/// The no-op: the same function functions-framework serves.
pub const NOOP: &str = "def main(**kwargs):\n    return \"ok\"\n";

/// Burns one CPU until its timeout ends it.
pub const CPU_BURNER: &str = "def main(**kwargs):\n    while True:\n        pass\n";

/// Allocates and touches `mib` MiB (default 1024) in 64 MiB steps, then holds it until its
/// timeout ends it: bounded by its own size and the timeout.
pub const MEMORY_HOG: &str = r#"import time

def main(mib=1024, **kwargs):
    held = []
    for _ in range(int(mib) // 64):
        block = bytearray(64 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1
        held.append(block)
    while True:
        time.sleep(1)
"#;

/// A bounded process spawner, standing in for a fork bomb where the sandbox does not enforce a
/// pids limit yet: keeps up to `alive` (default 64) short-lived forked children, each spinning
/// for a few milliseconds, replacing them as they exit, until its timeout kills the process
/// group.
pub const SPAWNER: &str = r#"import os, time

def main(alive=64, **kwargs):
    children = set()
    while True:
        while len(children) < int(alive):
            pid = os.fork()
            if pid == 0:
                end = time.monotonic() + 0.005
                while time.monotonic() < end:
                    pass
                os._exit(0)
            children.add(pid)
        pid, _ = os.wait()
        children.discard(pid)
"#;

/// A real fork bomb, only run where the sandbox enforces a pids limit; the limit and the
/// function's timeout contain it.
pub const FORK_BOMB: &str = r#"import os

def main(**kwargs):
    while True:
        try:
            os.fork()
        except OSError:
            pass
"#;

/// The no-op for the nodejs runtime, in `main.js`.
pub const NODE_NOOP: &str = "exports.main = (context, input) => 'ok';\n";

/// A zip holding `main.py`.
pub fn package(source: &str) -> anyhow::Result<Bytes> {
    package_file("main.py", source)
}

/// A zip holding one file.
pub fn package_file(name: &str, source: &str) -> anyhow::Result<Bytes> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(name, zip::write::SimpleFileOptions::default())?;
    zip.write_all(source.as_bytes())?;
    Ok(Bytes::from(zip.finish()?.into_inner()))
}

/// Creates a function from `source`; returns its id.
pub async fn create(
    client: &RidgeClient,
    runtime_id: &str,
    name: &str,
    package: &Bytes,
    timeout: Option<u64>,
) -> anyhow::Result<String> {
    let f = client
        .create_function(&FunctionUpload {
            name: Some(name.to_owned()),
            runtime_id: Some(runtime_id.to_owned()),
            entry: Some("main.main".to_owned()),
            timeout,
            package: Some(package.clone()),
            ..FunctionUpload::default()
        })
        .await
        .with_context(|| format!("cannot create function `{name}`"))?;
    Ok(f.id)
}

/// The body of a synchronous execution of `function_id` without input.
pub fn sync_body(function_id: &str) -> Bytes {
    Bytes::from(serde_json::json!({"function_id": function_id, "sync": true}).to_string())
}

/// The body of an asynchronous execution of `function_id` with `input`.
pub fn async_body(function_id: &str, input: Option<&str>) -> Bytes {
    let mut body = serde_json::json!({"function_id": function_id, "sync": false});
    if let Some(input) = input {
        body["input"] = input.into();
    }
    Bytes::from(body.to_string())
}

#[derive(Deserialize)]
struct ExecutionStatus {
    status: String,
    #[serde(default)]
    result: Option<String>,
}

/// Sends `POST /v1/executions` with `body` and checks that the execution was accepted with
/// `want` (`success` for sync calls, `running` for async ones). The whole answer is read and
/// decoded, as a client would.
pub async fn execute(
    http: &reqwest::Client,
    url: &str,
    body: Bytes,
    want: &str,
) -> Result<(), String> {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    check_execution(status, &bytes, want)
}

/// The load generator's request for `POST /v1/executions` with `body` at `url`, checked as
/// [`execute`] checks its answer.
pub fn execution_request(url: &str, body: Bytes, want: &'static str) -> anyhow::Result<Request> {
    Request::post(
        url,
        Some("application/json"),
        body,
        Arc::new(move |status, bytes| check_execution(status, bytes, want)),
    )
}

/// An answer to `POST /v1/executions` is a success status with the execution, in state `want`.
fn check_execution(status: StatusCode, bytes: &[u8], want: &str) -> Result<(), String> {
    if !status.is_success() {
        return Err(unexpected(status, bytes));
    }
    let exec: ExecutionStatus =
        serde_json::from_slice(bytes).map_err(|e| format!("undecodable answer: {e}"))?;
    if exec.status != want {
        return Err(format!(
            "execution ended `{}` (want `{want}`): {}",
            exec.status,
            exec.result.unwrap_or_default()
        ));
    }
    Ok(())
}

/// What a check says of an answer it did not want: the status and the body's first 200 bytes.
pub fn unexpected(status: StatusCode, body: &[u8]) -> String {
    format!(
        "HTTP {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(200)])
    )
}

/// An HTTP client for load: keep-alive connections, enough of them for every task.
pub fn http_client(max_idle: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(max_idle)
        .tcp_nodelay(true)
        .build()
        .context("cannot build the HTTP client")
}
