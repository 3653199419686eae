//! Unpacked packages on file systems of their own: each one a tmpfs mounted where it would
//! otherwise be a directory, within an unpack cache of a configured size.
//!
//! Why: a worker gets its package as a bind mount, and the kernel shows a bind mount's root as
//! its path inside the file system it comes from (`/proc/self/mountinfo`, 4th field). A
//! directory under the data directory would show `<data_dir>/unpacked/...`; the root of a
//! tmpfs of its own shows `/`. The mounts are only made in the server's private mount
//! namespace (`ridge_sandbox::enter_private_mount_namespace`): the caller decides.
//!
//! Memory is the cost, so the cache is bounded ([`CacheBudget`]): before a package is unpacked,
//! the least recently used ones are unmounted until what it measured fits; after, the pages it
//! really takes (a tmpfs rounds each file up to a page) are counted instead. A package that
//! alone exceeds the cache is refused with [`PackageError::UnpackCacheTooSmall`]. An unmounted
//! package is detached (`MNT_DETACH`): a worker that still runs it keeps its copy until it ends,
//! so eviction never breaks a running function.
//!
//! Unpacks and removals run one at a time (the `work` lock), so no two tasks mount the same
//! package; an unpack that fails or is refused leaves nothing mounted.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::budget::CacheBudget;
use crate::{PackageError, Result, UnpackLimits, unpack};

/// What `/proc/self/mountinfo` shows as the source of a package's tmpfs.
const SOURCE: &str = "ridge-package";
/// A tmpfs page: each file takes whole pages.
const PAGE: u64 = 4096;

/// The unpack cache: which packages are mounted, and the lock unpacks take turns on.
#[derive(Debug)]
pub(crate) struct TmpfsCache {
    budget: Mutex<CacheBudget<PathBuf>>,
    work: Mutex<()>,
    /// Most pages a package can take beyond the bytes it measured: one per entry.
    rounding: u64,
}

impl TmpfsCache {
    pub(crate) fn new(capacity: u64, limits: UnpackLimits) -> Self {
        let entries = u64::try_from(limits.max_entries).unwrap_or(u64::MAX);
        Self {
            budget: Mutex::new(CacheBudget::new(capacity)),
            work: Mutex::new(()),
            rounding: entries.saturating_mul(PAGE),
        }
    }

    fn budget(&self) -> MutexGuard<'_, CacheBudget<PathBuf>> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn work(&self) -> MutexGuard<'_, ()> {
        self.work.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the package at `target` is unpacked and whole; if so it becomes the most
    /// recently used.
    pub(crate) fn cached(&self, target: &Path) -> bool {
        self.budget().touch(&target.to_path_buf())
    }

    /// Unpacks `bytes` (which measured `measured` bytes) into a new tmpfs mounted at `target`,
    /// read-only, unmounting the least recently used packages first as needed. Blocking.
    pub(crate) fn unpack(
        &self,
        bytes: &[u8],
        measured: u64,
        target: &Path,
        limits: UnpackLimits,
    ) -> Result<()> {
        let _turn = self.work();
        if self.cached(target) {
            return Ok(());
        }
        let capacity = self.budget().capacity();
        let too_small = |bytes| PackageError::UnpackCacheTooSmall { bytes, capacity };
        let evicted = self
            .budget()
            .make_room(measured)
            .map_err(|e| too_small(e.bytes))?;
        detach_all(&evicted);
        fs::create_dir_all(target).map_err(PackageError::io(format!(
            "cannot create `{}`",
            target.display()
        )))?;
        let size = capacity.min(
            measured
                .saturating_add(self.rounding)
                .next_multiple_of(PAGE),
        );
        mount_tmpfs(target, size).map_err(PackageError::io(format!(
            "cannot mount a tmpfs at `{}`",
            target.display()
        )))?;
        let unpacked = unpack::extract(bytes, target, limits)
            .map_err(|e| match e {
                PackageError::Io { source, .. } if source.kind() == io::ErrorKind::StorageFull => {
                    too_small(size.saturating_add(1).max(measured))
                }
                e => e,
            })
            .and_then(|()| {
                seal(target).map_err(PackageError::io(format!(
                    "cannot make `{}` read-only",
                    target.display()
                )))
            })
            .and_then(|()| {
                used_bytes(target).map_err(PackageError::io(format!(
                    "cannot measure `{}`",
                    target.display()
                )))
            });
        let taken = match unpacked {
            Ok(taken) => taken,
            Err(e) => {
                detach(target);
                return Err(e);
            }
        };
        let mut budget = self.budget();
        match budget.make_room(taken) {
            Ok(evicted) => {
                budget.insert(target.to_path_buf(), taken);
                let cache_bytes = budget.used();
                drop(budget);
                detach_all(&evicted);
                tracing::debug!(path = %target.display(), bytes = taken, cache_bytes, evicted = evicted.len(), "unpacked package into its own tmpfs");
                Ok(())
            }
            Err(e) => {
                drop(budget);
                detach(target);
                Err(too_small(e.bytes))
            }
        }
    }

    /// Unmounts and removes the package at `target` if it is in the cache; whether it was.
    pub(crate) fn remove(&self, target: &Path) -> bool {
        let _turn = self.work();
        let removed = self.budget().remove(&target.to_path_buf());
        if removed {
            detach(target);
        }
        removed
    }

    /// Unmounts and removes every cached package for which `matches` holds.
    pub(crate) fn remove_where(&self, matches: impl Fn(&Path) -> bool) {
        let _turn = self.work();
        let keys = self.budget().keys_where(|k| matches(k));
        for key in &keys {
            self.budget().remove(key);
        }
        detach_all(&keys);
    }
}

fn mount_tmpfs(target: &Path, size: u64) -> io::Result<()> {
    let options = format!("size={size},mode=0755");
    mount(
        Some(SOURCE),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(io::Error::from)
}

/// Remounts the tmpfs at `target` read-only: the server's own copy is as read-only as the
/// workers' binds.
///
/// The kernel refuses (`EBUSY`) while a file of it is open for writing, and a worker being
/// spawned meanwhile holds a copy of the unpacker's descriptors between its `fork` and `exec`
/// (close-on-exec closes them only at the `exec`): retried for up to ~1 s.
fn seal(target: &Path) -> io::Result<()> {
    let mut attempt = 0;
    loop {
        let sealed = mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None::<&str>,
        );
        match sealed {
            Err(nix::errno::Errno::EBUSY) if attempt < SEAL_ATTEMPTS => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Attempts of [`seal`] while the file system is busy.
const SEAL_ATTEMPTS: u32 = 200;

/// The bytes the tmpfs at `target` holds (whole pages).
fn used_bytes(target: &Path) -> io::Result<u64> {
    let stats = nix::sys::statvfs::statvfs(target).map_err(io::Error::from)?;
    let blocks = stats.blocks().saturating_sub(stats.blocks_free());
    Ok(blocks.saturating_mul(stats.fragment_size()))
}

fn detach_all(targets: &[PathBuf]) {
    for target in targets {
        detach(target);
    }
}

/// Unmounts the tmpfs at `target` (lazily: workers that still run the package keep it until
/// they end) and removes the directory it was mounted on.
fn detach(target: &Path) {
    if let Err(e) = umount2(target, MntFlags::MNT_DETACH) {
        tracing::warn!(path = %target.display(), error = %e, "cannot unmount an unpacked package");
        return;
    }
    if let Err(e) = fs::remove_dir(target) {
        tracing::warn!(path = %target.display(), error = %e, "cannot remove an unpacked package's mount point");
    }
}
