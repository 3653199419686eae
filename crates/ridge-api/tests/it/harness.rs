//! The router-level test server: Ridge's API router with a real SQLite store and a real local
//! package store in a temporary directory, the real engine with stand-in workers
//! ([`standin`]), and a manual clock. Requests go through the router with
//! `tower::ServiceExt::oneshot`: no socket, no process.
//!
//! [`state`] is the one place an [`AppState`] is put together for these tests.

#![allow(
    dead_code,
    reason = "each test module uses a different part of the harness"
)]

mod client;
pub mod standin;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use ridge_api::auth::{Auth, token_hash};
use ridge_api::secret_box::{SecretBox, seal_stored};
use ridge_api::webhook_guard::{RateLimiter, SecretCheck};

use ridge_api::{ApiConfig, AppState};
use ridge_core::api::{
    CreateExecution, CreateRuntime, ExecutionView, FunctionView, Protection, RuntimeView,
    SandboxInfo,
};
use ridge_core::tenancy::Quotas;
use ridge_core::{Clock, LimitsPolicy, ManualClock, Role, RuntimeKind, fixtures};
use ridge_engine::{Engine, EngineConfig};
use ridge_package::{LocalPackageStore, PackageStore, UnpackLimits};
use ridge_store::{SqliteStore, Store};

/// Where the test server keeps its webhook secret key, as `ridge serve` does.
pub const SECRET_KEY_FILE: &str = "webhook-secrets.key";

pub use client::{Api, Multipart, Refused, Upload, api_error, md5_hex};
pub use standin::Gate;

/// The base of every webhook URL, and the `Host` every request carries.
pub const PUBLIC_URL: &str = "http://ridge.test";

/// The bootstrap admin's token in `token` mode.
pub const BOOTSTRAP: &str = "bootstrap-admin-token-for-tests";

/// How the server is configured; defaults are `ridge serve`'s.
#[derive(Debug, Clone)]
pub struct Setup {
    pub config: ApiConfig,
    pub engine: EngineConfig,
    pub quotas: Quotas,
    /// `token` mode with the [`BOOTSTRAP`] admin, instead of `none`.
    pub token_auth: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            config: ApiConfig {
                limits: LimitsPolicy::default(),
                max_package_size: 50 * 1024 * 1024,
                sandbox: sandbox_info(),
                public_url: Some(PUBLIC_URL.to_owned()),
                https: false,
                max_versions: 10,
                webhook_rate_limit: 60,
                webhook_max_body: 1024 * 1024,
                webhook_signature_window: Duration::from_secs(300),
                job_min_lead: Duration::from_secs(60),
                job_min_interval: Duration::from_secs(60),
                event_max_prefetch: 64,
                event_max_triggers: 3,
                allow_function_network: false,
                admin_needs_client_cert: false,
                peer_client: reqwest::Client::new(),
            },
            engine: EngineConfig::default(),
            quotas: Quotas::default(),
            token_auth: false,
        }
    }
}

/// What `GET /v1/info` reports of the sandbox: fixed here, since no worker is sandboxed.
fn sandbox_info() -> SandboxInfo {
    SandboxInfo {
        mode: "refuse".to_owned(),
        cgroup: "none".to_owned(),
        protections: vec![Protection {
            name: "stand-in workers".to_owned(),
            enforced: false,
            turned_off: false,
            detail: "the router tests run no process".to_owned(),
        }],
    }
}

pub struct TestApi {
    /// A client without a token (`none` mode) or with the bootstrap admin's (`token` mode).
    pub api: Api,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub gate: Gate,
    pub dir: tempfile::TempDir,
    setup: Setup,
}

/// Builds the API's state on `dir` the way `ridge serve` does, with stand-in workers.
async fn state(
    dir: &std::path::Path,
    setup: &Setup,
    clock: Arc<ManualClock>,
    gate: &Gate,
) -> AppState {
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.join("ridge.db"))
            .await
            .expect("open the store"),
    );
    if setup.token_auth {
        bootstrap(store.as_ref()).await;
    }
    let packages: Arc<dyn PackageStore> = Arc::new(LocalPackageStore::new(
        dir.join("packages"),
        dir.join("unpacked"),
        UnpackLimits::default(),
    ));
    let kinds = [RuntimeKind::PYTHON3, RuntimeKind::NODEJS, RuntimeKind::WASM];
    let engine = Engine::new(
        store.clone(),
        packages.clone(),
        standin::adapters(&kinds, gate),
        EngineConfig {
            quotas: setup.quotas,
            clock: clock.clone(),
            ..setup.engine.clone()
        },
    );
    engine.boot().await.expect("the engine starts");
    let secret_box = Arc::new(
        SecretBox::from_key_file(&dir.join(SECRET_KEY_FILE), true).expect("the secret key"),
    );
    seal_stored(store.as_ref(), &secret_box)
        .await
        .expect("plain secrets sealed");
    AppState {
        store,
        packages,
        engine,
        config: Arc::new(setup.config.clone()),
        webhook_limiter: Arc::new(RateLimiter::new(setup.config.webhook_rate_limit)),
        webhook_secrets: Arc::new(SecretCheck::new(setup.config.webhook_signature_window)),
        secret_box,
        auth: Arc::new(if setup.token_auth {
            Auth::Token
        } else {
            Auth::None
        }),
        clock: clock as Arc<dyn Clock>,
    }
}

/// `token` mode's first start: project `default` with its admin, holding [`BOOTSTRAP`].
async fn bootstrap(store: &dyn Store) {
    if store.count_users().await.expect("count users") > 0 {
        return;
    }
    store
        .create_project(&fixtures::project_row("default", 0))
        .await
        .expect("bootstrap project");
    let admin = fixtures::user("default", "admin", Role::Admin, 0);
    store.create_user(&admin).await.expect("bootstrap admin");
    store
        .create_token(&fixtures::token(&admin, &token_hash(BOOTSTRAP), 0))
        .await
        .expect("bootstrap token");
}

