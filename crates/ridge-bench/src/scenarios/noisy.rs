//! Scenario 7: noisy neighbour. The p99 latency of a well-behaved function alone, and again
//! while other functions run a CPU burner, a memory hog and a fork bomb at the same time.
//!
//! Every neighbour is bounded: each ends at its own timeout (the engine kills its process
//! group); the hog stops growing at 768 MiB (its limit is 1 GiB); and where the sandbox does not enforce a pids limit
//! (`GET /v1/info`), the fork bomb is replaced by a spawner that keeps at most 64 children.

use std::time::{Duration, Instant};

use anyhow::Context;
use ridge_sandbox::Protection;

use super::{Ctx, Outcome};
use crate::funcs;
use crate::load::{self, Load};
use crate::procfs;
use crate::report::Row;
use crate::server::RidgeServer;

/// The memory the hog declares (the server allows it, below), and what it allocates: under its
/// limit, so it holds the memory for the whole measurement rather than being OOM-killed early.
const HOG_LIMIT_MIB: u64 = 1024;
const HOG_MIB: u64 = 768;
const CONFIG: &str =
    "[resource_limits.memory_size]\ndefault = 33554432\nmin = 33554432\nmax = 2147483648\n";

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let d = ctx.budget.noisy_duration;
    // Long enough to cover the measurement and the hog's ramp-up, short enough to end soon after.
    let timeout = d.as_secs() + 4;
    let server = RidgeServer::start(&ctx.programs, "noisy", CONFIG).await?;
    let runtime = server.python_runtime().await?;
    let info = server.client.info().await?;
    let pids_enforced = info
        .sandbox
        .protections
        .iter()
        .any(|p| Protection::from_name(&p.name) == Some(Protection::PidsLimit) && p.enforced);
    let (bomb_name, bomb_source) = if pids_enforced {
        ("fork bomb", funcs::FORK_BOMB)
    } else {
        ("bounded process spawner (64 alive)", funcs::SPAWNER)
    };

    let noop = funcs::create(
        &server.client,
        &runtime,
        "good",
        &funcs::package(funcs::NOOP)?,
        None,
    )
    .await?;
    let mut neighbours = Vec::new();
    for (name, source, memory) in [
        ("cpu burner", funcs::CPU_BURNER, None),
        (
            "memory hog",
            funcs::MEMORY_HOG,
            Some(HOG_LIMIT_MIB * 1024 * 1024),
        ),
        (bomb_name, bomb_source, None),
    ] {
        let f = server
            .client
            .create_function(&ridge_client::FunctionUpload {
                name: Some(name.replace(' ', "-")),
                runtime_id: Some(runtime.clone()),
                entry: Some("main.main".to_owned()),
                timeout: Some(timeout),
                memory_size: memory,
                package: Some(funcs::package(source)?),
                ..ridge_client::FunctionUpload::default()
            })
            .await
            .with_context(|| format!("cannot create the {name}"))?;
        neighbours.push((name, f.id));
    }

    let http = funcs::http_client(4)?;
    let url = format!("{}/v1/executions", server.url);
    let body = funcs::sync_body(&noop);
    let load = Load {
        concurrency: 1,
        warmup: Duration::from_millis(500),
        duration: d,
        max_requests: ctx.budget.warm_max_requests,
    };
    let request = funcs::execution_request(&url, body.clone(), "success")?;
    let alone = load::run(load, request.clone()).await;

    let mut runs = Vec::new();
    for (name, id) in &neighbours {
        let input = (*name == "memory hog").then(|| format!("{{\"mib\": {HOG_MIB}}}"));
        let resp = server
            .client
            .create_execution(&ridge_core::api::CreateExecution {
                function_id: Some(id.clone()),
                sync: Some(false),
                input: input.map(Into::into),
                ..ridge_core::api::CreateExecution::default()
            })
            .await
            .with_context(|| format!("cannot start the {name}"))?;
        runs.push((*name, resp.id));
    }
    let started = Instant::now();
    let processes_during = {
        tokio::time::sleep(Duration::from_millis(300)).await;
        procfs::descendants(server.pid()).len()
    };
    let crowded = load::run(load, request).await;

    // Wait for every neighbour to end (at its timeout), then check the good function still works.
    let mut endings = Vec::new();
    for (name, id) in &runs {
        let deadline = started + Duration::from_secs(timeout + 15);
        loop {
            let e = server.client.get_execution(id).await?;
            if e.status != "running" {
                endings.push(format!(
                    "{name} ended `{}`: {}",
                    e.status,
                    e.result.unwrap_or_default()
                ));
                break;
            }
            if Instant::now() > deadline {
                endings.push(format!("{name} still running {timeout} s past its timeout"));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let processes_after = procfs::descendants(server.pid()).len();
    let after = funcs::execute(&http, &url, body, "success").await;
    server.stop().await?;

    let mut rows = vec![
        Row::load("well-behaved function alone, c=1", &alone),
        Row::load(
            format!("same, next to cpu burner + memory hog ({HOG_MIB} MiB) + {bomb_name}"),
            &crowded,
        ),
    ];
    if let (Some(a), Some(c)) = (alone.latency(), crowded.latency()) {
        rows.push(Row::value(
            "p99 with neighbours / alone",
            c.p99_ms / a.p99_ms.max(1e-9),
            "x",
        ));
        rows.push(Row::value(
            "p50 with neighbours / alone",
            c.p50_ms / a.p50_ms.max(1e-9),
            "x",
        ));
    }
    let mut notes = endings;
    notes.push(format!(
        "server descendants: {processes_during} while the neighbours ran, {processes_after} after \
         they ended; a normal call afterwards: {}",
        match &after {
            Ok(()) => "success".to_owned(),
            Err(e) => format!("FAILED ({e})"),
        }
    ));
    if !pids_enforced {
        notes.push(
            "no real fork bomb: GET /v1/info reports the pids limit as not enforced, so a bounded \
             spawner (64 children alive at most, ended by its timeout) stands in for it"
                .to_owned(),
        );
    }
    let unenforced: Vec<&str> = info
        .sandbox
        .protections
        .iter()
        .filter(|p| !p.enforced)
        .map(|p| p.name.as_str())
        .collect();
    if !unenforced.is_empty() {
        notes.push(format!(
            "not enforced on this run: {}",
            unenforced.join(", ")
        ));
    }
    Ok(Outcome::ran(rows, notes))
}
