//! The job scheduler (Qinling's job handler, QINLING-API.md §5.4): every tick it reads the jobs
//! that are due, claims each tick with a compare-and-swap on the stored next time (so two
//! schedulers sharing a database never both fire it), and starts an async execution described
//! `Created by Job <id>` through [`Engine::start`], like any other execution: the job's alias is
//! resolved when it fires, and the tick is admitted against its project's quotas and the queue.
//!
//! Missed ticks (the server was down, or the scheduler fell behind) collapse into one: the next
//! time is always computed from now, never from the missed time, so a restart never fires a
//! burst. Whether that one late run happens is [`MissedTicks`].
//!
//! The tick loop runs on a real interval; what time it is comes from the engine's
//! [`ridge_core::Clock`], so tests move that clock instead of waiting for a job to fall due.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ridge_core::{Clock, ExecutionInput, Job, JobStatus, Timestamp};
use ridge_store::{JobClaim, StoreError};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::Engine;
use crate::request::{ExecutionRequest, Origin, RunTarget};

/// What happens to a tick that is late by more than the grace period (the larger of two
/// scheduler ticks and 5 s), typically because the server was down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTicks {
    /// Run once, late, then continue on the pattern from now.
    #[default]
    RunOnce,
    /// Do not run; continue on the pattern from now. A one-shot job that missed its time ends
    /// `done` without running; skipped runs do not use up `count`.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// How often due jobs are looked for (Qinling: 3 s).
    pub tick: Duration,
    pub missed: MissedTicks,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(3),
            missed: MissedTicks::RunOnce,
        }
    }
}

/// What one claim decided for a due job.
#[derive(Debug, Clone, PartialEq)]
struct Decision {
    claim: JobClaim,
    run: bool,
}

/// The pure part: from a due job and the time, what to write and whether to run.
fn decide(
    job: &Job,
    now: Timestamp,
    late_after: chrono::Duration,
    missed: MissedTicks,
) -> Decision {
    let late = now - job.next_execution_time > late_after;
    let run = !(late && missed == MissedTicks::Skip);
    let count = match (job.count, run) {
        (Some(c), true) => Some((c - 1).max(0)),
        (c, _) => c,
    };
    let from = now.max(job.next_execution_time);
    let next = job.pattern.as_ref().and_then(|p| p.next_after(&from));
    let done = job.pattern.is_none() || next.is_none() || count == Some(0);
    Decision {
        claim: JobClaim {
            status: if done {
                JobStatus::Done
            } else {
                JobStatus::Running
            },
            next_execution_time: next.unwrap_or(job.next_execution_time),
            count,
        },
        run,
    }
}

/// The scheduler of one node. Several may share a database.
pub struct JobScheduler {
    engine: Weak<Engine>,
    config: SchedulerConfig,
    /// The engine's clock: what "now" is at each tick.
    clock: Arc<dyn Clock>,
}

impl JobScheduler {
    pub fn new(engine: &Arc<Engine>, config: SchedulerConfig) -> Self {
        Self {
            engine: Arc::downgrade(engine),
            config,
            clock: engine.clock().clone(),
        }
    }

    /// Runs [`JobScheduler::tick`] every `config.tick`, at the time the engine's clock shows,
    /// until the engine is dropped or the task is aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(self.config.tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if self.engine.strong_count() == 0 {
                    break;
                }
                if let Err(e) = self.tick(self.clock.now()).await {
                    tracing::error!(error = %e, "job scheduler tick failed");
                }
            }
        })
    }

    /// Fires every job due at `now` that this scheduler wins the claim of; returns how many
    /// executions it started.
    pub async fn tick(&self, now: Timestamp) -> Result<usize, StoreError> {
        let Some(engine) = self.engine.upgrade() else {
            return Ok(0);
        };
        let late_after =
            chrono::Duration::from_std((self.config.tick * 2).max(Duration::from_secs(5)))
                .unwrap_or(chrono::Duration::MAX);
        let mut started = 0;
        for job in engine.store().due_jobs(now).await? {
            let decision = decide(&job, now, late_after, self.config.missed);
            if !engine
                .store()
                .claim_job(job.id, job.next_execution_time, &decision.claim)
                .await?
            {
                // Another scheduler fired this tick, or the job changed meanwhile.
                continue;
            }
            if !decision.run {
                tracing::info!(job = %job.id, due = %job.next_execution_time, "skipped a missed job run");
                continue;
            }
            if fire(&engine, &job).await {
                started += 1;
            }
        }
        Ok(started)
    }
}

