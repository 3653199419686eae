//! Scenario 6: the cost of isolation. Two servers side by side, one with the sandbox as
//! deployed (`[sandbox] mode = "refuse"`, every protection this host offers) and one with it
//! turned off (`mode = "off"`: workers are plain child processes, no bubblewrap, namespaces,
//! seccomp, cgroups or uid of their own). Both have the runtime pool off
//! (`runtime_pool_size = 0`), so that a cold start includes the sandbox's set-up. Measured,
//! interleaved case by case so drift on a shared machine hits both alike: Python cold starts
//! one after another (p50, p99), then warm synchronous no-ops at concurrency 1 and 8
//! (throughput, p50, p99, server-side CPU per request, workers included). The ratios on/off
//! are what isolation costs. A third warm case, sandbox on with `cpu` = 1000 millicores, tells
//! the default CPU quota's share (a worker held to a tenth of a core) from the other layers'.

use super::cold::sequential;
use super::warm::{Measured, measured};
use super::{Ctx, Outcome};
use crate::funcs;
use crate::load::LoadResult;
use crate::report::Row;
use crate::server::RidgeServer;

/// The pool off in both, so that a cold start pays for the sandbox's set-up; the sandboxed
/// server allows a whole core to a function (Qinling's range stops at 300 millicores).
const SANDBOX_ON: &str = "runtime_pool_size = 0\n[resource_limits.cpu]\ndefault = 100\nmin = 100\nmax = 1000\n\
                          [sandbox]\nmode = \"refuse\"\n";
const SANDBOX_OFF: &str = "runtime_pool_size = 0\n[sandbox]\nmode = \"off\"\n";
/// Warm concurrency levels.
const LEVELS: [usize; 2] = [1, 8];
/// The warm cases: a label, the server (0: on, 1: off), and the function's `cpu` (`None`: the
/// default, 100 millicores). The last is the baseline of the ratios.
const WARM: [(&str, usize, Option<u64>); 3] = [
    ("sandbox on", 0, None),
    ("sandbox on, cpu 1000", 0, Some(1000)),
    ("sandbox off", 1, None),
];

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let on = RidgeServer::start(&ctx.programs, "isolation-on", SANDBOX_ON).await?;
    let off = RidgeServer::start(&ctx.programs, "isolation-off", SANDBOX_OFF).await?;
    let figures = measure(ctx, [&on, &off]).await;
    off.stop().await?;
    on.stop().await?;
    let ([cold_on, cold_off], warm) = figures?;

    let mut rows = vec![
        Row::load("cold (pool off), sandbox on", &cold_on),
        Row::load("cold (pool off), sandbox off", &cold_off),
    ];
    for (i, c) in LEVELS.iter().enumerate() {
        for ((label, ..), by_level) in WARM.iter().zip(&warm) {
            rows.push(by_level[i].row(format!("warm c={c}, {label}")));
        }
    }
    if let (Some(a), Some(b)) = (cold_on.latency(), cold_off.latency()) {
        rows.push(
            Row::value("ratio on/off cold p50", a.p50_ms / b.p50_ms.max(1e-9), "x")
                .note(format!("{:+.2} ms for the sandbox", a.p50_ms - b.p50_ms)),
        );
        rows.push(
            Row::value("ratio on/off cold p99", a.p99_ms / b.p99_ms.max(1e-9), "x")
                .note(format!("{:+.2} ms", a.p99_ms - b.p99_ms)),
        );
    }
    let baseline = &warm[WARM.len() - 1];
    for (i, c) in LEVELS.iter().enumerate() {
        for ((label, ..), by_level) in WARM.iter().zip(&warm).take(WARM.len() - 1) {
            rows.extend(ratios(
                &format!("{label}/off, warm c={c}"),
                &by_level[i],
                &baseline[i],
            ));
        }
    }
    let notes = vec![
        format!(
            "two servers at once, both `runtime_pool_size = 0`; on: `[sandbox] mode = \"refuse\"` \
             (every protection of this host), off: `mode = \"off\"` (plain child processes); \
             cold: {} fresh no-op functions each, one at a time, alternating between the \
             servers; warm: the same no-op, sync, alternating case by case at each level; \
             `cpu 1000`: the no-op given a whole core instead of the default tenth",
            ctx.budget.cold_functions
        ),
        "server-side CPU counts the server and its workers (the whole process tree)".to_owned(),
    ];
    let errors: u64 = cold_on.errors
        + cold_off.errors
        + warm.iter().flatten().map(|m| m.load.errors).sum::<u64>();
    Ok(Outcome::ran_counting(rows, notes, errors))
}

