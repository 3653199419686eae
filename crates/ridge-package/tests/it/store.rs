//! Storing, fetching and deleting packages, on every backend (the local directory and S3).

use crate::backends::{StoreFixture, on_every_store};
use crate::common::{Entry, Fixture, hello, tree, zip_of};
use bytes::Bytes;
use ridge_core::FunctionId;
use ridge_package::{PackageError, PackageStore, UnpackLimits, md5_hex};

on_every_store!(
    put_then_get_round_trips_under_qinlings_layout,
    md5_mismatch_is_refused_and_nothing_stored,
    non_zip_and_empty_uploads_are_refused,
    unknown_and_malformed_md5s_are_not_found,
    delete_removes_the_package_and_its_unpacked_copy,
    delete_all_removes_every_package_of_the_function_only,
    projects_are_kept_apart,
    project_bytes_counts_the_stored_packages_of_the_project_only,
    a_second_node_reads_and_unpacks_what_the_first_stored,
);

async fn put_then_get_round_trips_under_qinlings_layout(fx: StoreFixture) {
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
    // One file, named as Qinling names it, and no temporary left behind.
    assert_eq!(
        fx.stored(&fx.project).await,
        vec![format!("{}_{md5}.zip", fx.function)]
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
    assert_eq!(fx.stored(&fx.project).await.len(), 1);
    assert_eq!(fx.store.describe(), fx.description());
}

async fn md5_mismatch_is_refused_and_nothing_stored(fx: StoreFixture) {
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
    assert!(fx.stored(&fx.project).await.is_empty());
}

async fn non_zip_and_empty_uploads_are_refused(fx: StoreFixture) {
    for bad in [&b""[..], b"print('hello')", b"PK\x05\x06 truncated"] {
        let err = fx
            .store
            .put(&fx.project, fx.function, Bytes::copy_from_slice(bad), None)
            .await
            .expect_err("not a zip");
        assert!(matches!(err, PackageError::NotZip), "{err:?}");
        assert_eq!(err.to_string(), "Package is not a valid ZIP package.");
    }
    assert!(fx.stored(&fx.project).await.is_empty());
}

async fn unknown_and_malformed_md5s_are_not_found(fx: StoreFixture) {
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

async fn delete_removes_the_package_and_its_unpacked_copy(fx: StoreFixture) {
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
        fx.stored(&fx.project).await,
        vec![format!("{}_{new}.zip", fx.function)]
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

async fn delete_all_removes_every_package_of_the_function_only(fx: StoreFixture) {
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
        fx.stored(&fx.project).await,
        vec![format!("{other}_{kept}.zip")]
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
    assert!(fx.stored(&fx.project).await.is_empty());
    assert!(tree(&fx.unpacked_dir()).is_empty());
    // Nothing stored at all is fine too.
    fx.store
        .delete_all(&"nobody".parse().expect("project"), FunctionId::new())
        .await
        .expect("delete nothing");
}

async fn projects_are_kept_apart(fx: StoreFixture) {
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

async fn project_bytes_counts_the_stored_packages_of_the_project_only(fx: StoreFixture) {
    assert_eq!(fx.store.project_bytes(&fx.project).await.expect("bytes"), 0);
    let small = hello();
    let large = zip_of(&[Entry::File("main.py", &[b'x'; 4096])]);
    for zip in [&small, &large] {
        fx.store
            .put(&fx.project, fx.function, Bytes::from(zip.clone()), None)
            .await
            .expect("put");
    }
    // Storing the same package again does not count it twice.
    fx.store
        .put(&fx.project, fx.function, Bytes::from(small.clone()), None)
        .await
        .expect("put again");
    // Another project's packages, and unpacked copies, are not counted.
    let stranger = "other-project".parse().expect("project");
    fx.store
        .put(&stranger, fx.function, Bytes::from(large.clone()), None)
        .await
        .expect("put");
    let md5 = md5_hex(&large);
    fx.store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("unpack");
    // Each package counts as its zip plus what it unpacks to.
    let small_footprint = footprint(&fx.store, &small).await;
    assert_eq!(
        fx.store.project_bytes(&fx.project).await.expect("bytes"),
        small_footprint + footprint(&fx.store, &large).await
    );
    fx.store
        .delete(&fx.project, fx.function, &md5)
        .await
        .expect("delete");
    assert_eq!(
        fx.store.project_bytes(&fx.project).await.expect("bytes"),
        small_footprint
    );
}

async fn a_second_node_reads_and_unpacks_what_the_first_stored(fx: StoreFixture) {
    let other = fx.second_node().await;
    let zip = hello();
    let md5 = fx
        .store
        .put(&fx.project, fx.function, Bytes::from(zip.clone()), None)
        .await
        .expect("put");
    assert_eq!(
        other
            .get(&fx.project, fx.function, &md5)
            .await
            .expect("get"),
        zip
    );
    let there = other
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("unpacked on the second node");
    let here = fx
        .store
        .unpacked(&fx.project, fx.function, &md5)
        .await
        .expect("unpacked on the first node");
    assert_ne!(there, here, "each node unpacks on its own disk");
    for dir in [&there, &here] {
        assert_eq!(tree(dir), vec!["main.py".to_owned()]);
    }
    assert_eq!(
        other.project_bytes(&fx.project).await.expect("bytes"),
        footprint(&fx.store, &zip).await
    );
    // A delete on one node is seen by the other.
    other
        .delete_all(&fx.project, fx.function)
        .await
        .expect("delete all");
    assert!(matches!(
        fx.store.get(&fx.project, fx.function, &md5).await,
        Err(PackageError::NotFound { .. })
    ));
    assert!(fx.stored(&fx.project).await.is_empty());
}

/// What `zip` counts for against `package_bytes`: the zip plus what it unpacks to.
async fn footprint(store: &std::sync::Arc<dyn PackageStore>, zip: &[u8]) -> u64 {
    store
        .check(Bytes::from(zip.to_vec()), None)
        .await
        .expect("check")
        .footprint()
}

/// The local store records what a package unpacks to beside it (and measures zips stored
/// without that record); on S3 the record is in a marker's name, covered above.
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
