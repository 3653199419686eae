//! Scenario 8: the other runtimes' variants of scenarios 1 and 3: WebAssembly (`wasm.rs`:
//! cold starts, warm load, and one in-process figure) and Node.js (cold starts, with the warm
//! reference).

use super::{Ctx, Outcome, cold};
use crate::funcs;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let mut rows = super::wasm::run(ctx).await?;
    let mut notes = vec![cold::notes(ctx), super::wasm::notes()];
    let node_installed = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("node").is_file()));
    if !node_installed {
        notes.push("Node.js: skipped, no `node` on PATH".to_owned());
        return Ok(Outcome::ran(rows, notes));
    }
    let node = cold::measure(ctx, "nodejs", |i| {
        funcs::package_file("main.js", &format!("{}// {i}\n", funcs::NODE_NOOP))
    })
    .await?;
    rows.extend(node.into_iter().map(|mut row| {
        row.case = format!("Node.js: {}", row.case);
        row
    }));
    Ok(Outcome::ran(rows, notes))
}
