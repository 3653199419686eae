//! Ridge's HTTP API: the Qinling v1 routes (so the `openstack` CLI and Qinling-era scripts work
//! unchanged) and Ridge's own additions (`GET /v1/info`).
//!
//! Handlers are thin: they parse the request into typed values at the edge, call the store or
//! the engine, and map the answer. No SQL and no process handling here. Every error goes through
//! the one [`ApiError`] mapping, and every 4xx carries a `faultstring` that says what to fix.

pub mod access;
pub mod auth;
mod context;
mod error;
mod handlers;
mod kwargs;
mod peers;
mod query;
pub mod secret_box;
pub mod webhook_guard;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::routing::{get, post};
use ridge_core::api::SandboxInfo;
use ridge_core::{Clock, LimitsPolicy};
use ridge_engine::Engine;
use ridge_package::PackageStore;
use ridge_store::Store;
use tower::Layer;
use tower::util::{MapRequest, MapRequestLayer};

pub use context::Caller;
pub use error::ApiError;

/// What the handlers share: trait objects for the store and packages, the engine, and settings.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub packages: Arc<dyn PackageStore>,
    pub engine: Arc<Engine>,
    pub config: Arc<ApiConfig>,
    /// Per-webhook rate limits of invokes, accepted and refused (`ApiConfig::webhook_rate_limit`).
    pub webhook_limiter: Arc<webhook_guard::RateLimiter>,
    /// The signature window and replay cache of webhook secrets.
    pub webhook_secrets: Arc<webhook_guard::SecretCheck>,
    /// Seals webhook secrets before they are stored, and opens them to check a call.
    pub secret_box: Arc<secret_box::SecretBox>,
    /// How a request's token becomes a caller (`none`, `token` or `keystone`).
    pub auth: Arc<auth::Auth>,
    /// What token expiry is decided by ([`ridge_core::SystemClock`] in the server).
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Allowed ranges and defaults of function limits.
    pub limits: LimitsPolicy,
    /// Largest accepted function package, in bytes.
    pub max_package_size: usize,
    pub sandbox: SandboxInfo,
    /// The base of `webhook_url` (`http://host:port`, no trailing `/`); `None`: the address
    /// each caller used ([`context::BaseUrl`]).
    pub public_url: Option<String>,
    /// Whether this server listens with TLS: the scheme of URLs built from a caller's `Host`.
    pub https: bool,
    /// Most versions a function may have at once (Qinling: 10).
    pub max_versions: i64,
    /// Invokes a minute per webhook (0: no limit).
    pub webhook_rate_limit: u32,
    /// Largest accepted webhook invoke body, in bytes.
    pub webhook_max_body: usize,
    /// How far a timestamped webhook signature may be from the server's clock.
    pub webhook_signature_window: std::time::Duration,
    /// How far in the future a job's first (or explicitly set next) time must be (Qinling: 60 s).
    pub job_min_lead: std::time::Duration,
    /// The shortest time a job's pattern may leave between two runs.
    pub job_min_interval: std::time::Duration,
    /// The largest `prefetch` an event trigger may ask for (`[events] max_prefetch`).
    pub event_max_prefetch: u16,
    /// Event triggers a project may have (`[events] max_triggers_per_project`).
    pub event_max_triggers: u64,
    /// Whether a function may be granted outbound network (`[sandbox] allow_function_network`).
    pub allow_function_network: bool,
}

/// The API as a service: the router behind a path normaliser, because Qinling clients send
/// `/v1//aliases` and trailing slashes (QINLING-API.md §1.3).
pub type ApiService = MapRequest<Router, fn(Request) -> Request>;

pub fn service(state: AppState) -> ApiService {
    let normalize: fn(Request) -> Request = normalize_path;
    MapRequestLayer::new(normalize).layer(router(state))
}

