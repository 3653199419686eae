//! Timestamps, rendered the way Qinling renders them (`2019-06-11T00:16:54Z`), and the way the
//! stores keep them (`2019-06-11T00:16:54.123456Z`). Both fixed formats are written by hand:
//! chrono's general formatting (`strftime` items, `to_rfc3339_opts`) was 0.5% to 2% of the
//! server's CPU for a warm execution, the hand-written one a tenth of that (docs/benchmarks.md);
//! chrono still writes what the hand does not, years outside 0 to 9999 and leap seconds.

use chrono::{DateTime, Datelike, SecondsFormat, SubsecRound, Timelike, Utc};

pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to whole microseconds so it survives a store round trip unchanged.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// Qinling's wire format: `%Y-%m-%dT%H:%M:%SZ`, UTC, whole seconds.
pub fn format(ts: &Timestamp) -> String {
    fixed(ts, false).unwrap_or_else(|| ts.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// RFC 3339 in UTC with exactly six fractional digits (truncated, not rounded) and `Z`, as
/// `to_rfc3339_opts(SecondsFormat::Micros, true)` writes it: the stores' format, whose text
/// order is time order.
pub fn format_micros(ts: &Timestamp) -> String {
    fixed(ts, true).unwrap_or_else(|| ts.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`; `None` where the fixed width does not hold the value (a
/// year outside 0 to 9999) or chrono writes a leap second.
fn fixed(ts: &Timestamp, micros: bool) -> Option<String> {
    let at = ts.naive_utc();
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut text = *b"0000-00-00T00:00:00.000000Z";
    digits(&mut text[0..4], year);
    digits(&mut text[5..7], at.month());
    digits(&mut text[8..10], at.day());
    digits(&mut text[11..13], at.hour());
    digits(&mut text[14..16], at.minute());
    digits(&mut text[17..19], at.second());
    let len = if micros {
        digits(&mut text[20..26], nanos / 1000);
        text.len()
    } else {
        text[19] = b'Z';
        20
    };
    let text = std::str::from_utf8(&text[..len]).expect("ASCII digits and separators");
    Some(text.to_owned())
}

/// Writes `n`'s last `out.len()` decimal digits into `out`, zero-padded.
fn digits(out: &mut [u8], mut n: u32) {
    for digit in out.iter_mut().rev() {
        *digit = b"0123456789"[(n % 10) as usize];
        n /= 10;
    }
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

    /// Both hand-written formats against chrono's, over spread and edge values: every year
    /// boundary's last and first instants, leap days (2000 and 2024 are leap years, 1900 and
    /// 2100 are not), sub-second values that are not whole microseconds, the last representable
    /// years, and what falls back to chrono (years past 9999 or before 0, leap seconds).
    #[test]
    fn hand_written_formats_match_chrono() {
        let chrono_seconds = |ts: &Timestamp| ts.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let chrono_micros = |ts: &Timestamp| ts.to_rfc3339_opts(SecondsFormat::Micros, true);
        let check = |ts: Timestamp| {
            assert_eq!(format(&ts), chrono_seconds(&ts), "{ts:?}");
            assert_eq!(format_micros(&ts), chrono_micros(&ts), "{ts:?}");
        };
        let at = |y, mo, d, h, mi, s, nanos| {
            Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
                .single()
                .and_then(|t| t.with_nanosecond(nanos))
                .expect("valid time")
        };
        let mut checked = 0;
        for year in (0..=10_001)
            .step_by(7)
            .chain([1899, 1900, 2000, 2024, 2100, 9999])
        {
            check(at(year, 12, 31, 23, 59, 59, 999_999_999));
            check(at(year, 1, 1, 0, 0, 0, 0));
            checked += 2;
        }
        for year in [1904, 2000, 2024, 2096, 2400] {
            check(at(year, 2, 29, 12, 34, 56, 1_000));
            check(at(year, 2, 28, 23, 59, 59, 999));
            check(at(year, 3, 1, 0, 0, 0, 999_999));
            checked += 3;
        }
        for year in [1900, 2023, 2100] {
            assert_eq!(Utc.with_ymd_and_hms(year, 2, 29, 0, 0, 0).single(), None);
        }
        for nanos in [
            0,
            1,
            999,
            1_000,
            1_001,
            123_456_789,
            500_000_000,
            999_999_000,
        ] {
            check(at(2026, 12, 6, 9, 5, 7, nanos));
            checked += 1;
        }
        // Before year 0, and a leap second (chrono's nanoseconds past 1e9): chrono's own.
        check(at(-1, 6, 15, 1, 2, 3, 4_000));
        check(at(2016, 12, 31, 23, 59, 59, 1_500_000_000));
        // Spread values: a fixed pseudo-random walk over seconds and nanoseconds.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Seconds from 0000-01-01 to 9999-12-31 around the Unix epoch.
            let seconds = (state % 315_537_897_600) as i64 - 62_167_219_200;
            let nanos = (state >> 40) as u32 % 1_000_000_000;
            check(DateTime::from_timestamp(seconds, nanos).expect("in range"));
            checked += 1;
        }
        assert!(checked > 100_000, "{checked}");
    }
}
