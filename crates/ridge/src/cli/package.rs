//! Function packages on the client side, as the openstack client makes them: `--file` zips one
//! source file in memory (stored, not compressed, under its base name), `--package` sends a zip
//! (or a WebAssembly module, for the `wasm` runtime) as given. Either way the package is checked and capped at 50 MiB before anything is sent.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

/// The largest package the CLI sends (python-qinlingclient's `MAX_ZIP_SIZE`).
pub const MAX_PACKAGE_SIZE: u64 = 50 * 1024 * 1024;

/// Where a function's code comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// One source file, zipped by the CLI.
    File(PathBuf),
    /// A zip package made by the user, or a `.wasm` module.
    Package(PathBuf),
}

impl Source {
    pub fn new(file: Option<PathBuf>, package: Option<PathBuf>) -> Option<Self> {
        match (file, package) {
            (Some(f), _) => Some(Source::File(f)),
            (None, Some(p)) => Some(Source::Package(p)),
            (None, None) => None,
        }
    }

    /// The zip to upload.
    pub async fn load(&self) -> anyhow::Result<Bytes> {
        match self {
            Source::File(path) => {
                check_size(path, "file").await?;
                let data = tokio::fs::read(path)
                    .await
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                let name = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .with_context(|| format!("`{}` has no usable file name", path.display()))?;
                let zip = zip_one_file(name, &data)?;
                if zip.len() as u64 > MAX_PACKAGE_SIZE {
                    bail!(too_big(path, zip.len() as u64, " once zipped"));
                }
                Ok(Bytes::from(zip))
            }
            Source::Package(path) => {
                check_size(path, "package").await?;
                let data = tokio::fs::read(path)
                    .await
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                if !ridge_package::is_wasm(&data) {
                    ZipArchive::new(Cursor::new(&data[..])).with_context(|| {
                        format!(
                            "`{}` is not a valid zip file (nor a WebAssembly module)",
                            path.display()
                        )
                    })?;
                }
                Ok(Bytes::from(data))
            }
        }
    }
}

async fn check_size(path: &Path, what: &str) -> anyhow::Result<()> {
    let meta = tokio::fs::metadata(path)
        .await
        .with_context(|| format!("cannot read {what} `{}`", path.display()))?;
    if !meta.is_file() {
        bail!("{what} `{}` is not a file", path.display());
    }
    if meta.len() > MAX_PACKAGE_SIZE {
        bail!(too_big(path, meta.len(), ""));
    }
    Ok(())
}

/// `how` qualifies the size (`" once zipped"`) or is empty.
fn too_big(path: &Path, size: u64, how: &str) -> String {
    format!(
        "`{}` is {size} bytes{how}: function packages are limited to {} MiB ({MAX_PACKAGE_SIZE} bytes)",
        path.display(),
        MAX_PACKAGE_SIZE / (1024 * 1024)
    )
}

/// A zip holding `data` under `name`, stored (not compressed).
pub fn zip_one_file(name: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .unix_permissions(0o644)
        .large_file(data.len() as u64 >= u64::from(u32::MAX));
    zip.start_file(name, options)
        .context("cannot build the zip package")?;
    zip.write_all(data)
        .context("cannot build the zip package")?;
    let cursor = zip.finish().context("cannot build the zip package")?;
    Ok(cursor.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn one_file_becomes_a_stored_zip_holding_it() {
        let source = b"def main(**kwargs):\n    return 'hello'\n";
        let zip = zip_one_file("hello.py", source).expect("zips");
        let mut archive = ZipArchive::new(Cursor::new(zip)).expect("a valid zip");
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).expect("one entry");
        assert_eq!(entry.name(), "hello.py");
        assert_eq!(entry.compression(), CompressionMethod::Stored);
        let mut back = Vec::new();
        entry.read_to_end(&mut back).expect("readable");
        assert_eq!(back, source);
    }

    #[tokio::test]
    async fn file_is_zipped_under_its_base_name() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("handler.py");
        std::fs::write(&path, "def main(): pass\n").expect("writes");
        let zip = Source::File(path).load().await.expect("loads");
        let archive = ZipArchive::new(Cursor::new(zip.to_vec())).expect("a valid zip");
        assert_eq!(archive.file_names().collect::<Vec<_>>(), ["handler.py"]);
    }

    #[tokio::test]
    async fn package_must_be_a_zip() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("code.zip");
        std::fs::write(&path, "not a zip").expect("writes");
        let err = Source::Package(path).load().await.expect_err("refused");
        assert!(
            err.to_string()
                .ends_with("code.zip` is not a valid zip file (nor a WebAssembly module)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn package_is_sent_as_given() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("code.zip");
        let zip = zip_one_file("a.py", b"x = 1\n").expect("zips");
        std::fs::write(&path, &zip).expect("writes");
        let loaded = Source::Package(path).load().await.expect("loads");
        assert_eq!(loaded.as_ref(), zip.as_slice());
    }

    #[tokio::test]
    async fn a_package_over_50_mib_is_refused_before_reading() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("big.zip");
        let file = std::fs::File::create(&path).expect("creates");
        // Sparse: no 50 MiB are written.
        file.set_len(MAX_PACKAGE_SIZE + 1).expect("sets the length");
        let err = Source::Package(path).load().await.expect_err("refused");
        assert!(
            err.to_string()
                .ends_with("big.zip` is 52428801 bytes: function packages are limited to 50 MiB (52428800 bytes)"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_missing_file_is_named() {
        let err = Source::File("/nonexistent/handler.py".into())
            .load()
            .await
            .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "cannot read file `/nonexistent/handler.py`"
        );
    }
}
