//! Google's functions-framework, the peer: installed from PyPI into the benchmark's own venv and
//! run as its README says for production (`functions-framework --target ...`, which serves with
//! gunicorn when it is installed, as it is as a dependency: one worker process, `4 × cpus`
//! threads).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::server::{Programs, stop_child, tail};

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The same no-op as the Ridge function, with functions-framework's HTTP signature.
pub const NOOP_SOURCE: &str = "def main(request):\n    return \"ok\"\n";

/// The venv with functions-framework, created on first use with the real interpreter.
pub async fn ensure_venv(programs: &Programs) -> anyhow::Result<PathBuf> {
    let venv = programs.work_dir.join("ff-venv");
    let exe = venv.join("bin/functions-framework");
    if exe.is_file() {
        return Ok(exe);
    }
    eprintln!("installing functions-framework into {}", venv.display());
    run(Command::new(&programs.python)
        .arg("-m")
        .arg("venv")
        .arg("--clear")
        .arg(&venv))
    .await
    .context("cannot create the functions-framework venv")?;
    run(Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("functions-framework"))
    .await
    .context("cannot install functions-framework from PyPI")?;
    if !exe.is_file() {
        bail!("`{}` is missing after the install", exe.display());
    }
    Ok(exe)
}

/// The installed version, for the record.
pub async fn version(exe: &Path) -> String {
    let python = exe.with_file_name("python");
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('functions-framework'), m.version('gunicorn'))",
        ])
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let mut parts = text.split_whitespace();
            format!(
                "functions-framework {} (gunicorn {})",
                parts.next().unwrap_or("?"),
                parts.next().unwrap_or("?")
            )
        }
        _ => "functions-framework (version unknown)".to_owned(),
    }
}

async fn run(command: &mut Command) -> anyhow::Result<()> {
    let out = command.stdin(Stdio::null()).output().await?;
    if !out.status.success() {
        bail!(
            "{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// A running functions-framework server in its own process group (gunicorn master + worker).
pub struct FfServer {
    child: Child,
    pid: u32,
    pub url: String,
    /// From spawning the process to its first successful answer.
    pub ready_after: Duration,
    _dir: tempfile::TempDir,
}

impl FfServer {
    pub async fn start(programs: &Programs, exe: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("ridge-bench-ff-")
            .tempdir()?;
        let source = dir.path().join("main.py");
        std::fs::write(&source, NOOP_SOURCE)?;
        let port = free_port()?;
        let log = programs.work_dir.join("functions-framework.log");
        let log_file = std::fs::File::create(&log)?;
        let started = Instant::now();
        let mut child = Command::new(exe)
            .arg("--target")
            .arg("main")
            .arg("--source")
            .arg(&source)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(port.to_string())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start `{}`", exe.display()))?;
        let pid = child.id().context("functions-framework exited at once")?;
        let url = format!("http://127.0.0.1:{port}/");
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.post(&url).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "functions-framework exited ({status}); its log:\n{}",
                    tail(&log, 15)
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "functions-framework did not answer within {START_TIMEOUT:?}; its log:\n{}",
                    tail(&log, 15)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Self {
            child,
            pid,
            url,
            ready_after: started.elapsed(),
            _dir: dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        stop_child(&mut self.child, self.pid).await
    }
}

impl Drop for FfServer {
    fn drop(&mut self) {
        // gunicorn's worker is in the same group; make sure neither outlives the benchmark.
        let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
