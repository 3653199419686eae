//! A row of `function_versions` as both stores read it, and its columns.

use ridge_core::{Entry, FunctionVersion};

use crate::codec::RowReader;
use crate::{Result, StoreError};

pub(crate) const TABLE: &str = "function_versions";

pub(crate) const COLUMNS: &str = "id, project_id, function_id, version_number, description, code, entry, \
                       cpu, memory_size, timeout, count, created_at, updated_at";

crate::rows::sqlx_row! {
    pub(crate) struct VersionRow {
        id: String,
        project_id: String,
        function_id: String,
        version_number: i64,
        description: Option<String>,
        code: String,
        entry: String,
        cpu: i64,
        memory_size: i64,
        timeout: i64,
        count: i64,
        created_at: String,
        updated_at: Option<String>,
    }
}

impl TryFrom<VersionRow> for FunctionVersion {
    type Error = StoreError;

    fn try_from(row: VersionRow) -> Result<Self> {
        let r = RowReader::new(TABLE, &row.id);
        Ok(FunctionVersion {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            function_id: r.parse("function_id", &row.function_id)?,
            code: r.json("code", &row.code)?,
            entry: Entry::try_from(row.entry).map_err(|e| r.corrupt("entry", e))?,
            limits: r.limits(row.cpu, row.memory_size, row.timeout)?,
            created_at: r.ts("created_at", &row.created_at)?,
            updated_at: r.opt_ts("updated_at", row.updated_at.as_deref())?,
            version_number: row.version_number,
            description: row.description,
            count: row.count,
        })
    }
}
