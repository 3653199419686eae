//! A row of `jobs` as both stores read it, and its columns.

use ridge_core::{CronPattern, Job};

use super::target;
use crate::codec::RowReader;
use crate::{Result, StoreError};

pub(crate) const TABLE: &str = "jobs";

pub(crate) const COLUMNS: &str = "id, project_id, name, function_id, function_version, function_alias, \
                       function_input, pattern, status, first_execution_time, \
                       next_execution_time, count, created_at, updated_at";

crate::rows::sqlx_row! {
    pub(crate) struct JobRow {
        id: String,
        project_id: String,
        name: Option<String>,
        function_id: Option<String>,
        function_version: i64,
        function_alias: Option<String>,
        function_input: Option<String>,
        pattern: Option<String>,
        status: String,
        first_execution_time: String,
        next_execution_time: String,
        count: Option<i64>,
        created_at: String,
        updated_at: Option<String>,
    }
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;

    fn try_from(row: JobRow) -> Result<Self> {
        let r = RowReader::new(TABLE, &row.id);
        let pattern = match row.pattern.as_deref() {
            Some(p) => Some(CronPattern::parse(p).map_err(|e| r.corrupt("pattern", e))?),
            None => None,
        };
        Ok(Job {
            id: r.parse("id", &row.id)?,
            project_id: r.parse("project_id", &row.project_id)?,
            target: target::read(
                &r,
                row.function_id.as_deref(),
                Some(row.function_version),
                row.function_alias.as_deref(),
            )?,
            status: r.parse("status", &row.status)?,
            first_execution_time: r.ts("first_execution_time", &row.first_execution_time)?,
            next_execution_time: r.ts("next_execution_time", &row.next_execution_time)?,
            created_at: r.ts("created_at", &row.created_at)?,
            updated_at: r.opt_ts("updated_at", row.updated_at.as_deref())?,
            pattern,
            name: row.name,
            function_input: row.function_input,
            count: row.count,
        })
    }
}
