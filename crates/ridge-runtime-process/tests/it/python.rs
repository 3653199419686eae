//! The Python runtime against a real interpreter: call convention, logs, failures, limits and
//! the worker's process tree.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use ridge_core::{Entry, ExecutionId, ExecutionInput, FunctionId, LimitsPolicy};
use ridge_runtime::{
    Invocation, InvocationOutcome, RuntimeAdapter, StartError, Worker, WorkerError, WorkerSpec,
};
use ridge_runtime_process::{ProcessAdapter, ProcessConfig};
use ridge_sandbox::fixtures::group_members;
use serde_json::{Value, json};
use tempfile::TempDir;

static RUNTIME: LazyLock<ProcessAdapter> =
    LazyLock::new(|| ProcessAdapter::python(None, ProcessConfig::default()));

const LOG_CAP: usize = 1024 * 1024;
const RESULT_CAP: usize = 6 * 1024 * 1024;

fn package(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, source) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, source).expect("write");
    }
    dir
}

fn spec(dir: &Path, entry: &str) -> WorkerSpec {
    WorkerSpec {
        runtime_id: ridge_core::RuntimeId::new(),
        function_id: FunctionId::new(),
        function_version: 0,
        package_dir: dir.to_owned(),
        entry: Entry::try_from(entry.to_owned()).expect("valid entry"),
        limits: LimitsPolicy::default().defaults(),
        network: ridge_core::NetworkAccess::Loopback,
        log_cap: LOG_CAP,
        result_cap: RESULT_CAP,
        startup_allowance: true,
    }
}

/// Starts a worker for `function.py` with entry `function.main`.
pub(crate) async fn start(source: &str) -> (TempDir, Box<dyn Worker>) {
    let dir = package(&[("function.py", source)]);
    let worker = RUNTIME
        .start(&spec(dir.path(), "function.main"))
        .await
        .expect("worker starts");
    (dir, worker)
}

async fn start_err(files: &[(&str, &str)], entry: &str) -> StartError {
    let dir = package(files);
    match RUNTIME.start(&spec(dir.path(), entry)).await {
        Ok(_) => panic!("the worker should not start"),
        Err(e) => e,
    }
}

fn call(input: Option<ExecutionInput>) -> Invocation {
    Invocation {
        execution_id: ExecutionId::new(),
        input,
    }
}

pub(crate) fn object(value: Value) -> Option<ExecutionInput> {
    Some(ExecutionInput::Object(
        value.as_object().expect("an object").clone(),
    ))
}

pub(crate) async fn invoke(
    worker: &mut Box<dyn Worker>,
    input: Option<ExecutionInput>,
) -> InvocationOutcome {
    worker.invoke(&call(input)).await.expect("invoke")
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not reached within 10 s");
}

#[tokio::test]
async fn check_finds_the_real_interpreter() {
    let found = RUNTIME.check().await.expect("python is installed");
    assert!(found.starts_with("python 3."), "{found}");
    assert!(!found.contains("shims"), "a shim must be resolved: {found}");

    let missing = ProcessAdapter::python(
        Some("/nonexistent/python3".into()),
        ProcessConfig::default(),
    );
    let err = missing.check().await.expect_err("no such interpreter");
    assert!(
        err.to_string()
            .contains("cannot run python interpreter `/nonexistent/python3`"),
        "{err}"
    );
}

#[tokio::test]
async fn object_input_is_passed_as_keyword_arguments_with_context() {
    let (dir, mut worker) = start(
        "def main(name, context, **rest):\n    return {'greeting': 'hello ' + name, 'context': context, 'rest': rest}\n",
    )
    .await;
    let spec_id = worker.name().to_owned();
    assert!(spec_id.starts_with("python3-"), "{spec_id}");
    let invocation = call(object(
        json!({"name": "ridge", "n": 1, "context": "ignored"}),
    ));
    let done = worker.invoke(&invocation).await.expect("invoke");
    let output = done.output.expect("returns");
    assert_eq!(output["greeting"], "hello ridge");
    assert_eq!(output["rest"], json!({"n": 1}));
    let context = &output["context"];
    assert_eq!(context["os_session"], Value::Null);
    assert_eq!(context["execution_id"], invocation.execution_id.to_string());
    assert_eq!(context["function_version"], 0);
    assert!(context["function_id"].is_string());
    drop(dir);
}

