//! The unpack cache on file systems of their own (`unpack_in_tmpfs`): each package is a tmpfs
//! whose mount root is `/`, the cache stays within its size by unmounting the least recently
//! used, a package that cannot fit is refused, and deletes unmount. Needs root: the test makes
//! a mount namespace of its own first (on its thread, inherited by the runtime's threads it
//! starts), so no mount reaches the host.

use std::path::Path;

use bytes::Bytes;
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};
use ridge_core::FunctionId;
use ridge_package::{PackageError, PackageStore, UnpackLimits};

use crate::common::{Entry, Fixture, zip_of};

/// The mount at `path` in this thread's mount table: (root within its file system, type).
fn mount_at(path: &Path) -> Option<(String, String)> {
    let table = std::fs::read_to_string("/proc/thread-self/mountinfo").expect("mountinfo");
    let path = path.to_str().expect("utf-8");
    table.lines().rev().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let dash = fields.iter().position(|f| *f == "-")?;
        (fields[4] == path).then(|| (fields[3].to_owned(), fields[dash + 1].to_owned()))
    })
}

/// A package of one file of `kib` KiB.
fn package(kib: usize) -> Bytes {
    Bytes::from(zip_of(&[Entry::File("main.py", &vec![b'#'; kib * 1024])]))
}

#[test]
fn packages_are_tmpfs_of_their_own_within_the_cache_size() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    unshare(CloneFlags::CLONE_NEWNS).expect("a mount namespace of this thread's own");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("private mounts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut fx = Fixture::new(UnpackLimits::default());
        // Room for two packages of 100 KiB, not three.
        fx.store = fx.store.clone().unpack_in_tmpfs(250 * 1024);
        let store = &fx.store;
        let p = &fx.project;
        let mut unpacked = Vec::new();
        for _ in 0..3 {
            let function = FunctionId::new();
            let md5 = store
                .put(p, function, package(100), None)
                .await
                .expect("put");
            let dir = store.unpacked(p, function, &md5).await.expect("unpacked");
            assert_eq!(
                std::fs::read(dir.join("main.py")).expect("read").len(),
                100 * 1024
            );
            assert_eq!(
                mount_at(&dir),
                Some(("/".to_owned(), "tmpfs".to_owned())),
                "{} is a tmpfs of its own",
                dir.display()
            );
            unpacked.push((function, md5, dir));
            if unpacked.len() == 2 {
                // The first becomes the most recently used: the second goes for the third.
                let (f, md5, dir) = &unpacked[0];
                assert_eq!(&store.unpacked(p, *f, md5).await.expect("again"), dir);
            }
        }
        let [(f0, md5_0, d0), (f1, md5_1, d1), (_, md5_2, d2)] = &unpacked[..] else {
            panic!("three packages");
        };
        assert!(mount_at(d0).is_some(), "recently used, kept");
        assert_eq!(mount_at(d1), None, "least recently used, unmounted");
        assert!(!d1.exists(), "and its mount point removed");
        assert!(mount_at(d2).is_some());
        // Unpacked again on demand.
        let again = store.unpacked(p, *f1, md5_1).await.expect("unpacked again");
        assert_eq!(mount_at(&again), Some(("/".to_owned(), "tmpfs".to_owned())));

        // A package that alone exceeds the cache is refused, and nothing is left mounted.
        let big = FunctionId::new();
        let md5 = store.put(p, big, package(300), None).await.expect("put");
        let refused = store.unpacked(p, big, &md5).await.expect_err("too big");
        assert!(
            matches!(refused, PackageError::UnpackCacheTooSmall { .. }),
            "{refused:?}"
        );
        assert!(
            refused.to_string().contains("unpack_cache_size"),
            "{refused}"
        );
        let big_dir = fx.unpacked_dir().join(format!("{big}_{md5}"));
        assert_eq!(mount_at(&big_dir), None);

        // Deletes unmount.
        store.delete(p, *f0, md5_0).await.expect("delete");
        assert_eq!(mount_at(d0), None);
        assert!(!d0.exists());
        let kept = d2.clone();
        store.delete_all(p, *f1).await.expect("delete all");
        assert_eq!(mount_at(&again), None);
        assert!(
            mount_at(&kept).is_some(),
            "another function's stays: {md5_2}"
        );
    });
}
