//! Extracting a package into a directory, refusing anything that could escape it, and
//! measuring what it would unpack to before it is stored.
//!
//! Every entry must name a relative path without `..` (checked with the zip crate's
//! `enclosed_name()` and again component by component); symbolic links are refused; the number
//! of entries and the bytes actually decompressed are capped (the sizes an entry's headers
//! claim are never trusted). Files end read-only (`0o444`, or `0o555` when the zip marks them
//! executable) and so do directories (`0o555`).
//!
//! [`measure`] runs the same checks at upload, decompressing into nothing, so a zip bomb is
//! refused before it is stored; [`extract`] checks again when a worker needs the files.
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

/// The bytes `bytes` unpacks to, found by decompressing every entry (into nothing) under the
/// same checks and caps as [`extract`].
pub(crate) fn measure(bytes: &[u8], limits: UnpackLimits) -> Result<u64> {
    if is_wasm(bytes) {
        return module_size(bytes, limits);
    }
    let mut archive = open(bytes, limits)?;
    let mut budget = Budget::new(limits);
    for index in 0..archive.len() {
        let (name, mut entry) = entry_at(&mut archive, index)?;
        let relative = safe_path(&entry)?;
        if !entry.is_dir() && relative.as_os_str().is_empty() {
            return Err(unsafe_entry(&name, UnsafeReason::InvalidName));
        }
        copy_counted(&mut entry, &name, &mut io::sink(), &mut budget, "")?;
    }
    Ok(budget.written)
}

/// Unpacks `bytes` into `dest`, an existing empty directory, and seals the tree read-only.
pub(crate) fn extract(bytes: &[u8], dest: &Path, limits: UnpackLimits) -> Result<()> {
    if is_wasm(bytes) {
        return place_module(bytes, dest, limits);
    }
    let mut archive = open(bytes, limits)?;
    let mut budget = Budget::new(limits);
    for index in 0..archive.len() {
        let (name, mut entry) = entry_at(&mut archive, index)?;
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

/// The archive, if it is one and has no more entries than allowed.
fn open(bytes: &[u8], limits: UnpackLimits) -> Result<ZipArchive<Cursor<&[u8]>>> {
    let archive = ZipArchive::new(Cursor::new(bytes)).map_err(|_| PackageError::NotZip)?;
    if archive.len() > limits.max_entries {
        return Err(PackageError::TooLarge {
            limit: UnpackLimit::Entries(limits.max_entries),
        });
    }
    Ok(archive)
}

/// The name and reader of entry `index`.
fn entry_at<'a, 'b>(
    archive: &'a mut ZipArchive<Cursor<&'b [u8]>>,
    index: usize,
) -> Result<(String, ZipFile<'a, Cursor<&'b [u8]>>)> {
    let name = archive.name_for_index(index).unwrap_or_default().to_owned();
    let entry = archive
        .by_index(index)
        .map_err(|e| PackageError::UnreadableEntry {
            name: name.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
    Ok((name, entry))
}

/// A single WebAssembly binary's size, if it is within the byte cap.
fn module_size(bytes: &[u8], limits: UnpackLimits) -> Result<u64> {
    let size = bytes.len() as u64;
    if size > limits.max_unpacked_bytes {
        return Err(PackageError::TooLarge {
            limit: UnpackLimit::Bytes(limits.max_unpacked_bytes),
        });
    }
    Ok(size)
}

/// Writes a single WebAssembly binary as the package's only file.
fn place_module(bytes: &[u8], dest: &Path, limits: UnpackLimits) -> Result<()> {
    module_size(bytes, limits)?;
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

impl Budget {
    fn new(limits: UnpackLimits) -> Self {
        Self {
            written: 0,
            max: limits.max_unpacked_bytes,
        }
    }
}

/// Copies an entry's decompressed content to `out` (described by `out_name` in errors),
/// counting every byte against `budget`, whatever size the entry's headers claim.
fn copy_counted(
    entry: &mut impl Read,
    name: &str,
    out: &mut impl Write,
    budget: &mut Budget,
    out_name: &str,
) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(PackageError::UnreadableEntry {
                    name: name.to_owned(),
                    source,
                });
            }
        };
        budget.written += n as u64;
        if budget.written > budget.max {
            return Err(PackageError::TooLarge {
                limit: UnpackLimit::Bytes(budget.max),
            });
        }
        out.write_all(&buf[..n])
            .map_err(PackageError::io(format!("cannot write `{out_name}`")))?;
    }
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
    let shown = target.display().to_string();
    copy_counted(entry, name, &mut file, budget, &shown)?;
    let executable = entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0);
    let mode = if executable { READ_EXEC } else { READ_ONLY };
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(PackageError::io(format!("cannot write `{shown}`")))
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