#[tokio::test]
async fn positional_input_is_the_first_argument() {
    let (_dir, mut worker) =
        start("def main(value, context):\n    return {'got': value, 'ctx': sorted(context)}\n")
            .await;
    let text = invoke(
        &mut worker,
        Some(ExecutionInput::Positional(json!("raw text"))),
    )
    .await;
    assert_eq!(
        text.output,
        Ok(
            json!({"got": "raw text", "ctx": ["execution_id", "function_id", "function_version", "os_session"]})
        )
    );
    let list = invoke(&mut worker, Some(ExecutionInput::Positional(json!([1, 2])))).await;
    assert_eq!(list.output.expect("returns")["got"], json!([1, 2]));
}

#[tokio::test]
async fn no_input_passes_only_the_context() {
    let (_dir, mut worker) = start("def main(**kwargs):\n    return sorted(kwargs)\n").await;
    assert_eq!(
        invoke(&mut worker, None).await.output,
        Ok(json!(["context"]))
    );
}

#[tokio::test]
async fn none_is_null_and_quiet_logs_are_just_the_frame() {
    let (_dir, mut worker) = start("def main(**kwargs):\n    return None\n").await;
    let invocation = call(None);
    let done = worker.invoke(&invocation).await.expect("invoke");
    assert_eq!(done.output, Ok(Value::Null));
    let id = invocation.execution_id;
    assert_eq!(
        done.logs,
        format!("Start execution: {id}\nFinished execution: {id}\n")
    );
}

#[tokio::test]
async fn stdout_stderr_and_child_processes_are_captured_in_order() {
    let (_dir, mut worker) = start(
        "import os, subprocess, sys\n\
         def main(**kwargs):\n    \
             print('to stdout')\n    \
             sys.stderr.write('to stderr\\n')\n    \
             subprocess.run(['echo', 'from a child'], check=True)\n    \
             os.write(1, b'raw fd 1\\n')\n    \
             print('stdin is empty:', repr(sys.stdin.read()))\n    \
             return 'done'\n",
    )
    .await;
    for _ in 0..2 {
        let invocation = call(None);
        let done = worker.invoke(&invocation).await.expect("invoke");
        assert_eq!(done.output, Ok(json!("done")));
        let id = invocation.execution_id;
        assert_eq!(
            done.logs,
            format!(
                "Start execution: {id}\nto stdout\nto stderr\nfrom a child\nraw fd 1\n\
                 stdin is empty: ''\nFinished execution: {id}\n"
            )
        );
    }
}

#[tokio::test]
async fn an_exception_fails_with_its_message_and_a_user_only_traceback() {
    let (_dir, mut worker) = start(
        "def helper():\n    raise ValueError('bad value')\n\n\
         def main(**kwargs):\n    print('before')\n    helper()\n",
    )
    .await;
    let invocation = call(None);
    let done = worker.invoke(&invocation).await.expect("invoke");
    assert_eq!(done.output, Err("bad value".to_owned()));
    let id = invocation.execution_id;
    let logs = &done.logs;
    assert!(
        logs.starts_with(&format!(
            "Start execution: {id}\nbefore\nTraceback (most recent call last):\n"
        )),
        "{logs}"
    );
    assert!(logs.contains("function.py\", line 6, in main"), "{logs}");
    assert!(logs.contains("in helper\n"), "{logs}");
    assert!(
        logs.ends_with(&format!(
            "ValueError: bad value\nFinished execution: {id}\n"
        )),
        "{logs}"
    );
    assert!(
        !logs.contains("<ridge-worker>"),
        "worker frames leak: {logs}"
    );
    assert!(!logs.contains("<string>"), "bootstrap frames leak: {logs}");
    assert!(!logs.contains("_invoke"), "worker frames leak: {logs}");

    // The worker survives the failure, and sys.exit() too.
    let (_dir, mut exiting) = start("import sys\ndef main(**kwargs):\n    sys.exit('bye')\n").await;
    assert_eq!(
        invoke(&mut exiting, None).await.output,
        Err("bye".to_owned())
    );
    assert_eq!(
        invoke(&mut exiting, None).await.output,
        Err("bye".to_owned())
    );
}

