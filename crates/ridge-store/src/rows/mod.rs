//! How each table's row reads back into the domain, shared by every store: both schemas have
//! the same columns with the same conventions (UUID text ids, fixed-width UTC RFC 3339 text
//! timestamps, JSON text), so only the SQL that writes and selects rows differs per store.

/// `from_native`: the row read from a row of SQLite's C API (`rusqlite`, the SQLite store's hot
/// path, `sqlite::native`), each field from the column of its name, as sqlx's `FromRow` reads
/// it. Listing every field is checked by the compiler (a struct literal names them all).
macro_rules! native_row {
    ($row:ident { $($field:ident),* $(,)? }) => {
        impl $row {
            pub(crate) fn from_native(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(Self {
                    $($field: row.get(stringify!($field))?,)*
                })
            }
        }
    };
}

pub(crate) mod aliases;
pub(crate) mod event_triggers;
pub(crate) mod executions;
pub(crate) mod functions;
pub(crate) mod jobs;
pub(crate) mod runtimes;
pub(crate) mod target;
pub(crate) mod tenancy;
pub(crate) mod to_run;
pub(crate) mod versions;
pub(crate) mod webhooks;
