//! What a function's `entry` means for WebAssembly: which module file, which export.
//!
//! Entry `module.function` names the file `module.wasm` in the package (`pkg.mod.function`:
//! `pkg/mod.wasm`) and the export to call. `main` (Qinling's default entry is `main.main`)
//! calls the WASI command's `_start` when the module exports one; any other name calls that
//! export, after the reactor's `_initialize` if it has one. If the named file is missing and
//! the package holds exactly one `.wasm` file at its top level, that one is used, so a bare
//! `.wasm` upload runs whatever the entry's module part says.

use std::path::{Path, PathBuf};

use ridge_core::Entry;

use crate::WasmError;

/// The file extension of a module in a package.
pub const MODULE_EXTENSION: &str = "wasm";

/// The export a WASI command runs.
pub const START_EXPORT: &str = "_start";

/// The export a WASI reactor runs once before any other.
pub(crate) const INITIALIZE_EXPORT: &str = "_initialize";

/// A module file found in a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModuleFile {
    pub path: PathBuf,
    /// The path inside the package, for messages.
    pub name: String,
}

/// Finds the module file `entry` names in the unpacked package at `package_dir`.
pub(crate) fn locate(package_dir: &Path, entry: &Entry) -> Result<ModuleFile, WasmError> {
    let (module, _) = entry.split();
    let expected = format!("{}.{MODULE_EXTENSION}", module.replace('.', "/"));
    let path = package_dir.join(&expected);
    if path.is_file() {
        return Ok(ModuleFile {
            path,
            name: expected,
        });
    }
    let read = |source| WasmError::Read {
        path: package_dir.to_owned(),
        source,
    };
    let mut top_level = Vec::new();
    for dirent in std::fs::read_dir(package_dir).map_err(read)? {
        let dirent = dirent.map_err(read)?;
        let path = dirent.path();
        if path.extension().is_some_and(|e| e == MODULE_EXTENSION) && path.is_file() {
            top_level.push(path);
        }
    }
    top_level.sort();
    match top_level.as_slice() {
        [only] => Ok(ModuleFile {
            name: only
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path: only.clone(),
        }),
        [] => Err(WasmError::ModuleNotFound {
            entry: entry.to_string(),
            expected,
            found: ", and no `.wasm` file at its top level".to_owned(),
        }),
        several => Err(WasmError::ModuleNotFound {
            entry: entry.to_string(),
            expected,
            found: format!(
                ", and {} `.wasm` files at its top level ({}) to choose from",
                several.len(),
                several
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| format!("`{}`", n.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

/// The export `entry` calls, given what the module exports.
pub(crate) fn export_name(entry: &Entry, exports: impl Fn(&str) -> bool) -> String {
    let (_, function) = entry.split();
    if function == "main" && exports(START_EXPORT) {
        START_EXPORT.to_owned()
    } else {
        function.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(s: &str) -> Entry {
        Entry::try_from(s.to_owned()).expect("valid entry")
    }

    #[test]
    fn the_entry_names_the_file_else_the_only_module_is_used() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("pkg")).expect("mkdir");
        std::fs::write(dir.path().join("pkg/hello.wasm"), b"").expect("write");
        let found = locate(dir.path(), &entry("pkg.hello.main")).expect("found");
        assert_eq!(found.name, "pkg/hello.wasm");

        // Nothing at the top level.
        let err = locate(dir.path(), &entry("main.main")).expect_err("missing");
        assert!(err.to_string().contains("no `main.wasm`"), "{err}");
        assert!(err.is_function_fault());

        std::fs::write(dir.path().join("upload.wasm"), b"").expect("write");
        let found = locate(dir.path(), &entry("main.main")).expect("the only one");
        assert_eq!(found.name, "upload.wasm");

        std::fs::write(dir.path().join("other.wasm"), b"").expect("write");
        let err = locate(dir.path(), &entry("main.main")).expect_err("ambiguous");
        assert!(
            err.to_string().contains("2 `.wasm` files") && err.to_string().contains("`other.wasm`"),
            "{err}"
        );
    }

    #[test]
    fn main_runs_the_command_and_other_names_their_export() {
        let command = |name: &str| name == START_EXPORT;
        assert_eq!(export_name(&entry("main.main"), command), "_start");
        assert_eq!(export_name(&entry("main.main"), |_| false), "main");
        assert_eq!(export_name(&entry("main.handle"), command), "handle");
        assert_eq!(export_name(&entry("main._start"), command), "_start");
    }
}