/// Starts the job's execution; false (logged) when it cannot run now. A tick that is refused
/// (its target is not runnable, or admission said no: a quota of the job's project, or this
/// node's queue) is not retried: the job goes on at its next tick.
async fn fire(engine: &Arc<Engine>, job: &Job) -> bool {
    let request = ExecutionRequest {
        project: job.project_id.clone(),
        target: RunTarget::Named(job.target.clone()),
        input: job
            .function_input
            .as_ref()
            .and_then(|i| ExecutionInput::from_request(&Value::String(i.clone()))),
        description: Some(format!("Created by Job {}", job.id)),
        sync: false,
        origin: Origin::Job { id: job.id },
    };
    match engine.start(request).await {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(job = %job.id, reason = %e, "a job's tick did not run");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use ridge_core::{CronPattern, FunctionId, JobId, ProjectId, Target};

    fn t(h: u32, m: u32, s: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2024, 5, 1, h, m, s)
            .single()
            .expect("valid")
    }

    fn job(pattern: Option<&str>, next: Timestamp, count: Option<i64>) -> Job {
        Job {
            id: JobId::new(),
            project_id: ProjectId::default_project(),
            name: None,
            target: Target::Function {
                id: FunctionId::new(),
                version: 0,
            },
            function_input: None,
            pattern: pattern.map(|p| CronPattern::parse(p).expect("valid")),
            status: JobStatus::Running,
            first_execution_time: next,
            next_execution_time: next,
            count,
            created_at: t(0, 0, 0),
            updated_at: None,
        }
    }

    const GRACE: chrono::Duration = chrono::Duration::seconds(6);

    #[tokio::test]
    async fn a_tick_past_a_quota_is_refused_and_the_job_goes_on() {
        use ridge_core::tenancy::{Limit, QuotaOverrides};
        use ridge_store::{ExecutionOutcome, ExecutionQuery, ProjectScope};

        let fx = crate::testing::Fixture::new(crate::EngineConfig::default()).await;
        let project = fx.function.project_id.clone();
        fx.store
            .set_quota_overrides(
                &project,
                &QuotaOverrides {
                    concurrent_executions: Some(Limit::At(1)),
                    ..QuotaOverrides::default()
                },
            )
            .await
            .expect("quota");
        let holding = fx.unfinished_execution().await;
        let now = ridge_core::time::now();
        let mut every_second = job(
            Some("* * * * * *"),
            now - chrono::Duration::seconds(1),
            None,
        );
        every_second.target = Target::Function {
            id: fx.function.id,
            version: 0,
        };
        fx.store.create_job(&every_second).await.expect("job");
        let scheduler = JobScheduler::new(&fx.engine, SchedulerConfig::default());

        assert_eq!(
            scheduler
                .tick(now)
                .await
                .expect("a refused tick is no error"),
            0
        );
        let runs = || async {
            let all = fx
                .store
                .list_executions(&ExecutionQuery {
                    scope: ProjectScope::All,
                    function_id: None,
                    status: None,
                    description: None,
                    page: ridge_store::Page::default(),
                })
                .await
                .expect("list");
            all.iter().filter(|e| e.id != holding.id).count()
        };
        assert_eq!(runs().await, 0, "the refused tick recorded nothing");
        let after = fx.store.get_job(every_second.id).await.expect("job");
        assert_eq!(after.status, JobStatus::Running);
        assert!(after.next_execution_time > now, "the job moved on");

        let done = ExecutionOutcome {
            status: ridge_core::ExecutionStatus::Success,
            result: ridge_core::ExecutionResult::new(0.1, serde_json::json!(1)),
            logs: String::new(),
        };
        assert!(
            fx.store
                .finish_execution(holding.id, &done)
                .await
                .expect("finish")
                .is_some()
        );
        assert_eq!(
            scheduler
                .tick(after.next_execution_time)
                .await
                .expect("tick"),
            1,
            "with the quota free again, the next tick runs"
        );
        assert_eq!(runs().await, 1);
    }

    #[test]
    fn a_one_shot_job_runs_once_and_is_done() {
        let d = decide(
            &job(None, t(12, 0, 0), Some(1)),
            t(12, 0, 1),
            GRACE,
            MissedTicks::RunOnce,
        );
        assert!(d.run);
        assert_eq!(d.claim.status, JobStatus::Done);
        assert_eq!(d.claim.count, Some(0));
    }

    #[test]
    fn a_counted_cron_job_counts_down_to_done() {
        let j = job(Some("*/5 * * * *"), t(12, 0, 0), Some(2));
        let d = decide(&j, t(12, 0, 1), GRACE, MissedTicks::RunOnce);
        assert!(d.run);
        assert_eq!(d.claim.status, JobStatus::Running);
        assert_eq!(d.claim.count, Some(1));
        assert_eq!(d.claim.next_execution_time, t(12, 5, 0));
        let j = job(Some("*/5 * * * *"), t(12, 5, 0), Some(1));
        let d = decide(&j, t(12, 5, 0), GRACE, MissedTicks::RunOnce);
        assert!(d.run);
        assert_eq!(d.claim.status, JobStatus::Done);
    }

    #[test]
    fn missed_ticks_collapse_into_one_or_are_skipped() {
        // Down from 12:00 to 13:02: one run now, then on the pattern from now.
        let j = job(Some("*/5 * * * *"), t(12, 0, 0), None);
        let d = decide(&j, t(13, 2, 0), GRACE, MissedTicks::RunOnce);
        assert!(d.run);
        assert_eq!(d.claim.next_execution_time, t(13, 5, 0));
        let d = decide(&j, t(13, 2, 0), GRACE, MissedTicks::Skip);
        assert!(!d.run);
        assert_eq!(d.claim.next_execution_time, t(13, 5, 0));
        assert_eq!(d.claim.status, JobStatus::Running);
        // A little late is not missed.
        let d = decide(&j, t(12, 0, 3), GRACE, MissedTicks::Skip);
        assert!(d.run);
        // Skipped runs do not use up the count; a missed one-shot ends without running.
        let once = job(None, t(12, 0, 0), Some(1));
        let d = decide(&once, t(13, 0, 0), GRACE, MissedTicks::Skip);
        assert!(!d.run);
        assert_eq!(d.claim.count, Some(1));
        assert_eq!(d.claim.status, JobStatus::Done);
    }
}
