//! Query strings: Qinling rejects unknown query parameters (`Unknown argument: "x"`), which
//! catches typos such as `?all_project=true`; so does Ridge.

use std::collections::BTreeMap;

use crate::ApiError;

/// Parses a query string, allowing only `allowed` keys (the last value of a repeated key wins).
pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = match raw {
        Some(q) => serde_urlencoded::from_str(q)
            .map_err(|e| ApiError::BadRequest(format!("invalid query string `{q}`: {e}")))?,
        None => Vec::new(),
    };
    let mut out = BTreeMap::new();
    for (key, value) in pairs {
        if !allowed.contains(&key.as_str()) {
            return Err(ApiError::BadRequest(format!("Unknown argument: \"{key}\"")));
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// A boolean parameter as Qinling accepts it (`true`/`false`, any case, or `1`/`0`).
pub fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "invalid value `{value}` for `{name}`: expected true or false"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unknown_arguments() {
        let err = parse(Some("limit=1"), &["all_projects"]).expect_err("unknown");
        assert_eq!(err.to_string(), "Unknown argument: \"limit\"");
        let ok = parse(Some("all_projects=true"), &["all_projects"]).expect("known");
        assert_eq!(ok.get("all_projects").map(String::as_str), Some("true"));
    }

    #[test]
    fn parses_booleans() {
        assert!(boolean("download", "True").expect("bool"));
        assert!(!boolean("download", "0").expect("bool"));
        assert!(boolean("download", "maybe").is_err());
    }
}
