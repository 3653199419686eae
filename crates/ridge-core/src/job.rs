//! Jobs: run a function on a cron pattern, or once at a given time, a limited or unlimited number
//! of times. The rules of creating and updating one are Qinling's (`qinling/utils/jobs.py`), with
//! its messages; the scheduler that fires them lives in `ridge-engine`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{InvalidInput, JobId, ProjectId, Target, Timestamp};

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    pub project_id: ProjectId,
    pub name: Option<String>,
    pub target: Target,
    /// Passed to each execution as its `input` (a string, as Qinling stores it).
    pub function_input: Option<String>,
    /// `None` for a one-shot job.
    pub pattern: Option<CronPattern>,
    pub status: JobStatus,
    pub first_execution_time: Timestamp,
    pub next_execution_time: Timestamp,
    /// Runs left; `None` is unlimited.
    pub count: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

/// Qinling's job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Paused,
    /// Ran its last time.
    Done,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::Done => "done",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Done and cancelled jobs never run again and cannot be updated.
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Cancelled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "running" => JobStatus::Running,
            "paused" => JobStatus::Paused,
            "done" => JobStatus::Done,
            "cancelled" => JobStatus::Cancelled,
            other => {
                return Err(InvalidInput::new(format!(
                    "unknown job status `{other}`: expected running, paused, done or cancelled"
                )));
            }
        })
    }
}

/// A cron pattern, parsed by `croner`: five fields (minute hour day-of-month month day-of-week,
/// as croniter reads them, with day-of-month and day-of-week OR-ed as in Vixie cron), or six
/// with a leading seconds field. Qinling's column holds 32 characters. How often a pattern may
/// fire is bounded by [`check_interval`].
#[derive(Clone)]
pub struct CronPattern {
    text: String,
    cron: croner::Cron,
}

impl CronPattern {
    pub const MAX_LEN: usize = 32;

    pub fn parse(text: &str) -> Result<Self, InvalidInput> {
        let invalid = || InvalidInput::new(format!("The specified pattern is not valid: {text}"));
        if text.len() > Self::MAX_LEN || text.trim().is_empty() {
            return Err(invalid());
        }
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(invalid());
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .year(croner::parser::Year::Disallowed)
            .build()
            .parse(text)
            .map_err(|_| invalid())?;
        Ok(Self {
            text: text.to_owned(),
            cron,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first matching time strictly after `t` (`None` if the pattern never matches again).
    pub fn next_after(&self, t: &Timestamp) -> Option<Timestamp> {
        self.cron.find_next_occurrence(t, false).ok()
    }

    /// The shortest time between two consecutive runs among the next [`GAP_SAMPLES`] runs after
    /// `from` (`None` if it runs fewer than twice). Every cron pattern repeats within a few
    /// hundred runs or reaches its densest stretch at once, so this finds its shortest gap.
    pub fn shortest_gap(&self, from: &Timestamp) -> Option<Duration> {
        let mut previous = self.next_after(from)?;
        let mut shortest: Option<Duration> = None;
        for _ in 0..GAP_SAMPLES {
            let Some(next) = self.next_after(&previous) else {
                break;
            };
            let gap = (next - previous).to_std().unwrap_or(Duration::ZERO);
            shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            previous = next;
        }
        shortest
    }
}

/// How many upcoming runs [`CronPattern::shortest_gap`] looks at.
pub const GAP_SAMPLES: usize = 500;

/// Refuses a pattern that fires more often than once every `min_interval`.
pub fn check_interval(
    pattern: &CronPattern,
    now: &Timestamp,
    min_interval: Duration,
) -> Result<(), InvalidInput> {
    match pattern.shortest_gap(now) {
        Some(gap) if gap < min_interval => Err(InvalidInput::new(format!(
            "The specified pattern is not valid: {} (it runs every {} s, and jobs on this server may run at most once every {} s: use a coarser pattern)",
            pattern.as_str(),
            gap.as_secs(),
            min_interval.as_secs()
        ))),
        _ => Ok(()),
    }
}

impl PartialEq for CronPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for CronPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CronPattern").field(&self.text).finish()
    }
}

/// When a new job first runs, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub pattern: Option<CronPattern>,
    pub first_execution_time: Timestamp,
    pub next_execution_time: Timestamp,
    pub count: Option<i64>,
}

const TOO_SOON: &str = "Execution time must be at least 1 minute in the future.";

fn lead(min_lead: Duration) -> chrono::Duration {
    chrono::Duration::from_std(min_lead).unwrap_or(chrono::Duration::MAX)
}

