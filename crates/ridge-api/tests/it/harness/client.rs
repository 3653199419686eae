//! A client of the router: requests built here go through `tower::ServiceExt::oneshot`, and the
//! typed calls mirror `ridge-client`'s (same paths, bodies and view types), answering
//! `Err(Refused)` with the status and `faultstring` of a 4xx or 5xx.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request};
use md5::{Digest, Md5};
use ridge_api::ApiService;
use ridge_core::api::{
    AliasList, AliasView, CreateAlias, CreateExecution, CreateJob, CreateProject, CreateRuntime,
    CreateToken, CreateUser, CreateVersion, ExecutionList, ExecutionView, FunctionList,
    FunctionView, InfoView, InvokeView, JobView, PoolView, ProjectView, QuotaView, RuntimeList,
    RuntimeView, SetQuotas, TokenList, TokenView, UpdateAlias, UpdateJob, UpdateRuntime, UserList,
    UserView, VersionList, VersionView, WebhookRequest, WebhookView, WhoamiView, WorkerList,
    WorkerView,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tower::ServiceExt;

/// The boundary of the multipart bodies built here.
const BOUNDARY: &str = "ridge-test-boundary-7f3a";

/// A 4xx or 5xx answer: its status and `faultstring` (or its body, when it has none).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub status: u16,
    pub faultstring: String,
}

