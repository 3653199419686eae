//! The WebAssembly runtime through the real server: `image: "wasm"` runtimes, `.wasm` and zip
//! packages, input and logs, traps, exit statuses, timeouts of loops, the memory limit, and
//! concurrency with warm reuse.

use std::time::Duration;

use crate::common::{TestServer, api_error, assert_timed_out, output, zip_files};
use ridge_core::api::{FunctionView, RuntimeView};
use ridge_core::execution::messages;
use ridge_runtime_wasm::guests;
use serde_json::json;

async fn wasm_runtime(t: &TestServer, image: &str) -> RuntimeView {
    let created = t
        .client
        .create_runtime(&ridge_core::api::CreateRuntime {
            image: Some(image.to_owned()),
            name: Some("wasm".to_owned()),
            ..Default::default()
        })
        .await
        .expect("runtime created");
    t.wait_runtime(&created.id).await
}

/// A function whose package is the bare module, with Qinling's default entry.
async fn function(t: &TestServer, rt: &RuntimeView, module: Vec<u8>, timeout: u32) -> FunctionView {
    t.function_with(rt, module, |u| {
        u.entry = None;
        u.timeout = Some(u64::from(timeout));
    })
    .await
}

#[tokio::test]
async fn info_lists_the_wasm_runtime() {
    let t = TestServer::start().await;
    let info: serde_json::Value = t
        .http()
        .get(t.v1("info"))
        .send()
        .await
        .expect("info")
        .json()
        .await
        .expect("json");
    let wasm = info["runtimes"]
        .as_array()
        .expect("runtimes")
        .iter()
        .find(|r| r["kind"] == "wasm")
        .cloned()
        .expect("the wasm kind is listed");
    assert_eq!(wasm["available"], true, "{wasm}");
    let detail = wasm["detail"].as_str().expect("detail");
    assert!(
        detail.contains("WASI preview 1") && detail.contains("wasm-cache"),
        "{detail}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_c_function_gets_its_input_and_logs() {
    let t = TestServer::start().await;
    let rt = wasm_runtime(&t, "wasm").await;
    let module = guests::c(guests::HELLO_C).expect("compiles");
    let f = function(&t, &rt, module, 5).await;
    let e = t.run(&f, Some(r#"{"name": "ridge"}"#)).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e), json!({"greeting": "hello, ridge", "bytes": 16}));
    let logs = t.client.execution_log(&e.id).await.expect("log");
    assert!(
        logs.starts_with(&format!("Start execution: {}\n", e.id))
            && logs.contains("received 16 bytes\n")
            && logs.ends_with(&format!("Finished execution: {}\n", e.id)),
        "{logs}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_zipped_module_runs_by_its_entry() {
    let t = TestServer::start().await;
    // Qinling-era image names map to the kind too.
    let rt = wasm_runtime(&t, "webassembly").await;
    let echo = guests::wat(guests::ECHO_WAT);
    let mut zip = std::io::Cursor::new(Vec::new());
    {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(&mut zip);
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("bin/echo.wasm", options).expect("entry");
        writer.write_all(&echo).expect("write");
        writer.start_file("README", options).expect("entry");
        writer.write_all(b"docs").expect("write");
        writer.finish().expect("finish");
    }
    let f = t
        .function_with(&rt, zip.into_inner(), |u| {
            u.entry = Some("bin.echo.main".to_owned());
        })
        .await;
    let e = t.run(&f, Some("[1, 2, 3]")).await;
    assert_eq!(e.status, "success", "{e:?}");
    assert_eq!(output(&e), json!([1, 2, 3]));
    t.stop().await;
}

#[tokio::test]
async fn traps_and_exit_statuses_fail_with_a_clear_message() {
    let t = TestServer::start().await;
    let rt = wasm_runtime(&t, "wasm").await;

    let f = function(&t, &rt, guests::wat(guests::TRAP_WAT), 5).await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "failed");
    let message = output(&e);
    let message = message.as_str().expect("a message");
    assert!(
        message.starts_with("the module trapped:") && message.contains("unreachable"),
        "{message}"
    );
    let logs = t.client.execution_log(&e.id).await.expect("log");
    assert!(logs.contains("about to trap\n"), "{logs}");

    let f = function(&t, &rt, guests::wat(guests::EXIT_WAT), 5).await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "failed");
    assert_eq!(output(&e), json!("the module exited with status 3"));

    // A package that is not a module fails to load, saying what to upload.
    let f = t
        .function_with(&rt, zip_files(&[("main.py", "print(1)")]), |_| {})
        .await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "failed");
    let message = output(&e);
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("no WebAssembly module for entry `function.main`")),
        "{message}"
    );
    // And an upload that is neither a zip nor a module is refused up front.
    let refused = t
        .client
        .create_function(&ridge_client::FunctionUpload {
            runtime_id: Some(rt.id.clone()),
            package: Some(b"asm? no".to_vec().into()),
            ..Default::default()
        })
        .await;
    assert_eq!(
        api_error(refused),
        (400, "Package is not a valid ZIP package.".to_owned())
    );
    t.stop().await;
}

