//! Qinling's list filters (`in`, `nin`, `eq`, `neq`, `gt`, `gte`, `lt`, `lte`, `has`) as SQL.
//!
//! Column names come from [`Column`], never from the request, and every value is a bound
//! parameter. `neq` and `nin` also match rows where the column is NULL (an execution without a
//! description is "not equal" to any description), unlike a bare SQL `!=`. The SQL is the same
//! for every store but for the substring operator ([`Dialect::LIKE`]).
//!
//! A status filter that can only match unsuccessful rows also says `status <> 'success'`, the
//! condition of the partial index `executions_unsuccessful` (migration 0012): SQLite uses a
//! partial index only where the query's WHERE repeats the index's own condition.

use ridge_core::{ExecutionStatus, Filter, FilterOp};
use sqlx::{Database, Encode, QueryBuilder, Type};
use uuid::Uuid;

use crate::{Result, StoreError};

/// The filterable columns of `executions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    FunctionId,
    Status,
    Description,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::FunctionId => "function_id",
            Column::Status => "status",
            Column::Description => "description",
        }
    }

    /// The value as stored: ids in their canonical hyphenated lower-case form, so that
    /// `function_id=ABCD...` finds the function just as its lower-case spelling does.
    fn normalize(self, value: &str) -> String {
        match self {
            Column::FunctionId => match Uuid::parse_str(value) {
                Ok(id) => id.hyphenated().to_string(),
                Err(_) => value.to_owned(),
            },
            Column::Status | Column::Description => value.to_owned(),
        }
    }
}

/// What differs between the stores' SQL for filters.
pub(crate) trait Dialect: Database {
    /// The operator of `has`: case-insensitive for ASCII at least, as SQLite's `LIKE` is
    /// (PostgreSQL's `LIKE` is case-sensitive; its `ILIKE` is not).
    const LIKE: &'static str;
}

impl Dialect for sqlx::Sqlite {
    const LIKE: &'static str = "LIKE";
}

impl Dialect for sqlx::Postgres {
    const LIKE: &'static str = "ILIKE";
}

/// Appends ` AND <condition>` for `filter` on `column`.
pub(crate) fn push<'args, DB>(
    sql: &mut QueryBuilder<'args, DB>,
    column: Column,
    filter: &Filter,
) -> Result<()>
where
    DB: Dialect,
    String: Encode<'args, DB> + Type<DB>,
{
    let name = column.name();
    match filter.op {
        FilterOp::In | FilterOp::Nin => {
            let negated = filter.op == FilterOp::Nin;
            if filter.values.is_empty() {
                // Nothing is in an empty list; everything is outside it.
                if !negated {
                    sql.push(" AND 0 = 1");
                }
                return Ok(());
            }
            if negated {
                sql.push(format!(" AND ({name} IS NULL OR {name} NOT IN ("));
            } else {
                sql.push(format!(" AND {name} IN ("));
            }
            let mut list = sql.separated(", ");
            for value in &filter.values {
                list.push_bind(column.normalize(value));
            }
            list.push_unseparated(if negated { "))" } else { ")" });
            if !negated && only_unsuccessful(column, &filter.values) {
                sql.push(UNSUCCESSFUL);
            }
        }
        FilterOp::Has => {
            let value = single(column, filter)?;
            sql.push(format!(" AND {name} {} ", DB::LIKE))
                .push_bind(format!("%{}%", escape_like(value)))
                .push(" ESCAPE '\\'");
        }
        op => {
            let value = column.normalize(single(column, filter)?);
            let operator = match op {
                FilterOp::Eq => "=",
                // Null-safe: NULL IS DISTINCT FROM 'x' is true.
                FilterOp::Neq => "IS DISTINCT FROM",
                FilterOp::Gt => ">",
                FilterOp::Gte => ">=",
                FilterOp::Lt => "<",
                FilterOp::Lte => "<=",
                FilterOp::In | FilterOp::Nin | FilterOp::Has => unreachable!("handled above"),
            };
            let unsuccessful =
                op == FilterOp::Eq && only_unsuccessful(column, std::slice::from_ref(&value));
            sql.push(format!(" AND {name} {operator} "))
                .push_bind(value);
            if unsuccessful {
                sql.push(UNSUCCESSFUL);
            }
        }
    }
    Ok(())
}

/// The condition of the partial index `executions_unsuccessful`, as a filter appends it.
const UNSUCCESSFUL: &str = " AND status <> 'success'";

