//! The store's one error enum.

use std::path::PathBuf;

use ridge_core::{
    AliasName, EventTriggerId, ExecutionId, FunctionId, JobId, ProjectId, RuntimeId, TokenId,
    UserId, WebhookId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("Runtime not found [id={id}]")]
    RuntimeNotFound { id: RuntimeId },
    #[error("Function not found [id={id}]")]
    FunctionNotFound { id: FunctionId },
    #[error("Execution not found [id={id}]")]
    ExecutionNotFound { id: ExecutionId },
    #[error("FunctionVersion not found [function_id={function_id}, version_number={version}]")]
    VersionNotFound {
        function_id: FunctionId,
        version: i64,
    },
    #[error("FunctionAlias not found [name={name}]")]
    AliasNotFound { name: AliasName },
    #[error("Webhook not found [id={id}]")]
    WebhookNotFound { id: WebhookId },
    #[error("Job not found [id={id}]")]
    JobNotFound { id: JobId },
    #[error("event trigger `{id}` not found")]
    EventTriggerNotFound { id: EventTriggerId },
    #[error("project `{id}` not found")]
    ProjectNotFound { id: ProjectId },
    #[error("project `{id}` already exists")]
    DuplicateProject { id: ProjectId },
    #[error("user `{id}` not found")]
    UserNotFound { id: UserId },
    #[error("project `{project}` already has a user named `{name}`")]
    DuplicateUser { project: ProjectId, name: String },
    #[error("token `{id}` not found")]
    TokenNotFound { id: TokenId },
    /// Qinling's message for a function that jobs, webhooks or aliases still use.
    #[error("The function is still associated with {reason}.")]
    FunctionInUse { reason: &'static str },
    #[error("The function version is still associated with {reason}.")]
    VersionInUse { reason: &'static str },
    #[error(
        "alias `{name}` is still used by {by}: delete them or point them at the function first"
    )]
    AliasInUse { name: AliasName, by: &'static str },
    #[error("Can not exceed maximum number({max}) of versions")]
    VersionLimit { max: i64 },
    #[error("Function package not changed since the latest version {latest}.")]
    VersionUnchanged { latest: i64 },
    #[error("Duplicate entry for function_aliases: an alias named `{name}` already exists")]
    DuplicateAlias { name: AliasName },
    #[error(
        "Duplicate entry for function_aliases: an alias already points at version {version} of function {function_id}"
    )]
    DuplicateAliasTarget {
        function_id: FunctionId,
        version: i64,
    },
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
    /// A store URL that names no store Ridge knows (the URL shown without its password).
    #[error("invalid store URL `{url}`: {detail}")]
    InvalidUrl { url: String, detail: String },
    /// The database refused or could not be reached at start-up (the URL without its password).
    #[error("cannot connect to the database `{url}`")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// The store was closed (or its writer task ended with the runtime) before the write.
    #[error("the store's writer has stopped")]
    WriterStopped,
    /// `ridge store copy` refuses a source whose schema is not exactly this Ridge's.
    #[error("cannot copy from `{url}`: {detail}")]
    CopySourceSchema { url: String, detail: String },
    /// `ridge store copy` only writes into an empty store.
    #[error(
        "the target store `{url}` already holds data ({rows} rows in `{table}`): copy into an empty database (drop and re-create it first)"
    )]
    CopyTargetNotEmpty {
        url: String,
        table: &'static str,
        rows: u64,
    },
    /// A source value that the target's column cannot hold.
    #[error("cannot copy `{table}`.`{column}`: {detail}")]
    CopyValue {
        table: String,
        column: String,
        detail: String,
    },
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A failure of the SQLite store's hot path, which calls SQLite directly (`sqlite::native`).
    #[error("database error")]
    Sqlite(#[source] rusqlite::Error),
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// Whether the statement broke a unique constraint.
pub(crate) fn is_unique(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn is_foreign_key(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}
