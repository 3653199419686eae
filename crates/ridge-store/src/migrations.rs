//! The schema's migrations, embedded at compile time by `build.rs` and run by sqlx's migrator:
//! what `sqlx::migrate!` gives, built without its proc macro (see `build.rs` for why). Each
//! migration's checksum is the SHA-384 of its SQL, as sqlx's own reading of the directory
//! computes it, so databases migrated by either agree (checked by this module's tests).

use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::migrate::{Migration, MigrationType, Migrator};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// SQLite's schema (`migrations/`).
pub(crate) static SQLITE: LazyLock<Migrator> = LazyLock::new(|| migrator(embedded::SQLITE));

/// PostgreSQL's schema (`migrations-postgres/`).
pub(crate) static POSTGRES: LazyLock<Migrator> = LazyLock::new(|| migrator(embedded::POSTGRES));

fn migrator(files: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|&(version, description, sql)| {
            let no_tx = sql.starts_with("-- no-transaction");
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                no_tx,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// What sqlx makes of a migrations directory read at run time, the reading `migrate!` uses.
    async fn read_by_sqlx(dir: &str) -> Migrator {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        Migrator::new(path).await.expect("sqlx reads the directory")
    }

    fn summary(migrator: &Migrator) -> Vec<(i64, String, Vec<u8>, bool, bool)> {
        migrator
            .iter()
            .map(|m| {
                let reversible = m.migration_type.is_reversible();
                (
                    m.version,
                    m.description.to_string(),
                    m.checksum.to_vec(),
                    m.no_tx,
                    reversible,
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn the_embedded_migrations_are_sqlxs_own_reading_of_each_directory() {
        for (embedded, dir) in [
            (&*SQLITE, "migrations"),
            (&*POSTGRES, "migrations-postgres"),
        ] {
            let expected = summary(&read_by_sqlx(dir).await);
            assert!(expected.len() >= 12, "{dir}: {} migrations", expected.len());
            assert_eq!(summary(embedded), expected, "{dir}");
        }
    }
}
