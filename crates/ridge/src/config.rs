//! Server settings: command-line flags over environment variables (`RIDGE_*`) over a TOML file
//! over defaults. Unknown keys in the file are errors, so a typo never goes unnoticed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use ridge_core::{Clock, LimitsPolicy, SystemClock};
use serde::Deserialize;

/// The defaults every setting falls back to.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7070";
pub const DEFAULT_MAX_PACKAGE_SIZE: u64 = 50 * 1024 * 1024;
/// What one package may unpack to (Lambda's 250 MB for an unzipped deployment package).
pub const DEFAULT_MAX_UNPACKED_SIZE: u64 = 250 * 1024 * 1024;
/// Memory for unpacked packages, each a tmpfs of its own (when Ridge runs as root).
pub const DEFAULT_UNPACK_CACHE_SIZE: u64 = 1024 * 1024 * 1024;
pub const DEFAULT_LOG_CAP: u64 = 1024 * 1024;
/// Lambda's limit on a synchronous response.
pub const DEFAULT_RESULT_CAP: u64 = 6 * 1024 * 1024;
/// The ceiling of `max_runtime_pool_size`: every pre-started worker holds memory.
const MAX_RUNTIME_POOL_SIZE: u32 = 256;
pub const DEFAULT_MAX_WORKERS: usize = 10;
pub const DEFAULT_IDLE_EXPIRY_SECS: u64 = 300;
pub const DEFAULT_MAX_QUEUE_LENGTH: usize = 10_000;
pub const DEFAULT_MAX_QUEUE_WAIT_SECS: u64 = 60;
pub const DEFAULT_WORKER_MEMORY_SHARE: f64 = 0.5;
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;
pub const DEFAULT_STARTUP_CPU_COOLDOWN_SECS: u64 = 60;
/// One bucket of the inter-arrival histogram ("Serverless in the Wild"'s minute).
pub const DEFAULT_KEEP_ALIVE_BUCKET_SECS: u64 = 60;

/// The TOML file, every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// Largest accepted function package, in bytes.
    pub max_package_size: Option<u64>,
    /// Most bytes one package may unpack to, measured while decompressing it at upload.
    pub max_unpacked_size: Option<u64>,
    /// Most bytes of memory the unpacked packages of this node take together (each one a
    /// tmpfs of its own); least recently used ones are unmounted to make room.
    pub unpack_cache_size: Option<u64>,
    /// Cap on captured stdout+stderr per execution, in bytes.
    pub log_cap: Option<u64>,
    /// Cap on an execution's output, in bytes of JSON; a larger one fails the execution.
    pub result_cap: Option<u64>,
    /// The Python interpreter for the python3 runtime (default: `python3` on PATH, resolved once).
    pub python: Option<PathBuf>,
    /// Whether Python workers are forked from a zygote per runtime (default true; false starts
    /// each worker's interpreter, so that no two share an address-space layout or hash secret).
    pub python_zygote: Option<bool>,
    /// The node binary for the nodejs runtime (default: `node` on PATH, resolved once).
    pub node: Option<PathBuf>,
    /// `[[runtime_kinds]]`: more runtime kinds, each a program speaking the worker protocol.
    pub runtime_kinds: Option<Vec<RuntimeKindFile>>,
    /// Most warm workers per function version.
    pub max_workers_per_function: Option<usize>,
    /// Pre-started workers each runtime keeps on this node unless its admin set another size
    /// (`PUT /v1/runtimes/{id}/pool`).
    pub runtime_pool_size: Option<u32>,
    /// The largest pre-started pool an admin may set for one runtime.
    pub max_runtime_pool_size: Option<u32>,
    /// Seconds a worker may stay idle before it is stopped (Qinling's name).
    pub function_service_expiration: Option<u64>,
    /// Allowed ranges and defaults of `cpu`, `memory_size` and `timeout`.
    pub resource_limits: Option<LimitsPolicy>,
    /// `[keep_alive]`: how long idle workers stay, fixed or learned per function.
    pub keep_alive: Option<KeepAliveFile>,
    /// Most executions waiting for a worker before new ones get 429.
    pub max_queue_length: Option<usize>,
    /// Seconds a sync execution may wait for a worker before it ends `error`.
    pub max_queue_wait: Option<u64>,
    /// Share of the host's memory that the workers' `memory_size` may add up to (0 < share <= 1).
    pub worker_memory_share: Option<f64>,
    /// Seconds SIGTERM waits for running executions before the server exits.
    pub shutdown_timeout: Option<u64>,
    /// How workers are confined (`[sandbox]`).
    pub sandbox: Option<SandboxFile>,
    /// The base of `webhook_url` (default: the address each caller used).
    pub public_url: Option<String>,
    /// Most versions a function may have at once (default 10, Qinling's).
    pub max_versions_per_function: Option<i64>,
    /// `[webhooks]`: rate and body limits of invokes.
    pub webhooks: Option<crate::triggers::WebhooksFile>,
    /// `[jobs]`: the scheduler's tick, minimum lead and missed-tick policy.
    pub jobs: Option<crate::triggers::JobsFile>,
    /// `[events]`: event triggers' bounds and consumers.
    pub events: Option<crate::events::EventsFile>,
    /// `[auth]`: `none`, `token` or `keystone`.
    pub auth: Option<crate::tenancy::AuthFile>,
    /// `[quotas]`: per-project defaults.
    pub quotas: Option<crate::tenancy::QuotasFile>,
    /// `[wasm]`: the WebAssembly runtime's scratch directory and instance pool.
    pub wasm: Option<crate::wasm::WasmFile>,
    /// `[packages]`: where packages live (`url`) and, for S3, the AWS settings.
    pub packages: Option<crate::packages::PackagesFile>,
    /// `[store]`: where state lives (SQLite file or PostgreSQL database).
    pub store: Option<StoreFile>,
    /// `[nodes]`: this node's name and address among the nodes sharing the store.
    pub nodes: Option<crate::nodes::NodesFile>,
    /// `[tls]`: the certificate and key `ridge serve` listens with over HTTPS.
    pub tls: Option<crate::tls::TlsFile>,
    /// `[executions]`: how long finished executions are kept (`[executions.retention]`).
    pub executions: Option<crate::retention::ExecutionsFile>,
}

