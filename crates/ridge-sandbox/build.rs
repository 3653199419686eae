//! Builds `helpers/drop.rs`, the program that drops a root-mode worker to its own uid, into a
//! static executable without the C library that the crate embeds (`jail/privdrop.rs`). It is
//! one file compiled on its own by the same `rustc`, so it needs nothing the Rust toolchain
//! does not already have. On other targets than x86_64 Linux nothing is built and the sandbox
//! uses util-linux's `setpriv`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=helpers/drop.rs");
    println!("cargo::rustc-check-cfg=cfg(ridge_drop_helper)");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86_64" || os != "linux" {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "--crate-type",
            "bin",
            "--target",
            &target,
        ])
        .args([
            "-C",
            "panic=abort",
            "-C",
            "opt-level=s",
            "-C",
            "debuginfo=0",
        ])
        .args(["-C", "relocation-model=static", "-C", "strip=symbols"])
        // No C library and no start files: `_start` is the helper's own.
        .args(["-C", "link-arg=-nostartfiles", "-C", "link-arg=-nostdlib"])
        .args([
            "-C",
            "link-arg=-static",
            "-C",
            "link-arg=-Wl,--build-id=none",
        ])
        .arg("-o")
        .arg(out.join("ridge-drop"))
        .arg("helpers/drop.rs")
        .status()
        .expect("cannot run rustc to build helpers/drop.rs");
    assert!(status.success(), "building helpers/drop.rs failed");
    println!("cargo::rustc-cfg=ridge_drop_helper");
}
