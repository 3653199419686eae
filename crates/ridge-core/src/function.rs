//! Functions: user code (a zip package) bound to a runtime, with an entry point and limits.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{FunctionId, InvalidInput, Limits, ProjectId, RuntimeId, Timestamp};

/// A function as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub id: FunctionId,
    pub project_id: ProjectId,
    pub name: Option<String>,
    pub description: Option<String>,
    pub runtime_id: RuntimeId,
    pub code: Code,
    pub entry: Entry,
    pub limits: Limits,
    /// What network the function's workers get (a Ridge-only field).
    pub network: NetworkAccess,
    /// Executions of version 0 (the function itself).
    pub count: i64,
    pub latest_version: i64,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl Function {
    /// What this function's workers are started with.
    pub fn run_shape(&self) -> RunShape {
        RunShape {
            md5sum: self.code.md5sum().to_owned(),
            entry: self.entry.clone(),
            limits: self.limits,
            network: self.network,
        }
    }
}

/// What a function's workers are started with: its package, entry, limits and network. This is
/// the one definition of "runs differently": two functions with the same shape run alike, and
/// any difference means a worker started for one must not serve the other (the engine keys its
/// pools on it, and an update that changes it releases the function's workers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunShape {
    pub md5sum: String,
    pub entry: Entry,
    pub limits: Limits,
    pub network: NetworkAccess,
}

impl RunShape {
    /// Qinling's narrower rule for updates under a running job: whether the package, entry, cpu
    /// or memory differ. A new timeout (Qinling) or network (Ridge) may change under a job.
    pub fn differs_in_code(&self, other: &RunShape) -> bool {
        self.md5sum != other.md5sum
            || self.entry != other.entry
            || self.limits.cpu != other.limits.cpu
            || self.limits.memory_size != other.limits.memory_size
    }
}

/// A change to a function, parsed and validated at the edge: `None` leaves a field as it is. A
/// new package travels beside the patch, because its bytes are not domain data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub entry: Option<Entry>,
    /// The limits after the change (the edge merges the request into the current limits under
    /// the server's policy).
    pub limits: Option<Limits>,
    pub network: Option<NetworkAccess>,
}

impl FunctionPatch {
    /// The function as the patch leaves it at `at`, with `code` when a new package was stored.
    pub fn apply(&self, function: &Function, code: Option<Code>, at: Timestamp) -> Function {
        let mut changed = function.clone();
        if let Some(name) = &self.name {
            changed.name = Some(name.clone());
        }
        if let Some(description) = &self.description {
            changed.description = Some(description.clone());
        }
        if let Some(entry) = &self.entry {
            changed.entry = entry.clone();
        }
        if let Some(limits) = self.limits {
            changed.limits = limits;
        }
        if let Some(network) = self.network {
            changed.network = network;
        }
        if let Some(code) = code {
            changed.code = code;
        }
        changed.updated_at = Some(at);
        changed
    }

    /// Whether Qinling refuses the change while a job uses the function: a new package, or a
    /// [code difference](RunShape::differs_in_code) in the rest of the patch.
    pub fn changes_code(&self, function: &Function, new_package: bool, at: Timestamp) -> bool {
        new_package
            || function
                .run_shape()
                .differs_in_code(&self.apply(function, None, at).run_shape())
    }
}

/// The network a function's workers get. Loopback only unless the function was granted
/// outbound access (and the operator allows such grants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkAccess {
    #[default]
    Loopback,
    Outbound,
}

impl NetworkAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkAccess::Loopback => "loopback",
            NetworkAccess::Outbound => "outbound",
        }
    }
}

impl fmt::Display for NetworkAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NetworkAccess {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "loopback" => Ok(NetworkAccess::Loopback),
            "outbound" => Ok(NetworkAccess::Outbound),
            other => Err(InvalidInput::new(format!(
                "invalid network `{other}`: expected `loopback` (the default) or `outbound`"
            ))),
        }
    }
}

/// Where a function's code lives. Ridge stores packages itself; Qinling's `swift` and `image`
/// sources are recognised so that they get a clear refusal rather than a parse error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Code {
    Package { md5sum: String },
}

impl Code {
    pub fn md5sum(&self) -> &str {
        match self {
            Code::Package { md5sum } => md5sum,
        }
    }

    /// The JSON object Qinling shows (`{"source": "package", "md5sum": "..."}`).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("Code serializes to a JSON object")
    }
}

/// The `code` field of a create or update request, before the package is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRequest {
    /// The md5 the client says the package has, checked against the upload.
    pub md5sum: Option<String>,
}

impl CodeRequest {
    /// Parses `code` given as a JSON-encoded string (what Qinling requires) or as a JSON object
    /// (what JSON clients naturally send, and Qinling answered with a 500).
    pub fn parse(raw: &Value) -> Result<Self, InvalidInput> {
        let object = match raw {
            Value::String(s) => serde_json::from_str::<Value>(s).map_err(|e| {
                InvalidInput::new(format!(
                    "invalid `code`: expected a JSON object such as {{\"source\": \"package\"}}, got `{s}` ({e})"
                ))
            })?,
            other => other.clone(),
        };
        let Value::Object(map) = object else {
            return Err(InvalidInput::new(
                "invalid `code`: expected a JSON object such as {\"source\": \"package\"}",
            ));
        };
        match map.get("source").and_then(Value::as_str) {
            Some("package") => {}
            Some(source @ ("swift" | "image")) => {
                return Err(InvalidInput::new(format!(
                    "code source `{source}` is not supported by Ridge: upload the code as a package (`\"source\": \"package\"` with a `package` file)"
                )));
            }
            _ => {
                return Err(InvalidInput::new(
                    "Invalid code source specified, available sources: package, swift, image",
                ));
            }
        }
        let md5sum = match map.get("md5sum") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().to_ascii_lowercase()),
            Some(other) => {
                return Err(InvalidInput::new(format!(
                    "invalid `code.md5sum` {other}: expected a hex string"
                )));
            }
        };
        Ok(Self { md5sum })
    }
}

