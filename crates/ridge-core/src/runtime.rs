//! Runtimes: what an admin registers so that functions can run. On the local backend the
//! runtime's `image` names a built-in runtime kind rather than a container image.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{InvalidInput, ProjectId, RuntimeId, Timestamp};

/// A registered runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Runtime {
    pub id: RuntimeId,
    pub project_id: ProjectId,
    pub name: Option<String>,
    pub description: Option<String>,
    /// As the admin gave it (`python3`, `openstackqinling/python3-runtime:latest`, ...).
    pub image: String,
    pub status: RuntimeStatus,
    pub is_public: bool,
    pub trusted: bool,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

impl Runtime {
    /// The built-in kind the image maps to. Images are validated on create and update, so a
    /// stored runtime always has one; `None` only for rows written by a newer Ridge.
    pub fn kind(&self) -> Option<RuntimeKind> {
        RuntimeKind::from_image(&self.image).ok()
    }
}

/// Qinling's runtime states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeStatus {
    Creating,
    Available,
    Upgrading,
    Error,
    Deleting,
}

impl RuntimeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::Creating => "creating",
            RuntimeStatus::Available => "available",
            RuntimeStatus::Upgrading => "upgrading",
            RuntimeStatus::Error => "error",
            RuntimeStatus::Deleting => "deleting",
        }
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RuntimeStatus {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "creating" => RuntimeStatus::Creating,
            "available" => RuntimeStatus::Available,
            "upgrading" => RuntimeStatus::Upgrading,
            "error" => RuntimeStatus::Error,
            "deleting" => RuntimeStatus::Deleting,
            other => {
                return Err(InvalidInput::new(format!(
                    "unknown runtime status `{other}`"
                )));
            }
        })
    }
}

/// What kind of worker runs a runtime's functions: one built into Ridge (`python3`, `nodejs`,
/// `wasm`) or one an operator declared in the server's configuration file. A kind is a short
/// lowercase name; which kinds a server can run is the engine's to say, not this type's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuntimeKind(Cow<'static, str>);

impl RuntimeKind {
    pub const PYTHON3: RuntimeKind = RuntimeKind(Cow::Borrowed("python3"));
    pub const NODEJS: RuntimeKind = RuntimeKind(Cow::Borrowed("nodejs"));
    pub const WASM: RuntimeKind = RuntimeKind(Cow::Borrowed("wasm"));

    /// Image names (the last path segment, without a tag) that Qinling and its users gave the
    /// built-in kinds, so that Qinling-era scripts keep working.
    const ALIASES: &'static [(&'static str, RuntimeKind)] = &[
        ("python", RuntimeKind::PYTHON3),
        ("python3-runtime", RuntimeKind::PYTHON3),
        ("python-runtime", RuntimeKind::PYTHON3),
        ("node", RuntimeKind::NODEJS),
        ("nodejs-runtime", RuntimeKind::NODEJS),
        ("node-runtime", RuntimeKind::NODEJS),
        ("wasi", RuntimeKind::WASM),
        ("webassembly", RuntimeKind::WASM),
    ];

    /// A kind by its name: 1 to 64 characters of `a-z`, `0-9`, `-` and `_`, starting with a
    /// letter.
    pub fn new(name: &str) -> Result<Self, InvalidInput> {
        let valid = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid {
            return Err(InvalidInput::new(format!(
                "invalid runtime kind `{name}`: use 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter"
            )));
        }
        Ok(
            match [Self::PYTHON3, Self::NODEJS, Self::WASM]
                .into_iter()
                .find(|k| k.as_str() == name)
            {
                Some(builtin) => builtin,
                None => RuntimeKind(Cow::Owned(name.to_owned())),
            },
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kind a runtime `image` names: the image's last path segment without its tag, with
    /// Qinling's image names (`openstackqinling/python3-runtime:latest`, with or without a
    /// registry) mapped to the built-in kinds. Whether the kind exists on this server is checked
    /// by the engine.
    pub fn from_image(image: &str) -> Result<Self, InvalidInput> {
        let trimmed = image.trim();
        // An image reference never starts with `/`: that is a host path, never accepted.
        if trimmed.starts_with('/') {
            return Err(InvalidInput::new(format!(
                "invalid runtime image `{image}`: name a runtime kind such as `python3`, not a path"
            )));
        }
        let without_tag = match trimmed.rsplit_once(':') {
            // A `:` after the last `/` is a tag; one before it belongs to a registry host:port.
            Some((name, tag)) if !tag.contains('/') => name,
            _ => trimmed,
        };
        let base = without_tag.rsplit('/').next().unwrap_or(without_tag);
        if let Some((_, kind)) = Self::ALIASES.iter().find(|(alias, _)| *alias == base) {
            return Ok(kind.clone());
        }
        Self::new(base).map_err(|_| {
            InvalidInput::new(format!(
                "invalid runtime image `{image}`: name a runtime kind such as `python3`"
            ))
        })
    }
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qinling_image_names_map_to_builtin_kinds() {
        for (image, kind) in [
            ("python3", RuntimeKind::PYTHON3),
            ("openstackqinling/python3-runtime", RuntimeKind::PYTHON3),
            (
                "openstackqinling/python3-runtime:0.0.2",
                RuntimeKind::PYTHON3,
            ),
            (
                "docker.io/openstackqinling/python3-runtime:latest",
                RuntimeKind::PYTHON3,
            ),
            (
                "registry:5000/openstackqinling/python3-runtime",
                RuntimeKind::PYTHON3,
            ),
            ("openstackqinling/nodejs-runtime:0.0.1", RuntimeKind::NODEJS),
            ("nodejs", RuntimeKind::NODEJS),
            ("wasm", RuntimeKind::WASM),
        ] {
            assert_eq!(RuntimeKind::from_image(image), Ok(kind), "{image}");
        }
    }

    #[test]
    fn other_images_name_their_own_kind() {
        assert_eq!(
            RuntimeKind::from_image("perl").map(|k| k.to_string()),
            Ok("perl".to_owned())
        );
        assert_eq!(
            RuntimeKind::from_image("ubuntu:22.04").map(|k| k.to_string()),
            Ok("ubuntu".to_owned())
        );
        let err = RuntimeKind::from_image("Bad Image!").expect_err("invalid");
        assert_eq!(
            err.message,
            "invalid runtime image `Bad Image!`: name a runtime kind such as `python3`"
        );
        assert!(RuntimeKind::new("").is_err());
        assert!(RuntimeKind::from_image("/usr/bin/perl").is_err());
        assert!(RuntimeKind::new("9lives").is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["creating", "available", "upgrading", "error", "deleting"] {
            assert_eq!(s.parse::<RuntimeStatus>().map(|s| s.as_str()), Ok(s));
        }
    }
}