/// `[keep_alive]`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeepAliveFile {
    /// `adaptive` (default): each function's window learned from its inter-arrival times,
    /// `function_service_expiration` until then (and at most that without a pre-warm);
    /// `histogram`: the same without that cap (the paper's policy as it is); `fixed`: always
    /// `function_service_expiration`.
    pub policy: Option<KeepAlivePolicy>,
    /// Seconds per bucket of the inter-arrival histogram (default 60; 240 buckets).
    pub bucket: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepAlivePolicy {
    Adaptive,
    Histogram,
    Fixed,
}

/// `[store]`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreFile {
    /// `sqlite://PATH` (default `<data_dir>/ridge.db`) or `postgres://user:password@host/db`.
    pub url: Option<String>,
}

/// `[sandbox]`: every key optional; the defaults deny.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxFile {
    /// `refuse` (default): run no function when a protection cannot be applied on this host;
    /// `degraded`: run them with what can be applied; `off`: no sandbox at all, workers are
    /// plain child processes (only for deployments that run trusted code).
    pub mode: Option<SandboxMode>,
    /// `loopback` (default) or `host`: the host's network for every function.
    pub network: Option<SandboxNetwork>,
    /// Whether a function may be granted outbound network (`"network": "outbound"`); default
    /// false, so only an operator can open the network to functions.
    pub allow_function_network: Option<bool>,
    /// Size of each worker's private `/tmp`, in bytes (default 64 MiB).
    pub tmp_size: Option<u64>,
    /// Most processes per worker (default 128).
    pub pids: Option<u64>,
    /// The bubblewrap binary (default: `bwrap` on PATH).
    pub bwrap: Option<PathBuf>,
    /// The `pasta` binary (Debian `passt`) that gives functions granted outbound network a NAT
    /// of their own (default: `pasta` on PATH).
    pub pasta: Option<PathBuf>,
    /// When Ridge runs as root, the first of the host uids workers run as, one per live worker
    /// (default 1879048192, 0x70000000); a range no one else on the host uses.
    pub uid: Option<u32>,
    /// How many uids from `uid` (default 65536): the most workers alive at once.
    pub uid_count: Option<u32>,
    /// Host gid of workers when Ridge runs as root (default 65534).
    pub gid: Option<u32>,
    /// CPU quota of a worker while it starts and loads its function, in millicores (default
    /// 1000); the function's own `cpu` applies from then on. 0 turns the allowance off.
    pub startup_cpu: Option<u32>,
    /// Seconds a function whose worker failed (crash, timeout, failed load) sooner than this
    /// after it started goes without the start-up allowance (default 60; 0: never withheld).
    pub startup_cpu_cooldown: Option<u64>,
}

