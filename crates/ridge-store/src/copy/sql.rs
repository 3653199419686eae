//! The two statements a copy runs, built once for both databases: a page of the source by key,
//! and a multi-row insert into the target with each value bound as its target column's kind.

use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Type, TypeInfo, ValueRef};

use super::{Column, Kind, Row, Table, Value};
use crate::{Result, StoreError};

/// `name` as a quoted identifier (every name here comes from the schema, never from input).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| quoted(&c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SELECT COUNT(*) FROM table`.
pub(crate) fn count_rows(table: &str) -> String {
    format!("SELECT COUNT(*) FROM {}", quoted(table))
}

/// A row of the source as values, by each value's type as the database reports it (SQLite:
/// the stored value's own type; PostgreSQL: the column's).
pub(crate) fn decode_row<R>(table: &str, row: &R) -> Result<Row>
where
    R: sqlx::Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database>,
    for<'r> i32: Decode<'r, R::Database>,
    for<'r> bool: Decode<'r, R::Database>,
    for<'r> String: Decode<'r, R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database>,
{
    (0..row.len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Value::Null);
            }
            let kind = raw.type_info().name().to_ascii_uppercase();
            Ok(match kind.as_str() {
                "INTEGER" | "INT8" | "BIGINT" => Value::Int(row.try_get_unchecked::<i64, _>(i)?),
                "INT4" | "INT" => Value::Int(row.try_get_unchecked::<i32, _>(i)?.into()),
                "BOOL" | "BOOLEAN" => Value::Bool(row.try_get_unchecked::<bool, _>(i)?),
                "TEXT" | "VARCHAR" => Value::Text(row.try_get_unchecked::<String, _>(i)?),
                "BYTEA" | "BLOB" => Value::Bytes(row.try_get_unchecked::<Vec<u8>, _>(i)?),
                other => {
                    return Err(StoreError::CopyValue {
                        table: table.to_owned(),
                        column: sqlx::Column::name(row.column(i)).to_owned(),
                        detail: format!("values of type {other} are not copied"),
                    });
                }
            })
        })
        .collect()
}

/// The kind of a column by its declared type (`pragma_table_info` or `information_schema`).
pub(crate) fn kind_of(declared: &str) -> Kind {
    let declared = declared.to_ascii_uppercase();
    if declared.contains("BYTEA") || declared.contains("BLOB") {
        Kind::Bytes
    } else if declared.contains("BOOL") {
        Kind::Bool
    } else if declared.contains("INT") {
        Kind::Int
    } else {
        Kind::Text
    }
}

/// `SELECT columns FROM table [WHERE key > after] ORDER BY key LIMIT limit`.
pub(crate) fn select_page<'a, DB>(
    table: &Table,
    columns: &[Column],
    after: Option<String>,
    limit: u64,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    Option<bool>: Encode<'a, DB> + Type<DB>,
    Option<String>: Encode<'a, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let key = quoted(table.key);
    let mut query = QueryBuilder::new(format!(
        "SELECT {} FROM {}",
        column_list(columns),
        quoted(table.name)
    ));
    if let Some(after) = after {
        query.push(format!(" WHERE {key} > ")).push_bind(after);
    }
    query
        .push(format!(" ORDER BY {key} LIMIT "))
        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    query
}

