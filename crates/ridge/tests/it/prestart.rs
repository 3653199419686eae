//! Pre-started workers (`GET`/`PUT /v1/runtimes/{id}/pool`, `ridge runtime pool`): a real server
//! with the default sandbox keeps sandboxed Python interpreters ready per runtime; a function's
//! first execution takes one, which then serves that function only, under its limits.

use std::collections::HashSet;
use std::time::Duration;

use ridge_core::api::{ExecutionView, FunctionView, PoolView, RuntimeView, UpdatePool};
use serde_json::{Value, json};

use crate::cli::{json as cli_json, ridge};
use crate::common::{RESOURCE, TestServer, api_error, assert_timed_out, output, zip_files};
use crate::hostile::{eventually, host_processes};

/// Returns the worker's name (the last argument of its command line), `MARK`, and what its
/// package directory holds.
const WHO: &str = r#"
import os
MARK = "%MARK%"
def main(**kw):
    argv = [a for a in open("/proc/self/cmdline", "rb").read().split(b"\0") if a]
    return {"worker": argv[-1].decode(), "mark": MARK, "files": sorted(os.listdir("."))}
"#;

pub(crate) async fn pool(ts: &TestServer, rt: &RuntimeView) -> PoolView {
    ts.client.runtime_pool(&rt.id).await.expect("pool")
}

/// Waits (bounded) until the runtime's pool has `n` workers ready; returns their names.
pub(crate) async fn ready(ts: &TestServer, rt: &RuntimeView, n: u64) -> Vec<String> {
    let mut last = None;
    for _ in 0..400 {
        let view = pool(ts, rt).await;
        if view.prestarted.ready == n {
            return view.prestarted.workers;
        }
        last = Some(view);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the pool did not reach {n} ready workers within 10 s: {last:?}");
}

async fn who(ts: &TestServer, rt: &RuntimeView, mark: &str) -> FunctionView {
    ts.function(rt, &WHO.replace("%MARK%", mark)).await
}

pub(crate) fn served_by(e: &ExecutionView) -> String {
    assert_eq!(e.status, "success", "{e:?}");
    output(e)["worker"]
        .as_str()
        .expect("a worker name")
        .to_owned()
}

/// The pre-started workers taken since `before` (none is ever given back).
pub(crate) fn taken(before: &[String], now: &[String]) -> usize {
    let now: HashSet<&String> = now.iter().collect();
    before.iter().filter(|n| !now.contains(n)).count()
}

#[tokio::test]
async fn the_pool_size_is_shown_set_bounded_and_persisted() {
    let ts = TestServer::start().await;
    let rt = ts.python_runtime().await;
    let names = ready(&ts, &rt, 2).await;
    let view = pool(&ts, &rt).await;
    assert_eq!(view.prestarted.setting, None, "no admin setting yet");
    assert_eq!(
        (view.prestarted.default_size, view.prestarted.max_size),
        (2, 32)
    );
    assert_eq!(view.prestarted.size, 2);
    assert_eq!(view.prestarted.unavailable, None);
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(|n| n.starts_with("python3-prestarted-")));

    let set = ts
        .client
        .set_runtime_pool(&rt.id, &UpdatePool { size: Some(3) })
        .await
        .expect("set");
    assert_eq!(set.prestarted.setting, Some(3));
    assert_eq!(set.prestarted.size, 3);
    ready(&ts, &rt, 3).await;
    let lowered = ts
        .client
        .set_runtime_pool(&rt.id, &UpdatePool { size: Some(1) })
        .await
        .expect("lower");
    assert_eq!(
        lowered.prestarted.ready, 1,
        "the surplus is stopped at once"
    );

    for bad in [-1, 33, i64::from(u32::MAX) + 1] {
        let (status, fault) = api_error(
            ts.client
                .set_runtime_pool(&rt.id, &UpdatePool { size: Some(bad) })
                .await,
        );
        assert_eq!(status, 400, "{bad}: {fault}");
        assert!(
            fault.contains(&format!("invalid pool size `{bad}`")) && fault.contains("0 to 32"),
            "{fault}"
        );
    }
    for body in [json!({"size": "three"}), json!({"sizes": 1}), json!([])] {
        let res = ts
            .http()
            .put(ts.v1(&format!("runtimes/{}/pool", rt.id)))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 400, "{body}");
        let fault: Value = res.json().await.expect("json");
        assert!(fault["faultstring"].as_str().is_some_and(|f| !f.is_empty()));
    }
    let (status, _) = api_error(
        ts.client
            .set_runtime_pool(
                "00000000-0000-0000-0000-000000000000",
                &UpdatePool { size: Some(1) },
            )
            .await,
    );
    assert_eq!(status, 404);

    // The CLI.
    let shown = cli_json(
        &ts.url,
        &["runtime", "pool", "set", "python3", "--size", "0"],
    )
    .await;
    assert_eq!(shown["prestarted"]["setting"], 0);
    assert_eq!(shown["prestarted"]["ready"], 0);
    let shown = cli_json(&ts.url, &["runtime", "pool", "show", "python3"]).await;
    assert_eq!(shown["prestarted"]["size"], 0);
    let run = ridge(
        &ts.url,
        &["runtime", "pool", "set", "python3", "--size", "99"],
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("invalid pool size `99`"),
        "{}",
        run.stderr
    );
    let run = ridge(&ts.url, &["runtime", "pool", "set", "python3"]).await;
    assert_ne!(run.code, 0, "a size or --default is needed");
    let shown = cli_json(&ts.url, &["runtime", "pool", "set", "python3", "--default"]).await;
    assert_eq!(shown["prestarted"]["setting"], Value::Null);
    ready(&ts, &rt, 2).await;

    // Kept in the store: a restart on the same data directory keeps the admin's size.
    ts.client
        .set_runtime_pool(&rt.id, &UpdatePool { size: Some(1) })
        .await
        .expect("set");
    let dir = ts.stop().await;
    let ts = TestServer::start_in(dir, |_| {}).await;
    let view = pool(&ts, &rt).await;
    assert_eq!(view.prestarted.setting, Some(1));
    ready(&ts, &rt, 1).await;
    ts.stop().await;
}

