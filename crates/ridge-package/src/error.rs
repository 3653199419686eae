//! The package store's one error enum.

use std::fmt;

use ridge_core::FunctionId;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The upload is not a zip archive (Qinling's message, which clients match on).
    #[error("Package is not a valid ZIP package.")]
    NotZip,
    /// The upload's md5 differs from the one the client announced (Qinling's message).
    #[error("Package md5 mismatch.")]
    Md5Mismatch,
    #[error("package `{md5}` of function `{function}` not found")]
    NotFound { function: FunctionId, md5: String },
    /// An entry that would land outside the unpack directory, or a link.
    #[error("package entry `{name}` is refused: {reason}")]
    UnsafeEntry { name: String, reason: UnsafeReason },
    /// The package unpacks to more than the operator allows.
    #[error(
        "package exceeds the unpack limit of {limit} (measured while decompressing it); ship fewer or smaller files, or ask the operator to raise `max_unpacked_size`"
    )]
    TooLarge { limit: UnpackLimit },
    /// The package needs more memory unpacked than the whole unpack cache holds.
    #[error(
        "package needs {bytes} bytes unpacked, more than the unpack cache of {capacity} bytes holds; ship a smaller package, or ask the operator to raise `unpack_cache_size`"
    )]
    UnpackCacheTooSmall { bytes: u64, capacity: u64 },
    /// An entry whose content cannot be read back (damaged data, a bad checksum, encryption,
    /// an unsupported compression method).
    #[error("package entry `{name}` cannot be read")]
    UnreadableEntry {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// The local disk failed; `context` says what was being done to which path.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An `s3://` URL or S3 setting Ridge cannot use; `reason` says what to fix.
    #[error("invalid S3 package store setting: {reason}")]
    InvalidS3Config { reason: String },
    /// The object store answered that the bucket does not exist.
    #[error("bucket `{bucket}` does not exist at `{endpoint}`: create it first (Ridge does not)")]
    BucketNotFound { bucket: String, endpoint: String },
    /// The object store refused the credentials or their rights on the bucket.
    #[error("access to bucket `{bucket}` at `{endpoint}` denied ({code}): {message}")]
    AccessDenied {
        bucket: String,
        endpoint: String,
        code: String,
        message: String,
    },
    /// No answer from the object store, after retries.
    #[error("cannot reach the object store at `{endpoint}`")]
    ObjectStoreUnreachable {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// Any other refusal of the object store.
    #[error("the object store answered {status} to {operation} `{key}` ({code}): {message}")]
    ObjectStore {
        operation: &'static str,
        key: String,
        status: u16,
        code: String,
        message: String,
    },
    /// A stored package read back with another md5 than its name says.
    #[error("package `{key}` read back from the object store does not match its md5")]
    ObjectCorrupt { key: String },
}

impl PackageError {
    /// An [`PackageError::Io`] saying what was being done.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| PackageError::Io { context, source }
    }
}

/// Why an entry is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsafeReason {
    /// `/etc/passwd`, `C:\x`: the entry names an absolute path.
    AbsolutePath,
    /// `../x`, `a/../../x`: the entry climbs out with `..`.
    ParentDir,
    /// Symbolic links could point anywhere on the host.
    Symlink,
    /// A NUL byte, or a file entry with an empty name.
    InvalidName,
    /// Another entry already holds this path (a duplicate, or a file where a directory goes).
    Conflict,
}

impl fmt::Display for UnsafeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnsafeReason::AbsolutePath => "absolute paths are not allowed in a package",
            UnsafeReason::ParentDir => "`..` path components are not allowed in a package",
            UnsafeReason::Symlink => "symbolic links are not allowed in a package",
            UnsafeReason::InvalidName => "the entry name is empty or contains a NUL byte",
            UnsafeReason::Conflict => "another entry of the package already holds this path",
        })
    }
}

/// Which unpack limit a package exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnpackLimit {
    /// Total bytes written while unpacking.
    Bytes(u64),
    /// Entries (files and directories) in the archive.
    Entries(usize),
}

impl fmt::Display for UnpackLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnpackLimit::Bytes(n) => write!(f, "{n} bytes unpacked"),
            UnpackLimit::Entries(n) => write!(f, "{n} entries"),
        }
    }
}
