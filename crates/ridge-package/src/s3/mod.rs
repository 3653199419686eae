//! [`S3PackageStore`]: packages as objects in an S3-compatible bucket (AWS, Ceph RGW, MinIO,
//! SeaweedFS), so that every node of a cluster reads the same packages:
//!
//! ```text
//! s3://<bucket>/<prefix>/<project>/<function_id>_<md5>.zip      the stored zip
//! ```
//!
//! The bucket is the truth; this node keeps a cache, never consulted for what exists:
//! a package is downloaded on its first unpack into a [`LocalPackageStore`] under the data
//! directory, which checks and unpacks it exactly as for local packages (same limits, same
//! atomic renames), so the unpacked copy a worker loads is always on local disk. Names carry
//! the md5, so a cached copy is never outdated; deletes remove the object and this node's copy.
//!
//! `project_bytes` lists the project's prefix in the bucket (one request per thousand
//! packages), so it counts what every node stored.
//!
//! Requests are path-style (`https://endpoint/bucket/key`, which every S3-compatible server
//! accepts) and signed with AWS Signature Version 4 ([`sigv4`]); [`bucket`] holds the timeouts
//! and retries. This module does not create buckets for the server: an operator does.

use std::io;
use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use ridge_core::{FunctionId, ProjectId};

use crate::fsutil::blocking;
use crate::zipcheck::{is_md5_hex, md5_hex};
use crate::{CheckedPackage, LocalPackageStore, PackageError, PackageStore, Result, UnpackLimits};

mod bucket;
mod sigv4;
#[cfg(feature = "seaweedfs")]
pub mod testing;

pub use bucket::{Bucket, Object};
pub use sigv4::Credentials as S3Credentials;

/// The region when `AWS_REGION` is unset, as the AWS tools assume.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Where and how to reach the object store: what the AWS variables (`AWS_ENDPOINT_URL`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
/// `AWS_ALLOW_HTTP`) say. `Debug` hides the secrets.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// `None`: AWS itself, `https://s3.<region>.amazonaws.com`.
    pub endpoint: Option<String>,
    pub region: String,
    pub credentials: S3Credentials,
    /// Whether a plain `http://` endpoint is allowed (default false).
    pub allow_http: bool,
    /// CA certificates trusted for an `https://` endpoint besides the system's roots.
    pub ca_roots: Vec<reqwest::Certificate>,
}

impl S3Config {
    /// The endpoint URL requests go to.
    pub fn endpoint(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://s3.{}.amazonaws.com", self.region))
    }
}

/// `s3://BUCKET[/PREFIX]`, parsed: the bucket, and the prefix every key starts with (empty, or
/// ending with one `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |why: &str| PackageError::InvalidS3Config {
            reason: format!("`{url}` {why}: expected s3://BUCKET or s3://BUCKET/PREFIX"),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("does not start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(invalid(
                "has no valid bucket name (3 to 63 lower-case letters, digits, `-` and `.`)",
            ));
        }
        if prefix.contains(['?', '#']) || prefix.chars().any(char::is_control) {
            return Err(invalid("has a prefix with `?`, `#` or control characters"));
        }
        let prefix = prefix.trim_matches('/');
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}", self.bucket)?;
        match self.prefix.trim_end_matches('/') {
            "" => Ok(()),
            prefix => write!(f, "/{prefix}"),
        }
    }
}

/// Packages in a bucket, unpacked on local disk.
#[derive(Debug)]
pub struct S3PackageStore {
    bucket: Bucket,
    prefix: String,
    location: S3Location,
    /// This node's downloaded zips and their unpacked copies.
    cache: LocalPackageStore,
    cache_root: PathBuf,
}

/// Between a zip's key and what it unpacks to, in the name of the empty object beside it:
/// `<project>/<function>_<md5>.zip.unpacked-<bytes>`.
const UNPACKED_MARKER: &str = ".unpacked-";

impl S3PackageStore {
    /// Connects and checks, with one list request, that the bucket exists and the credentials
    /// may read it: a server never starts on a store it cannot use. Downloaded zips go under
    /// `cache_root`, unpacked copies under `unpack_root`.
    pub async fn connect(
        location: S3Location,
        config: &S3Config,
        cache_root: PathBuf,
        unpack_root: PathBuf,
        limits: UnpackLimits,
    ) -> Result<Self> {
        let bucket = Bucket::new(config, &location.bucket)?;
        bucket.check(&location.prefix).await?;
        Ok(Self {
            bucket,
            prefix: location.prefix.clone(),
            location,
            cache: LocalPackageStore::new(cache_root.clone(), unpack_root, limits),
            cache_root,
        })
    }

    /// Unpacks into a tmpfs per package within `capacity` bytes (see
    /// [`LocalPackageStore::unpack_in_tmpfs`]).
    #[must_use]
    pub fn unpack_in_tmpfs(mut self, capacity: u64) -> Self {
        self.cache = self.cache.unpack_in_tmpfs(capacity);
        self
    }

