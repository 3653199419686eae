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
    /// The target of an execution, webhook or job request: an alias wins over a function id
    /// (Qinling's rule); empty strings count as absent; `version` is parsed as
    /// [`crate::version::parse_version_number`] does.
    pub fn from_request(
        alias: Option<&str>,
        function_id: Option<&str>,
        version: Option<&serde_json::Value>,
    ) -> Result<Self, InvalidInput> {
        let version = crate::version::parse_version_number(version)?;
        match (
            alias.filter(|a| !a.is_empty()),
            function_id.filter(|f| !f.is_empty()),
        ) {
            (Some(alias), _) => Ok(Target::Alias(alias.parse()?)),
            (None, Some(id)) => Ok(Target::Function {
                id: id.parse()?,
                version,
            }),
            (None, None) => Err(InvalidInput::new(
                "Either function_alias or function_id must be provided.",
            )),
        }
    }

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
    fn request_targets_prefer_the_alias_and_need_one_of_the_two() {
        use serde_json::json;
        let id = FunctionId::new().to_string();
        let t = Target::from_request(Some("stable"), Some(&id), None).expect("alias");
        assert_eq!(t.alias().map(|a| a.to_string()), Some("stable".to_owned()));
        let t = Target::from_request(Some(""), Some(&id), Some(&json!("2"))).expect("function");
        assert_eq!(
            (t.function_id().map(|f| f.to_string()), t.function_version()),
            (Some(id), 2)
        );
        let err = Target::from_request(None, Some(""), None).expect_err("neither");
        assert_eq!(
            err.message,
            "Either function_alias or function_id must be provided."
        );
        assert!(Target::from_request(None, Some("abc"), None).is_err());
        assert!(
            Target::from_request(None, Some(&FunctionId::new().to_string()), Some(&json!(-1)))
                .is_err()
        );
    }

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
