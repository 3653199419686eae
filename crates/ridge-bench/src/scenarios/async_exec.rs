//! Scenario 4: asynchronous executions. How many `POST /v1/executions` with `sync: false` are
//! accepted per second (each one persisted before it is answered), and how long until every one
//! has finished, checked against the store afterwards.

use std::time::{Duration, Instant};

use anyhow::bail;

use super::{Ctx, Outcome};
use crate::funcs;
use crate::load;
use crate::report::{Row, Status};
use crate::server::RidgeServer;

/// Clients submitting at once.
const SUBMITTERS: usize = 32;
/// The longest the backlog may take to drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let n = ctx.budget.async_executions;
    let server = RidgeServer::start(&ctx.programs, "async", "").await?;
    let runtime = server.python_runtime().await?;
    let id = funcs::create(
        &server.client,
        &runtime,
        "noop-async",
        &funcs::package(funcs::NOOP)?,
        None,
    )
    .await?;
    let http = funcs::http_client(SUBMITTERS)?;
    let url = format!("{}/v1/executions", server.url);
    // One warm worker first, so the figure is about accepting and running, not a cold start.
    if let Err(e) = funcs::execute(&http, &url, funcs::sync_body(&id), "success").await {
        bail!("the warm-up execution failed: {e}");
    }

    let start = Instant::now();
    let calls = (0..n)
        .map(|_| {
            let (h, u, body) = (http.clone(), url.clone(), funcs::async_body(&id, None));
            async move { funcs::execute(&h, &u, body, "running").await }
        })
        .collect();
    let submitted = load::all_at_once(SUBMITTERS, calls).await;

    let filter = |status: &str| {
        vec![
            ("function_id".to_owned(), id.clone()),
            ("status".to_owned(), status.to_owned()),
        ]
    };
    loop {
        let running = server.client.list_executions(&filter("running")).await?;
        if running.is_empty() {
            break;
        }
        if start.elapsed() > DRAIN_TIMEOUT {
            bail!(
                "{} execution(s) still running after {DRAIN_TIMEOUT:?}",
                running.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = start.elapsed();
    let succeeded = server
        .client
        .list_executions(&filter("success"))
        .await?
        .len();
    // The warm-up execution is one of them.
    let persisted_ok = succeeded.saturating_sub(1);
    server.stop().await?;

    let rows = vec![
        Row::load(
            format!("submit {n} async executions, {SUBMITTERS} clients"),
            &submitted,
        )
        .note("per s = accepted per second; latency = time to the 201"),
        Row::value(
            "from first submit until all finished",
            drained.as_secs_f64() * 1e3,
            "ms",
        )
        .note(format!(
            "{:.0} executions finished per second",
            n as f64 / drained.as_secs_f64()
        )),
        Row::value("persisted as success", persisted_ok as f64, "executions")
            .note(format!("of {n} submitted")),
    ];
    let status = if submitted.errors > 0 || persisted_ok != n {
        Status::Failed(format!(
            "{} submit error(s), {persisted_ok} of {n} executions persisted as success",
            submitted.errors
        ))
    } else {
        Status::Ran
    };
    Ok(Outcome {
        status,
        rows,
        notes: vec![
            "finished = no execution of the function left `running` (polled every 20 ms through \
             GET /v1/executions), then every one counted as `success` in the store"
                .to_owned(),
        ],
    })
}
