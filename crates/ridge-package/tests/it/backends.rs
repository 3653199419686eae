//! One store fixture over every backend: the local directory and S3 (a real SeaweedFS), so that
//! one test body checks both. [`on_every_store!`] turns `async fn name(fx: StoreFixture)` into
//! the tests `name::local` and `name::s3`.

use std::path::PathBuf;
use std::sync::Arc;

use ridge_core::{FunctionId, ProjectId};
use ridge_package::s3::Bucket;
use ridge_package::s3::testing::TestS3;
use ridge_package::{LocalPackageStore, PackageStore, S3Location, S3PackageStore, UnpackLimits};
use tempfile::TempDir;

use crate::common::tree;

/// Generates `mod name { local, s3 }` tests for each `async fn name(fx: StoreFixture)`.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use crate::backends::StoreFixture;

            #[tokio::test]
            async fn local() {
                super::$name(StoreFixture::local()).await;
            }

            #[tokio::test]
            async fn s3() {
                super::$name(StoreFixture::s3().await).await;
            }
        }
    )*};
}
pub(crate) use on_every_store;

pub enum Backend {
    Local,
    S3(Box<S3Backend>),
}

pub struct S3Backend {
    pub s3: TestS3,
    pub bucket: Bucket,
}

pub struct StoreFixture {
    pub dir: TempDir,
    pub store: Arc<dyn PackageStore>,
    pub backend: Backend,
    pub project: ProjectId,
    pub function: FunctionId,
}

/// Where a fixture's (first) node keeps its unpacked copies; a second node uses `unpacked-2`.
const UNPACKED: &str = "unpacked";
/// The key prefix of S3 fixtures, so that tests show keys are kept under it.
const PREFIX: &str = "cluster-a";

impl StoreFixture {
    pub fn local() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = local_store(&dir, UNPACKED);
        Self {
            dir,
            store: Arc::new(store),
            backend: Backend::Local,
            project: ProjectId::default_project(),
            function: FunctionId::new(),
        }
    }

    pub async fn s3() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let s3 = TestS3::start();
        let bucket = s3.bucket().await;
        let store = s3_store(&s3, bucket.name(), &dir, UNPACKED).await;
        Self {
            dir,
            store: Arc::new(store),
            backend: Backend::S3(Box::new(S3Backend { s3, bucket })),
            project: ProjectId::default_project(),
            function: FunctionId::new(),
        }
    }

    /// Another node on the same packages (same directory or bucket), with its own unpacked
    /// copies (and, for S3, its own download cache).
    pub async fn second_node(&self) -> Arc<dyn PackageStore> {
        match &self.backend {
            Backend::Local => Arc::new(local_store(&self.dir, "unpacked-2")),
            Backend::S3(b) => {
                Arc::new(s3_store(&b.s3, b.bucket.name(), &self.dir, "unpacked-2").await)
            }
        }
    }

    /// The names of the stored packages of `project` (files in its directory, or keys under
    /// its prefix), sorted: what a reader of the store sees, temporaries included, without the
    /// records of what each unpacks to (a `.size` file, or an S3 key ending `.unpacked-N`).
    pub async fn stored(&self, project: &ProjectId) -> Vec<String> {
        let mut names = self.stored_with_records(project).await;
        names.retain(|name| !name.ends_with(".size") && !name.contains(".unpacked-"));
        names
    }

    async fn stored_with_records(&self, project: &ProjectId) -> Vec<String> {
        match &self.backend {
            Backend::Local => tree(&self.dir.path().join("packages").join(project.as_str())),
            Backend::S3(b) => {
                let prefix = format!("{PREFIX}/{}/", project.as_str());
                let mut names: Vec<String> = b
                    .bucket
                    .list("")
                    .await
                    .expect("list")
                    .into_iter()
                    .filter_map(|o| o.key.strip_prefix(&prefix).map(str::to_owned))
                    .collect();
                names.sort();
                names
            }
        }
    }

    /// This node's unpacked copies of the fixture's project.
    pub fn unpacked_dir(&self) -> PathBuf {
        self.dir.path().join(UNPACKED).join(self.project.as_str())
    }

    /// What `describe` says for this backend.
    pub fn description(&self) -> String {
        match &self.backend {
            Backend::Local => format!("file://{}", self.dir.path().join("packages").display()),
            Backend::S3(b) => format!("s3://{}/{PREFIX} at {}", b.bucket.name(), b.s3.endpoint),
        }
    }
}

fn local_store(dir: &TempDir, unpacked: &str) -> LocalPackageStore {
    LocalPackageStore::new(
        dir.path().join("packages"),
        dir.path().join(unpacked),
        UnpackLimits::default(),
    )
}

async fn s3_store(s3: &TestS3, bucket: &str, dir: &TempDir, unpacked: &str) -> S3PackageStore {
    let location = S3Location::parse(&format!("s3://{bucket}/{PREFIX}/")).expect("valid");
    S3PackageStore::connect(
        location,
        &s3.config(),
        dir.path().join(format!("{unpacked}-cache")),
        dir.path().join(unpacked),
        UnpackLimits::default(),
    )
    .await
    .expect("the bucket is usable")
}
