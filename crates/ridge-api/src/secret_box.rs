//! Webhook secrets at rest: sealed with XChaCha20-Poly1305 under a key that is kept outside the
//! database (a key file beside it, mode 0600, or one the operator names), so a copy of the
//! database alone reveals no secret.
//!
//! A sealed secret is stored as `sealed:v1:<hex of 24-byte nonce, ciphertext and tag>`, with
//! the webhook's id as associated data, so a sealed value copied onto another webhook does not
//! open. Rows written before sealing existed hold the plain secret: [`seal_stored`] seals them
//! at start-up, and until then they are read as they are.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, OsRng, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use ridge_core::{EventTriggerId, WebhookId};
use ridge_store::{ProjectScope, Store, StoreError};

/// What every sealed value starts with.
const PREFIX: &str = "sealed:v1:";
/// Bytes of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;
/// Bytes of a key.
pub const KEY_LEN: usize = 32;

/// A stored secret that cannot be opened: damaged, or sealed under another key.
#[derive(Debug, thiserror::Error)]
#[error(
    "the secret of webhook `{id}` cannot be opened: it was sealed under another key or is damaged (is the webhook secret key file the one this database was used with?)"
)]
pub struct UnsealError {
    pub id: WebhookId,
}

/// A stored broker URL of an event trigger that cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "the broker URL of event trigger `{id}` cannot be opened: it was sealed under another key or is damaged (set it again with `ridge trigger update {id} --amqp-url ...`)"
)]
pub struct TriggerUnsealError {
    pub id: EventTriggerId,
}

