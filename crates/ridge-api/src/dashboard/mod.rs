//! The web dashboard's files, embedded at build time from `crates/ridge-api/dashboard/` (see
//! `build.rs`) and served at `/dashboard/` with strict security headers and ETags. The
//! dashboard holds no data and no privilege of its own: it is a client of the public `/v1` API,
//! in the browser (docs/dashboard.md).

mod headers;

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

pub use headers::CONTENT_SECURITY_POLICY;

/// Where the dashboard is served.
pub const PREFIX: &str = "/dashboard/";

/// Every embedded file: its path under `dashboard/` and its bytes.
const FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));

struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

fn assets() -> &'static HashMap<&'static str, Asset> {
    static ASSETS: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        FILES
            .iter()
            .map(|(path, bytes)| {
                let digest = hex::encode(&Sha256::digest(bytes)[..16]);
                let etag = HeaderValue::from_str(&format!("\"{digest}\""))
                    .expect("a quoted hex digest is a valid header value");
                let asset = Asset {
                    bytes,
                    content_type: content_type(path),
                    etag,
                };
                (*path, asset)
            })
            .collect()
    })
}

/// The paths of the embedded files, for tests and docs.
pub fn files() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(path, _)| *path)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// `GET /dashboard` and `/dashboard/` (the path normaliser makes them one): the page.
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /dashboard/{*path}`: one embedded file, or 404.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

fn serve(path: &str, request: &HeaderMap) -> Response {
    let Some(asset) = assets().get(path) else {
        let mut response =
            (StatusCode::NOT_FOUND, format!("no dashboard file `{path}`")).into_response();
        headers::secure(response.headers_mut());
        return response;
    };
    let fresh = request
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == asset.etag.to_str().unwrap_or_default()
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))],
            asset.bytes,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(ETAG, asset.etag.clone());
    // Revalidate every time: a new binary may carry new files under the same names, and a 304
    // costs one round trip.
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers::secure(h);
    response
}

/// Whether a `GET /` comes from a browser (its `Accept` lists `text/html`), which is sent to
/// the dashboard; API clients keep getting the versions document.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|part| {
            part.split(';')
                .next()
                .is_some_and(|t| t.trim() == "text/html")
        })
}

/// The redirect to the dashboard for a browser's `GET /`.
pub fn redirect() -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(LOCATION, HeaderValue::from_static(PREFIX));
    h.insert(VARY, HeaderValue::from_static("accept"));
    response
}

#[cfg(test)]
mod tests;
