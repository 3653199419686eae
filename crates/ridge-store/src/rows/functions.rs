//! A row of `functions` as both stores read it, and its columns.

use ridge_core::{Entry, Function};

use crate::codec::RowReader;
use crate::{Result, StoreError};

pub(crate) const TABLE: &str = "functions";

pub(crate) const COLUMNS: &str = "id, project_id, name, description, runtime_id, code, entry, cpu, \
                       memory_size, timeout, network, count, latest_version, created_at, updated_at";

crate::rows::sqlx_row! {
    pub(crate) struct FunctionRow {
        id: String,
        project_id: String,
        name: Option<String>,
        description: Option<String>,
        runtime_id: String,
        code: String,
        entry: String,
        cpu: i64,
        memory_size: i64,
        timeout: i64,
        network: String,
        count: i64,
        latest_version: i64,
        created_at: String,
        updated_at: Option<String>,
    }
}

native_row!(FunctionRow {
    id,
    project_id,
    name,
    description,
    runtime_id,
    code,
    entry,
    cpu,
    memory_size,
    timeout,
    network,
    count,
    latest_version,
    created_at,
    updated_at,
});

impl TryFrom<FunctionRow> for Function {
    type Error = StoreError;

    fn try_from(row: FunctionRow) -> Result<Self> {
        let r = RowReader::new(TABLE, &row.id);
        Ok(Function {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            runtime_id: r.parse("runtime_id", &row.runtime_id)?,
            code: r.json("code", &row.code)?,
            entry: Entry::try_from(row.entry).map_err(|e| r.corrupt("entry", e))?,
            limits: r.limits(row.cpu, row.memory_size, row.timeout)?,
            network: r.parse("network", &row.network)?,
            created_at: r.ts("created_at", &row.created_at)?,
            updated_at: r.opt_ts("updated_at", row.updated_at.as_deref())?,
            count: row.count,
            latest_version: row.latest_version,
            name: row.name,
            description: row.description,
        })
    }
}
