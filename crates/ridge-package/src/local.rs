//! [`LocalPackageStore`]: packages as files under the data directory, laid out like Qinling's
//! `file_system_dir`:
//!
//! ```text
//! <packages_root>/<project>/<function_id>_<md5>.zip      the stored zip
//! <packages_root>/<project>/<function_id>_<md5>.size     what it unpacks to, in bytes
//! <unpack_root>/<project>/<function_id>_<md5>/           the same, unpacked, read-only
//! ```
//!
//! The `.size` file is written before the zip, when the upload is measured, so that a project's
//! usage is a directory listing, not a decompression of every package; a zip stored without one
//! (by an older Ridge) is measured the first time its usage is asked for.
//!
//! With [`LocalPackageStore::unpack_in_tmpfs`], each unpacked copy is a tmpfs of its own
//! mounted at its directory, within a bounded cache (`tmpfs.rs`), so that a worker's mount
//! table names no host path.
//!
//! Both are written beside their final name and renamed into place, so a reader never sees a
//! half-written package, and two nodes or tasks racing on the same package both end up with the
//! one complete copy. Blocking filesystem and zip work runs on tokio's blocking pool.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use ridge_core::{FunctionId, ProjectId};

use crate::fsutil::{self, TempTree, blocking};
use crate::tmpfs::TmpfsCache;
use crate::zipcheck::{is_md5_hex, md5_hex, validate_package};
use crate::{CheckedPackage, PackageError, PackageStore, Result, unpack};

/// The extension of the file that records what a stored package unpacks to.
const SIZE_EXTENSION: &str = "size";

/// Caps on what one package may unpack to, against zip bombs and disk fillers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// Total bytes actually decompressed, whatever the entries' headers claim. Default
    /// 250 MiB, Lambda's limit on an unzipped deployment package.
    pub max_unpacked_bytes: u64,
    /// Entries (files and directories) in the archive. Default 10 000.
    pub max_entries: usize,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_unpacked_bytes: 250 * 1024 * 1024,
            max_entries: 10_000,
        }
    }
}

/// Packages on local disk.
#[derive(Debug, Clone)]
pub struct LocalPackageStore {
    packages_root: PathBuf,
    unpack_root: PathBuf,
    limits: UnpackLimits,
    /// Unpacked copies on file systems of their own, or `None`: directories on disk.
    tmpfs: Option<Arc<TmpfsCache>>,
}

impl LocalPackageStore {
    /// Directories are created on first use.
    pub fn new(packages_root: PathBuf, unpack_root: PathBuf, limits: UnpackLimits) -> Self {
        Self {
            packages_root,
            unpack_root,
            limits,
            tmpfs: None,
        }
    }

    /// Unpacks each package into a tmpfs of its own, mounted at its directory, keeping at most
    /// `capacity` bytes of them (least recently used unmounted first). Only for a process in a
    /// mount namespace of its own (`ridge_sandbox::enter_private_mount_namespace`), as root:
    /// the mounts would otherwise be the host's.
    #[must_use]
    pub fn unpack_in_tmpfs(mut self, capacity: u64) -> Self {
        self.tmpfs = Some(Arc::new(TmpfsCache::new(capacity, self.limits)));
        self
    }

    /// Removes the unpacked copy at `path`: unmounted if it is a tmpfs of the cache.
    fn remove_unpacked(tmpfs: Option<&TmpfsCache>, path: &Path) -> Result<()> {
        match tmpfs {
            Some(cache) if cache.remove(path) => Ok(()),
            _ => remove(path),
        }
    }

    /// Removes every unpacked copy (they are rebuilt from the zips on demand). Meant for
    /// start-up: unpacked files are not fsynced, so after a power loss a copy could be
    /// incomplete, and starting from an empty cache rules that out.
    pub async fn clear_unpacked(&self) -> Result<()> {
        let root = self.unpack_root.clone();
        blocking(move || {
            let entries = match fs::read_dir(&root) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(io_error(format!("cannot list `{}`", root.display()), e)),
            };
            for entry in entries {
                let path = entry
                    .map_err(PackageError::io(format!(
                        "cannot list `{}`",
                        root.display()
                    )))?
                    .path();
                remove(&path)?;
            }
            Ok(())
        })
        .await
    }

    fn blob_path(&self, project: &ProjectId, function: FunctionId, md5: &str) -> PathBuf {
        self.packages_root
            .join(project.as_str())
            .join(format!("{function}_{md5}.zip"))
    }

    fn unpacked_path(&self, project: &ProjectId, function: FunctionId, md5: &str) -> PathBuf {
        self.unpack_root
            .join(project.as_str())
            .join(format!("{function}_{md5}"))
    }
}

