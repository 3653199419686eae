//! Scenario 8: the other runtimes' variants of scenarios 1 and 3: WebAssembly (`wasm.rs`:
//! cold starts, warm load, and one in-process figure) and Node.js (cold starts, with the warm
//! reference), with the runtime's pre-started pool off and on, as scenario 3 measures Python.

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
    let package = |i| funcs::package_file("main.js", &format!("{}// {i}\n", funcs::NODE_NOOP));
    for (config, ready_rows, label) in [
        ("runtime_pool_size = 0", false, "Node.js, pool off"),
        ("", true, "Node.js, pool on"),
    ] {
        let measured = cold::measure_with(ctx, "nodejs", package, config, ready_rows).await?;
        rows.extend(cold::labelled(measured, label));
    }
    Ok(Outcome::ran(rows, notes))
}
