//! Embeds the dashboard's files (`dashboard/`, plain JavaScript modules, CSS and HTML with no
//! build step) into the crate: writes `$OUT_DIR/dashboard_assets.rs`, one `include_bytes!` per
//! file, so that adding a file needs no Rust change.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboard");
    println!("cargo:rerun-if-changed=dashboard");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let rel = file
            .strip_prefix(&root)
            .expect("walked under the root")
            .to_str()
            .expect("dashboard file names are UTF-8")
            .replace('\\', "/");
        writeln!(
            out,
            "    ({rel:?}, include_bytes!({:?}) as &[u8]),",
            file.display().to_string()
        )
        .expect("writing to a String");
    }
    out.push_str("]\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("dashboard_assets.rs");
    std::fs::write(dest, out).expect("write dashboard_assets.rs");
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("dashboard directory");
    for entry in entries {
        let path = entry.expect("dashboard entry").path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            walk(&path, files);
        } else if !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
        {
            files.push(path);
        }
    }
}
