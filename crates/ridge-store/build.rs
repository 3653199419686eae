//! Embeds the schema's migrations: `migrations/` (SQLite) and `migrations-postgres/`, each file
//! as `(version, description, include_str!(...))` in `$OUT_DIR/migrations.rs`, in the order of
//! their versions, for `src/migrations.rs` to turn into sqlx migrators. Cargo reruns this when
//! a file in either directory is added or changed.
//!
//! This is what `sqlx::migrate!` does, without its proc macro: that macro compiled sqlx's
//! drivers, SQLite's C sources and TLS a second time, for the host, about 160 s of CPU in every
//! clean build (docs/architecture.md, "Tests and CI time").

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut code: Vec<String> = Vec::new();
    for (name, dir) in [
        ("SQLITE", "migrations"),
        ("POSTGRES", "migrations-postgres"),
    ] {
        println!("cargo:rerun-if-changed={dir}");
        let path = Path::new(&manifest).join(dir);
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .map(|entry| entry.expect("a directory entry").file_name())
            .map(|file| file.into_string().expect("a migration's name is UTF-8"))
            .filter(|file| file.ends_with(".sql"))
            .map(|file| {
                let (version, description) = parse(&file);
                (version, description, file)
            })
            .collect();
        files.sort();
        for pair in files.windows(2) {
            assert!(
                pair[0].0 != pair[1].0,
                "migrations {:?} and {:?} have the same version",
                pair[0].2,
                pair[1].2
            );
        }
        code.push(format!(
            "pub(crate) const {name}: &[(i64, &str, &str)] = &["
        ));
        for (version, description, file) in files {
            let full = path.join(&file);
            code.push(format!(
                "    ({version}, {description:?}, include_str!({:?})),",
                full.display()
            ));
        }
        code.push("];".to_owned());
    }
    std::fs::write(
        Path::new(&out).join("migrations.rs"),
        code.join("\n") + "\n",
    )
    .expect("writing migrations.rs");
}

/// A migration's version and description from its file name, `<VERSION>_<DESCRIPTION>.sql`, as
/// sqlx reads them (the description's `_` read as spaces); the build fails on any other name,
/// where sqlx would skip the file without a word.
fn parse(file: &str) -> (i64, String) {
    let named = || format!("migration {file:?}: name it <VERSION>_<DESCRIPTION>.sql");
    let (version, rest) = file
        .split_once('_')
        .unwrap_or_else(|| panic!("{}", named()));
    let version: i64 = version.parse().unwrap_or_else(|_| panic!("{}", named()));
    let description = rest
        .strip_suffix(".sql")
        .unwrap_or_else(|| panic!("{}", named()));
    assert!(
        !description.ends_with(".up") && !description.ends_with(".down"),
        "migration {file:?}: Ridge's migrations are simple ones, without up and down files"
    );
    (version, description.replace('_', " "))
}
