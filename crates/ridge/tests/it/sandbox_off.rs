//! `[sandbox] mode = "off"`: workers are plain child processes of the server, by the
//! operator's choice. What must still hold, on one real server: every process runtime runs
//! (python3, nodejs, a declared kind), the pre-started pool works without a sandbox, the output
//! caps and the request-id checks apply, `GET /v1/info` says the sandbox is off, and a timeout
//! kills the worker with the child it forked (its process group).

use std::path::Path;

use ridge_core::api::{ExecutionView, InfoView};
use serde_json::{Value, json};

use crate::common::{TestServer, output, zip_files};
use crate::hostile::{eventually, host_processes};
use crate::hostile_output::FORGER;

/// Small caps, so that exceeding them is quick.
const LOG_CAP: u64 = 4096;
const RESULT_CAP: u64 = 64 * 1024;

/// Where a function runs and as whom, and the worker's name (its last argument).
const WHERE: &str = r#"
import os
def main(**kw):
    argv = [a for a in open("/proc/self/cmdline", "rb").read().split(b"\0") if a]
    return {"worker": argv[-1].decode(), "cwd": os.getcwd(), "uid": os.geteuid(),
            "files": sorted(os.listdir(".")), "leader": os.getpgid(0) == os.getpid()}
"#;

/// Prints past the log cap, or returns more than the result cap.
const FLOOD: &str = r#"
def main(what, **kw):
    if what == "print":
        print("x" * 100000)
        return "printed"
    return "y" * 100000
"#;

/// Says its pid; or starts a child that sleeps (in its process group) and waits for it.
const FORKER: &str = r#"
import os, subprocess, time
def main(what, **kw):
    if what == "pid":
        return os.getpid()
    subprocess.Popen(["sleep", "4712.25"])
    time.sleep(60)
"#;

async fn off_server() -> TestServer {
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/runtimes/perl/ridge.toml");
    TestServer::start_with_config(&config, |s| {
        s.sandbox.enforcement = ridge_sandbox::Enforcement::Off;
        s.log_cap = LOG_CAP;
        s.result_cap = RESULT_CAP;
    })
    .await
}

async fn run_json(
    ts: &TestServer,
    f: &ridge_core::api::FunctionView,
    input: Value,
) -> ExecutionView {
    ts.run(f, Some(&input.to_string())).await
}

#[tokio::test]
async fn every_runtime_runs_as_a_plain_process_and_the_guarantees_hold() {
    let ts = off_server().await;
    let info: InfoView = ts
        .http()
        .get(ts.v1("info"))
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("info json");
    assert_eq!(info.sandbox.mode, "off");
    for p in &info.sandbox.protections {
        let kept = p.name == "rlimits" || p.name == "cleared environment";
        assert_eq!((p.enforced, p.turned_off), (kept, !kept), "{p:?}");
    }

    // Python, from the pre-started pool, which needs no sandbox here.
    let py = ts.python_runtime().await;
    let pool = ts.client.runtime_pool(&py.id).await.expect("pool");
    assert_eq!(pool.prestarted.unavailable, None, "{pool:?}");
    let f = ts.function(&py, WHERE).await;
    let e = ts.run(&f, None).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    assert!(
        out["worker"]
            .as_str()
            .is_some_and(|w| w.starts_with("python3-prestarted-")),
        "a pre-started worker served it: {out}"
    );
    assert_eq!(out["uid"], json!(nix::unistd::geteuid().as_raw()), "{out}");
    assert_eq!(out["files"], json!(["function.py"]), "{out}");
    assert_eq!(out["leader"], json!(true), "{out}");
    let cwd = out["cwd"].as_str().expect("cwd");
    assert!(
        cwd != "/function" && Path::new(cwd).join("function.py").is_file(),
        "{out}"
    );

    // The output caps.
    let flood = ts.function(&py, FLOOD).await;
    let printed = run_json(&ts, &flood, json!({"what": "print"})).await;
    assert_eq!(output(&printed), json!("printed"), "{printed:?}");
    let log = ts.client.execution_log(&printed.id).await.expect("log");
    assert!(log.len() < LOG_CAP as usize + 200, "{} bytes", log.len());
    assert!(log.contains("[ridge: output truncated"), "{log}");
    let huge = run_json(&ts, &flood, json!({"what": "return"})).await;
    assert_eq!(huge.status, "failed", "{huge:?}");
    assert!(
        output(&huge)
            .as_str()
            .is_some_and(|m| m.contains("function output is too large")),
        "{huge:?}"
    );

    // The request-id checks: forged frames fail their execution and shift no later answer.
    let forger = ts.function(&py, FORGER).await;
    let forged = run_json(&ts, &forger, json!({"n": -1, "forge": true})).await;
    assert_eq!(forged.status, "failed", "{forged:?}");
    for n in 1..=3 {
        let e = run_json(&ts, &forger, json!({"n": n})).await;
        assert_eq!(output(&e), json!(n), "{e:?}");
    }

    // Node.js (from its pre-started pool too) and a declared kind (Perl) run too, in their
    // package directories.
    let node = ts.runtime("nodejs").await;
    crate::prestart::ready(&ts, &node, 2).await;
    let nf = ts
        .function_with(
            &node,
            zip_files(&[(
                "main.js",
                "exports.main = () => ({cwd: process.cwd(), uid: process.getuid(), \
                 worker: process.argv[process.argv.length - 1]});",
            )]),
            |u| u.entry = Some("main.main".to_owned()),
        )
        .await;
    let e = ts.run(&nf, None).await;
    assert_eq!(e.status, "success", "{e:?}");
    let cwd = output(&e)["cwd"].as_str().expect("cwd").to_owned();
    assert!(Path::new(&cwd).join("main.js").is_file(), "{e:?}");
    assert!(
        output(&e)["worker"]
            .as_str()
            .is_some_and(|w| w.starts_with("nodejs-prestarted-")),
        "a pre-started worker served it: {e:?}"
    );
    let perl = ts.runtime("perl").await;
    let pf = ts
        .function_with(
            &perl,
            zip_files(&[("main.pl", "sub main { return { ok => 1 }; } 1;\n")]),
            |u| u.entry = Some("main.main".to_owned()),
        )
        .await;
    let e = ts.run(&pf, None).await;
    assert_eq!(
        (e.status.as_str(), output(&e)),
        ("success", json!({"ok": 1})),
        "{e:?}"
    );
    ts.stop().await;
}