#[tokio::test]
async fn output_that_is_not_json_fails_clearly() {
    let (_dir, mut worker) =
        start("def main(kind, **kwargs):\n    return {1, 2} if kind == 'set' else float('nan')\n")
            .await;
    let set = invoke(&mut worker, object(json!({"kind": "set"}))).await;
    assert_eq!(
        set.output,
        Err(
            "function output is not JSON serializable: Object of type set is not JSON serializable"
                .to_owned()
        )
    );
    let nan = invoke(&mut worker, object(json!({"kind": "nan"}))).await;
    assert_eq!(
        nan.output,
        Err("function output is not JSON serializable: Out of range float values are not JSON compliant"
            .to_owned())
    );
}

#[tokio::test]
async fn load_errors_say_what_is_wrong() {
    let syntax = start_err(
        &[("function.py", "print('loading')\ndef main(:\n    pass\n")],
        "function.main",
    )
    .await;
    let StartError::Load { message, logs } = syntax else {
        panic!("expected a load error, got {syntax:?}");
    };
    assert!(message.contains("function.py, line 2"), "{message}");
    assert!(logs.contains("SyntaxError"), "{logs}");
    assert!(!logs.contains("<frozen"), "{logs}");

    let missing = start_err(
        &[(
            "function.py",
            "print('loading')\ndef main(**kw):\n    pass\n",
        )],
        "function.nope",
    )
    .await;
    let StartError::Load { message, logs } = missing else {
        panic!("expected a load error, got {missing:?}");
    };
    assert_eq!(message, "module 'function' has no attribute 'nope'");
    // The failing lookup is the worker's, not the function's: no traceback lines, just the error.
    assert_eq!(
        logs,
        "loading\nAttributeError: module 'function' has no attribute 'nope'\n"
    );

    let no_module = start_err(&[("function.py", "")], "other.main").await;
    assert!(
        matches!(&no_module, StartError::Load { message, .. } if message == "No module named 'other'"),
        "{no_module:?}"
    );
}

#[tokio::test]
async fn a_warm_worker_imports_once() {
    let (_dir, mut worker) = start(
        "print('imported')\ncount = 0\n\
         def main(**kwargs):\n    global count\n    count += 1\n    return count\n",
    )
    .await;
    for expected in 1..=3 {
        let done = invoke(&mut worker, None).await;
        assert_eq!(done.output, Ok(json!(expected)));
        assert!(!done.logs.contains("imported"), "{}", done.logs);
    }
}

#[tokio::test]
async fn vendored_modules_and_dotted_entries_import_from_the_package() {
    let dir = package(&[
        ("vendor/__init__.py", ""),
        ("vendor/shout.py", "def shout(s):\n    return s.upper()\n"),
        ("app/__init__.py", ""),
        (
            "app/handler.py",
            "from vendor.shout import shout\ndef main(word, **kwargs):\n    return shout(word)\n",
        ),
    ]);
    let mut worker = RUNTIME
        .start(&spec(dir.path(), "app.handler.main"))
        .await
        .expect("starts");
    let done = invoke(&mut worker, object(json!({"word": "ridge"}))).await;
    assert_eq!(done.output, Ok(json!("RIDGE")));
}

const HANDLER: &str = r#"import sys
from app import helper, threaded
from vendor import deep

