//! Pre-started Node.js workers: started with the heap of the server's default `memory_size`,
//! taken only by functions with that limit, each then serving one function only, under its
//! limits.

use ridge_core::api::{FunctionView, RuntimeView};
use serde_json::json;

use crate::cli::json as cli_json;
use crate::common::{RESOURCE, TestServer, assert_timed_out, output};
use crate::nodejs::node_function;
use crate::prestart::{each_takes_its_own, pool, ready, served_by, taken};

const MIB: u64 = 1024 * 1024;

/// Returns the worker's name (the last argument of its command line), `MARK`, what its working
/// directory holds and V8's heap limit.
const WHO: &str = r#"
const fs = require('fs');
const v8 = require('v8');
const MARK = '%MARK%';
exports.main = () => {
  const argv = fs.readFileSync('/proc/self/cmdline', 'latin1').split('\0').filter(Boolean);
  return {
    worker: argv[argv.length - 1],
    mark: MARK,
    files: fs.readdirSync('.').sort(),
    heap_mib: Math.round(v8.getHeapStatistics().heap_size_limit / 1048576),
  };
};
"#;

async fn who(
    ts: &TestServer,
    rt: &RuntimeView,
    mark: &str,
    memory_size: Option<u64>,
) -> FunctionView {
    node_function(ts, rt, &[("main.js", &WHO.replace("%MARK%", mark))], |u| {
        u.memory_size = memory_size;
    })
    .await
}

#[tokio::test]
async fn a_prestarted_node_worker_serves_one_function_and_the_pool_refills() {
    let ts = TestServer::start().await;
    let rt = ts.runtime("nodejs").await;
    let before = ready(&ts, &rt, 2).await;
    assert!(
        before.iter().all(|n| n.starts_with("nodejs-prestarted-")),
        "{before:?}"
    );
    let view = pool(&ts, &rt).await;
    assert_eq!(view.prestarted.unavailable, None);
    assert_eq!(view.prestarted.zygote, None, "Node.js has no zygote");
    assert_eq!(
        view.prestarted.memory_size,
        Some(32 * MIB),
        "made for the default memory_size"
    );
    let shown = cli_json(&ts.url, &["runtime", "pool", "show", "nodejs"]).await;
    assert_eq!(shown["prestarted"]["memory_size"], json!(32 * MIB));
    assert_eq!(shown["prestarted"]["ready"], 2);

    let one = who(&ts, &rt, "one", None).await;
    let two = who(&ts, &rt, "two", None).await;
    let (first, refilled) =
        each_takes_its_own(&ts, &rt, &before, [&one, &two], json!(["main.js"])).await;
    let heap = output(&first)["heap_mib"].as_u64().expect("a heap limit");
    assert!(
        (32..48).contains(&heap),
        "V8's heap is the function's: {heap} MiB"
    );

    // Another memory_size means another heap limit: it starts cold, with its own.
    let big = who(&ts, &rt, "big", Some(64 * MIB)).await;
    let e = ts.run(&big, None).await;
    let big_worker = served_by(&e);
    assert!(
        !big_worker.starts_with("nodejs-prestarted-"),
        "{big_worker} was pre-started for 32 MiB"
    );
    let heap = output(&e)["heap_mib"].as_u64().expect("a heap limit");
    assert!((64..96).contains(&heap), "{heap} MiB");
    assert_eq!(
        pool(&ts, &rt).await.prestarted.workers,
        refilled,
        "none taken"
    );

    // Sized as Python's: the surplus is stopped at once; 0 keeps none.
    let shown = cli_json(
        &ts.url,
        &["runtime", "pool", "set", "nodejs", "--size", "1"],
    )
    .await;
    assert_eq!(shown["prestarted"]["setting"], 1);
    assert_eq!(shown["prestarted"]["ready"], 1);
    let shown = cli_json(
        &ts.url,
        &["runtime", "pool", "set", "nodejs", "--size", "0"],
    )
    .await;
    assert_eq!(shown["prestarted"]["ready"], 0);
    ts.stop().await;
}

#[tokio::test]
async fn a_prestarted_node_worker_holds_the_functions_memory_limit_and_timeout() {
    let ts = TestServer::start().await;
    let rt = ts.runtime("nodejs").await;
    let hog = node_function(
        &ts,
        &rt,
        &[(
            "main.js",
            r#"
exports.main = (context, input) => {
  const kept = [];
  if (input.hog === 'heap') for (;;) kept.push(new Array(1 << 16).fill(kept.length));
  // 40 MiB outside V8's heap: over the function's 32 MiB, within the 64 MiB the worker had
  // while it waited, so only a limit lowered when it was taken stops it.
  for (let i = 0; i < 40; i++) kept.push(Buffer.alloc(1 << 20, 1));
  return kept.length;
};
"#,
        )],
        |_| {},
    )
    .await;
    // V8's heap limit (the worker's command line) and the cgroup's (set when it is taken).
    for kind in ["heap", "buffer"] {
        let before = ready(&ts, &rt, 2).await;
        let e = ts.run(&hog, Some(&format!(r#"{{"hog": "{kind}"}}"#))).await;
        assert_eq!(e.status, "failed", "{kind}: {e:?}");
        assert_eq!(output(&e), json!(RESOURCE), "{kind}");
        let after = pool(&ts, &rt).await.prestarted.workers;
        assert_eq!(taken(&before, &after), 1, "the {kind} hog ran pre-started");
    }

    let before = ready(&ts, &rt, 2).await;
    let spinner = node_function(
        &ts,
        &rt,
        &[("main.js", "exports.main = () => { for (;;) {} };\n")],
        |u| u.timeout = Some(1),
    )
    .await;
    assert_timed_out(&ts.run(&spinner, None).await);
    let after = pool(&ts, &rt).await.prestarted.workers;
    assert_eq!(
        taken(&before, &after),
        1,
        "the spinner ran in a pre-started worker"
    );
    ts.stop().await;
}
