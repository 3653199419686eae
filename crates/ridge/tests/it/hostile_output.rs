//! Hostile functions against the server's memory, its disk and the answers of other executions
//! (issue 13, items 1, 2, 3 and 10): huge results, huge exceptions, floods of output, and forged
//! protocol frames, each run through the API on a real server with the default sandbox.

use std::path::Path;
use std::time::Duration;

use crate::common::{TestServer, output, serve_process, zip_files};
use ridge_client::{FunctionUpload, RidgeClient};
use ridge_core::api::{CreateExecution, ExecutionView, FunctionView};
use serde_json::{Value, json};

const MIB: u64 = 1024 * 1024;
/// The default `result_cap`.
const RESULT_CAP: u64 = 6 * MIB;
/// The default `log_cap`.
const LOG_CAP: u64 = MIB;

async fn python_function(
    client: &RidgeClient,
    runtime_id: &str,
    source: &str,
    memory_size: u64,
) -> FunctionView {
    client
        .create_function(&FunctionUpload {
            name: Some("hostile".to_owned()),
            runtime_id: Some(runtime_id.to_owned()),
            entry: Some("function.main".to_owned()),
            memory_size: Some(memory_size),
            timeout: Some(60),
            package: Some(zip_files(&[("function.py", source)]).into()),
            ..FunctionUpload::default()
        })
        .await
        .expect("function created")
}

async fn run(client: &RidgeClient, function: &FunctionView, input: Value) -> ExecutionView {
    client
        .create_execution(&CreateExecution {
            function_id: Some(function.id.clone()),
            input: Some(Value::String(input.to_string())),
            ..Default::default()
        })
        .await
        .expect("execution created")
}

