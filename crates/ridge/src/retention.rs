//! `[executions.retention]`: how long finished executions are kept, and how often and how fast
//! they are purged (docs/retention.md). Admins override the first two per project through
//! `PUT /v1/retention/{project_id}`.

use std::time::Duration;

use anyhow::{Context, bail};
use ridge_core::Retention;
use ridge_core::tenancy::Limit;
use ridge_engine::RetentionConfig;
use serde::Deserialize;

/// `[executions]`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionsFile {
    /// `[executions.retention]`.
    pub retention: Option<RetentionFile>,
}

/// `[executions.retention]`: every key optional; 0 turns a rule off (keep forever).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionFile {
    /// Oldest a finished execution may be: seconds, or a duration such as `"30d"`, `"12h"`
    /// (default 30 days).
    pub max_age: Option<Age>,
    /// Finished executions kept per function, newest first (default 10000).
    pub max_per_function: Option<u64>,
    /// Seconds between two rounds of purges (default 60).
    pub interval: Option<u64>,
    /// Most executions deleted by one statement (default 500).
    pub batch: Option<u64>,
}

/// `max_age`: a number of seconds or a duration with a unit.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Age {
    Seconds(u64),
    Text(String),
}

impl Age {
    fn seconds(&self) -> anyhow::Result<u64> {
        match self {
            Age::Seconds(n) => Ok(*n),
            Age::Text(text) => parse_age(text).with_context(|| {
                format!(
                    "invalid executions.retention.max_age `{text}`: expected seconds or a number with s, m, h or d, such as \"30d\""
                )
            }),
        }
    }
}

fn parse_age(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse()?;
    let unit = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => bail!("unknown unit `{other}`"),
    };
    number.checked_mul(unit).context("too long")
}

/// 0 keeps forever.
fn limit(n: u64) -> Limit {
    match n {
        0 => Limit::Unlimited,
        n => Limit::At(n),
    }
}

/// The engine's retention from the file's `[executions]`, defaults filled in.
pub fn config(file: Option<ExecutionsFile>) -> anyhow::Result<RetentionConfig> {
    let file = file.and_then(|e| e.retention).unwrap_or_default();
    let defaults = RetentionConfig::default();
    let max_age = match &file.max_age {
        Some(age) => limit(age.seconds()?),
        None => defaults.defaults.max_age,
    };
    let max_per_function = match file.max_per_function {
        Some(n) => limit(n),
        None => defaults.defaults.max_per_function,
    };
    if file.interval == Some(0) || file.batch == Some(0) {
        bail!("invalid executions.retention: interval and batch must be at least 1");
    }
    Ok(RetentionConfig {
        defaults: Retention {
            max_age,
            max_per_function,
        },
        interval: file.interval.map_or(defaults.interval, Duration::from_secs),
        batch: file.batch.unwrap_or(defaults.batch),
        pause: defaults.pause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(toml_text: &str) -> anyhow::Result<RetentionConfig> {
        let file: ExecutionsFile = toml::from_str(toml_text)?;
        config(Some(file))
    }

    #[test]
    fn ages_read_as_seconds_or_with_a_unit_and_zero_keeps_forever() {
        let defaults = config(None).expect("defaults");
        assert_eq!(defaults, RetentionConfig::default());
        assert_eq!(defaults.defaults.max_age, Limit::At(30 * 86_400));

        let c = parsed("[retention]\nmax_age = \"12h\"\nmax_per_function = 0\ninterval = 5")
            .expect("valid");
        assert_eq!(c.defaults.max_age, Limit::At(12 * 3600));
        assert_eq!(c.defaults.max_per_function, Limit::Unlimited);
        assert_eq!(c.interval, Duration::from_secs(5));
        let c = parsed("[retention]\nmax_age = 90").expect("valid");
        assert_eq!(c.defaults.max_age, Limit::At(90));
        let c = parsed("[retention]\nmax_age = \"0\"").expect("valid");
        assert_eq!(c.defaults.max_age, Limit::Unlimited);

        let bad = parsed("[retention]\nmax_age = \"30 weeks\"").expect_err("refused");
        assert!(format!("{bad:#}").contains("`30 weeks`"), "{bad:#}");
        assert!(parsed("[retention]\nbatch = 0").is_err());
        assert!(parsed("[retention]\nmax_days = 1").is_err(), "unknown key");
    }
}
