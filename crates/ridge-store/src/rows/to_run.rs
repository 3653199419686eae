//! A function with what running it needs, read in one row ([`crate::Store::get_function_to_run`]):
//! the function's columns as they are, its runtime's and its project's quota row's renamed
//! (`rt_*`, `q_*`), since `functions`, `runtimes` and `quotas` share column names.

use std::sync::LazyLock;

use ridge_core::Runtime;
use ridge_core::tenancy::QuotaOverrides;
use sqlx::FromRow;

use super::functions::FunctionRow;
use super::runtimes::RuntimeRow;
use super::tenancy::QuotaRow;
use crate::{FunctionToRun, Result};

/// The query: the function whose id is `$1` (SQLite reads `$1` as PostgreSQL does).
pub(crate) static SQL: LazyLock<String> = LazyLock::new(|| {
    let function: Vec<String> = super::functions::COLUMNS
        .split(',')
        .map(|column| format!("f.{}", column.trim()))
        .collect();
    format!(
        "SELECT {}, \
           r.id AS rt_id, r.project_id AS rt_project_id, r.name AS rt_name, \
           r.description AS rt_description, r.image AS rt_image, r.status AS rt_status, \
           r.is_public AS rt_is_public, r.trusted AS rt_trusted, \
           r.created_at AS rt_created_at, r.updated_at AS rt_updated_at, \
           q.functions AS q_functions, q.package_bytes AS q_package_bytes, \
           q.concurrent_executions AS q_concurrent_executions, \
           q.executions_per_second AS q_executions_per_second, q.jobs AS q_jobs \
         FROM functions f JOIN runtimes r ON r.id = f.runtime_id \
         LEFT JOIN quotas q ON q.project_id = f.project_id \
         WHERE f.id = $1",
        function.join(", ")
    )
});

crate::rows::sqlx_row! {
    pub(crate) struct JoinedRuntime {
        rt_id: String,
        rt_project_id: String,
        rt_name: Option<String>,
        rt_description: Option<String>,
        rt_image: String,
        rt_status: String,
        rt_is_public: bool,
        rt_trusted: bool,
        rt_created_at: String,
        rt_updated_at: Option<String>,
    }
}

crate::rows::sqlx_row! {
    /// All NULL when the project has no overrides (the left join found no row).
    pub(crate) struct JoinedQuotas {
        q_functions: Option<i64>,
        q_package_bytes: Option<i64>,
        q_concurrent_executions: Option<i64>,
        q_executions_per_second: Option<i64>,
        q_jobs: Option<i64>,
    }
}

native_row!(JoinedRuntime {
    rt_id,
    rt_project_id,
    rt_name,
    rt_description,
    rt_image,
    rt_status,
    rt_is_public,
    rt_trusted,
    rt_created_at,
    rt_updated_at,
});

native_row!(JoinedQuotas {
    q_functions,
    q_package_bytes,
    q_concurrent_executions,
    q_executions_per_second,
    q_jobs,
});

/// Reads one row of [`SQL`] through sqlx (PostgreSQL's store).
pub(crate) fn read<'r, R>(row: &'r R) -> Result<FunctionToRun>
where
    R: sqlx::Row,
    FunctionRow: sqlx::FromRow<'r, R>,
    JoinedRuntime: sqlx::FromRow<'r, R>,
    JoinedQuotas: sqlx::FromRow<'r, R>,
{
    assemble(
        FunctionRow::from_row(row)?,
        JoinedRuntime::from_row(row)?,
        JoinedQuotas::from_row(row)?,
    )
}

/// Reads one row of [`SQL`] through SQLite's C API (`sqlite::native`).
pub(crate) fn read_native(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<FunctionToRun>> {
    let runtime = FunctionRow::NATIVE_FIELDS.len();
    let quotas = runtime + JoinedRuntime::NATIVE_FIELDS.len();
    Ok(assemble(
        FunctionRow::from_native(row, 0)?,
        JoinedRuntime::from_native(row, runtime)?,
        JoinedQuotas::from_native(row, quotas)?,
    ))
}

fn assemble(function: FunctionRow, r: JoinedRuntime, q: JoinedQuotas) -> Result<FunctionToRun> {
    let function = ridge_core::Function::try_from(function)?;
    let runtime = Runtime::try_from(RuntimeRow {
        id: r.rt_id,
        project_id: r.rt_project_id,
        name: r.rt_name,
        description: r.rt_description,
        image: r.rt_image,
        status: r.rt_status,
        is_public: r.rt_is_public,
        trusted: r.rt_trusted,
        created_at: r.rt_created_at,
        updated_at: r.rt_updated_at,
    })?;
    let quotas = QuotaOverrides::try_from(QuotaRow {
        project_id: function.project_id.as_str().to_owned(),
        functions: q.q_functions,
        package_bytes: q.q_package_bytes,
        concurrent_executions: q.q_concurrent_executions,
        executions_per_second: q.q_executions_per_second,
        jobs: q.q_jobs,
    })?;
    Ok(FunctionToRun {
        function,
        runtime,
        quotas,
    })
}
