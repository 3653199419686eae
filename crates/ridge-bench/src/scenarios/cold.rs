//! Scenario 3: cold starts. The time from an execution request to its result for functions
//! with no warm worker: freshly created ones, and the same ones after `detach` stopped their
//! workers (the unpacked package stays cached). Python runs twice: with the runtime's pool of
//! pre-started workers off (`runtime_pool_size = 0`) and at its default; with the pool on, cold
//! starts one after another outrun its refill, so the rows say both what a cold start costs
//! when a pre-started worker is ready (the pool refilled before each) and back to back.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ridge_client::RidgeClient;

use super::{Ctx, Outcome};
use crate::load::LoadResult;
use crate::report::Row;
use crate::server::RidgeServer;
use crate::{funcs, procfs};

/// How long after the last worker is gone the kernel's threads are given to finish its end.
const END_SETTLE: Duration = Duration::from_millis(300);
/// How long detached workers may take to go.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    // A distinct package each, so nothing is shared between the functions.
    let package = |i| funcs::package(&format!("{}# {i}\n", funcs::NOOP));
    let mut rows = labelled(
        measure_with(ctx, "python3", package, "runtime_pool_size = 0", false).await?,
        "pool off",
    );
    rows.extend(labelled(
        measure_with(ctx, "python3", package, "", true).await?,
        "pool on",
    ));
    Ok(Outcome::ran(rows, vec![notes(ctx)]))
}

/// `rows` with their case prefixed by `label`.
pub fn labelled(rows: Vec<Row>, label: &str) -> Vec<Row> {
    rows.into_iter()
        .map(|mut row| {
            row.case = format!("{label}: {}", row.case);
            row
        })
        .collect()
}

/// How the cold rows were measured.
pub fn notes(ctx: &Ctx) -> String {
    format!(
        "{} functions, one execution at a time, each a distinct package; client-side time from \
         POST /v1/executions (sync) to its answer",
        ctx.budget.cold_functions
    )
}

/// Cold starts of `budget.cold_functions` functions of the runtime kind `image`, the `i`th
/// packaged by `package(i)` with entry `main.main`: freshly created, after `detach`, and warm.
pub async fn measure(
    ctx: &Ctx,
    image: &str,
    package: impl Fn(usize) -> anyhow::Result<bytes::Bytes>,
) -> anyhow::Result<Vec<Row>> {
    measure_with(ctx, image, package, "", false).await
}