/// The status and `faultstring` of a refused call.
pub fn api_error<T: std::fmt::Debug>(result: Result<T, Refused>) -> (u16, String) {
    match result {
        Err(Refused {
            status,
            faultstring,
        }) => (status, faultstring),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The router, and the token its requests carry.
#[derive(Clone)]
pub struct Api {
    service: ApiService,
    token: Option<String>,
}

/// One request being built.
pub struct Call {
    service: ApiService,
    request: axum::http::request::Builder,
    body: Body,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

/// `POST /v1/functions` or `PUT /v1/functions/{id}` as python-qinlingclient sends them: text
/// fields for what is set, `code` as a JSON string when a package goes with it, and the zip in
/// a file part named `package`.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub name: Option<String>,
    pub description: Option<String>,
    pub runtime_id: Option<String>,
    pub entry: Option<String>,
    pub cpu: Option<u64>,
    pub memory_size: Option<u64>,
    pub timeout: Option<u64>,
    pub network: Option<String>,
    pub package: Option<Vec<u8>>,
}

/// A multipart/form-data body: text fields, then an optional `package` file part.
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    fields: Vec<(String, String)>,
    package: Option<Vec<u8>>,
}

impl Multipart {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.fields.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn package(mut self, zip: Vec<u8>) -> Self {
        self.package = Some(zip);
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in &self.fields {
            out.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        if let Some(zip) = &self.package {
            out.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"package.zip\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(zip);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }
}

/// The lower-case hex MD5 of `data`, as Qinling stores it in `code.md5sum`.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

impl Upload {
    /// The form, with `code` sent whenever a package is (`create` also sends it without one).
    fn form(&self, always_code: bool) -> Multipart {
        let mut form = Multipart::new();
        if let Some(r) = &self.runtime_id {
            form = form.text("runtime_id", r);
        }
        match &self.package {
            Some(p) => {
                let code = format!(r#"{{"source": "package", "md5sum": "{}"}}"#, md5_hex(p));
                form = form.text("code", &code);
            }
            None if always_code => form = form.text("code", r#"{"source": "package"}"#),
            None => {}
        }
        let numbers = [
            ("cpu", self.cpu),
            ("memory_size", self.memory_size),
            ("timeout", self.timeout),
        ];
        for (name, value) in [
            ("name", &self.name),
            ("description", &self.description),
            ("entry", &self.entry),
            ("network", &self.network),
        ] {
            if let Some(v) = value {
                form = form.text(name, v);
            }
        }
        for (name, value) in numbers {
            if let Some(v) = value {
                form = form.text(name, &v.to_string());
            }
        }
        match &self.package {
            Some(p) => form.package(p.clone()),
            None => form,
        }
    }
}

impl Api {
    pub fn new(service: ApiService) -> Self {
        Self {
            service,
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Self {
            service: self.service.clone(),
            token: Some(token.to_owned()),
        }
    }

    pub fn without_token(&self) -> Self {
        Self {
            service: self.service.clone(),
            token: None,
        }
    }

    /// A request to `path` (from the root, with its query), with this client's token.
    pub fn call(&self, method: Method, path: &str) -> Call {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "ridge.test");
        if let Some(token) = &self.token {
            request = request.header("x-auth-token", token);
        }
        Call {
            service: self.service.clone(),
            request,
            body: Body::empty(),
        }
    }

    pub fn get(&self, path: &str) -> Call {
        self.call(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.call(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Call {
        self.call(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.call(Method::DELETE, path)
    }

    async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T, Refused> {
        call.send().await.ok()?.decode()
    }

    async fn empty(&self, call: Call) -> Result<(), Refused> {
        call.send().await.ok().map(drop)
    }

    async fn bytes(&self, call: Call) -> Result<bytes::Bytes, Refused> {
        Ok(call.send().await.ok()?.body)
    }

    // Discovery and identity.

    pub async fn info(&self) -> Result<InfoView, Refused> {
        self.json(self.get("/v1/info")).await
    }

    pub async fn whoami(&self) -> Result<WhoamiView, Refused> {
        self.json(self.get("/v1/whoami")).await
    }

    pub async fn create_project(&self, body: &CreateProject) -> Result<ProjectView, Refused> {
        self.json(self.post("/v1/projects").json(body)).await
    }

    pub async fn create_user(&self, body: &CreateUser) -> Result<UserView, Refused> {
        self.json(self.post("/v1/users").json(body)).await
    }

    pub async fn list_users(&self, project: Option<&str>) -> Result<Vec<UserView>, Refused> {
        let path = match project {
            Some(p) => format!("/v1/users?project_id={p}"),
            None => "/v1/users".to_owned(),
        };
        let list: UserList = self.json(self.get(&path)).await?;
        Ok(list.users)
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/users/{id}"))).await
    }

    pub async fn create_token(&self, body: &CreateToken) -> Result<TokenView, Refused> {
        self.json(self.post("/v1/tokens").json(body)).await
    }

    pub async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenView>, Refused> {
        let path = match user {
            Some(u) => format!("/v1/tokens?user_id={u}"),
            None => "/v1/tokens".to_owned(),
        };
        let list: TokenList = self.json(self.get(&path)).await?;
        Ok(list.tokens)
    }

    pub async fn revoke_token(&self, id: &str) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/tokens/{id}"))).await
    }

    pub async fn quotas(&self, project: Option<&str>) -> Result<QuotaView, Refused> {
        let path = match project {
            Some(p) => format!("/v1/quotas/{p}"),
            None => "/v1/quotas".to_owned(),
        };
        self.json(self.get(&path)).await
    }

    pub async fn set_quotas(&self, project: &str, body: &SetQuotas) -> Result<QuotaView, Refused> {
        self.json(self.put(&format!("/v1/quotas/{project}")).json(body))
            .await
    }

    // Runtimes.

    pub async fn create_runtime(&self, body: &CreateRuntime) -> Result<RuntimeView, Refused> {
        self.json(self.post("/v1/runtimes").json(body)).await
    }

    pub async fn list_runtimes(&self) -> Result<Vec<RuntimeView>, Refused> {
        let list: RuntimeList = self.json(self.get("/v1/runtimes")).await?;
        Ok(list.runtimes)
    }

    pub async fn get_runtime(&self, id: &str) -> Result<RuntimeView, Refused> {
        self.json(self.get(&format!("/v1/runtimes/{id}"))).await
    }

    pub async fn update_runtime(
        &self,
        id: &str,
        body: &UpdateRuntime,
    ) -> Result<RuntimeView, Refused> {
        self.json(self.put(&format!("/v1/runtimes/{id}")).json(body))
            .await
    }

    pub async fn delete_runtime(&self, id: &str) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/runtimes/{id}"))).await
    }

    pub async fn runtime_pool(&self, id: &str) -> Result<PoolView, Refused> {
        self.json(self.get(&format!("/v1/runtimes/{id}/pool")))
            .await
    }

    // Functions.

    pub async fn create_function(&self, upload: &Upload) -> Result<FunctionView, Refused> {
        self.json(self.post("/v1/functions").multipart(upload.form(true)))
            .await
    }

    pub async fn update_function(
        &self,
        id: &str,
        update: &Upload,
    ) -> Result<FunctionView, Refused> {
        let call = self
            .put(&format!("/v1/functions/{id}"))
            .multipart(update.form(false));
        self.json(call).await
    }

    pub async fn list_functions(&self, all_projects: bool) -> Result<Vec<FunctionView>, Refused> {
        let path = if all_projects {
            "/v1/functions?all_projects=true"
        } else {
            "/v1/functions"
        };
        let list: FunctionList = self.json(self.get(path)).await?;
        Ok(list.functions)
    }

    pub async fn get_function(&self, id: &str) -> Result<FunctionView, Refused> {
        self.json(self.get(&format!("/v1/functions/{id}"))).await
    }

    pub async fn delete_function(&self, id: &str) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/functions/{id}")))
            .await
    }

    pub async fn download_function(&self, id: &str) -> Result<bytes::Bytes, Refused> {
        self.bytes(self.get(&format!("/v1/functions/{id}?download=true")))
            .await
    }

    // Executions.

    pub async fn create_execution(&self, body: &CreateExecution) -> Result<ExecutionView, Refused> {
        self.json(self.post("/v1/executions").json(body)).await
    }

    /// `GET /v1/executions` with `filters` as its query.
    pub async fn list_executions(
        &self,
        filters: &[(&str, &str)],
    ) -> Result<Vec<ExecutionView>, Refused> {
        let query = serde_urlencoded::to_string(filters).expect("a query encodes");
        let path = if query.is_empty() {
            "/v1/executions".to_owned()
        } else {
            format!("/v1/executions?{query}")
        };
        let list: ExecutionList = self.json(self.get(&path)).await?;
        Ok(list.executions)
    }

    pub async fn get_execution(&self, id: &str) -> Result<ExecutionView, Refused> {
        self.json(self.get(&format!("/v1/executions/{id}"))).await
    }

    pub async fn delete_execution(&self, id: &str) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/executions/{id}")))
            .await
    }

    pub async fn execution_log(&self, id: &str) -> Result<String, Refused> {
        let body = self
            .bytes(self.get(&format!("/v1/executions/{id}/log")))
            .await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    // Workers.

    pub async fn list_workers(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Vec<WorkerView>, Refused> {
        let path = match version {
            Some(v) => format!("/v1/functions/{id}/workers?function_version={v}"),
            None => format!("/v1/functions/{id}/workers"),
        };
        let list: WorkerList = self.json(self.get(&path)).await?;
        Ok(list.workers)
    }

    // Versions and aliases.

    pub async fn create_version(
        &self,
        function_id: &str,
        description: Option<String>,
    ) -> Result<VersionView, Refused> {
        let call = self
            .post(&format!("/v1/functions/{function_id}/versions"))
            .json(&CreateVersion { description });
        self.json(call).await
    }

    pub async fn list_versions(&self, function_id: &str) -> Result<Vec<VersionView>, Refused> {
        let list: VersionList = self
            .json(self.get(&format!("/v1/functions/{function_id}/versions")))
            .await?;
        Ok(list.function_versions)
    }

    pub async fn get_version(&self, function_id: &str, n: u64) -> Result<VersionView, Refused> {
        self.json(self.get(&format!("/v1/functions/{function_id}/versions/{n}")))
            .await
    }

    pub async fn delete_version(&self, function_id: &str, n: u64) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/functions/{function_id}/versions/{n}")))
            .await
    }

    pub async fn download_version(
        &self,
        function_id: &str,
        n: u64,
    ) -> Result<bytes::Bytes, Refused> {
        self.bytes(self.get(&format!(
            "/v1/functions/{function_id}/versions/{n}?download=true"
        )))
        .await
    }

    pub async fn create_alias(&self, body: &CreateAlias) -> Result<AliasView, Refused> {
        self.json(self.post("/v1/aliases").json(body)).await
    }

    pub async fn list_aliases(&self) -> Result<Vec<AliasView>, Refused> {
        let list: AliasList = self.json(self.get("/v1/aliases")).await?;
        Ok(list.function_aliases)
    }

    pub async fn get_alias(&self, name: &str) -> Result<AliasView, Refused> {
        self.json(self.get(&format!("/v1/aliases/{name}"))).await
    }

    pub async fn update_alias(&self, name: &str, body: &UpdateAlias) -> Result<AliasView, Refused> {
        self.json(self.put(&format!("/v1/aliases/{name}")).json(body))
            .await
    }

    pub async fn delete_alias(&self, name: &str) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/aliases/{name}")))
            .await
    }

    // Webhooks and jobs.

    pub async fn create_webhook(&self, body: &WebhookRequest) -> Result<WebhookView, Refused> {
        self.json(self.post("/v1/webhooks").json(body)).await
    }

    pub async fn get_webhook(&self, id: &str) -> Result<WebhookView, Refused> {
        self.json(self.get(&format!("/v1/webhooks/{id}"))).await
    }

    pub async fn update_webhook(
        &self,
        id: &str,
        body: &WebhookRequest,
    ) -> Result<WebhookView, Refused> {
        self.json(self.put(&format!("/v1/webhooks/{id}")).json(body))
            .await
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/webhooks/{id}"))).await
    }

    /// `POST /v1/webhooks/{id}/invoke` with `input` as a JSON body and extra `headers`.
    pub async fn invoke_webhook(
        &self,
        id: &str,
        input: &Map<String, Value>,
        headers: &[(&str, String)],
    ) -> Result<InvokeView, Refused> {
        let mut call = self.post(&format!("/v1/webhooks/{id}/invoke")).raw(
            "application/json",
            serde_json::to_vec(input).expect("a JSON map serializes"),
        );
        for (name, value) in headers {
            call = call.header(name, value);
        }
        self.json(call).await
    }

    pub async fn create_job(&self, body: &CreateJob) -> Result<JobView, Refused> {
        self.json(self.post("/v1/jobs").json(body)).await
    }

    pub async fn get_job(&self, id: &str) -> Result<JobView, Refused> {
        self.json(self.get(&format!("/v1/jobs/{id}"))).await
    }

    pub async fn update_job(&self, id: &str, body: &UpdateJob) -> Result<JobView, Refused> {
        self.json(self.put(&format!("/v1/jobs/{id}")).json(body))
            .await
    }

    pub async fn delete_job(&self, id: &str) -> Result<(), Refused> {
        self.empty(self.delete(&format!("/v1/jobs/{id}"))).await
    }
}

impl Call {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    /// A body of `content_type`.
    pub fn raw(mut self, content_type: &str, body: impl Into<Body>) -> Self {
        self.request = self.request.header("content-type", content_type);
        self.body = body.into();
        self
    }

    pub fn json(self, body: &impl Serialize) -> Self {
        let bytes = serde_json::to_vec(body).expect("a JSON body serializes");
        self.raw("application/json", bytes)
    }

    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let body = serde_urlencoded::to_string(fields).expect("a form encodes");
        self.raw("application/x-www-form-urlencoded", body)
    }

    pub fn multipart(self, form: Multipart) -> Self {
        self.raw(
            &format!("multipart/form-data; boundary={BOUNDARY}"),
            form.encode(),
        )
    }

    pub async fn send(self) -> Reply {
        let request = self.request.body(self.body).expect("a valid request");
        let response = self
            .service
            .oneshot(request)
            .await
            .expect("the router never fails");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("the body is read");
        Reply {
            status,
            headers,
            body,
        }
    }
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not the expected JSON ({e}): {}", self.text()))
    }

    pub fn value(&self) -> Value {
        self.json()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The status and `faultstring` of a fault body.
    pub fn fault(&self) -> (u16, String) {
        let body = self.value();
        let text = body["faultstring"]
            .as_str()
            .unwrap_or_else(|| panic!("no faultstring in {body}"));
        (self.status, text.to_owned())
    }

    /// The reply of a 2xx, or what was refused.
    pub fn ok(self) -> Result<Self, Refused> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        let faultstring = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["faultstring"].as_str().map(str::to_owned))
            .unwrap_or_else(|| self.text());
        Err(Refused {
            status: self.status,
            faultstring,
        })
    }

    fn decode<T: DeserializeOwned>(self) -> Result<T, Refused> {
        Ok(self.json())
    }
}
