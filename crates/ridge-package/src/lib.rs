//! Function packages: zip blobs (or a single WebAssembly binary) stored per project and
//! function, checked on the way in (valid zip or wasm magic, md5, safe entry names, and what it
//! unpacks to, measured by decompressing it, under the unpack limits), and unpacked once,
//! read-only, for workers to load: on disk, or each into a tmpfs of its own within a bounded
//! cache (`tmpfs.rs`, `budget.rs`), so that a worker's mount table names no host path.
//!
//! [`PackageStore`] is the seam for object storage: [`LocalPackageStore`] keeps blobs on local
//! disk under the data directory; [`S3PackageStore`] keeps them in an S3-compatible bucket shared
//! by every node, and unpacks them on local disk through a [`LocalPackageStore`] cache. This crate does not know about functions' metadata:
//! the caller passes project, function id and md5.

use std::path::PathBuf;

use async_trait::async_trait;
use bytes::Bytes;
use ridge_core::{FunctionId, ProjectId};

mod budget;
mod checked;
mod error;
mod fsutil;
mod local;
pub mod s3;
mod tmpfs;
mod unpack;
mod zipcheck;

pub use checked::CheckedPackage;
pub use error::{PackageError, UnpackLimit, UnsafeReason};
pub use local::{LocalPackageStore, UnpackLimits};
pub use s3::{S3Config, S3Location, S3PackageStore};
pub use zipcheck::{is_wasm, md5_hex, validate_package, validate_zip};

/// The file a package that is a single WebAssembly binary unpacks to.
pub const WASM_PACKAGE_FILE: &str = "main.wasm";

pub type Result<T, E = PackageError> = std::result::Result<T, E>;

#[async_trait]
pub trait PackageStore: Send + Sync + 'static {
    /// A short description for `GET /v1/info` (`local:/path/packages`).
    fn describe(&self) -> String;

    /// Checks an upload without storing it: a zip or a WebAssembly binary, with `expected_md5`
    /// when given, whose entries are safe and which unpacks within the unpack limits (measured
    /// by decompressing it, never from the sizes the zip declares).
    async fn check(&self, bytes: Bytes, expected_md5: Option<&str>) -> Result<CheckedPackage>;

    /// Stores a checked package and returns its md5 (lower-case hex). Storing the same content
    /// twice is harmless.
    async fn store(
        &self,
        project: &ProjectId,
        function: FunctionId,
        package: CheckedPackage,
    ) -> Result<String>;

    /// [`PackageStore::check`], then [`PackageStore::store`].
    async fn put(
        &self,
        project: &ProjectId,
        function: FunctionId,
        bytes: Bytes,
        expected_md5: Option<&str>,
    ) -> Result<String> {
        let package = self.check(bytes, expected_md5).await?;
        self.store(project, function, package).await
    }

    /// The stored package as uploaded. `NotFound` when absent.
    async fn get(&self, project: &ProjectId, function: FunctionId, md5: &str) -> Result<Bytes>;

    /// Removes one stored package and its unpacked copy; absent is not an error.
    async fn delete(&self, project: &ProjectId, function: FunctionId, md5: &str) -> Result<()>;

    /// Removes every package of the function; absent is not an error.
    async fn delete_all(&self, project: &ProjectId, function: FunctionId) -> Result<()>;

    /// Bytes of every stored package of the project, each counted as its zip plus what it
    /// unpacks to ([`CheckedPackage::footprint`]), for its `package_bytes` quota.
    async fn project_bytes(&self, project: &ProjectId) -> Result<u64>;

    /// A local directory holding the package unpacked, read-only. Unpacked on first use and
    /// reused after; concurrent callers for the same package get the same directory.
    async fn unpacked(
        &self,
        project: &ProjectId,
        function: FunctionId,
        md5: &str,
    ) -> Result<PathBuf>;
}