#[async_trait]
impl PackageStore for LocalPackageStore {
    fn describe(&self) -> String {
        format!("file://{}", self.packages_root.display())
    }

    async fn check(&self, bytes: Bytes, expected_md5: Option<&str>) -> Result<CheckedPackage> {
        let expected = expected_md5.map(|m| m.trim().to_ascii_lowercase());
        let limits = self.limits;
        blocking(move || {
            validate_package(&bytes)?;
            let md5 = md5_hex(&bytes);
            if expected.is_some_and(|expected| expected != md5) {
                return Err(PackageError::Md5Mismatch);
            }
            let unpacked_bytes = unpack::measure(&bytes, limits)?;
            Ok(CheckedPackage {
                bytes,
                md5,
                unpacked_bytes,
            })
        })
        .await
    }

    async fn store(
        &self,
        project: &ProjectId,
        function: FunctionId,
        package: CheckedPackage,
    ) -> Result<String> {
        let dir = self.packages_root.join(project.as_str());
        blocking(move || {
            let CheckedPackage {
                bytes,
                md5,
                unpacked_bytes,
            } = package;
            let stem = format!("{function}_{md5}");
            let target = dir.join(format!("{stem}.zip"));
            // Same name, same content: the package is already stored.
            if !target.is_file() {
                let size = unpacked_bytes.to_string();
                let size_file = dir.join(format!("{stem}.{SIZE_EXTENSION}"));
                write_atomically(&dir, &size_file, &stem, size.as_bytes())?;
                write_atomically(&dir, &target, &stem, &bytes)?;
                tracing::debug!(path = %target.display(), size = bytes.len(), unpacked_bytes, "stored package");
            }
            Ok(md5)
        })
        .await
    }

    async fn get(&self, project: &ProjectId, function: FunctionId, md5: &str) -> Result<Bytes> {
        let not_found = || PackageError::NotFound {
            function,
            md5: md5.to_owned(),
        };
        if !is_md5_hex(md5) {
            return Err(not_found());
        }
        let path = self.blob_path(project, function, md5);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Bytes::from(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found()),
            Err(e) => Err(io_error(format!("cannot read `{}`", path.display()), e)),
        }
    }

    async fn delete(&self, project: &ProjectId, function: FunctionId, md5: &str) -> Result<()> {
        if !is_md5_hex(md5) {
            // No such name can have been written.
            return Ok(());
        }
        let blob = self.blob_path(project, function, md5);
        let size_file = blob.with_extension(SIZE_EXTENSION);
        let unpacked = self.unpacked_path(project, function, md5);
        let tmpfs = self.tmpfs.clone();
        blocking(move || {
            remove(&blob)?;
            remove(&size_file)?;
            Self::remove_unpacked(tmpfs.as_deref(), &unpacked)
        })
        .await
    }

    async fn delete_all(&self, project: &ProjectId, function: FunctionId) -> Result<()> {
        let dirs = [
            self.packages_root.join(project.as_str()),
            self.unpack_root.join(project.as_str()),
        ];
        let tmpfs = self.tmpfs.clone();
        blocking(move || {
            // Packages, unpacked copies, and temporaries left by an interrupted write.
            let prefixes = [format!("{function}_"), format!(".{function}_")];
            if let Some(cache) = tmpfs {
                let unpacked = &dirs[1];
                let own = format!("{function}_");
                cache.remove_where(|p| {
                    p.parent() == Some(unpacked.as_path())
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(own.as_str()))
                });
            }
            for dir in &dirs {
                let entries = match fs::read_dir(dir) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        return Err(io_error(format!("cannot list `{}`", dir.display()), e));
                    }
                };
                for entry in entries {
                    let entry = entry
                        .map_err(PackageError::io(format!("cannot list `{}`", dir.display())))?;
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
                        remove(&entry.path())?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn project_bytes(&self, project: &ProjectId) -> Result<u64> {
        let dir = self.packages_root.join(project.as_str());
        let limits = self.limits;
        blocking(move || {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(io_error(format!("cannot list `{}`", dir.display()), e)),
            };
            let mut total = 0u64;
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                let is_zip = name.ends_with(".zip") && !name.starts_with('.');
                if let Ok(meta) = entry.metadata()
                    && meta.is_file()
                    && is_zip
                {
                    let unpacked = unpacked_size(&entry.path(), limits);
                    total = total.saturating_add(meta.len()).saturating_add(unpacked);
                }
            }
            Ok(total)
        })
        .await
    }

    async fn unpacked(
        &self,
        project: &ProjectId,
        function: FunctionId,
        md5: &str,
    ) -> Result<PathBuf> {
        let not_found = PackageError::NotFound {
            function,
            md5: md5.to_owned(),
        };
        if !is_md5_hex(md5) {
            return Err(not_found);
        }
        let target = self.unpacked_path(project, function, md5);
        let blob = self.blob_path(project, function, md5);
        let limits = self.limits;
        if let Some(cache) = self.tmpfs.clone() {
            if cache.cached(&target) {
                return Ok(target);
            }
            return blocking(move || {
                let bytes = read_blob(&blob, not_found)?;
                let measured = unpacked_size(&blob, limits);
                cache.unpack(&bytes, measured, &target, limits)?;
                Ok(target)
            })
            .await;
        }
        if tokio::fs::metadata(&target).await.is_ok_and(|m| m.is_dir()) {
            return Ok(target);
        }
        let stem = format!("{function}_{md5}");
        blocking(move || {
            let bytes = read_blob(&blob, not_found)?;
            let parent = target
                .parent()
                .expect("the unpacked path has a project directory as parent");
            fs::create_dir_all(parent).map_err(PackageError::io(format!(
                "cannot create `{}`",
                parent.display()
            )))?;
            let temp = TempTree::new_in(parent, &stem).map_err(PackageError::io(format!(
                "cannot create a directory in `{}`",
                parent.display()
            )))?;
            unpack::extract(&bytes, temp.path(), limits)?;
            let unpacked = temp.keep();
            match fs::rename(&unpacked, &target) {
                Ok(()) => {
                    tracing::debug!(path = %target.display(), "unpacked package");
                    Ok(target)
                }
                // Another task or node unpacked it first: use theirs.
                Err(_) if target.is_dir() => {
                    remove(&unpacked)?;
                    Ok(target)
                }
                Err(e) => {
                    remove(&unpacked)?;
                    Err(io_error(
                        format!("cannot move the unpacked package to `{}`", target.display()),
                        e,
                    ))
                }
            }
        })
        .await
    }
}

