//! Extracting a package into a directory, refusing anything that could escape it.
//!
//! Every entry must name a relative path without `..` (checked with the zip crate's
//! `enclosed_name()` and again component by component); symbolic links are refused; the number
//! of entries and the bytes actually written are capped. Files end read-only (`0o444`, or
//! `0o555` when the zip marks them executable) and so do directories (`0o555`).
//!
//! A package that is a single WebAssembly binary unpacks to [`WASM_PACKAGE_FILE`], read-only,
//! under the same byte cap.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Cursor, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use zip::ZipArchive;
use zip::read::ZipFile;

use crate::error::{UnpackLimit, UnsafeReason};
use crate::fsutil::{self, READ_EXEC, READ_ONLY};
use crate::zipcheck::is_wasm;
use crate::{PackageError, Result, UnpackLimits, WASM_PACKAGE_FILE};

/// Unpacks `bytes` into `dest`, an existing empty directory, and seals the tree read-only.
pub(crate) fn extract(bytes: &[u8], dest: &Path, limits: UnpackLimits) -> Result<()> {
    if is_wasm(bytes) {
        return place_module(bytes, dest, limits);
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|_| PackageError::NotZip)?;
    if archive.len() > limits.max_entries {
        return Err(PackageError::TooLarge {
            limit: UnpackLimit::Entries(limits.max_entries),
        });
    }
    let mut budget = Budget {
        written: 0,
        max: limits.max_unpacked_bytes,
    };
    for index in 0..archive.len() {
        let name = archive.name_for_index(index).unwrap_or_default().to_owned();
        let mut entry = archive
            .by_index(index)
            .map_err(|e| PackageError::UnreadableEntry {
                name: name.clone(),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            })?;
        let relative = safe_path(&entry)?;
        let target = dest.join(&relative);
        if entry.is_dir() {
            fs::create_dir_all(&target).map_err(|e| conflict_or_io(&name, &target, e))?;
            continue;
        }
        if relative.as_os_str().is_empty() {
            return Err(unsafe_entry(&name, UnsafeReason::InvalidName));
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(|e| conflict_or_io(&name, parent, e))?;
        }
        write_file(&mut entry, &name, &target, &mut budget)?;
    }
    fsutil::seal_dirs(dest).map_err(PackageError::io(format!(
        "cannot make `{}` read-only",
        dest.display()
    )))
}

/// Writes a single WebAssembly binary as the package's only file.
fn place_module(bytes: &[u8], dest: &Path, limits: UnpackLimits) -> Result<()> {
    if bytes.len() as u64 > limits.max_unpacked_bytes {
        return Err(PackageError::TooLarge {
            limit: UnpackLimit::Bytes(limits.max_unpacked_bytes),
        });
    }
    let target = dest.join(WASM_PACKAGE_FILE);
    let write_failed = || PackageError::io(format!("cannot write `{}`", target.display()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(write_failed())?;
    file.write_all(bytes).map_err(write_failed())?;
    file.set_permissions(Permissions::from_mode(READ_ONLY))
        .map_err(write_failed())?;
    fsutil::seal_dirs(dest).map_err(PackageError::io(format!(
        "cannot make `{}` read-only",
        dest.display()
    )))
}

/// The entry's path relative to the unpack directory, or why it is refused.
fn safe_path(entry: &ZipFile<'_, Cursor<&[u8]>>) -> Result<PathBuf> {
    let name = entry.name();
    if entry.is_symlink() {
        return Err(unsafe_entry(name, UnsafeReason::Symlink));
    }
    if name.contains('\0') {
        return Err(unsafe_entry(name, UnsafeReason::InvalidName));
    }
    let mut relative = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(unsafe_entry(name, UnsafeReason::ParentDir)),
            Component::RootDir | Component::Prefix(_) => {
                return Err(unsafe_entry(name, UnsafeReason::AbsolutePath));
            }
        }
    }
    // The zip crate's own check agrees, or the entry is refused all the same.
    if entry.enclosed_name().is_none() {
        return Err(unsafe_entry(name, UnsafeReason::InvalidName));
    }
    Ok(relative)
}

/// Bytes written so far against the limit.
struct Budget {
    written: u64,
    max: u64,
}

fn write_file(
    entry: &mut ZipFile<'_, Cursor<&[u8]>>,
    name: &str,
    target: &Path,
    budget: &mut Budget,
) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .map_err(|e| conflict_or_io(name, target, e))?;
    let write_failed = || PackageError::io(format!("cannot write `{}`", target.display()));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(PackageError::UnreadableEntry {
                    name: name.to_owned(),
                    source,
                });
            }
        };
        // Counted as written, whatever size the entry's header claims.
        budget.written += n as u64;
        if budget.written > budget.max {
            return Err(PackageError::TooLarge {
                limit: UnpackLimit::Bytes(budget.max),
            });
        }
        file.write_all(&buf[..n]).map_err(write_failed())?;
    }
    let executable = entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0);
    let mode = if executable { READ_EXEC } else { READ_ONLY };
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(write_failed())
}

fn unsafe_entry(name: &str, reason: UnsafeReason) -> PackageError {
    PackageError::UnsafeEntry {
        name: name.to_owned(),
        reason,
    }
}

/// A path that is already taken (by a duplicate entry, or a file where a directory goes) is the
/// package's fault; anything else is the disk's.
fn conflict_or_io(name: &str, path: &Path, e: io::Error) -> PackageError {
    match e.kind() {
        io::ErrorKind::AlreadyExists
        | io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory => unsafe_entry(name, UnsafeReason::Conflict),
        _ => PackageError::Io {
            context: format!("cannot create `{}`", path.display()),
            source: e,
        },
    }
}