pub fn router(state: AppState) -> Router {
    use handlers::{
        aliases, event_triggers, executions, functions, identity, jobs, quotas, retention, root,
        runtimes, versions, webhooks, workers,
    };

    // Package uploads are bounded by the configured size (plus room for the form fields); the
    // limit is checked while reading, and a bigger body gets a 413 that says the limit.
    let upload_limit = DefaultBodyLimit::max(state.config.max_package_size + 64 * 1024);
    let invoke_limit = DefaultBodyLimit::max(state.config.webhook_max_body);
    Router::new()
        .route("/", get(root::versions))
        .route("/v1", get(root::v1))
        .route("/v1/info", get(root::info))
        .route("/metrics", get(root::metrics))
        .route("/v1/whoami", get(identity::whoami))
        .route(
            "/v1/projects",
            get(identity::list_projects).post(identity::create_project),
        )
        .route("/v1/projects/{id}", get(identity::show_project))
        .route(
            "/v1/users",
            get(identity::list_users).post(identity::create_user),
        )
        .route(
            "/v1/users/{id}",
            axum::routing::delete(identity::delete_user),
        )
        .route(
            "/v1/tokens",
            get(identity::list_tokens).post(identity::create_token),
        )
        .route(
            "/v1/tokens/{id}",
            axum::routing::delete(identity::revoke_token),
        )
        .route("/v1/quotas", get(quotas::mine))
        .route("/v1/quotas/{project}", get(quotas::show).put(quotas::set))
        .route("/v1/retention", get(retention::mine))
        .route(
            "/v1/retention/{project}",
            get(retention::show).put(retention::set),
        )
        .route("/v1/runtimes", get(runtimes::list).post(runtimes::create))
        .route(
            "/v1/runtimes/{id}",
            get(runtimes::show)
                .put(runtimes::update)
                .delete(runtimes::delete),
        )
        .route("/v1/runtimes/{id}/pool", get(runtimes::pool))
        .route(
            "/v1/functions",
            get(functions::list)
                .post(functions::create)
                .layer(upload_limit),
        )
        .route(
            "/v1/functions/{id}",
            get(functions::show)
                .put(functions::update)
                .delete(functions::delete)
                .layer(upload_limit),
        )
        .route("/v1/functions/{id}/scale_up", post(workers::scale_up))
        .route("/v1/functions/{id}/scale_down", post(workers::scale_down))
        .route("/v1/functions/{id}/detach", post(workers::detach))
        .route("/v1/functions/{id}/workers", get(workers::list))
        .route(
            "/v1/functions/{id}/versions/{n}/scale_up",
            post(workers::version_scale_up),
        )
        .route(
            "/v1/functions/{id}/versions/{n}/scale_down",
            post(workers::version_scale_down),
        )
        .route(
            "/v1/functions/{id}/versions/{n}/detach",
            post(workers::version_detach),
        )
        .route(
            "/v1/executions",
            get(executions::list).post(executions::create),
        )
        .route(
            "/v1/executions/{id}",
            get(executions::show).delete(executions::delete),
        )
        .route("/v1/executions/{id}/log", get(executions::log))
        .route(
            "/v1/functions/{id}/versions",
            get(versions::list).post(versions::create),
        )
        .route(
            "/v1/functions/{id}/versions/{n}",
            get(versions::show).delete(versions::delete),
        )
        .route("/v1/aliases", get(aliases::list).post(aliases::create))
        .route(
            "/v1/aliases/{name}",
            get(aliases::show)
                .put(aliases::update)
                .delete(aliases::delete),
        )
        .route(
            "/v1/event_triggers",
            get(event_triggers::list).post(event_triggers::create),
        )
        .route(
            "/v1/event_triggers/{id}",
            get(event_triggers::show)
                .put(event_triggers::update)
                .delete(event_triggers::delete),
        )
        .route("/v1/event_triggers/{id}/pause", post(event_triggers::pause))
        .route(
            "/v1/event_triggers/{id}/resume",
            post(event_triggers::resume),
        )
        .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::show)
                .put(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/v1/webhooks/{id}/invoke",
            post(webhooks::invoke).layer(invoke_limit),
        )
        .route("/v1/jobs", get(jobs::list).post(jobs::create))
        .route(
            "/v1/jobs/{id}",
            get(jobs::show).put(jobs::update).delete(jobs::delete),
        )
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state(state)
}

/// Collapses repeated slashes and drops a trailing one, keeping the query.
fn normalize_path(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && (path.ends_with('/') || path.contains("//")) {
        let mut clean = String::with_capacity(path.len());
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            clean.push('/');
            clean.push_str(segment);
        }
        if clean.is_empty() {
            clean.push('/');
        }
        if let Some(q) = req.uri().query() {
            clean.push('?');
            clean.push_str(q);
        }
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = clean.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(uri: &str) -> String {
        let req = Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .expect("valid request");
        normalize_path(req).uri().to_string()
    }

    #[test]
    fn tolerates_double_and_trailing_slashes() {
        assert_eq!(normalized("/v1//aliases"), "/v1/aliases");
        assert_eq!(normalized("/v1/"), "/v1");
        assert_eq!(normalized("/"), "/");
        assert_eq!(
            normalized("/v1/functions/x/workers/?function_version=1"),
            "/v1/functions/x/workers?function_version=1"
        );
        assert_eq!(normalized("/v1/runtimes"), "/v1/runtimes");
    }
}
