//! Retention (docs/retention.md): every `interval`, each node purges the finished executions
//! that the rules in force no longer keep, by age and by count per function, in batches of
//! `batch` rows with a `pause` between them, so the execution writes on the hot path never
//! wait long behind a purge. After each batch the store gives the freed space back
//! ([`Store::reclaim_space`]).
//!
//! Which purges to run is decided by [`rules`], a pure function of the server's default, the
//! per-project overrides and the time; the store only executes them. Nodes sharing a store
//! all purge: the deletes are idempotent, so the second node finds nothing left to delete.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use ridge_core::tenancy::Limit;
use ridge_core::{ProjectId, Retention, RetentionOverrides, Timestamp};
use ridge_store::{PurgeBy, PurgeScope, Store, StoreError};

/// When and how fast executions are purged, and the server's default retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionConfig {
    /// What projects without overrides keep (`[executions.retention]`).
    pub defaults: Retention,
    /// How often a round of purges runs.
    pub interval: Duration,
    /// Most rows deleted by one statement.
    pub batch: u64,
    /// Wait between two batches, leaving the database to the hot path.
    pub pause: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            defaults: Retention::default(),
            interval: Duration::from_secs(60),
            batch: 500,
            pause: Duration::from_millis(50),
        }
    }
}

/// The purges that the rules in force at `now` call for: the defaults for every project that
/// does not override a rule, then each override that sets a limit. A rule lifted
/// (`Limit::Unlimited`) purges nothing.
pub fn rules(
    defaults: &Retention,
    overrides: &[(ProjectId, RetentionOverrides)],
    now: Timestamp,
) -> Vec<(PurgeScope, PurgeBy)> {
    let age = |limit: Limit| {
        limit.value().map(|secs| {
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            let cut = chrono::Duration::try_seconds(secs).unwrap_or(chrono::Duration::MAX);
            // An age past the calendar's start keeps everything: cut at the earliest time.
            PurgeBy::CreatedBefore(now.checked_sub_signed(cut).unwrap_or(Timestamp::MIN_UTC))
        })
    };
    let count = |limit: Limit| limit.value().map(PurgeBy::BeyondNewest);
    let mut purges: Vec<(PurgeScope, PurgeBy)> =
        [age(defaults.max_age), count(defaults.max_per_function)]
            .into_iter()
            .flatten()
            .map(|by| (PurgeScope::Defaults, by))
            .collect();
    for (project, o) in overrides {
        let own = [o.max_age.and_then(age), o.max_per_function.and_then(count)];
        purges.extend(
            own.into_iter()
                .flatten()
                .map(|by| (PurgeScope::Project(project.clone()), by)),
        );
    }
    purges
}

/// One round: every purge the rules call for, batch after batch until each has nothing left.
/// Returns how many executions it deleted; each batch is counted on `purged` as it lands.
pub(crate) async fn purge_round(
    store: &dyn Store,
    config: &RetentionConfig,
    now: Timestamp,
    purged: &Counter,
) -> Result<u64, StoreError> {
    let overrides = store.all_retention_overrides().await?;
    let batch = config.batch.max(1);
    let mut total = 0;
    for (scope, by) in rules(&config.defaults, &overrides, now) {
        loop {
            let n = store.purge_executions(&scope, by, batch).await?;
            if n == 0 {
                break;
            }
            purged.inc_by(n);
            total += n;
            store.reclaim_space().await?;
            if n < batch {
                break;
            }
            tokio::time::sleep(config.pause).await;
        }
    }
    if total > 0 {
        tracing::info!(executions = total, "purged executions past their retention");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ridge_core::fixtures::{at, project};
    use ridge_core::{Clock, Execution, ExecutionStatus, ManualClock, fixtures};

    use super::*;
    use crate::EngineConfig;
    use crate::testing::Fixture;

    #[tokio::test]
    async fn a_round_purges_what_the_clock_left_behind_and_counts_it() {
        let clock = Arc::new(ManualClock::starting_now());
        let fx = Fixture::new(EngineConfig {
            clock: clock.clone(),
            retention: RetentionConfig {
                defaults: Retention {
                    max_age: Limit::At(3600),
                    max_per_function: Limit::Unlimited,
                },
                batch: 2,
                pause: Duration::ZERO,
                ..RetentionConfig::default()
            },
            ..EngineConfig::default()
        })
        .await;
        // Years older than the rule, but running: never purged.
        let running = fx.unfinished_execution().await;
        for _ in 0..5 {
            let done = Execution {
                status: ExecutionStatus::Success,
                created_at: clock.now(),
                ..fixtures::execution(&fx.function, 0)
            };
            fx.store.create_execution(&done).await.expect("create");
        }
        assert_eq!(fx.engine.purge_expired().await.expect("purge"), 0);
        assert!(
            fx.engine
                .metrics_text()
                .contains("ridge_executions_purged_total 0")
        );

        clock.advance(Duration::from_secs(3601));
        assert_eq!(fx.engine.purge_expired().await.expect("purge"), 5);
        let text = fx.engine.metrics_text();
        assert!(text.contains("ridge_executions_purged_total 5"), "{text}");
        let kept = fx.store.get_execution(running.id).await.expect("kept");
        assert_eq!(kept.status, ExecutionStatus::Running);
        assert_eq!(fx.engine.purge_expired().await.expect("purge"), 0);
    }

    #[test]
    fn defaults_cover_the_rest_and_overrides_their_own_project() {
        let defaults = Retention {
            max_age: Limit::At(100),
            max_per_function: Limit::At(5),
        };
        let overrides = [
            (
                project("keep"),
                RetentionOverrides {
                    max_age: Some(Limit::Unlimited),
                    max_per_function: None,
                },
            ),
            (
                project("tight"),
                RetentionOverrides {
                    max_age: Some(Limit::At(10)),
                    max_per_function: Some(Limit::At(1)),
                },
            ),
        ];
        let now = at(1_000_000_000);
        assert_eq!(
            rules(&defaults, &overrides, now),
            vec![
                (
                    PurgeScope::Defaults,
                    PurgeBy::CreatedBefore(at(900_000_000))
                ),
                (PurgeScope::Defaults, PurgeBy::BeyondNewest(5)),
                (
                    PurgeScope::Project(project("tight")),
                    PurgeBy::CreatedBefore(at(990_000_000))
                ),
                (
                    PurgeScope::Project(project("tight")),
                    PurgeBy::BeyondNewest(1)
                ),
            ]
        );
        let forever = Retention {
            max_age: Limit::Unlimited,
            max_per_function: Limit::Unlimited,
        };
        assert!(rules(&forever, &[], now).is_empty());
        let ancient = Retention {
            max_age: Limit::At(u64::MAX),
            max_per_function: Limit::Unlimited,
        };
        assert_eq!(
            rules(&ancient, &[], now),
            vec![(
                PurgeScope::Defaults,
                PurgeBy::CreatedBefore(Timestamp::MIN_UTC)
            )]
        );
    }
}
