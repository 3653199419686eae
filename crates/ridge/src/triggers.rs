//! Settings of versions, webhooks and jobs: `public_url` and `max_versions_per_function` at the
//! top of the TOML file, and the `[webhooks]` and `[jobs]` tables. Unknown keys are errors.

use std::time::Duration;

use anyhow::bail;
use ridge_engine::{MissedTicks, SchedulerConfig};
use serde::Deserialize;

pub const DEFAULT_MAX_VERSIONS: i64 = 10;
pub const DEFAULT_WEBHOOK_RATE_LIMIT: u32 = 60;
pub const DEFAULT_WEBHOOK_MAX_BODY: u64 = 1024 * 1024;
pub const DEFAULT_SIGNATURE_WINDOW_SECS: u64 = 300;
pub const DEFAULT_JOB_TICK_MS: u64 = 3000;
pub const DEFAULT_JOB_MIN_LEAD_SECS: u64 = 60;
pub const DEFAULT_JOB_MIN_INTERVAL_SECS: u64 = 60;

/// `[webhooks]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksFile {
    /// Invokes a minute per webhook, in bursts of up to as many (0: no limit). Default 60.
    pub rate_limit_per_minute: Option<u32>,
    /// Largest invoke body, in bytes (default 1 MiB); bigger ones get 413.
    pub max_body_size: Option<u64>,
    /// How far `X-Ridge-Timestamp` may be from the server's clock, in seconds (default 300).
    pub signature_window_secs: Option<u64>,
    /// The key that seals webhook secrets at rest (64 hex digits); default
    /// `<data_dir>/webhook-secrets.key`, created on first start.
    pub secret_key_file: Option<std::path::PathBuf>,
}

/// `[jobs]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsFile {
    /// How often the scheduler looks for due jobs, in milliseconds (default 3000, Qinling's).
    pub tick_ms: Option<u64>,
    /// How far in the future a job's first time must be, in seconds (default 60, Qinling's).
    pub min_lead_secs: Option<u64>,
    /// The shortest time a job's pattern may leave between two runs, in seconds (default 60);
    /// patterns firing more often (a seconds field such as `*/5 * * * * *`) are refused.
    pub min_interval_secs: Option<u64>,
    /// `run_once` (default): a tick missed while the server was down runs once, late;
    /// `skip`: it does not run. Either way the job continues on its pattern from now.
    pub missed_ticks: Option<MissedTicksFile>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissedTicksFile {
    RunOnce,
    Skip,
}

/// The settings after defaults.
#[derive(Debug, Clone)]
pub struct TriggerSettings {
    /// The base of `webhook_url`; `None` means `http://<bound listen address>`.
    pub public_url: Option<String>,
    pub max_versions: i64,
    pub webhook_rate_limit: u32,
    pub webhook_max_body: u64,
    pub webhook_signature_window: Duration,
    /// The key file named in the configuration; `None` is the data directory's own.
    pub webhook_secret_key_file: Option<std::path::PathBuf>,
    pub job_min_lead: Duration,
    pub job_min_interval: Duration,
    pub scheduler: SchedulerConfig,
}

impl TriggerSettings {
    pub fn from_file(
        public_url: Option<String>,
        max_versions: Option<i64>,
        webhooks: Option<WebhooksFile>,
        jobs: Option<JobsFile>,
    ) -> anyhow::Result<Self> {
        let webhooks = webhooks.unwrap_or_default();
        let jobs = jobs.unwrap_or_default();
        if let Some(url) = &public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("invalid public_url `{url}`: expected http://host[:port] or https://host[:port]");
        }
        let max_versions = max_versions.unwrap_or(DEFAULT_MAX_VERSIONS);
        if max_versions < 1 {
            bail!("invalid max_versions_per_function {max_versions}: at least 1 is needed");
        }
        let tick = jobs.tick_ms.unwrap_or(DEFAULT_JOB_TICK_MS);
        if tick == 0 {
            bail!("invalid jobs.tick_ms 0: the scheduler needs a period of at least 1 ms");
        }
        let min_interval = jobs
            .min_interval_secs
            .unwrap_or(DEFAULT_JOB_MIN_INTERVAL_SECS);
        if min_interval == 0 {
            bail!("invalid jobs.min_interval_secs 0: allow at least one second between runs");
        }
        let webhook_max_body = webhooks.max_body_size.unwrap_or(DEFAULT_WEBHOOK_MAX_BODY);
        if webhook_max_body == 0 {
            bail!("invalid webhooks.max_body_size 0: allow at least one byte");
        }
        let window = webhooks
            .signature_window_secs
            .unwrap_or(DEFAULT_SIGNATURE_WINDOW_SECS);
        if window == 0 {
            bail!(
                "invalid webhooks.signature_window_secs 0: allow at least one second of clock difference"
            );
        }
        Ok(Self {
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
            max_versions,
            webhook_rate_limit: webhooks
                .rate_limit_per_minute
                .unwrap_or(DEFAULT_WEBHOOK_RATE_LIMIT),
            webhook_max_body,
            webhook_signature_window: Duration::from_secs(window),
            webhook_secret_key_file: webhooks.secret_key_file,
            job_min_lead: Duration::from_secs(
                jobs.min_lead_secs.unwrap_or(DEFAULT_JOB_MIN_LEAD_SECS),
            ),
            job_min_interval: Duration::from_secs(min_interval),
            scheduler: SchedulerConfig {
                tick: Duration::from_millis(tick),
                missed: match jobs.missed_ticks {
                    Some(MissedTicksFile::Skip) => MissedTicks::Skip,
                    Some(MissedTicksFile::RunOnce) | None => MissedTicks::RunOnce,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_qinlings() {
        let s = TriggerSettings::from_file(None, None, None, None).expect("defaults");
        assert_eq!(s.max_versions, 10);
        assert_eq!(s.job_min_lead, Duration::from_secs(60));
        assert_eq!(s.scheduler.tick, Duration::from_secs(3));
        assert_eq!(s.scheduler.missed, MissedTicks::RunOnce);
    }

    #[test]
    fn bad_values_are_explained() {
        let err = TriggerSettings::from_file(Some("ftp://x".into()), None, None, None)
            .expect_err("scheme");
        assert!(err.to_string().contains("invalid public_url"), "{err}");
        assert!(TriggerSettings::from_file(None, Some(0), None, None).is_err());
        let jobs: JobsFile = toml::from_str("missed_ticks = \"skip\"").expect("valid");
        let s = TriggerSettings::from_file(None, None, None, Some(jobs)).expect("valid");
        assert_eq!(s.scheduler.missed, MissedTicks::Skip);
        assert!(toml::from_str::<JobsFile>("missed = \"skip\"").is_err());
    }
}
