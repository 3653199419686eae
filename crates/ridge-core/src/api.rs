//! The JSON shapes of Ridge's HTTP API (Qinling v1 plus Ridge's own additions), shared by the
//! server, which renders them, and the client, which reads them. Field names, and which fields
//! are JSON-encoded strings, follow Qinling exactly (QINLING-API.md §1.3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::time::format;
use crate::{Execution, Function};

mod event_triggers;
mod retention;
mod runtimes;
#[cfg(test)]
mod shapes;
mod statistics;
mod tenancy;
pub use event_triggers::*;
pub use retention::*;
pub use runtimes::*;
pub use statistics::*;
pub use tenancy::*;

/// A 4xx or 5xx body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fault {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faultcode: Option<String>,
    pub faultstring: String,
    #[serde(default)]
    pub debuginfo: Option<Value>,
}

/// `GET /`: the API versions this server offers (Qinling's discovery document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiVersions {
    pub versions: Vec<ApiVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiVersion {
    /// `v1.0`.
    pub id: String,
    /// `CURRENT`.
    pub status: String,
    pub links: Vec<ApiLink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiLink {
    pub href: String,
    pub target: String,
    pub rel: String,
}

/// `GET /v1`: where the v1 API is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiRoot {
    pub uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionView {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub runtime_id: Option<String>,
    /// An object in single-function responses, a JSON-encoded string in list items (Qinling).
    pub code: Value,
    pub entry: Option<String>,
    pub cpu: u64,
    pub memory_size: u64,
    pub timeout: u64,
    /// Ridge-only: `loopback` (the default) or `outbound`.
    #[serde(default)]
    pub network: Option<String>,
    pub count: i64,
    pub latest_version: i64,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl FunctionView {
    /// The single-function shape: `code` as an object.
    pub fn detail(f: &Function) -> Self {
        Self::build(f, f.code.to_json())
    }

    /// The list-item shape: `code` as a JSON-encoded string.
    pub fn list_item(f: &Function) -> Self {
        Self::build(
            f,
            Value::String(crate::json::python_dumps(&f.code.to_json())),
        )
    }

    fn build(f: &Function, code: Value) -> Self {
        Self {
            id: f.id.to_string(),
            name: f.name.clone(),
            description: f.description.clone(),
            runtime_id: Some(f.runtime_id.to_string()),
            code,
            entry: Some(f.entry.to_string()),
            cpu: u64::from(f.limits.cpu),
            memory_size: f.limits.memory_size,
            timeout: u64::from(f.limits.timeout),
            count: f.count,
            network: Some(f.network.to_string()),
            latest_version: f.latest_version,
            project_id: f.project_id.to_string(),
            created_at: format(&f.created_at),
            updated_at: f.updated_at.as_ref().map(format),
        }
    }

    /// `code` as an object whichever shape this view came in.
    pub fn code_object(&self) -> Value {
        match &self.code {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            other => other.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FunctionList {
    pub functions: Vec<FunctionView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecutionView {
    pub id: String,
    pub function_id: String,
    pub function_version: i64,
    pub function_alias: Option<String>,
    pub description: Option<String>,
    pub status: String,
    pub sync: bool,
    /// The input as a string (JSON text of an object, or the raw positional value).
    pub input: Option<String>,
    /// A JSON-encoded string `{"duration": s, "output": v}`, or null while running.
    pub result: Option<String>,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// Ridge's: the node holding the execution (the one it ran on, once finished).
    #[serde(default)]
    pub node: Option<String>,
}

impl From<&Execution> for ExecutionView {
    fn from(e: &Execution) -> Self {
        Self {
            id: e.id.to_string(),
            function_id: e.function_id.to_string(),
            function_version: e.function_version,
            function_alias: e.function_alias.clone(),
            description: e.description.clone(),
            status: e.status.to_string(),
            sync: e.sync,
            input: e.input.as_ref().map(|i| i.render()),
            result: e.result.as_ref().map(|r| r.render()),
            project_id: e.project_id.to_string(),
            created_at: format(&e.created_at),
            updated_at: e.updated_at.as_ref().map(format),
            node: e.node.clone(),
        }
    }
}

impl ExecutionView {
    /// `result` decoded, when there is one and it is JSON.
    pub fn result_json(&self) -> Option<Value> {
        self.result
            .as_deref()
            .and_then(|r| serde_json::from_str(r).ok())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecutionList {
    pub executions: Vec<ExecutionView>,
    /// The next page (the same query with `marker` set to this page's last execution), when
    /// this page is full; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `POST /v1/executions`. `input` is a string for Qinling clients; any JSON value is accepted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateExecution {
    #[serde(default)]
    pub function_id: Option<String>,
    /// An int, a numeric string, or null (meaning 0).
    #[serde(default)]
    pub function_version: Option<Value>,
    #[serde(default)]
    pub function_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub sync: Option<bool>,
    #[serde(default)]
    pub input: Option<Value>,
}

/// `GET /v1/info`: Ridge's own description of this server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InfoView {
    pub version: String,
    pub store: String,
    pub package_store: String,
    pub auth: String,
    pub runtimes: Vec<RuntimeKindInfo>,
    pub sandbox: SandboxInfo,
    pub limits: crate::LimitsPolicy,
    /// The name of the node that answered.
    #[serde(default)]
    pub node: String,
    /// The nodes sharing the store whose heartbeat is within the lease, by name.
    #[serde(default)]
    pub nodes: Vec<NodeInfo>,
}

/// One live node, as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeInfo {
    pub name: String,
    /// How the other nodes reach it.
    pub address: String,
    pub started_at: String,
    pub heartbeat_at: String,
    /// Executions it held, unfinished, at that heartbeat.
    pub running: u64,
    /// Of those, the ones waiting for a worker.
    pub waiting: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuntimeKindInfo {
    pub kind: String,
    /// Whether this host can run it (for python3: an interpreter was found).
    pub available: bool,
    pub detail: String,
}

/// What isolation this host offers and what Ridge applies. Every protection is listed with
/// whether it is enforced, so an operator never has to guess.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SandboxInfo {
    /// `[sandbox] mode`: `refuse` (the default), `degraded`, or `off`: no sandbox at all, by
    /// the operator's choice (workers are plain processes; only for trusted code).
    #[serde(default = "default_sandbox_mode")]
    pub mode: String,
    /// `v1`, `v2`, `hybrid` or `none`: the cgroup layout found on this host.
    pub cgroup: String,
    pub protections: Vec<Protection>,
}

fn default_sandbox_mode() -> String {
    "refuse".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Protection {
    pub name: String,
    pub enforced: bool,
    /// Not enforced because the operator turned the sandbox off (`mode` `off`), not because
    /// this host lacks it.
    #[serde(default)]
    pub turned_off: bool,
    pub detail: String,
}

/// `GET /v1/functions/{id}/workers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerList {
    pub workers: Vec<WorkerView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkerView {
    pub function_id: String,
    pub function_version: i64,
    pub worker_name: String,
    /// Ridge's: the node the worker runs on.
    #[serde(default)]
    pub node: Option<String>,
}

// Versions, aliases, webhooks and jobs (QINLING-API.md §3.4, §3.5, §3.7, §3.8).

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionView {
    pub id: String,
    pub function_id: String,
    pub version_number: i64,
    pub description: Option<String>,
    pub count: i64,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl From<&crate::FunctionVersion> for VersionView {
    fn from(v: &crate::FunctionVersion) -> Self {
        Self {
            id: v.id.to_string(),
            function_id: v.function_id.to_string(),
            version_number: v.version_number,
            description: v.description.clone(),
            count: v.count,
            project_id: v.project_id.to_string(),
            created_at: format(&v.created_at),
            updated_at: v.updated_at.as_ref().map(format),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionList {
    pub function_versions: Vec<VersionView>,
}

/// `POST /v1/functions/{id}/versions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateVersion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasView {
    pub id: String,
    pub name: String,
    pub function_id: String,
    pub function_version: i64,
    pub description: Option<String>,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl From<&crate::Alias> for AliasView {
    fn from(a: &crate::Alias) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name.to_string(),
            function_id: a.function_id.to_string(),
            function_version: a.function_version,
            description: a.description.clone(),
            project_id: a.project_id.to_string(),
            created_at: format(&a.created_at),
            updated_at: a.updated_at.as_ref().map(format),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AliasList {
    pub function_aliases: Vec<AliasView>,
}

/// `POST /v1/aliases`. `function_version` is an int, a numeric string or null (0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAlias {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub function_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_version: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `PUT /v1/aliases/{name}`: absent or null fields are unchanged; `name` is accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateAlias {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_version: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookView {
    pub id: String,
    pub function_id: Option<String>,
    pub function_alias: Option<String>,
    pub function_version: Option<i64>,
    pub description: Option<String>,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub webhook_url: String,
    /// Ridge: whether invoking needs the secret or a signature made with it.
    #[serde(default)]
    pub has_secret: bool,
    /// Ridge: the secret, only in the answer to the request that set it; never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Ridge: one execution per alert of a grouped notification (shown only when set).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub split_alerts: bool,
}

impl WebhookView {
    /// The webhook as every answer shows it (without its secret).
    pub fn new(w: &crate::Webhook, public_url: &str) -> Self {
        Self {
            id: w.id.to_string(),
            function_id: w.target.function_id().map(|id| id.to_string()),
            function_alias: w.target.alias().map(|a| a.to_string()),
            function_version: w.target.function_id().map(|_| w.target.function_version()),
            description: w.description.clone(),
            project_id: w.project_id.to_string(),
            created_at: format(&w.created_at),
            updated_at: w.updated_at.as_ref().map(format),
            webhook_url: crate::webhook::webhook_url(public_url, w.id),
            has_secret: w.secret.is_some(),
            secret: None,
            split_alerts: w.split_alerts,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

/// `POST /v1/webhooks`, and the body of `PUT /v1/webhooks/{id}` (null means unchanged there).
///
/// `secret` (Ridge): `true` generates one, a string of 16 to 255 characters sets it, and on
/// update `false` or `""` removes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_version: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Value>,
    /// Ridge: run one execution per alert of a body's `alerts` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_alerts: Option<bool>,
}

/// `POST /v1/webhooks/{id}/invoke` answers 202 with this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvokeView {
    pub execution_id: String,
    /// Ridge: every execution started, when a webhook with `split_alerts` started several
    /// (`execution_id` is the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub execution_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobView {
    pub id: String,
    pub name: Option<String>,
    pub function_id: Option<String>,
    pub function_alias: Option<String>,
    pub function_version: i64,
    pub function_input: Option<String>,
    pub pattern: Option<String>,
    pub status: String,
    pub first_execution_time: Option<String>,
    pub next_execution_time: Option<String>,
    pub count: Option<i64>,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl From<&crate::Job> for JobView {
    fn from(j: &crate::Job) -> Self {
        Self {
            id: j.id.to_string(),
            name: j.name.clone(),
            function_id: j.target.function_id().map(|id| id.to_string()),
            function_alias: j.target.alias().map(|a| a.to_string()),
            function_version: j.target.function_version(),
            function_input: j.function_input.clone(),
            pattern: j.pattern.as_ref().map(|p| p.as_str().to_owned()),
            status: j.status.to_string(),
            first_execution_time: Some(format(&j.first_execution_time)),
            next_execution_time: Some(format(&j.next_execution_time)),
            count: j.count,
            project_id: j.project_id.to_string(),
            created_at: format(&j.created_at),
            updated_at: j.updated_at.as_ref().map(format),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobList {
    pub jobs: Vec<JobView>,
}

/// `POST /v1/jobs`. Ints accept numeric strings; times are ISO 8601 (UTC without an offset).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_version: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_alias: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_execution_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Value>,
}

/// `PUT /v1/jobs/{id}`: null or absent fields are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateJob {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_execution_time: Option<String>,
}
