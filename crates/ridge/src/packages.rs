//! Where packages live: `--packages URL` (`RIDGE_PACKAGES`, `[packages] url`), either
//! `file://PATH` (the default, `<data_dir>/packages`) or `s3://BUCKET[/PREFIX]`. For S3, the
//! standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ALLOW_HTTP`) over the same keys in `[packages]`
//! (`endpoint_url`, `access_key_id`, ...), as flags and variables win over the file elsewhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use ridge_package::s3::{DEFAULT_REGION, S3Credentials};
use ridge_package::{
    LocalPackageStore, PackageStore, S3Config, S3Location, S3PackageStore, UnpackLimits,
};
use serde::Deserialize;

/// `[packages]`: every key optional.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackagesFile {
    /// `file://PATH` or `s3://BUCKET[/PREFIX]`.
    pub url: Option<String>,
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub allow_http: Option<bool>,
}

impl std::fmt::Debug for PackagesFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackagesFile")
            .field("url", &self.url)
            .field("endpoint_url", &self.endpoint_url)
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

/// The AWS variables of the environment, read once by `ridge serve` (tests pass their own).
#[derive(Default, Clone)]
pub struct AwsEnv {
    pub endpoint_url: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub allow_http: Option<String>,
}

impl std::fmt::Debug for AwsEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsEnv")
            .field("endpoint_url", &self.endpoint_url)
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

impl AwsEnv {
    pub fn from_process() -> Self {
        // Unset and empty are the same, as the AWS tools treat them.
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            endpoint_url: var("AWS_ENDPOINT_URL"),
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            session_token: var("AWS_SESSION_TOKEN"),
            region: var("AWS_REGION"),
            allow_http: var("AWS_ALLOW_HTTP"),
        }
    }
}

/// The package store to open.
#[derive(Debug, Clone)]
pub enum PackagesSettings {
    Local {
        root: PathBuf,
    },
    S3 {
        location: S3Location,
        config: S3Config,
    },
}

impl PackagesSettings {
    /// An S3 endpoint over HTTPS also trusts `--ca-bundle`.
    pub fn trusting(self, bundle: Option<&crate::tls::CaBundle>) -> Self {
        match (self, bundle) {
            (
                PackagesSettings::S3 {
                    location,
                    mut config,
                },
                Some(bundle),
            ) => {
                config.ca_roots = bundle.roots.clone();
                PackagesSettings::S3 { location, config }
            }
            (settings, _) => settings,
        }
    }

    /// `url` (flag or `RIDGE_PACKAGES`) over `[packages] url` over `<data_dir>/packages`.
    pub fn resolve(
        url: Option<String>,
        file: Option<PackagesFile>,
        env: AwsEnv,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let file = file.unwrap_or_default();
        let Some(url) = url.or_else(|| file.url.clone()) else {
            return Ok(Self::Local {
                root: data_dir.join("packages"),
            });
        };
        if let Some(path) = url.strip_prefix("file://") {
            let root = PathBuf::from(path);
            if !root.is_absolute() {
                bail!(
                    "invalid packages URL `{url}`: a file URL needs an absolute path, such as file:///var/lib/ridge/packages"
                );
            }
            let s3_keys = [
                file.endpoint_url.is_some(),
                file.access_key_id.is_some(),
                file.secret_access_key.is_some(),
                file.session_token.is_some(),
                file.region.is_some(),
                file.allow_http.is_some(),
            ];
            if s3_keys.contains(&true) {
                bail!(
                    "[packages] has S3 settings but the packages URL `{url}` is a directory: remove them or use s3://BUCKET"
                );
            }
            return Ok(Self::Local { root });
        }
        if url.starts_with("s3://") {
            let location = S3Location::parse(&url)?;
            return Ok(Self::S3 {
                location,
                config: s3_config(file, env)?,
            });
        }
        bail!("invalid packages URL `{url}`: expected file:///PATH or s3://BUCKET[/PREFIX]")
    }

    /// Opens the store and empties this node's unpacked copies (they are not fsynced, so after a
    /// crash one could be incomplete; they are rebuilt on demand). For S3, checks the bucket and
    /// the credentials first.
    ///
    /// `tmpfs`: unpack each package into a tmpfs of its own, within that many bytes (only in a
    /// private mount namespace).
    pub async fn open(
        &self,
        data_dir: &Path,
        limits: UnpackLimits,
        tmpfs: Option<u64>,
    ) -> anyhow::Result<Arc<dyn PackageStore>> {
        let unpacked = data_dir.join("unpacked");
        match self {
            Self::Local { root } => {
                let mut store = LocalPackageStore::new(root.clone(), unpacked, limits);
                if let Some(capacity) = tmpfs {
                    store = store.unpack_in_tmpfs(capacity);
                }
                store
                    .clear_unpacked()
                    .await
                    .context("cannot clear the unpacked packages")?;
                Ok(Arc::new(store))
            }
            Self::S3 { location, config } => {
                let store = S3PackageStore::connect(
                    location.clone(),
                    config,
                    data_dir.join("package-cache"),
                    unpacked,
                    limits,
                )
                .await
                .with_context(|| format!("cannot use the package store `{location}`"))?;
                let store = match tmpfs {
                    Some(capacity) => store.unpack_in_tmpfs(capacity),
                    None => store,
                };
                store
                    .clear_cache()
                    .await
                    .context("cannot clear the package cache")?;
                Ok(Arc::new(store))
            }
        }
    }
}

