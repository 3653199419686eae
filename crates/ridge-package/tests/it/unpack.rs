//! Unpacking: content and permissions, refusal of unsafe entries, limits, races.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::{Entry, Fixture, stored_zip_of, tree, zip_of};
use bytes::Bytes;
use ridge_core::FunctionId;
use ridge_package::{
    LocalPackageStore, PackageError, PackageStore, UnpackLimit, UnpackLimits, UnsafeReason, md5_hex,
};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777
}

async fn put(fx: &Fixture, zip: Vec<u8>) -> String {
    fx.store
        .put(&fx.project, fx.function, Bytes::from(zip), None)
        .await
        .expect("put")
}

/// Stores `zip` and unpacks it, which must fail: for what only unpacking can find out.
async fn unpack_err(fx: &Fixture, zip: Vec<u8>) -> PackageError {
    let md5 = put(fx, zip).await;
    unpack_refusal(fx, &md5).await
}

async fn unpack_refusal(fx: &Fixture, md5: &str) -> PackageError {
    let err = fx
        .store
        .unpacked(&fx.project, fx.function, md5)
        .await
        .expect_err("refused");
    // A refused package leaves nothing behind: no unpacked copy, no temporary.
    assert!(
        tree(&fx.unpacked_dir()).is_empty(),
        "{:?}",
        tree(&fx.unpacked_dir())
    );
    err
}

/// `zip` is refused twice with the same error: at upload, storing nothing, and at unpack when
/// it was stored without the upload's checks (as an older Ridge stored packages).
async fn refused(fx: &Fixture, zip: Vec<u8>) -> PackageError {
    let at_upload = fx
        .store
        .put(&fx.project, fx.function, Bytes::from(zip.clone()), None)
        .await
        .expect_err("refused at upload");
    assert!(
        tree(&fx.packages_dir()).is_empty(),
        "{:?}",
        tree(&fx.packages_dir())
    );
    let md5 = md5_hex(&zip);
    std::fs::create_dir_all(fx.packages_dir()).expect("mkdir");
    std::fs::write(
        fx.packages_dir().join(format!("{}_{md5}.zip", fx.function)),
        &zip,
    )
    .expect("write");
    let at_unpack = unpack_refusal(fx, &md5).await;
    assert_eq!(at_upload.to_string(), at_unpack.to_string());
    at_unpack
}

fn assert_unsafe(err: PackageError, entry: &str, why: UnsafeReason) {
    match &err {
        PackageError::UnsafeEntry { name, reason } => {
            assert_eq!(name, entry);
            assert_eq!(*reason, why);
            let message = err.to_string();
            assert!(message.contains(entry), "{message}");
            assert!(message.contains(&why.to_string()), "{message}");
        }
        other => panic!("expected UnsafeEntry for {entry}, got {other:?}"),
    }
}

#[tokio::test]
async fn unpacks_nested_content_read_only() {
    let fx = Fixture::new(UnpackLimits::default());
    let zip = zip_of(&[
        Entry::File("main.py", b"import lib.util\n"),
        Entry::Dir("lib/"),
        Entry::File("lib/__init__.py", b""),
        Entry::File("lib/util.py", b"X = 1\n"),
        Entry::File("data/deep/er/blob.bin", &[0, 1, 2, 255]),
        Entry::Executable("bin/run.sh", b"#!/bin/sh\necho hi\n"),
        Entry::Dir("empty/"),
        Entry::File("./dotted.txt", b"dot"),
    ]);
    let md5 = put(&fx, zip).await;
    let dir = fx
        .store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("unpack");
    assert_eq!(
        dir,
        fx.unpacked_dir().join(format!("{}_{md5}", fx.function))
    );

    assert_eq!(
        tree(&dir),
        vec![
            "bin",
            "bin/run.sh",
            "data",
            "data/deep",
            "data/deep/er",
            "data/deep/er/blob.bin",
            "dotted.txt",
            "empty",
            "lib",
            "lib/__init__.py",
            "lib/util.py",
            "main.py",
        ]
    );
    assert_eq!(
        std::fs::read(dir.join("main.py")).expect("read"),
        b"import lib.util\n"
    );
    assert_eq!(
        std::fs::read(dir.join("lib/util.py")).expect("read"),
        b"X = 1\n"
    );
    assert_eq!(
        std::fs::read(dir.join("data/deep/er/blob.bin")).expect("read"),
        [0, 1, 2, 255]
    );
    assert_eq!(
        std::fs::read(dir.join("lib/__init__.py")).expect("read"),
        b""
    );

    assert_eq!(mode(&dir.join("main.py")), 0o444);
    assert_eq!(mode(&dir.join("data/deep/er/blob.bin")), 0o444);
    assert_eq!(mode(&dir.join("bin/run.sh")), 0o555);
    for d in [
        "",
        "bin",
        "data",
        "data/deep",
        "data/deep/er",
        "empty",
        "lib",
    ] {
        assert_eq!(mode(&dir.join(d)), 0o555, "{d}");
    }

    // Reused after: the same directory, not unpacked again.
    let inode = std::fs::metadata(&dir).expect("stat");
    let again = fx
        .store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("unpack again");
    assert_eq!(again, dir);
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&again).expect("stat")),
        std::os::unix::fs::MetadataExt::ino(&inode)
    );
}

