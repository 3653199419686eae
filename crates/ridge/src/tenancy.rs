//! Settings of authentication and quotas: the `[auth]` (with `[auth.keystone]`) and `[quotas]`
//! tables of the TOML file, and the start-up bootstrap of `token` mode. Unknown keys are errors.

use std::time::Duration;

use anyhow::{Context, bail};
use ridge_api::auth::{Auth, KeystoneAuth, KeystoneSettings, token_hash};
use ridge_core::tenancy::{Limit, Quotas, generate_token};
use ridge_core::{ApiToken, Project, ProjectId, Role, TokenId, User, UserId};
use ridge_store::{Store, StoreError};
use serde::Deserialize;

pub const DEFAULT_KEYSTONE_CACHE_SECS: u64 = 60;

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// `none` (default), `token` or `keystone`.
    pub mode: Option<AuthModeFile>,
    /// `token` mode: the first admin's token, stored (hashed) at the first start. Without it a
    /// token is generated and printed once.
    pub bootstrap_token: Option<String>,
    /// `keystone` mode: how to reach Keystone.
    pub keystone: Option<KeystoneFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthModeFile {
    None,
    Token,
    Keystone,
}

/// `[auth.keystone]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeystoneFile {
    /// The identity endpoint with `/v3`, e.g. `http://keystone:5000/v3`.
    pub auth_url: Option<String>,
    /// Ridge's service user, which needs a role that may validate tokens (`service` or `admin`).
    pub username: Option<String>,
    pub password: Option<String>,
    /// The service user's project (default `service`).
    pub project_name: Option<String>,
    /// Default `Default`.
    pub user_domain_name: Option<String>,
    /// Default `Default`.
    pub project_domain_name: Option<String>,
    /// Seconds a validated token is trusted before Keystone is asked again (default 60).
    pub cache_seconds: Option<u64>,
    /// Role names that make a caller an admin (default `["admin"]`).
    pub admin_roles: Option<Vec<String>>,
}

/// `[quotas]`: per-project defaults; a missing key means no limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotasFile {
    pub functions: Option<u64>,
    pub package_bytes: Option<u64>,
    pub concurrent_executions: Option<u64>,
    pub executions_per_second: Option<u64>,
    /// Jobs that may still run (running or paused).
    pub jobs: Option<u64>,
}

/// The auth mode after validation.
#[derive(Debug, Clone)]
pub enum AuthSettings {
    None,
    Token { bootstrap_token: Option<String> },
    Keystone(KeystoneSettings),
}

impl AuthSettings {
    /// Keystone over HTTPS also trusts `--ca-bundle`.
    pub fn trusting(self, bundle: Option<&crate::tls::CaBundle>) -> Self {
        match (self, bundle) {
            (AuthSettings::Keystone(mut k), Some(bundle)) => {
                k.ca_roots = bundle.roots.clone();
                AuthSettings::Keystone(k)
            }
            (settings, _) => settings,
        }
    }

    pub fn from_file(file: Option<AuthFile>) -> anyhow::Result<Self> {
        let file = file.unwrap_or_default();
        let mode = file.mode.unwrap_or(AuthModeFile::None);
        if file.bootstrap_token.is_some() && mode != AuthModeFile::Token {
            bail!("auth.bootstrap_token is only used with auth.mode = \"token\"");
        }
        if file.keystone.is_some() && mode != AuthModeFile::Keystone {
            bail!("[auth.keystone] is only used with auth.mode = \"keystone\"");
        }
        match mode {
            AuthModeFile::None => Ok(AuthSettings::None),
            AuthModeFile::Token => {
                if let Some(t) = &file.bootstrap_token
                    && t.trim().len() < 16
                {
                    bail!("invalid auth.bootstrap_token: use at least 16 characters");
                }
                Ok(AuthSettings::Token {
                    bootstrap_token: file.bootstrap_token,
                })
            }
            AuthModeFile::Keystone => {
                let k = file.keystone.context(
                    "auth.mode = \"keystone\" needs an [auth.keystone] table with auth_url, username and password",
                )?;
                let need = |v: Option<String>, key: &str| {
                    v.filter(|s| !s.is_empty()).with_context(|| {
                        format!("auth.keystone.{key} is required in keystone mode")
                    })
                };
                let auth_url = need(k.auth_url, "auth_url")?;
                if !auth_url.starts_with("http://") && !auth_url.starts_with("https://") {
                    bail!(
                        "invalid auth.keystone.auth_url `{auth_url}`: expected https://host:port/v3 (or http://)"
                    );
                }
                Ok(AuthSettings::Keystone(KeystoneSettings {
                    auth_url: auth_url.trim_end_matches('/').to_owned(),
                    username: need(k.username, "username")?,
                    password: need(k.password, "password")?,
                    project_name: k.project_name.unwrap_or_else(|| "service".to_owned()),
                    user_domain_name: k.user_domain_name.unwrap_or_else(|| "Default".to_owned()),
                    project_domain_name: k
                        .project_domain_name
                        .unwrap_or_else(|| "Default".to_owned()),
                    cache_ttl: Duration::from_secs(
                        k.cache_seconds.unwrap_or(DEFAULT_KEYSTONE_CACHE_SECS),
                    ),
                    admin_roles: k.admin_roles.unwrap_or_else(|| vec!["admin".to_owned()]),
                    ca_roots: Vec::new(),
                }))
            }
        }
    }

