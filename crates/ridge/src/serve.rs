//! `ridge serve`: open the store, probe the host, start the engine and serve the API until
//! SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ridge_api::secret_box::{SecretBox, seal_stored};
use ridge_api::webhook_guard::{RateLimiter, SecretCheck};
use ridge_api::{ApiConfig, AppState};
use ridge_core::api::{Protection, SandboxInfo};
use ridge_engine::policy::ScalingPolicy;
use ridge_engine::{Engine, EngineConfig, JobScheduler};
use ridge_package::UnpackLimits;
use ridge_runtime::RuntimeAdapter;
use ridge_runtime_process::{ProcessAdapter, ProcessConfig};
use ridge_runtime_wasm::WasmAdapter;
use ridge_store::{Store, StoreUrl};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{Overrides, Settings};
use crate::tenancy::AuthSettings;

/// How long a stopping server waits for HTTP connections to close once executions drained.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [env: RIDGE_LISTEN] [default: 127.0.0.1:7070]
    #[arg(long, env = "RIDGE_LISTEN", hide_env = true)]
    pub listen: Option<String>,
    /// Where the database and packages live [env: RIDGE_DATA_DIR] [default: ~/.local/share/ridge]
    #[arg(long, env = "RIDGE_DATA_DIR", hide_env = true)]
    pub data_dir: Option<PathBuf>,
    /// A TOML file with more settings [env: RIDGE_CONFIG]
    #[arg(long, env = "RIDGE_CONFIG", hide_env = true)]
    pub config: Option<PathBuf>,
    /// The Python interpreter for the python3 runtime [env: RIDGE_PYTHON]
    #[arg(long, env = "RIDGE_PYTHON", hide_env = true)]
    pub python: Option<PathBuf>,
    /// The node binary for the nodejs runtime [env: RIDGE_NODE]
    #[arg(long, env = "RIDGE_NODE", hide_env = true)]
    pub node: Option<PathBuf>,
    /// Where packages live: file:///PATH or s3://BUCKET[/PREFIX] (S3 settings from the AWS_*
    /// variables) [env: RIDGE_PACKAGES] [default: file://<data dir>/packages]
    #[arg(long, env = "RIDGE_PACKAGES", hide_env = true)]
    pub packages: Option<String>,
    /// Where state lives: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DBNAME
    /// [env: RIDGE_STORE] [default: sqlite://<data dir>/ridge.db]
    #[arg(long, env = "RIDGE_STORE", hide_env = true)]
    pub store: Option<String>,
    /// This node's name among the nodes sharing the store [env: RIDGE_NODE_NAME]
    /// [default: the host name]
    #[arg(long, env = "RIDGE_NODE_NAME", hide_env = true)]
    pub node_name: Option<String>,
    /// How the other nodes reach this one: http://HOST:PORT [env: RIDGE_NODE_ADDRESS]
    /// [default: http://<listen address>]
    #[arg(long, env = "RIDGE_NODE_ADDRESS", hide_env = true)]
    pub node_address: Option<String>,
    /// Serve HTTPS with this PEM certificate chain (and --tls-key); reloaded on SIGHUP
    /// [env: RIDGE_TLS_CERT]
    #[arg(long, env = "RIDGE_TLS_CERT", hide_env = true)]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert [env: RIDGE_TLS_KEY]
    #[arg(long, env = "RIDGE_TLS_KEY", hide_env = true)]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS for the admin API: admin credentials count only from clients with a
    /// certificate these PEM CAs signed [env: RIDGE_TLS_CLIENT_CA]
    #[arg(long, env = "RIDGE_TLS_CLIENT_CA", hide_env = true)]
    pub tls_client_ca: Option<PathBuf>,
    /// PEM CA certificates trusted, besides the system's roots, when connecting to Keystone,
    /// S3, PostgreSQL and the other nodes [env: RIDGE_CA_BUNDLE]
    #[arg(long, env = "RIDGE_CA_BUNDLE", hide_env = true)]
    pub ca_bundle: Option<PathBuf>,
    /// How the server logs to stderr: `text` for people, `json` (one object per line) for log
    /// shippers [env: RIDGE_LOG_FORMAT]
    #[arg(long, env = "RIDGE_LOG_FORMAT", hide_env = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Apply the store's migrations, then exit without serving
    #[arg(long)]
    pub migrate_only: bool,
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    /// `https` with `--tls-cert`, else `http`.
    scheme: &'static str,
    engine: Arc<Engine>,
    shutdown_timeout: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    /// The job scheduler; stopped first, so no job fires into a draining engine.
    jobs: JoinHandle<()>,
    /// The event triggers' consumers; stopped first too (messages they held and did not
    /// acknowledge go back to their queues).
    events: JoinHandle<()>,
    /// `token` mode's generated first admin token, to be shown once.
    bootstrap_token: Option<String>,
    /// A SQLite store's lock ([`lock_sqlite`]), held while the server lives.
    _store_lock: Option<std::fs::File>,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The admin token generated at the first start in `token` mode (none on later starts, or
    /// when the configuration gave one).
    pub fn bootstrap_token(&self) -> Option<&str> {
        self.bootstrap_token.as_deref()
    }

    /// Stops accepting requests, lets running executions finish (up to `shutdown_timeout`),
    /// and stops every worker. Queued async executions stay in the store for the next start.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.jobs.abort();
        self.events.abort();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let left = self.engine.drain(self.shutdown_timeout).await;
        if left > 0 {
            tracing::warn!(
                left,
                "executions still unfinished at shutdown: the next start resolves them"
            );
        }
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(joined) => joined.context("server task panicked")??,
            Err(_) => {
                tracing::warn!("in-flight requests did not finish within the grace period");
                self.task.abort();
            }
        }
        self.engine.shutdown().await;
        Ok(())
    }
}

