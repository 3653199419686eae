//! How long finished executions are kept (docs/retention.md): a server-wide [`Retention`]
//! (`[executions.retention]`) and an admin's per-project [`RetentionOverrides`]. An execution
//! still `running` is never purged, whatever its age or rank.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::tenancy::Limit;

/// Finished executions older than this are purged (30 days).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// A function's finished executions beyond its newest this many are purged.
pub const DEFAULT_MAX_PER_FUNCTION: u64 = 10_000;

/// What a project keeps: both rules apply, each may be lifted (`Limit::Unlimited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// The oldest a finished execution may be, in seconds since it was created.
    pub max_age: Limit,
    /// How many of a function's executions, newest first, are kept.
    pub max_per_function: Limit,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_age: Limit::At(DEFAULT_MAX_AGE.as_secs()),
            max_per_function: Limit::At(DEFAULT_MAX_PER_FUNCTION),
        }
    }
}

/// An admin's override of a project's retention: each `Some` replaces the server's default
/// (`Some(Limit::Unlimited)` keeps executions forever by that rule); `None` keeps the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionOverrides {
    pub max_age: Option<Limit>,
    pub max_per_function: Option<Limit>,
}

impl RetentionOverrides {
    /// The retention in force: the overrides over `defaults`.
    pub fn over(&self, defaults: &Retention) -> Retention {
        Retention {
            max_age: self.max_age.unwrap_or(defaults.max_age),
            max_per_function: self.max_per_function.unwrap_or(defaults.max_per_function),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == RetentionOverrides::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_set() {
        let defaults = Retention::default();
        assert_eq!(RetentionOverrides::default().over(&defaults), defaults);
        assert!(RetentionOverrides::default().is_empty());
        let over = RetentionOverrides {
            max_age: Some(Limit::Unlimited),
            max_per_function: None,
        };
        assert!(!over.is_empty());
        assert_eq!(
            over.over(&defaults),
            Retention {
                max_age: Limit::Unlimited,
                max_per_function: Limit::At(DEFAULT_MAX_PER_FUNCTION),
            }
        );
    }
}
