//! Webhooks: a public URL that runs a function (or an alias) asynchronously with the request's
//! form fields, JSON object body and query parameters as input.

use crate::{ProjectId, Target, Timestamp, WebhookId};

/// A webhook as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: WebhookId,
    pub project_id: ProjectId,
    pub target: Target,
    pub description: Option<String>,
    /// When set, an invoke must carry it (or an HMAC-SHA256 signature made with it). It is
    /// shown once, in the answer to the request that set it, and never returned afterwards.
    /// Held sealed (`ridge_api::secret_box`): the store never sees it in the clear.
    pub secret: Option<String>,
    /// Ridge: a JSON body with an `alerts` list (Alertmanager's grouped notification) runs one
    /// execution per alert, each with the body and `alerts` holding that one alert.
    pub split_alerts: bool,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
}

/// The most alerts one invoke of a webhook with `split_alerts` may carry (each is an
/// execution): Alertmanager's `max_alerts` keeps a notification under it.
pub const MAX_SPLIT_ALERTS: usize = 100;

/// The shortest secret a client may choose.
pub const MIN_SECRET_LEN: usize = 16;

/// The longest secret a client may choose.
pub const MAX_SECRET_LEN: usize = 255;

/// A new random secret: 64 hex characters drawn from the operating system's CSPRNG (two v4
/// UUIDs, 244 random bits).
pub fn generate_secret() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

/// Checks a client-chosen secret.
pub fn validate_secret(secret: &str) -> Result<(), crate::InvalidInput> {
    let n = secret.chars().count();
    if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&n)
        || secret.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(crate::InvalidInput::new(format!(
            "invalid webhook `secret`: use {MIN_SECRET_LEN} to {MAX_SECRET_LEN} printable characters without spaces, or `true` to have one generated"
        )));
    }
    Ok(())
}

/// `webhook_url`: the public base (without a trailing `/`) plus `/v1/webhooks/<id>/invoke`.
pub fn webhook_url(public_url: &str, id: WebhookId) -> String {
    format!(
        "{}/v1/webhooks/{id}/invoke",
        public_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate_secret();
        assert_eq!(a.len(), 64);
        assert!(validate_secret(&a).is_ok());
        assert_ne!(a, generate_secret());
    }

    #[test]
    fn chosen_secrets_are_checked() {
        assert!(validate_secret("short").is_err());
        assert!(validate_secret("with a space in it!!").is_err());
        assert!(validate_secret("0123456789abcdef").is_ok());
    }

    #[test]
    fn urls_join_without_double_slashes() {
        let id = WebhookId::new();
        assert_eq!(
            webhook_url("http://h:7070/", id),
            format!("http://h:7070/v1/webhooks/{id}/invoke")
        );
    }
}
