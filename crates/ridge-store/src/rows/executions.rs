//! A row of `executions` as both stores read it, and its columns.

use ridge_core::{Execution, ExecutionInput};

use crate::codec::RowReader;
use crate::{Result, StoreError};

pub(crate) const TABLE: &str = "executions";

/// Every column but `logs`, which is read only on its own.
pub(crate) const COLUMNS: &str = "id, project_id, function_id, function_version, function_alias, \
                       description, status, sync, input, result, started_at, created_at, updated_at, node";

crate::rows::sqlx_row! {
    pub(crate) struct ExecutionRow {
        id: String,
        project_id: String,
        function_id: String,
        function_version: i64,
        function_alias: Option<String>,
        description: Option<String>,
        status: String,
        sync: bool,
        input: Option<String>,
        result: Option<String>,
        started_at: Option<String>,
        created_at: String,
        updated_at: Option<String>,
        node: Option<String>,
    }
}

impl ExecutionRow {
    /// The execution's id, as stored.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

native_row!(ExecutionRow {
    id,
    project_id,
    function_id,
    function_version,
    function_alias,
    description,
    status,
    sync,
    input,
    result,
    started_at,
    created_at,
    updated_at,
    node,
});

impl TryFrom<ExecutionRow> for Execution {
    type Error = StoreError;

    fn try_from(row: ExecutionRow) -> Result<Self> {
        let r = RowReader::new(TABLE, &row.id);
        let input = match row.input.as_deref() {
            Some(text) => Some(ExecutionInput::from_stored(r.json_value("input", text)?)),
            None => None,
        };
        let result = match row.result.as_deref() {
            Some(text) => Some(r.json("result", text)?),
            None => None,
        };
        Ok(Execution {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            function_id: r.parse("function_id", &row.function_id)?,
            status: r.parse("status", &row.status)?,
            started_at: r.opt_ts("started_at", row.started_at.as_deref())?,
            created_at: r.ts("created_at", &row.created_at)?,
            updated_at: r.opt_ts("updated_at", row.updated_at.as_deref())?,
            input,
            result,
            function_version: row.function_version,
            function_alias: row.function_alias,
            description: row.description,
            sync: row.sync,
            node: row.node,
        })
    }
}