/// Creates the data directory, or tightens an existing one, with mode 0700: it holds the
/// database, every package and the workers' output, which no other user of the host may read.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory `{}`", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make data directory `{}` private", dir.display()))
}

/// Builds everything and starts serving in the background.
pub async fn start(settings: Settings) -> anyhow::Result<Server> {
    let data_dir = &settings.data_dir;
    create_private_dir(data_dir)?;
    let scratch = data_dir.join("run");
    std::fs::create_dir_all(&scratch)
        .with_context(|| format!("cannot create `{}`", scratch.display()))?;
    let store_lock = lock_sqlite(&settings.store)?;
    let store = open_store(&settings.store).await?;
    let bootstrap_token = match &settings.auth {
        AuthSettings::Token { bootstrap_token } => {
            crate::tenancy::bootstrap(store.as_ref(), bootstrap_token.as_deref()).await?
        }
        _ => None,
    };
    let auth = settings.auth.build()?;
    let secret_box = webhook_secret_box(&settings, store.as_ref()).await?;
    let limits = UnpackLimits {
        max_unpacked_bytes: settings.max_unpacked_size,
        ..UnpackLimits::default()
    };
    // Each unpacked package a tmpfs of its own, so that no worker's mount table names the
    // data directory: only in the private mount namespace `ridge serve` made at start-up.
    let package_tmpfs =
        ridge_sandbox::private_mount_namespace().map(|()| settings.unpack_cache_size);
    let packages = settings
        .packages
        .open(data_dir, limits, package_tmpfs.as_ref().ok().copied())
        .await?;

    let process_defaults = ProcessConfig::default();
    let sandbox = Arc::new(build_sandbox(&settings, package_tmpfs).await?);
    let sandbox_view = sandbox_info(&sandbox);
    if sandbox.is_off() {
        tracing::warn!(
            off = %sandbox.turned_off().join(", "),
            "THE SANDBOX IS OFF (sandbox.mode = \"off\"): workers run as plain child processes \
             of this server, as its user, seeing its files and network, with no memory, cpu or \
             pids limit; run only trusted functions, or set sandbox.mode = \"refuse\""
        );
    }
    for p in sandbox_view
        .protections
        .iter()
        .filter(|p| !p.enforced && !p.turned_off)
    {
        tracing::warn!(protection = %p.name, detail = %p.detail, "protection not enforced on this host");
    }
    if let Some(reason) = sandbox.refusal() {
        tracing::error!("no function will run: {reason}");
    }
    if settings.allow_function_network
        && let Err(reason) = sandbox.outbound_network()
    {
        // Never the host's network instead: a granted function's workers would be refused.
        let problem = format!(
            "sandbox.allow_function_network = true, but this host cannot give a function \
             outbound network of its own: {reason}"
        );
        if settings.sandbox.enforcement == ridge_sandbox::Enforcement::Refuse
            && settings.sandbox.network != ridge_sandbox::Network::Host
        {
            anyhow::bail!("{problem}; fix that, or set allow_function_network = false");
        }
        tracing::error!("{problem}; executions of functions granted it end in `error`");
    }

    let process = ProcessConfig {
        sandbox: Some(sandbox),
        slots_dir: Some(settings.data_dir.join("prestart-slots")),
        // Most functions keep the default: Node.js workers are pre-started for it.
        prestart_memory_size: settings.limits.memory_size.default,
        ..process_defaults
    };
    let python = ProcessConfig {
        zygote: settings.python_zygote,
        ..process.clone()
    };
    let mut adapters: Vec<Arc<dyn RuntimeAdapter>> = vec![
        Arc::new(ProcessAdapter::python(settings.python.clone(), python)),
        Arc::new(ProcessAdapter::nodejs(
            settings.node.clone(),
            process.clone(),
        )),
    ];
    // Reserves the instance pool's address space: blocking work.
    let wasm_config = settings.wasm.clone();
    adapters.push(Arc::new(
        tokio::task::spawn_blocking(move || WasmAdapter::new(wasm_config))
            .await
            .context("the WebAssembly set-up panicked")?,
    ));
    for kind in &settings.runtime_kinds {
        adapters.push(Arc::new(ProcessAdapter::custom(
            kind.clone(),
            process.clone(),
        )));
    }
    // Bound before the engine joins the other nodes: its address is this node's, and a node
    // that restarts at the address it had takes its row over at once (no other process can
    // hold the port now).
    let listener = crate::listener::listen(settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let clock = settings.clock.clone();
    let engine = Engine::new(
        store.clone(),
        packages.clone(),
        adapters,
        EngineConfig {
            scaling: ScalingPolicy {
                max_workers: settings.max_workers_per_function,
                idle_expiry: settings.function_service_expiration,
                keep_alive: settings.keep_alive,
                bucket: settings.keep_alive_bucket,
            },
            log_cap: usize::try_from(settings.log_cap).unwrap_or(usize::MAX),
            result_cap: usize::try_from(settings.result_cap).unwrap_or(usize::MAX),
            worker_memory_budget: ridge_engine::worker_memory_budget(settings.worker_memory_share),
            max_queue_length: settings.max_queue_length,
            max_queue_wait: settings.max_queue_wait,
            quotas: settings.quotas,
            startup_cooldown: settings.startup_cpu_cooldown,
            clock: clock.clone(),
            node: settings.nodes.config(
                addr,
                if settings.tls.is_some() {
                    "https"
                } else {
                    "http"
                },
            ),
            retention: settings.retention,
            prestart: settings.prestart,
            // Check often enough that a worker outlives its expiry by at most half of it, and
            // that a pre-warm comes at most half a histogram bucket late.
            reap_interval: (settings
                .function_service_expiration
                .min(settings.keep_alive_bucket)
                / 2)
            .clamp(Duration::from_millis(100), Duration::from_secs(10)),
        },
    );
    engine.boot().await.context("cannot start the engine")?;
    let jobs = JobScheduler::new(&engine, settings.triggers.scheduler).spawn();
    let opener = secret_box.clone();
    let open_url: ridge_events::OpenUrl = Arc::new(move |t: &ridge_core::EventTrigger| {
        opener
            .open_trigger_url(t.id, &t.amqp_url_sealed)
            .map_err(|e| e.to_string())
    });
    let events = ridge_events::Supervisor::new(
        engine.clone(),
        store.clone(),
        open_url,
        settings.events.consumers,
    )
    .spawn();
    let triggers = &settings.triggers;
    let state = AppState {
        store,
        packages,
        engine: engine.clone(),
        config: Arc::new(ApiConfig {
            limits: settings.limits,
            max_package_size: usize::try_from(settings.max_package_size).unwrap_or(usize::MAX),
            sandbox: sandbox_view,
            public_url: triggers.public_url.clone(),
            https: settings.tls.is_some(),
            max_versions: triggers.max_versions,
            webhook_rate_limit: triggers.webhook_rate_limit,
            webhook_max_body: usize::try_from(triggers.webhook_max_body).unwrap_or(usize::MAX),
            webhook_signature_window: triggers.webhook_signature_window,
            job_min_lead: triggers.job_min_lead,
            job_min_interval: triggers.job_min_interval,
            event_max_prefetch: settings.events.max_prefetch,
            event_max_triggers: settings.events.max_triggers,
            allow_function_network: settings.allow_function_network,
            admin_needs_client_cert: settings
                .tls
                .as_ref()
                .is_some_and(|tls| tls.client_ca.is_some()),
            peer_client: crate::tls::peer_client(
                settings.tls.as_ref(),
                settings.ca_bundle.as_ref(),
            )?,
        }),
        webhook_limiter: Arc::new(RateLimiter::new(triggers.webhook_rate_limit)),
        webhook_secrets: Arc::new(SecretCheck::new(triggers.webhook_signature_window)),
        secret_box,
        auth: Arc::new(auth),
        clock,
    };
    if !addr.ip().is_loopback() && matches!(settings.auth, AuthSettings::None) {
        tracing::warn!(%addr, "listening beyond loopback with authentication off: anyone who can reach this address can run code here");
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let api = ridge_api::service(state);
    let (scheme, task) = match &settings.tls {
        None => (
            "http",
            tokio::spawn(async move {
                // With each peer's address, which rate limits of refused credentials key on.
                let service =
                    axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                        SocketAddr,
                    >(api);
                axum::serve(listener, service)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
            }),
        ),
        Some(tls) => {
            let rustls = axum_server::tls_rustls::RustlsConfig::from_config(tls.server_config()?);
            reload_on_sighup(tls.clone(), rustls.clone())?;
            let handle = axum_server::Handle::new();
            let shutdown = handle.clone();
            tokio::spawn(async move {
                let _ = stopped.await;
                shutdown.graceful_shutdown(None);
            });
            let listener = listener
                .into_std()
                .context("cannot hand the listener to the TLS server")?;
            // The TLS server hands requests over with hyper's body type.
            let api = tower::ServiceBuilder::new()
                .map_request(|request: axum::http::Request<hyper::body::Incoming>| {
                    request.map(axum::body::Body::new)
                })
                .service(api);
            let service = axum::ServiceExt::<axum::http::Request<hyper::body::Incoming>>::into_make_service_with_connect_info::<
                SocketAddr,
            >(api);
            (
                "https",
                tokio::spawn(async move {
                    axum_server::from_tcp_rustls(listener, rustls)
                        .map(crate::tls::ClientCertAcceptor::new)
                        .handle(handle)
                        .serve(service)
                        .await
                }),
            )
        }
    };
    tracing::info!(url = %format!("{scheme}://{addr}"), node = %engine.node_name(), data_dir = %data_dir.display(), store = %settings.store, "Ridge is serving");
    Ok(Server {
        addr,
        scheme,
        engine,
        shutdown_timeout: settings.shutdown_timeout,
        stop: Some(stop),
        task,
        jobs,
        events,
        bootstrap_token,
        _store_lock: store_lock,
    })
}

/// A SQLite store is one node's: the store keeps what it read of functions until it writes a
/// change itself (`ridge-store`'s `to_run_cache.rs`), so a second server writing the same file
/// would leave it running outdated code. The lock (`flock` on `<database>.lock`, released when
/// the process ends, however it ends) makes a second `ridge serve` on the file refuse to start.
fn lock_sqlite(url: &StoreUrl) -> anyhow::Result<Option<std::fs::File>> {
    let StoreUrl::Sqlite(path) = url else {
        return Ok(None);
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create `{}`", parent.display()))?;
    }
    let mut name = path.clone().into_os_string();
    name.push(".lock");
    let lock_path = std::path::PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open `{}`", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "the store `{url}` is in use by another `ridge serve` (it holds `{}`): a SQLite \
             store belongs to one node; stop the other one, or share a PostgreSQL store between \
             nodes (docs/scale-out.md)",
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock `{}`", lock_path.display()))
        }
    }
}

