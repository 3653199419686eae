//! A row of `runtimes` as both stores read it, and its columns.

use ridge_core::Runtime;

use crate::codec::RowReader;
use crate::{Result, StoreError};

pub(crate) const TABLE: &str = "runtimes";

pub(crate) const COLUMNS: &str =
    "id, project_id, name, description, image, status, is_public, trusted, created_at, updated_at";

crate::rows::sqlx_row! {
    pub(crate) struct RuntimeRow {
        pub(crate) id: String,
        pub(crate) project_id: String,
        pub(crate) name: Option<String>,
        pub(crate) description: Option<String>,
        pub(crate) image: String,
        pub(crate) status: String,
        pub(crate) is_public: bool,
        pub(crate) trusted: bool,
        pub(crate) created_at: String,
        pub(crate) updated_at: Option<String>,
    }
}

impl TryFrom<RuntimeRow> for Runtime {
    type Error = StoreError;

    fn try_from(row: RuntimeRow) -> Result<Self> {
        let r = RowReader::new(TABLE, &row.id);
        Ok(Runtime {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            status: r.parse("status", &row.status)?,
            created_at: r.ts("created_at", &row.created_at)?,
            updated_at: r.opt_ts("updated_at", row.updated_at.as_deref())?,
            name: row.name,
            description: row.description,
            image: row.image,
            is_public: row.is_public,
            trusted: row.trusted,
        })
    }
}