fn s3_config(file: PackagesFile, env: AwsEnv) -> anyhow::Result<S3Config> {
    let (Some(access_key_id), Some(secret_access_key)) = (
        env.access_key_id.or(file.access_key_id),
        env.secret_access_key.or(file.secret_access_key),
    ) else {
        bail!(
            "S3 packages need credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or access_key_id and secret_access_key in [packages])"
        );
    };
    let allow_http = match env.allow_http {
        Some(text) => match text.to_ascii_lowercase().as_str() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => bail!("invalid AWS_ALLOW_HTTP `{text}`: expected true or false"),
        },
        None => file.allow_http.unwrap_or(false),
    };
    Ok(S3Config {
        endpoint: env.endpoint_url.or(file.endpoint_url),
        region: env
            .region
            .or(file.region)
            .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
        credentials: S3Credentials {
            access_key_id,
            secret_access_key,
            session_token: env.session_token.or(file.session_token),
        },
        allow_http,
        ca_roots: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(url: Option<&str>, toml: &str, env: AwsEnv) -> anyhow::Result<PackagesSettings> {
        let file: PackagesFile = toml::from_str(toml).expect("valid toml");
        PackagesSettings::resolve(url.map(str::to_owned), Some(file), env, Path::new("/d"))
    }

    fn keys() -> AwsEnv {
        AwsEnv {
            access_key_id: Some("env-key".into()),
            secret_access_key: Some("env-secret".into()),
            ..AwsEnv::default()
        }
    }

    #[test]
    fn the_default_is_the_data_directory() {
        let s = resolve(None, "", AwsEnv::default()).expect("valid");
        assert!(matches!(s, PackagesSettings::Local { root } if root == Path::new("/d/packages")));
        let s = resolve(Some("file:///srv/p"), "url = \"s3://ignored\"", keys()).expect("valid");
        assert!(matches!(s, PackagesSettings::Local { root } if root == Path::new("/srv/p")));
    }

    #[test]
    fn s3_settings_come_from_the_environment_over_the_file() {
        let toml = "url = \"s3://ridge-pkgs/cluster\"\nendpoint_url = \"http://file:1\"\n\
                    access_key_id = \"file-key\"\nsecret_access_key = \"file-secret\"\n\
                    allow_http = true\nregion = \"eu-west-1\"";
        let PackagesSettings::S3 { location, config } =
            resolve(None, toml, AwsEnv::default()).expect("valid")
        else {
            panic!("an S3 store");
        };
        assert_eq!(location.bucket, "ridge-pkgs");
        assert_eq!(location.prefix, "cluster/");
        assert_eq!(config.endpoint.as_deref(), Some("http://file:1"));
        assert_eq!(config.credentials.access_key_id, "file-key");
        assert_eq!(config.region, "eu-west-1");
        assert!(config.allow_http);

        let env = AwsEnv {
            endpoint_url: Some("https://env:2".into()),
            region: Some("us-west-2".into()),
            allow_http: Some("false".into()),
            ..keys()
        };
        let PackagesSettings::S3 { config, .. } = resolve(None, toml, env).expect("valid") else {
            panic!("an S3 store");
        };
        assert_eq!(config.endpoint.as_deref(), Some("https://env:2"));
        assert_eq!(config.credentials.access_key_id, "env-key");
        assert_eq!(config.credentials.secret_access_key, "env-secret");
        assert_eq!(config.region, "us-west-2");
        assert!(!config.allow_http);
        // The secret never shows in a debug print.
        assert!(!format!("{config:?}").contains("env-secret"));

        let PackagesSettings::S3 { config, .. } =
            resolve(Some("s3://bucket"), "", keys()).expect("valid")
        else {
            panic!("an S3 store");
        };
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.endpoint(), "https://s3.us-east-1.amazonaws.com");
        assert!(!config.allow_http);
    }

    #[test]
    fn bad_settings_are_explained() {
        for (url, toml, env, expected) in [
            (
                Some("s3://bucket"),
                "",
                AwsEnv::default(),
                "need credentials",
            ),
            (Some("/srv/p"), "", keys(), "expected file:///PATH or s3://"),
            (Some("file://relative"), "", keys(), "absolute path"),
            (Some("s3://Bad_Bucket"), "", keys(), "valid bucket name"),
            (
                Some("file:///p"),
                "access_key_id = \"k\"",
                keys(),
                "has S3 settings",
            ),
            (
                Some("s3://bucket"),
                "",
                AwsEnv {
                    allow_http: Some("yes".into()),
                    ..keys()
                },
                "invalid AWS_ALLOW_HTTP `yes`",
            ),
        ] {
            let err = format!("{:#}", resolve(url, toml, env).expect_err(expected));
            assert!(err.contains(expected), "{err}");
        }
        assert!(toml::from_str::<PackagesFile>("bucket = \"x\"").is_err());
    }
}