/// The stored zip at `blob`; `not_found` when there is none.
fn read_blob(blob: &Path, not_found: PackageError) -> Result<Vec<u8>> {
    match fs::read(blob) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(not_found),
        Err(e) => Err(io_error(format!("cannot read `{}`", blob.display()), e)),
    }
}

/// What the stored zip at `blob` unpacks to: its `.size` file, or, for a zip stored without
/// one, a measure (recorded for next time). A zip that cannot be measured counts as the limit.
fn unpacked_size(blob: &Path, limits: UnpackLimits) -> u64 {
    let size_file = blob.with_extension(SIZE_EXTENSION);
    if let Some(size) = fs::read_to_string(&size_file)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        return size;
    }
    let measured = fs::read(blob)
        .map_err(PackageError::io("cannot read a stored package"))
        .and_then(|bytes| unpack::measure(&bytes, limits));
    match measured {
        Ok(size) => {
            let stem = blob
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("package");
            if let Some(dir) = blob.parent()
                && let Err(e) = write_atomically(dir, &size_file, stem, size.to_string().as_bytes())
            {
                tracing::warn!(path = %size_file.display(), error = %e, "cannot record a package's unpacked size");
            }
            size
        }
        Err(e) => {
            tracing::warn!(path = %blob.display(), error = %e, "cannot measure a stored package");
            limits.max_unpacked_bytes
        }
    }
}

/// Writes `bytes` to a temporary file in `dir`, flushes it to disk, and renames it to `target`.
fn write_atomically(dir: &Path, target: &Path, stem: &str, bytes: &[u8]) -> Result<()> {
    fs::create_dir_all(dir).map_err(PackageError::io(format!(
        "cannot create `{}`",
        dir.display()
    )))?;
    let write_failed = || PackageError::io(format!("cannot write `{}`", target.display()));
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{stem}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(write_failed())?;
    temp.write_all(bytes).map_err(write_failed())?;
    temp.as_file().sync_all().map_err(write_failed())?;
    temp.persist(target).map_err(|e| write_failed()(e.error))?;
    // Make the rename itself durable.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_failed())
}

fn remove(path: &Path) -> Result<()> {
    fsutil::remove_tree(path).map_err(PackageError::io(format!(
        "cannot remove `{}`",
        path.display()
    )))
}

fn io_error(context: String, source: io::Error) -> PackageError {
    PackageError::Io { context, source }
}
