//! The SQLite ends of `ridge store copy` (see [`crate::copy`]): a read-only source that is never
//! migrated or created, and a target migrated by [`SqliteStore::open`] and written in one
//! transaction.

use std::path::Path;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Sqlite, Transaction};

use super::{BUSY_TIMEOUT, SqliteStore};
use crate::copy::{self, Column, Row, Source, Table, Target, count_rows, decode_row, kind_of};
use crate::{Result, StoreError};

pub(crate) struct SqliteSource {
    tx: Transaction<'static, Sqlite>,
}

/// Opens the existing database at `path` read-only, in a read transaction.
pub(crate) async fn source(path: &Path) -> Result<SqliteSource> {
    let shown = format!("sqlite://{}", path.display());
    if !path.is_file() {
        return Err(StoreError::CopySourceSchema {
            url: shown,
            detail: "no such database file".into(),
        });
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(BUSY_TIMEOUT);
    let pool = sqlx::pool::PoolOptions::<Sqlite>::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Connect { url: shown, source })?;
    Ok(SqliteSource {
        tx: pool.begin().await?,
    })
}

#[async_trait]
impl Source for SqliteSource {
    fn shipped(&self) -> &'static Migrator {
        &crate::migrations::SQLITE
    }

    async fn applied(&mut self) -> Result<Option<Vec<(i64, bool)>>> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut *self.tx)
        .await?;
        if exists == 0 {
            return Ok(None);
        }
        Ok(Some(
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut *self.tx)
                .await?,
        ))
    }

    async fn page(
        &mut self,
        table: &Table,
        columns: &[Column],
        after: Option<String>,
        limit: u64,
    ) -> Result<Vec<Row>> {
        let rows = copy::select_page::<Sqlite>(table, columns, after, limit)
            .build()
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|row| decode_row(table.name, row)).collect()
    }
}

pub(crate) struct SqliteTarget {
    store: SqliteStore,
    tx: Transaction<'static, Sqlite>,
}

/// Opens (creating it if missing) and migrates the database at `path`, in a write transaction.
pub(crate) async fn target(path: &Path) -> Result<SqliteTarget> {
    let store = SqliteStore::open(path).await?;
    let tx = store.pool.begin().await?;
    Ok(SqliteTarget { store, tx })
}

#[async_trait]
impl Target for SqliteTarget {
    async fn columns(&mut self, table: &str) -> Result<Vec<Column>> {
        let columns: Vec<(String, String)> =
            sqlx::query_as("SELECT name, type FROM pragma_table_info(?) ORDER BY cid")
                .bind(table)
                .fetch_all(&mut *self.tx)
                .await?;
        Ok(columns
            .into_iter()
            .map(|(name, declared)| Column {
                kind: kind_of(&declared),
                name,
            })
            .collect())
    }

    async fn count(&mut self, table: &str) -> Result<u64> {
        let rows: i64 = sqlx::query_scalar(&count_rows(table))
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(rows.unsigned_abs())
    }

    async fn insert(&mut self, table: &str, columns: &[Column], rows: Vec<Row>) -> Result<()> {
        copy::insert_rows::<Sqlite>(table, columns, rows)?
            .build()
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.tx.commit().await?;
        self.store.close().await;
        Ok(())
    }
}