/// A process's peak resident memory (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// Bytes of disk used under `dir` (allocated blocks, as `du` counts them).
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(m) if m.is_dir() => disk_usage(&entry.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// `raw` writes a 60 MB frame with the worker's own frame writer, found on the call stack.
const HUGE_RESULT: &str = r#"
import sys
def worker_writer():
    frame = sys._getframe()
    while frame is not None:
        if "write_bytes" in frame.f_locals:
            return frame.f_locals["write_bytes"]
        frame = frame.f_back
def main(mode, **kw):
    if mode == "small":
        return "small"
    if mode == "return":
        return "x" * (60 * 1024 * 1024)
    # Past the worker's checks: one 60 MB frame straight onto its reply pipe.
    worker_writer()(b'{"type": "returned", "output": "' + b"x" * (60 * 1024 * 1024) + b'"}')
    return "raw"
"#;

#[tokio::test]
async fn a_sixty_megabyte_result_fails_without_growing_the_server() {
    let data = tempfile::tempdir().expect("temp dir");
    // Room in the worker for the 60 MB it builds; the server's caps stay the defaults.
    let config = "[resource_limits]\n\
                  cpu = { default = 100, min = 100, max = 300 }\n\
                  memory_size = { default = 33554432, min = 33554432, max = 536870912 }\n\
                  timeout = { default = 5, min = 1, max = 300 }\n";
    let (server, url) = serve_process(data.path(), Some(config)).await;
    let pid = server.id().expect("the server runs");
    let client = RidgeClient::new(&url).expect("client");
    let runtime = crate::common::python_runtime_via(&client).await;
    let function = python_function(&client, &runtime.id, HUGE_RESULT, 512 * MIB).await;
    let warm = run(&client, &function, json!({"mode": "small"})).await;
    assert_eq!(warm.status, "success", "{warm:?}");
    let baseline = peak_rss(pid);

    let returned = run(&client, &function, json!({"mode": "return"})).await;
    assert_eq!(returned.status, "failed", "{returned:?}");
    let message = output(&returned);
    assert!(
        message.as_str().is_some_and(|m| m.starts_with(
            "function output is too large: 62914562 bytes of JSON, over the result limit of 6291456 bytes"
        )),
        "{message}"
    );
    let raw = run(&client, &function, json!({"mode": "raw"})).await;
    assert_eq!(raw.status, "failed", "{raw:?}");
    let message = output(&raw);
    assert!(
        message.as_str().is_some_and(|m| m.starts_with(
            "function output is too large: a reply of 62914594 bytes, over the result limit of 6291456 bytes"
        )),
        "{message}"
    );
    // The worker stayed in step: its own late reply to the raw call is skipped.
    let after = run(&client, &function, json!({"mode": "small"})).await;
    assert_eq!(output(&after), json!("small"), "{after:?}");

    let grown = peak_rss(pid).saturating_sub(baseline);
    assert!(
        grown < 10 * RESULT_CAP,
        "the server's peak RSS grew by {} MiB (from {} MiB)",
        grown / MIB,
        baseline / MIB
    );
}

#[tokio::test]
async fn a_twenty_megabyte_exception_is_cut_in_the_result_and_the_log() {
    let ts = TestServer::start().await;
    let runtime = ts.python_runtime().await;
    let source = "def main(**kw):\n    print('before the exception')\n    raise ValueError('m' * (20 << 20))\n";
    let function = python_function(&ts.client, &runtime.id, source, 128 * MIB).await;
    let e = run(&ts.client, &function, json!({})).await;
    assert_eq!(e.status, "failed", "{e:?}");
    let message = output(&e);
    let message = message.as_str().expect("a message");
    assert!(
        message.len() <= 64 * 1024,
        "a message of {} bytes",
        message.len()
    );
    assert!(
        message.ends_with("[ridge: message truncated, 20905984 bytes over the 65536-byte limit]"),
        "{}",
        &message[message.len().saturating_sub(200)..]
    );
    let log = ts.client.execution_log(&e.id).await.expect("log");
    assert!(
        (log.len() as u64) < LOG_CAP + 1024,
        "a log of {} bytes",
        log.len()
    );
    assert!(log.contains("before the exception\nTraceback (most recent call last):"));
    assert!(
        log.contains("ValueError: mmm"),
        "the traceback names the error"
    );
}

#[tokio::test]
async fn printing_four_hundred_megabytes_costs_no_disk() {
    let ts = TestServer::start().await;
    let runtime = ts.python_runtime().await;
    let source = r#"
import os, time
def main(**kw):
    chunk = b"p" * (1024 * 1024)
    for _ in range(400):
        os.write(1, chunk)
    time.sleep(4)
    return "printed"
"#;
    let function = python_function(&ts.client, &runtime.id, source, 64 * MIB).await;
    let data = ts.data_dir();
    let before = disk_usage(&data);
    let started = ts
        .client
        .create_execution(&CreateExecution {
            function_id: Some(function.id.clone()),
            sync: Some(false),
            ..Default::default()
        })
        .await
        .expect("execution created");
    let (mut run_peak, mut data_peak) = (0, 0);
    let e = loop {
        run_peak = run_peak.max(disk_usage(&data.join("run")));
        data_peak = data_peak.max(disk_usage(&data));
        let e = ts
            .client
            .get_execution(&started.id)
            .await
            .expect("execution");
        if e.status != "running" {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e), json!("printed"));
    let log = ts.client.execution_log(&e.id).await.expect("log");
    assert!(
        log.contains("[ridge: output truncated, 418381824 bytes over the 1048576-byte limit]"),
        "all 400 MiB went through: {}",
        &log[log.len().saturating_sub(300)..]
    );
    assert!(
        run_peak <= 4 * LOG_CAP,
        "{} MiB in <data_dir>/run",
        run_peak / MIB
    );
    assert!(
        data_peak.saturating_sub(before) <= 16 * MIB,
        "the data directory grew by {} MiB",
        data_peak.saturating_sub(before) / MIB
    );
}

/// Writes forged replies to every descriptor it can reach: 0 to 63, whatever /proc/self/fd
/// lists, and any descriptor a module global of the worker names.
pub(crate) const FORGER: &str = r#"
import json, os, sys
def forged(text):
    body = json.dumps({"type": "returned", "output": text}).encode()
    return len(body).to_bytes(4, "big") + body
def main(n, forge=False, **kw):
    if not forge:
        return n
    fds = set(range(64)) | {int(f) for f in os.listdir("/proc/self/fd")}
    worker = sys.modules.get("__main__")
    for name in dir(worker):
        value = getattr(worker, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 4096:
            fds.add(value)
    for fd in sorted(fds):
        for text in ("forged-1", "forged-2"):
            try:
                os.write(fd, forged(text))
            except OSError:
                pass
    return "forger"
"#;

#[tokio::test]
async fn forged_frames_on_every_descriptor_do_not_shift_later_answers() {
    let ts = TestServer::start().await;
    let runtime = ts.python_runtime().await;
    let function = python_function(&ts.client, &runtime.id, FORGER, 32 * MIB).await;
    let first = run(&ts.client, &function, json!({"n": 0})).await;
    assert_eq!(output(&first), json!(0));
    let forger = run(&ts.client, &function, json!({"n": -1, "forge": true})).await;
    assert_eq!(forger.status, "failed", "{forger:?}");
    let message = output(&forger);
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("wrote to its worker's protocol descriptor")),
        "{message}"
    );
    for n in 1..=5 {
        let e = run(&ts.client, &function, json!({"n": n})).await;
        assert_eq!(e.status, "success", "{e:?}");
        assert_eq!(output(&e), json!(n), "execution {n} returns its own answer");
    }
}
