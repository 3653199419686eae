//! Package slots: how a function's package reaches a worker whose sandbox was started before
//! anyone knew which function it would serve (the pre-started pool of `ridge-runtime-process`).
//!
//! Each pre-started worker's `/function` is a bind of an empty directory of its own, a *slot*,
//! made a shared mount in the server's mount namespace before bubblewrap starts. bubblewrap
//! makes the sandbox's mounts recursive slaves of the server's, so a mount the server later
//! places on the slot propagates into that one sandbox and nowhere else. Taking a worker binds
//! the package onto its slot: first to a private staging point where it is made read-only,
//! `nosuid` and `nodev` (a remount does not propagate, so the copy the worker receives must
//! already carry those flags), then from there onto the slot. The worker cannot unmount what it
//! received (a mount propagated into a less privileged user namespace is locked), and sees the
//! package exactly as a freshly started worker does.
//!
//! The slots live on a tmpfs of their own ([`PackageSlots`]) so that a worker's mountinfo names
//! no host path. Needs root. In `ridge serve`'s private mount namespace
//! ([`crate::private_mount_namespace`]) the tmpfs ends with the server; a server built inside
//! another program (the tests') mounts it in that program's namespace, unmounts it when dropped,
//! and unmounts a leftover of a crashed run before mounting its own.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// Bytes of the tmpfs holding the slots (empty directories only).
const SLOTS_TMPFS_SIZE: &str = "size=1m,mode=0755";

/// The tmpfs that holds every slot of this server. Unmounted when dropped.
#[derive(Debug)]
pub struct PackageSlots {
    dir: PathBuf,
}

impl PackageSlots {
    /// Mounts a small tmpfs at `dir` (created if missing) for the slots. Needs root; otherwise
    /// says why not.
    pub fn new(dir: &Path) -> Result<Self, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("pre-started workers need Ridge to run as root (to mount each function's package into a running sandbox)".to_owned());
        }
        // A crashed run's tmpfs (outside a private mount namespace): its slots are stale.
        while umount2(dir, MntFlags::MNT_DETACH).is_ok() {}
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot create the package slot directory `{}`: {e}",
                dir.display()
            )
        })?;
        mount(
            Some("ridge-slots"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some(SLOTS_TMPFS_SIZE),
        )
        .map_err(|e| {
            format!(
                "cannot mount the package slots' tmpfs at `{}`: {e}",
                dir.display()
            )
        })?;
        let slots = Self {
            dir: dir.to_owned(),
        };
        // Private: only each slot itself propagates.
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(|e| format!("cannot make `{}` private: {e}", dir.display()))?;
        Ok(slots)
    }

    /// A new empty slot named `name`, a shared mount of its own.
    pub fn slot(&self, name: &str) -> std::io::Result<PackageSlot> {
        let dir = self.dir.join(name);
        std::fs::create_dir(&dir)?;
        let mut slot = PackageSlot {
            stage: self.dir.join(format!("{name}.stage")),
            dir,
            mounts: 0,
        };
        mount(
            Some(&slot.dir),
            &slot.dir,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        slot.mounts = 1;
        mount(
            None::<&str>,
            &slot.dir,
            None::<&str>,
            MsFlags::MS_SHARED,
            None::<&str>,
        )?;
        Ok(slot)
    }
}

impl Drop for PackageSlots {
    fn drop(&mut self) {
        let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
    }
}

/// One worker's slot: an empty directory, then the package. Unmounted and removed when dropped
/// (lazily: the worker's copy goes with its mount namespace).
#[derive(Debug)]
pub struct PackageSlot {
    dir: PathBuf,
    stage: PathBuf,
    /// Mounts stacked on `dir` (its own bind, then the package's).
    mounts: u8,
}

impl PackageSlot {
    /// The host directory bubblewrap binds at `/function`.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Shows `package_dir` (read-only, `nosuid`, `nodev`) in the worker whose `/function` is
    /// this slot. Once only.
    pub fn fill(&mut self, package_dir: &Path) -> std::io::Result<()> {
        if self.mounts != 1 {
            return Err(std::io::Error::other("the slot already holds a package"));
        }
        std::fs::create_dir(&self.stage)?;
        let staged = self.stage_and_bind(package_dir);
        let _ = umount2(&self.stage, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.stage);
        staged
    }

    fn stage_and_bind(&mut self, package_dir: &Path) -> std::io::Result<()> {
        mount(
            Some(package_dir),
            &self.stage,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )?;
        mount(
            None::<&str>,
            &self.stage,
            None::<&str>,
            MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            None::<&str>,
        )?;
        mount(
            None::<&str>,
            &self.stage,
            None::<&str>,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV,
            None::<&str>,
        )?;
        mount(
            Some(&self.stage),
            &self.dir,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        self.mounts = 2;
        Ok(())
    }
}

impl Drop for PackageSlot {
    fn drop(&mut self) {
        for _ in 0..self.mounts {
            let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
