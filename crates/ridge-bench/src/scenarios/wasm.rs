//! Scenario 8, WebAssembly: scenarios 1 and 3 for a `wasm` function (the echo module of
//! `ridge-runtime-wasm`'s guests), and one figure taken in-process, without HTTP: an execution
//! of an already-compiled module on a fresh instance, which is what every wasm execution costs
//! inside the server. That one figure is why this file links `ridge-runtime-wasm`; everything
//! else goes through the release binary's API like the other scenarios.

use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use ridge_core::{ExecutionId, ExecutionInput};
use ridge_runtime::{Invocation, RuntimeAdapter};
use ridge_runtime_wasm::{WasmAdapter, WasmConfig, guests};
use serde_json::json;

use super::{Ctx, cold, warm};
use crate::funcs;
use crate::load::LoadResult;
use crate::report::Row;
use crate::server::RidgeServer;

const LEVELS: [usize; 3] = [1, 8, 64];

/// In-process executions measured.
const IN_PROCESS: usize = 5_000;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Vec<Row>> {
    let b = ctx.budget;
    let mut rows = vec![in_process().await?];
    // Scenario 3: a distinct module each (a custom section tells them apart).
    let echo = guests::wat(guests::ECHO_WAT);
    for mut row in cold::measure(ctx, "wasm", |i| Ok(Bytes::from(distinct(&echo, i)))).await? {
        row.case = format!("WebAssembly: {}", row.case);
        rows.push(row);
    }

    // Scenario 1: one function, warm.
    let server = RidgeServer::start(&ctx.programs, "warm-wasm", "").await?;
    let runtime = server.runtime("wasm").await?;
    let id = funcs::create(&server.client, &runtime, "echo", &Bytes::from(echo), None).await?;
    let url = format!("{}/v1/executions", server.url);
    let request = funcs::execution_request(&url, funcs::sync_body(&id), "success")?;
    for c in LEVELS {
        let measured = warm::measured(b.warm_load(c), server.pid(), request.clone()).await;
        rows.push(measured.row(format!("WebAssembly: warm, concurrency {c}")));
    }
    server.stop().await?;
    Ok(rows)
}

/// How the WebAssembly rows were measured.
pub fn notes() -> String {
    format!(
        "WebAssembly: the echo module (WASI preview 1, text format) without input; cold rows as \
         scenario 3, warm rows as scenario 1. The in-process row runs {IN_PROCESS} executions on \
         one worker of ridge-runtime-wasm directly: a fresh instance from the pooling allocator \
         each, the guest's run, teardown"
    )
}

/// Executions of an already-compiled module on one worker, in this process: no HTTP, no store.
async fn in_process() -> anyhow::Result<Row> {
    let cache = tempfile::tempdir()?;
    let package = tempfile::tempdir()?;
    std::fs::write(
        package.path().join("main.wasm"),
        guests::wat(guests::ECHO_WAT),
    )?;
    let runtime = WasmAdapter::new(WasmConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..WasmConfig::default()
    });
    let spec = guests::spec(package.path().to_owned());
    let mut worker = runtime
        .start(&spec)
        .await
        .context("cannot start a wasm worker")?;
    let invocation = Invocation {
        execution_id: ExecutionId::new(),
        input: ExecutionInput::from_request(&json!({"name": "bench"})),
    };
    let mut result = LoadResult {
        latencies: Vec::with_capacity(IN_PROCESS),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    let started = Instant::now();
    for _ in 0..IN_PROCESS {
        let t = Instant::now();
        match worker.invoke(&invocation).await {
            Ok(done) if done.output.is_ok() => result.latencies.push(t.elapsed()),
            Ok(done) => {
                result.errors += 1;
                result
                    .first_error
                    .get_or_insert(format!("{:?}", done.output));
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(e.to_string());
            }
        }
    }
    result.elapsed = started.elapsed();
    worker.kill().await;
    Ok(Row::load(
        "WebAssembly in-process: execution of a compiled module on a fresh instance",
        &result,
    )
    .note("instantiate + run + teardown, on the calling thread (as the server runs a short one); no HTTP, no store"))
}

/// `module` with a custom section naming `i` appended: the same code, a different package.
fn distinct(module: &[u8], i: usize) -> Vec<u8> {
    let name = format!("ridge-bench-{i}");
    let mut out = module.to_vec();
    out.push(0); // custom section
    out.push(u8::try_from(name.len() + 1).expect("a short name"));
    out.push(u8::try_from(name.len()).expect("a short name"));
    out.extend_from_slice(name.as_bytes());
    out
}
