//! `GET /v1/statistics`: what the dashboard's overview charts, for the caller's project.

use serde::{Deserialize, Serialize};

/// Executions created in the window (the last hour), by status, with duration percentiles of
/// the newest finished ones; this node's warm workers and cold starts of the project's
/// functions; and the executions waiting for a worker on any node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatisticsView {
    /// Seconds the counts cover, ending now.
    pub window_seconds: u64,
    pub executions: StatusCounts,
    /// Seconds; `null` when no execution finished in the window.
    pub duration_p50: Option<f64>,
    pub duration_p99: Option<f64>,
    /// How many durations the percentiles were taken over (at most `duration_sample_limit`,
    /// the newest).
    pub duration_samples: u64,
    pub duration_sample_limit: u64,
    /// Workers started for an execution since this node started.
    pub cold_starts: u64,
    /// Live workers on this node.
    pub warm_workers: u64,
    /// Executions accepted and not started yet, on every node.
    pub queue_depth: u64,
    /// The node that answered (the worker figures are its own).
    pub node: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusCounts {
    pub running: u64,
    pub success: u64,
    pub failed: u64,
    pub error: u64,
}

/// The `p`-th percentile (0 < p <= 100) of `samples` by the nearest-rank method, rounded to
/// milliseconds; `None` for no samples. Sorts `samples`.
pub fn percentile(samples: &mut [f64], p: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    let value = samples[rank.clamp(1, samples.len()) - 1];
    Some((value * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&mut [], 50.0), None);
        assert_eq!(percentile(&mut [0.25], 99.0), Some(0.25));
        let mut hundred: Vec<f64> = (1..=100).rev().map(|i| i as f64 / 1000.0).collect();
        assert_eq!(percentile(&mut hundred, 50.0), Some(0.05));
        assert_eq!(percentile(&mut hundred, 99.0), Some(0.099));
        assert_eq!(percentile(&mut [3.0, 1.0, 2.0], 50.0), Some(2.0));
        assert_eq!(percentile(&mut [3.0, 1.0, 2.0], 99.0), Some(3.0));
    }
}