/// A value as bound to a column of its kind.
enum Bound {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

fn bound(table: &str, column: &Column, value: Value) -> Result<Bound> {
    Ok(match (column.kind, value) {
        (Kind::Int, Value::Null) => Bound::Int(None),
        (Kind::Int, Value::Int(i)) => Bound::Int(Some(i)),
        (Kind::Int, Value::Bool(b)) => Bound::Int(Some(i64::from(b))),
        (Kind::Bool, Value::Null) => Bound::Bool(None),
        (Kind::Bool, Value::Bool(b)) => Bound::Bool(Some(b)),
        (Kind::Bool, Value::Int(i @ (0 | 1))) => Bound::Bool(Some(i == 1)),
        (Kind::Text, Value::Null) => Bound::Text(None),
        (Kind::Text, Value::Text(s)) => Bound::Text(Some(s)),
        (Kind::Text, Value::Bytes(b)) => match String::from_utf8(b) {
            Ok(s) => Bound::Text(Some(s)),
            Err(e) => {
                return Err(StoreError::CopyValue {
                    table: table.to_owned(),
                    column: column.name.clone(),
                    detail: format!("bytes that are not UTF-8 text ({e})"),
                });
            }
        },
        (Kind::Bytes, Value::Null) => Bound::Bytes(None),
        (Kind::Bytes, Value::Bytes(b)) => Bound::Bytes(Some(b)),
        (Kind::Bytes, Value::Text(s)) => Bound::Bytes(Some(s.into_bytes())),
        (kind, value) => {
            return Err(StoreError::CopyValue {
                table: table.to_owned(),
                column: column.name.clone(),
                detail: format!("{value:?} does not fit a {kind:?} column"),
            });
        }
    })
}

/// `INSERT INTO table (columns) VALUES (...), (...)`: every row in one statement.
pub(crate) fn insert_rows<'a, DB>(
    table: &str,
    columns: &[Column],
    rows: Vec<Row>,
) -> Result<QueryBuilder<'a, DB>>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    Option<i64>: Encode<'a, DB> + Type<DB>,
    Option<bool>: Encode<'a, DB> + Type<DB>,
    Option<String>: Encode<'a, DB> + Type<DB>,
    Option<Vec<u8>>: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let rows = rows
        .into_iter()
        .map(|row| {
            if row.len() != columns.len() {
                return Err(StoreError::CopyValue {
                    table: table.to_owned(),
                    column: String::new(),
                    detail: format!("{} values for {} columns", row.len(), columns.len()),
                });
            }
            row.into_iter()
                .zip(columns)
                .map(|(value, column)| bound(table, column, value))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let mut query = QueryBuilder::new(format!(
        "INSERT INTO {} ({}) ",
        quoted(table),
        column_list(columns)
    ));
    query.push_values(rows, |mut tuple, row| {
        for value in row {
            match value {
                Bound::Int(v) => tuple.push_bind(v),
                Bound::Bool(v) => tuple.push_bind(v),
                Bound::Text(v) => tuple.push_bind(v),
                Bound::Bytes(v) => tuple.push_bind(v),
            };
        }
    });
    Ok(query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, kind: Kind) -> Column {
        Column {
            name: name.into(),
            kind,
        }
    }

    #[test]
    fn flags_change_representation_and_nothing_else_does() {
        let flag = column("sync", Kind::Bool);
        let int = column("count", Kind::Int);
        assert!(matches!(
            bound("t", &flag, Value::Int(1)),
            Ok(Bound::Bool(Some(true)))
        ));
        assert!(matches!(
            bound("t", &flag, Value::Int(0)),
            Ok(Bound::Bool(Some(false)))
        ));
        assert!(matches!(
            bound("t", &int, Value::Bool(true)),
            Ok(Bound::Int(Some(1)))
        ));
        assert!(matches!(
            bound("t", &int, Value::Null),
            Ok(Bound::Int(None))
        ));
        let logs = column("logs", Kind::Bytes);
        assert!(matches!(
            bound("t", &logs, Value::Text("a\0b".into())),
            Ok(Bound::Bytes(Some(b))) if b == b"a\0b"
        ));
        assert!(matches!(
            bound("t", &column("logs", Kind::Text), Value::Bytes(b"a\0b".to_vec())),
            Ok(Bound::Text(Some(s))) if s == "a\0b"
        ));
        for (column, value) in [
            (&flag, Value::Int(2)),
            (&int, Value::Text("1".into())),
            (&column("id", Kind::Text), Value::Int(1)),
            (&column("logs", Kind::Text), Value::Bytes(vec![0xff])),
        ] {
            let err = bound("t", column, value)
                .err()
                .expect("refused")
                .to_string();
            assert!(err.contains(&format!("`t`.`{}`", column.name)), "{err}");
        }
    }

    #[test]
    fn pages_follow_the_key() {
        let table = Table {
            name: "executions",
            key: "id",
        };
        let columns = [column("id", Kind::Text), column("sync", Kind::Bool)];
        let first = select_page::<sqlx::Postgres>(&table, &columns, None, 10);
        assert_eq!(
            first.sql(),
            r#"SELECT "id", "sync" FROM "executions" ORDER BY "id" LIMIT $1"#
        );
        let next = select_page::<sqlx::Sqlite>(&table, &columns, Some("a".into()), 10);
        assert_eq!(
            next.sql(),
            r#"SELECT "id", "sync" FROM "executions" WHERE "id" > ? ORDER BY "id" LIMIT ?"#
        );
    }
}
