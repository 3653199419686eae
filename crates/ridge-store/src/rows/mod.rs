//! How each table's row reads back into the domain, shared by every store: both schemas have
//! the same columns with the same conventions (UUID text ids, fixed-width UTC RFC 3339 text
//! timestamps, JSON text), so only the SQL that writes and selects rows differs per store.

/// `from_native`: the row read from a row of SQLite's C API (`rusqlite`, the SQLite store's hot
/// path, `sqlite::native`), the fields from consecutive columns in the order they are listed,
/// from the `first`-th column on (0 but where a query joins several rows in one).
/// Listing every field is checked by the compiler (a struct literal names them all); that each
/// column has its field's name, by `debug_assert` on every row the tests read (a column added
/// to a query's list in the wrong place fails them). By index, not by name: looking a name up
/// compares it with every column's (about 1% of the server's CPU per warm execution).
macro_rules! native_row {
    ($row:ident { $($field:ident),* $(,)? }) => {
        impl $row {
            /// The fields, in the order of the columns they are read from.
            pub(crate) const NATIVE_FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            pub(crate) fn from_native(
                row: &rusqlite::Row<'_>,
                first: usize,
            ) -> rusqlite::Result<Self> {
                debug_assert_eq!(
                    $crate::rows::column_names(row, first, Self::NATIVE_FIELDS.len()),
                    Self::NATIVE_FIELDS,
                    "the columns from the {first}-th on, as `{}` reads them",
                    stringify!($row),
                );
                let mut column = first..;
                Ok(Self {
                    $($field: row.get(column.next().expect("an unbounded range"))?,)*
                })
            }
        }
    };
}

/// A row struct that sqlx reads by column name (`sqlx::FromRow`, for any database), as
/// `#[derive(sqlx::FromRow)]` would make it: each field from the column of its name. Written
/// out here rather than derived, since sqlx's proc macros would bring its drivers, SQLite's C
/// sources and TLS into every build a second time (`build.rs`).
macro_rules! sqlx_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $row:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident: $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $row {
            $($(#[$field_meta])* $field_vis $field: $ty,)*
        }

        impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for $row
        where
            &'r str: sqlx::ColumnIndex<R>,
            $($ty: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,)*
        {
            fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
                Ok(Self {
                    $($field: row.try_get(stringify!($field))?,)*
                })
            }
        }
    };
}
pub(crate) use sqlx_row;

/// The names of `count` columns of `row`'s statement from the `first`-th on (fewer where it
/// has fewer), for [`native_row!`]'s check (compiled in release builds, never called there).
pub(crate) fn column_names<'r>(
    row: &'r rusqlite::Row<'_>,
    first: usize,
    count: usize,
) -> Vec<&'r str> {
    let statement: &rusqlite::Statement<'_> = row.as_ref();
    (first..first + count)
        .map_while(|i| statement.column_name(i).ok())
        .collect()
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