/// Opens the store and brings its schema up to date, saying which store failed and why.
async fn open_store(url: &StoreUrl) -> anyhow::Result<Arc<dyn Store>> {
    ridge_store::open(url)
        .await
        .with_context(|| format!("cannot open the store `{url}`"))
}

/// `ridge serve --migrate-only`: applies the store's migrations and returns.
pub async fn migrate_only(settings: &Settings) -> anyhow::Result<()> {
    open_store(&settings.store).await?;
    tracing::info!(store = %settings.store, "the store's schema is up to date");
    Ok(())
}

/// The key that seals webhook secrets (the configured file, or the data directory's own,
/// created on first start), after sealing any secret still stored in the clear.
async fn webhook_secret_box(
    settings: &Settings,
    store: &dyn Store,
) -> anyhow::Result<Arc<SecretBox>> {
    let (path, create) = match &settings.triggers.webhook_secret_key_file {
        Some(path) => (path.clone(), false),
        None => (settings.data_dir.join("webhook-secrets.key"), true),
    };
    let secret_box = SecretBox::from_key_file(&path, create)?;
    let sealed = seal_stored(store, &secret_box)
        .await
        .context("cannot seal the webhook secrets stored in the clear")?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed webhook secrets stored in the clear");
    }
    Ok(Arc::new(secret_box))
}

