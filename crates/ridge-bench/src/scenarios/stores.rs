//! Scenario 9 (issue 14): what the shared store costs and what more nodes give. Scenario 1's
//! Ridge side on SQLite and on PostgreSQL on the same machine, interleaved level by level so
//! drift hits both alike, and scenario 4 on each; then scenario 4 with its submissions spread
//! round-robin over 1, 2 and 3 `ridge serve` nodes sharing one PostgreSQL database and one
//! package store. The targets: PostgreSQL within 1.5x of SQLite's warm throughput, and
//! 3 nodes accepting async executions faster than 1.

use super::async_exec::{self, AsyncRun};
use super::warm::{self, LEVELS};
use super::{Ctx, Outcome};
use crate::backends::{StoreChoice, wal_syncs};
use crate::funcs;
use crate::report::{Row, Status};
use crate::server::RidgeServer;

/// Node counts of the scale-out part.
const NODES: [usize; 3] = [1, 2, 3];
/// The bound on SQLite / PostgreSQL warm throughput.
const STORE_TARGET: f64 = 1.5;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let backends = &ctx.programs.backends;
    let postgres = backends.postgres();
    let mut rows = Vec::new();
    let mut failures = Vec::new();

    let sqlite_backing = backends
        .backing("sqlite", &StoreChoice::Sqlite, false)
        .await?;
    let sqlite =
        RidgeServer::start_on(&ctx.programs, "stores-sqlite", "", sqlite_backing, None).await?;
    let postgres_backing = backends.backing("postgres", &postgres, false).await?;
    let pg_url = postgres_backing.store.clone();
    let pg =
        RidgeServer::start_on(&ctx.programs, "stores-postgres", "", postgres_backing, None).await?;
    let warm_errors = warm_both(ctx, &sqlite, &pg, pg_url.as_deref(), &mut rows).await?;
    let mut async_runs = Vec::new();
    for (label, server) in [("SQLite", &sqlite), ("PostgreSQL", &pg)] {
        let id = server.python_noop("noop-async").await?;
        let run = async_exec::measure(&[server], &id, ctx.budget.async_executions).await?;
        rows.extend(run.rows(&format!("4. {label}: ")));
        if let Some(reason) = run.failure() {
            failures.push(format!("4 on {label}: {reason}"));
        }
        async_runs.push(run);
    }
    if let [s, p] = &async_runs[..] {
        rows.push(
            Row::value(
                "ratio SQLite/PostgreSQL async accepted per s",
                s.submitted.throughput() / p.submitted.throughput().max(1e-9),
                "x",
            )
            .note("above 1: SQLite accepts more"),
        );
    }
    sqlite.stop().await?;
    pg.stop().await?;

    let mut by_nodes: Vec<AsyncRun> = Vec::new();
    for count in NODES {
        let run = on_nodes(ctx, &postgres, count).await?;
        rows.extend(run.rows(&format!("{count} node(s): ")));
        if let Some(reason) = run.failure() {
            failures.push(format!("{count} node(s): {reason}"));
        }
        by_nodes.push(run);
    }
    if let (Some(one), Some(most)) = (by_nodes.first(), by_nodes.last()) {
        rows.push(
            Row::value(
                format!("ratio {} nodes / 1 node, accepted per s", most.nodes),
                most.submitted.throughput() / one.submitted.throughput().max(1e-9),
                "x",
            )
            .note("target (issue 14): above 1"),
        );
        rows.push(Row::value(
            format!("ratio {} nodes / 1 node, finished per s", most.nodes),
            most.finished_per_second() / one.finished_per_second().max(1e-9),
            "x",
        ));
    }

    let mut notes = vec![
        format!(
            "1: Ridge's side of scenario 1 on each store, the two servers measured level by \
             level in turn; 4: scenario 4 on each ({})",
            async_exec::NOTE
        ),
        format!(
            "nodes: `ridge serve` processes on this machine, each with its own data dir and \
             RIDGE_NODE_NAME, sharing one fresh PostgreSQL database and one package store; the \
             function is created on the first; {} clients submit round-robin over the nodes",
            async_exec::SUBMITTERS
        ),
    ];
    if warm_errors > 0 {
        notes.push(format!(
            "{warm_errors} warm request(s) failed; see the err column"
        ));
    }
    let status = if failures.is_empty() {
        Status::Ran
    } else {
        Status::Failed(failures.join("; "))
    };
    Ok(Outcome {
        status,
        rows,
        notes,
    })
}