#[tokio::test]
async fn an_endless_loop_stops_at_the_timeout() {
    let t = TestServer::start().await;
    let rt = wasm_runtime(&t, "wasm").await;
    let f = function(&t, &rt, guests::wat(guests::SPIN_WAT), 1).await;
    assert_timed_out(&t.run(&f, None).await);
    // The function runs again afterwards on a fresh worker (given time for its cold start).
    let echo = guests::wat(guests::ECHO_WAT);
    let g = function(&t, &rt, echo, 30).await;
    assert_eq!(t.run(&g, Some("\"after\"")).await.status, "success");
    t.stop().await;
}

#[tokio::test]
async fn growing_memory_past_memory_size_fails_cleanly() {
    let t = TestServer::start().await;
    let rt = wasm_runtime(&t, "wasm").await;
    let f = function(&t, &rt, guests::wat(guests::GROW_WAT), 5).await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "failed");
    let message = output(&e);
    let message = message.as_str().expect("a message");
    assert!(
        message.starts_with(messages::RESOURCE) && message.contains("33554432 bytes"),
        "{message}"
    );

    let hog = guests::c(guests::HOG_C).expect("compiles");
    let f = function(&t, &rt, hog, 5).await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "failed");
    let logs = t.client.execution_log(&e.id).await.expect("log");
    assert!(logs.contains("malloc failed after"), "{logs}");
    t.stop().await;
}

#[tokio::test]
async fn concurrent_executions_share_warm_workers_and_no_state() {
    let t = TestServer::start_with(|s| s.max_workers_per_function = 2).await;
    let rt = wasm_runtime(&t, "wasm").await;
    let f = function(&t, &rt, guests::wat(guests::COUNTER_WAT), 5).await;
    let mut runs = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let client = t.client.clone();
        let id = f.id.clone();
        runs.spawn(async move {
            client
                .create_execution(&ridge_core::api::CreateExecution {
                    function_id: Some(id),
                    ..Default::default()
                })
                .await
                .expect("execution")
        });
    }
    while let Some(done) = runs.join_next().await {
        let e = done.expect("joined");
        assert_eq!(e.status, "success", "{e:?}");
        assert_eq!(output(&e), json!(1), "a fresh instance every time");
    }
    let workers: serde_json::Value = t
        .http()
        .get(t.v1(&format!("functions/{}/workers", f.id)))
        .send()
        .await
        .expect("workers")
        .json()
        .await
        .expect("json");
    let workers = workers["workers"].as_array().expect("array");
    assert!((1..=2).contains(&workers.len()), "{workers:?}");
    let names: Vec<_> = workers.iter().map(|w| w["worker_name"].clone()).collect();

    // Sequential executions reuse the warm workers: no new one appears.
    for _ in 0..5 {
        assert_eq!(output(&t.run(&f, None).await), json!(1));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after: serde_json::Value = t
        .http()
        .get(t.v1(&format!("functions/{}/workers", f.id)))
        .send()
        .await
        .expect("workers")
        .json()
        .await
        .expect("json");
    let after: Vec<_> = after["workers"]
        .as_array()
        .expect("array")
        .iter()
        .map(|w| w["worker_name"].clone())
        .collect();
    assert_eq!(after, names);
    t.stop().await;
}

/// CPU time this process (the server runs in it) has used: `utime` + `stime` of
/// `/proc/self/stat`, in Linux's fixed 100 ticks a second.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().expect("a tick count"))
        .collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

#[tokio::test]
async fn a_spinning_guest_is_held_to_its_cpu_and_a_giant_function_is_refused() {
    let t = TestServer::start().await;
    let rt = wasm_runtime(&t, "wasm").await;
    let spin = t
        .function_with(&rt, guests::wat(guests::SPIN_WAT), |u| {
            u.entry = None;
            u.timeout = Some(2);
            u.cpu = Some(100);
        })
        .await;
    let before = process_cpu();
    let e = t.run(&spin, None).await;
    let used = process_cpu() - before;
    assert_eq!(e.status, "failed", "{e:?}");
    assert_eq!(output(&e), json!(messages::TIMEOUT));
    // A tenth of a core for 2 s is 0.2 s (plus the server's own work); unchecked, 2 s.
    assert!(
        used < Duration::from_millis(1000),
        "a guest with cpu=100 spinning for 2 s cost the server {used:?} of CPU"
    );

    let nops = "nop ".repeat(ridge_runtime_wasm::MAX_FUNCTION_SIZE + 1);
    let giant = guests::wat(&format!("(module (func (export \"_start\") {nops}))"));
    let f = function(&t, &rt, giant, 5).await;
    let e = t.run(&f, None).await;
    assert_eq!(e.status, "failed", "{e:?}");
    let message = output(&e);
    let message = message.as_str().expect("a message");
    assert!(
        message.contains("more than the 1048576 bytes a function may have"),
        "{message}"
    );
    t.stop().await;
}
