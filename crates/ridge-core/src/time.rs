//! Timestamps, rendered the way Qinling renders them (`2019-06-11T00:16:54Z`).

use chrono::{DateTime, SubsecRound, Utc};

pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to whole microseconds so it survives a store round trip unchanged.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// Qinling's wire format: `%Y-%m-%dT%H:%M:%SZ`, UTC, whole seconds.
pub fn format(ts: &Timestamp) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats_like_qinling() {
        let ts = Utc
            .with_ymd_and_hms(2019, 6, 11, 0, 16, 54)
            .single()
            .expect("valid date");
        assert_eq!(format(&ts), "2019-06-11T00:16:54Z");
    }
}