    /// The API's authenticator.
    pub fn build(&self) -> anyhow::Result<Auth> {
        Ok(match self {
            AuthSettings::None => Auth::None,
            AuthSettings::Token { .. } => Auth::Token,
            AuthSettings::Keystone(k) => Auth::Keystone(Box::new(
                KeystoneAuth::new(k.clone()).context("cannot set up the Keystone client")?,
            )),
        })
    }
}

pub fn quotas_from_file(file: Option<QuotasFile>) -> Quotas {
    let file = file.unwrap_or_default();
    Quotas {
        functions: Limit::from_value(file.functions),
        package_bytes: Limit::from_value(file.package_bytes),
        concurrent_executions: Limit::from_value(file.concurrent_executions),
        executions_per_second: Limit::from_value(file.executions_per_second),
        jobs: Limit::from_value(file.jobs),
    }
}

/// `token` mode's first start: when the store has no user yet, creates project `default`, its
/// admin user `admin`, and a token for it (the configured one, or a new one, returned so that
/// it can be printed once).
pub async fn bootstrap(
    store: &dyn Store,
    configured: Option<&str>,
) -> anyhow::Result<Option<String>> {
    if store.count_users().await? > 0 {
        return Ok(None);
    }
    let now = ridge_core::time::now();
    let project = Project {
        id: ProjectId::default_project(),
        description: Some("created at the first start".to_owned()),
        created_at: now,
    };
    match store.create_project(&project).await {
        Ok(()) | Err(StoreError::DuplicateProject { .. }) => {}
        Err(e) => return Err(e).context("cannot create the bootstrap project"),
    }
    let admin = User {
        id: UserId::new(),
        name: "admin".to_owned(),
        project_id: project.id,
        role: Role::Admin,
        created_at: now,
    };
    store
        .create_user(&admin)
        .await
        .context("cannot create the bootstrap admin")?;
    let (secret, generated) = match configured {
        Some(t) => (t.trim().to_owned(), false),
        None => (generate_token(), true),
    };
    store
        .create_token(&ApiToken {
            id: TokenId::new(),
            user_id: admin.id,
            hash: token_hash(&secret),
            description: Some("bootstrap".to_owned()),
            expires_at: None,
            revoked_at: None,
            created_at: now,
        })
        .await
        .context("cannot store the bootstrap token")?;
    tracing::info!(user = %admin.id, "created the bootstrap admin `admin` of project `default`");
    Ok(generated.then_some(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<AuthSettings> {
        #[derive(Deserialize)]
        struct Top {
            auth: Option<AuthFile>,
        }
        let top: Top = toml::from_str(text)?;
        AuthSettings::from_file(top.auth)
    }

    #[test]
    fn modes_and_their_settings() {
        assert!(matches!(parse("").expect("default"), AuthSettings::None));
        assert!(matches!(
            parse("[auth]\nmode = \"token\"").expect("token"),
            AuthSettings::Token {
                bootstrap_token: None
            }
        ));
        let k = parse(
            "[auth]\nmode = \"keystone\"\n[auth.keystone]\nauth_url = \"http://k:5000/v3/\"\nusername = \"ridge\"\npassword = \"pw\"",
        )
        .expect("keystone");
        let AuthSettings::Keystone(k) = k else {
            panic!("keystone mode");
        };
        assert_eq!(k.auth_url, "http://k:5000/v3");
        assert_eq!(k.project_name, "service");
        assert_eq!(k.cache_ttl, Duration::from_secs(60));
        let keystone = |url: &str| {
            parse(&format!(
                "[auth]\nmode = \"keystone\"\n[auth.keystone]\nauth_url = \"{url}\"\nusername = \"ridge\"\npassword = \"pw\""
            ))
        };
        // HTTPS, with --ca-bundle's roots added to the system's.
        let tls = keystone("https://keystone.internal:5000/v3").expect("https");
        let bundle = crate::tls::CaBundle {
            path: "ca.pem".into(),
            roots: Vec::new(),
        };
        assert!(matches!(
            tls.trusting(Some(&bundle)),
            AuthSettings::Keystone(_)
        ));
        let why = keystone("ftp://k/v3").expect_err("not HTTP");
        assert!(why.to_string().contains("expected https://"), "{why}");
        assert!(parse("[auth]\nmode = \"keystone\"").is_err());
        assert!(parse("[auth]\nmode = \"ldap\"").is_err());
        assert!(parse("[auth]\nbootstrap_token = \"0123456789abcdef\"").is_err());
        assert!(parse("[auth]\nmode = \"token\"\nbootstrap_token = \"short\"").is_err());
    }

    #[test]
    fn quota_defaults_are_unlimited_unless_set() {
        let q = quotas_from_file(Some(QuotasFile {
            functions: Some(5),
            ..QuotasFile::default()
        }));
        assert_eq!(q.functions, Limit::At(5));
        assert_eq!(q.concurrent_executions, Limit::Unlimited);
    }
}
