//! Scenario 5: scale. Register many functions through the API (multipart uploads, as clients
//! do), run 1,000 concurrent executions spread over 100 of them, and report errors, the
//! server's peak memory and the proportional memory of each idle warm worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Ctx, Outcome, SCALE_MAX_WORKERS, mib};
use crate::funcs;
use crate::load::{self, LoadResult};
use crate::procfs;
use crate::report::{Row, Status};
use crate::server::RidgeServer;

/// Uploads in flight at once.
const UPLOADERS: usize = 16;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let b = ctx.budget;
    let config = format!("max_workers_per_function = {SCALE_MAX_WORKERS}\n");
    let server = RidgeServer::start(&ctx.programs, "scale", &config).await?;
    let runtime = server.python_runtime().await?;
    let package = funcs::package(funcs::NOOP)?;

    let (created, ids) = create_many(&server, &runtime, &package, b.scale_functions).await;
    if ids.len() < b.scale_spread {
        anyhow::bail!(
            "only {} of {} functions could be created: {}",
            ids.len(),
            b.scale_functions,
            created.first_error.clone().unwrap_or_default()
        );
    }

    let t = Instant::now();
    let listed = server.client.list_functions(false).await?;
    let list_time = t.elapsed();

    let http = funcs::http_client(b.scale_executions)?;
    let url = format!("{}/v1/executions", server.url);
    let burst = || -> Vec<_> {
        (0..b.scale_executions)
            .map(|i| {
                let (h, u) = (http.clone(), url.clone());
                let body = funcs::sync_body(&ids[i % b.scale_spread]);
                async move { funcs::execute(&h, &u, body, "success").await }
            })
            .collect()
    };
    let settled = procfs::settle(Duration::from_secs(3)).await;
    let executed = load::all_at_once(b.scale_executions, burst()).await;
    // The same burst again: every worker is warm now, so this is the platform's own cost.
    let executed_warm = load::all_at_once(b.scale_executions, burst()).await;

    // The workers are idle now; give stragglers a moment to return to their pools.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_peak = procfs::peak_rss(server.pid());
    let server_rss = procfs::rss(server.pid());
    let trees = procfs::worker_trees(server.pid());
    let pss: Vec<u64> = trees
        .iter()
        .map(|t| t.iter().filter_map(|&p| procfs::pss(p)).sum())
        .collect();
    let rss: Vec<u64> = trees
        .iter()
        .map(|t| t.iter().filter_map(|&p| procfs::rss(p)).sum())
        .collect();
    server.stop().await?;

    let mut rows = vec![
        Row::load(
            format!(
                "create {} functions, {UPLOADERS} uploaders",
                b.scale_functions
            ),
            &created,
        )
        .note("per s = functions created per second"),
        Row::value(
            format!("GET /v1/functions listing {}", listed.len()),
            list_time.as_secs_f64() * 1e3,
            "ms",
        ),
        Row::load(
            format!(
                "{} concurrent sync executions over {} functions",
                b.scale_executions, b.scale_spread
            ),
            &executed,
        )
        .note(format!(
            "cold start of each function included; max_workers_per_function = \
             {SCALE_MAX_WORKERS}; started once the machine was quiet ({} ms after the creates)",
            settled.as_millis()
        )),
        Row::load("the same burst again, workers warm", &executed_warm),
    ];
    if let Some(peak) = server_peak {
        rows.push(
            Row::value("server peak RSS (VmHWM)", mib(peak), "MiB")
                .note(format!("now {:.0} MiB", mib(server_rss.unwrap_or(0)))),
        );
    }
    if !pss.is_empty() {
        let total: u64 = pss.iter().sum();
        let rss_avg = mib(rss.iter().sum()) / rss.len().max(1) as f64;
        rows.push(
            Row::value(
                "PSS per idle warm worker",
                mib(total) / pss.len() as f64,
                "MiB",
            )
            .note(format!(
                "{} workers (PSS of each worker's process tree), {:.0} MiB in all; RSS {:.1} MiB each",
                pss.len(),
                mib(total),
                rss_avg
            )),
        );
    }
    let mut notes = Vec::new();
    if ctx.quick {
        notes.push(format!(
            "--quick registers {} functions instead of 10,000",
            b.scale_functions
        ));
    }
    let exec_errors = executed.errors + executed_warm.errors;
    let status = if exec_errors > 0 || created.errors > 0 {
        Status::Failed(format!(
            "{exec_errors} execution error(s) and {} create error(s) (must be 0): {}",
            created.errors,
            executed
                .first_error
                .as_ref()
                .or(executed_warm.first_error.as_ref())
                .or(created.first_error.as_ref())
                .cloned()
                .unwrap_or_default()
        ))
    } else {
        Status::Ran
    };
    Ok(Outcome {
        status,
        rows,
        notes,
    })
}

/// Creates `n` functions with `UPLOADERS` uploads in flight; returns the timings and the ids in
/// creation order.
async fn create_many(
    server: &RidgeServer,
    runtime: &str,
    package: &Bytes,
    n: usize,
) -> (LoadResult, Vec<String>) {
    let limit = Arc::new(tokio::sync::Semaphore::new(UPLOADERS));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (client, runtime, package, limit) = (
            server.client.clone(),
            runtime.to_owned(),
            package.clone(),
            limit.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = limit.acquire_owned().await.map_err(|e| e.to_string())?;
            let t = Instant::now();
            funcs::create(&client, &runtime, &format!("scale-{i}"), &package, None)
                .await
                .map(|id| (id, t.elapsed()))
                .map_err(|e| format!("{e:#}"))
        }));
    }
    let mut result = LoadResult {
        latencies: Vec::with_capacity(n),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    let mut ids = Vec::with_capacity(n);
    for task in tasks {
        match task.await {
            Ok(Ok((id, d))) => {
                ids.push(id);
                result.latencies.push(d);
            }
            Ok(Err(e)) => {
                result.errors += 1;
                result.first_error.get_or_insert(e);
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(e.to_string());
            }
        }
    }
    result.elapsed = start.elapsed();
    (result, ids)
}