#[tokio::test]
async fn zip_slip_is_refused() {
    for name in ["../evil.py", "lib/../../evil.py", "ok/../evil.py"] {
        let fx = Fixture::new(UnpackLimits::default());
        let err = refused(
            &fx,
            zip_of(&[Entry::File("main.py", b""), Entry::File(name, b"pwned")]),
        )
        .await;
        assert_unsafe(err, name, UnsafeReason::ParentDir);
        assert!(!fx.dir.path().join("unpacked/evil.py").exists());
        assert!(!fx.dir.path().join("evil.py").exists());
    }
}

#[tokio::test]
async fn absolute_paths_are_refused() {
    let fx = Fixture::new(UnpackLimits::default());
    let target = fx.dir.path().join("absolute-evil.py");
    let name = target.to_str().expect("utf-8 path").to_owned();
    let err = refused(&fx, zip_of(&[Entry::File(&name, b"pwned")])).await;
    assert_unsafe(err, &name, UnsafeReason::AbsolutePath);
    assert!(!target.exists());
}

#[tokio::test]
async fn symlinks_are_refused() {
    for target in ["/etc/passwd", "main.py"] {
        let fx = Fixture::new(UnpackLimits::default());
        let err = refused(
            &fx,
            zip_of(&[Entry::File("main.py", b""), Entry::Symlink("link", target)]),
        )
        .await;
        assert_unsafe(err, "link", UnsafeReason::Symlink);
    }
}

#[tokio::test]
async fn conflicting_entries_are_refused() {
    let fx = Fixture::new(UnpackLimits::default());
    let err = unpack_err(
        &fx,
        zip_of(&[
            Entry::File("lib", b"a file"),
            Entry::File("lib/util.py", b""),
        ]),
    )
    .await;
    assert_unsafe(err, "lib/util.py", UnsafeReason::Conflict);
}

