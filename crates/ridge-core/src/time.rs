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

/// A time given by a user (`first_execution_time`, `next_execution_time`): ISO 8601 / RFC 3339
/// with an offset (converted to UTC), or without one (taken as UTC, as Qinling does), with a
/// `T` or a space, with or without seconds.
pub fn parse_user(s: &str) -> Result<Timestamp, crate::InvalidInput> {
    use chrono::NaiveDateTime;
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).trunc_subsecs(6));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%d %H:%M%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Ok(t.with_timezone(&Utc).trunc_subsecs(6));
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, format) {
            return Ok(t.and_utc().trunc_subsecs(6));
        }
    }
    Err(crate::InvalidInput::new(format!(
        "invalid time `{s}`: expected ISO 8601 such as 2030-01-31T12:00:00Z or 2030-01-31 14:00:00+02:00 (UTC when no offset is given)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn user_times_are_utc_with_offsets_converted() {
        let expected = Utc
            .with_ymd_and_hms(2030, 1, 31, 12, 0, 0)
            .single()
            .expect("valid date");
        for text in [
            "2030-01-31T12:00:00Z",
            "2030-01-31T12:00:00",
            "2030-01-31 12:00:00",
            "2030-01-31 12:00",
            "2030-01-31T14:00:00+02:00",
            "2030-01-31 14:00:00+02:00",
        ] {
            assert_eq!(parse_user(text), Ok(expected), "{text}");
        }
        let err = parse_user("tomorrow").expect_err("not a time");
        assert!(
            err.message.starts_with("invalid time `tomorrow`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn formats_like_qinling() {
        let ts = Utc
            .with_ymd_and_hms(2019, 6, 11, 0, 16, 54)
            .single()
            .expect("valid date");
        assert_eq!(format(&ts), "2019-06-11T00:16:54Z");
    }
}