/// One `[[runtime_kinds]]` entry: a runtime kind an operator declares (docs/runtime-protocol.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeKindFile {
    /// The kind's name, which `POST /v1/runtimes` gives as `image`.
    pub name: String,
    /// The program (absolute, or `{dir}/...`) and its arguments; `{dir}` is `directory`.
    pub command: Vec<String>,
    /// The directory holding the worker program; relative to the configuration file's
    /// directory. Shown read-only to workers at the same path.
    pub directory: Option<PathBuf>,
    /// Variables added to the worker's environment.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// More host directories the program needs (outside `/usr`), shown read-only.
    #[serde(default)]
    pub read_only: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    Refuse,
    Degraded,
    Off,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxNetwork {
    Loopback,
    Host,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file `{}`", path.display()))?;
        let mut file: Self = toml::from_str(&text)
            .with_context(|| format!("invalid config file `{}`", path.display()))?;
        // Paths in the file are relative to the file.
        let base = path.parent().unwrap_or(Path::new("."));
        let base = std::path::absolute(base)
            .with_context(|| format!("cannot resolve the directory of `{}`", path.display()))?;
        for kind in file.runtime_kinds.iter_mut().flatten() {
            if let Some(dir) = kind.directory.as_mut()
                && dir.is_relative()
            {
                let joined = base.join(&*dir);
                // `.` and `..` resolved; a missing directory is reported by the check.
                *dir = std::fs::canonicalize(&joined).unwrap_or(joined);
            }
        }
        Ok(file)
    }
}

/// Settings after every source is applied.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub max_package_size: u64,
    pub max_unpacked_size: u64,
    pub unpack_cache_size: u64,
    pub log_cap: u64,
    pub result_cap: u64,
    pub python: Option<PathBuf>,
    /// `python_zygote`.
    pub python_zygote: bool,
    pub node: Option<PathBuf>,
    /// Runtime kinds declared in the configuration file, checked against this host.
    pub runtime_kinds: Vec<ridge_runtime_process::CustomKind>,
    pub max_workers_per_function: usize,
    /// `runtime_pool_size` and `max_runtime_pool_size`.
    pub prestart: ridge_engine::PrestartConfig,
    pub function_service_expiration: Duration,
    /// `[keep_alive] policy`.
    pub keep_alive: ridge_engine::KeepAlive,
    /// `[keep_alive] bucket`: one bucket of the inter-arrival histogram.
    pub keep_alive_bucket: Duration,
    pub limits: LimitsPolicy,
    pub max_queue_length: usize,
    pub max_queue_wait: Duration,
    pub worker_memory_share: f64,
    pub shutdown_timeout: Duration,
    pub sandbox: ridge_sandbox::SandboxConfig,
    /// `[sandbox] startup_cpu_cooldown`: how long a function whose worker failed young goes
    /// without the start-up CPU allowance.
    pub startup_cpu_cooldown: Duration,
    /// Whether functions may be granted outbound network.
    pub allow_function_network: bool,
    /// Versions, webhooks and jobs.
    pub triggers: crate::triggers::TriggerSettings,
    /// Event triggers.
    pub events: crate::events::EventSettings,
    /// How requests are authenticated.
    pub auth: crate::tenancy::AuthSettings,
    /// Per-project quota defaults.
    pub quotas: ridge_core::tenancy::Quotas,
    /// The WebAssembly runtime.
    pub wasm: ridge_runtime_wasm::WasmConfig,
    /// The package store: a local directory or an S3 bucket.
    pub packages: crate::packages::PackagesSettings,
    /// Where state lives.
    pub store: ridge_store::StoreUrl,
    /// This node among the nodes sharing the store.
    pub nodes: crate::nodes::NodeSettings,
    /// HTTPS: the certificate and key; `None` listens with plain HTTP.
    pub tls: Option<crate::tls::TlsSettings>,
    /// `--ca-bundle`: what outgoing connections trust besides the system's roots.
    pub ca_bundle: Option<crate::tls::CaBundle>,
    /// How long finished executions are kept, and how they are purged.
    pub retention: ridge_engine::RetentionConfig,
    /// What the server's time-based decisions read (token expiry, the per-project rate, jobs,
    /// idle release): the system clock; never from a file, tests set a clock they move.
    pub clock: Arc<dyn Clock>,
}

