//! The PostgreSQL ends of `ridge store copy` (see [`crate::copy`]): a source read in one
//! `REPEATABLE READ, READ ONLY` transaction (a snapshot; never migrated), and a target migrated
//! by [`PostgresStore::connect`] and written in one transaction.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::PostgresStore;
use crate::copy::{self, Column, Row, Source, Table, Target, count_rows, decode_row, kind_of};
use crate::url::redact;
use crate::{Result, StoreError};

pub(crate) struct PgSource {
    tx: Transaction<'static, Postgres>,
}

/// Connects to the database at `url` without migrating it, in a read-only snapshot.
pub(crate) async fn source(url: &str) -> Result<PgSource> {
    let shown = redact(url);
    let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::InvalidUrl {
        url: shown.clone(),
        detail: source.to_string(),
    })?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options.application_name("ridge store copy"))
        .await
        .map_err(|source| StoreError::Connect { url: shown, source })?;
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(PgSource { tx })
}

#[async_trait]
impl Source for PgSource {
    fn shipped(&self) -> &'static Migrator {
        &crate::migrations::POSTGRES
    }

    async fn applied(&mut self) -> Result<Option<Vec<(i64, bool)>>> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut *self.tx)
            .await?;
        if !exists {
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
        let rows = copy::select_page::<Postgres>(table, columns, after, limit)
            .build()
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(|row| decode_row(table.name, row)).collect()
    }
}

pub(crate) struct PgTarget {
    store: PostgresStore,
    tx: Transaction<'static, Postgres>,
}

/// Connects to the database at `url` and migrates it, in a write transaction.
pub(crate) async fn target(url: &str) -> Result<PgTarget> {
    let store = PostgresStore::connect(url).await?;
    let tx = store.pool.begin().await?;
    Ok(PgTarget { store, tx })
}

#[async_trait]
impl Target for PgTarget {
    async fn columns(&mut self, table: &str) -> Result<Vec<Column>> {
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
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
        copy::insert_rows::<Postgres>(table, columns, rows)?
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
