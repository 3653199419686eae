//! The OpenAPI 3.1 document of the API, served at `GET /v1/openapi.json`.
//!
//! Nothing here lists routes. Each handler carries its operation (`#[utoipa::path(...)]`, with
//! the wire types of `ridge_core::api` as bodies), and [`crate::router`] registers a route and its
//! operation in one call (`.routes(routes!(handler))`), so the document is built from the same
//! calls that build the router. `tests/it/openapi.rs` walks the router's own route table and
//! fails, naming the missing operation, if a route was added some other way.
//!
//! What this file adds: the document's header, the three auth modes as security schemes (the
//! served document says which one this server runs), and the error answers shared by the
//! handlers ([`Authed`], [`Invalid`], [`Missing`], [`Denied`], [`Clash`]), each a
//! [`Fault`] with its `faultstring`.

use std::sync::Arc;

use axum::Extension;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use ridge_core::api::Fault;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{OpenApi, Server};
use utoipa::{IntoResponses, Modify};

/// The name of the `X-Auth-Token` security scheme (Ridge's own tokens, or Keystone's).
pub const TOKEN_SCHEME: &str = "X-Auth-Token";
/// The name of the `Authorization: Bearer` security scheme (Ridge's own tokens).
pub const BEARER_SCHEME: &str = "bearer";

/// The document's header; the paths come from the handlers, registered by [`crate::router`].
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Ridge",
        description = "Ridge's HTTP API: OpenStack Qinling's v1 API (runtimes, functions, versions, aliases, executions, webhooks, jobs, function workers) and Ridge's additions (info, identity, quotas, retention, metrics).\n\nAuthentication depends on the server's `auth` mode: `none` (no token; every caller is the admin of project `default`), `token` (a Ridge API token in `X-Auth-Token` or as `Authorization: Bearer`), `keystone` (a Keystone token in `X-Auth-Token`). The served document lists the requirement of the server that served it.\n\nEvery 4xx and 5xx answer is a JSON `Fault` whose `faultstring` says what was wrong.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(Fault)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "discovery", description = "API versions and this document"),
        (name = "info", description = "Ridge: this server, its runtimes, sandbox and metrics"),
        (name = "identity", description = "Ridge: projects, users and tokens of the `token` auth mode"),
        (name = "quotas", description = "Ridge: per-project quotas"),
        (name = "retention", description = "Ridge: how long finished executions are kept"),
        (name = "runtimes", description = "Qinling: runtimes"),
        (name = "functions", description = "Qinling: functions and their packages"),
        (name = "workers", description = "Qinling: a function's warm workers"),
        (name = "versions", description = "Qinling: function versions"),
        (name = "aliases", description = "Qinling: function aliases"),
        (name = "executions", description = "Qinling: executions and their logs"),
        (name = "webhooks", description = "Qinling: webhooks"),
        (name = "jobs", description = "Qinling: jobs (scheduled executions)"),
    )
)]
pub struct Header;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut token = ApiKeyValue::new("X-Auth-Token");
        token.description = Some(
            "A Ridge API token (`token` mode) or a Keystone token (`keystone` mode).".to_owned(),
        );
        components.add_security_scheme(TOKEN_SCHEME, SecurityScheme::ApiKey(ApiKey::Header(token)));
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A Ridge API token (`token` mode)."))
                    .build(),
            ),
        );
    }
}

/// Completes the document the router was built with for a server running in `auth_mode`:
/// which token the operations that do not say otherwise need.
pub fn finish(mut doc: OpenApi, auth_mode: &str) -> OpenApi {
    doc.security = match auth_mode {
        "none" => None,
        _ => Some(vec![
            SecurityRequirement::new(TOKEN_SCHEME, Vec::<String>::new()),
            SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new()),
        ]),
    };
    doc.servers = Some(vec![Server::new("/")]);
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            qualify_operation_id(operation);
        }
    }
    doc
}

/// Operation ids are the handlers' names (`create`); they must be unique in a document, so each
/// gets its tag, the handlers' module: `functions_create`.
fn qualify_operation_id(operation: &mut Operation) {
    let tag = operation.tags.as_ref().and_then(|tags| tags.first());
    if let (Some(tag), Some(id)) = (tag, operation.operation_id.as_mut())
        && !id.starts_with(tag.as_str())
    {
        *id = format!("{tag}_{id}");
    }
}

/// The served document, rendered once when the router is built.
#[derive(Clone)]
pub struct Rendered(pub Arc<String>);

impl Rendered {
    pub fn new(doc: &OpenApi) -> Self {
        // An `OpenApi` is plain data: serialising it cannot fail.
        Self(Arc::new(doc.to_pretty_json().unwrap_or_default()))
    }
}

/// `GET /v1/openapi.json`: this document. Public, like `GET /`.
#[utoipa::path(
    get, path = "/v1/openapi.json", tag = "discovery", security(()),
    responses((status = 200, description = "this OpenAPI 3.1 document", content_type = "application/json")),
)]
pub async fn openapi_json(Extension(doc): Extension<Rendered>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
}

/// The answers of every call that authenticates its caller.
#[derive(IntoResponses)]
pub enum Authed {
    /// No token, or one that is invalid, expired or revoked (`token` and `keystone` modes).
    #[response(status = 401)]
    Unauthorized(Fault),
    /// The platform failed; the body names a request id to find the cause in the server log.
    #[response(status = 500)]
    Internal(Fault),
}

/// A malformed id, query parameter or body.
#[derive(IntoResponses)]
pub enum Invalid {
    /// The request is malformed; `faultstring` says which part and how to fix it.
    #[response(status = 400)]
    BadRequest(Fault),
}

/// The resource does not exist, or the caller cannot see it.
#[derive(IntoResponses)]
pub enum Missing {
    /// No such resource visible to the caller.
    #[response(status = 404)]
    NotFound(Fault),
}

/// The caller may not do this (not an admin, not the owner, a quota, or the resource is in use).
#[derive(IntoResponses)]
pub enum Denied {
    /// Not allowed; `faultstring` says why.
    #[response(status = 403)]
    Forbidden(Fault),
}

/// The resource is not in a state that allows this.
#[derive(IntoResponses)]
pub enum Clash {
    /// The resource's state does not allow this now.
    #[response(status = 409)]
    Conflict(Fault),
}
