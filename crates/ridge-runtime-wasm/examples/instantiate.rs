//! Prints what the WebAssembly runtime costs, without a server: compiling a module, starting a
//! worker from the compiled-module cache, and one execution of an already-compiled module (a
//! fresh instance from the pool, the guest's run, and tearing it down).
//!
//! cargo run --release -p ridge-runtime-wasm --features guests --example instantiate [N]

use std::time::{Duration, Instant};

use ridge_core::{ExecutionId, ExecutionInput};
use ridge_runtime::{Invocation, RuntimeAdapter};
use ridge_runtime_wasm::{WasmAdapter, WasmConfig, guests};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2000);
    let cache = tempfile::tempdir()?;
    let package = tempfile::tempdir()?;
    let runtime = WasmAdapter::new(WasmConfig {
        cache_dir: Some(cache.path().to_owned()),
        ..WasmConfig::default()
    });
    println!("{}", runtime.check().await?);

    for (name, module) in [
        ("echo (text format)", guests::wat(guests::ECHO_WAT)),
        (
            "hello (C, wasi-libc)",
            guests::c(guests::HELLO_C).map_err(anyhow::Error::msg)?,
        ),
    ] {
        std::fs::write(package.path().join("main.wasm"), &module)?;
        let spec = guests::spec(package.path().to_owned());
        let started = Instant::now();
        runtime.start(&spec).await?;
        let compile = started.elapsed();
        let started = Instant::now();
        let mut worker = runtime.start(&spec).await?;
        let from_cache = started.elapsed();

        let invocation = Invocation {
            execution_id: ExecutionId::new(),
            input: ExecutionInput::from_request(&json!({"name": "bench"})),
        };
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let ran = worker.invoke(&invocation).await?;
            times.push(started.elapsed());
            anyhow::ensure!(ran.output.is_ok(), "{:?}", ran.output);
        }
        times.sort();
        let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
        let mean = times.iter().sum::<Duration>() / n as u32;
        println!(
            "{name}: {} bytes; compile {:.1} ms; worker from cache {:.2} ms; \
             execution (fresh instance) over {n}: mean {:.0} µs, p50 {:.0} µs, p99 {:.0} µs",
            module.len(),
            compile.as_secs_f64() * 1e3,
            from_cache.as_secs_f64() * 1e3,
            mean.as_secs_f64() * 1e6,
            pct(0.5).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
        );
    }
    Ok(())
}
