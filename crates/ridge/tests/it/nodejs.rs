//! The Node.js runtime end to end: a real server, real node workers in the default sandbox.
//! Qinling's contract (`exports.main = (context, input) => ...`) with Ridge's additions:
//! captured logs, errors with their stack, timeouts, limits, warm reuse, `node_modules`.

use crate::common::{RESOURCE, TestServer, assert_timed_out, assert_warm_reuse, output, zip_files};
use ridge_core::api::{ExecutionView, FunctionView, RuntimeView};
use serde_json::{Value, json};

/// A function from `files`, entry `main.main` (Qinling's default).
pub(crate) async fn node_function(
    t: &TestServer,
    rt: &RuntimeView,
    files: &[(&str, &str)],
    adjust: impl FnOnce(&mut ridge_client::FunctionUpload),
) -> FunctionView {
    t.function_with(rt, zip_files(files), |u| {
        u.entry = Some("main.main".to_owned());
        adjust(u);
    })
    .await
}

/// A server with a nodejs runtime and one function whose `main.js` is `source`.
async fn node_server(
    source: &str,
    adjust: impl FnOnce(&mut ridge_client::FunctionUpload),
) -> (TestServer, RuntimeView, FunctionView) {
    let t = TestServer::start().await;
    let rt = t.runtime("nodejs").await;
    let f = node_function(&t, &rt, &[("main.js", source)], adjust).await;
    (t, rt, f)
}

async fn log(t: &TestServer, e: &ExecutionView) -> String {
    t.client.execution_log(&e.id).await.expect("log")
}