/// Scenario 1's Ridge side on both servers, level by level; the rows go to `rows`, the number
/// of failed requests is returned.
async fn warm_both(
    ctx: &Ctx,
    sqlite: &RidgeServer,
    pg: &RidgeServer,
    pg_url: Option<&str>,
    rows: &mut Vec<Row>,
) -> anyhow::Result<u64> {
    let b = ctx.budget;
    let mut targets = Vec::new();
    for server in [sqlite, pg] {
        let noop = server.python_noop("noop").await?;
        let url = format!("{}/v1/executions", server.url);
        targets.push((
            funcs::execution_request(&url, funcs::sync_body(&noop), "success")?,
            server.pid(),
        ));
    }
    let mut measured = Vec::new();
    let mut flushes = Vec::new();
    for c in LEVELS {
        let load = b.warm_load(c);
        let mut pair = Vec::new();
        let before = match pg_url {
            Some(url) => wal_syncs(url).await,
            None => None,
        };
        for (request, pid) in &targets {
            pair.push(warm::measured(load, *pid, request.clone()).await);
        }
        // The WAL syncs of the level's PostgreSQL side (and of anything else the cluster did
        // meanwhile: the bench's own databases are idle then).
        let after = match pg_url {
            Some(url) => wal_syncs(url).await,
            None => None,
        };
        if let (Some(before), Some(after), Some(p)) = (before, after, pair.get(1)) {
            flushes.push((c, after.saturating_sub(before), p.load.requests()));
        }
        measured.push((c, pair));
    }
    let mut errors = 0;
    for (c, pair) in &measured {
        for (label, m) in ["SQLite", "PostgreSQL"].iter().zip(pair) {
            rows.push(m.row(format!("1. {label}, concurrency {c}")));
            errors += m.load.errors;
        }
    }
    for (c, pair) in &measured {
        if let [s, p] = &pair[..] {
            rows.push(
                Row::value(
                    format!("ratio SQLite/PostgreSQL warm throughput, concurrency {c}"),
                    s.load.throughput() / p.load.throughput().max(1e-9),
                    "x",
                )
                .note(format!(
                    "target (issue 14): at most {STORE_TARGET}; above 1: SQLite serves more"
                )),
            );
        }
    }
    for (c, syncs, requests) in flushes {
        rows.push(
            Row::value(
                format!("PostgreSQL WAL syncs per sync execution, concurrency {c}"),
                syncs as f64 / requests.max(1) as f64,
                "",
            )
            .note(format!(
                "{syncs} syncs (pg_stat_wal.wal_sync) for {requests} executions; with fsync on, each is one flush to disk"
            )),
        );
    }
    Ok(errors)
}

/// Scenario 4 over `count` fresh nodes sharing a fresh database on `store`.
async fn on_nodes(ctx: &Ctx, store: &StoreChoice, count: usize) -> anyhow::Result<AsyncRun> {
    let group = format!("nodes-{count}");
    let backing = ctx.programs.backends.backing(&group, store, true).await?;
    let mut nodes = Vec::new();
    // Every node starts before the load.
    for i in 1..=count {
        let name = format!("stores-{group}-{i}");
        let node = format!("bench-node-{i}");
        nodes.push(
            RidgeServer::start_on(&ctx.programs, &name, "", backing.clone(), Some(&node)).await?,
        );
    }
    let refs: Vec<&RidgeServer> = nodes.iter().collect();
    let measured = match refs.first() {
        Some(first) => match first.python_noop("noop-async").await {
            Ok(id) => async_exec::measure(&refs, &id, ctx.budget.async_executions).await,
            Err(e) => Err(e),
        },
        None => Err(anyhow::anyhow!("no node started")),
    };
    for node in nodes {
        node.stop().await?;
    }
    measured
}
