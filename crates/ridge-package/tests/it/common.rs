//! Zip archives built in memory, and a store in a temporary directory.

#![allow(
    dead_code,
    reason = "each test file uses a different part of this module"
)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use ridge_core::{FunctionId, ProjectId};
use ridge_package::{LocalPackageStore, UnpackLimits};
use tempfile::TempDir;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

/// One entry of a test archive.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Executable(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

pub fn zip_of(entries: &[Entry<'_>]) -> Vec<u8> {
    build(entries, CompressionMethod::Deflated)
}

pub fn stored_zip_of(entries: &[Entry<'_>]) -> Vec<u8> {
    build(entries, CompressionMethod::Stored)
}

fn build(entries: &[Entry<'_>], method: CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for entry in entries {
        match entry {
            Entry::File(name, content) => {
                zip.start_file(*name, options.unix_permissions(0o644))
                    .expect("start file");
                zip.write_all(content).expect("write");
            }
            Entry::Executable(name, content) => {
                zip.start_file(*name, options.unix_permissions(0o755))
                    .expect("start file");
                zip.write_all(content).expect("write");
            }
            Entry::Dir(name) => zip.add_directory(*name, options).expect("add dir"),
            Entry::Symlink(name, target) => zip
                .add_symlink(*name, *target, options)
                .expect("add symlink"),
        }
    }
    zip.finish().expect("finish").into_inner()
}

/// A hello-world package.
pub fn hello() -> Vec<u8> {
    zip_of(&[Entry::File(
        "main.py",
        b"def main(name='world', **kw):\n    return f'hello {name}'\n",
    )])
}

pub struct Fixture {
    pub dir: TempDir,
    pub store: LocalPackageStore,
    pub project: ProjectId,
    pub function: FunctionId,
}

impl Fixture {
    pub fn new(limits: UnpackLimits) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = LocalPackageStore::new(
            dir.path().join("packages"),
            dir.path().join("unpacked"),
            limits,
        );
        Self {
            dir,
            store,
            project: ProjectId::default_project(),
            function: FunctionId::new(),
        }
    }

    pub fn packages_dir(&self) -> PathBuf {
        self.dir.path().join("packages").join(self.project.as_str())
    }

    pub fn unpacked_dir(&self) -> PathBuf {
        self.dir.path().join("unpacked").join(self.project.as_str())
    }
}

/// Every path under `root` (files and directories), relative and sorted; empty if absent.
pub fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            let relative = path.strip_prefix(root).expect("below root");
            out.push(relative.to_string_lossy().into_owned());
            if path.symlink_metadata().expect("stat").is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