def main(fail=False, **kwargs):
    if fail:
        helper.fail()
    from app import late
    kind = lambda m: type(m.__loader__).__name__
    return {"helper": kind(helper), "deep": kind(deep), "late": kind(late),
            "after_thread": kind(threaded.after_thread),
            "values": [deep.VALUE, late.VALUE, threaded.after_thread.VALUE],
            "hooks": [getattr(h, "__qualname__", "") for h in sys.path_hooks]}
"#;

const THREADED: &str = r#"import threading, time
threading.Thread(target=time.sleep, args=(0.5,), daemon=True).start()
from app import after_thread
"#;

/// The package's modules imported while the function loads are compiled in a forked child (so
/// the worker never builds the `ast` types, docs/benchmarks.md): the same code, with its files'
/// names in tracebacks, and nothing of the child left behind. Modules imported during a call
/// load as usual, and so does one imported after a module started a thread.
#[tokio::test]
async fn modules_loaded_with_the_function_are_compiled_apart() {
    let dir = package(&[
        (
            "app/__init__.py",
            "import threading\nfrom app import helper\nfrom vendor import deep\n",
        ),
        (
            "app/helper.py",
            "def fail():\n    raise ValueError('from helper')\n",
        ),
        ("vendor/__init__.py", ""),
        ("vendor/deep.py", "VALUE = 'deep'\n"),
        ("app/threaded.py", THREADED),
        ("app/after_thread.py", "VALUE = 'after a thread'\n"),
        ("app/late.py", "VALUE = 'late'\n"),
        ("app/handler.py", HANDLER),
    ]);
    let mut worker = RUNTIME
        .start(&spec(dir.path(), "app.handler.main"))
        .await
        .expect("starts");
    let done = invoke(&mut worker, None).await;
    let out = done.output.expect("returns");
    assert_eq!(out["helper"], "CompiledApartLoader", "{out}");
    assert_eq!(out["deep"], "CompiledApartLoader", "{out}");
    assert_eq!(out["late"], "SourceFileLoader", "{out}");
    // Imported while a thread runs: compiled in place (forking a threaded process could
    // deadlock the child), by the same loader, with no warning.
    assert_eq!(out["after_thread"], "CompiledApartLoader", "{out}");
    assert_eq!(
        out["values"],
        json!(["deep", "late", "after a thread"]),
        "{out}"
    );
    assert!(
        !out["hooks"].to_string().contains("_compiling_apart"),
        "the load's path hook is gone: {out}"
    );
    assert!(!done.logs.contains("Warning"), "{}", done.logs);
    let failed = invoke(&mut worker, object(json!({"fail": true}))).await;
    assert_eq!(failed.output, Err("from helper".to_owned()));
    assert!(
        failed.logs.contains("app/helper.py\", line 2, in fail"),
        "{}",
        failed.logs
    );

    // A syntax error still fails the load with the interpreter's own message.
    let broken = package(&[("function.py", "def main(**kwargs)\n    return 1\n")]);
    let err = RUNTIME
        .start(&spec(broken.path(), "function.main"))
        .await
        .err()
        .expect("a load error");
    let text = err.to_string();
    assert!(
        text.contains("expected ':'") || text.contains("invalid syntax"),
        "{text}"
    );
}

#[tokio::test]
async fn output_past_the_cap_is_cut_with_a_marker() {
    let dir = package(&[(
        "function.py",
        "def main(n, **kwargs):\n    print('x' * n)\n    return n\n",
    )]);
    let mut small = spec(dir.path(), "function.main");
    small.log_cap = 1000;
    let mut worker = RUNTIME.start(&small).await.expect("starts");
    let invocation = call(object(json!({"n": 5000})));
    let done = worker.invoke(&invocation).await.expect("invoke");
    let id = invocation.execution_id;
    assert_eq!(
        done.logs,
        format!(
            "Start execution: {id}\n{}\n[ridge: output truncated, 4001 bytes over the 1000-byte limit]\n\
             Finished execution: {id}\n",
            "x".repeat(1000)
        )
    );
    // The next execution starts from an empty capture.
    let short = worker
        .invoke(&call(object(json!({"n": 3}))))
        .await
        .expect("invoke");
    assert!(short.logs.contains("\nxxx\nFinished"), "{}", short.logs);
}