/// Reads the certificate and key again on every SIGHUP: new connections get the new pair; a
/// pair that does not load is logged and the old one kept.
fn reload_on_sighup(
    tls: crate::tls::TlsSettings,
    rustls: axum_server::tls_rustls::RustlsConfig,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match tls.server_config() {
                Ok(config) => {
                    rustls.reload_from_config(config);
                    tracing::info!(cert = %tls.cert.display(), "reloaded the TLS certificate");
                }
                Err(e) => {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "cannot reload the TLS certificate: keeping the old one"
                    );
                }
            }
        }
    });
    Ok(())
}

/// The sandbox `ridge serve` confines workers with, for `settings` on this host (`ridge
/// doctor` builds the same). `package_tmpfs`: whether packages get a tmpfs each, and in how
/// many bytes (see [`ridge_sandbox::SandboxConfig::package_tmpfs`]).
pub async fn build_sandbox(
    settings: &Settings,
    package_tmpfs: Result<u64, String>,
) -> anyhow::Result<ridge_sandbox::Sandbox> {
    let config = ridge_sandbox::SandboxConfig {
        rlimits: ProcessConfig::default().rlimits(),
        hidden: vec![crate::config::private_dir(&settings.data_dir)],
        package_tmpfs,
        ..settings.sandbox.clone()
    };
    // Runs bubblewrap once and creates cgroups: blocking work.
    tokio::task::spawn_blocking(move || {
        ridge_sandbox::Sandbox::new(config, ridge_sandbox::HostCapabilities::probe())
    })
    .await
    .context("the sandbox set-up panicked")
}

