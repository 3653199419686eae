//! Scenario 3: cold starts. The time from an execution request to its result for functions
//! with no warm worker: freshly created ones, and the same ones after `detach` stopped their
//! workers (the unpacked package stays cached).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ridge_client::RidgeClient;

use super::{Ctx, Outcome};
use crate::funcs;
use crate::load::LoadResult;
use crate::report::Row;
use crate::server::RidgeServer;

/// How long detached workers may take to go.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let rows = measure(ctx, "python3", |i| {
        // A distinct package each, so nothing is shared between the functions.
        funcs::package(&format!("{}# {i}\n", funcs::NOOP))
    })
    .await?;
    Ok(Outcome::ran(rows, vec![notes(ctx)]))
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
    let n = ctx.budget.cold_functions;
    let server = RidgeServer::start(&ctx.programs, &format!("cold-{image}"), "").await?;
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

    let fresh = sequential(&http, &url, &ids).await;
    let warm = sequential(&http, &url, &ids).await;
    for id in &ids {
        server
            .client
            .detach(id)
            .await
            .with_context(|| format!("cannot detach function `{id}`"))?;
    }
    wait_released(&server.client, &runtime).await?;
    let released = sequential(&http, &url, &ids).await;
    server.stop().await?;

    Ok(vec![
        Row::load("freshly created function, first execution", &fresh)
            .note("package unpacked + worker started + entry imported"),
        Row::load("after detach", &released)
            .note("worker started + entry imported; package already unpacked"),
        Row::load("warm, same functions (reference)", &warm),
    ])
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