#[tokio::test]
async fn hello_gets_context_and_input_and_its_output_is_logged() {
    let t = TestServer::start().await;
    let rt = t.runtime("nodejs").await;
    assert_eq!(rt.image, "nodejs");
    let f = node_function(
        &t,
        &rt,
        &[(
            "main.js",
            r#"
const { execSync } = require('child_process');
exports.main = async (context, input) => {
  console.log('Hello from the log,', input && input.name);
  process.stderr.write('to stderr\n');
  execSync('echo from a child process', { stdio: 'inherit' });
  await new Promise((resolve) => setTimeout(resolve, 10));
  return {
    greeting: 'Hello, ' + (input && input.name),
    input,
    context: Object.keys(context).sort(),
    execution_id: context.execution_id,
    env: Object.keys(process.env).sort(),
  };
};
"#,
        )],
        |_| {},
    )
    .await;

    let e = t.run(&f, Some(r#"{"name": "Node"}"#)).await;
    assert_eq!(e.status, "success", "{e:?}");
    let out = output(&e);
    assert_eq!(out["greeting"], json!("Hello, Node"));
    assert_eq!(out["input"], json!({"name": "Node"}));
    assert_eq!(
        out["context"],
        json!(["execution_id", "function_id", "function_version"])
    );
    assert_eq!(out["execution_id"], json!(e.id));
    // bubblewrap adds PWD when it changes into the package.
    assert_eq!(
        out["env"],
        json!(["HOME", "LANG", "PATH", "PWD"]),
        "a cleared environment"
    );
    let log = log(&t, &e).await;
    assert_eq!(
        log,
        format!(
            "Start execution: {id}\nHello from the log, Node\nto stderr\nfrom a child process\nFinished execution: {id}\n",
            id = e.id
        )
    );

    // A non-object input is passed as it is; no input is null.
    let e = t.run(&f, Some("plain text")).await;
    assert_eq!(output(&e)["input"], json!("plain text"));
    let e = t.run(&f, None).await;
    assert_eq!(output(&e)["input"], Value::Null);
    t.stop().await;
}

#[tokio::test]
async fn a_thrown_error_fails_with_its_message_and_the_stack_in_the_log() {
    let (t, rt, f) = node_server(
        r#"
function check(input) {
  if (input.reject) return Promise.reject(new TypeError('rejected here'));
  throw new Error('bad input here');
}
exports.main = (context, input) => { console.log('before'); return check(input); };
"#,
        |_| {},
    )
    .await;
    let e = t.run(&f, Some("{}")).await;
    assert_eq!(e.status, "failed");
    assert_eq!(output(&e), json!("bad input here"));
    let text = log(&t, &e).await;
    assert!(text.contains("before\nError: bad input here\n"), "{text}");
    assert!(text.contains("at check (/function/main.js:4:9)"), "{text}");
    assert!(!text.contains("[eval]"), "no worker frames: {text}");
    assert!(text.contains(&format!("Finished execution: {}", e.id)));

    let e = t.run(&f, Some(r#"{"reject": true}"#)).await;
    assert_eq!(e.status, "failed");
    assert_eq!(output(&e), json!("rejected here"));
    assert!(log(&t, &e).await.contains("TypeError: rejected here"));

    // Code that does not load fails every execution with what is wrong.
    let broken = node_function(
        &t,
        &rt,
        &[("main.js", "exports.main = (context, input) => {\n")],
        |_| {},
    )
    .await;
    let e = t.run(&broken, None).await;
    assert_eq!(e.status, "failed", "{e:?}");
    let text = log(&t, &e).await;
    assert!(text.contains("SyntaxError"), "{text}");
    let missing = node_function(&t, &rt, &[("main.js", "exports.other = 1;\n")], |_| {}).await;
    let e = t.run(&missing, None).await;
    assert_eq!(e.status, "failed");
    assert!(
        output(&e)
            .as_str()
            .is_some_and(|m| m.contains("exports no function `main`")),
        "{e:?}"
    );
    t.stop().await;
}

/// As Python's (`hostile::strays_started_after_quiet_executions_are_still_killed`): a process
/// started after quiet executions is killed, and one a timer started between executions by its
/// worker's next execution.
#[tokio::test]
async fn strays_started_after_quiet_executions_are_still_killed() {
    let t = TestServer::start().await;
    let rt = t.runtime("nodejs").await;
    let source = r#"
const { spawn } = require('child_process');
const start = (marker) => spawn('sleep', [marker], { detached: true, stdio: 'ignore' }).unref();
exports.main = async (context, input) => {
  const mode = (input && input.mode) || 'quiet';
  if (mode === 'spawn') start(input.marker);
  if (mode === 'later') setTimeout(() => start(input.marker), 200);
  return mode;
};
"#;
    let f = node_function(&t, &rt, &[("main.js", source)], |_| {}).await;
    let run = async |input: &str| output(&t.run(&f, Some(input)).await);
    let gone = |marker: &str| crate::hostile::host_processes(&format!("sleep {marker}")).is_empty();
    for _ in 0..5 {
        assert_eq!(run("{}").await, json!("quiet"));
    }
    let spawned = r#"{"mode": "spawn", "marker": "31338.5"}"#;
    assert_eq!(run(spawned).await, json!("spawn"));
    crate::hostile::eventually("the process the execution started is gone", || {
        gone("31338.5")
    })
    .await;
    for _ in 0..5 {
        assert_eq!(run("{}").await, json!("quiet"));
    }
    let later = r#"{"mode": "later", "marker": "31338.75"}"#;
    assert_eq!(run(later).await, json!("later"));
    crate::hostile::eventually("the timer started its process", || !gone("31338.75")).await;
    // Killed at the end of that worker's next execution: the function's calls may be spread
    // over two workers (a worker held at its CPU quota), so run until one lands there.
    for _ in 0..50 {
        assert_eq!(run("{}").await, json!("quiet"));
        if gone("31338.75") {
            return;
        }
    }
    panic!("the process the timer started outlived 50 executions");
}

#[tokio::test]
async fn an_endless_loop_stops_at_the_timeout_and_a_fresh_worker_follows() {
    let (t, _, f) = node_server(
        "exports.main = (context, input) => { while (input && input.spin) {} return 'done'; };\n",
        |u| u.timeout = Some(1),
    )
    .await;
    assert_timed_out(&t.run(&f, Some(r#"{"spin": true}"#)).await);
    let f = t.set_timeout(&f, 30).await;
    let again = t.run(&f, None).await;
    assert_eq!(again.status, "success", "{again:?}");
    assert_eq!(output(&again), json!("done"));
    t.stop().await;
}

#[tokio::test]
async fn memory_past_the_limit_fails_and_the_default_limit_runs_node() {
    // The default memory_size (32 MiB, Qinling's) is enough for node itself.
    let (t, _, f) = node_server(
        r#"
const token = Math.random().toString(36);
exports.main = (context, input) => {
  const kept = [];
  if (input && input.hog === 'heap') for (;;) kept.push(new Array(1 << 16).fill(kept.length));
  if (input && input.hog === 'buffer') for (;;) kept.push(Buffer.alloc(1 << 20, 1));
  return token;
};
"#,
        |_| {},
    )
    .await;
    assert_eq!(f.memory_size, 32 * 1024 * 1024);
    let first = t.run(&f, None).await;
    assert_eq!(first.status, "success", "{first:?}");
    for hog in ["heap", "buffer"] {
        let e = t.run(&f, Some(&format!(r#"{{"hog": "{hog}"}}"#))).await;
        assert_eq!(e.status, "failed", "{hog}: {e:?}");
        assert_eq!(output(&e), json!(RESOURCE), "{hog}");
    }
    let after = t.run(&f, None).await;
    assert_eq!(after.status, "success", "{after:?}");
    assert_ne!(output(&after), output(&first), "a new worker took over");
    t.stop().await;
}

#[tokio::test]
async fn concurrent_executions_share_warm_workers() {
    let t = TestServer::start_with(|s| s.max_workers_per_function = 2).await;
    let rt = t.runtime("nodejs").await;
    let f = node_function(
        &t,
        &rt,
        &[(
            "main.js",
            r#"
let calls = 0;
const worker = Math.random().toString(36);
exports.main = async () => {
  calls += 1;
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { worker, calls };
};
"#,
        )],
        |_| {},
    )
    .await;
    assert_warm_reuse(&t, &f, 6, 2).await;
    let listed = t
        .http()
        .get(t.v1(&format!("functions/{}/workers", f.id)))
        .send()
        .await
        .expect("workers")
        .json::<Value>()
        .await
        .expect("json");
    let listed = listed["workers"].as_array().map_or(0, Vec::len);
    assert!((1..=2).contains(&listed), "at most 2 workers: {listed}");
    t.stop().await;
}

#[tokio::test]
async fn a_package_brings_its_own_node_modules() {
    let t = TestServer::start().await;
    let rt = t.runtime("nodejs").await;
    let f = node_function(
        &t,
        &rt,
        &[
            (
                "lib/handler.js",
                r#"
const pad = require('left-pad');
const { shout } = require('@acme/shout');
exports.run = (context, input) => shout(pad(String(input.n), 5, '0'));
"#,
            ),
            (
                "node_modules/left-pad/package.json",
                r#"{"name": "left-pad", "version": "1.3.0", "main": "lib/index.js"}"#,
            ),
            (
                "node_modules/left-pad/lib/index.js",
                "module.exports = (s, n, c) => c.repeat(Math.max(0, n - s.length)) + s;\n",
            ),
            (
                "node_modules/@acme/shout/index.js",
                "exports.shout = (s) => `${s}!`;\n",
            ),
        ],
        // A dotted module path names a file in a directory, as for Python.
        |u| u.entry = Some("lib.handler.run".to_owned()),
    )
    .await;
    let e = t.run(&f, Some(r#"{"n": 42}"#)).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e), json!("00042!"));
    t.stop().await;
}
