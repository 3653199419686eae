//! Where the CLI finds its server and token: flags over environment (`RIDGE_URL`,
//! `RIDGE_TOKEN`, `RIDGE_PROFILE`) over a profile of the client config file
//! (`~/.config/ridge/config.toml`, or `RIDGE_CLIENT_CONFIG`) over the local default server.
//!
//! ```toml
//! default_profile = "prod"      # optional; else the profile named `default`, if any
//!
//! [profiles.prod]
//! url = "https://ridge.example.org"
//! token = "ridge_..."
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use super::DEFAULT_URL;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub url: Option<String>,
    pub token: Option<String>,
}

/// The server and token a command uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub token: Option<String>,
}

/// The client config file: `RIDGE_CLIENT_CONFIG`, else `<config dir>/ridge/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    std::env::var_os("RIDGE_CLIENT_CONFIG")
        .map(PathBuf::from)
        .or_else(|| dirs::config_dir().map(|d| d.join("ridge").join("config.toml")))
}

/// Reads the file; a missing file is an empty config.
pub fn load(path: &Path) -> anyhow::Result<ClientConfig> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .with_context(|| format!("invalid client config file `{}`", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ClientConfig::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

/// Applies the precedence: `url`, `token` and `profile` are what flags or the environment
/// said.
pub fn resolve(
    config: &ClientConfig,
    url: Option<String>,
    token: Option<String>,
    profile: Option<&str>,
) -> anyhow::Result<Target> {
    let chosen = match profile {
        Some(name) => match config.profiles.get(name) {
            Some(p) => p.clone(),
            None => bail!(
                "no profile `{name}` in the client config file: known profiles are {}",
                known(config)
            ),
        },
        None => match &config.default_profile {
            Some(name) => config.profiles.get(name).cloned().with_context(|| {
                format!(
                    "default_profile `{name}` is not among the profiles of the client config file ({})",
                    known(config)
                )
            })?,
            None => config.profiles.get("default").cloned().unwrap_or_default(),
        },
    };
    Ok(Target {
        url: url.or(chosen.url).unwrap_or_else(|| DEFAULT_URL.to_owned()),
        token: token.or(chosen.token).filter(|t| !t.is_empty()),
    })
}

fn known(config: &ClientConfig) -> String {
    if config.profiles.is_empty() {
        "none".to_owned()
    } else {
        config
            .profiles
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClientConfig {
        toml::from_str(
            "default_profile = \"prod\"\n[profiles.prod]\nurl = \"http://prod:7070\"\ntoken = \"p\"\n[profiles.dev]\nurl = \"http://dev:7070\"\n",
        )
        .expect("valid")
    }

    #[test]
    fn flags_and_environment_win_over_profiles() {
        let c = config();
        let t = resolve(&c, None, None, None).expect("default profile");
        assert_eq!(
            (t.url.as_str(), t.token.as_deref()),
            ("http://prod:7070", Some("p"))
        );
        let t = resolve(&c, None, None, Some("dev")).expect("named");
        assert_eq!((t.url.as_str(), t.token), ("http://dev:7070", None));
        let t =
            resolve(&c, Some("http://x:1".into()), Some("t".into()), Some("dev")).expect("flags");
        assert_eq!(
            (t.url.as_str(), t.token.as_deref()),
            ("http://x:1", Some("t"))
        );
        let err = resolve(&c, None, None, Some("qa")).expect_err("unknown");
        assert!(err.to_string().contains("`dev`, `prod`"), "{err}");
        let t = resolve(&ClientConfig::default(), None, None, None).expect("empty");
        assert_eq!((t.url.as_str(), t.token), (DEFAULT_URL, None));
        assert!(toml::from_str::<ClientConfig>("[profiles.a]\nurl = \"x\"\ntokn = \"y\"").is_err());
    }
}
