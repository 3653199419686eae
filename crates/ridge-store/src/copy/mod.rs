//! `ridge store copy`: every row of one store into another, empty one, in any direction
//! (SQLite to PostgreSQL to move a single node onto shared storage, and back).
//!
//! The copy is driven by the schema, not by the domain types: for each table of [`TABLES`], in
//! an order that satisfies the foreign keys, it reads the target's columns, then pages through
//! the source by primary key ([`PAGE_ROWS`] rows at a time, so that millions of executions never
//! sit in memory) and inserts each page verbatim. Ids, timestamps, counters, sealed webhook
//! secrets and token hashes are kept as stored, and a column a later migration adds is copied
//! without a change here. Values only change representation where the two databases differ
//! (SQLite's 0/1 flags against PostgreSQL's booleans).
//!
//! Safety of the two ends:
//! - The source is only read: opened read-only, never migrated, inside one read transaction
//!   (a snapshot, on both databases). Its schema must be exactly the one this Ridge ships: a
//!   newer one (written by a later Ridge) or an older one (not yet migrated) is refused.
//! - The target is migrated as `ridge serve` would, must hold no row in any copied table, and
//!   receives everything in one transaction: a copy that fails leaves it empty.

mod sql;

use std::collections::BTreeSet;

use async_trait::async_trait;
use ridge_core::{Code, FunctionId, ProjectId};
use sqlx::migrate::Migrator;

use crate::{Result, StoreError, StoreUrl};

pub(crate) use sql::{count_rows, decode_row, insert_rows, kind_of, select_page};

/// A table that a copy carries, and the unique text column it pages by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub(crate) key: &'static str,
}

const fn table(name: &'static str, key: &'static str) -> Table {
    Table { name, key }
}

/// Every table of the schema, parents before children (a row's foreign keys are in the target
/// before it). A new table must be added here or to [`NOT_COPIED`]; a test checks the
/// migrations against both lists.
pub const TABLES: &[Table] = &[
    table("projects", "id"),
    table("users", "id"),
    table("api_tokens", "id"),
    table("quotas", "project_id"),
    table("retention", "project_id"),
    table("runtimes", "id"),
    table("functions", "id"),
    table("function_versions", "id"),
    table("function_aliases", "id"),
    table("webhooks", "id"),
    table("jobs", "id"),
    table("event_triggers", "id"),
    table("executions", "id"),
];

/// Tables deliberately left behind: the migrations' own book (the target keeps its own), and
/// the live nodes' heartbeats (the target's nodes write their own; an execution still held by
/// a node of the source is stranded on the target, and taken over by its first node), and the
/// signatures seen within the last few minutes (a window that has passed by the time a copy
/// is served), and the keep-alive policy's inter-arrival histograms (learned again from the
/// traffic; until then the fixed expiry applies).
pub const NOT_COPIED: &[&str] = &[
    "_sqlx_migrations",
    "nodes",
    "webhook_signatures",
    "arrival_histograms",
];

/// Rows read from the source per query, and inserted into the target per statement.
pub const PAGE_ROWS: u64 = 1000;

/// The most values bound in one statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BINDS: usize = 30_000;

/// One value of a row, as both databases can hold it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

/// What a target column holds, which decides how a value is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Bool,
    Text,
    /// PostgreSQL's `bytea` (execution logs, which may hold NUL bytes); text in SQLite.
    Bytes,
}

/// A column of the target, in the target's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

pub(crate) type Row = Vec<Value>;

