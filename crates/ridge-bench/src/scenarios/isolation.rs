//! Scenario 6: the cost of isolation. Cold and warm latency with the sandbox as deployed versus
//! the plain process, when the server has a switch to turn the sandbox off (`[sandbox]`
//! `enabled = false`). Without the switch the scenario is reported as not measurable yet, which
//! does not fail the run.

use super::cold::sequential;
use super::{Ctx, Outcome};
use crate::funcs;
use crate::load::{self, LoadResult};
use crate::report::{Row, Status};
use crate::server::RidgeServer;

/// The switch this scenario looks for.
const SANDBOX_OFF: &str = "[sandbox]\nenabled = false\n";

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let plain = match RidgeServer::start(&ctx.programs, "isolation-off", SANDBOX_OFF).await {
        Ok(server) => server,
        Err(e) => {
            let text = format!("{e:#}");
            let detail = text
                .lines()
                .rev()
                .find(|l| l.contains("unknown field"))
                .unwrap_or_else(|| text.lines().last().unwrap_or_default())
                .trim();
            let reason = format!(
                "no switch: `ridge serve` cannot turn the sandbox off for measurement \
                 (`[sandbox] enabled = false` refused: {detail}); the sandboxed figures are in \
                 scenarios 1 and 3, and the per-layer spawn cost is measured by `cargo run \
                 --release -p ridge-runtime-process --example spawn_cost` (docs/sandbox.md)"
            );
            return Ok(Outcome {
                status: Status::NotMeasurable(reason),
                rows: Vec::new(),
                notes: Vec::new(),
            });
        }
    };
    let plain_figures = measure(ctx, &plain).await;
    plain.stop().await?;
    let (plain_cold, plain_warm) = plain_figures?;
    let sandboxed = RidgeServer::start(&ctx.programs, "isolation-on", "").await?;
    let sandboxed_figures = measure(ctx, &sandboxed).await;
    sandboxed.stop().await?;
    let (cold, warm) = sandboxed_figures?;

    let mut rows = vec![
        Row::load("cold, sandbox as deployed", &cold),
        Row::load("cold, sandbox off", &plain_cold),
        Row::load("warm c=1, sandbox as deployed", &warm),
        Row::load("warm c=1, sandbox off", &plain_warm),
    ];
    for (name, on, off) in [("cold", &cold, &plain_cold), ("warm", &warm, &plain_warm)] {
        if let (Some(a), Some(b)) = (on.latency(), off.latency()) {
            rows.push(
                Row::value(
                    format!("{name} p50 sandbox on/off"),
                    a.p50_ms / b.p50_ms.max(1e-9),
                    "x",
                )
                .note(format!("+{:.2} ms", a.p50_ms - b.p50_ms)),
            );
        }
    }
    Ok(Outcome::ran(rows, Vec::new()))
}

/// Cold starts of fresh functions, then warm calls at concurrency 1.
async fn measure(ctx: &Ctx, server: &RidgeServer) -> anyhow::Result<(LoadResult, LoadResult)> {
    let runtime = server.python_runtime().await?;
    let mut ids = Vec::new();
    for i in 0..ctx.budget.cold_functions {
        let source = format!("{}# {i}\n", funcs::NOOP);
        ids.push(
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
    let http = funcs::http_client(4)?;
    let url = format!("{}/v1/executions", server.url);
    let cold = sequential(&http, &url, &ids).await;
    let body = funcs::sync_body(&ids[0]);
    let load = ctx.budget.warm_load(1);
    let warm = load::run(load, move || {
        let (h, u, b) = (http.clone(), url.clone(), body.clone());
        async move { funcs::execute(&h, &u, b, "success").await }
    })
    .await;
    Ok((cold, warm))
}