/// [`measure`] on a server with `config`; `ready_rows` adds the cold starts measured with the
/// runtime's pre-started pool refilled before each (more functions, created for them).
pub async fn measure_with(
    ctx: &Ctx,
    image: &str,
    package: impl Fn(usize) -> anyhow::Result<bytes::Bytes>,
    config: &str,
    ready_rows: bool,
) -> anyhow::Result<Vec<Row>> {
    let n = ctx.budget.cold_functions;
    let server = RidgeServer::start(&ctx.programs, &format!("cold-{image}"), config).await?;
    let runtime = server.runtime(image).await?;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(
            funcs::create(
                &server.client,
                &runtime,
                &format!("cold-{i}"),
                &package(i)?,
                None,
            )
            .await?,
        );
    }
    let http = funcs::http_client(4)?;
    let url = format!("{}/v1/executions", server.url);

    let busy = procfs::machine_busy();
    let fresh = sequential(&http, &url, &ids).await;
    let fresh_cpu = procfs::machine_busy().saturating_sub(busy);
    let warm = sequential(&http, &url, &ids).await;
    let busy = procfs::machine_busy();
    for id in &ids {
        server
            .client
            .detach(id)
            .await
            .with_context(|| format!("cannot detach function `{id}`"))?;
    }
    wait_released(&server.client, &runtime).await?;
    // What the workers' ends left to the kernel's threads (their network namespaces).
    tokio::time::sleep(END_SETTLE).await;
    let end_cpu = procfs::machine_busy().saturating_sub(busy);
    let released = sequential(&http, &url, &ids).await;
    let mut rows = vec![
        Row::load("freshly created function, first execution", &fresh)
            .note("package unpacked + worker started + entry imported"),
        Row::load("after detach", &released)
            .note("worker started + entry imported; package already unpacked"),
        Row::load("warm, same functions (reference)", &warm),
        Row::value(
            "machine CPU per cold start (freshly created function)",
            fresh_cpu.as_secs_f64() * 1e3 / n.max(1) as f64,
            "ms",
        )
        .note(
            "the whole machine's busy time (/proc/stat) over the freshly created functions' \
             first executions, per function: server, bubblewrap, interpreter, worker, kernel \
             threads and this client alike; meaningful on an otherwise idle machine",
        ),
        Row::value(
            "machine CPU per worker's end (detach)",
            end_cpu.as_secs_f64() * 1e3 / n.max(1) as f64,
            "ms",
        )
        .note(
            "the machine's busy time from the first detach until every worker is gone and the \
             kernel's threads are done, per function: the kill, the cgroup's removal, the \
             network namespace's clean-up, this client's polling",
        ),
    ];
    if ready_rows {
        let mut more = Vec::with_capacity(n);
        for i in 0..n {
            more.push(
                funcs::create(
                    &server.client,
                    &runtime,
                    &format!("cold-ready-{i}"),
                    &package(n + i)?,
                    None,
                )
                .await?,
            );
        }
        let fresh = when_ready(&server.client, &runtime, &http, &url, &more).await?;
        // The first functions' workers too, warm again since their "after detach" row.
        for id in ids.iter().chain(&more) {
            server.client.detach(id).await?;
        }
        wait_released(&server.client, &runtime).await?;
        let released = when_ready(&server.client, &runtime, &http, &url, &more).await?;
        rows.insert(
            0,
            Row::load(
                "freshly created function, first execution, pre-started worker ready",
                &fresh,
            )
            .note("package unpacked + package mounted into the worker + entry imported"),
        );
        rows.insert(
            2,
            Row::load("after detach, pre-started worker ready", &released)
                .note("package mounted into the worker + entry imported"),
        );
    }
    server.stop().await?;
    Ok(rows)
}

/// Like [`sequential`], each execution only once the runtime's pre-started pool is full again
/// (bounded; the wait is not timed).
async fn when_ready(
    client: &RidgeClient,
    runtime: &str,
    http: &reqwest::Client,
    url: &str,
    ids: &[String],
) -> anyhow::Result<LoadResult> {
    let mut result = LoadResult {
        latencies: Vec::with_capacity(ids.len()),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    for id in ids {
        let start = Instant::now();
        loop {
            let pool = client.runtime_pool(runtime).await?;
            if pool.prestarted.size > 0 && pool.prestarted.ready >= pool.prestarted.size {
                break;
            }
            if start.elapsed() > RELEASE_TIMEOUT {
                bail!("the pre-started pool did not refill: {:?}", pool.prestarted);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let one = sequential(http, url, std::slice::from_ref(id)).await;
        result.latencies.extend(one.latencies);
        result.errors += one.errors;
        if let Some(e) = one.first_error {
            result.first_error.get_or_insert(e);
        }
        result.elapsed += one.elapsed;
    }
    Ok(result)
}

/// One synchronous execution per function, one after another, each timed.
pub async fn sequential(http: &reqwest::Client, url: &str, ids: &[String]) -> LoadResult {
    let mut result = LoadResult {
        latencies: Vec::with_capacity(ids.len()),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    let start = Instant::now();
    for id in ids {
        let t = Instant::now();
        match funcs::execute(http, url, funcs::sync_body(id), "success").await {
            Ok(()) => result.latencies.push(t.elapsed()),
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(e);
            }
        }
    }
    result.elapsed = start.elapsed();
    result
}

/// Waits until the runtime has no live worker.
async fn wait_released(client: &RidgeClient, runtime: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let pool = client
            .runtime_pool(runtime)
            .await
            .context("cannot read the runtime's pool")?;
        if pool.capacity.total == 0 {
            return Ok(());
        }
        if start.elapsed() > RELEASE_TIMEOUT {
            bail!(
                "{} worker(s) still alive {RELEASE_TIMEOUT:?} after detach",
                pool.capacity.total
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
