//! Discovery (`GET /`, `GET /v1/`) and Ridge's `GET /v1/info`.

use axum::Json;
use axum::extract::State;
use ridge_core::api::{
    ApiLink, ApiRoot, ApiVersion, ApiVersions, InfoView, NodeInfo, RuntimeKindInfo,
};

use axum::http::HeaderMap;
use axum::http::header::VARY;
use axum::response::{IntoResponse, Response};

use crate::access::{self, AdminOnly};
use crate::context::{BaseUrl, Caller};
use crate::dashboard;
use crate::openapi::{Authed, Denied};
use crate::{ApiError, AppState};

/// `GET /`: public. Qinling's versions document; a browser (`Accept: text/html`) is sent to
/// the dashboard instead.
#[utoipa::path(
    get, path = "/", tag = "discovery", security(()),
    responses(
        (status = 200, description = "the API versions", body = ApiVersions),
        (status = 303, description = "a browser (`Accept: text/html`) is sent to `/dashboard/`"),
    ),
)]
pub async fn versions(BaseUrl(base): BaseUrl, headers: HeaderMap) -> Response {
    if dashboard::wants_html(&headers) {
        return dashboard::redirect();
    }
    let mut response = Json(ApiVersions {
        versions: vec![ApiVersion {
            id: "v1.0".to_owned(),
            status: "CURRENT".to_owned(),
            links: vec![ApiLink {
                href: format!("{base}/v1"),
                target: "v1".to_owned(),
                rel: "self".to_owned(),
            }],
        }],
    })
    .into_response();
    response
        .headers_mut()
        .insert(VARY, axum::http::HeaderValue::from_static("accept"));
    response
}

/// `GET /v1`: public.
#[utoipa::path(
    get, path = "/v1", tag = "discovery", security(()),
    responses((status = 200, description = "where the v1 API is", body = ApiRoot)),
)]
pub async fn v1(BaseUrl(base): BaseUrl) -> Json<ApiRoot> {
    Json(ApiRoot {
        uri: format!("{base}/v1"),
    })
}

/// `GET /v1/info`: for any authenticated caller.
#[utoipa::path(
    get, path = "/v1/info", tag = "info",
    responses((status = 200, description = "this server: store, auth mode, runtimes, sandbox, limits, nodes", body = InfoView), Authed),
)]
pub async fn info(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<InfoView>, ApiError> {
    let nodes = state
        .engine
        .live_nodes()
        .await?
        .into_iter()
        .map(|n| NodeInfo {
            started_at: ridge_core::time::format(&n.started_at),
            heartbeat_at: ridge_core::time::format(&n.heartbeat_at),
            name: n.name,
            address: n.address,
            running: n.running,
            waiting: n.waiting,
        })
        .collect();
    let runtimes = state
        .engine
        .runtime_checks()
        .into_iter()
        .map(|(kind, found)| RuntimeKindInfo {
            kind: kind.to_string(),
            available: found.is_ok(),
            detail: found.unwrap_or_else(|why| why),
        })
        .collect();
    Ok(Json(InfoView {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        store: state.store.describe(),
        package_store: state.packages.describe(),
        auth: state.auth.name().to_owned(),
        runtimes,
        sandbox: state.config.sandbox.clone(),
        limits: state.config.limits,
        node: state.engine.node_name().to_owned(),
        nodes,
    }))
}

/// `GET /metrics`: admin-only, since it names every project's functions. The format is
/// negotiated as Prometheus' own client libraries do: OpenMetrics when the scraper's `Accept`
/// asks for it, the classic text format otherwise (a plain `curl`, an older agent).
#[utoipa::path(
    get, path = "/metrics", tag = "info",
    responses(
        (status = 200, description = "the metrics, in the classic Prometheus text format, or OpenMetrics when `Accept` asks for `application/openmetrics-text`",
            content((String = "text/plain"), (String = "application/openmetrics-text"))),
        Authed, Denied,
    ),
)]
pub async fn metrics(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    access::require(&caller, AdminOnly::Metrics)?;
    let openmetrics = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let text = state.engine.metrics_text();
    Ok(match openmetrics {
        true => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        false => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            ridge_engine::openmetrics_to_classic(&text),
        ),
    })
}