/// The source end: a read transaction on the source database.
#[async_trait]
pub(crate) trait Source: Send {
    /// The migrations this Ridge ships for the source's database.
    fn shipped(&self) -> &'static Migrator;
    /// `(version, success)` of the migrations applied to the source, or `None` when it has no
    /// migrations table at all.
    async fn applied(&mut self) -> Result<Option<Vec<(i64, bool)>>>;
    /// At most `limit` rows of `table` whose key is above `after`, by key, with `columns`.
    async fn page(
        &mut self,
        table: &Table,
        columns: &[Column],
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<Row>>;
}

/// The target end: one write transaction on the migrated target database.
#[async_trait]
pub(crate) trait Target: Send {
    /// The table's columns, in order; empty when the table does not exist.
    async fn columns(&mut self, table: &str) -> Result<Vec<Column>>;
    async fn count(&mut self, table: &str) -> Result<u64>;
    async fn insert(&mut self, table: &str, columns: &[Column], rows: Vec<Row>) -> Result<()>;
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// How far the copy of one table has got (told after every page and once at its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    pub table: &'static str,
    pub rows: u64,
    pub done: bool,
}

/// A package that a function or one of its versions refers to (what `--packages-from` copies).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PackageRef {
    pub project: ProjectId,
    pub function: FunctionId,
    pub md5: String,
}

/// A copy whose two ends have been opened and checked; nothing is written until [`run`].
///
/// [`run`]: StoreCopy::run
pub struct StoreCopy {
    source: Box<dyn Source>,
    target: Box<dyn Target>,
}

impl std::fmt::Debug for StoreCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCopy").finish_non_exhaustive()
    }
}

impl StoreCopy {
    /// Opens the source read-only and checks its schema, migrates the target and checks that
    /// it holds nothing. `SourceSchema` or `TargetNotEmpty` (or the connection errors) refuse.
    pub async fn prepare(from: &StoreUrl, to: &StoreUrl) -> Result<Self> {
        let mut source: Box<dyn Source> = match from {
            StoreUrl::Sqlite(path) => Box::new(crate::sqlite::copy::source(path).await?),
            StoreUrl::Postgres(url) => Box::new(crate::postgres::copy::source(url).await?),
        };
        check_schema(source.as_mut(), from).await?;
        let mut target: Box<dyn Target> = match to {
            StoreUrl::Sqlite(path) => Box::new(crate::sqlite::copy::target(path).await?),
            StoreUrl::Postgres(url) => Box::new(crate::postgres::copy::target(url).await?),
        };
        for table in TABLES {
            let rows = target.count(table.name).await?;
            if rows > 0 {
                return Err(StoreError::CopyTargetNotEmpty {
                    url: to.redacted(),
                    table: table.name,
                    rows,
                });
            }
        }
        Ok(Self { source, target })
    }

    /// Every package that a function or a version in the source refers to.
    pub async fn package_refs(&mut self) -> Result<Vec<PackageRef>> {
        let mut refs = BTreeSet::new();
        for (name, function) in [("functions", "id"), ("function_versions", "function_id")] {
            let table = table(name, "id");
            let columns: Vec<Column> = ["id", "project_id", function, "code"]
                .iter()
                .map(|c| Column {
                    name: (*c).to_owned(),
                    kind: Kind::Text,
                })
                .collect();
            let mut after = None;
            loop {
                let rows = self.source.page(&table, &columns, after, PAGE_ROWS).await?;
                let Some(last) = rows.last() else { break };
                after = Some(text(name, &last[0])?.to_owned());
                for row in &rows {
                    refs.insert(package_ref(name, row)?);
                }
            }
        }
        Ok(refs.into_iter().collect())
    }

    /// Copies every table, telling `progress` as it goes, and commits. Returns the rows copied
    /// per table, in [`TABLES`] order. On error nothing is committed: the target stays empty.
    pub async fn run(
        mut self,
        progress: &mut (dyn FnMut(CopyProgress) + Send),
    ) -> Result<Vec<(&'static str, u64)>> {
        let mut summary = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let columns = self.target.columns(table.name).await?;
            let key = columns
                .iter()
                .position(|c| c.name == table.key)
                .ok_or_else(|| StoreError::Corrupt {
                    table: table.name,
                    detail: format!("the target has no column `{}`", table.key),
                })?;
            let mut rows_copied = 0;
            let mut after = None;
            loop {
                let rows = self.source.page(table, &columns, after, PAGE_ROWS).await?;
                let Some(last) = rows.last() else { break };
                after = Some(text(table.name, &last[key])?.to_owned());
                rows_copied += rows.len() as u64;
                let per_statement = (MAX_BINDS / columns.len()).max(1);
                let mut rows = rows;
                while !rows.is_empty() {
                    let rest = rows.split_off(rows.len().min(per_statement));
                    self.target.insert(table.name, &columns, rows).await?;
                    rows = rest;
                }
                progress(CopyProgress {
                    table: table.name,
                    rows: rows_copied,
                    done: false,
                });
            }
            progress(CopyProgress {
                table: table.name,
                rows: rows_copied,
                done: true,
            });
            summary.push((table.name, rows_copied));
        }
        self.target.commit().await?;
        Ok(summary)
    }
}