impl TestApi {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Setup)) -> Self {
        let mut setup = Setup::default();
        adjust(&mut setup);
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, setup, Arc::new(ManualClock::starting_now())).await
    }

    async fn start_in(dir: tempfile::TempDir, setup: Setup, clock: Arc<ManualClock>) -> Self {
        let gate = Gate::closed();
        let state = state(dir.path(), &setup, clock.clone(), &gate).await;
        let mut api = Api::new(ridge_api::service(state.clone()));
        if setup.token_auth {
            api = api.with_token(BOOTSTRAP);
        }
        Self {
            api,
            state,
            clock,
            gate,
            dir,
            setup,
        }
    }

    /// Stops this server and starts another on the same data directory, with `adjust`ed
    /// settings: what a restart keeps is what the stores keep, on the same test clock.
    pub async fn restart(self, adjust: impl FnOnce(&mut Setup)) -> Self {
        let TestApi {
            state,
            dir,
            mut setup,
            clock,
            ..
        } = self;
        state.engine.shutdown().await;
        drop(state);
        adjust(&mut setup);
        // The same test clock: time goes on across a restart, it does not jump to the wall
        // clock (which may have passed a second, and so signed another timestamp).
        Self::start_in(dir, setup, clock).await
    }

    /// A client sending `token`.
    pub fn client(&self, token: &str) -> Api {
        self.api.with_token(token)
    }

    /// A client sending no token.
    pub fn anonymous(&self) -> Api {
        self.api.without_token()
    }

    /// Every file under the package store's directory.
    pub fn package_files(&self) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.dir.path().join("packages")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    found.push(path);
                }
            }
        }
        found
    }

    /// Creates a python3 runtime and waits (bounded) until it is available.
    pub async fn python_runtime(&self) -> RuntimeView {
        self.api.runtime("python3").await
    }

    /// A function of stand-in code: `function.py` holding `value` (see [`returning`]), entry
    /// `function.main`.
    pub async fn function(&self, runtime: &RuntimeView, value: &str) -> FunctionView {
        self.api.function(runtime, value).await
    }

    pub async fn run(&self, function: &FunctionView, input: Option<&str>) -> ExecutionView {
        self.api.run(function, input).await
    }

    pub async fn wait(&self, id: &str) -> ExecutionView {
        self.api.wait(id).await
    }

    pub async fn update_code(&self, function: &FunctionView, value: &str) -> FunctionView {
        self.api.update_code(function, value).await
    }
}

impl Api {
    /// Creates a runtime of the kind `image` names and waits (bounded) until it is available.
    pub async fn runtime(&self, image: &str) -> RuntimeView {
        let created = self
            .create_runtime(&CreateRuntime {
                image: Some(image.to_owned()),
                name: Some(image.to_owned()),
                ..Default::default()
            })
            .await
            .expect("runtime created");
        self.wait_runtime(&created.id).await
    }

    /// Polls a runtime until it is available (for at least 10 s: its readiness is a spawned task).
    pub async fn wait_runtime(&self, id: &str) -> RuntimeView {
        for _ in 0..10_000 {
            let rt = self.get_runtime(id).await.expect("runtime");
            if rt.status == "available" {
                return rt;
            }
            assert_eq!(rt.status, "creating", "runtime went to {}", rt.status);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("runtime never became available");
    }

    /// A function of this client's project whose stand-in worker returns `value`.
    pub async fn function(&self, runtime: &RuntimeView, value: &str) -> FunctionView {
        self.create_function(&client::Upload {
            name: Some("function".to_owned()),
            runtime_id: Some(runtime.id.clone()),
            entry: Some("function.main".to_owned()),
            package: Some(returning(value)),
            ..Default::default()
        })
        .await
        .expect("function created")
    }

    /// Runs the function synchronously with `input` (a string, as Qinling clients send it).
    pub async fn run(&self, function: &FunctionView, input: Option<&str>) -> ExecutionView {
        self.create_execution(&CreateExecution {
            function_id: Some(function.id.clone()),
            input: input.map(|i| serde_json::Value::String(i.to_owned())),
            ..Default::default()
        })
        .await
        .expect("execution created")
    }

    /// Polls an execution until it leaves `running` (for at least 10 s).
    pub async fn wait(&self, id: &str) -> ExecutionView {
        for _ in 0..10_000 {
            let e = self.get_execution(id).await.expect("execution");
            if e.status != "running" {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("execution {id} did not finish");
    }

    /// Replaces the function's package with stand-in code returning `value`.
    pub async fn update_code(&self, function: &FunctionView, value: &str) -> FunctionView {
        self.update_function(
            &function.id,
            &client::Upload {
                package: Some(returning(value)),
                ..Default::default()
            },
        )
        .await
        .expect("function updated")
    }
}

/// The `output` of an execution's result.
pub fn output(e: &ExecutionView) -> serde_json::Value {
    e.result_json().expect("result is JSON")["output"].clone()
}

/// A package for stand-in workers: `function.py` holding `value` (JSON text, or any text),
/// which a `main` entry returns as `v` and a `fail` entry raises.
pub fn returning(value: &str) -> Vec<u8> {
    zip_files(&[("function.py", value)])
}

/// A zip (deflated) holding the given files.
pub fn zip_files(files: &[(&str, &str)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let options = zip::write::SimpleFileOptions::default();
        for (name, contents) in files {
            zip.start_file(*name, options).expect("zip entry");
            zip.write_all(contents.as_bytes()).expect("zip write");
        }
        zip.finish().expect("zip finish");
    }
    buf.into_inner()
}
