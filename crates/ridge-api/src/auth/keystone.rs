//! `keystone` auth mode: a user's token is validated against an OpenStack Keystone v3 endpoint
//! with `GET /v3/auth/tokens` (the user's token in `X-Subject-Token`, Ridge's own service token
//! in `X-Auth-Token`), as keystonemiddleware does for Qinling. The caller's project, user and
//! roles come from Keystone's answer; `admin_roles` (default `admin`) make a caller an admin.
//!
//! Answers are cached for `cache_ttl` (never past the token's own expiry), keyed by the token's
//! SHA-256, so a busy client costs Keystone one call per token and period. Refusals are cached
//! briefly too, and rate-limited per client address ([`super::refusals`]), so bad tokens cost
//! Keystone little whoever sends them. Ridge's service token
//! is fetched with its password credentials and renewed before it expires, or when Keystone
//! refuses it. Both expiries are read on the [`Clock`] Ridge is given, so tests move time
//! rather than wait (Keystone's own refusal of an expired token is Keystone's clock). Plain HTTP only (the client is built without TLS): put Keystone on a trusted
//! network or loopback.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use ridge_core::{Clock, ProjectId};
use serde::Deserialize;
use serde_json::json;

use super::refusals::Refusals;
use super::token_hash;
use crate::ApiError;
use crate::context::Caller;

/// Renew Ridge's service token this long before it expires.
const SERVICE_TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// Past this many cached answers, expired ones are dropped.
const CACHE_PRUNE_AT: usize = 10_000;

#[derive(Debug, Clone)]
pub struct KeystoneSettings {
    /// The identity endpoint including `/v3`, e.g. `http://keystone:5000/v3`.
    pub auth_url: String,
    /// Ridge's own service user, with a role that may validate tokens (`service` or `admin`).
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// How long a validated token is trusted without asking Keystone again.
    pub cache_ttl: Duration,
    /// Role names that make a caller an admin (Qinling's `role:admin`).
    pub admin_roles: Vec<String>,
    /// CA certificates trusted for an `https://` `auth_url` besides the system's roots.
    pub ca_roots: Vec<reqwest::Certificate>,
}

#[derive(Debug)]
pub struct KeystoneAuth {
    settings: KeystoneSettings,
    http: reqwest::Client,
    /// Ridge's own token and when to renew it.
    service_token: tokio::sync::Mutex<Option<(String, Instant)>>,
    cache: Mutex<HashMap<String, (Caller, Instant)>>,
    refusals: Refusals,
}

#[derive(Debug, Deserialize)]
struct TokenBody {
    token: TokenData,
}

#[derive(Debug, Deserialize)]
struct TokenData {
    expires_at: String,
    #[serde(default)]
    project: Option<IdOnly>,
    user: IdOnly,
    #[serde(default)]
    roles: Vec<RoleRef>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Deserialize)]
struct RoleRef {
    name: String,
}

fn invalid_token() -> ApiError {
    ApiError::Unauthorized(
        "invalid token: Keystone does not know it or it expired; get a new one (`openstack token issue`)".to_owned(),
    )
}

/// Why Keystone could not be used (a platform failure: 500, logged, never shown).
#[derive(Debug, thiserror::Error)]
pub enum KeystoneError {
    #[error("cannot reach keystone at `{url}`")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("keystone refused ridge's service credentials for user `{user}` ({status})")]
    ServiceLogin { user: String, status: StatusCode },
    #[error("keystone answered {status} when validating a token")]
    Unexpected { status: StatusCode },
    #[error("keystone sent an answer ridge cannot read: {detail}")]
    BadAnswer { detail: String },
}