/// The source's migrations must be exactly those this Ridge ships, all applied successfully.
async fn check_schema(source: &mut dyn Source, url: &StoreUrl) -> Result<()> {
    let refuse = |detail: String| StoreError::CopySourceSchema {
        url: url.redacted(),
        detail,
    };
    let Some(applied) = source.applied().await? else {
        return Err(refuse(
            "it has no migrations table: it is not a Ridge store".into(),
        ));
    };
    let shipped: BTreeSet<i64> = source.shipped().iter().map(|m| m.version).collect();
    for (version, success) in &applied {
        if !shipped.contains(version) {
            return Err(refuse(format!(
                "it has migration {version}, which this Ridge does not know: copy with the Ridge version that wrote it"
            )));
        }
        if !success {
            return Err(refuse(format!(
                "its migration {version} failed half-way: repair it first"
            )));
        }
    }
    let applied: BTreeSet<i64> = applied.iter().map(|(v, _)| *v).collect();
    if let Some(missing) = shipped.difference(&applied).next() {
        return Err(refuse(format!(
            "it lacks migration {missing}: migrate it first with `ridge serve --migrate-only --store {url}`"
        )));
    }
    Ok(())
}

fn text<'a>(table: &'static str, value: &'a Value) -> Result<&'a str> {
    match value {
        Value::Text(s) => Ok(s),
        other => Err(StoreError::Corrupt {
            table,
            detail: format!("expected text, found {other:?}"),
        }),
    }
}

/// `[id, project_id, function_id, code]` into the package it names.
fn package_ref(table: &'static str, row: &[Value]) -> Result<PackageRef> {
    let [id, project, function, code] = row else {
        return Err(StoreError::Corrupt {
            table,
            detail: format!("expected 4 columns, found {}", row.len()),
        });
    };
    let id = text(table, id)?;
    let r = crate::codec::RowReader::new(table, id);
    let code: Code = r.json("code", text(table, code)?)?;
    Ok(PackageRef {
        project: r.parse("project_id", text(table, project)?)?,
        function: r.parse("function_id", text(table, function)?)?,
        md5: code.md5sum().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table a migration creates, in either database's migrations.
    fn created_tables(dir: &str) -> BTreeSet<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut tables = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).expect("migrations directory") {
            let sql = std::fs::read_to_string(entry.expect("entry").path()).expect("migration");
            let mut words = sql.split_whitespace();
            while let Some(word) = words.next() {
                if word.eq_ignore_ascii_case("table") {
                    let name = words.next().expect("a table name");
                    if !name.eq_ignore_ascii_case("if") {
                        tables.insert(name.trim_matches(['(', '"']).to_owned());
                    }
                }
            }
        }
        tables
    }

    #[test]
    fn every_table_is_copied_or_deliberately_left() {
        let listed: BTreeSet<String> = TABLES
            .iter()
            .map(|t| t.name.to_owned())
            .chain(NOT_COPIED.iter().map(|t| (*t).to_owned()))
            .collect();
        for dir in ["migrations", "migrations-postgres"] {
            let created = created_tables(dir);
            assert!(created.len() >= 11, "{created:?}");
            let forgotten: Vec<_> = created.difference(&listed).collect();
            assert!(forgotten.is_empty(), "{dir}: not copied: {forgotten:?}");
        }
    }
}
