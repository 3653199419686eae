//! One round of the keep-alive policy, run by the engine's reaper every `reap_interval`:
//! releases idle workers past their function's window, flushes the inter-arrival counts to the
//! store and learns each called function's window from its whole history (what every node
//! saw), then starts the pre-warms that came due. The decisions are [`crate::policy`]'s, the
//! books [`crate::arrivals`]', the workers the pools'.

use std::sync::Arc;

use ridge_store::Store;

use crate::dispatch::Dispatcher;
use crate::metrics::{FunctionLabels, Metrics};
use crate::pools::Pools;

pub(crate) async fn round(
    store: &dyn Store,
    pools: &Pools,
    dispatcher: &Arc<Dispatcher>,
    metrics: &Metrics,
) {
    pools.reap_idle().await;
    let arrivals = &pools.arrivals;
    for (id, pending) in arrivals.take_pending() {
        if let Err(e) = store.add_arrivals(id, &pending).await {
            tracing::warn!(function = %id, error = %e, "cannot record inter-arrival times; kept for the next round");
            arrivals.restore(id, &pending);
            continue;
        }
        match store.arrival_histogram(id).await {
            Ok(history) => {
                arrivals.forget_if_gone(id, &history, !pending.is_empty());
                if let Some(window) = arrivals.learn(id, &history) {
                    pools.set_window(id, window);
                }
            }
            Err(e) => {
                tracing::warn!(function = %id, error = %e, "cannot read inter-arrival times")
            }
        }
    }
    // At most as many pre-warms per round as cold starts may run at once; the rest come due
    // again at the next round.
    for (id, version) in arrivals.due_prewarms(crate::coldstarts::cold_start_permits()) {
        if pools.idle(id, version) > 0 {
            continue;
        }
        match crate::resolve::resolve_version(store, id, version).await {
            Ok((function, runtime)) => {
                tracing::debug!(function = %id, version, "pre-warming a worker");
                metrics
                    .prewarms
                    .get_or_create(&FunctionLabels {
                        function: id.to_string(),
                    })
                    .inc();
                dispatcher.prewarm(function, version, &runtime, 1).await;
            }
            Err(e) => tracing::debug!(function = %id, error = %e, "no pre-warm"),
        }
    }
}
