//! Scenario 8: the other runtimes' variants of scenario 3 (cold starts, with the warm
//! reference): Node.js now; WebAssembly once that runtime exists.

use super::{Ctx, Outcome, cold};
use crate::funcs;
use crate::report::Status;

pub async fn run(ctx: &Ctx) -> anyhow::Result<Outcome> {
    let node_installed = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("node").is_file()));
    if !node_installed {
        return Ok(Outcome {
            status: Status::Skipped(
                "no `node` on PATH: install Node.js to measure the nodejs runtime".to_owned(),
            ),
            rows: Vec::new(),
            notes: Vec::new(),
        });
    }
    let node = cold::measure(ctx, "nodejs", |i| {
        funcs::package_file("main.js", &format!("{}// {i}\n", funcs::NODE_NOOP))
    })
    .await?;
    let rows = node
        .into_iter()
        .map(|mut row| {
            row.case = format!("Node.js: {}", row.case);
            row
        })
        .collect();
    Ok(Outcome::ran(rows, vec![cold::notes(ctx)]))
}
