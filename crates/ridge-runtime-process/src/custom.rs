//! Runtime kinds an operator declares in the server's configuration file: any program that
//! speaks the worker protocol (docs/runtime-protocol.md), started like the built-in runtimes,
//! in the same sandbox with the same limits. The API only ever names a declared kind; the
//! command comes from the configuration file alone.

use std::ffi::OsString;
use std::path::PathBuf;

use async_trait::async_trait;
use ridge_core::RuntimeKind;
use ridge_runtime::{CheckError, WorkerSpec};
use ridge_sandbox::is_executable;

use crate::launch::{Launcher, ProcessAdapter, ProcessConfig, Resolved, prefix_of};
use crate::process::{FD_IN_VAR, FD_OUT_VAR};

/// Replaced by the kind's directory in `command` arguments and `env` values.
pub const DIR_PLACEHOLDER: &str = "{dir}";

/// A declared kind, checked: its program exists and is executable, its directory exists.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomKind {
    name: RuntimeKind,
    program: PathBuf,
    args: Vec<String>,
    directory: Option<PathBuf>,
    env: Vec<(String, String)>,
    read_only: Vec<PathBuf>,
}

/// What an operator wrote, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct CustomKindSpec {
    pub name: String,
    /// The program (an absolute path, or `{dir}/...`) and its arguments.
    pub command: Vec<String>,
    /// The directory holding the worker program and its files: shown read-only to workers at
    /// the same path, and the value of `{dir}`. Must be absolute.
    pub directory: Option<PathBuf>,
    /// Variables added to the worker's environment.
    pub env: Vec<(String, String)>,
    /// More host directories (outside `/usr`) the program needs, shown read-only.
    pub read_only: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CustomKindError {
    #[error(
        "invalid name `{0}`: use 1 to 64 characters of a-z, 0-9, `-` and `_`, starting with a letter"
    )]
    Name(String),
    #[error("the name `{name}` is taken by the built-in kind `{builtin}`; choose another name")]
    Builtin { name: String, builtin: RuntimeKind },
    #[error(
        "`command` is empty; give the program and its arguments, e.g. [\"/usr/bin/perl\", \"{{dir}}/worker.pl\"]"
    )]
    EmptyCommand,
    #[error("`command` uses {{dir}} but no `directory` is set")]
    NoDirectory,
    #[error("`directory` `{0}` must be an absolute path")]
    RelativeDirectory(PathBuf),
    #[error("`directory` `{0}` is not a directory on this host")]
    MissingDirectory(PathBuf),
    #[error("the program `{0}` must be an absolute path (or start with {{dir}}/)")]
    RelativeProgram(String),
    #[error("the program `{0}` is not an executable file on this host")]
    NotExecutable(PathBuf),
    #[error("`read_only` path `{0}` must be an absolute path to an existing directory or file")]
    ReadOnly(PathBuf),
    #[error("`env` key `{0}` is not a valid variable name")]
    EnvKey(String),
    #[error("`env` must not set `{0}`: Ridge sets it for the worker")]
    ReservedEnv(String),
}

