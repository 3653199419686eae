//! Wire types of Ridge's tenancy extensions: `/v1/projects`, `/v1/users`, `/v1/tokens`,
//! `/v1/whoami` and `/v1/quotas`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::tenancy::{ApiToken, Limit, Project, Quotas, User};
use crate::time::format;
use crate::{InvalidInput, ProjectId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectView {
    pub id: String,
    pub description: Option<String>,
    pub created_at: String,
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        Self {
            id: p.id.to_string(),
            description: p.description.clone(),
            created_at: format(&p.created_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}

/// `POST /v1/projects`. Without `id` one is generated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub project_id: String,
    pub role: String,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            name: u.name.clone(),
            project_id: u.project_id.to_string(),
            role: u.role.to_string(),
            created_at: format(&u.created_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserList {
    pub users: Vec<UserView>,
}

/// `POST /v1/users`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub name: Option<String>,
    pub project_id: Option<String>,
    /// `admin` or `member` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: String,
    pub user_id: String,
    pub description: Option<String>,
    pub expires_at: Option<String>,
    pub revoked: bool,
    pub created_at: String,
    /// The secret: only in the answer to `POST /v1/tokens`; it cannot be read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        Self {
            id: t.id.to_string(),
            user_id: t.user_id.to_string(),
            description: t.description.clone(),
            expires_at: t.expires_at.as_ref().map(format),
            revoked: t.revoked_at.is_some(),
            created_at: format(&t.created_at),
            token: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// `POST /v1/tokens`: a token for `user_id`, valid for `expires_in` seconds (default: no expiry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// `GET /v1/whoami`: who the server takes the caller for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhoamiView {
    pub auth: String,
    pub project_id: String,
    pub user_id: Option<String>,
    pub is_admin: bool,
    pub roles: Vec<String>,
}

/// One quota and what the project uses of it; `limit` null means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaItem {
    pub limit: Option<u64>,
    pub in_use: u64,
}

/// `GET /v1/quotas`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QuotaView {
    pub project_id: String,
    pub functions: QuotaItem,
    pub package_bytes: QuotaItem,
    pub concurrent_executions: QuotaItem,
    /// `in_use` is always 0: a rate has no standing use.
    pub executions_per_second: QuotaItem,
    /// Jobs that may still run (`running` or `paused`).
    pub jobs: QuotaItem,
}

impl QuotaView {
    /// `usage`: functions, package bytes, unfinished executions, jobs.
    pub fn new(project: &ProjectId, quotas: &Quotas, usage: [u64; 4]) -> Self {
        let item = |l: Limit, in_use| QuotaItem {
            limit: l.value(),
            in_use,
        };
        Self {
            project_id: project.to_string(),
            functions: item(quotas.functions, usage[0]),
            package_bytes: item(quotas.package_bytes, usage[1]),
            concurrent_executions: item(quotas.concurrent_executions, usage[2]),
            executions_per_second: item(quotas.executions_per_second, 0),
            jobs: item(quotas.jobs, usage[3]),
        }
    }
}

/// `PUT /v1/quotas/{project_id}`: per quota, a number, `-1` for no limit, `null` to go back
/// to the server's default; an absent quota is left as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetQuotas {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_bytes: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_executions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executions_per_second: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs: Option<Value>,
}

/// What one `SetQuotas` field asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaChange {
    Keep,
    Default,
    Set(Limit),
}

impl QuotaChange {
    /// Reads a field of [`SetQuotas`]. Serde maps an explicit `null` to `None` as well, so the
    /// caller passes `present` (whether the key was in the body) separately.
    pub fn parse(name: &str, value: Option<&Value>, present: bool) -> Result<Self, InvalidInput> {
        let invalid = || {
            InvalidInput::new(format!(
                "invalid quota `{name}`: expected a non-negative integer, -1 for no limit, or null for the server's default"
            ))
        };
        match (present, value) {
            (false, _) => Ok(QuotaChange::Keep),
            (true, None | Some(Value::Null)) => Ok(QuotaChange::Default),
            (true, Some(Value::Number(n))) => match (n.as_u64(), n.as_i64()) {
                (Some(v), _) => Ok(QuotaChange::Set(Limit::At(v))),
                (None, Some(-1)) => Ok(QuotaChange::Set(Limit::Unlimited)),
                _ => Err(invalid()),
            },
            (true, Some(_)) => Err(invalid()),
        }
    }
}
