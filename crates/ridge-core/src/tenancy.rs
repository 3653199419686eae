//! Tenancy: projects, users with a role, API tokens and per-project quotas. Pure data and
//! rules; storing them is `ridge-store`'s business, checking a request against them is
//! `ridge-api`'s `access` module.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::ids::{TokenId, UserId};
use crate::{InvalidInput, ProjectId, Timestamp};

/// What a caller may do. `admin` is Qinling's `context_is_admin`: cloud-wide, not limited to the
/// caller's project; `member` works inside its own project only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            _ => Err(InvalidInput::new(format!(
                "invalid role `{s}`: expected `admin` or `member`"
            ))),
        }
    }
}

/// A project of Ridge's own identity store (in `keystone` mode Keystone owns projects).
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    pub id: ProjectId,
    pub description: Option<String>,
    pub created_at: Timestamp,
}

/// A user: a name within one project, with one role.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub project_id: ProjectId,
    pub role: Role,
    pub created_at: Timestamp,
}

/// An issued API token. Only the SHA-256 of the secret is kept; the secret is shown once.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    /// Lower-case hex SHA-256 of the secret.
    pub hash: String,
    pub description: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl ApiToken {
    /// Whether the token may authenticate a request at `now`.
    pub fn usable_at(&self, now: Timestamp) -> Result<(), TokenRefusal> {
        if self.revoked_at.is_some() {
            return Err(TokenRefusal::Revoked);
        }
        match self.expires_at {
            Some(t) if t <= now => Err(TokenRefusal::Expired),
            _ => Ok(()),
        }
    }
}

/// Why a known token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Revoked,
    Expired,
}

/// A fresh token secret: `ridge_` and 64 hex digits (two random UUIDs, 244 random bits).
pub fn generate_token() -> String {
    format!(
        "ridge_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A user name: 1 to 64 letters, digits, `-`, `_`, `.` or `@`.
pub fn validate_user_name(name: &str) -> Result<(), InvalidInput> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if valid {
        Ok(())
    } else {
        Err(InvalidInput::new(format!(
            "invalid user name `{name}`: use 1 to 64 letters, digits, `-`, `_`, `.` or `@`"
        )))
    }
}

/// One quota as configured or overridden: a number, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(untagged)]
pub enum Limit {
    At(u64),
    #[default]
    Unlimited,
}

impl Limit {
    /// Whether `used + adding` stays within the limit.
    pub fn allows(&self, used: u64, adding: u64) -> bool {
        match self {
            Limit::At(max) => used.saturating_add(adding) <= *max,
            Limit::Unlimited => true,
        }
    }

    pub fn value(&self) -> Option<u64> {
        match self {
            Limit::At(n) => Some(*n),
            Limit::Unlimited => None,
        }
    }

    /// From the stored form: `None` unlimited.
    pub fn from_value(v: Option<u64>) -> Self {
        v.map_or(Limit::Unlimited, Limit::At)
    }
}

/// What a project may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Quotas {
    pub functions: Limit,
    pub package_bytes: Limit,
    pub concurrent_executions: Limit,
    pub executions_per_second: Limit,
    /// Jobs that may still run (`running` or `paused`).
    #[serde(default)]
    pub jobs: Limit,
}

/// An admin's override of some of a project's quotas: each `Some` replaces the configured
/// default (`Some(Limit::Unlimited)` lifts it); `None` keeps the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaOverrides {
    pub functions: Option<Limit>,
    pub package_bytes: Option<Limit>,
    pub concurrent_executions: Option<Limit>,
    pub executions_per_second: Option<Limit>,
    pub jobs: Option<Limit>,
}

impl QuotaOverrides {
    /// The quotas in force: the overrides over `defaults`.
    pub fn over(&self, defaults: &Quotas) -> Quotas {
        Quotas {
            functions: self.functions.unwrap_or(defaults.functions),
            package_bytes: self.package_bytes.unwrap_or(defaults.package_bytes),
            concurrent_executions: self
                .concurrent_executions
                .unwrap_or(defaults.concurrent_executions),
            executions_per_second: self
                .executions_per_second
                .unwrap_or(defaults.executions_per_second),
            jobs: self.jobs.unwrap_or(defaults.jobs),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == QuotaOverrides::default()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn roles_parse_and_print() {
        assert_eq!("admin".parse::<Role>().expect("role"), Role::Admin);
        assert_eq!(Role::Member.to_string(), "member");
        let err = "root".parse::<Role>().expect_err("unknown role");
        assert!(err.message.contains("`root`"), "{err}");
    }

    #[test]
    fn tokens_expire_and_revoke() {
        let now = crate::time::now();
        let mut token = ApiToken {
            id: TokenId::new(),
            user_id: UserId::new(),
            hash: "h".into(),
            description: None,
            expires_at: Some(now + Duration::seconds(10)),
            revoked_at: None,
            created_at: now,
        };
        assert_eq!(token.usable_at(now), Ok(()));
        assert_eq!(
            token.usable_at(now + Duration::seconds(10)),
            Err(TokenRefusal::Expired)
        );
        token.revoked_at = Some(now);
        assert_eq!(token.usable_at(now), Err(TokenRefusal::Revoked));
        assert_ne!(generate_token(), generate_token());
        assert_eq!(generate_token().len(), 6 + 64);
    }

    #[test]
    fn overrides_replace_defaults_one_by_one() {
        let defaults = Quotas {
            functions: Limit::At(100),
            package_bytes: Limit::At(1000),
            ..Quotas::default()
        };
        let over = QuotaOverrides {
            functions: Some(Limit::At(2)),
            package_bytes: Some(Limit::Unlimited),
            ..QuotaOverrides::default()
        };
        let q = over.over(&defaults);
        assert_eq!(q.functions, Limit::At(2));
        assert_eq!(q.package_bytes, Limit::Unlimited);
        assert_eq!(q.concurrent_executions, Limit::Unlimited);
        assert!(Limit::At(2).allows(1, 1));
        assert!(!Limit::At(2).allows(2, 1));
        assert!(Limit::Unlimited.allows(u64::MAX, 1));
    }

    #[test]
    fn user_names_are_checked() {
        assert!(validate_user_name("alice@example.org").is_ok());
        assert!(validate_user_name("").is_err());
        assert!(validate_user_name("a b").is_err());
    }
}
