//! `ridge-bench`: measures Ridge against what users would run instead, side by side in one run
//! on the same machine. It starts its own `ridge serve` (and Google's functions-framework) as
//! child processes on loopback, drives them with its own load generator, prints a table and
//! writes JSON, and stops everything it started.
//!
//! It is a program, not a test: it has no thresholds, but it exits non-zero when a scenario that
//! should run could not. It deliberately does not link Ridge's server crates: it talks HTTP to
//! the release binary, as a user would. The exceptions are `ridge-runtime-wasm`, for the test
//! module it uploads and one in-process figure of scenario 8, and `ridge-engine`'s pure
//! keep-alive policy, which scenario 11 plays over a synthetic trace.

mod backends;
mod client;
mod ff;
mod funcs;
mod load;
mod procfs;
mod report;
mod scenarios;
mod server;
mod setup;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};

use crate::backends::{Backends, PackagesChoice, StoreChoice};
use crate::report::{Report, ScenarioReport, Status};
use crate::scenarios::{Ctx, Scenario};

#[derive(Debug, Parser)]
#[command(
    name = "ridge-bench",
    about = "Benchmark Ridge against functions-framework: latency, throughput, cold start, scale and isolation cost"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// Short runs (under 2 minutes on 2 cores); the full run takes under 15.
    #[arg(long, global = true)]
    quick: bool,
    /// The `ridge` binary to run [default: `release/ridge` in this program's target dir, built
    /// first when run through `cargo run`]
    #[arg(long, global = true)]
    ridge: Option<PathBuf>,
    /// The Python interpreter [default: `python3` on PATH, resolved to the real executable]
    #[arg(long, global = true)]
    python: Option<PathBuf>,
    /// Where to write the JSON results [default: `bench/results.json` in the target dir]
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// The servers' store: `sqlite` (each server's own file), `postgres` (a throwaway cluster
    /// started for the run, a fresh database per server) or a `postgres://` URL used as is
    #[arg(long, global = true, default_value = "sqlite", value_name = "STORE")]
    store: StoreChoice,
    /// The servers' package store: `file` (each server's data dir), `s3` (a throwaway SeaweedFS
    /// started for the run, a prefix per server) or an `s3://` / `file:///` URL used as is
    #[arg(long, global = true, default_value = "file", value_name = "PACKAGES")]
    packages: PackagesChoice,
}

#[derive(Debug, Clone, Copy, Subcommand)]
enum Command {
    /// Every scenario, in order.
    All,
    /// 1 and 2: warm sync executions, Ridge and functions-framework, at concurrency 1, 8, 64.
    Warm,
    /// 3: cold starts.
    Cold,
    /// 4: async executions.
    Async,
    /// 5: 10,000 functions, 1,000 concurrent executions over 100, memory.
    Scale,
    /// 6: cost of isolation (sandbox on versus off).
    Isolation,
    /// 7: a well-behaved function next to a CPU burner, a memory hog and a process spawner.
    Noisy,
    /// 8: Wasm and Node.js variants of 1 and 3.
    Runtimes,
    /// 9: 1 and 4 on SQLite against PostgreSQL, and async on 1, 2 and 3 nodes sharing one
    /// PostgreSQL (not part of `all`: it needs PostgreSQL installed).
    Stores,
    /// 10: messages of a RabbitMQ queue consumed per second by an event trigger running a
    /// no-op function (not part of `all`: it needs rabbitmq-server installed).
    Events,
    /// 11: cold-start rate and idle worker-seconds of the fixed and adaptive keep-alive
    /// policies over a synthetic trace (a simulation with Ridge's policy code; no server).
    Keepalive,
}

impl Command {
    fn scenarios(self) -> Vec<Scenario> {
        use Scenario as S;
        match self {
            Command::All => vec![
                S::Warm,
                S::Cold,
                S::Async,
                S::Scale,
                S::Isolation,
                S::Noisy,
                S::Runtimes,
                S::KeepAlive,
            ],
            Command::Warm => vec![S::Warm],
            Command::Cold => vec![S::Cold],
            Command::Async => vec![S::Async],
            Command::Scale => vec![S::Scale],
            Command::Isolation => vec![S::Isolation],
            Command::Noisy => vec![S::Noisy],
            Command::Runtimes => vec![S::Runtimes],
            Command::Stores => vec![S::Stores],
            Command::Events => vec![S::Events],
            Command::Keepalive => vec![S::KeepAlive],
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let backends = Arc::new(Backends::new(args.store.clone(), args.packages.clone()));
    let setup = setup::prepare(args.ridge.clone(), args.python.clone(), backends).await?;
    let measuring = Instant::now();
    let ctx = Ctx::new(setup.programs.clone(), args.quick);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| setup.programs.work_dir.join("results.json"));
    let mut report = Report {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        command: setup.command.clone(),
        quick: args.quick,
        machine: setup.machine.clone(),
        ridge_config: ctx.describe_configs(),
        scenarios: Vec::new(),
    };
    for scenario in args.command.scenarios() {
        eprintln!("[{}] {} ...", scenario.id(), scenario.name());
        let t = Instant::now();
        let outcome = tokio::select! {
            o = scenario.run(&ctx) => o,
            _ = tokio::signal::ctrl_c() => {
                anyhow::bail!("interrupted; every process the benchmark started is stopped")
            }
        };
        let (status, rows, notes) = match outcome {
            Ok(o) => (o.status, o.rows, o.notes),
            Err(e) => (Status::Failed(format!("{e:#}")), Vec::new(), Vec::new()),
        };
        if let Status::Failed(reason) = &status {
            eprintln!("[{}] FAILED: {reason}", scenario.id());
        }
        report.scenarios.push(ScenarioReport {
            id: scenario.id(),
            name: scenario.name().to_owned(),
            status,
            seconds: t.elapsed().as_secs_f64(),
            rows,
            notes,
        });
    }
    if let Some(peer) = ctx.peer_version() {
        report.machine.peer = peer;
    }
    println!("{}", report.table());
    for s in &report.scenarios {
        for n in &s.notes {
            println!("[{}] {n}", s.id);
        }
    }
    report.write_json(&out)?;
    println!(
        "\n{} | {} | nproc {} | {:.1} GiB | {:.0} s measuring, {:.0} s building | JSON: {}",
        report.date,
        report.command,
        report.machine.nproc,
        report.machine.mem_total_bytes as f64 / (1u64 << 30) as f64,
        measuring.elapsed().as_secs_f64(),
        (measuring - started).as_secs_f64(),
        out.display()
    );
    let failed = report.failed();
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        let ids: Vec<String> = failed.iter().map(|s| s.id.to_string()).collect();
        eprintln!("error: scenario(s) {} could not run", ids.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
