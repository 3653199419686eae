//! Filesystem helpers for read-only trees: sealing them, and removing them again.

use std::fs::{self, Permissions};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Mode of unpacked directories and executable files.
pub(crate) const READ_EXEC: u32 = 0o555;
/// Mode of unpacked plain files.
pub(crate) const READ_ONLY: u32 = 0o444;
/// Mode restored on directories so that their entries can be removed.
const WRITABLE_DIR: u32 = 0o755;

/// Makes `dir` and every directory below it read-only (`0o555`). Files are left as they are.
pub(crate) fn seal_dirs(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            seal_dirs(&entry.path())?;
        }
    }
    fs::set_permissions(dir, Permissions::from_mode(READ_EXEC))
}

/// Removes a file or a whole tree, read-only directories included. Absent is not an error.
/// Symbolic links are removed, never followed.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let result = if meta.is_dir() {
        unseal_dirs(path).and_then(|()| fs::remove_dir_all(path))
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn unseal_dirs(dir: &Path) -> io::Result<()> {
    fs::set_permissions(dir, Permissions::from_mode(WRITABLE_DIR))?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            unseal_dirs(&entry.path())?;
        }
    }
    Ok(())
}

/// A directory removed (with [`remove_tree`]) when dropped, unless [`TempTree::keep`] is called.
#[derive(Debug)]
pub(crate) struct TempTree {
    path: Option<PathBuf>,
}

impl TempTree {
    /// Creates a fresh, uniquely named directory in `parent`, named `.<stem>.<random>.tmp`.
    pub(crate) fn new_in(parent: &Path, stem: &str) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(&format!(".{stem}."))
            .suffix(".tmp")
            .tempdir_in(parent)?;
        Ok(Self {
            path: Some(dir.keep()),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        self.path
            .as_deref()
            .expect("the path is only taken by keep()")
    }

    /// Disarms the guard and returns the path.
    pub(crate) fn keep(mut self) -> PathBuf {
        self.path.take().expect("the path is only taken by keep()")
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        if let Err(e) = remove_tree(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove temporary directory");
        }
    }
}

/// Runs blocking work (filesystem, zip, hashing) on tokio's blocking pool, for every store.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> crate::Result<T> + Send + 'static,
) -> crate::Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        // The work given here does not panic; a panic would be a bug, so surface it as one.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(crate::PackageError::Io {
            context: "package task was cancelled".to_owned(),
            source: io::Error::other(e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_trees_can_be_removed() {
        let root = tempfile::tempdir().expect("temp dir");
        let tree = root.path().join("tree");
        fs::create_dir_all(tree.join("a/b")).expect("mkdir");
        fs::write(tree.join("a/b/file"), b"x").expect("write");
        fs::set_permissions(tree.join("a/b/file"), Permissions::from_mode(READ_ONLY))
            .expect("chmod");
        seal_dirs(&tree).expect("seal");
        let mode = fs::metadata(tree.join("a"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, READ_EXEC);

        remove_tree(&tree).expect("remove");
        assert!(!tree.exists());
        remove_tree(&tree).expect("absent is fine");
    }

    #[test]
    fn temp_trees_clean_up_unless_kept() {
        let root = tempfile::tempdir().expect("temp dir");
        let dropped = TempTree::new_in(root.path(), "x").expect("create");
        let dropped_path = dropped.path().to_path_buf();
        fs::create_dir(dropped_path.join("sub")).expect("mkdir");
        seal_dirs(&dropped_path).expect("seal");
        drop(dropped);
        assert!(!dropped_path.exists());

        let kept = TempTree::new_in(root.path(), "x").expect("create").keep();
        assert!(kept.is_dir());
        let name = kept
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        assert!(name.starts_with(".x.") && name.ends_with(".tmp"), "{name}");
    }
}
