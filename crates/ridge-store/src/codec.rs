//! How domain values become column values and back. Reading is strict: a value this Ridge would
//! not have written becomes [`StoreError::Corrupt`] naming the table, row and column.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use ridge_core::{Limits, Timestamp};
use serde_json::Value;

use crate::{Result, StoreError};

/// A timestamp as stored: UTC RFC 3339 with exactly six fractional digits, so that text order is
/// time order and a microsecond-precision value ([`ridge_core::time::now`]) round-trips exactly.
pub(crate) fn ts(ts: &Timestamp) -> String {
    ridge_core::time::format_micros(ts)
}

pub(crate) fn opt_ts(value: Option<&Timestamp>) -> Option<String> {
    value.map(ts)
}

/// An unsigned value for an INTEGER column, which holds at most `i64::MAX`.
pub(crate) fn int(field: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { field, value })
}

/// JSON text of a value that is plain data (no maps with non-string keys).
pub(crate) fn json_text(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("serializing plain data to JSON cannot fail")
}

/// Reads the columns of one row, naming the row in any error.
pub(crate) struct RowReader<'a> {
    table: &'static str,
    id: &'a str,
}

impl<'a> RowReader<'a> {
    pub(crate) fn new(table: &'static str, id: &'a str) -> Self {
        Self { table, id }
    }

    pub(crate) fn corrupt(&self, column: &str, detail: impl Display) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            detail: format!("row `{}`, column `{column}`: {detail}", self.id),
        }
    }

    /// Any value with a `FromStr` (ids, statuses, project ids).
    pub(crate) fn parse<T>(&self, column: &str, value: &str) -> Result<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        value.parse().map_err(|e| self.corrupt(column, e))
    }

    pub(crate) fn ts(&self, column: &str, value: &str) -> Result<Timestamp> {
        DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.corrupt(column, format_args!("bad timestamp `{value}`: {e}")))
    }

    pub(crate) fn opt_ts(&self, column: &str, value: Option<&str>) -> Result<Option<Timestamp>> {
        value.map(|v| self.ts(column, v)).transpose()
    }

    /// An integer column into a narrower or unsigned type.
    pub(crate) fn int<T: TryFrom<i64>>(&self, column: &str, value: i64) -> Result<T> {
        T::try_from(value)
            .map_err(|_| self.corrupt(column, format_args!("{value} is out of range")))
    }

    /// The `cpu`, `memory_size` and `timeout` columns that functions and versions share.
    pub(crate) fn limits(&self, cpu: i64, memory_size: i64, timeout: i64) -> Result<Limits> {
        Ok(Limits {
            cpu: self.int("cpu", cpu)?,
            memory_size: self.int("memory_size", memory_size)?,
            timeout: self.int("timeout", timeout)?,
        })
    }

    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        column: &str,
        value: &str,
    ) -> Result<T> {
        serde_json::from_str(value).map_err(|e| self.corrupt(column, format_args!("bad JSON: {e}")))
    }

    pub(crate) fn json_value(&self, column: &str, value: &str) -> Result<Value> {
        self.json(column, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_fixed_width_and_round_trip() {
        let early = Utc
            .with_ymd_and_hms(2024, 1, 2, 3, 4, 5)
            .single()
            .expect("valid date");
        let late = early + chrono::Duration::microseconds(123_456);
        assert_eq!(ts(&early), "2024-01-02T03:04:05.000000Z");
        assert_eq!(ts(&late), "2024-01-02T03:04:05.123456Z");
        assert!(ts(&early) < ts(&late));
        let reader = RowReader::new("t", "id");
        assert_eq!(reader.ts("c", &ts(&late)).expect("parses"), late);
    }

    #[test]
    fn bad_values_are_corrupt_not_panics() {
        let reader = RowReader::new("executions", "abc");
        let err = reader
            .parse::<ridge_core::ExecutionStatus>("status", "exploded")
            .expect_err("unknown status");
        assert!(
            matches!(&err, StoreError::Corrupt { table: "executions", detail } if detail.contains("`status`") && detail.contains("exploded")),
            "{err:?}"
        );
        assert!(reader.ts("created_at", "yesterday").is_err());
        assert!(reader.int::<u32>("cpu", -1).is_err());
        assert!(matches!(
            int("memory_size", u64::MAX),
            Err(StoreError::OutOfRange {
                field: "memory_size",
                ..
            })
        ));
    }
}
