//! What a package may unpack to: a zip bomb is refused at upload, before anything is stored,
//! and what a package unpacks to counts against the project's `package_bytes` quota.

use std::io::{Cursor, Write};

use ridge_core::api::SetQuotas;
use serde_json::json;
use zip::write::SimpleFileOptions;

use crate::harness::{TestApi, Upload, api_error, returning, zip_files};

/// A zip of about 500 KB that unpacks to 500 MiB: one MiB of zeros, deflated once and copied
/// in as 500 entries (each keeps its compressed form, a kilobyte or so).
fn zip_bomb() -> Vec<u8> {
    let options = SimpleFileOptions::default();
    let mut one = zip::ZipWriter::new(Cursor::new(Vec::new()));
    one.start_file("zeros", options).expect("zip entry");
    one.write_all(&vec![0u8; 1 << 20]).expect("zip write");
    let one = one.finish().expect("zip finish").into_inner();
    let mut source = zip::ZipArchive::new(Cursor::new(one)).expect("a zip");
    let mut bomb = zip::ZipWriter::new(Cursor::new(Vec::new()));
    bomb.start_file("function.py", options).expect("zip entry");
    bomb.write_all(b"1").expect("zip write");
    for i in 0..500 {
        let entry = source.by_index_raw(0).expect("the entry");
        bomb.raw_copy_file_rename(entry, format!("zeros-{i}"))
            .expect("copy the entry");
    }
    bomb.finish().expect("zip finish").into_inner()
}

#[tokio::test]
async fn a_zip_bomb_is_refused_at_upload_and_nothing_is_stored() {
    let bomb = zip_bomb();
    assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let (status, message) = api_error(
        t.api
            .create_function(&Upload {
                runtime_id: Some(rt.id.clone()),
                package: Some(bomb.clone()),
                ..Upload::default()
            })
            .await,
    );
    assert_eq!(status, 413, "{message}");
    assert!(
        message.contains("262144000 bytes unpacked") && message.contains("max_unpacked_size"),
        "{message}"
    );
    assert!(t.package_files().is_empty(), "{:?}", t.package_files());
    assert!(
        t.api.list_functions(false).await.expect("list").is_empty(),
        "no function was made"
    );

    // The same on an update: the function keeps its code, and nothing new is stored.
    let f = t.function(&rt, "1").await;
    let before = t.package_files();
    let (status, message) = api_error(
        t.api
            .update_function(
                &f.id,
                &Upload {
                    package: Some(bomb),
                    ..Upload::default()
                },
            )
            .await,
    );
    assert_eq!(status, 413, "{message}");
    assert_eq!(t.package_files(), before);
    assert_eq!(
        crate::harness::output(&t.run(&f, None).await)["v"],
        json!(1)
    );
}

#[tokio::test]
async fn what_a_package_unpacks_to_counts_against_package_bytes() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    // 100 KB of text that deflates to a few hundred bytes.
    let padding = "x".repeat(100_000);
    let zip = zip_files(&[("function.py", "1"), ("padding.txt", &padding)]);
    assert!(zip.len() < 2_000, "{}", zip.len());
    t.api
        .set_quotas(
            "default",
            &SetQuotas {
                package_bytes: Some(json!(50_000)),
                ..SetQuotas::default()
            },
        )
        .await
        .expect("set quotas");
    let (status, message) = api_error(
        t.api
            .create_function(&Upload {
                runtime_id: Some(rt.id.clone()),
                package: Some(zip.clone()),
                ..Upload::default()
            })
            .await,
    );
    assert_eq!(status, 403, "{message}");
    assert!(message.contains("package_bytes"), "{message}");
    assert!(t.package_files().is_empty());

    // Under the quota, usage shows the zip and what it unpacks to.
    let small = returning("1");
    let f = t
        .api
        .create_function(&Upload {
            runtime_id: Some(rt.id.clone()),
            package: Some(small.clone()),
            ..Upload::default()
        })
        .await
        .expect("created");
    let q = t.api.quotas(None).await.expect("quotas");
    assert_eq!(q.package_bytes.in_use, small.len() as u64 + 1, "{f:?}");
}