#[tokio::test]
async fn open_files_are_limited_and_the_worker_recovers() {
    let (_dir, mut worker) = start(
        "import resource\n\
         def main(mode, **kwargs):\n    \
             if mode == 'limits':\n        \
                 return [resource.getrlimit(r) for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_CORE, resource.RLIMIT_FSIZE)]\n    \
             files = [open('/dev/null') for _ in range(2000)]\n    \
             return len(files)\n",
    )
    .await;
    let failed = invoke(&mut worker, object(json!({"mode": "open"}))).await;
    let message = failed.output.expect_err("EMFILE");
    assert!(message.contains("Too many open files"), "{message}");
    assert!(
        failed
            .logs
            .contains("OSError: [Errno 24] Too many open files"),
        "{}",
        failed.logs
    );
    let limits = invoke(&mut worker, object(json!({"mode": "limits"}))).await;
    assert_eq!(
        limits.output,
        Ok(json!([[1024, 1024], [0, 0], [536870912, 536870912]]))
    );
}

#[tokio::test]
async fn a_worker_that_exits_during_a_call_reports_how() {
    let (_dir, mut worker) =
        start("import os\ndef main(**kwargs):\n    print('about to exit')\n    os._exit(3)\n")
            .await;
    let invocation = call(None);
    let err = worker
        .invoke(&invocation)
        .await
        .expect_err("the worker dies");
    match err {
        WorkerError::Exited {
            detail,
            killed,
            logs,
        } => {
            assert_eq!(detail, "exit code 3");
            assert!(!killed);
            assert_eq!(
                logs,
                format!(
                    "Start execution: {}\nabout to exit\n",
                    invocation.execution_id
                )
            );
        }
        other => panic!("expected Exited, got {other:?}"),
    }
    assert_eq!(worker.pid(), None, "the worker is reaped");
    assert!(matches!(
        worker.invoke(&call(None)).await,
        Err(WorkerError::Protocol { .. })
    ));
}

