//! [`RidgeClient`]: one method per API call, each returning the `ridge_core::api` view.

mod events;
mod tenancy;
mod triggers;

use std::time::Duration;

use bytes::Bytes;
use reqwest::{Method, RequestBuilder, Response, Url};
use ridge_core::api::{
    CreateExecution, CreateRuntime, ExecutionList, ExecutionView, FunctionList, FunctionView,
    InfoView, PoolView, RuntimeList, RuntimeView, UpdatePool, UpdateRuntime,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::fault_message;
use crate::{ClientError, FunctionUpdate, FunctionUpload};

/// How long to wait for a TCP connection. There is no overall request timeout: a synchronous
/// execution legitimately takes as long as the function's own timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one Ridge (or Qinling) server. Cheap to clone; clones share connections.
#[derive(Debug, Clone)]
pub struct RidgeClient {
    http: reqwest::Client,
    /// The server's root, as in Keystone's catalog: without `/v1` (for example
    /// `http://127.0.0.1:7070`). May carry a path prefix when behind a proxy.
    base: Url,
    /// Sent as `X-Auth-Token` on every request.
    token: Option<String>,
}

impl RidgeClient {
    /// A client of the server at `base_url` (`http://host:port`, optionally with a path prefix;
    /// a trailing slash is optional).
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        Self::build(base_url, None, None)
    }

    /// A client of an HTTPS server whose certificate `ca_pem` (PEM, one or more certificates)
    /// vouches for, besides the system's roots: a private CA, or a self-signed server.
    pub fn with_ca(base_url: &str, ca_pem: &[u8]) -> Result<Self, ClientError> {
        Self::build(base_url, Some(ca_pem), None)
    }

    /// A client of an HTTPS server, trusting `ca_pem` besides the system's roots (when given),
    /// and presenting the client certificate and key in `identity_pem` (PEM, both in one
    /// buffer) to a server that asks for one (mutual TLS for its admin API).
    pub fn with_tls(
        base_url: &str,
        ca_pem: Option<&[u8]>,
        identity_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        Self::build(base_url, ca_pem, identity_pem)
    }

    fn build(
        base_url: &str,
        ca_pem: Option<&[u8]>,
        identity_pem: Option<&[u8]>,
    ) -> Result<Self, ClientError> {
        let base = parse_base(base_url)?;
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("ridge-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(ClientError::Http)?;
            if certs.is_empty() {
                return Err(ClientError::InvalidCa {
                    reason: "it holds no PEM certificate".to_owned(),
                });
            }
            for cert in certs {
                http = http.add_root_certificate(cert);
            }
        }
        if let Some(pem) = identity_pem {
            let identity =
                reqwest::Identity::from_pem(pem).map_err(|e| ClientError::InvalidIdentity {
                    reason: e.to_string(),
                })?;
            http = http.identity(identity);
        }
        let http = http.build().map_err(ClientError::Http)?;
        Ok(Self {
            http,
            base,
            token: None,
        })
    }

    /// The same client, sending `token` as `X-Auth-Token` (Ridge's or Keystone's token).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The server root this client talks to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The URL of `segments` under the base; each segment is percent-encoded, so an id can never
    /// escape its place in the path.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("parse_base only accepts http URLs, which have a path")
            .pop_if_empty()
            .extend(segments);
        url
    }

    // Discovery.

    /// `GET /`: the version document.
    pub async fn root(&self) -> Result<Value, ClientError> {
        self.json(self.request(Method::GET, &[""])).await
    }

    /// `GET /v1/info`: Ridge's description of the server (store, sandbox, runtimes, limits).
    pub async fn info(&self) -> Result<InfoView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "info"])).await
    }

    // Runtimes.

    pub async fn create_runtime(&self, body: &CreateRuntime) -> Result<RuntimeView, ClientError> {
        self.json(self.request(Method::POST, &["v1", "runtimes"]).json(body))
            .await
    }

    pub async fn list_runtimes(&self) -> Result<Vec<RuntimeView>, ClientError> {
        let list: RuntimeList = self
            .json(self.request(Method::GET, &["v1", "runtimes"]))
            .await?;
        Ok(list.runtimes)
    }

    pub async fn get_runtime(&self, id: &str) -> Result<RuntimeView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "runtimes", id]))
            .await
    }

    pub async fn update_runtime(
        &self,
        id: &str,
        body: &UpdateRuntime,
    ) -> Result<RuntimeView, ClientError> {
        self.json(
            self.request(Method::PUT, &["v1", "runtimes", id])
                .json(body),
        )
        .await
    }

    pub async fn delete_runtime(&self, id: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "runtimes", id]))
            .await
    }

    pub async fn runtime_pool(&self, id: &str) -> Result<PoolView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "runtimes", id, "pool"]))
            .await
    }

    /// `PUT /v1/runtimes/{id}/pool` (Ridge): the runtime's pre-started pool size.
    pub async fn set_runtime_pool(
        &self,
        id: &str,
        body: &UpdatePool,
    ) -> Result<PoolView, ClientError> {
        self.json(
            self.request(Method::PUT, &["v1", "runtimes", id, "pool"])
                .json(body),
        )
        .await
    }

    // Functions.

    /// `POST /v1/functions` as multipart/form-data (see [`FunctionUpload`]).
    pub async fn create_function(
        &self,
        upload: &FunctionUpload,
    ) -> Result<FunctionView, ClientError> {
        let req = self
            .request(Method::POST, &["v1", "functions"])
            .multipart(upload.form());
        self.json(req).await
    }

    /// `PUT /v1/functions/{id}` as multipart/form-data (see [`FunctionUpdate`]).
    pub async fn update_function(
        &self,
        id: &str,
        update: &FunctionUpdate,
    ) -> Result<FunctionView, ClientError> {
        let req = self
            .request(Method::PUT, &["v1", "functions", id])
            .multipart(update.form());
        self.json(req).await
    }

    /// `GET /v1/functions`; every project's functions with `all_projects` (admin only).
    /// In the items `code` is a JSON-encoded string: use `FunctionView::code_object`.
    pub async fn list_functions(
        &self,
        all_projects: bool,
    ) -> Result<Vec<FunctionView>, ClientError> {
        let mut req = self.request(Method::GET, &["v1", "functions"]);
        if all_projects {
            req = req.query(&[("all_projects", "true")]);
        }
        let list: FunctionList = self.json(req).await?;
        Ok(list.functions)
    }

    pub async fn get_function(&self, id: &str) -> Result<FunctionView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "functions", id]))
            .await
    }

    pub async fn delete_function(&self, id: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "functions", id]))
            .await
    }

    /// `GET /v1/functions/{id}?download=true`: the function's zip package.
    pub async fn download_function(&self, id: &str) -> Result<Bytes, ClientError> {
        let req = self
            .request(Method::GET, &["v1", "functions", id])
            .query(&[("download", "true")]);
        let resp = self.send(req).await?;
        resp.bytes().await.map_err(ClientError::Http)
    }

    // Executions.

    /// `POST /v1/executions`. A synchronous execution answers once it has finished; a failed
    /// function is a successful call whose `status` is `failed`.
    pub async fn create_execution(
        &self,
        body: &CreateExecution,
    ) -> Result<ExecutionView, ClientError> {
        self.json(self.request(Method::POST, &["v1", "executions"]).json(body))
            .await
    }

    /// `GET /v1/executions` with query filters such as `("function_id", id)`,
    /// `("status", "failed")` or `("description", "has:nightly")`. Every page is fetched in
    /// turn, unless the filters ask for one (`limit` or `marker`).
    pub async fn list_executions(
        &self,
        filters: &[(String, String)],
    ) -> Result<Vec<ExecutionView>, ClientError> {
        let one_page = filters.iter().any(|(k, _)| k == "limit" || k == "marker");
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut query = filters.to_vec();
            if let Some(m) = &marker {
                query.push(("marker".to_owned(), m.clone()));
            }
            let mut req = self.request(Method::GET, &["v1", "executions"]);
            if !query.is_empty() {
                req = req.query(&query);
            }
            let list: ExecutionList = self.json(req).await?;
            let more = list.next.is_some() && !one_page;
            marker = list.executions.last().map(|e| e.id.clone());
            all.extend(list.executions);
            if !more || marker.is_none() {
                return Ok(all);
            }
        }
    }

    pub async fn get_execution(&self, id: &str) -> Result<ExecutionView, ClientError> {
        self.json(self.request(Method::GET, &["v1", "executions", id]))
            .await
    }

    pub async fn delete_execution(&self, id: &str) -> Result<(), ClientError> {
        self.empty(self.request(Method::DELETE, &["v1", "executions", id]))
            .await
    }

    /// `GET /v1/executions/{id}/log`: the captured output, empty while the execution runs.
    pub async fn execution_log(&self, id: &str) -> Result<String, ClientError> {
        let resp = self
            .send(self.request(Method::GET, &["v1", "executions", id, "log"]))
            .await?;
        resp.text().await.map_err(ClientError::Http)
    }

    // Workers (admin).

    /// `POST /v1/functions/{id}/scale_up`: pre-warm `count` workers (answered 202).
    pub async fn scale_up(&self, id: &str, count: u64) -> Result<(), ClientError> {
        let req = self.request(Method::POST, &["v1", "functions", id, "scale_up"]);
        self.empty(req.json(&serde_json::json!({ "count": count })))
            .await
    }

    /// `POST /v1/functions/{id}/scale_down`: stop up to `count` idle workers, keeping one.
    pub async fn scale_down(&self, id: &str, count: u64) -> Result<(), ClientError> {
        let req = self.request(Method::POST, &["v1", "functions", id, "scale_down"]);
        self.empty(req.json(&serde_json::json!({ "count": count })))
            .await
    }

    /// `POST /v1/functions/{id}/detach`: stop every worker of the function.
    pub async fn detach(&self, id: &str) -> Result<(), ClientError> {
        let req = self.request(Method::POST, &["v1", "functions", id, "detach"]);
        self.empty(req.json(&serde_json::json!({}))).await
    }

    /// `GET /v1/functions/{id}/workers[?function_version=N]`.
    pub async fn list_workers(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Vec<ridge_core::api::WorkerView>, ClientError> {
        let mut req = self.request(Method::GET, &["v1", "functions", id, "workers"]);
        if let Some(v) = version {
            req = req.query(&[("function_version", v)]);
        }
        let list: ridge_core::api::WorkerList = self.json(req).await?;
        Ok(list.workers)
    }

    // Plumbing.

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let req = self.http.request(method, self.url(segments));
        match &self.token {
            Some(token) => req.header("X-Auth-Token", token),
            None => req,
        }
    }

    /// Sends `req`; any status other than 2xx becomes [`ClientError::Api`].
    async fn send(&self, req: RequestBuilder) -> Result<Response, ClientError> {
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() {
                // Name the server the user pointed at rather than the path that was asked for.
                ClientError::Http(e.with_url(self.base.clone()))
            } else {
                ClientError::Http(e)
            }
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        Err(ClientError::Api {
            status: status.as_u16(),
            faultstring: fault_message(status.as_u16(), status.canonical_reason(), &body),
        })
    }

    async fn json<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let resp = self.send(req).await?;
        let url = resp.url().to_string();
        let body = resp.bytes().await.map_err(ClientError::Http)?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { url, source })
    }

    async fn empty(&self, req: RequestBuilder) -> Result<(), ClientError> {
        self.send(req).await.map(drop)
    }
}