/// Qinling's `validate_job`. `min_lead` is how far in the future a first time must be (Qinling:
/// 60 s; configurable so tests need not wait a minute).
pub fn plan(
    pattern: Option<&str>,
    first: Option<Timestamp>,
    count: Option<i64>,
    now: Timestamp,
    min_lead: Duration,
) -> Result<Schedule, InvalidInput> {
    let pattern = pattern.filter(|p| !p.is_empty());
    if let Some(c) = count
        && c < 1
    {
        return Err(InvalidInput::new(format!(
            "invalid `count` {c}: expected a positive number of runs, or none for no limit"
        )));
    }
    if first.is_none() && pattern.is_none() {
        return Err(InvalidInput::new(
            "pattern or first_execution_time must be specified.",
        ));
    }
    let mut count = count;
    let mut next = now;
    if let Some(first) = first {
        if first < now + lead(min_lead) {
            return Err(InvalidInput::new(TOO_SOON));
        }
        if pattern.is_none() && count.is_some_and(|c| c > 1) {
            return Err(InvalidInput::new(
                "pattern must be provided if count is greater than 1.",
            ));
        }
        next = first;
        if pattern.is_none() && count.is_none() {
            count = Some(1);
        }
    }
    let pattern = pattern.map(CronPattern::parse).transpose()?;
    if let Some(p) = &pattern {
        let start = match first {
            Some(first) => first - chrono::Duration::minutes(1),
            None => now,
        };
        next = p.next_after(&start).ok_or_else(|| {
            InvalidInput::new(format!(
                "The specified pattern is not valid: {} (it never matches)",
                p.as_str()
            ))
        })?;
    }
    Ok(Schedule {
        pattern,
        first_execution_time: next,
        next_execution_time: next,
        count,
    })
}

/// The fields `PUT /v1/jobs/{id}` may change; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobUpdate {
    pub name: Option<String>,
    pub function_input: Option<String>,
    pub status: Option<String>,
    pub pattern: Option<String>,
    pub next_execution_time: Option<Timestamp>,
}