/// A function's entry point, `module.function` (for Python, `pkg.module.function`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Entry(String);

impl Entry {
    /// Qinling's column is `String(80)`.
    pub const MAX_LEN: usize = 80;

    /// Qinling's default entry.
    pub fn default_entry() -> Self {
        Self("main.main".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The module path and the function name.
    pub fn split(&self) -> (&str, &str) {
        self.0
            .rsplit_once('.')
            .expect("a validated entry always has a module and a function")
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

impl TryFrom<String> for Entry {
    type Error = InvalidInput;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        let valid = s.len() <= Self::MAX_LEN && s.contains('.') && s.split('.').all(is_identifier);
        if valid {
            Ok(Self(s))
        } else {
            Err(InvalidInput::new(format!(
                "invalid entry `{s}`: expected `module.function` (for example `main.main`), at most 80 characters"
            )))
        }
    }
}

impl From<Entry> for String {
    fn from(e: Entry) -> Self {
        e.0
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn code_accepted_as_string_or_object() {
        let s = json!(r#"{"source": "package", "md5sum": "ABC"}"#);
        assert_eq!(
            CodeRequest::parse(&s),
            Ok(CodeRequest {
                md5sum: Some("abc".into())
            })
        );
        let o = json!({"source": "package"});
        assert_eq!(CodeRequest::parse(&o), Ok(CodeRequest { md5sum: None }));
    }

    #[test]
    fn bad_code_sources_are_explained() {
        let err = CodeRequest::parse(&json!({"source": "ftp"})).expect_err("bad source");
        assert_eq!(
            err.message,
            "Invalid code source specified, available sources: package, swift, image"
        );
        let err = CodeRequest::parse(&json!({"source": "swift"})).expect_err("unsupported");
        assert!(err.message.contains("not supported"), "{}", err.message);
        let err = CodeRequest::parse(&json!("{not json")).expect_err("bad json");
        assert!(err.message.starts_with("invalid `code`"), "{}", err.message);
    }

    #[test]
    fn code_renders_as_qinling_object() {
        let code = Code::Package {
            md5sum: "d41d8cd98f00b204e9800998ecf8427e".into(),
        };
        assert_eq!(
            code.to_json(),
            json!({"source": "package", "md5sum": "d41d8cd98f00b204e9800998ecf8427e"})
        );
    }

    fn function() -> Function {
        let at = crate::time::now();
        Function {
            id: FunctionId::new(),
            project_id: ProjectId::default_project(),
            name: Some("f".into()),
            description: None,
            runtime_id: RuntimeId::new(),
            code: Code::Package {
                md5sum: "aa".into(),
            },
            entry: Entry::default_entry(),
            limits: Limits {
                cpu: 100,
                memory_size: 33_554_432,
                timeout: 5,
            },
            network: NetworkAccess::Loopback,
            count: 0,
            latest_version: 0,
            created_at: at,
            updated_at: None,
        }
    }

    #[test]
    fn patches_change_what_they_name_and_shapes_say_what_runs_differently() {
        let f = function();
        let at = crate::time::now();
        let renamed = FunctionPatch {
            name: Some("g".into()),
            limits: Some(f.limits),
            ..FunctionPatch::default()
        };
        let g = renamed.apply(&f, None, at);
        assert_eq!((g.name.as_deref(), g.updated_at), (Some("g"), Some(at)));
        assert_eq!(g.run_shape(), f.run_shape(), "a new name runs alike");
        assert!(!renamed.changes_code(&f, false, at));
        assert!(renamed.changes_code(&f, true, at), "a package is code");

        let longer = FunctionPatch {
            limits: Some(Limits {
                timeout: 9,
                ..f.limits
            }),
            network: Some(NetworkAccess::Outbound),
            ..FunctionPatch::default()
        };
        assert_ne!(longer.apply(&f, None, at).run_shape(), f.run_shape());
        assert!(
            !longer.changes_code(&f, false, at),
            "Qinling lets a timeout change under a job"
        );
        let bigger = FunctionPatch {
            limits: Some(Limits {
                cpu: 200,
                ..f.limits
            }),
            ..FunctionPatch::default()
        };
        assert!(bigger.changes_code(&f, false, at));
        let repackaged = FunctionPatch::default().apply(
            &f,
            Some(Code::Package {
                md5sum: "bb".into(),
            }),
            at,
        );
        assert!(repackaged.run_shape().differs_in_code(&f.run_shape()));
    }

    #[test]
    fn entries_are_validated() {
        assert!(Entry::try_from("function.main".to_owned()).is_ok());
        assert!(Entry::try_from("pkg.mod.handler".to_owned()).is_ok());
        for bad in ["main", "main.", ".main", "a b.c", "1x.main", "os;rm.x"] {
            assert!(Entry::try_from(bad.to_owned()).is_err(), "{bad}");
        }
        let e = Entry::try_from("pkg.mod.handler".to_owned()).expect("valid");
        assert_eq!(e.split(), ("pkg.mod", "handler"));
    }
}
