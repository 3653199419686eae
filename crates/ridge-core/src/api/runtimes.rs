//! Runtimes and their pools of pre-started workers.

use serde::{Deserialize, Serialize};

use crate::Runtime;
use crate::time::format;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuntimeView {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub image: String,
    pub status: String,
    pub is_public: bool,
    pub trusted: bool,
    pub project_id: String,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// Ridge's: why the node that answered cannot run this runtime (with `status` `error`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
}

impl From<&Runtime> for RuntimeView {
    fn from(r: &Runtime) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name.clone(),
            description: r.description.clone(),
            image: r.image.clone(),
            status: r.status.to_string(),
            is_public: r.is_public,
            trusted: r.trusted,
            project_id: r.project_id.to_string(),
            created_at: format(&r.created_at),
            updated_at: r.updated_at.as_ref().map(format),
            status_reason: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuntimeList {
    pub runtimes: Vec<RuntimeView>,
}

/// `POST /v1/runtimes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRuntime {
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_public: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
}

/// `PUT /v1/runtimes/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRuntime {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// `GET /v1/runtimes/{id}/pool`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolView {
    pub name: String,
    pub capacity: PoolCapacity,
    /// Ridge: the runtime's pre-started workers on this node.
    #[serde(default)]
    pub prestarted: PrestartedView,
}

/// Ridge: a runtime's pool of pre-started workers (sandboxed interpreters started before any
/// function needs them, each given to one function's first execution).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrestartedView {
    /// The size an admin set for this runtime; `null`: the server's default.
    pub setting: Option<u32>,
    /// The server's default size (`[runtimes] pool_size`).
    pub default_size: u32,
    /// The most an admin may set (`[runtimes] max_pool_size`).
    pub max_size: u32,
    /// How many this node keeps: the setting (or default) within the host's worker memory
    /// budget; 0 when this node cannot pre-start workers of the runtime.
    pub size: u64,
    /// Of those, how many are started and waiting for a function.
    pub ready: u64,
    /// The names of those (in their command lines).
    pub workers: Vec<String>,
    /// Why this node cannot pre-start workers of the runtime (functions then cold-start as
    /// before).
    pub unavailable: Option<String>,
    /// The last failure to pre-start a worker (the pool stops refilling until its size is set
    /// again).
    pub last_error: Option<String>,
    /// Only functions with this `memory_size` (bytes; the same whole MiB) take one of these
    /// workers, whose command line carries it (Node.js: V8's heap limit); others start a worker
    /// cold. Absent: any function of the runtime may (or, with `unavailable`, none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u64>,
    /// For Python: whether this node forks the runtime's workers (pre-started ones included)
    /// from a zygote, an interpreter already past its start: `ready`, `starting`, or why not
    /// (then each worker starts its own interpreter). Absent for kinds that have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zygote: Option<String>,
}

/// Ridge: `PUT /v1/runtimes/{id}/pool`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePool {
    /// Pre-started workers each node keeps for the runtime, 0 to keep none; `null` returns to
    /// the server's default.
    pub size: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolCapacity {
    /// Workers of this runtime alive on this node.
    pub total: u64,
    /// Of those, the ones idle and ready to take an execution.
    pub available: u64,
}