/// What the command line and environment said (clap reads both); `None` means not given.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub python: Option<PathBuf>,
    pub node: Option<PathBuf>,
    /// `--packages` / `RIDGE_PACKAGES`, and the AWS variables it reads for S3.
    pub packages: Option<String>,
    pub aws: crate::packages::AwsEnv,
    /// `--store` / `RIDGE_STORE`.
    pub store: Option<String>,
    /// `--node-name` / `RIDGE_NODE_NAME`.
    pub node_name: Option<String>,
    /// `--node-address` / `RIDGE_NODE_ADDRESS`.
    pub node_address: Option<String>,
    /// `--tls-cert`, `--tls-key`, `--tls-client-ca`, `--ca-bundle` (and their variables).
    pub tls: crate::tls::TlsFlags,
}

impl Settings {
    pub fn resolve(over: Overrides) -> anyhow::Result<Self> {
        let file = match &over.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        Self::merge(over, file)
    }

    pub fn merge(over: Overrides, file: FileConfig) -> anyhow::Result<Self> {
        let listen_text = over
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().with_context(|| {
            format!(
                "invalid listen address `{listen_text}`: expected IP:PORT such as 127.0.0.1:7070"
            )
        })?;
        let data_dir = match over.data_dir.or(file.data_dir) {
            Some(dir) => dir,
            None => default_data_dir()?,
        };
        let limits = file.resource_limits.unwrap_or_default();
        for (name, r) in [
            ("cpu", limits.cpu),
            ("memory_size", limits.memory_size),
            ("timeout", limits.timeout),
        ] {
            if !(r.min <= r.default && r.default <= r.max) || r.min == 0 {
                bail!(
                    "invalid resource_limits.{name}: need 0 < min <= default <= max, got min {} default {} max {}",
                    r.min,
                    r.default,
                    r.max
                );
            }
        }
        let sandbox_file = file.sandbox.unwrap_or_default();
        let allow_function_network = sandbox_file.allow_function_network.unwrap_or(false);
        let startup_cpu_cooldown = Duration::from_secs(
            sandbox_file
                .startup_cpu_cooldown
                .unwrap_or(DEFAULT_STARTUP_CPU_COOLDOWN_SECS),
        );
        let sandbox = sandbox_config(sandbox_file)?;
        let triggers = crate::triggers::TriggerSettings::from_file(
            file.public_url,
            file.max_versions_per_function,
            file.webhooks,
            file.jobs,
        )?;
        let events = crate::events::EventSettings::from_file(file.events)?;
        let runtime_kinds = runtime_kinds(
            file.runtime_kinds.unwrap_or_default(),
            &private_dir(&data_dir),
        )?;
        let auth = crate::tenancy::AuthSettings::from_file(file.auth)?;
        let quotas = crate::tenancy::quotas_from_file(file.quotas);
        let wasm = crate::wasm::config(file.wasm, &data_dir)?;
        let packages = crate::packages::PackagesSettings::resolve(
            over.packages,
            file.packages,
            over.aws,
            &data_dir,
        )?;
        let store = match over.store.or(file.store.and_then(|s| s.url)) {
            Some(url) => url
                .parse()
                .context("invalid store URL (--store, RIDGE_STORE or [store] url)")?,
            None => ridge_store::StoreUrl::Sqlite(data_dir.join("ridge.db")),
        };
        let nodes =
            crate::nodes::NodeSettings::resolve(over.node_name, over.node_address, file.nodes)?;
        let (tls, ca_bundle) = crate::tls::resolve(over.tls, file.tls)?;
        let auth = auth.trusting(ca_bundle.as_ref());
        let packages = packages.trusting(ca_bundle.as_ref());
        let store = match (&store, &ca_bundle) {
            (ridge_store::StoreUrl::Postgres(url), Some(bundle)) => {
                ridge_store::StoreUrl::Postgres(with_root_cert(url, &bundle.path))
            }
            _ => store,
        };
        let retention = crate::retention::config(file.executions)?;
        let settings = Settings {
            nodes,
            tls,
            ca_bundle,
            retention,
            auth,
            quotas,
            listen,
            data_dir,
            max_package_size: file.max_package_size.unwrap_or(DEFAULT_MAX_PACKAGE_SIZE),
            max_unpacked_size: file.max_unpacked_size.unwrap_or(DEFAULT_MAX_UNPACKED_SIZE),
            unpack_cache_size: file.unpack_cache_size.unwrap_or(DEFAULT_UNPACK_CACHE_SIZE),
            log_cap: file.log_cap.unwrap_or(DEFAULT_LOG_CAP),
            result_cap: file.result_cap.unwrap_or(DEFAULT_RESULT_CAP),
            python: over.python.or(file.python),
            python_zygote: file.python_zygote.unwrap_or(true),
            node: over.node.or(file.node),
            runtime_kinds,
            max_workers_per_function: file.max_workers_per_function.unwrap_or(DEFAULT_MAX_WORKERS),
            prestart: ridge_engine::PrestartConfig {
                default_size: file
                    .runtime_pool_size
                    .unwrap_or(ridge_engine::PrestartConfig::DEFAULT_SIZE),
                max_size: file
                    .max_runtime_pool_size
                    .unwrap_or(ridge_engine::PrestartConfig::MAX_SIZE),
            },
            function_service_expiration: Duration::from_secs(
                file.function_service_expiration
                    .unwrap_or(DEFAULT_IDLE_EXPIRY_SECS),
            ),
            keep_alive: match file.keep_alive.as_ref().and_then(|k| k.policy) {
                Some(KeepAlivePolicy::Fixed) => ridge_engine::KeepAlive::Fixed,
                Some(KeepAlivePolicy::Histogram) => ridge_engine::KeepAlive::Histogram,
                Some(KeepAlivePolicy::Adaptive) | None => ridge_engine::KeepAlive::Adaptive,
            },
            keep_alive_bucket: Duration::from_secs(
                file.keep_alive
                    .as_ref()
                    .and_then(|k| k.bucket)
                    .unwrap_or(DEFAULT_KEEP_ALIVE_BUCKET_SECS),
            ),
            limits,
            max_queue_length: file.max_queue_length.unwrap_or(DEFAULT_MAX_QUEUE_LENGTH),
            max_queue_wait: Duration::from_secs(
                file.max_queue_wait.unwrap_or(DEFAULT_MAX_QUEUE_WAIT_SECS),
            ),
            worker_memory_share: file
                .worker_memory_share
                .unwrap_or(DEFAULT_WORKER_MEMORY_SHARE),
            shutdown_timeout: Duration::from_secs(
                file.shutdown_timeout
                    .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT_SECS),
            ),
            sandbox,
            startup_cpu_cooldown,
            allow_function_network,
            triggers,
            events,
            wasm,
            packages,
            store,
            clock: Arc::new(SystemClock),
        };
        if !(settings.worker_memory_share > 0.0 && settings.worker_memory_share <= 1.0) {
            bail!(
                "invalid worker_memory_share {}: expected a fraction of the host's memory, 0 < share <= 1",
                settings.worker_memory_share
            );
        }
        if settings.keep_alive_bucket.is_zero() {
            bail!("invalid [keep_alive] bucket 0: a bucket of the histogram is at least 1 second");
        }
        if settings.prestart.max_size > MAX_RUNTIME_POOL_SIZE {
            bail!(
                "invalid max_runtime_pool_size {}: at most {MAX_RUNTIME_POOL_SIZE} pre-started workers per runtime",
                settings.prestart.max_size
            );
        }
        if settings.prestart.default_size > settings.prestart.max_size {
            bail!(
                "invalid runtime_pool_size {}: above max_runtime_pool_size {}",
                settings.prestart.default_size,
                settings.prestart.max_size
            );
        }
        if settings.max_workers_per_function == 0 {
            bail!("invalid max_workers_per_function 0: at least one worker is needed");
        }
        if settings.result_cap < 16 {
            bail!(
                "invalid result_cap {}: an output needs room for at least 16 bytes of JSON",
                settings.result_cap
            );
        }
        if settings.max_package_size == 0 {
            bail!("invalid max_package_size 0: packages need at least one byte");
        }
        if settings.max_unpacked_size == 0 {
            bail!("invalid max_unpacked_size 0: packages need to unpack to at least one byte");
        }
        if settings.unpack_cache_size < 1024 * 1024 {
            bail!(
                "invalid unpack_cache_size {}: at least 1 MiB (1048576 bytes)",
                settings.unpack_cache_size
            );
        }
        Ok(settings)
    }
}

