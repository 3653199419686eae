//! The Ridge server under test: `ridge serve` as a child process on a temp data dir and a
//! loopback port the kernel picks, on the store and package store of `--store` and
//! `--packages` (or of the scenario), stopped with SIGTERM (then SIGKILL) when done or dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use ridge_client::RidgeClient;
use ridge_core::api::CreateRuntime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::backends::{Backends, Backing};

/// How long a server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopping server may take before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where to find the programs the benchmark runs.
#[derive(Debug, Clone)]
pub struct Programs {
    pub ridge: PathBuf,
    /// The real Python interpreter (not a pyenv shim).
    pub python: PathBuf,
    /// Where logs, the functions-framework venv and the results go.
    pub work_dir: PathBuf,
    /// Where servers keep their state and packages.
    pub backends: Arc<Backends>,
}

/// A running `ridge serve`.
pub struct RidgeServer {
    child: Child,
    pid: u32,
    pub url: String,
    pub client: RidgeClient,
    /// The data dir; removed when the server is dropped.
    _data: tempfile::TempDir,
    /// Where `/metrics` is saved when the server stops.
    metrics: PathBuf,
    /// Its store and package store (a shared package directory lives as long as its nodes).
    _backing: Backing,
}

impl RidgeServer {
    /// Starts `ridge serve` with `config` (TOML text) on a fresh data dir, on the run's
    /// `--store` and `--packages`. `name` names its log.
    pub async fn start(programs: &Programs, name: &str, config: &str) -> anyhow::Result<Self> {
        let backends = &programs.backends;
        let backing = backends.backing(name, &backends.store, false).await?;
        Self::start_on(programs, name, config, backing, None).await
    }

    /// Starts `ridge serve` on `backing`. With `node`, it is one node of several: named so
    /// (`RIDGE_NODE_NAME`) and told its address (`RIDGE_NODE_ADDRESS`), on a port chosen first.
    pub async fn start_on(
        programs: &Programs,
        name: &str,
        config: &str,
        backing: Backing,
        node: Option<&str>,
    ) -> anyhow::Result<Self> {
        let data = tempfile::Builder::new()
            .prefix("ridge-bench-")
            .tempdir()
            .context("cannot create a temp data dir")?;
        let config_path = data.path().join("ridge.toml");
        std::fs::write(&config_path, config).context("cannot write the server config")?;
        let log = programs.work_dir.join(format!("ridge-{name}.log"));
        let mut command = Command::new(&programs.ridge);
        command.arg("serve");
        let listen = match node {
            Some(node_name) => {
                let listen = free_loopback_address()?;
                command
                    .env("RIDGE_NODE_NAME", node_name)
                    .env("RIDGE_NODE_ADDRESS", format!("http://{listen}"));
                listen
            }
            None => "127.0.0.1:0".to_owned(),
        };
        if let Some(store) = &backing.store {
            command.arg("--store").arg(store);
        }
        if let Some(packages) = &backing.packages {
            command.arg("--packages").arg(packages);
        }
        let mut child = command
            .envs(backing.env.iter().map(|(k, v)| (k, v)))
            .arg("--listen")
            .arg(listen)
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .arg("--config")
            .arg(&config_path)
            .arg("--python")
            .arg(&programs.python)
            .env_remove("RIDGE_LISTEN")
            .env_remove("RIDGE_DATA_DIR")
            .env_remove("RIDGE_CONFIG")
            .env_remove("RIDGE_PYTHON")
            .env_remove("RIDGE_STORE")
            .env_remove("RIDGE_PACKAGES")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start `{}`", programs.ridge.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let mut file = tokio::fs::File::create(&log)
            .await
            .with_context(|| format!("cannot create `{}`", log.display()))?;
        let (url_tx, url_rx) = tokio::sync::oneshot::channel();
        // Copies the server's stderr to its log (a full pipe would stall the server) and reports
        // the address it printed.
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            let mut url_tx = Some(url_tx);
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("Ridge listening on ")
                    && let Some(tx) = url_tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                }
                let _ = file.write_all(line.as_bytes()).await;
                let _ = file.write_all(b"\n").await;
            }
            let _ = file.flush().await;
        });
        let url = match tokio::time::timeout(START_TIMEOUT, url_rx).await {
            Ok(Ok(url)) => url,
            _ => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                bail!(
                    "`ridge serve` did not start; the end of its log `{}`:\n{}",
                    log.display(),
                    tail(&log, 15)
                );
            }
        };
        let client = RidgeClient::new(&url)?;
        Ok(Self {
            child,
            pid,
            url,
            client,
            _data: data,
            metrics: programs.work_dir.join(format!("ridge-{name}.metrics")),
            _backing: backing,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Registers the python3 runtime and waits until it is available; returns its id.
    pub async fn python_runtime(&self) -> anyhow::Result<String> {
        self.runtime("python3").await
    }

    /// Registers the python3 runtime and a no-op function called `name`; returns its id.
    pub async fn python_noop(&self, name: &str) -> anyhow::Result<String> {
        let runtime = self.python_runtime().await?;
        crate::funcs::create(
            &self.client,
            &runtime,
            name,
            &crate::funcs::package(crate::funcs::NOOP)?,
            None,
        )
        .await
    }

    /// Registers a runtime of the kind `image` and waits until it is available; returns its id.
    pub async fn runtime(&self, image: &str) -> anyhow::Result<String> {
        let rt = self
            .client
            .create_runtime(&CreateRuntime {
                image: Some(image.into()),
                name: Some(image.into()),
                ..CreateRuntime::default()
            })
            .await
            .with_context(|| format!("cannot create the {image} runtime"))?;
        let start = Instant::now();
        loop {
            let now = self.client.get_runtime(&rt.id).await?;
            match now.status.as_str() {
                "available" => return Ok(rt.id),
                "error" => bail!("the {image} runtime is in error; see the server log"),
                _ if start.elapsed() > START_TIMEOUT => {
                    bail!("the {image} runtime is still `{}`", now.status)
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// SIGTERM, then SIGKILL if it does not stop in time. Workers stop with the server. The
    /// server's `/metrics` are saved beside its log first, for looking into a number.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Ok(resp) = reqwest::get(format!("{}/metrics", self.url)).await
            && let Ok(text) = resp.text().await
        {
            let _ = std::fs::write(&self.metrics, text);
        }
        stop_child(&mut self.child, self.pid).await
    }
}

/// Asks `child` to stop with SIGTERM, and kills it if it has not stopped in time.
pub async fn stop_child(child: &mut Child, pid: u32) -> anyhow::Result<()> {
    if child.try_wait()?.is_some() {
        return Ok(());
    }
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
        Ok(status) => {
            status?;
            Ok(())
        }
        Err(_) => {
            child.kill().await?;
            bail!("process {pid} did not stop within {STOP_TIMEOUT:?} of SIGTERM and was killed")
        }
    }
}

/// A loopback address with a port free right now, for a server that must know its address
/// before it starts (another process may take the port in between; then the start fails).
fn free_loopback_address() -> anyhow::Result<String> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(socket.local_addr()?.to_string())
}

/// The last `n` lines of a log file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
