//! A real SeaweedFS S3 server for tests (feature `seaweedfs`, enabled from dev-dependencies
//! only). `scripts/test.sh` starts one for the whole run (`scripts/s3-test.sh`) and exports
//! `RIDGE_TEST_S3_ENDPOINT` with its keys; a test run without it starts its own through the same
//! script, slower but as real. Each test takes a bucket of its own.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Bucket, S3Config, S3Credentials};

/// The script that starts and stops the server.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/s3-test.sh");

/// A reachable SeaweedFS and its access key. Stops the server on drop if it started it.
#[derive(Debug)]
pub struct TestS3 {
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// The state directory of a server this value started.
    owned: Option<String>,
}

impl TestS3 {
    /// The run's server (`RIDGE_TEST_S3_ENDPOINT`), or a new one. Panics, saying why, when none
    /// can be had: S3 tests are never skipped.
    pub fn start() -> Self {
        if let Ok(endpoint) = std::env::var("RIDGE_TEST_S3_ENDPOINT") {
            let var = |name: &str| {
                std::env::var(name).unwrap_or_else(|_| {
                    panic!("RIDGE_TEST_S3_ENDPOINT is set but {name} is not: start the server with scripts/s3-test.sh")
                })
            };
            return Self {
                endpoint,
                access_key_id: var("RIDGE_TEST_S3_ACCESS_KEY_ID"),
                secret_access_key: var("RIDGE_TEST_S3_SECRET_ACCESS_KEY"),
                owned: None,
            };
        }
        let output = Command::new("bash")
            .arg(SCRIPT)
            .arg("start")
            .arg(std::process::id().to_string())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {SCRIPT}: {e}"));
        assert!(
            output.status.success(),
            "{SCRIPT} could not start SeaweedFS:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let exports = String::from_utf8_lossy(&output.stdout);
        let value = |name: &str| {
            exports
                .lines()
                .find_map(|line| line.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{SCRIPT} printed no {name}:\n{exports}"))
                .to_owned()
        };
        Self {
            endpoint: value("RIDGE_TEST_S3_ENDPOINT"),
            access_key_id: value("RIDGE_TEST_S3_ACCESS_KEY_ID"),
            secret_access_key: value("RIDGE_TEST_S3_SECRET_ACCESS_KEY"),
            owned: Some(value("RIDGE_TEST_S3_STATE")),
        }
    }

    /// Settings that reach the server with its key.
    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: Some(self.endpoint.clone()),
            region: super::DEFAULT_REGION.to_owned(),
            credentials: S3Credentials {
                access_key_id: self.access_key_id.clone(),
                secret_access_key: self.secret_access_key.clone(),
                session_token: None,
            },
            allow_http: true,
            ca_roots: Vec::new(),
        }
    }

    /// The AWS variables a `ridge serve` process needs to reach the server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
    }

    /// A name no other test uses (and no bucket has yet).
    pub fn unique_bucket_name() -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        format!(
            "rt-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A new, empty bucket of this test's own.
    pub async fn bucket(&self) -> Bucket {
        let bucket =
            Bucket::new(&self.config(), &Self::unique_bucket_name()).expect("valid settings");
        bucket.create().await.expect("the test bucket is created");
        bucket
    }
}

impl Drop for TestS3 {
    fn drop(&mut self) {
        if let Some(state) = self.owned.take()
            && Path::new(&state).is_dir()
        {
            let _ = Command::new("bash")
                .arg(SCRIPT)
                .arg("stop")
                .arg(&state)
                .status();
        }
    }
}
