//! Qinling's list filters: `<op>:<value>`, with `eq` when no operator is given.

use std::fmt;

use crate::InvalidInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    In,
    Nin,
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    /// Substring match (SQL `LIKE %v%`).
    Has,
}

impl FilterOp {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "in" => FilterOp::In,
            "nin" => FilterOp::Nin,
            "eq" => FilterOp::Eq,
            "neq" => FilterOp::Neq,
            "gt" => FilterOp::Gt,
            "gte" => FilterOp::Gte,
            "lt" => FilterOp::Lt,
            "lte" => FilterOp::Lte,
            "has" => FilterOp::Has,
            _ => return None,
        })
    }
}

impl fmt::Display for FilterOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilterOp::In => "in",
            FilterOp::Nin => "nin",
            FilterOp::Eq => "eq",
            FilterOp::Neq => "neq",
            FilterOp::Gt => "gt",
            FilterOp::Gte => "gte",
            FilterOp::Lt => "lt",
            FilterOp::Lte => "lte",
            FilterOp::Has => "has",
        })
    }
}

/// One parsed filter. `values` has one element except for `in` and `nin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub op: FilterOp,
    pub values: Vec<String>,
}

impl Filter {
    pub fn eq(value: impl Into<String>) -> Self {
        Self {
            op: FilterOp::Eq,
            values: vec![value.into()],
        }
    }

    /// Parses `op:value`. A prefix that is not an operator is part of the value (`eq`), so
    /// `description=Created by Job x` and values holding a `:` still work.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let (op, value) = match raw.split_once(':') {
            Some((op, value)) => match FilterOp::parse(op) {
                Some(op) => (op, value),
                None => (FilterOp::Eq, raw),
            },
            None => (FilterOp::Eq, raw),
        };
        let values = match op {
            FilterOp::In | FilterOp::Nin => value.split(',').map(str::to_owned).collect(),
            _ => vec![value.to_owned()],
        };
        Ok(Self { op, values })
    }

    /// Checks every value with `check`, for typed columns (ids, statuses).
    pub fn validate<T>(
        &self,
        check: impl Fn(&str) -> Result<T, InvalidInput>,
    ) -> Result<(), InvalidInput> {
        if self.op == FilterOp::Has {
            return Ok(());
        }
        self.values.iter().try_for_each(|v| check(v).map(drop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_operators() {
        assert_eq!(Filter::parse("success"), Ok(Filter::eq("success")));
        assert_eq!(
            Filter::parse("neq:failed"),
            Ok(Filter {
                op: FilterOp::Neq,
                values: vec!["failed".into()]
            })
        );
        assert_eq!(
            Filter::parse("in:a,b").map(|f| f.values),
            Ok(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(Filter::parse("has:job id").map(|f| f.op), Ok(FilterOp::Has));
    }

    #[test]
    fn unknown_prefix_is_part_of_the_value() {
        assert_eq!(Filter::parse("http://x"), Ok(Filter::eq("http://x")));
    }
}
