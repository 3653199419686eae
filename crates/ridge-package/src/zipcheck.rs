//! The checks an upload passes before it is stored: a zip archive or a single WebAssembly
//! module, with the announced md5.

use std::io::Cursor;

use md5::{Digest, Md5};

use crate::{PackageError, Result};

/// The md5 of `bytes` as lower-case hex, as Qinling stores it in `code.md5sum`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

/// Checks that `bytes` is a zip archive whose central directory can be read. Entry contents
/// are checked when the package is unpacked.
pub fn validate_zip(bytes: &[u8]) -> Result<()> {
    zip::ZipArchive::new(Cursor::new(bytes))
        .map(drop)
        .map_err(|_| PackageError::NotZip)
}

/// The first bytes of every WebAssembly binary.
const WASM_MAGIC: &[u8] = b"\0asm";

/// Whether `bytes` is a WebAssembly binary (a module or a component), by its magic number.
/// Its content is checked when a worker compiles it.
pub fn is_wasm(bytes: &[u8]) -> bool {
    bytes.starts_with(WASM_MAGIC)
}

/// Checks that `bytes` is something a function's package may be: a zip archive, or a single
/// WebAssembly binary (for the `wasm` runtime), which unpacks as [`WASM_PACKAGE_FILE`].
///
/// [`WASM_PACKAGE_FILE`]: crate::WASM_PACKAGE_FILE
pub fn validate_package(bytes: &[u8]) -> Result<()> {
    if is_wasm(bytes) {
        Ok(())
    } else {
        validate_zip(bytes)
    }
}

/// Whether `s` has the shape of an md5 as this crate writes it (32 lower-case hex digits), and
/// so is safe to put in a file name.
pub(crate) fn is_md5_hex(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn md5_is_lower_case_hex() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"a"), "0cc175b9c0f1b6a831c399e269772661");
        assert!(is_md5_hex(&md5_hex(b"anything")));
        assert!(!is_md5_hex("0CC175B9C0F1B6A831C399E269772661"));
        assert!(!is_md5_hex("../../../../etc/passwd0123456789"));
    }

    #[test]
    fn wasm_binaries_are_packages_too() {
        assert!(validate_package(b"\0asm\x01\0\0\0").is_ok());
        assert!(validate_package(b"asm").is_err());
        assert!(validate_package(b"").is_err());
    }

    #[test]
    fn zips_pass_and_everything_else_is_not_zip() {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        zip.start_file("main.py", zip::write::SimpleFileOptions::default())
            .expect("start file");
        zip.write_all(b"def main(**kw):\n    return 1\n")
            .expect("write");
        let bytes = zip.finish().expect("finish").into_inner();
        validate_zip(&bytes).expect("a zip");

        let empty_archive = zip::ZipWriter::new(Cursor::new(Vec::new()))
            .finish()
            .expect("finish")
            .into_inner();
        validate_zip(&empty_archive).expect("an empty archive is still a zip");

        let truncated = &bytes[..bytes.len() - 10];
        for bad in [
            &b""[..],
            b"not a zip at all",
            b"PK\x03\x04garbage",
            truncated,
        ] {
            let err = validate_zip(bad).expect_err("not a zip");
            assert!(matches!(err, PackageError::NotZip));
            assert_eq!(err.to_string(), "Package is not a valid ZIP package.");
        }
    }
}