fn parse_base(base_url: &str) -> Result<Url, ClientError> {
    let invalid = |reason: &str| ClientError::InvalidUrl {
        url: base_url.to_owned(),
        reason: reason.to_owned(),
    };
    if !base_url.contains("://") {
        return Err(invalid(&format!(
            "it has no scheme (did you mean http://{}?)",
            base_url.trim()
        )));
    }
    let url = Url::parse(base_url.trim())
        .map_err(|e| invalid(&format!("{e} (expected for example http://127.0.0.1:7070)")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(&format!(
            "the scheme must be `http` or `https` (got `{}`)",
            url.scheme()
        )));
    }
    if url.host().is_none() {
        return Err(invalid("there is no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "a server url has no query or fragment (expected for example http://127.0.0.1:7070)",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> RidgeClient {
        RidgeClient::new(base).expect("valid base url")
    }

    #[test]
    fn paths_join_with_or_without_a_trailing_slash() {
        for base in ["http://127.0.0.1:7070", "http://127.0.0.1:7070/"] {
            let c = client(base);
            assert_eq!(
                c.url(&["v1", "runtimes"]).as_str(),
                "http://127.0.0.1:7070/v1/runtimes"
            );
            assert_eq!(c.url(&[""]).as_str(), "http://127.0.0.1:7070/");
        }
    }

    #[test]
    fn a_path_prefix_is_kept() {
        for base in ["http://h:80/faas", "http://h:80/faas/"] {
            let c = client(base);
            assert_eq!(
                c.url(&["v1", "functions", "f1"]).as_str(),
                "http://h/faas/v1/functions/f1"
            );
            assert_eq!(c.url(&[""]).as_str(), "http://h/faas/");
        }
    }

    #[test]
    fn ids_cannot_escape_their_segment() {
        let c = client("http://127.0.0.1:7070");
        assert_eq!(
            c.url(&["v1", "executions", "../runtimes?x=1", "log"])
                .as_str(),
            "http://127.0.0.1:7070/v1/executions/..%2Fruntimes%3Fx=1/log"
        );
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_with_a_hint() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let err = client(&base)
            .list_runtimes()
            .await
            .expect_err("nothing listens");
        assert!(matches!(err, ClientError::Http(_)), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!("the server at {base} could not be reached")),
            "{msg}"
        );
        assert!(
            msg.contains("`ridge serve`") && msg.contains("RIDGE_URL"),
            "{msg}"
        );
    }

    #[test]
    fn bad_base_urls_are_refused_with_a_reason() {
        for bad in ["127.0.0.1:7070", "ftp://h", "http://h:7070/?a=b", ""] {
            let err = RidgeClient::new(bad).expect_err(bad);
            assert!(
                matches!(err, ClientError::InvalidUrl { .. }),
                "{bad}: {err}"
            );
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
        assert!(RidgeClient::new("https://example.com").is_ok());
        let empty = RidgeClient::with_ca("https://example.com", b"").expect_err("no CA");
        assert!(matches!(empty, ClientError::InvalidCa { .. }), "{empty}");
        let junk = RidgeClient::with_tls("https://example.com", None, Some(b"not a key"))
            .expect_err("no identity");
        assert!(
            matches!(junk, ClientError::InvalidIdentity { .. }),
            "{junk}"
        );
    }
}
