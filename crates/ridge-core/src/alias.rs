//! Aliases: a name, unique per project, for a function version. Executions, webhooks and jobs
//! that name an alias resolve it when they run, so they follow the alias when it moves.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{AliasId, FunctionId, InvalidInput, ProjectId, Timestamp};

/// An alias as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    pub id: AliasId,
    pub project_id: ProjectId,
    pub name: AliasName,
    pub function_id: FunctionId,
    pub function_version: i64,
    pub description: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

/// An alias name: 1 to 255 characters, no `/` (it is a path segment) and no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AliasName(String);

impl AliasName {
    pub const MAX_LEN: usize = 255;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AliasName {
    type Error = InvalidInput;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let valid = !s.trim().is_empty()
            && s.chars().count() <= Self::MAX_LEN
            && !s.chars().any(|c| c == '/' || c.is_control());
        if valid {
            Ok(Self(s))
        } else {
            Err(InvalidInput::new(format!(
                "invalid alias name `{s}`: use 1 to 255 characters, without `/` or control characters"
            )))
        }
    }
}

impl std::str::FromStr for AliasName {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl From<AliasName> for String {
    fn from(a: AliasName) -> Self {
        a.0
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an execution, a webhook or a job runs: an alias (resolved when it runs) or a function
/// version (0 is the function's latest code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Alias(AliasName),
    Function { id: FunctionId, version: i64 },
}

impl Target {
    pub fn function_id(&self) -> Option<FunctionId> {
        match self {
            Target::Function { id, .. } => Some(*id),
            Target::Alias(_) => None,
        }
    }

    /// The version as Qinling shows it: 0 for an alias target.
    pub fn function_version(&self) -> i64 {
        match self {
            Target::Function { version, .. } => *version,
            Target::Alias(_) => 0,
        }
    }

    pub fn alias(&self) -> Option<&AliasName> {
        match self {
            Target::Alias(name) => Some(name),
            Target::Function { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_are_path_safe() {
        assert!("prod".parse::<AliasName>().is_ok());
        assert!("my alias-1".parse::<AliasName>().is_ok());
        for bad in ["", "  ", "a/b", "a\nb"] {
            assert!(bad.parse::<AliasName>().is_err(), "{bad:?}");
        }
        assert!("x".repeat(256).parse::<AliasName>().is_err());
    }
}