#[tokio::test]
async fn a_timeout_kills_the_worker_and_the_child_it_forked() {
    let ts = off_server().await;
    let py = ts.python_runtime().await;
    let f = ts
        .function_with(&py, zip_files(&[("function.py", FORKER)]), |u| {
            u.timeout = Some(2)
        })
        .await;
    let e = run_json(&ts, &f, json!({"what": "pid"})).await;
    let pid = output(&e).as_u64().expect("the worker's pid");
    let e = run_json(&ts, &f, json!({"what": "fork"})).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(&e), json!("Function execution timeout."));
    eventually(
        "the timed-out worker and its sleeping child are gone",
        || !alive(pid) && host_processes("sleep 4712.25").is_empty(),
    )
    .await;
    ts.stop().await;
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .is_some_and(|close| !stat[close + 1..].trim_start().starts_with('Z'))
    })
}

/// `ridge doctor` marks what the operator turned off as `OFF`, not missing, and says so; `ridge
/// serve` refuses a mode it does not know, naming the three.
#[test]
fn doctor_says_the_sandbox_is_off_and_serve_refuses_an_unknown_mode() {
    let data = tempfile::tempdir().expect("tmp");
    let config = data.path().join("ridge.toml");
    let ridge = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ridge"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .output()
            .expect("ridge runs")
    };
    std::fs::write(&config, "[sandbox]\nmode = \"off\"\n").expect("config");
    let out = ridge(&["doctor"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("OFF     sandbox: seccomp: off by the operator's choice"),
        "{report}"
    );
    assert!(report.contains("THE SANDBOX IS OFF"), "{report}");
    assert!(!report.contains("MISSING sandbox:"), "{report}");
    assert!(report.contains("ok      sandbox: rlimits: "), "{report}");

    std::fs::write(&config, "[sandbox]\nmode = \"disabled\"\n").expect("config");
    let out = ridge(&["serve", "--listen", "127.0.0.1:0"]);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{errors}");
    assert!(
        errors.contains("unknown variant `disabled`, expected one of `refuse`, `degraded`, `off`"),
        "{errors}"
    );
}

/// `ridge serve` warns at every start, naming what is off.
#[tokio::test]
async fn serve_warns_at_start_naming_what_is_off() {
    use tokio::io::AsyncBufReadExt;
    let data = tempfile::tempdir().expect("tmp");
    let mut child = crate::common::serve_command(data.path(), Some("[sandbox]\nmode = \"off\"\n"))
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let mut before = Vec::new();
    let read = async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if line.starts_with("Ridge listening on ") {
                return;
            }
            before.push(line);
        }
        panic!("the server exited before listening: {before:?}");
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), read)
        .await
        .expect("the server starts within a minute");
    let warning = before
        .iter()
        .find(|l| l.contains("THE SANDBOX IS OFF"))
        .unwrap_or_else(|| panic!("no warning in {before:?}"));
    assert!(warning.contains("WARN"), "{warning}");
    for name in ["namespaces", "seccomp", "memory limit", "process tree kill"] {
        assert!(warning.contains(name), "{name} not named: {warning}");
    }
    assert!(
        !before
            .iter()
            .any(|l| l.contains("not enforced on this host")),
        "turned off is not missing: {before:?}"
    );
    child.kill().await.expect("kill");
}