impl CustomKind {
    /// Checks a declaration against this host.
    pub fn new(spec: CustomKindSpec) -> Result<Self, CustomKindError> {
        let name =
            RuntimeKind::new(&spec.name).map_err(|_| CustomKindError::Name(spec.name.clone()))?;
        // A name that is a built-in kind, or an alias of one, would never reach this kind.
        if let Ok(builtin) = RuntimeKind::from_image(&spec.name)
            && (builtin != name || builtin_kinds().contains(&builtin))
        {
            return Err(CustomKindError::Builtin {
                name: spec.name,
                builtin,
            });
        }
        let directory = match &spec.directory {
            Some(dir) if !dir.is_absolute() => {
                return Err(CustomKindError::RelativeDirectory(dir.clone()));
            }
            Some(dir) if !dir.is_dir() => {
                return Err(CustomKindError::MissingDirectory(dir.clone()));
            }
            Some(dir) => Some(dir.clone()),
            None => None,
        };
        let expand = |text: &str| -> Result<String, CustomKindError> {
            if !text.contains(DIR_PLACEHOLDER) {
                return Ok(text.to_owned());
            }
            let dir = directory.as_ref().ok_or(CustomKindError::NoDirectory)?;
            Ok(text.replace(DIR_PLACEHOLDER, &dir.to_string_lossy()))
        };
        let mut command = spec.command.iter();
        let program = command.next().ok_or(CustomKindError::EmptyCommand)?;
        let program = PathBuf::from(expand(program)?);
        if !program.is_absolute() {
            return Err(CustomKindError::RelativeProgram(spec.command[0].clone()));
        }
        if !is_executable(&program) {
            return Err(CustomKindError::NotExecutable(program));
        }
        let args = command.map(|a| expand(a)).collect::<Result<_, _>>()?;
        let mut env = Vec::new();
        for (key, value) in &spec.env {
            let valid = !key.is_empty()
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !key.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(CustomKindError::EnvKey(key.clone()));
            }
            if key == FD_IN_VAR || key == FD_OUT_VAR {
                return Err(CustomKindError::ReservedEnv(key.clone()));
            }
            env.push((key.clone(), expand(value)?));
        }
        for path in &spec.read_only {
            if !path.is_absolute() || !path.exists() {
                return Err(CustomKindError::ReadOnly(path.clone()));
            }
        }
        Ok(Self {
            name,
            program,
            args,
            directory,
            env,
            read_only: spec.read_only,
        })
    }

    pub fn name(&self) -> &RuntimeKind {
        &self.name
    }

    /// The program and its arguments, `{dir}` expanded.
    pub fn command_line(&self) -> String {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn builtin_kinds() -> [RuntimeKind; 3] {
    [RuntimeKind::PYTHON3, RuntimeKind::NODEJS, RuntimeKind::WASM]
}

impl ProcessAdapter {
    /// A runtime of an operator-declared kind.
    pub fn custom(kind: CustomKind, config: ProcessConfig) -> Self {
        Self::new(kind.name.clone(), Box::new(Custom { kind }), config)
    }
}

struct Custom {
    kind: CustomKind,
}

#[async_trait]
impl Launcher for Custom {
    async fn resolve(&self) -> Result<Resolved, CheckError> {
        let kind = &self.kind;
        if !is_executable(&kind.program) {
            return Err(CheckError::Unavailable(format!(
                "the program `{}` of runtime kind `{}` is not an executable file",
                kind.program.display(),
                kind.name
            )));
        }
        let read_only = kind
            .directory
            .iter()
            .cloned()
            .chain(kind.read_only.iter().cloned())
            .chain(prefix_of(&kind.program))
            .filter(|p| !p.starts_with("/usr"))
            .collect();
        Ok(Resolved {
            program: kind.program.clone(),
            read_only,
            description: format!("{}: {}", kind.name, kind.command_line()),
        })
    }

    fn args(&self, _spec: &WorkerSpec, _name: &str) -> Vec<OsString> {
        self.kind.args.iter().map(OsString::from).collect()
    }

    fn env(&self) -> Vec<(String, String)> {
        self.kind.env.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, command: &[&str]) -> CustomKindSpec {
        CustomKindSpec {
            name: name.to_owned(),
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            ..CustomKindSpec::default()
        }
    }

    #[test]
    fn a_declaration_is_checked_against_the_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = CustomKind::new(CustomKindSpec {
            directory: Some(dir.path().to_owned()),
            env: vec![("LIB".into(), "{dir}/lib".into())],
            ..spec("shell", &["/bin/sh", "{dir}/worker.sh"])
        })
        .expect("valid");
        assert_eq!(ok.name().as_str(), "shell");
        let shown = dir.path().display();
        assert_eq!(ok.command_line(), format!("/bin/sh {shown}/worker.sh"));
        assert_eq!(ok.env, vec![("LIB".to_owned(), format!("{shown}/lib"))]);

        let err = |s| CustomKind::new(s).expect_err("invalid");
        assert!(matches!(
            err(spec("Perl!", &["/bin/sh"])),
            CustomKindError::Name(_)
        ));
        assert!(matches!(
            err(spec("python3", &["/bin/sh"])),
            CustomKindError::Builtin { .. }
        ));
        assert!(matches!(
            err(spec("node", &["/bin/sh"])),
            CustomKindError::Builtin { .. }
        ));
        assert_eq!(err(spec("perl", &[])), CustomKindError::EmptyCommand);
        assert_eq!(
            err(spec("perl", &["/bin/sh", "{dir}/w"])),
            CustomKindError::NoDirectory
        );
        assert!(matches!(
            err(spec("perl", &["perl"])),
            CustomKindError::RelativeProgram(_)
        ));
        assert!(matches!(
            err(spec("perl", &["/nonexistent/perl"])),
            CustomKindError::NotExecutable(_)
        ));
        let reserved = CustomKindSpec {
            env: vec![(FD_IN_VAR.into(), "3".into())],
            ..spec("perl", &["/bin/sh"])
        };
        assert!(matches!(err(reserved), CustomKindError::ReservedEnv(_)));
        let relative = CustomKindSpec {
            directory: Some("examples".into()),
            ..spec("perl", &["/bin/sh"])
        };
        assert!(matches!(
            err(relative),
            CustomKindError::RelativeDirectory(_)
        ));
    }
}