#[tokio::test]
async fn a_sigkill_from_outside_is_reported_as_killed() {
    let (_dir, mut worker) =
        start("import os, signal\ndef main(**kwargs):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
            .await;
    match worker.invoke(&call(None)).await {
        Err(WorkerError::Exited { detail, killed, .. }) => {
            assert_eq!(detail, "killed by SIGKILL");
            assert!(killed);
        }
        other => panic!("expected Exited, got {other:?}"),
    }
}

#[tokio::test]
async fn kill_ends_the_whole_process_tree() {
    let (_dir, mut worker) = start(
        "import subprocess, time\n\
         def main(**kwargs):\n    subprocess.Popen(['sleep', '1000'])\n    time.sleep(1000)\n",
    )
    .await;
    let pgid = worker.pid().expect("running");
    let invocation = call(None);
    tokio::select! {
        result = worker.invoke(&invocation) => panic!("the function returned: {result:?}"),
        () = eventually("sleep started", || {
            group_members(pgid).iter().any(|(_, comm)| comm == "sleep")
        }) => {}
    }
    // The call was abandoned midway, as on a timeout: the worker is unusable until killed.
    assert!(matches!(
        worker.invoke(&call(None)).await,
        Err(WorkerError::Protocol { .. })
    ));
    worker.kill().await;
    assert_eq!(worker.pid(), None);
    eventually("group gone", || group_members(pgid).is_empty()).await;
    worker.kill().await; // idempotent
}

#[tokio::test]
async fn dropping_a_worker_leaves_no_process_behind() {
    let (_dir, mut worker) = start(
        "import subprocess\n\
         def main(**kwargs):\n    subprocess.Popen(['sleep', '1000'])\n    return 'spawned'\n",
    )
    .await;
    let pgid = worker.pid().expect("running");
    assert_eq!(invoke(&mut worker, None).await.output, Ok(json!("spawned")));
    assert!(group_members(pgid).iter().any(|(_, comm)| comm == "sleep"));
    drop(worker);
    eventually("group gone", || group_members(pgid).is_empty()).await;
}

#[tokio::test]
async fn the_environment_and_import_path_are_the_workers_own() {
    assert!(
        std::env::var_os("CARGO_MANIFEST_DIR").is_some(),
        "precondition: the test process has variables the worker must not see"
    );
    let (dir, mut worker) = start(
        "import os, sys\n\
         def link(fd):\n    try:\n        return os.readlink('/proc/self/fd/' + fd)\n    \
             except OSError:\n        return ''\n\
         def main(**kwargs):\n    return {\n        \
             'env': dict(os.environ), 'cwd': os.getcwd(), 'path': sys.path,\n        \
             'flags': [sys.flags.isolated, sys.flags.no_site, sys.flags.dont_write_bytecode],\n        \
             'fds': [link(fd) for fd in os.listdir('/proc/self/fd')],\n    }\n",
    )
    .await;
    let output = invoke(&mut worker, None).await.output.expect("returns");
    let env = output["env"].as_object().expect("env");
    let keys: Vec<&str> = env.keys().map(String::as_str).collect();
    assert!(
        keys.iter()
            .all(|k| ["PATH", "LANG", "HOME", "LC_CTYPE"].contains(k)),
        "{keys:?}"
    );
    assert_eq!(env["HOME"], "/tmp");
    assert_eq!(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
    let package_dir = dir.path().canonicalize().expect("canonical");
    let package_dir = package_dir.to_str().expect("utf-8");
    assert_eq!(output["cwd"], package_dir);
    assert_eq!(output["path"][0], package_dir);
    assert!(
        !output["path"].to_string().contains("site-packages"),
        "{}",
        output["path"]
    );
    assert_eq!(output["flags"], json!([1, 1, 1]));
    // The memfd the worker's code came in is closed before the function loads.
    let fds = output["fds"].to_string();
    assert!(fds.contains("pipe:"), "{fds}");
    assert!(!fds.contains("ridge-worker-code"), "{fds}");
}

#[tokio::test]
async fn an_import_that_never_finishes_is_a_load_error() {
    let runtime = ProcessAdapter::python(
        None,
        ProcessConfig {
            load_timeout: Duration::from_millis(500),
            ..ProcessConfig::default()
        },
    );
    let dir = package(&[(
        "function.py",
        "import time\nprint('stuck')\ntime.sleep(1000)\ndef main(**kwargs):\n    pass\n",
    )]);
    match runtime.start(&spec(dir.path(), "function.main")).await {
        Err(StartError::Load { message, logs }) => {
            assert!(message.contains("took longer than"), "{message}");
            assert_eq!(logs, "stuck\n");
        }
        Err(other) => panic!("expected a load error, got {other:?}"),
        Ok(_) => panic!("expected a load error"),
    }
}

#[tokio::test]
async fn a_flood_of_output_is_drained_and_dropped_past_the_cap() {
    // Far past the file size limit, which no longer applies: output is a pipe, not a file.
    let runtime = ProcessAdapter::python(
        None,
        ProcessConfig {
            fsize: 64 * 1024,
            ..ProcessConfig::default()
        },
    );
    let dir = package(&[(
        "function.py",
        "def main(**kwargs):\n    for _ in range(100_000):\n        print('y' * 999)\n    return 'done'\n",
    )]);
    let mut small = spec(dir.path(), "function.main");
    small.log_cap = 2000;
    let mut worker = runtime.start(&small).await.expect("starts");
    let done = invoke(&mut worker, None).await;
    assert_eq!(done.output, Ok(json!("done")));
    assert!(
        done.logs
            .contains("[ridge: output truncated, 99998000 bytes over the 2000-byte limit]"),
        "{}",
        done.logs
    );
    let again = invoke(&mut worker, None).await;
    assert_eq!(
        again.output,
        Ok(json!("done")),
        "the next capture starts empty"
    );
}

#[tokio::test]
async fn a_huge_exception_is_cut_in_the_message_and_the_log() {
    let (_dir, mut worker) =
        start("def main(**kwargs):\n    print('before')\n    raise ValueError('m' * (20 << 20))\n")
            .await;
    let failed = invoke(&mut worker, None).await;
    let message = failed.output.expect_err("raised");
    assert!(message.len() <= 64 * 1024, "{}", message.len());
    assert!(
        message.ends_with(&format!(
            "[ridge: message truncated, {} bytes over the 65536-byte limit]",
            (20 << 20) - 65536
        )),
        "{}",
        &message[message.len() - 100..]
    );
    assert!(failed.logs.len() <= LOG_CAP + 200, "{}", failed.logs.len());
    assert!(
        failed
            .logs
            .contains("\nbefore\nTraceback (most recent call last):\n")
    );
    assert!(
        failed.logs.contains("ValueError: mmm"),
        "the traceback names the error"
    );
}

#[tokio::test]
async fn an_output_over_the_result_cap_fails_in_the_worker() {
    let dir = package(&[(
        "function.py",
        "def main(n, **kwargs):\n    return 'x' * n\n",
    )]);
    let mut small = spec(dir.path(), "function.main");
    small.result_cap = 1000;
    let mut worker = RUNTIME.start(&small).await.expect("starts");
    let done = invoke(&mut worker, object(json!({"n": 5000}))).await;
    assert_eq!(
        done.output,
        Err(
            "function output is too large: 5002 bytes of JSON, over the result limit of 1000 bytes"
                .to_owned()
        )
    );
    let fits = invoke(&mut worker, object(json!({"n": 900}))).await;
    assert_eq!(fits.output, Ok(json!("x".repeat(900))));
}

/// A function that finds the worker's own frame writer on the call stack and writes a frame
/// with it: `big` a huge `returned` frame, otherwise a forged one without the call's id.
const FORGER: &str = r#"
import json, sys
def worker_writer():
    frame = sys._getframe()
    while frame is not None:
        if "write_bytes" in frame.f_locals:
            return frame.f_locals["write_bytes"]
        frame = frame.f_back
def main(mode, n, **kwargs):
    if mode == "big":
        body = b'{"type": "returned", "output": "' + b"x" * (8 << 20) + b'"}'
    elif mode == "forge":
        body = json.dumps({"type": "returned", "output": "forged"}).encode()
    else:
        return n
    worker_writer()(body)
    return n
"#;

#[tokio::test]
async fn a_forged_frame_fails_its_execution_and_a_huge_one_is_dropped_unread() {
    let (_dir, mut worker) = start(FORGER).await;
    let big = invoke(&mut worker, object(json!({"mode": "big", "n": 1}))).await;
    let message = big.output.expect_err("over the cap");
    assert!(
        message.starts_with("function output is too large: a reply of 8388642 bytes"),
        "{message}"
    );
    // The worker's own reply to that call came after; it is skipped, and answers stay in step.
    for n in 2..5 {
        let done = invoke(&mut worker, object(json!({"mode": "plain", "n": n}))).await;
        assert_eq!(done.output, Ok(json!(n)));
    }
    let forged = worker
        .invoke(&call(object(json!({"mode": "forge", "n": 5}))))
        .await
        .expect_err("a forged frame");
    assert!(
        matches!(&forged, WorkerError::Tampered { detail, .. } if detail.contains("without an id")),
        "{forged:?}"
    );
    assert_eq!(worker.pid(), None, "the worker is discarded");
}
