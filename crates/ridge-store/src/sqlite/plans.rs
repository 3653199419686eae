//! The indexes SQLite picks for the queries on `executions` that look for few rows among many:
//! a partial index is used only where the query repeats its condition (migration 0012), so a
//! query that stops saying it, or an index dropped from under it, turns into a scan of every
//! execution. Plans, not timings: SQLite's choice of index for a query does not depend on what
//! the table holds (no `ANALYZE` statistics).

use ridge_core::{Filter, FilterOp};
use rusqlite::Connection;
use sqlx::{QueryBuilder, Sqlite};

use super::tenancy::PROJECT_USAGE;
use crate::filter::{self, Column};
use crate::nodes::STRANDED;
use crate::shared::statistics::QUEUED;

/// `EXPLAIN QUERY PLAN` of `sql`, its parameters unbound, one line per step.
fn plan(conn: &Connection, sql: &str) -> String {
    let mut statement = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("prepare");
    let mut rows = statement.raw_query();
    let mut lines = Vec::new();
    while let Some(row) = rows.next().expect("step") {
        lines.push(row.get::<_, String>(3).expect("detail"));
    }
    lines.join("\n")
}

fn list_filtered_by(filter: &Filter) -> String {
    let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM executions WHERE 1 = 1");
    filter::push(&mut sql, Column::Status, filter).expect("valid filter");
    sql.push(" ORDER BY created_at, id LIMIT 50");
    sql.sql().to_owned()
}

#[tokio::test]
async fn queries_for_few_executions_use_an_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ridge.db");
    let store = super::SqliteStore::open(&path).await.expect("open");
    let conn = super::native::connect(&path).expect("connect");
    let unsuccessful = "INDEX executions_unsuccessful (status=?)";
    let by_project = "INDEX executions_unsuccessful (status=? AND project_id=?)";
    let cases = [
        (QUEUED.to_owned(), unsuccessful),
        (format!("{QUEUED} AND project_id = ?"), by_project),
        (PROJECT_USAGE.to_owned(), by_project),
        (
            format!("SELECT id FROM executions WHERE {STRANDED} ORDER BY created_at, id LIMIT ?"),
            unsuccessful,
        ),
        (list_filtered_by(&Filter::eq("error")), unsuccessful),
        (list_filtered_by(&Filter::eq("running")), unsuccessful),
        (
            list_filtered_by(&Filter {
                op: FilterOp::In,
                values: vec!["error".into(), "failed".into()],
            }),
            unsuccessful,
        ),
        // A function's deletion cascades to its executions.
        (
            "DELETE FROM executions WHERE function_id = ?".to_owned(),
            "INDEX executions_function_created (function_id=?)",
        ),
    ];
    for (sql, index) in cases {
        let plan = plan(&conn, &sql);
        assert!(plan.contains(index), "{sql}\nuses\n{plan}");
    }
    // Successful rows are most rows: a filter that may match them reads the table.
    let plan = plan(&conn, &list_filtered_by(&Filter::eq("success")));
    assert!(!plan.contains("executions_unsuccessful"), "{plan}");
    drop(conn);
    store.close().await;
}
