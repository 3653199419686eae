//! [`CheckedPackage`]: an upload that passed every check, with what it costs on disk.

use bytes::Bytes;

/// An upload that passed [`crate::PackageStore::check`]; only a checked package can be stored.
#[derive(Debug, Clone)]
pub struct CheckedPackage {
    pub(crate) bytes: Bytes,
    pub(crate) md5: String,
    pub(crate) unpacked_bytes: u64,
}

impl CheckedPackage {
    /// Its md5, lower-case hex.
    pub fn md5(&self) -> &str {
        &self.md5
    }

    /// The bytes as uploaded (the stored zip or module).
    pub fn stored_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// What it unpacks to, as measured by decompressing it.
    pub fn unpacked_bytes(&self) -> u64 {
        self.unpacked_bytes
    }

    /// What it counts against the project's `package_bytes` quota: the stored upload plus its
    /// unpacked copy, both of which take room on the server's disk.
    pub fn footprint(&self) -> u64 {
        self.stored_bytes().saturating_add(self.unpacked_bytes)
    }
}
