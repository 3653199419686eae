//! Scenario 6: the cost of isolation. Two servers side by side, one with the sandbox as
//! deployed (`[sandbox] mode = "refuse"`, every protection this host offers) and one with it
//! turned off (`mode = "off"`: workers are plain child processes, no bubblewrap, namespaces,
//! seccomp, cgroups or uid of their own). Both have the runtime pool off
//! (`runtime_pool_size = 0`), so that a cold start includes the sandbox's set-up. Measured,
//! interleaved case by case so drift on a shared machine hits both alike: Python cold starts
//! one after another (p50, p99), then warm synchronous no-ops at concurrency 1 and 8
//! (throughput, p50, p99, server-side CPU per request, workers included). The ratios on/off
//! are what isolation costs.

use super::cold::sequential;
use super::warm::{Measured, measured};
use super::{Ctx, Outcome};
use crate::funcs;
use crate::load::LoadResult;
use crate::report::Row;
use crate::server::RidgeServer;

/// The pool off in both, so that a cold start pays for the sandbox's set-up.
const SANDBOX_ON: &str = "runtime_pool_size = 0\n[sandbox]\nmode = \"refuse\"\n";
const SANDBOX_OFF: &str = "runtime_pool_size = 0\n[sandbox]\nmode = \"off\"\n";
/// Warm concurrency levels.
const LEVELS: [usize; 2] = [1, 8];

/// What one server measured.
struct Figures {
    cold: LoadResult,
    warm: Vec<(usize, Measured)>,
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let on = RidgeServer::start(&ctx.programs, "isolation-on", SANDBOX_ON).await?;
    let off = RidgeServer::start(&ctx.programs, "isolation-off", SANDBOX_OFF).await?;
    let figures = measure(ctx, [&on, &off]).await;
    off.stop().await?;
    on.stop().await?;
    let [on, off] = figures?;

    let mut rows = vec![
        Row::load("cold (pool off), sandbox on", &on.cold),
        Row::load("cold (pool off), sandbox off", &off.cold),
    ];
    for ((c, a), (_, b)) in on.warm.iter().zip(&off.warm) {
        rows.push(a.row(format!("warm c={c}, sandbox on")));
        rows.push(b.row(format!("warm c={c}, sandbox off")));
    }
    if let (Some(a), Some(b)) = (on.cold.latency(), off.cold.latency()) {
        rows.push(
            Row::value("ratio on/off cold p50", a.p50_ms / b.p50_ms.max(1e-9), "x")
                .note(format!("+{:.2} ms for the sandbox", a.p50_ms - b.p50_ms)),
        );
        rows.push(
            Row::value("ratio on/off cold p99", a.p99_ms / b.p99_ms.max(1e-9), "x")
                .note(format!("+{:.2} ms", a.p99_ms - b.p99_ms)),
        );
    }
    for ((c, a), (_, b)) in on.warm.iter().zip(&off.warm) {
        rows.push(
            Row::value(
                format!("ratio on/off warm c={c} throughput"),
                a.load.throughput() / b.load.throughput().max(1e-9),
                "x",
            )
            .note("below 1: the sandbox costs throughput"),
        );
        if let (Some(la), Some(lb)) = (a.load.latency(), b.load.latency()) {
            rows.push(
                Row::value(
                    format!("ratio on/off warm c={c} p50"),
                    la.p50_ms / lb.p50_ms.max(1e-9),
                    "x",
                )
                .note(format!("+{:.3} ms", la.p50_ms - lb.p50_ms)),
            );
            rows.push(Row::value(
                format!("ratio on/off warm c={c} p99"),
                la.p99_ms / lb.p99_ms.max(1e-9),
                "x",
            ));
        }
        rows.push(
            Row::value(
                format!("ratio on/off warm c={c} CPU per request"),
                a.cpu_per_request() / b.cpu_per_request().max(1e-12),
                "x",
            )
            .note(format!(
                "+{:.0} us per request",
                (a.cpu_per_request() - b.cpu_per_request()) * 1e6
            )),
        );
    }
    let notes = vec![
        format!(
            "two servers at once, both `runtime_pool_size = 0`; on: `[sandbox] mode = \"refuse\"` \
             (every protection of this host), off: `mode = \"off\"` (plain child processes); \
             cold: {} fresh no-op functions each, one at a time, alternating between the \
             servers; warm: the same no-op, sync, alternating level by level",
            ctx.budget.cold_functions
        ),
        "server-side CPU counts the server and its workers (the whole process tree)".to_owned(),
    ];
    let errors: u64 = on.cold.errors
        + off.cold.errors
        + on.warm
            .iter()
            .chain(&off.warm)
            .map(|(_, m)| m.load.errors)
            .sum::<u64>();
    Ok(Outcome::ran_counting(rows, notes, errors))
}

/// Cold starts of fresh functions on each server, alternating one function at a time, then
/// warm calls at each level, alternating level by level.
async fn measure(ctx: &Ctx, servers: [&RidgeServer; 2]) -> anyhow::Result<[Figures; 2]> {
    let n = ctx.budget.cold_functions;
    let http = funcs::http_client(64)?;
    let mut ids: [Vec<String>; 2] = Default::default();
    let mut urls: [String; 2] = Default::default();
    let mut noops: [String; 2] = Default::default();
    for (k, server) in servers.iter().enumerate() {
        let runtime = server.python_runtime().await?;
        for i in 0..n {
            let source = format!("{}# {i}\n", funcs::NOOP);
            ids[k].push(
                funcs::create(
                    &server.client,
                    &runtime,
                    &format!("iso-{i}"),
                    &funcs::package(&source)?,
                    None,
                )
                .await?,
            );
        }
        urls[k] = format!("{}/v1/executions", server.url);
        let package = funcs::package(funcs::NOOP)?;
        noops[k] = funcs::create(&server.client, &runtime, "iso-warm", &package, None).await?;
    }
    let mut cold: [Vec<LoadResult>; 2] = Default::default();
    for i in 0..n {
        for k in 0..2 {
            cold[k].push(sequential(&http, &urls[k], &ids[k][i..=i]).await);
        }
    }
    let mut warm: [Vec<(usize, Measured)>; 2] = Default::default();
    for c in LEVELS {
        for (k, server) in servers.iter().enumerate() {
            let (h, u, b) = (http.clone(), urls[k].clone(), funcs::sync_body(&noops[k]));
            let m = measured(ctx.budget.warm_load(c), server.pid(), move || {
                let (h, u, b) = (h.clone(), u.clone(), b.clone());
                async move { funcs::execute(&h, &u, b, "success").await }
            })
            .await;
            warm[k].push((c, m));
        }
    }
    let [cold_on, cold_off] = cold.map(merge);
    let [warm_on, warm_off] = warm;
    Ok([
        Figures {
            cold: cold_on,
            warm: warm_on,
        },
        Figures {
            cold: cold_off,
            warm: warm_off,
        },
    ])
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
