//! Storing, fetching and deleting packages.

use crate::common::{Entry, Fixture, hello, tree, zip_of};
use bytes::Bytes;
use ridge_core::FunctionId;
use ridge_package::{PackageError, PackageStore, UnpackLimits, md5_hex};

#[tokio::test]
async fn put_then_get_round_trips_under_qinlings_layout() {
    let fx = Fixture::new(UnpackLimits::default());
    let zip = hello();
    let md5 = fx
        .store
        .put(&fx.project, fx.function, Bytes::from(zip.clone()), None)
        .await
        .expect("put");
    assert_eq!(md5, md5_hex(&zip));
    assert_eq!(md5.len(), 32);

    let got = fx
        .store
        .get(&fx.project, fx.function, &md5)
        .await
        .expect("get");
    assert_eq!(got, zip);
    // The zip, named as Qinling names it, what it unpacks to, and no temporary left behind.
    assert_eq!(
        tree(&fx.packages_dir()),
        vec![
            format!("{}_{md5}.size", fx.function),
            format!("{}_{md5}.zip", fx.function)
        ]
    );

    // Storing the same content again, with its md5 in any case, is harmless.
    let again = fx
        .store
        .put(
            &fx.project,
            fx.function,
            Bytes::from(zip.clone()),
            Some(&md5.to_uppercase()),
        )
        .await
        .expect("put again");
    assert_eq!(again, md5);
    assert_eq!(tree(&fx.packages_dir()).len(), 2);
    assert_eq!(
        fx.store.describe(),
        format!("local:{}", fx.dir.path().join("packages").display())
    );
}

#[tokio::test]
async fn md5_mismatch_is_refused_and_nothing_stored() {
    let fx = Fixture::new(UnpackLimits::default());
    let err = fx
        .store
        .put(
            &fx.project,
            fx.function,
            Bytes::from(hello()),
            Some(&md5_hex(b"something else")),
        )
        .await
        .expect_err("mismatch");
    assert!(matches!(err, PackageError::Md5Mismatch), "{err:?}");
    assert_eq!(err.to_string(), "Package md5 mismatch.");
    assert!(tree(&fx.packages_dir()).is_empty());
}

#[tokio::test]
async fn non_zip_and_empty_uploads_are_refused() {
    let fx = Fixture::new(UnpackLimits::default());
    for bad in [&b""[..], b"print('hello')", b"PK\x05\x06 truncated"] {
        let err = fx
            .store
            .put(&fx.project, fx.function, Bytes::copy_from_slice(bad), None)
            .await
            .expect_err("not a zip");
        assert!(matches!(err, PackageError::NotZip), "{err:?}");
        assert_eq!(err.to_string(), "Package is not a valid ZIP package.");
    }
    assert!(tree(&fx.packages_dir()).is_empty());
}

