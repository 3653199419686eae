//! Executions end to end: real server, real SQLite, real Python workers.

use crate::common::{TestServer, assert_timed_out, output, zip_files};
use ridge_client::FunctionUpdate;
use ridge_core::api::CreateExecution;
use serde_json::json;

const HELLO: &str = r#"
def main(name="World", **kwargs):
    print("Hello from the log,", name)
    return "Hello, " + name
"#;

#[tokio::test]
async fn sync_execution_returns_qinlings_result_shape_and_logs() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, HELLO).await;

    let e = t.run(&f, Some(r#"{"name": "x"}"#)).await;
    assert_eq!(e.status, "success");
    assert!(e.sync);
    assert_eq!(e.input.as_deref(), Some(r#"{"name": "x"}"#));
    let result = e.result.as_deref().expect("result");
    assert!(
        result.starts_with(r#"{"duration": "#) && result.ends_with(r#", "output": "Hello, x"}"#),
        "{result}"
    );
    let duration = e.result_json().expect("json")["duration"]
        .as_f64()
        .expect("float");
    assert!(duration >= 0.0);

    let log = t.client.execution_log(&e.id).await.expect("log");
    assert!(log.contains(&format!("Start execution: {}", e.id)), "{log}");
    assert!(log.contains("Hello from the log, x"), "{log}");
    assert!(
        log.contains(&format!("Finished execution: {}", e.id)),
        "{log}"
    );

    let f = t.client.get_function(&f.id).await.expect("function");
    assert_eq!(f.count, 1, "the function counts its executions");
    t.stop().await;
}

#[tokio::test]
async fn inputs_follow_qinlings_call_convention() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t
        .function(
            &rt,
            r#"
def main(*args, **kwargs):
    ctx = kwargs.pop("context")
    assert ctx["os_session"] is None
    return {"args": list(args), "kwargs": kwargs}
"#,
        )
        .await;
    let cases = [
        (Some(r#"{"a": 1}"#), json!({"args": [], "kwargs": {"a": 1}})),
        (Some("3"), json!({"args": [3], "kwargs": {}})),
        (
            Some("plain text"),
            json!({"args": ["plain text"], "kwargs": {}}),
        ),
        (Some("[1, 2]"), json!({"args": [[1, 2]], "kwargs": {}})),
        (None, json!({"args": [], "kwargs": {}})),
    ];
    for (input, expected) in cases {
        let e = t.run(&f, input).await;
        assert_eq!(e.status, "success", "{input:?}: {:?}", e.result);
        assert_eq!(output(&e), expected, "{input:?}");
    }
    t.stop().await;
}

#[tokio::test]
async fn async_execution_is_accepted_running_and_finishes() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t
        .function(
            &rt,
            "import time\ndef main(**kw):\n    time.sleep(0.3)\n    return 42\n",
        )
        .await;
    let e = t
        .client
        .create_execution(&CreateExecution {
            function_id: Some(f.id.clone()),
            sync: Some(false),
            ..Default::default()
        })
        .await
        .expect("accepted");
    assert_eq!(e.status, "running");
    assert!(!e.sync);
    assert_eq!(e.result, None);
    let done = t.wait(&e.id).await;
    assert_eq!(done.status, "success");
    assert_eq!(output(&done), json!(42));
    t.stop().await;
}

#[tokio::test]
async fn exceptions_fail_with_the_message_and_the_traceback_in_the_log() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t
        .function(
            &rt,
            "def main(**kw):\n    raise ValueError('bad input here')\n",
        )
        .await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "failed");
    assert_eq!(output(&e), json!("bad input here"));
    let log = t.client.execution_log(&e.id).await.expect("log");
    assert!(log.contains("Traceback"), "{log}");
    assert!(log.contains("ValueError: bad input here"), "{log}");
    t.stop().await;
}

#[tokio::test]
async fn timeout_kills_the_worker_and_the_next_execution_gets_a_fresh_one() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let source = r#"
import time
def main(sleep=0, **kw):
    time.sleep(sleep)
    return "woke"
"#;
    let f = t
        .function_with(&rt, zip_files(&[("function.py", source)]), |u| {
            u.timeout = Some(1)
        })
        .await;
    assert_eq!(f.timeout, 1);
    assert_timed_out(&t.run(&f, Some(r#"{"sleep": 30}"#)).await);

    let f = t.set_timeout(&f, 30).await;
    let again = t.run(&f, Some(r#"{"sleep": 0}"#)).await;
    assert_eq!(again.status, "success");
    assert_eq!(output(&again), json!("woke"));
    t.stop().await;
}

#[tokio::test]
async fn warm_workers_are_reused_and_updates_serve_new_code() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let counter =
        "COUNT = 0\ndef main(**kw):\n    global COUNT\n    COUNT += 1\n    return COUNT\n";
    let f = t.function(&rt, counter).await;
    assert_eq!(output(&t.run(&f, None).await), json!(1));
    assert_eq!(
        output(&t.run(&f, None).await),
        json!(2),
        "the second execution reuses the warm worker: no re-import"
    );

    let updated = t
        .client
        .update_function(
            &f.id,
            &FunctionUpdate {
                package: Some(
                    zip_files(&[("function.py", "def main(**kw):\n    return 'v2'\n")]).into(),
                ),
                ..Default::default()
            },
        )
        .await
        .expect("updated");
    assert_ne!(updated.code_object()["md5sum"], f.code_object()["md5sum"]);
    assert_eq!(output(&t.run(&f, None).await), json!("v2"));

    // A limits change also releases the workers.
    let counted = t
        .client
        .update_function(
            &f.id,
            &FunctionUpdate {
                package: Some(zip_files(&[("function.py", counter)]).into()),
                ..Default::default()
            },
        )
        .await
        .expect("updated");
    assert_eq!(counted.timeout, 5);
    assert_eq!(output(&t.run(&f, None).await), json!(1));
    t.client
        .update_function(
            &f.id,
            &FunctionUpdate {
                timeout: Some(7),
                cpu: Some(200),
                ..Default::default()
            },
        )
        .await
        .expect("updated");
    assert_eq!(
        output(&t.run(&f, None).await),
        json!(1),
        "new limits, new worker"
    );
    t.stop().await;
}

#[tokio::test]
async fn vendored_packages_import_and_bad_code_fails_clearly() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let package = zip_files(&[
        (
            "function.py",
            "from vendored.helper import greet\ndef main(**kw):\n    return greet('pkg')\n",
        ),
        ("vendored/__init__.py", ""),
        (
            "vendored/helper.py",
            "def greet(n):\n    return 'hi ' + n\n",
        ),
    ]);
    let f = t.function_with(&rt, package, |_| {}).await;
    assert_eq!(output(&t.run(&f, None).await), json!("hi pkg"));

    let syntax = t.function(&rt, "def main(:\n").await;
    let e = t.run(&syntax, None).await;
    assert_eq!(e.status, "failed");
    assert!(
        output(&e)
            .as_str()
            .is_some_and(|m| m.contains("invalid syntax")),
        "{:?}",
        e.result
    );

    let missing = t
        .function_with(
            &rt,
            zip_files(&[("function.py", "def other(**kw): pass\n")]),
            |_| {},
        )
        .await;
    let e = t.run(&missing, None).await;
    assert_eq!(e.status, "failed");
    assert!(
        output(&e).as_str().is_some_and(|m| m.contains("main")),
        "{:?}",
        e.result
    );

    let unserialisable = t
        .function(&rt, "def main(**kw):\n    return object()\n")
        .await;
    let e = t.run(&unserialisable, None).await;
    assert_eq!(e.status, "failed");
    assert!(
        output(&e)
            .as_str()
            .is_some_and(|m| m.contains("not JSON serializable")),
        "{:?}",
        e.result
    );
    t.stop().await;
}

#[tokio::test]
async fn output_is_capped_with_a_marker() {
    let t = TestServer::start_with(|s| s.log_cap = 1000).await;
    let rt = t.python_runtime().await;
    let f = t
        .function(
            &rt,
            "def main(**kw):\n    print('x' * 5000)\n    return 'ok'\n",
        )
        .await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "success");
    let log = t.client.execution_log(&e.id).await.expect("log");
    assert!(log.len() < 2000, "log is capped: {} bytes", log.len());
    assert!(log.contains("truncated"), "{log}");
    t.stop().await;
}

#[tokio::test]
async fn a_restart_reruns_waiting_executions_and_reports_interrupted_ones() {
    use ridge_core::{Execution, ExecutionId, ExecutionStatus, FunctionId, ProjectId};
    use ridge_store::{SqliteStore, Store};

    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "def main(**kw):\n    return 'ran'\n").await;
    let dir = t.stop().await;

    // What a crash leaves behind: one accepted execution that never started, one that had.
    let store = SqliteStore::open(&dir.path().join("ridge.db"))
        .await
        .expect("store");
    let function_id: FunctionId = f.id.parse().expect("uuid");
    let waiting = Execution {
        id: ExecutionId::new(),
        project_id: ProjectId::default_project(),
        function_id,
        function_version: 0,
        function_alias: None,
        description: None,
        status: ExecutionStatus::Running,
        sync: false,
        input: None,
        result: None,
        started_at: None,
        created_at: ridge_core::time::now(),
        updated_at: None,
        // Written before nodes existed, or handed back: any node may take it.
        node: None,
    };
    let started = Execution {
        id: ExecutionId::new(),
        started_at: Some(ridge_core::time::now()),
        ..waiting.clone()
    };
    store.create_execution(&waiting).await.expect("insert");
    store.create_execution(&started).await.expect("insert");
    drop(store);

    let t = TestServer::start_in(dir, |_| {}).await;
    let rerun = t.wait(&waiting.id.to_string()).await;
    assert_eq!(rerun.status, "success");
    assert_eq!(output(&rerun), json!("ran"));
    let interrupted = t.wait(&started.id.to_string()).await;
    assert_eq!(interrupted.status, "error");
    assert!(
        output(&interrupted)
            .as_str()
            .is_some_and(|m| m.contains("interrupted")),
        "{:?}",
        interrupted.result
    );
    t.stop().await;
}