#[tokio::test]
async fn a_prestarted_worker_serves_one_function_and_the_pool_refills() {
    let ts = TestServer::start().await;
    let rt = ts.python_runtime().await;
    let before = ready(&ts, &rt, 2).await;
    let one = who(&ts, &rt, "one").await;
    let two = who(&ts, &rt, "two").await;
    each_takes_its_own(&ts, &rt, &before, [&one, &two], json!(["function.py"])).await;
    ts.stop().await;
}

/// Runs `functions` (whose outputs carry `worker`, `mark`: "one" and "two", and `files`, what
/// their working directory holds: `files`): each takes one of the ready workers `before`,
/// keeps it warm and shares it with no other; the pool refills with new ones. Returns the
/// first execution and the refilled pool's workers.
pub(crate) async fn each_takes_its_own(
    ts: &TestServer,
    rt: &RuntimeView,
    before: &[String],
    functions: [&FunctionView; 2],
    files: Value,
) -> (ExecutionView, Vec<String>) {
    let mut workers = Vec::new();
    let mut first = None;
    for (function, mark) in functions.iter().zip(["one", "two"]) {
        let e = ts.run(function, None).await;
        let worker = served_by(&e);
        assert!(before.contains(&worker), "{worker} not in {before:?}");
        assert_eq!(output(&e)["mark"], mark);
        assert_eq!(output(&e)["files"], files, "its package");
        assert!(
            !workers.contains(&worker),
            "two functions never share a worker"
        );
        workers.push(worker);
        first.get_or_insert(e);
    }
    // Each keeps its own warm worker.
    for (function, worker) in functions.iter().zip(&workers) {
        assert_eq!(&served_by(&ts.run(function, None).await), worker);
    }
    // Refilled with new workers; the taken ones never come back.
    let refilled = ready(ts, rt, 2).await;
    assert!(
        workers.iter().all(|w| !refilled.contains(w)),
        "{refilled:?}"
    );
    (first.expect("two executions"), refilled)
}

#[tokio::test]
async fn a_prestarted_worker_holds_the_functions_memory_limit_and_timeout() {
    let ts = TestServer::start().await;
    let rt = ts.python_runtime().await;

    let before = ready(&ts, &rt, 2).await;
    let hog = ts
        .function_with(
            &rt,
            zip_files(&[(
                "function.py",
                // 40 MiB: over the function's 32 MiB, within the 64 MiB the worker had while
                // it waited, so only a limit lowered when it was taken stops it.
                "def main(**kw):\n    blocks = [bytearray(8 * 1024 * 1024) for _ in range(5)]\n    return len(blocks)\n",
            )]),
            |u| u.memory_size = Some(32 * 1024 * 1024),
        )
        .await;
    let e = ts.run(&hog, None).await;
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(&e), json!(RESOURCE));
    let after = pool(&ts, &rt).await.prestarted.workers;
    assert_eq!(
        taken(&before, &after),
        1,
        "the hog ran in a pre-started worker"
    );

    let before = ready(&ts, &rt, 2).await;
    let sleeper = ts
        .function_with(
            &rt,
            zip_files(&[(
                "function.py",
                "import time\ndef main(**kw):\n    time.sleep(60)\n",
            )]),
            |u| u.timeout = Some(1),
        )
        .await;
    let e = ts.run(&sleeper, None).await;
    assert_timed_out(&e);
    let after = pool(&ts, &rt).await.prestarted.workers;
    assert_eq!(
        taken(&before, &after),
        1,
        "the sleeper ran in a pre-started worker"
    );
    ts.stop().await;
}

#[tokio::test]
async fn deleting_the_runtime_or_stopping_the_server_stops_the_pool() {
    let ts = TestServer::start().await;
    // Python's and Node.js's pools alike.
    for image in ["python3", "nodejs"] {
        let rt = ts.runtime(image).await;
        let names = ready(&ts, &rt, 2).await;
        for name in &names {
            assert!(
                !host_processes(&format!("{name} ")).is_empty(),
                "{name} runs"
            );
        }
        ts.client.delete_runtime(&rt.id).await.expect("deleted");
        all_gone(&names).await;
    }

    let mut names = Vec::new();
    for image in ["python3", "nodejs"] {
        let rt = ts.runtime(image).await;
        names.extend(ready(&ts, &rt, 2).await);
    }
    ts.stop().await;
    all_gone(&names).await;
}

/// Waits (bounded) until no process of the workers `names` is left.
async fn all_gone(names: &[String]) {
    for name in names {
        let marker = format!("{name} ");
        eventually(&format!("no process of `{name}` is left"), || {
            host_processes(&marker).is_empty()
        })
        .await;
    }
}
