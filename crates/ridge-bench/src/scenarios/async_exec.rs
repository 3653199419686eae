//! Scenario 4: asynchronous executions. How many `POST /v1/executions` with `sync: false` are
//! accepted per second (each one persisted before it is answered), and how long until every one
//! has finished, checked against the store afterwards. [`measure`] also drives several nodes
//! sharing one store (scenario 9).

use std::time::{Duration, Instant};

use anyhow::bail;

use super::{Ctx, Outcome};
use crate::funcs;
use crate::load::{self, LoadResult};
use crate::report::{Row, Status};
use crate::server::RidgeServer;

/// Clients submitting at once (in all, however many nodes they are spread over).
pub const SUBMITTERS: usize = 32;
/// The longest the backlog may take to drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let server = RidgeServer::start(&ctx.programs, "async", "").await?;
    let id = server.python_noop("noop-async").await?;
    let run = measure(&[&server], &id, ctx.budget.async_executions).await?;
    server.stop().await?;
    let status = match run.failure() {
        Some(reason) => Status::Failed(reason),
        None => Status::Ran,
    };
    Ok(Outcome {
        status,
        rows: run.rows(""),
        notes: vec![NOTE.to_owned()],
    })
}

/// How scenario 4 decides that the backlog has finished.
pub const NOTE: &str = "finished = no execution of the function left `running` (each node's \
     `ridge_executions_total` polled every 20 ms until they add up, then GET /v1/executions \
     until none is `running`), then every one counted as `success` in the store";

/// What one async run measured.
pub struct AsyncRun {
    pub n: usize,
    pub nodes: usize,
    pub submitted: LoadResult,
    /// From the first submit until none was `running`.
    pub drained: Duration,
    /// Executions of the run (warm-ups excluded) found `success` in the store.
    pub succeeded: usize,
}

impl AsyncRun {
    pub fn finished_per_second(&self) -> f64 {
        self.n as f64 / self.drained.as_secs_f64().max(1e-9)
    }

    /// Why the run does not count, if it does not.
    pub fn failure(&self) -> Option<String> {
        (self.submitted.errors > 0 || self.succeeded != self.n).then(|| {
            format!(
                "{} submit error(s), {} of {} executions persisted as success",
                self.submitted.errors, self.succeeded, self.n
            )
        })
    }

    /// The table rows, each case prefixed with `label`.
    pub fn rows(&self, label: &str) -> Vec<Row> {
        let spread = if self.nodes > 1 {
            format!(" over {} nodes", self.nodes)
        } else {
            String::new()
        };
        vec![
            Row::load(
                format!(
                    "{label}submit {} async executions, {SUBMITTERS} clients{spread}",
                    self.n
                ),
                &self.submitted,
            )
            .note("per s = accepted per second; latency = time to the 201"),
            Row::value(
                format!("{label}from first submit until all finished"),
                self.drained.as_secs_f64() * 1e3,
                "ms",
            )
            .note(format!(
                "{:.0} executions finished per second",
                self.finished_per_second()
            )),
            Row::value(
                format!("{label}persisted as success"),
                self.succeeded as f64,
                "executions",
            )
            .note(format!("of {} submitted", self.n)),
        ]
    }
}

/// How many executions of function `id` the server at `url` finished, whatever their status
/// (`ridge_executions_total` in its `/metrics`).
async fn finished_count(http: &reqwest::Client, url: &str, id: &str) -> anyhow::Result<f64> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let label = format!("function=\"{id}\"");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("ridge_executions_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

/// Runs function `id` once synchronously on each of `nodes` (a warm worker each, so the figure
/// is about accepting and running, not a cold start), then submits `n` async executions of it
/// from [`SUBMITTERS`] clients, spread round-robin over `nodes`; waits until none is `running`
/// (asking the first node: they share one store) and counts the successes in the store.
pub async fn measure(nodes: &[&RidgeServer], id: &str, n: usize) -> anyhow::Result<AsyncRun> {
    let Some(first) = nodes.first() else {
        bail!("no server to measure");
    };
    let http = funcs::http_client(SUBMITTERS)?;
    let urls: Vec<String> = nodes
        .iter()
        .map(|s| format!("{}/v1/executions", s.url))
        .collect();
    for url in &urls {
        if let Err(e) = funcs::execute(&http, url, funcs::sync_body(id), "success").await {
            bail!("the warm-up execution on {url} failed: {e}");
        }
    }

    let requests = (0..n)
        .map(|i| {
            funcs::execution_request(
                &urls[i % urls.len()],
                funcs::async_body(id, None),
                "running",
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = Instant::now();
    let submitted = load::each_once(SUBMITTERS, requests).await;

    let filter = |status: &str| {
        vec![
            ("function_id".to_owned(), id.to_owned()),
            ("status".to_owned(), status.to_owned()),
        ]
    };
    // Each node counts the executions it finished (the warm-up call and its share of the n),
    // just before it writes their outcome. Polling that counter costs the servers little, where
    // listing the running executions (thousands of rows, every 20 ms) took a good part of their
    // CPU while they drained; the list is read once the count is reached, when it is short.
    let expected = (n as f64 - submitted.errors as f64).max(0.0) + nodes.len() as f64;
    loop {
        let mut finished = 0.0;
        for node in nodes {
            finished += finished_count(&http, &node.url, id).await?;
        }
        if finished >= expected {
            break;
        }
        if start.elapsed() > DRAIN_TIMEOUT {
            bail!("{finished} of {expected} executions finished after {DRAIN_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loop {
        let running = first.client.list_executions(&filter("running")).await?;
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
    let succeeded = first
        .client
        .list_executions(&filter("success"))
        .await?
        .len();
    Ok(AsyncRun {
        n,
        nodes: nodes.len(),
        submitted,
        drained,
        // The warm-up executions are among them.
        succeeded: succeeded.saturating_sub(nodes.len()),
    })
}
