//! Finding (and building) what the benchmark runs: the release `ridge` binary beside this
//! program, the real Python interpreter, and the machine's description for the record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::process::Command;

use crate::backends::Backends;
use crate::report::Machine;
use crate::server::Programs;

pub struct Setup {
    pub programs: Programs,
    pub machine: Machine,
    pub command: String,
}

pub async fn prepare(
    ridge: Option<PathBuf>,
    python: Option<PathBuf>,
    backends: Arc<Backends>,
) -> anyhow::Result<Setup> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let profile_dir = exe.parent().context("this program has no directory")?;
    // `<target>/release/ridge-bench` (or `<target>/debug/...`): `<target>` holds our work dir.
    let target_dir = profile_dir
        .parent()
        .context("this program is not in a cargo target dir")?;
    if profile_dir.file_name().and_then(|n| n.to_str()) != Some("release") {
        eprintln!(
            "warning: ridge-bench is not a release build, so the load generator itself is slow; \
             run it with `cargo run --release -p ridge-bench`"
        );
    }
    let work_dir = target_dir.join("bench");
    std::fs::create_dir_all(&work_dir)
        .with_context(|| format!("cannot create `{}`", work_dir.display()))?;
    let ridge = match ridge {
        Some(path) => path,
        None => release_ridge(target_dir).await?,
    };
    let python = real_python(python.as_deref()).await?;
    let machine = Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        mem_total_bytes: mem_total().unwrap_or(0),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        python: python_version(&python).await,
        peer: String::new(),
    };
    let command = command_line();
    Ok(Setup {
        programs: Programs {
            ridge,
            python,
            work_dir,
            backends,
        },
        machine,
        command,
    })
}

/// `<target>/release/ridge`, built first when this program runs under `cargo run` (cargo then
/// says where it is), so the numbers are always of the current source.
async fn release_ridge(target_dir: &Path) -> anyhow::Result<PathBuf> {
    let ridge = target_dir.join("release").join("ridge");
    if let Some(cargo) = std::env::var_os("CARGO") {
        eprintln!(
            "building the release `ridge` binary in {}",
            target_dir.display()
        );
        let status = Command::new(cargo)
            .args([
                "build",
                "--release",
                "--quiet",
                "-p",
                "ridge",
                "--bin",
                "ridge",
            ])
            .env("CARGO_TARGET_DIR", target_dir)
            .status()
            .await
            .context("cannot run cargo to build `ridge`")?;
        if !status.success() {
            bail!("`cargo build --release -p ridge` failed ({status})");
        }
    }
    if !ridge.is_file() {
        bail!(
            "`{}` does not exist: build it with `CARGO_TARGET_DIR={} cargo build --release -p ridge`, \
             run the benchmark with `cargo run --release -p ridge-bench -- all`, or pass --ridge",
            ridge.display(),
            target_dir.display()
        );
    }
    Ok(ridge)
}

/// The interpreter's real path: `python3` on PATH may be a shim (pyenv) that re-resolves on
/// every start.
async fn real_python(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let program = given.map_or_else(|| PathBuf::from("python3"), Path::to_path_buf);
    let out = Command::new(&program)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .await
        .with_context(|| format!("cannot run `{}`", program.display()))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !path.is_file() {
        bail!(
            "`{}` reports `{}` as its executable, which does not exist",
            program.display(),
            path.display()
        );
    }
    Ok(path)
}

async fn python_version(python: &Path) -> String {
    match Command::new(python).arg("--version").output().await {
        Ok(o) => format!(
            "{} ({})",
            String::from_utf8_lossy(&o.stdout).trim(),
            python.display()
        ),
        Err(_) => python.display().to_string(),
    }
}

fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// How this program was run, as the user would type it.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(|d| format!("CARGO_TARGET_DIR={d} "))
        .unwrap_or_default();
    if std::env::var_os("CARGO").is_some() {
        format!(
            "{target}cargo run --release -p ridge-bench -- {}",
            args.join(" ")
        )
    } else {
        format!("ridge-bench {}", args.join(" "))
    }
}
