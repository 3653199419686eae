//! Function versions: immutable snapshots of a function's package, entry and limits, numbered
//! from 1 per function. Version 0 is the function itself (its latest code).

use crate::{Code, Entry, Function, FunctionId, Limits, ProjectId, Timestamp, VersionId};

/// A version as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionVersion {
    pub id: VersionId,
    pub project_id: ProjectId,
    pub function_id: FunctionId,
    /// 1, 2, ...; never reused after a delete (see `docs/architecture.md`).
    pub version_number: i64,
    pub description: Option<String>,
    /// The package at creation. Packages are content-addressed by md5, so the snapshot names the
    /// same blob the function had; that blob is kept while any version refers to it.
    pub code: Code,
    pub entry: Entry,
    pub limits: Limits,
    /// Executions of this version.
    pub count: i64,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl FunctionVersion {
    /// The function as this version runs it: the version's code, entry and limits on the
    /// function's identity and runtime.
    pub fn apply(&self, function: &Function) -> Function {
        Function {
            code: self.code.clone(),
            entry: self.entry.clone(),
            limits: self.limits,
            ..function.clone()
        }
    }

    /// Whether `function` runs exactly as this snapshot (same package, entry and limits).
    pub fn same_as(&self, function: &Function) -> bool {
        self.code == function.code && self.entry == function.entry && self.limits == function.limits
    }
}

/// `function_version` of a request: an int, a numeric string (WSME accepts both, and the
/// openstack CLI sends strings), or null meaning 0.
pub fn parse_version_number(raw: Option<&serde_json::Value>) -> Result<i64, crate::InvalidInput> {
    use serde_json::Value;
    let invalid = |v: &dyn std::fmt::Display| {
        crate::InvalidInput::new(format!(
            "invalid `function_version` {v}: expected a non-negative integer"
        ))
    };
    let n = match raw {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| invalid(n))?,
        Some(Value::String(s)) if s.trim().is_empty() => 0,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| invalid(&format!("`{s}`")))?,
        Some(other) => return Err(invalid(other)),
    };
    if n < 0 {
        return Err(invalid(&n));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_numbers_accept_ints_strings_and_null() {
        assert_eq!(parse_version_number(None), Ok(0));
        assert_eq!(parse_version_number(Some(&json!(null))), Ok(0));
        assert_eq!(parse_version_number(Some(&json!(2))), Ok(2));
        assert_eq!(parse_version_number(Some(&json!(" 3 "))), Ok(3));
        for bad in [json!(-1), json!("x"), json!(1.5), json!([1])] {
            let err = parse_version_number(Some(&bad)).expect_err("invalid");
            assert!(
                err.message.starts_with("invalid `function_version`"),
                "{}",
                err.message
            );
        }
    }
}