/// What this host offers and what Ridge applies, for the start-up log and `GET /v1/info`.
fn sandbox_info(sandbox: &ridge_sandbox::Sandbox) -> SandboxInfo {
    SandboxInfo {
        mode: sandbox.config().enforcement.name().to_owned(),
        cgroup: sandbox.host().cgroup.name().to_owned(),
        protections: sandbox
            .protections()
            .into_iter()
            .map(|p| Protection {
                name: p.protection.name().to_owned(),
                enforced: p.enforced,
                turned_off: p.turned_off,
                detail: p.detail,
            })
            .collect(),
    }
}

/// `ridge doctor`: prints what this host gives the sandbox and the runtimes under these
/// settings; fails (exit 1) when a piece is missing.
pub async fn doctor(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::resolve(overrides(args))?;
    let findings = crate::doctor::examine(&settings).await?;
    print!("{}", crate::doctor::render(&findings));
    let missing = findings.iter().filter(|f| f.missing()).count();
    anyhow::ensure!(missing == 0, "{missing} missing on this host (see above)");
    Ok(())
}

/// The settings the command line and the environment give.
fn overrides(args: ServeArgs) -> Overrides {
    Overrides {
        listen: args.listen,
        data_dir: args.data_dir,
        config: args.config,
        python: args.python,
        node: args.node,
        packages: args.packages,
        aws: crate::packages::AwsEnv::from_process(),
        store: args.store,
        node_name: args.node_name,
        node_address: args.node_address,
        tls: crate::tls::TlsFlags {
            cert: args.tls_cert,
            key: args.tls_key,
            client_ca: args.tls_client_ca,
            ca_bundle: args.ca_bundle,
        },
    }
}

/// `ridge serve`: runs until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(args.log_format);
    let only_migrate = args.migrate_only;
    let settings = Settings::resolve(overrides(args))?;
    if only_migrate {
        migrate_only(&settings).await?;
        eprintln!("The store `{}` is up to date", settings.store);
        return Ok(());
    }
    let stop = shutdown_signal()?;
    let server = start(settings).await?;
    if let Some(token) = server.bootstrap_token() {
        eprintln!(
            "Created the first admin (user `admin` of project `default`). Its token, shown only this once:\n\n    {token}\n\nUse it with `ridge --token` or RIDGE_TOKEN, and create other users and tokens with it."
        );
    }
    eprintln!("Ridge listening on {}", server.url());
    stop.await;
    tracing::info!("shutting down");
    server.stop().await
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people to read.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `message` and the event's
    /// fields, such as the `request_id` a 5xx answer names), for log shippers.
    Json,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => logs.try_init(),
        LogFormat::Json => logs.json().flatten_event(true).try_init(),
    };
}

/// Registers the SIGTERM handler now and returns a future that resolves on SIGTERM or Ctrl-C.
/// Registering before the server says it listens means a SIGTERM sent right after that line
/// drains the server instead of killing it with the default action.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
}
