//! What only the S3 store does, against a real SeaweedFS: the start-up check, integrity of what
//! comes back, paging, prefixes; and, against a stand-in that answers 503, bounded retries.

use bytes::Bytes;
use ridge_core::{FunctionId, ProjectId};
use ridge_package::s3::testing::TestS3;
use ridge_package::s3::{Bucket, S3Credentials};
use ridge_package::{
    PackageError, PackageStore, S3Config, S3Location, S3PackageStore, UnpackLimits, md5_hex,
};

use crate::common::hello;

async fn connect(config: &S3Config, url: &str) -> Result<S3PackageStore, PackageError> {
    let dir = tempfile::tempdir().expect("temp dir");
    S3PackageStore::connect(
        S3Location::parse(url).expect("valid location"),
        config,
        dir.path().join("cache"),
        dir.path().join("unpacked"),
        UnpackLimits::default(),
    )
    .await
}

fn with_keys(config: &S3Config, access_key_id: &str, secret: &str) -> S3Config {
    S3Config {
        credentials: S3Credentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret.to_owned(),
            session_token: None,
        },
        ..config.clone()
    }
}

#[tokio::test]
async fn start_up_names_a_missing_bucket_refused_keys_and_an_unreachable_endpoint() {
    let s3 = TestS3::start();
    let bucket = s3.bucket().await;
    let good = s3.config();
    let url = format!("s3://{}/p", bucket.name());
    connect(&good, &url).await.expect("a usable bucket");

    let missing = TestS3::unique_bucket_name();
    let err = connect(&good, &format!("s3://{missing}"))
        .await
        .expect_err("no such bucket");
    assert!(
        matches!(&err, PackageError::BucketNotFound { bucket, .. } if *bucket == missing),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "bucket `{missing}` does not exist at `{}`: create it first (Ridge does not)",
            s3.endpoint
        )
    );

    for (config, code) in [
        (
            with_keys(&good, &good.credentials.access_key_id, "wrong-secret"),
            "SignatureDoesNotMatch",
        ),
        (
            with_keys(&good, "no-such-key", "wrong-secret"),
            "InvalidAccessKeyId",
        ),
    ] {
        let err = connect(&config, &url).await.expect_err("refused keys");
        assert!(
            matches!(&err, PackageError::AccessDenied { code: c, .. } if c == code),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("access to bucket `{}`", bucket.name())),
            "{text}"
        );
        // The secret is never part of the message.
        assert!(
            !text.contains(&good.credentials.secret_access_key),
            "{text}"
        );
    }

    // A port nothing listens on (bound, then released).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address");
    let nowhere = S3Config {
        endpoint: Some(format!("http://{closed}")),
        ..good.clone()
    };
    let err = connect(&nowhere, &url).await.expect_err("unreachable");
    assert!(
        matches!(err, PackageError::ObjectStoreUnreachable { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("cannot reach the object store at `http://{closed}`")
    );

    // Plain HTTP only when allowed; other schemes never.
    for (endpoint, allow_http, expected) in [
        (s3.endpoint.as_str(), false, "set AWS_ALLOW_HTTP=true"),
        ("ftp://127.0.0.1:1", true, "expected http or https"),
        ("not a url", true, "is not a URL"),
        (
            "http://user:pw@127.0.0.1:1",
            true,
            "must not carry credentials",
        ),
    ] {
        let config = S3Config {
            endpoint: Some(endpoint.to_owned()),
            allow_http,
            ..good.clone()
        };
        let err = connect(&config, &url).await.expect_err(endpoint);
        assert!(
            matches!(&err, PackageError::InvalidS3Config { reason } if reason.contains(expected)),
            "{endpoint}: {err}"
        );
    }
}

#[tokio::test]
async fn a_package_changed_in_the_bucket_is_refused_not_served() {
    let s3 = TestS3::start();
    let bucket = s3.bucket().await;
    let store = connect(&s3.config(), &format!("s3://{}", bucket.name()))
        .await
        .expect("connect");
    let project = ProjectId::default_project();
    let function = FunctionId::new();
    let md5 = store
        .put(&project, function, Bytes::from(hello()), None)
        .await
        .expect("put");
    let key = format!("{}/{function}_{md5}.zip", project.as_str());
    // The zip, and the empty marker whose name records what it unpacks to.
    let unpacked = store
        .check(Bytes::from(hello()), None)
        .await
        .expect("check")
        .unpacked_bytes();
    assert_eq!(
        bucket.list("").await.expect("list"),
        vec![
            ridge_package::s3::Object {
                key: key.clone(),
                size: u64::try_from(hello().len()).expect("fits"),
            },
            ridge_package::s3::Object {
                key: format!("{key}.unpacked-{unpacked}"),
                size: 0,
            }
        ]
    );

    // Someone with write access to the bucket replaces the content under the same name.
    let forged = crate::common::zip_of(&[crate::common::Entry::File("main.py", b"evil")]);
    let sha = sha256_hex(&forged);
    bucket
        .put(&key, Bytes::from(forged), &sha)
        .await
        .expect("overwrite");
    let err = store
        .get(&project, function, &md5)
        .await
        .expect_err("md5 differs");
    assert!(
        matches!(&err, PackageError::ObjectCorrupt { key: k } if *k == key),
        "{err:?}"
    );
    let err = store
        .unpacked(&project, function, &md5)
        .await
        .expect_err("never unpacked");
    assert!(matches!(err, PackageError::ObjectCorrupt { .. }), "{err:?}");
}

#[tokio::test]
async fn listings_page_through_and_prefixes_keep_stores_apart() {
    let s3 = TestS3::start();
    let bucket = s3.bucket().await;
    let project = ProjectId::default_project();
    let function = FunctionId::new();
    let a = connect(&s3.config(), &format!("s3://{}/a", bucket.name()))
        .await
        .expect("connect");
    let ab = connect(&s3.config(), &format!("s3://{}/ab", bucket.name()))
        .await
        .expect("connect");
    let mut total = 0u64;
    for i in 0..5u8 {
        let zip = crate::common::zip_of(&[crate::common::Entry::File(
            "main.py",
            &[b'x'; 10][..usize::from(i) + 1],
        )]);
        total += a
            .check(Bytes::from(zip.clone()), None)
            .await
            .expect("check")
            .footprint();
        a.put(&project, function, Bytes::from(zip), None)
            .await
            .expect("put");
    }
    // Pages of two keys: five requests, every key (five zips, five markers) once.
    let listed = bucket.list_in_pages_of("a/", 2).await.expect("list");
    assert_eq!(listed.len(), 10);
    let unique: std::collections::BTreeSet<_> = listed.iter().map(|o| &o.key).collect();
    assert_eq!(unique.len(), 10, "{listed:?}");
    assert_eq!(a.project_bytes(&project).await.expect("bytes"), total);
    // `ab/` is not under `a/`: the other store sees nothing, and deletes nothing of `a`.
    assert_eq!(ab.project_bytes(&project).await.expect("bytes"), 0);
    ab.delete_all(&project, function).await.expect("delete all");
    assert_eq!(bucket.list("a/").await.expect("list").len(), 10);
    let md5 = md5_hex(&hello());
    assert!(matches!(
        ab.get(&project, function, &md5).await,
        Err(PackageError::NotFound { .. })
    ));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The same key, seen through two clients, is the same object (a sanity check of signing with
/// keys and paths that need encoding).
#[tokio::test]
async fn keys_that_need_encoding_round_trip() {
    let s3 = TestS3::start();
    let bucket: Bucket = s3.bucket().await;
    let key = "odd prefix/with+plus&amp=/ünïcode~.zip";
    let body = Bytes::from_static(b"content");
    bucket
        .put(key, body.clone(), &sha256_hex(&body))
        .await
        .expect("put");
    assert_eq!(bucket.get(key).await.expect("get"), Some(body));
    let listed = bucket.list("odd prefix/").await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, key);
    bucket.delete(key).await.expect("delete");
    assert_eq!(bucket.get(key).await.expect("get"), None);
    bucket.delete(key).await.expect("deleting nothing is fine");
}

/// A stand-in endpoint that answers 503 to the first `busy` requests and an empty listing after;
/// returns its URL and the count of requests it got.
async fn busy_endpoint(busy: usize) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (status, body) = if n < busy {
                (
                    "503 Service Unavailable",
                    "<Error><Code>SlowDown</Code><Message>busy</Message></Error>",
                )
            } else {
                (
                    "200 OK",
                    "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated></ListBucketResult>",
                )
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (url, count)
}

#[tokio::test]
async fn transient_refusals_are_retried_a_bounded_number_of_times() {
    use std::sync::atomic::Ordering;
    let credentials = S3Credentials {
        access_key_id: "k".to_owned(),
        secret_access_key: "s".to_owned(),
        session_token: None,
    };
    let config = |endpoint: String| S3Config {
        endpoint: Some(endpoint),
        region: "us-east-1".to_owned(),
        credentials: credentials.clone(),
        allow_http: true,
        ca_roots: Vec::new(),
    };
    // Two busy answers, then a listing: the third try gets through.
    let (url, count) = busy_endpoint(2).await;
    connect(&config(url), "s3://bucket")
        .await
        .expect("the third try succeeds");
    assert_eq!(count.load(Ordering::SeqCst), 3);

    // Busy for good: three tries, then the last answer is the error.
    let (url, count) = busy_endpoint(usize::MAX).await;
    let err = connect(&config(url), "s3://bucket")
        .await
        .expect_err("busy for good");
    assert!(
        matches!(&err, PackageError::ObjectStore { status: 503, code, .. } if code == "SlowDown"),
        "{err:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
}
