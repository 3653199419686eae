//! `ridge serve --packages s3://...` against a real SeaweedFS: functions are stored in and run
//! from the bucket, and a server that cannot use the bucket does not start and says why.

use std::process::Stdio;
use std::time::Duration;

use ridge::packages::PackagesSettings;
use ridge_package::S3Location;
use ridge_package::s3::testing::TestS3;

use crate::common::{TestServer, output, returning, serve_command, serve_process_with, zip_files};

#[tokio::test]
async fn functions_are_stored_in_the_bucket_and_run_from_it() {
    let s3 = TestS3::start();
    let bucket = s3.bucket().await;
    let url = format!("s3://{}/ridge", bucket.name());
    let settings = PackagesSettings::S3 {
        location: S3Location::parse(&url).expect("valid"),
        config: s3.config(),
    };
    let use_s3 = |s: &mut ridge::config::Settings| s.packages = settings.clone();
    let server = TestServer::start_with(use_s3).await;
    let info = server.client.info().await.expect("info");
    assert_eq!(info.package_store, format!("{url} at {}", s3.endpoint));

    let runtime = server.python_runtime().await;
    let package = zip_files(&[("function.py", &returning("'from s3'"))]);
    let function = server
        .function_with(&runtime, package.clone(), |_| {})
        .await;
    let key = format!(
        "ridge/{}/{}_{}.zip",
        function.project_id,
        function.id,
        ridge_package::md5_hex(&package)
    );
    // The zip, and the empty marker that records what it unpacks to.
    let objects = bucket.list("").await.expect("list");
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], key);
    assert!(keys[1].starts_with(&format!("{key}.unpacked-")), "{keys:?}");
    assert_eq!(bucket.get(&key).await.expect("get"), Some(package.into()));
    // Nothing is stored on this node's disk but its cache.
    assert!(!server.data_dir().join("packages").exists());

    let run = server.run(&function, None).await;
    assert_eq!(run.status, "success", "{run:?}");
    assert_eq!(output(&run)["v"], "from s3");

    // A restart empties the cache: the next run downloads the package from the bucket again.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir, use_s3).await;
    assert!(!server.data_dir().join("package-cache").exists());
    let run = server.run(&function, None).await;
    assert_eq!(run.status, "success", "{run:?}");
    assert!(server.data_dir().join("package-cache").is_dir());

    server
        .client
        .delete_function(&function.id)
        .await
        .expect("deleted");
    assert_eq!(bucket.list("").await.expect("list"), []);
    server.stop().await;
}

/// Runs `ridge serve` with the AWS variables of `env` (and none from this process), expecting it
/// to fail; returns its stderr.
async fn serve_fails(args: &[&str], env: &[(&str, String)]) -> String {
    let data = tempfile::tempdir().expect("temp dir");
    let mut command = serve_command(data.path(), None);
    command.args(args);
    isolate(&mut command, env);
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        command.stdout(Stdio::null()).output(),
    )
    .await
    .expect("exits within a minute")
    .expect("runs");
    assert!(!out.status.success(), "ridge serve started: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Only `env`'s AWS and Ridge variables reach the child.
fn isolate(command: &mut tokio::process::Command, env: &[(&str, String)]) {
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_ALLOW_HTTP",
        "RIDGE_PACKAGES",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
}

#[tokio::test]
async fn ridge_serve_uses_the_bucket_or_says_why_it_cannot() {
    let s3 = TestS3::start();
    let bucket = s3.bucket().await;
    let url = format!("s3://{}", bucket.name());

    // The flag and the AWS variables: it starts, and says where packages live.
    let data = tempfile::tempdir().expect("temp dir");
    let (mut child, server_url) = serve_process_with(data.path(), None, |c| {
        c.args(["--packages", url.as_str()]);
        isolate(c, &s3.env());
    })
    .await;
    let client = ridge_client::RidgeClient::new(&server_url).expect("client");
    let info = client.info().await.expect("info");
    assert_eq!(info.package_store, format!("{url} at {}", s3.endpoint));
    assert!(
        !info.package_store.contains(&s3.secret_access_key),
        "{info:?}"
    );
    child.kill().await.expect("kill");

    // RIDGE_PACKAGES names a bucket that does not exist.
    let missing = TestS3::unique_bucket_name();
    let mut env = s3.env();
    env.push(("RIDGE_PACKAGES", format!("s3://{missing}/p")));
    let stderr = serve_fails(&[], &env).await;
    assert!(
        stderr.contains(&format!(
            "cannot use the package store `s3://{missing}/p`: bucket `{missing}` does not exist at `{}`",
            s3.endpoint
        )),
        "{stderr}"
    );

    // A wrong secret.
    let wrong: Vec<_> = s3
        .env()
        .into_iter()
        .map(|(k, v)| match k {
            "AWS_SECRET_ACCESS_KEY" => (k, "not-the-secret".to_owned()),
            _ => (k, v),
        })
        .collect();
    let stderr = serve_fails(&["--packages", url.as_str()], &wrong).await;
    assert!(
        stderr.contains(&format!(
            "access to bucket `{}` at `{}` denied (SignatureDoesNotMatch)",
            bucket.name(),
            s3.endpoint
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-secret"), "{stderr}");

    // Plain HTTP without AWS_ALLOW_HTTP, and no credentials at all.
    let no_http: Vec<_> = s3
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "AWS_ALLOW_HTTP")
        .collect();
    let stderr = serve_fails(&["--packages", url.as_str()], &no_http).await;
    assert!(stderr.contains("set AWS_ALLOW_HTTP=true"), "{stderr}");
    let stderr = serve_fails(&["--packages", url.as_str()], &[]).await;
    assert!(
        stderr.contains("S3 packages need credentials: set AWS_ACCESS_KEY_ID"),
        "{stderr}"
    );
}