    /// Empties this node's cache (downloads and unpacked copies), as at start-up: unpacked
    /// files are not fsynced, and packages deleted by another node leave nothing behind.
    pub async fn clear_cache(&self) -> Result<()> {
        match tokio::fs::remove_dir_all(&self.cache_root).await {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(PackageError::Io {
                    context: format!("cannot remove `{}`", self.cache_root.display()),
                    source,
                });
            }
        }
        self.cache.clear_unpacked().await
    }

    fn project_prefix(&self, project: &ProjectId) -> String {
        format!("{}{}/", self.prefix, project.as_str())
    }

    fn key(&self, project: &ProjectId, function: FunctionId, md5: &str) -> String {
        format!("{}{function}_{md5}.zip", self.project_prefix(project))
    }
}

#[async_trait]
impl PackageStore for S3PackageStore {
    fn describe(&self) -> String {
        format!("{} at {}", self.location, self.bucket.endpoint())
    }

    async fn check(&self, bytes: Bytes, expected_md5: Option<&str>) -> Result<CheckedPackage> {
        // The same checks and limits as a local store: the cache is one, with this store's limits.
        self.cache.check(bytes, expected_md5).await
    }

    async fn store(
        &self,
        project: &ProjectId,
        function: FunctionId,
        package: CheckedPackage,
    ) -> Result<String> {
        let CheckedPackage {
            bytes,
            md5,
            unpacked_bytes,
        } = package;
        let checked = bytes.clone();
        let sha256 = blocking(move || Ok(sigv4::payload_sha256(&checked))).await?;
        let key = self.key(project, function, &md5);
        let size = bytes.len();
        // What it unpacks to goes in the name of an empty object beside the zip, written first,
        // so that a project's usage is one listing (a listing shows names and sizes, not
        // contents). Same name, same content: storing either again is harmless.
        let marker = format!("{key}{UNPACKED_MARKER}{unpacked_bytes}");
        self.bucket
            .put(&marker, Bytes::new(), &sigv4::payload_sha256(&[]))
            .await?;
        self.bucket.put(&key, bytes, &sha256).await?;
        tracing::debug!(bucket = %self.bucket.name(), %key, size, unpacked_bytes, "stored package");
        Ok(md5)
    }

    async fn get(&self, project: &ProjectId, function: FunctionId, md5: &str) -> Result<Bytes> {
        let not_found = || PackageError::NotFound {
            function,
            md5: md5.to_owned(),
        };
        if !is_md5_hex(md5) {
            return Err(not_found());
        }
        let key = self.key(project, function, md5);
        let bytes = self.bucket.get(&key).await?.ok_or_else(not_found)?;
        let expected = md5.to_owned();
        blocking(move || {
            if md5_hex(&bytes) == expected {
                Ok(bytes)
            } else {
                Err(PackageError::ObjectCorrupt { key })
            }
        })
        .await
    }

    async fn delete(&self, project: &ProjectId, function: FunctionId, md5: &str) -> Result<()> {
        if !is_md5_hex(md5) {
            return Ok(());
        }
        // The zip and its unpacked-size marker (`<key>.unpacked-N`).
        for object in self.bucket.list(&self.key(project, function, md5)).await? {
            self.bucket.delete(&object.key).await?;
        }
        self.cache.delete(project, function, md5).await
    }

    async fn delete_all(&self, project: &ProjectId, function: FunctionId) -> Result<()> {
        let prefix = format!("{}{function}_", self.project_prefix(project));
        for object in self.bucket.list(&prefix).await? {
            self.bucket.delete(&object.key).await?;
        }
        self.cache.delete_all(project, function).await
    }

    async fn project_bytes(&self, project: &ProjectId) -> Result<u64> {
        let objects = self.bucket.list(&self.project_prefix(project)).await?;
        Ok(objects
            .iter()
            .map(|o| match o.key.rsplit_once(UNPACKED_MARKER) {
                Some((_, unpacked)) => unpacked.parse().unwrap_or(0),
                None if o.key.ends_with(".zip") => o.size,
                None => 0,
            })
            .fold(0u64, u64::saturating_add))
    }

    async fn unpacked(
        &self,
        project: &ProjectId,
        function: FunctionId,
        md5: &str,
    ) -> Result<PathBuf> {
        match self.cache.unpacked(project, function, md5).await {
            Err(PackageError::NotFound { .. }) => {}
            found => return found,
        }
        // Not on this node yet: download it into the cache, which checks it again and unpacks.
        let bytes = self.get(project, function, md5).await?;
        self.cache.put(project, function, bytes, Some(md5)).await?;
        self.cache.unpacked(project, function, md5).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_with_and_without_a_prefix() {
        let plain = S3Location::parse("s3://ridge-packages").expect("valid");
        assert_eq!(
            (plain.bucket.as_str(), plain.prefix.as_str()),
            ("ridge-packages", "")
        );
        assert_eq!(plain.to_string(), "s3://ridge-packages");
        let nested = S3Location::parse("s3://b.example/cluster/a/").expect("valid");
        assert_eq!(
            (nested.bucket.as_str(), nested.prefix.as_str()),
            ("b.example", "cluster/a/")
        );
        assert_eq!(nested.to_string(), "s3://b.example/cluster/a");
        for bad in [
            "ridge",
            "file:///x",
            "s3://",
            "s3://ab",
            "s3://Upper",
            "s3://under_score",
            "s3://-dash",
            "s3://b/p?x",
        ] {
            let err = S3Location::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("expected s3://BUCKET"), "{bad}: {err}");
        }
    }
}