impl Job {
    /// Qinling's job update rules, with its messages.
    pub fn apply(
        &mut self,
        update: JobUpdate,
        now: Timestamp,
        min_lead: Duration,
    ) -> Result<(), InvalidInput> {
        if self.status.is_finished() {
            return Err(InvalidInput::new("Can not update a finished job."));
        }
        let pattern = match update.pattern.as_deref() {
            None => None,
            Some("") => {
                // Taking the pattern off a recurring job (or "setting" none on a one-shot job)
                // would change its type.
                return Err(InvalidInput::new("Can not change job type."));
            }
            Some(p) if self.pattern.is_none() => {
                let _ = p;
                return Err(InvalidInput::new("Can not change job type."));
            }
            Some(p) => Some(CronPattern::parse(p)?),
        };
        let status = match update.status.as_deref() {
            None => None,
            Some(s @ ("running" | "paused" | "cancelled")) => Some(s.parse::<JobStatus>()?),
            Some(_) => return Err(InvalidInput::new("Invalid status.")),
        };
        let min = now + lead(min_lead);
        let mut next = None;
        if let Some(t) = update.next_execution_time {
            if t < min {
                return Err(InvalidInput::new(TOO_SOON));
            }
            next = Some(t);
        } else if self.status == JobStatus::Paused && status == Some(JobStatus::Running) {
            match pattern.as_ref().or(self.pattern.as_ref()) {
                None => {
                    if self.next_execution_time < min {
                        return Err(InvalidInput::new(TOO_SOON));
                    }
                }
                Some(p) => {
                    next = Some(p.next_after(&now).ok_or_else(|| {
                        InvalidInput::new(format!(
                            "The specified pattern is not valid: {} (it never matches)",
                            p.as_str()
                        ))
                    })?);
                }
            }
        }
        // Qinling keeps the stored next time when only the pattern changes.
        if let Some(name) = update.name {
            self.name = Some(name);
        }
        if let Some(input) = update.function_input {
            self.function_input = Some(input);
        }
        if let Some(p) = pattern {
            self.pattern = Some(p);
        }
        if let Some(s) = status {
            self.status = s;
        }
        if let Some(t) = next {
            self.next_execution_time = t;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(h: u32, m: u32, s: u32) -> Timestamp {
        Utc.with_ymd_and_hms(2024, 5, 1, h, m, s)
            .single()
            .expect("valid")
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn patterns_are_cron_with_optional_seconds() {
        let p = CronPattern::parse("*/5 * * * *").expect("valid");
        assert_eq!(p.next_after(&t(12, 0, 0)), Some(t(12, 5, 0)));
        let every_second = CronPattern::parse("* * * * * *").expect("valid");
        assert_eq!(every_second.next_after(&t(12, 0, 0)), Some(t(12, 0, 1)));
        for bad in [
            "",
            "* * *",
            "61 * * * *",
            "* * * * * * * *",
            "not a pattern",
        ] {
            let err = CronPattern::parse(bad).expect_err(bad);
            assert_eq!(
                err.message,
                format!("The specified pattern is not valid: {bad}")
            );
        }
    }

    #[test]
    fn patterns_firing_more_often_than_the_minimum_interval_are_refused() {
        let now = t(12, 0, 0);
        let minute = Duration::from_secs(60);
        for ok in ["* * * * *", "0 * * * * *", "0 0 29 2 *", "0 9 * * 1-5"] {
            let p = CronPattern::parse(ok).expect(ok);
            check_interval(&p, &now, minute).expect(ok);
        }
        for (fast, every) in [
            ("* * * * * *", 1),
            ("*/30 * * * * *", 30),
            ("0,10 * * * * *", 10),
        ] {
            let p = CronPattern::parse(fast).expect(fast);
            let err = check_interval(&p, &now, minute).expect_err(fast);
            assert!(
                err.message.contains(&format!("runs every {every} s")),
                "{fast}: {}",
                err.message
            );
        }
        // A burst hidden in an otherwise slow pattern: five minutes in a row on Mondays.
        let burst = CronPattern::parse("0-4 9 * * 1").expect("valid");
        assert!(check_interval(&burst, &now, Duration::from_secs(300)).is_err());
        assert!(check_interval(&burst, &now, minute).is_ok());
    }

    #[test]
    fn plan_follows_qinlings_rules() {
        let now = t(12, 0, 0);
        let err = plan(None, None, None, now, MIN).expect_err("nothing");
        assert_eq!(
            err.message,
            "pattern or first_execution_time must be specified."
        );
        let err = plan(None, Some(t(12, 0, 30)), None, now, MIN).expect_err("too soon");
        assert_eq!(err.message, TOO_SOON);
        let err = plan(None, Some(t(13, 0, 0)), Some(2), now, MIN).expect_err("count");
        assert_eq!(
            err.message,
            "pattern must be provided if count is greater than 1."
        );

        let once = plan(None, Some(t(13, 0, 0)), None, now, MIN).expect("one-shot");
        assert_eq!(once.count, Some(1));
        assert_eq!(once.next_execution_time, t(13, 0, 0));
        assert_eq!(once.first_execution_time, t(13, 0, 0));

        let cron = plan(Some("0 * * * *"), None, None, now, MIN).expect("cron");
        assert_eq!(cron.next_execution_time, t(13, 0, 0));
        assert_eq!(cron.count, None);

        // With a first time, the first run is the first match from a minute before it.
        let both = plan(Some("*/10 * * * *"), Some(t(13, 0, 0)), Some(3), now, MIN).expect("ok");
        assert_eq!(both.first_execution_time, t(13, 0, 0));
        assert_eq!(both.count, Some(3));

        assert!(plan(Some("*/10 * * * *"), None, Some(0), now, MIN).is_err());
    }

    fn job(pattern: Option<&str>, status: JobStatus) -> Job {
        Job {
            id: JobId::new(),
            project_id: ProjectId::default_project(),
            name: None,
            target: Target::Function {
                id: crate::FunctionId::new(),
                version: 0,
            },
            function_input: None,
            pattern: pattern.map(|p| CronPattern::parse(p).expect("valid")),
            status,
            first_execution_time: t(12, 0, 0),
            next_execution_time: t(12, 30, 0),
            count: None,
            created_at: t(11, 0, 0),
            updated_at: None,
        }
    }

    #[test]
    fn updates_follow_qinlings_rules() {
        let now = t(12, 0, 0);
        let mut done = job(Some("0 * * * *"), JobStatus::Done);
        let err = done
            .apply(JobUpdate::default(), now, MIN)
            .expect_err("finished");
        assert_eq!(err.message, "Can not update a finished job.");

        let mut once = job(None, JobStatus::Running);
        let add_pattern = JobUpdate {
            pattern: Some("0 * * * *".into()),
            ..JobUpdate::default()
        };
        let err = once.apply(add_pattern, now, MIN).expect_err("type");
        assert_eq!(err.message, "Can not change job type.");
        let mut cron = job(Some("0 * * * *"), JobStatus::Running);
        let drop_pattern = JobUpdate {
            pattern: Some(String::new()),
            ..JobUpdate::default()
        };
        assert_eq!(
            cron.apply(drop_pattern, now, MIN)
                .expect_err("type")
                .message,
            "Can not change job type."
        );
        let done_status = JobUpdate {
            status: Some("done".into()),
            ..JobUpdate::default()
        };
        assert_eq!(
            cron.apply(done_status, now, MIN)
                .expect_err("status")
                .message,
            "Invalid status."
        );
        let soon = JobUpdate {
            next_execution_time: Some(t(12, 0, 10)),
            ..JobUpdate::default()
        };
        assert_eq!(
            cron.apply(soon, now, MIN).expect_err("soon").message,
            TOO_SOON
        );

        // A new pattern does not move the stored next time.
        let new_pattern = JobUpdate {
            pattern: Some("*/5 * * * *".into()),
            ..JobUpdate::default()
        };
        cron.apply(new_pattern, now, MIN).expect("ok");
        assert_eq!(cron.next_execution_time, t(12, 30, 0));

        // Pause, then resume: a recurring job's next time comes from the pattern and now.
        cron.apply(
            JobUpdate {
                status: Some("paused".into()),
                ..JobUpdate::default()
            },
            now,
            MIN,
        )
        .expect("pause");
        assert_eq!(cron.status, JobStatus::Paused);
        cron.apply(
            JobUpdate {
                status: Some("running".into()),
                ..JobUpdate::default()
            },
            t(12, 41, 0),
            MIN,
        )
        .expect("resume");
        assert_eq!(cron.status, JobStatus::Running);
        assert_eq!(cron.next_execution_time, t(12, 45, 0));
    }
}