#[tokio::test]
async fn unknown_and_malformed_md5s_are_not_found() {
    let fx = Fixture::new(UnpackLimits::default());
    let md5 = fx
        .store
        .put(&fx.project, fx.function, Bytes::from(hello()), None)
        .await
        .expect("put");
    // Another function's package of the same content is a different package.
    let other = FunctionId::new();
    for (function, md5) in [
        (fx.function, md5_hex(b"other")),
        (other, md5.clone()),
        (fx.function, "../../../../../../etc/passwd".to_owned()),
        (fx.function, md5.to_uppercase()),
    ] {
        let err = fx
            .store
            .get(&fx.project, function, &md5)
            .await
            .expect_err("absent");
        assert!(
            matches!(&err, PackageError::NotFound { function: f, md5: m } if *f == function && *m == md5),
            "{err:?}"
        );
        let err = fx
            .store
            .unpacked(&fx.project, function, &md5)
            .await
            .expect_err("absent");
        assert!(matches!(err, PackageError::NotFound { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn delete_removes_the_package_and_its_unpacked_copy() {
    let fx = Fixture::new(UnpackLimits::default());
    let old = fx
        .store
        .put(&fx.project, fx.function, Bytes::from(hello()), None)
        .await
        .expect("put");
    let new_zip = zip_of(&[Entry::File("main.py", b"def main():\n    return 2\n")]);
    let new = fx
        .store
        .put(&fx.project, fx.function, Bytes::from(new_zip), None)
        .await
        .expect("put");
    let unpacked = fx
        .store
        .unpacked(&fx.project, fx.function, &old)
        .await
        .expect("unpack");
    assert!(unpacked.join("main.py").is_file());

    fx.store
        .delete(&fx.project, fx.function, &old)
        .await
        .expect("delete");
    assert!(!unpacked.exists());
    assert!(matches!(
        fx.store.get(&fx.project, fx.function, &old).await,
        Err(PackageError::NotFound { .. })
    ));
    // The function's other package stays.
    assert_eq!(
        tree(&fx.packages_dir()),
        vec![
            format!("{}_{new}.size", fx.function),
            format!("{}_{new}.zip", fx.function)
        ]
    );
    assert!(tree(&fx.unpacked_dir()).is_empty());

    // Deleting what is gone, or never was, is not an error.
    fx.store
        .delete(&fx.project, fx.function, &old)
        .await
        .expect("delete again");
    fx.store
        .delete(&fx.project, FunctionId::new(), "not-an-md5")
        .await
        .expect("delete nothing");
}

#[tokio::test]
async fn delete_all_removes_every_package_of_the_function_only() {
    let fx = Fixture::new(UnpackLimits::default());
    let other = FunctionId::new();
    let mut md5s = Vec::new();
    for content in [&b"one"[..], b"two"] {
        let zip = zip_of(&[Entry::File("main.py", content)]);
        let md5 = fx
            .store
            .put(&fx.project, fx.function, Bytes::from(zip), None)
            .await
            .expect("put");
        fx.store
            .unpacked(&fx.project, fx.function, &md5)
            .await
            .expect("unpack");
        md5s.push(md5);
    }
    let kept = fx
        .store
        .put(&fx.project, other, Bytes::from(hello()), None)
        .await
        .expect("put");
    let kept_unpacked = fx
        .store
        .unpacked(&fx.project, other, &kept)
        .await
        .expect("unpack");
    // A temporary left by an interrupted unpack goes too.
    let leftover = fx
        .unpacked_dir()
        .join(format!(".{}_{}.x.tmp", fx.function, md5s[0]));
    std::fs::create_dir(&leftover).expect("mkdir");

    fx.store
        .delete_all(&fx.project, fx.function)
        .await
        .expect("delete all");
    assert_eq!(
        tree(&fx.packages_dir()),
        vec![
            format!("{other}_{kept}.size"),
            format!("{other}_{kept}.zip")
        ]
    );
    assert_eq!(
        tree(&fx.unpacked_dir()),
        vec![format!("{other}_{kept}"), format!("{other}_{kept}/main.py")]
    );
    assert!(kept_unpacked.join("main.py").is_file());
    for md5 in &md5s {
        assert!(matches!(
            fx.store.get(&fx.project, fx.function, md5).await,
            Err(PackageError::NotFound { .. })
        ));
    }

    fx.store
        .delete_all(&fx.project, other)
        .await
        .expect("delete all");
    assert!(tree(&fx.packages_dir()).is_empty());
    assert!(tree(&fx.unpacked_dir()).is_empty());
    // Nothing stored at all is fine too.
    fx.store
        .delete_all(&"nobody".parse().expect("project"), FunctionId::new())
        .await
        .expect("delete nothing");
}

#[tokio::test]
async fn projects_are_kept_apart() {
    let fx = Fixture::new(UnpackLimits::default());
    let md5 = fx
        .store
        .put(&fx.project, fx.function, Bytes::from(hello()), None)
        .await
        .expect("put");
    let stranger = "other-project".parse().expect("project");
    assert!(matches!(
        fx.store.get(&stranger, fx.function, &md5).await,
        Err(PackageError::NotFound { .. })
    ));
    fx.store
        .delete_all(&stranger, fx.function)
        .await
        .expect("delete all");
    assert!(fx.store.get(&fx.project, fx.function, &md5).await.is_ok());
}

#[tokio::test]
async fn usage_counts_the_zip_and_what_it_unpacks_to() {
    let fx = Fixture::new(UnpackLimits::default());
    // 200 KB of one byte deflates to a few hundred bytes: the zip alone would hide it.
    let content = vec![b'x'; 200_000];
    let zip = zip_of(&[
        Entry::File("big.txt", &content),
        Entry::File("main.py", b""),
    ]);
    let checked = fx
        .store
        .check(Bytes::from(zip.clone()), None)
        .await
        .expect("check");
    assert_eq!(checked.unpacked_bytes(), 200_000);
    assert_eq!(checked.footprint(), zip.len() as u64 + 200_000);
    assert!(tree(&fx.packages_dir()).is_empty(), "check stores nothing");
    let md5 = fx
        .store
        .store(&fx.project, fx.function, checked)
        .await
        .expect("store");
    let expected = zip.len() as u64 + 200_000;
    assert_eq!(
        fx.store.project_bytes(&fx.project).await.expect("usage"),
        expected
    );

    // A zip stored without its size (by an older Ridge) is measured, and counted the same.
    let size_file = fx
        .packages_dir()
        .join(format!("{}_{md5}.size", fx.function));
    std::fs::remove_file(&size_file).expect("remove the size");
    assert_eq!(
        fx.store.project_bytes(&fx.project).await.expect("usage"),
        expected
    );
    assert!(size_file.is_file(), "the measure is recorded");

    fx.store
        .delete(&fx.project, fx.function, &md5)
        .await
        .expect("delete");
    assert!(tree(&fx.packages_dir()).is_empty());
    assert_eq!(fx.store.project_bytes(&fx.project).await.expect("usage"), 0);
}