/// The ratios of `a` to the baseline `b`: throughput, p50, p99, CPU per request.
fn ratios(name: &str, a: &Measured, b: &Measured) -> Vec<Row> {
    let mut rows = vec![
        Row::value(
            format!("ratio {name} throughput"),
            a.load.throughput() / b.load.throughput().max(1e-9),
            "x",
        )
        .note("below 1: the sandbox costs throughput"),
    ];
    if let (Some(la), Some(lb)) = (a.load.latency(), b.load.latency()) {
        rows.push(
            Row::value(
                format!("ratio {name} p50"),
                la.p50_ms / lb.p50_ms.max(1e-9),
                "x",
            )
            .note(format!("{:+.3} ms", la.p50_ms - lb.p50_ms)),
        );
        rows.push(Row::value(
            format!("ratio {name} p99"),
            la.p99_ms / lb.p99_ms.max(1e-9),
            "x",
        ));
    }
    rows.push(
        Row::value(
            format!("ratio {name} CPU per request"),
            a.cpu_per_request() / b.cpu_per_request().max(1e-12),
            "x",
        )
        .note(format!(
            "{:+.0} us per request",
            (a.cpu_per_request() - b.cpu_per_request()) * 1e6
        )),
    );
    rows
}

/// Cold starts of fresh functions on each server, alternating one function at a time; then
/// the [`WARM`] cases at each level, one after another. Returns the cold results per server
/// and the warm ones per case, by level.
async fn measure(
    ctx: &Ctx,
    servers: [&RidgeServer; 2],
) -> anyhow::Result<([LoadResult; 2], Vec<Vec<Measured>>)> {
    let n = ctx.budget.cold_functions;
    let http = funcs::http_client(64)?;
    let mut ids: [Vec<String>; 2] = Default::default();
    let mut runtimes: [String; 2] = Default::default();
    for (k, server) in servers.iter().enumerate() {
        runtimes[k] = server.python_runtime().await?;
        for i in 0..n {
            let source = format!("{}# {i}\n", funcs::NOOP);
            let package = funcs::package(&source)?;
            let name = format!("iso-{i}");
            ids[k].push(funcs::create(&server.client, &runtimes[k], &name, &package, None).await?);
        }
    }
    let urls = servers.map(|s| format!("{}/v1/executions", s.url));
    let mut cold: [Vec<LoadResult>; 2] = Default::default();
    for i in 0..n {
        for k in 0..2 {
            cold[k].push(sequential(&http, &urls[k], &ids[k][i..=i]).await);
        }
    }
    let mut noops = Vec::new();
    for (j, (_, k, cpu)) in WARM.iter().enumerate() {
        let upload = ridge_client::FunctionUpload {
            name: Some(format!("iso-warm-{j}")),
            runtime_id: Some(runtimes[*k].clone()),
            entry: Some("main.main".to_owned()),
            cpu: *cpu,
            package: Some(funcs::package(funcs::NOOP)?),
            ..Default::default()
        };
        let f = servers[*k].client.create_function(&upload).await?;
        noops.push(f.id);
    }
    let mut warm: Vec<Vec<Measured>> = WARM.iter().map(|_| Vec::new()).collect();
    for c in LEVELS {
        for (j, (_, k, _)) in WARM.iter().enumerate() {
            let request =
                funcs::execution_request(&urls[*k], funcs::sync_body(&noops[j]), "success")?;
            let m = measured(ctx.budget.warm_load(c), servers[*k].pid(), request).await;
            warm[j].push(m);
        }
    }
    Ok((cold.map(merge), warm))
}

/// One result from single-execution runs.
fn merge(parts: Vec<LoadResult>) -> LoadResult {
    let mut all = LoadResult {
        latencies: Vec::new(),
        errors: 0,
        first_error: None,
        elapsed: std::time::Duration::ZERO,
    };
    for part in parts {
        all.latencies.extend(part.latencies);
        all.errors += part.errors;
        all.elapsed += part.elapsed;
        if all.first_error.is_none() {
            all.first_error = part.first_error;
        }
    }
    all
}
