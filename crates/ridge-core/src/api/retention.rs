//! Wire types of `/v1/retention` (Ridge's own): how long a project's finished executions are
//! kept (docs/retention.md).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ProjectId;
use crate::retention::Retention;

/// `GET /v1/retention`: the rules in force; `null` keeps executions forever by that rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetentionView {
    pub project_id: String,
    /// Seconds a finished execution is kept after it was created.
    pub max_age: Option<u64>,
    /// Finished executions kept per function, newest first.
    pub max_per_function: Option<u64>,
}

impl RetentionView {
    pub fn new(project: &ProjectId, retention: &Retention) -> Self {
        Self {
            project_id: project.to_string(),
            max_age: retention.max_age.value(),
            max_per_function: retention.max_per_function.value(),
        }
    }
}

/// `PUT /v1/retention/{project_id}`: per rule, a number, `-1` to keep forever, `null` to go
/// back to the server's default; an absent rule is left as it is (as `PUT /v1/quotas`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetRetention {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_function: Option<Value>,
}
