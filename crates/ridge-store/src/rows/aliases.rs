//! A row of `function_aliases` as both stores read it, and its columns.

use ridge_core::Alias;

use crate::codec::RowReader;
use crate::{Result, StoreError};

pub(crate) const TABLE: &str = "function_aliases";

pub(crate) const COLUMNS: &str =
    "id, project_id, name, function_id, function_version, description, created_at, updated_at";

crate::rows::sqlx_row! {
    pub(crate) struct AliasRow {
        id: String,
        project_id: String,
        name: String,
        function_id: String,
        function_version: i64,
        description: Option<String>,
        created_at: String,
        updated_at: Option<String>,
    }
}

impl TryFrom<AliasRow> for Alias {
    type Error = StoreError;

    fn try_from(row: AliasRow) -> Result<Self> {
        let r = RowReader::new(TABLE, &row.id);
        Ok(Alias {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            name: r.parse("name", &row.name)?,
            function_id: r.parse("function_id", &row.function_id)?,
            created_at: r.ts("created_at", &row.created_at)?,
            updated_at: r.opt_ts("updated_at", row.updated_at.as_deref())?,
            function_version: row.function_version,
            description: row.description,
        })
    }
}
