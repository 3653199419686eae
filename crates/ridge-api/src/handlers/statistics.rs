//! `GET /v1/statistics`: the dashboard's overview numbers for the caller's project (an admin's
//! `project_id` or `all_projects=true` widens them, as on lists). Every part is bounded: the
//! counts are one grouped query over the last hour, the percentiles come from at most
//! [`DURATION_SAMPLES`] of the newest durations, and the worker figures sum this node's
//! counters over the project's functions.

use axum::Json;
use axum::extract::{RawQuery, State};
use ridge_core::ExecutionStatus;
use ridge_core::api::{StatisticsView, StatusCounts, percentile};

use crate::context::Caller;
use crate::openapi::{Authed, Denied, Invalid};
use crate::{ApiError, AppState, access, query};

/// The window the counts cover.
pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);
/// The most durations the percentiles are taken over.
pub const DURATION_SAMPLES: u64 = 10_000;

#[utoipa::path(
    get, path = "/v1/statistics", tag = "statistics",
    params(
        ("all_projects" = Option<bool>, Query, description = "admins: every project's"),
        ("project_id" = Option<String>, Query, description = "admins: this project's"),
    ),
    responses(
        (status = 200, description = "the last hour's executions by status, duration percentiles, workers and queue", body = StatisticsView),
        Authed, Invalid, Denied,
    ),
)]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<StatisticsView>, ApiError> {
    let params = query::parse(raw.as_deref(), &["project_id", "all_projects"])?;
    let scope = access::list_scope(&caller, &params)?;
    let since = state.clock.now() - chrono::TimeDelta::seconds(WINDOW.as_secs() as i64);
    let stats = state
        .store
        .execution_statistics(&scope, since, DURATION_SAMPLES)
        .await?;
    let mut executions = StatusCounts::default();
    for (status, n) in stats.by_status {
        match status {
            ExecutionStatus::Running => executions.running += n,
            ExecutionStatus::Success => executions.success += n,
            ExecutionStatus::Failed => executions.failed += n,
            ExecutionStatus::Error => executions.error += n,
        }
    }
    let functions: Vec<_> = state
        .store
        .list_functions(&scope)
        .await?
        .into_iter()
        .map(|f| f.id)
        .collect();
    let node = state.engine.node_counts(&functions);
    let mut durations = stats.durations;
    Ok(Json(StatisticsView {
        window_seconds: WINDOW.as_secs(),
        executions,
        duration_p50: percentile(&mut durations, 50.0),
        duration_p99: percentile(&mut durations, 99.0),
        duration_samples: durations.len() as u64,
        duration_sample_limit: DURATION_SAMPLES,
        cold_starts: node.cold_starts,
        warm_workers: node.warm_workers,
        queue_depth: stats.queued,
        node: state.engine.node_name().to_owned(),
    }))
}
