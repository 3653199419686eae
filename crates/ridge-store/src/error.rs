//! The store's one error enum.

use std::path::PathBuf;

use ridge_core::{ExecutionId, FunctionId, RuntimeId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Runtime not found [id={id}]")]
    RuntimeNotFound { id: RuntimeId },
    #[error("Function not found [id={id}]")]
    FunctionNotFound { id: FunctionId },
    #[error("Execution not found [id={id}]")]
    ExecutionNotFound { id: ExecutionId },
    #[error("Runtime {id} is still in use.")]
    RuntimeInUse { id: RuntimeId },
    /// A list filter that cannot be applied (a single-valued operator given no value or several).
    #[error("invalid filter on `{column}`: {detail}")]
    InvalidFilter {
        column: &'static str,
        detail: String,
    },
    /// A value that the database cannot hold (an integer past `i64::MAX`).
    #[error("`{field}` value {value} is too large to store")]
    OutOfRange { field: &'static str, value: u64 },
    /// A stored row could not be read back (a value outside what this Ridge writes).
    #[error("corrupt row in `{table}`: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("cannot create the database directory `{}`", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}
