//! Typed identifiers. Resource ids are UUID v4, execution ids UUID v7 (they grow with time); a
//! path segment that is not a UUID is rejected with Qinling's message before it reaches
//! anything else.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::InvalidInput;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        uuid_id!($(#[$doc])* $name, "A fresh random id.", Uuid::new_v4());
    };
    ($(#[$doc:meta])* $name:ident, $new_doc:literal, $new:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            #[doc = $new_doc]
            pub fn new() -> Self {
                Self($new)
            }

            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl FromStr for $name {
            type Err = InvalidInput;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_uuid(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Hyphenated lower case, as Qinling prints ids.
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(
    /// Identifies a runtime.
    RuntimeId
);
uuid_id!(
    /// Identifies a function.
    FunctionId
);
uuid_id!(
    /// Identifies an execution. Its ids grow with time (UUID v7: the creation time's
    /// milliseconds, then a counter and random bits), so that each new execution row enters
    /// the end of the primary key's index instead of a random page of it: a batch of five
    /// creates on a table of 200,000 executions wrote 7.2 pages of SQLite's log instead of
    /// 11.9, in 12.4 µs a row instead of 21.7 (docs/benchmarks.md, "2026-12-06 (6)").
    ExecutionId,
    "A fresh id, greater than every one this process made before it.",
    Uuid::now_v7()
);
uuid_id!(
    /// Identifies a function version (the pair function id and number is what callers use).
    VersionId
);
uuid_id!(
    /// Identifies an alias (callers use its name).
    AliasId
);
uuid_id!(
    /// Identifies a webhook.
    WebhookId
);
uuid_id!(
    /// Identifies a job.
    JobId
);
uuid_id!(
    /// Identifies an event trigger (a message-queue source bound to a function).
    EventTriggerId
);
uuid_id!(
    /// Identifies a user of Ridge's own (`token` mode) identity store.
    UserId
);
uuid_id!(
    /// Identifies an API token (not the secret itself, which is never stored).
    TokenId
);

/// Parses a UUID the way Qinling accepts it in paths and bodies.
pub fn parse_uuid(s: &str) -> Result<Uuid, InvalidInput> {
    Uuid::parse_str(s).map_err(|_| InvalidInput::new(format!("Expected a uuid but received {s}.")))
}

/// A project (tenant). In no-auth mode every resource lives in project `default`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProjectId(String);

impl ProjectId {
    /// Qinling's column is `String(80)`.
    pub const MAX_LEN: usize = 80;

    /// The project of every resource when authentication is off.
    pub fn default_project() -> Self {
        Self("default".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProjectId {
    type Error = InvalidInput;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let valid = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(s))
        } else {
            Err(InvalidInput::new(format!(
                "invalid project id `{s}`: use 1 to 80 letters, digits, `-` or `_`"
            )))
        }
    }
}

impl From<ProjectId> for String {
    fn from(p: ProjectId) -> Self {
        p.0
    }
}

impl FromStr for ProjectId {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_owned())
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_malformed_uuid_with_qinling_message() {
        let err = "abc".parse::<FunctionId>().expect_err("not a uuid");
        assert_eq!(err.message, "Expected a uuid but received abc.");
    }

    #[test]
    fn execution_ids_grow_as_numbers_and_as_the_text_the_stores_compare() {
        let ids: Vec<ExecutionId> = (0..1000).map(|_| ExecutionId::new()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1], "{} then {}", pair[0], pair[1]);
            assert!(pair[0].to_string() < pair[1].to_string());
        }
    }

    #[test]
    fn ids_round_trip_through_display() {
        let id = ExecutionId::new();
        assert_eq!(id.to_string().parse::<ExecutionId>(), Ok(id));
    }

    #[test]
    fn project_ids_are_restricted() {
        assert!("default".parse::<ProjectId>().is_ok());
        assert!("a/b".parse::<ProjectId>().is_err());
        assert!("".parse::<ProjectId>().is_err());
        assert!("x".repeat(81).parse::<ProjectId>().is_err());
    }
}
