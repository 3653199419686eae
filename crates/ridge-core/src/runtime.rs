//! Runtimes: what an admin registers so that functions can run. On the local backend the
//! runtime's `image` names a built-in runtime kind rather than a container image.

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

/// The runtime kinds built into this Ridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Python3,
}

impl RuntimeKind {
    pub const ALL: &'static [RuntimeKind] = &[RuntimeKind::Python3];

    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Python3 => "python3",
        }
    }

    /// Maps a runtime `image` to a kind. Besides the kind's own name, Qinling's image names
    /// (`openstackqinling/python3-runtime`, with or without a tag or registry) are accepted so
    /// that Qinling-era scripts keep working.
    pub fn from_image(image: &str) -> Result<Self, InvalidInput> {
        let trimmed = image.trim();
        let without_tag = match trimmed.rsplit_once(':') {
            // A `:` after the last `/` is a tag; one before it belongs to a registry host:port.
            Some((name, tag)) if !tag.contains('/') => name,
            _ => trimmed,
        };
        let base = without_tag.rsplit('/').next().unwrap_or(without_tag);
        match base {
            "python3" | "python" | "python3-runtime" | "python-runtime" => Ok(RuntimeKind::Python3),
            _ => Err(InvalidInput::new(format!(
                "unknown runtime image `{image}`: known runtime kinds are {}",
                Self::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
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
    fn qinling_image_names_map_to_python3() {
        for image in [
            "python3",
            "openstackqinling/python3-runtime",
            "openstackqinling/python3-runtime:0.0.2",
            "docker.io/openstackqinling/python3-runtime:latest",
            "registry:5000/openstackqinling/python3-runtime",
        ] {
            assert_eq!(
                RuntimeKind::from_image(image),
                Ok(RuntimeKind::Python3),
                "{image}"
            );
        }
    }

    #[test]
    fn unknown_images_list_the_known_kinds() {
        let err = RuntimeKind::from_image("ubuntu:22.04").expect_err("unknown");
        assert_eq!(
            err.message,
            "unknown runtime image `ubuntu:22.04`: known runtime kinds are python3"
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in ["creating", "available", "upgrading", "error", "deleting"] {
            assert_eq!(s.parse::<RuntimeStatus>().map(|s| s.as_str()), Ok(s));
        }
    }
}