#[tokio::test]
async fn unpacked_size_is_capped() {
    let limits = UnpackLimits {
        max_unpacked_bytes: 1000,
        max_entries: 100,
    };
    let fx = Fixture::new(limits);
    let exactly = zip_of(&[
        Entry::File("a", &[b'a'; 600]),
        Entry::File("b", &[b'b'; 400]),
    ]);
    let md5 = put(&fx, exactly).await;
    fx.store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("at the limit is fine");

    let fx = Fixture::new(limits);
    let over = zip_of(&[
        Entry::File("a", &[b'a'; 600]),
        Entry::File("b", &[b'b'; 401]),
    ]);
    let err = refused(&fx, over).await;
    assert!(
        matches!(
            err,
            PackageError::TooLarge {
                limit: UnpackLimit::Bytes(1000)
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("1000 bytes"), "{err}");
}

/// Rewrites every recorded uncompressed size of the (single-entry) archive to `claimed`.
fn lie_about_size(mut zip: Vec<u8>, claimed: u32) -> Vec<u8> {
    let patch = |zip: &mut Vec<u8>, signature: &[u8; 4], offset: usize| {
        let at = zip
            .windows(4)
            .position(|w| w == signature)
            .expect("header present");
        zip[at + offset..at + offset + 4].copy_from_slice(&claimed.to_le_bytes());
    };
    patch(&mut zip, b"PK\x03\x04", 22);
    patch(&mut zip, b"PK\x01\x02", 24);
    zip
}

#[tokio::test]
async fn headers_that_understate_the_size_do_not_get_past_the_cap() {
    let limits = UnpackLimits {
        max_unpacked_bytes: 100,
        max_entries: 100,
    };
    let fx = Fixture::new(limits);
    // 5000 zeros deflate to a few bytes; the headers claim 10.
    let bomb = lie_about_size(zip_of(&[Entry::File("zeros", &[0; 5000])]), 10);
    let err = refused(&fx, bomb).await;
    assert!(
        matches!(
            err,
            PackageError::TooLarge {
                limit: UnpackLimit::Bytes(100)
            }
        ),
        "{err:?}"
    );
    assert!(tree(&fx.unpacked_dir()).is_empty());
}

#[tokio::test]
async fn entry_count_is_capped() {
    let limits = UnpackLimits {
        max_unpacked_bytes: 1 << 20,
        max_entries: 3,
    };
    let fx = Fixture::new(limits);
    let three = zip_of(&[
        Entry::Dir("d/"),
        Entry::File("d/a", b"a"),
        Entry::File("b", b"b"),
    ]);
    let md5 = put(&fx, three).await;
    fx.store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("at the limit is fine");

    let fx = Fixture::new(limits);
    let four = zip_of(&[
        Entry::Dir("d/"),
        Entry::File("d/a", b"a"),
        Entry::File("b", b"b"),
        Entry::File("c", b"c"),
    ]);
    let err = refused(&fx, four).await;
    assert!(
        matches!(
            err,
            PackageError::TooLarge {
                limit: UnpackLimit::Entries(3)
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("3 entries"), "{err}");
}

#[tokio::test]
async fn damaged_content_is_reported_not_unpacked() {
    let fx = Fixture::new(UnpackLimits::default());
    let content = b"print('the original content of this file')";
    let mut zip = stored_zip_of(&[Entry::File("main.py", content)]);
    // The central directory is intact, so the upload passes; the data no longer matches its CRC.
    let at = zip
        .windows(content.len())
        .position(|w| w == content)
        .expect("stored content");
    zip[at] ^= 0xff;
    let err = refused(&fx, zip).await;
    assert!(
        matches!(&err, PackageError::UnreadableEntry { name, .. } if name == "main.py"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_unpacks_share_one_directory() {
    let fx = Fixture::new(UnpackLimits::default());
    // A second store on the same directories stands for a second node.
    let other_node = LocalPackageStore::new(
        fx.dir.path().join("packages"),
        fx.dir.path().join("unpacked"),
        UnpackLimits::default(),
    );
    let files: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| (format!("pkg/mod{i}.py"), format!("X = {i}\n").into_bytes()))
        .collect();
    let entries: Vec<Entry<'_>> = files
        .iter()
        .map(|(name, content)| Entry::File(name, content))
        .collect();
    let zip = zip_of(&entries);

    for _ in 0..5 {
        let function = FunctionId::new();
        let md5 = fx
            .store
            .put(&fx.project, function, Bytes::from(zip.clone()), None)
            .await
            .expect("put");
        let (a, b, c) = tokio::join!(
            fx.store.unpacked(&fx.project, function, &md5),
            fx.store.unpacked(&fx.project, function, &md5),
            other_node.unpacked(&fx.project, function, &md5),
        );
        let a = a.expect("first");
        assert_eq!(b.expect("second"), a);
        assert_eq!(c.expect("third"), a);
        assert_eq!(
            std::fs::read(a.join("pkg/mod199.py")).expect("read"),
            b"X = 199\n"
        );
        assert_eq!(tree(&a.join("pkg")).len(), 200);
    }
    // Losers of the race cleaned up after themselves.
    let leftovers: Vec<String> = tree(&fx.unpacked_dir())
        .into_iter()
        .filter(|p| p.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn clear_unpacked_empties_the_cache_only() {
    let fx = Fixture::new(UnpackLimits::default());
    let md5 = put(&fx, crate::common::hello()).await;
    let dir = fx
        .store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("unpack");
    fx.store.clear_unpacked().await.expect("clear");
    assert!(!dir.exists());
    assert!(fx.store.get(&fx.project, fx.function, &md5).await.is_ok());
    // And it unpacks again on demand.
    let again = fx
        .store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("unpack again");
    assert!(again.join("main.py").is_file());
}

#[tokio::test]
async fn a_bare_wasm_module_unpacks_as_main_wasm_under_the_cap() {
    let module = b"\0asm\x01\0\0\0".to_vec();
    let fx = Fixture::new(UnpackLimits::default());
    let md5 = put(&fx, module.clone()).await;
    let dir = fx
        .store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("unpacked");
    let file = dir.join(ridge_package::WASM_PACKAGE_FILE);
    assert_eq!(std::fs::read(&file).expect("read"), module);
    assert_eq!(mode(&file), 0o444);
    assert_eq!(tree(&dir).len(), 1, "{:?}", tree(&dir));
    // Downloads give back what was uploaded.
    let stored = fx
        .store
        .get(&fx.project, fx.function, &md5)
        .await
        .expect("get");
    assert_eq!(stored.as_ref(), module.as_slice());

    let fx = Fixture::new(UnpackLimits {
        max_unpacked_bytes: 4,
        max_entries: 100,
    });
    let err = refused(&fx, module).await;
    assert!(
        matches!(
            err,
            PackageError::TooLarge {
                limit: UnpackLimit::Bytes(4)
            }
        ),
        "{err:?}"
    );
}
