//! Measures what isolation costs: the cold start of a Python worker (spawn until the function
//! is loaded) and a warm execution, with each sandbox layer added in turn.
//!
//! ```text
//! cargo run --release -p ridge-runtime-process --example spawn_cost [-- <rounds>]
//! ```
//!
//! Layers: `unconfined` (rlimits and a process group only); `cgroups` (+ memory, cpu and pids
//! limits, bubblewrap pointed at a missing path); `sandbox` (+ namespaces, read-only view,
//! seccomp, unprivileged uid: the server's default). The worker runs with `cpu` = 1000
//! millicores so that the CFS quota does not dominate what is measured; a function's own
//! `cpu` (100 by default) slows its cold start further, by design. Prints a table; asserts
//! nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ridge_core::{Entry, ExecutionId, FunctionId, Limits};
use ridge_runtime::{Invocation, RuntimeAdapter, WorkerSpec};
use ridge_runtime_process::{ProcessAdapter, ProcessConfig};
use ridge_sandbox::{Enforcement, HostCapabilities, Sandbox, SandboxConfig};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let package = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        package.path().join("function.py"),
        "def main(**kw):\n    return 'ok'\n",
    )
    .expect("write");
    let spec = WorkerSpec {
        runtime_id: ridge_core::RuntimeId::new(),
        function_id: FunctionId::new(),
        function_version: 0,
        package_dir: package.path().to_owned(),
        entry: Entry::try_from("function.main".to_owned()).expect("entry"),
        limits: Limits {
            cpu: 1000,
            memory_size: 128 * 1024 * 1024,
            timeout: 30,
        },
        network: ridge_core::NetworkAccess::Loopback,
        log_cap: 1 << 20,
        result_cap: 6 << 20,
        startup_allowance: true,
    };
    let layers: Vec<(&str, Option<SandboxConfig>)> = vec![
        ("unconfined", None),
        (
            "cgroups",
            Some(SandboxConfig {
                enforcement: Enforcement::Degraded,
                bwrap: Some(PathBuf::from("/nonexistent/bwrap")),
                ..SandboxConfig::default()
            }),
        ),
        (
            "sandbox",
            Some(SandboxConfig {
                enforcement: Enforcement::Degraded,
                ..SandboxConfig::default()
            }),
        ),
    ];
    println!("{rounds} rounds per layer, on {}", std::env::consts::ARCH);
    println!(
        "{:<12} {:>12} {:>12} {:>12} {:>12}",
        "layer", "cold p50 ms", "cold p90 ms", "warm p50 ms", "warm p90 ms"
    );
    for (name, config) in layers {
        let sandbox = config.map(|c| Arc::new(Sandbox::new(c, HostCapabilities::probe())));
        if let Some(s) = &sandbox {
            let missing: Vec<&str> = s
                .protections()
                .iter()
                .filter(|p| !p.enforced)
                .map(|p| p.protection.name())
                .collect();
            eprintln!("{name}: not enforced: {missing:?}");
        }
        let runtime = ProcessAdapter::python(
            None,
            ProcessConfig {
                sandbox,
                ..ProcessConfig::default()
            },
        );
        runtime.check().await.expect("python is available");
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let mut worker = runtime.start(&spec).await.expect("worker starts");
            cold.push(started.elapsed());
            for _ in 0..10 {
                let call = Invocation {
                    execution_id: ExecutionId::new(),
                    input: None,
                };
                let t = Instant::now();
                worker.invoke(&call).await.expect("invoke");
                warm.push(t.elapsed());
            }
            worker.kill().await;
        }
        cold.sort();
        warm.sort();
        println!(
            "{name:<12} {:>12.1} {:>12.1} {:>12.2} {:>12.2}",
            percentile(&cold, 0.5),
            percentile(&cold, 0.9),
            percentile(&warm, 0.5),
            percentile(&warm, 0.9)
        );
    }
}