/// Whether `column = ANY(values)` implies [`UNSUCCESSFUL`] (the values are compared as stored,
/// byte for byte): then the filter says so, and the store can look the rows up in that partial
/// index instead of reading the whole table.
fn only_unsuccessful(column: Column, values: &[String]) -> bool {
    let success = ExecutionStatus::Success.as_str();
    column == Column::Status && values.iter().all(|v| v != success)
}

fn single(column: Column, filter: &Filter) -> Result<&str> {
    match filter.values.as_slice() {
        [value] => Ok(value),
        values => Err(StoreError::InvalidFilter {
            column: column.name(),
            detail: format!("`{}` takes one value, got {}", filter.op, values.len()),
        }),
    }
}

/// Escapes LIKE's wildcards so that the value matches itself only (escape character `\`).
fn escape_like(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Sqlite;

    fn render(column: Column, filter: &Filter) -> String {
        let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM executions WHERE 1 = 1");
        push(&mut sql, column, filter).expect("valid filter");
        sql.sql().to_owned()
    }

    #[test]
    fn values_are_bound_never_inlined() {
        let evil = Filter::eq("x' OR '1'='1");
        let sql = render(Column::Description, &evil);
        assert_eq!(
            sql,
            "SELECT * FROM executions WHERE 1 = 1 AND description = ?"
        );
        let list = Filter {
            op: FilterOp::Nin,
            values: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            render(Column::Status, &list),
            "SELECT * FROM executions WHERE 1 = 1 AND (status IS NULL OR status NOT IN (?, ?))"
        );
    }

    #[test]
    fn a_filter_of_unsuccessful_statuses_names_the_partial_index_condition() {
        let unsuccessful = UNSUCCESSFUL;
        let list = |op, values: &[&str]| Filter {
            op,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        };
        assert_eq!(
            render(Column::Status, &Filter::eq("error")),
            format!("SELECT * FROM executions WHERE 1 = 1 AND status = ?{unsuccessful}")
        );
        assert_eq!(
            render(Column::Status, &list(FilterOp::In, &["error", "failed"])),
            format!("SELECT * FROM executions WHERE 1 = 1 AND status IN (?, ?){unsuccessful}")
        );
        // Not where a successful row could match.
        for filter in [
            Filter::eq("success"),
            list(FilterOp::In, &["failed", "success"]),
            list(FilterOp::Nin, &["success"]),
            list(FilterOp::Neq, &["success"]),
            list(FilterOp::Gt, &["error"]),
            list(FilterOp::Has, &["err"]),
        ] {
            let sql = render(Column::Status, &filter);
            assert!(!sql.contains(unsuccessful), "{filter:?}: {sql}");
        }
        // Nor on another column.
        let sql = render(Column::Description, &Filter::eq("error"));
        assert!(!sql.contains(unsuccessful), "{sql}");
    }

    #[test]
    fn postgres_gets_its_placeholders_and_case_insensitive_has() {
        let mut sql = QueryBuilder::<sqlx::Postgres>::new("SELECT 1 WHERE 1 = 1");
        let has = Filter {
            op: FilterOp::Has,
            values: vec!["Job".into()],
        };
        push(&mut sql, Column::Description, &has).expect("valid");
        push(&mut sql, Column::Status, &Filter::eq("failed")).expect("valid");
        assert_eq!(
            sql.sql(),
            r"SELECT 1 WHERE 1 = 1 AND description ILIKE $1 ESCAPE '\' AND status = $2 AND status <> 'success'"
        );
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
        let sql = render(
            Column::Description,
            &Filter {
                op: FilterOp::Has,
                values: vec!["%".into()],
            },
        );
        assert!(sql.ends_with(r"description LIKE ? ESCAPE '\'"), "{sql}");
    }

    #[test]
    fn single_valued_operators_refuse_lists() {
        let mut sql = QueryBuilder::<Sqlite>::new("");
        let bad = Filter {
            op: FilterOp::Gt,
            values: vec!["a".into(), "b".into()],
        };
        assert!(matches!(
            push(&mut sql, Column::Status, &bad),
            Err(StoreError::InvalidFilter {
                column: "status",
                ..
            })
        ));
    }

    #[test]
    fn function_ids_are_normalized() {
        let id = "6F2B0A8E-3C4D-4E5F-8A9B-0C1D2E3F4A5B";
        assert_eq!(
            Column::FunctionId.normalize(id),
            "6f2b0a8e-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
        );
        assert_eq!(Column::Description.normalize("ABC"), "ABC");
    }
}