impl KeystoneAuth {
    pub fn new(settings: KeystoneSettings) -> Result<Self, KeystoneError> {
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30));
        for root in &settings.ca_roots {
            http = http.add_root_certificate(root.clone());
        }
        let http = http.build().map_err(|source| KeystoneError::Unreachable {
            url: settings.auth_url.clone(),
            source,
        })?;
        Ok(Self {
            settings,
            http,
            service_token: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
            refusals: Refusals::default(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.settings.auth_url.trim_end_matches('/'))
    }

    fn unreachable(&self, source: reqwest::Error) -> ApiError {
        ApiError::internal(KeystoneError::Unreachable {
            url: self.settings.auth_url.clone(),
            source,
        })
    }

    /// The caller a user's token stands for; `client` is the sender's address, when known.
    pub async fn validate(
        &self,
        token: &str,
        clock: &dyn Clock,
        client: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        let key = token_hash(token);
        let now = clock.instant();
        if let Some(caller) = self.cached(&key, now) {
            return Ok(caller);
        }
        if self.refusals.was_refused(&key, now) {
            return Err(invalid_token());
        }
        if let Err(wait) = self.refusals.budget_left(client, now) {
            let secs = wait.as_secs().max(1);
            return Err(ApiError::TooManyRequests(format!(
                "too many invalid tokens from this address: retry in {secs} s with a valid token (`openstack token issue`)"
            )));
        }
        let result = self.ask_keystone(token, &key, clock, now).await;
        if matches!(result, Err(ApiError::Unauthorized(_))) {
            self.refusals.refused(key, client, now);
        }
        result
    }

    /// Asks Keystone about a token that is neither cached nor recently refused.
    async fn ask_keystone(
        &self,
        token: &str,
        key: &str,
        clock: &dyn Clock,
        now: Instant,
    ) -> Result<Caller, ApiError> {
        let mut answer = self.ask(token, false, clock).await?;
        if matches!(
            answer.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            // Ridge's own token expired or was revoked: log in again, once.
            answer = self.ask(token, true, clock).await?;
        }
        match answer.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::UNAUTHORIZED => return Err(invalid_token()),
            status => return Err(ApiError::internal(KeystoneError::Unexpected { status })),
        }
        let body: TokenBody = answer.json().await.map_err(|e| {
            ApiError::internal(KeystoneError::BadAnswer {
                detail: e.to_string(),
            })
        })?;
        let data = body.token;
        let Some(project) = data.project else {
            return Err(ApiError::Unauthorized(
                "the token is not scoped to a project: request a project-scoped token (`--os-project-name`)".to_owned(),
            ));
        };
        let project: ProjectId = project.id.parse().map_err(|e| {
            ApiError::internal(KeystoneError::BadAnswer {
                detail: format!("{e}"),
            })
        })?;
        let roles: Vec<String> = data.roles.into_iter().map(|r| r.name).collect();
        let caller = Caller {
            project,
            is_admin: roles.iter().any(|r| self.settings.admin_roles.contains(r)),
            user: Some(data.user.id),
            roles,
        };
        let expires = DateTime::parse_from_rfc3339(&data.expires_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                ApiError::internal(KeystoneError::BadAnswer {
                    detail: format!("bad expires_at `{}`: {e}", data.expires_at),
                })
            })?;
        let until = now + self.trust_for(expires, clock);
        self.remember(key.to_owned(), caller.clone(), until, now);
        Ok(caller)
    }

    /// How long an answer about a token that expires at `expires` may be trusted from now: the
    /// cache period, never past the token's expiry.
    fn trust_for(&self, expires: DateTime<Utc>, clock: &dyn Clock) -> Duration {
        let left = (expires - clock.now()).to_std().unwrap_or(Duration::ZERO);
        left.min(self.settings.cache_ttl)
    }

    fn cached(&self, key: &str, now: Instant) -> Option<Caller> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(caller, _)| caller.clone())
    }

    fn remember(&self, key: String, caller: Caller, until: Instant, now: Instant) {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= CACHE_PRUNE_AT {
            cache.retain(|_, (_, u)| *u > now);
        }
        cache.insert(key, (caller, until));
    }

    /// `GET /v3/auth/tokens` for `token`, with the service token (renewed first if `renew`).
    async fn ask(
        &self,
        token: &str,
        renew: bool,
        clock: &dyn Clock,
    ) -> Result<reqwest::Response, ApiError> {
        let service = self.service_token(renew, clock).await?;
        self.http
            .get(self.url("auth/tokens?nocatalog"))
            .header("X-Auth-Token", service)
            .header("X-Subject-Token", token)
            .send()
            .await
            .map_err(|e| self.unreachable(e))
    }

    async fn service_token(&self, renew: bool, clock: &dyn Clock) -> Result<String, ApiError> {
        let mut held = self.service_token.lock().await;
        if !renew
            && let Some((token, renew_at)) = held.as_ref()
            && *renew_at > clock.instant()
        {
            return Ok(token.clone());
        }
        let s = &self.settings;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": s.username, "domain": {"name": s.user_domain_name}, "password": s.password,
            }}},
            "scope": {"project": {"name": s.project_name, "domain": {"name": s.project_domain_name}}},
        }});
        let answer = self
            .http
            .post(self.url("auth/tokens?nocatalog"))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if answer.status() != StatusCode::CREATED {
            return Err(ApiError::internal(KeystoneError::ServiceLogin {
                user: s.username.clone(),
                status: answer.status(),
            }));
        }
        let token = answer
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::internal(KeystoneError::BadAnswer {
                    detail: "no X-Subject-Token header on the service login".to_owned(),
                })
            })?;
        let body: TokenBody = answer.json().await.map_err(|e| {
            ApiError::internal(KeystoneError::BadAnswer {
                detail: e.to_string(),
            })
        })?;
        let left = DateTime::parse_from_rfc3339(&body.token.expires_at)
            .ok()
            .and_then(|t| (t.with_timezone(&Utc) - clock.now()).to_std().ok())
            .unwrap_or(Duration::ZERO);
        // Renew a little before it expires: 30 s, or a quarter of a short lifetime.
        let margin = SERVICE_TOKEN_MARGIN.min(left / 4);
        *held = Some((token.clone(), clock.instant() + left - margin));
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use ridge_core::ManualClock;

    use super::*;

    fn keystone(cache_ttl: Duration) -> KeystoneAuth {
        KeystoneAuth::new(KeystoneSettings {
            auth_url: "http://127.0.0.1:9/v3".into(),
            username: "ridge".into(),
            password: "secret".into(),
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            cache_ttl,
            admin_roles: vec!["admin".into()],
            ca_roots: Vec::new(),
        })
        .expect("a client")
    }

    #[test]
    fn a_cached_answer_lasts_the_cache_period_but_never_past_the_token() {
        let clock = ManualClock::starting_now();
        let ks = keystone(Duration::from_secs(60));
        let caller = Caller::anonymous_admin();
        // A token with ten seconds left is trusted for ten seconds, not sixty.
        let expires = clock.now() + chrono::Duration::seconds(10);
        let until = clock.instant() + ks.trust_for(expires, &clock);
        ks.remember("k".into(), caller.clone(), until, clock.instant());
        assert_eq!(ks.cached("k", clock.instant()), Some(caller.clone()));
        clock.advance(Duration::from_secs(9));
        assert_eq!(ks.cached("k", clock.instant()), Some(caller.clone()));
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            ks.cached("k", clock.instant()),
            None,
            "expired with the token"
        );

        // A long-lived token is trusted for the cache period only.
        let expires = clock.now() + chrono::Duration::hours(1);
        assert_eq!(ks.trust_for(expires, &clock), Duration::from_secs(60));
        // An already expired one is not trusted at all.
        let expired = clock.now() - chrono::Duration::seconds(1);
        assert_eq!(ks.trust_for(expired, &clock), Duration::ZERO);
    }

    /// A stand-in Keystone on loopback that logs Ridge's service user in and knows no user
    /// token; it counts the validations it is asked for.
    async fn stand_in_keystone() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        use axum::routing::post;

        let asked = Arc::new(AtomicUsize::new(0));
        let counter = asked.clone();
        let app = axum::Router::new().route(
            "/v3/auth/tokens",
            post(|| async {
                let body = json!({"token": {
                    "expires_at": "2999-01-01T00:00:00Z",
                    "user": {"id": "ridge"},
                    "project": {"id": "service"},
                }});
                (
                    StatusCode::CREATED,
                    [("x-subject-token", "service-token")],
                    axum::Json(body),
                )
            })
            .get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::NOT_FOUND }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/v3", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, asked)
    }

    #[tokio::test]
    async fn refused_tokens_are_cached_and_rate_limited_per_address() {
        use std::sync::atomic::Ordering;

        let (url, asked) = stand_in_keystone().await;
        let ks = KeystoneAuth::new(KeystoneSettings {
            auth_url: url,
            ..keystone(Duration::from_secs(60)).settings
        })
        .expect("a client");
        let clock = ManualClock::starting_now();
        let a: Option<IpAddr> = Some("192.0.2.1".parse().expect("ip"));
        let b: Option<IpAddr> = Some("192.0.2.2".parse().expect("ip"));

        // The same bad token twice: Keystone is asked once.
        for _ in 0..2 {
            let err = ks.validate("bad-token", &clock, a).await.expect_err("bad");
            assert!(matches!(err, ApiError::Unauthorized(_)), "{err:?}");
        }
        assert_eq!(asked.load(Ordering::SeqCst), 1);

        // A stream of new bad tokens from one address: past its budget, 429 without asking.
        let mut statuses = Vec::new();
        for i in 0..40 {
            let err = ks
                .validate(&format!("guess-{i}"), &clock, a)
                .await
                .expect_err("bad");
            statuses.push(matches!(err, ApiError::TooManyRequests(_)));
        }
        let burst = super::super::refusals::BURST as usize;
        assert_eq!(asked.load(Ordering::SeqCst), burst, "{statuses:?}");
        assert!(statuses[burst - 1..].iter().all(|limited| *limited));
        // Another address is still heard; the first is again after its budget refills.
        assert!(matches!(
            ks.validate("other", &clock, b).await,
            Err(ApiError::Unauthorized(_))
        ));
        clock.advance(Duration::from_secs(2));
        assert!(matches!(
            ks.validate("later", &clock, a).await,
            Err(ApiError::Unauthorized(_))
        ));
        assert_eq!(asked.load(Ordering::SeqCst), burst + 2);
        // The cached refusal expires.
        clock.advance(super::super::refusals::REFUSAL_TTL);
        let _ = ks.validate("bad-token", &clock, b).await;
        assert_eq!(asked.load(Ordering::SeqCst), burst + 3);
    }
}
