//! Scenarios 1 and 2: warm synchronous executions of a no-op Python function through Ridge's
//! API, and the same function served directly by functions-framework, with the same load
//! generator at the same concurrency levels, interleaved level by level so drift on a shared
//! machine hits both alike. Ratios are Ridge / functions-framework.

use std::time::Duration;

use anyhow::Context;

use super::{Ctx, Outcome, mib};
use crate::client::Request;
use crate::ff::{self, FfServer};
use crate::funcs;
use crate::load::{self, Load, LoadResult};
use crate::procfs;
use crate::report::Row;
use crate::server::RidgeServer;

pub(super) const LEVELS: [usize; 3] = [1, 8, 64];

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let b = ctx.budget;
    let server = RidgeServer::start(&ctx.programs, "warm", "").await?;
    let noop = server.python_noop("noop").await?;

    let exe = ff::ensure_venv(&ctx.programs).await?;
    ctx.set_peer_version(ff::version(&exe).await);
    let peer = FfServer::start(&ctx.programs, &exe)
        .await
        .context("cannot start functions-framework")?;

    let exec_url = format!("{}/v1/executions", server.url);
    let ridge_request = funcs::execution_request(&exec_url, funcs::sync_body(&noop), "success")?;
    let peer_request = ff_request(&peer.url)?;
    let mut rows = Vec::new();
    let mut pairs: Vec<(usize, Measured, Measured)> = Vec::new();
    for c in LEVELS {
        let load = b.warm_load(c);
        let ridge = measured(load, server.pid(), ridge_request.clone()).await;
        let peer_result = measured(load, peer.pid(), peer_request.clone()).await;
        pairs.push((c, ridge, peer_result));
    }

    for (c, ridge, _) in &pairs {
        rows.push(ridge.row(format!("1. Ridge, concurrency {c}")));
    }
    rows.extend(ridge_memory(server.pid()));
    for (c, _, peer_result) in &pairs {
        rows.push(peer_result.row(format!("2. functions-framework, concurrency {c}")));
    }
    rows.push(
        Row::value(
            "2. functions-framework start to first answer",
            peer.ready_after.as_secs_f64() * 1e3,
            "ms",
        )
        .note("process spawn, imports, gunicorn fork; compare with cold start (3)"),
    );
    let ff_pss = std::iter::once(peer.pid())
        .chain(procfs::descendants(peer.pid()))
        .filter_map(procfs::pss)
        .sum::<u64>();
    rows.push(
        Row::value(
            "2. functions-framework PSS (gunicorn master + worker)",
            mib(ff_pss),
            "MiB",
        )
        .note("after the load"),
    );
    for (c, ridge, peer_result) in &pairs {
        rows.push(
            Row::value(
                format!("ratio Ridge/ff CPU per request, concurrency {c}"),
                ridge.cpu_per_request() / peer_result.cpu_per_request().max(1e-12),
                "x",
            )
            .note("server side, workers included; below 1: Ridge spends less"),
        );
        let (ridge, peer_result) = (&ridge.load, &peer_result.load);
        rows.push(
            Row::value(
                format!("ratio Ridge/ff throughput, concurrency {c}"),
                ridge.throughput() / peer_result.throughput().max(1e-9),
                "x",
            )
            .note("above 1: Ridge serves more"),
        );
        if let (Some(r), Some(p)) = (ridge.latency(), peer_result.latency()) {
            rows.push(
                Row::value(
                    format!("ratio Ridge/ff p50 latency, concurrency {c}"),
                    r.p50_ms / p.p50_ms.max(1e-9),
                    "x",
                )
                .note("below 1: Ridge answers faster"),
            );
        }
    }
    peer.stop().await?;
    server.stop().await?;
    let notes = vec![
        "Ridge: POST /v1/executions {function_id, sync: true}, answer decoded and status checked \
         (one execution record per call); functions-framework: POST / to the same no-op, answer \
         checked; both over keep-alive loopback connections from the same Rust client"
            .to_owned(),
        "functions-framework runs as its README says for production: `functions-framework \
         --target main --source main.py`, which serves with gunicorn (1 worker, 4 x nproc threads)"
            .to_owned(),
    ];
    let errors: u64 = pairs
        .iter()
        .map(|(_, r, p)| r.load.errors + p.load.errors)
        .sum();
    Ok(Outcome::ran_counting(rows, notes, errors))
}

/// A load run and the CPU time the target's whole process tree spent on it.
pub(super) struct Measured {
    pub(super) load: LoadResult,
    cpu: Duration,
}

impl Measured {
    /// Seconds of CPU per successful request.
    pub(super) fn cpu_per_request(&self) -> f64 {
        self.cpu.as_secs_f64() / self.load.latencies.len().max(1) as f64
    }

    pub(super) fn row(&self, case: String) -> Row {
        Row::load(case, &self.load).note(format!(
            "server-side CPU {:.0} us per request",
            self.cpu_per_request() * 1e6
        ))
    }
}

/// Warms up, then runs `load` (without its warm-up) while counting the CPU time of `pid` and
/// its descendants.
pub(super) async fn measured(load: Load, pid: u32, request: Request) -> Measured {
    load::run(
        Load {
            duration: load.warmup,
            warmup: Duration::ZERO,
            ..load
        },
        request.clone(),
    )
    .await;
    let before = procfs::tree_cpu(pid);
    let result = load::run(
        Load {
            warmup: Duration::ZERO,
            ..load
        },
        request,
    )
    .await;
    Measured {
        cpu: procfs::tree_cpu(pid).saturating_sub(before),
        load: result,
    }
}

/// Server RSS peak, and the count and PSS of its warm workers.
pub fn ridge_memory(server_pid: u32) -> Vec<Row> {
    let mut rows = Vec::new();
    if let Some(peak) = procfs::peak_rss(server_pid) {
        rows.push(Row::value("1. Ridge server peak RSS", mib(peak), "MiB"));
    }
    let pss = procfs::worker_pss(server_pid);
    if !pss.is_empty() {
        let total: u64 = pss.iter().sum();
        rows.push(
            Row::value(
                "1. Ridge PSS per warm worker",
                mib(total) / pss.len() as f64,
                "MiB",
            )
            .note(format!(
                "{} warm workers after the load; a worker's PSS sums its process tree",
                pss.len()
            )),
        );
    }
    rows
}

/// An empty `POST /` to functions-framework, whose answer must be the no-op's `ok`.
fn ff_request(url: &str) -> anyhow::Result<Request> {
    Request::post(
        url,
        None,
        bytes::Bytes::new(),
        std::sync::Arc::new(|status, body| {
            if status.is_success() && body == b"ok" {
                Ok(())
            } else {
                Err(funcs::unexpected(status, body))
            }
        }),
    )
}