/// Checks each declared runtime kind against this host: a server never starts with a kind it
/// cannot run.
fn runtime_kinds(
    file: Vec<RuntimeKindFile>,
    data_dir: &Path,
) -> anyhow::Result<Vec<ridge_runtime_process::CustomKind>> {
    let mut kinds: Vec<ridge_runtime_process::CustomKind> = Vec::new();
    for (i, entry) in file.into_iter().enumerate() {
        let name = entry.name.clone();
        // What workers of this kind are shown: never `/`, never the data directory.
        for path in entry.directory.iter().chain(&entry.read_only) {
            if path.exists() {
                ridge_sandbox::shown_path(path, &[data_dir.to_owned()]).map_err(|why| {
                    anyhow::anyhow!("invalid runtime_kinds[{i}] (`{name}`): {why}")
                })?;
            }
        }
        let kind = ridge_runtime_process::CustomKind::new(ridge_runtime_process::CustomKindSpec {
            name: entry.name,
            command: entry.command,
            directory: entry.directory,
            env: entry.env.into_iter().collect(),
            read_only: entry.read_only,
        })
        .with_context(|| format!("invalid runtime_kinds[{i}] (`{name}`)"))?;
        if kinds.iter().any(|k| k.name() == kind.name()) {
            bail!("invalid runtime_kinds[{i}]: the name `{name}` is declared twice");
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

fn sandbox_config(file: SandboxFile) -> anyhow::Result<ridge_sandbox::SandboxConfig> {
    use ridge_sandbox::{Enforcement, Network, SandboxConfig};
    let defaults = SandboxConfig::default();
    let config = SandboxConfig {
        enforcement: match file.mode {
            Some(SandboxMode::Degraded) => Enforcement::Degraded,
            Some(SandboxMode::Off) => Enforcement::Off,
            Some(SandboxMode::Refuse) | None => Enforcement::Refuse,
        },
        network: match file.network {
            Some(SandboxNetwork::Host) => Network::Host,
            Some(SandboxNetwork::Loopback) | None => Network::Loopback,
        },
        tmp_size: file.tmp_size.unwrap_or(defaults.tmp_size),
        pids: file.pids.unwrap_or(defaults.pids),
        bwrap: file.bwrap,
        pasta: file.pasta,
        uids: ridge_sandbox::UidRange {
            first: file.uid.unwrap_or(defaults.uids.first),
            count: file.uid_count.unwrap_or(defaults.uids.count),
        },
        gid: file.gid.unwrap_or(defaults.gid),
        startup_cpu: file.startup_cpu.unwrap_or(defaults.startup_cpu),
        ..defaults
    };
    if config.pids < 8 {
        bail!(
            "invalid sandbox.pids {}: a worker needs at least 8 processes",
            config.pids
        );
    }
    if config.tmp_size < 1024 * 1024 {
        bail!(
            "invalid sandbox.tmp_size {}: at least 1 MiB (1048576 bytes)",
            config.tmp_size
        );
    }
    if config.gid == 0 {
        bail!("invalid sandbox.gid 0: workers must not run as root");
    }
    if let Some(problem) = config.uids.problem() {
        bail!(
            "invalid sandbox.uid {} with sandbox.uid_count {}: {problem}; workers must not run as root",
            config.uids.first,
            config.uids.count
        );
    }
    Ok(config)
}

/// The data directory as the sandbox compares paths with it: links resolved where it exists
/// already, else made absolute.
pub fn private_dir(data_dir: &Path) -> PathBuf {
    std::fs::canonicalize(data_dir)
        .or_else(|_| std::path::absolute(data_dir))
        .unwrap_or_else(|_| data_dir.to_owned())
}

/// A PostgreSQL URL that also trusts `bundle` (libpq's `sslrootcert`, which the driver adds to
/// the system's roots), unless it names a root certificate of its own.
fn with_root_cert(url: &str, bundle: &Path) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return url.to_owned();
    };
    if parsed.query_pairs().any(|(key, _)| key == "sslrootcert") {
        return url.to_owned();
    }
    parsed
        .query_pairs_mut()
        .append_pair("sslrootcert", &bundle.to_string_lossy());
    parsed.to_string()
}

/// `$XDG_DATA_HOME/ridge`, else `~/.local/share/ridge`.
fn default_data_dir() -> anyhow::Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("ridge"))
        .context("cannot find a data directory: set RIDGE_DATA_DIR or pass --data-dir")
}

#[cfg(test)]
mod tests;