/// Seals and opens webhook secrets (and event triggers' broker URLs) with one key.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// A fresh random key from the operating system's generator.
    pub fn generate_key() -> [u8; KEY_LEN] {
        XChaCha20Poly1305::generate_key(&mut OsRng).into()
    }

    /// Whether `stored` is sealed (rather than a secret written before sealing existed).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(PREFIX)
    }

    /// The stored form of webhook `id`'s `secret`.
    pub fn seal(&self, id: WebhookId, secret: &str) -> String {
        self.seal_with(&id.to_string(), secret)
    }

    /// Webhook `id`'s secret from its stored form.
    pub fn open(&self, id: WebhookId, stored: &str) -> Result<String, UnsealError> {
        let Some(sealed) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        self.open_with(&id.to_string(), sealed)
            .ok_or(UnsealError { id })
    }

    /// The stored form of event trigger `id`'s broker URL (its own associated data, so a
    /// sealed webhook secret does not open as a URL, nor one trigger's URL as another's).
    pub fn seal_trigger_url(&self, id: EventTriggerId, url: &str) -> String {
        self.seal_with(&format!("event-trigger:{id}"), url)
    }

    /// Event trigger `id`'s broker URL from its stored form.
    pub fn open_trigger_url(
        &self,
        id: EventTriggerId,
        stored: &str,
    ) -> Result<String, TriggerUnsealError> {
        stored
            .strip_prefix(PREFIX)
            .and_then(|sealed| self.open_with(&format!("event-trigger:{id}"), sealed))
            .ok_or(TriggerUnsealError { id })
    }

    fn seal_with(&self, aad: &str, secret: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("sealing a short secret in memory cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!("{PREFIX}{}", hex::encode(bytes))
    }

    /// The hex after the prefix, opened; `None` when damaged or sealed otherwise.
    fn open_with(&self, aad: &str, sealed: &str) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read or create the webhook secret key file `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the webhook secret key file `{path}` does not hold a key: expected {KEY_LEN} bytes as {} hex digits",
        KEY_LEN * 2
    )]
    NotAKey { path: PathBuf },
}

impl SecretBox {
    /// The key in `path` (hex), created there (mode 0600, from the operating system's
    /// generator) if the file does not exist and `create` is true.
    pub fn from_key_file(path: &Path, create: bool) -> Result<Self, KeyFileError> {
        let io = |source| KeyFileError::Io {
            path: path.to_owned(),
            source,
        };
        if create {
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(mut file) => {
                    let key = Self::generate_key();
                    file.write_all(format!("{}\n", hex::encode(key)).as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(io)?;
                    tracing::info!(path = %path.display(), "created the webhook secret key");
                    return Ok(Self::new(&key));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(e)),
            }
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the webhook secret key file is readable by others than its owner: chmod 600 it");
        }
        let key: [u8; KEY_LEN] = hex::decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| KeyFileError::NotAKey {
                path: path.to_owned(),
            })?;
        Ok(Self::new(&key))
    }
}

/// Seals every webhook secret still stored in the clear; returns how many it sealed.
pub async fn seal_stored(store: &dyn Store, secrets: &SecretBox) -> Result<usize, StoreError> {
    let mut sealed = 0;
    for mut webhook in store.list_webhooks(&ProjectScope::All).await? {
        let Some(plain) = webhook
            .secret
            .as_deref()
            .filter(|s| !SecretBox::is_sealed(s))
        else {
            continue;
        };
        webhook.secret = Some(secrets.seal(webhook.id, plain));
        store.update_webhook(&webhook).await?;
        sealed += 1;
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_seal_and_open_under_their_key_and_webhook_only() {
        let key = SecretBox::generate_key();
        let secrets = SecretBox::new(&key);
        let id = WebhookId::new();
        let sealed = secrets.seal(id, "0123456789abcdef");
        assert!(SecretBox::is_sealed(&sealed));
        assert!(!sealed.contains("0123456789abcdef"));
        assert_ne!(sealed, secrets.seal(id, "0123456789abcdef"), "fresh nonces");
        assert_eq!(
            secrets.open(id, &sealed).expect("opens"),
            "0123456789abcdef"
        );

        // Another key, another webhook, or a damaged value does not open.
        let other = SecretBox::new(&SecretBox::generate_key());
        assert!(other.open(id, &sealed).is_err());
        assert!(secrets.open(WebhookId::new(), &sealed).is_err());
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push('0');
        assert!(secrets.open(id, &damaged).is_err() || damaged == sealed);
        assert!(secrets.open(id, "sealed:v1:00").is_err());
        // A secret from before sealing reads as it is.
        assert_eq!(
            secrets.open(id, "plain-old-secret").expect("plain"),
            "plain-old-secret"
        );
    }

    #[test]
    fn trigger_urls_open_only_for_their_trigger() {
        let secrets = SecretBox::new(&SecretBox::generate_key());
        let id = EventTriggerId::new();
        let url = "amqp://nova:s3cr3t@rabbit/%2f";
        let sealed = secrets.seal_trigger_url(id, url);
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(secrets.open_trigger_url(id, &sealed).expect("opens"), url);
        assert!(
            secrets
                .open_trigger_url(EventTriggerId::new(), &sealed)
                .is_err()
        );
        assert!(secrets.open_trigger_url(id, url).is_err(), "never plain");
        // A webhook's sealed secret is not a trigger's URL, even with the same uuid.
        let as_webhook = secrets.seal(id.to_string().parse().expect("uuid"), url);
        assert!(secrets.open_trigger_url(id, &as_webhook).is_err());
    }

    #[test]
    fn the_key_file_is_created_once_owner_only_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("webhook-secrets.key");
        assert!(
            SecretBox::from_key_file(&path, false).is_err(),
            "not created"
        );
        let first = SecretBox::from_key_file(&path, true).expect("created");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let id = WebhookId::new();
        let sealed = first.seal(id, "0123456789abcdef");
        let again = SecretBox::from_key_file(&path, true).expect("read back");
        assert_eq!(
            again.open(id, &sealed).expect("same key"),
            "0123456789abcdef"
        );
        std::fs::write(&path, "not hex").expect("write");
        let err = SecretBox::from_key_file(&path, true).expect_err("not a key");
        assert!(err.to_string().contains("64 hex digits"), "{err}");
    }
}
