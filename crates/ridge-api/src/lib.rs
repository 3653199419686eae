//! Ridge's HTTP API: the Qinling v1 routes (so the `openstack` CLI and Qinling-era scripts work
//! unchanged) and Ridge's own additions (`GET /v1/info`, `GET /v1/statistics`), described by the
//! OpenAPI document at `GET /v1/openapi.json` ([`openapi`]), which is built from the same calls
//! as the router; and the web dashboard's embedded files (`/dashboard/`, [`dashboard`]).
//!
//! Handlers are thin: they parse the request into typed values at the edge, call the store or
//! the engine, and map the answer. No SQL and no process handling here. Every error goes through
//! the one [`ApiError`] mapping, and every 4xx carries a `faultstring` that says what to fix.

pub mod access;
pub mod auth;
mod context;
pub mod dashboard;
mod error;
mod handlers;
mod kwargs;
pub mod openapi;
mod peers;
mod query;
pub mod secret_box;
pub mod webhook_guard;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::routing::get;
use axum::{Extension, Router};
use ridge_core::api::SandboxInfo;
use ridge_core::{Clock, LimitsPolicy};
use ridge_engine::Engine;
use ridge_package::PackageStore;
use ridge_store::Store;
use tower::Layer;
use tower::util::{MapRequest, MapRequestLayer};
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

pub use context::{Caller, ClientCertified};
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
    /// Mutual TLS for the admin API (`--tls-client-ca`): admin credentials count only on a
    /// connection whose client certificate that CA vouches for ([`ClientCertified`]).
    pub admin_needs_client_cert: bool,
    /// What this node calls the other nodes with (the workers API): trusting `--ca-bundle`, and
    /// presenting this node's own certificate where admin calls need one.
    pub peer_client: reqwest::Client,
}

/// The API as a service: the router behind a path normaliser, because Qinling clients send
/// `/v1//aliases` and trailing slashes (QINLING-API.md §1.3).
pub type ApiService = MapRequest<Router, fn(Request) -> Request>;

pub fn service(state: AppState) -> ApiService {
    let normalize: fn(Request) -> Request = normalize_path;
    MapRequestLayer::new(normalize).layer(router(state))
}

/// The router of the API, with its OpenAPI document served at `GET /v1/openapi.json`.
pub fn router(state: AppState) -> Router {
    // Package uploads are bounded by the configured size (plus room for the form fields); the
    // limit is checked while reading, and a bigger body gets a 413 that says the limit.
    let upload_limit = state.config.max_package_size + 64 * 1024;
    let (router, doc) = routes(upload_limit, state.config.webhook_max_body).split_for_parts();
    let doc = openapi::Rendered::new(&openapi::finish(doc, state.auth.name()));
    router
        // The dashboard's files: no API operation, so not in the document.
        .route("/dashboard", get(dashboard::index))
        .route("/dashboard/{*path}", get(dashboard::asset))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(Extension(doc))
        .with_state(state)
}

/// Every route with its operation in the OpenAPI document, registered together.
///
/// To add a route: give the handler `#[utoipa::path(get, path = "/v1/things/{id}", ...)]`
/// (its parameters, body and answers, with the wire types of `ridge_core::api`; see any handler
/// in `handlers/`) and add `.routes(routes!(things::show))` below. Handlers of one path may share
/// one `routes!`. Never `.route(...)`: the route would be served but missing from the document,
/// which `tests/it/openapi.rs` catches.
fn routes(upload_limit: usize, invoke_limit: usize) -> OpenApiRouter<AppState> {
    use handlers::{
        aliases, event_triggers, executions, functions, identity, jobs, quotas, retention, root,
        runtimes, statistics, versions, webhooks, workers,
    };
    let upload_limit = DefaultBodyLimit::max(upload_limit);
    let invoke_limit = DefaultBodyLimit::max(invoke_limit);
    OpenApiRouter::with_openapi(openapi::Header::openapi())
        .routes(routes!(root::versions))
        .routes(routes!(root::v1))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(root::info))
        .routes(routes!(statistics::show))
        .routes(routes!(root::metrics))
        .routes(routes!(identity::whoami))
        .routes(routes!(identity::list_projects, identity::create_project))
        .routes(routes!(identity::show_project))
        .routes(routes!(identity::list_users, identity::create_user))
        .routes(routes!(identity::delete_user))
        .routes(routes!(identity::list_tokens, identity::create_token))
        .routes(routes!(identity::revoke_token))
        .routes(routes!(quotas::mine))
        .routes(routes!(quotas::show, quotas::set))
        .routes(routes!(retention::mine))
        .routes(routes!(retention::show, retention::set))
        .routes(routes!(runtimes::list, runtimes::create))
        .routes(routes!(runtimes::show, runtimes::update, runtimes::delete))
        .routes(routes!(runtimes::pool, runtimes::set_pool))
        .routes(routes!(functions::list, functions::create).layer(upload_limit))
        .routes(routes!(functions::show, functions::update, functions::delete).layer(upload_limit))
        .routes(routes!(workers::scale_up))
        .routes(routes!(workers::scale_down))
        .routes(routes!(workers::detach))
        .routes(routes!(workers::list))
        .routes(routes!(workers::version_scale_up))
        .routes(routes!(workers::version_scale_down))
        .routes(routes!(workers::version_detach))
        .routes(routes!(executions::list, executions::create))
        .routes(routes!(executions::show, executions::delete))
        .routes(routes!(executions::log))
        .routes(routes!(versions::list, versions::create))
        .routes(routes!(versions::show, versions::delete))
        .routes(routes!(aliases::list, aliases::create))
        .routes(routes!(aliases::show, aliases::update, aliases::delete))
        .routes(routes!(event_triggers::list, event_triggers::create))
        .routes(routes!(
            event_triggers::show,
            event_triggers::update,
            event_triggers::delete
        ))
        .routes(routes!(event_triggers::pause))
        .routes(routes!(event_triggers::resume))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::show, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::invoke).layer(invoke_limit))
        .routes(routes!(jobs::list, jobs::create))
        .routes(routes!(jobs::schedule))
        .routes(routes!(jobs::show, jobs::update, jobs::delete))
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
