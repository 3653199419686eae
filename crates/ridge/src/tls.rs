//! `--tls-cert`/`--tls-key` (`[tls]`): `ridge serve` over HTTPS, with rustls. The certificate
//! chain and key are read again on SIGHUP; connections already open keep the configuration they
//! started with, new ones get the new one, and a bad pair on reload is logged and ignored (the
//! server goes on with the old one).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// `[tls]`: both keys or neither.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// The certificate chain, PEM, the server's own certificate first.
    pub cert: Option<PathBuf>,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
}

/// Where the server's certificate and key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsSettings {
    /// From the flags over the file; `None` for plain HTTP. Half a pair is an error.
    pub fn resolve(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        file: Option<TlsFile>,
    ) -> anyhow::Result<Option<Self>> {
        let file = file.unwrap_or_default();
        match (cert.or(file.cert), key.or(file.key)) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => bail!(
                "--tls-cert (RIDGE_TLS_CERT, [tls] cert) is given without --tls-key: HTTPS needs both"
            ),
            (None, Some(_)) => bail!(
                "--tls-key (RIDGE_TLS_KEY, [tls] key) is given without --tls-cert: HTTPS needs both"
            ),
        }
    }

    /// The rustls configuration of the files as they are now.
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let chain = read_chain(&self.cert)?;
        let key = PrivateKeyDer::from_pem_file(&self.key).with_context(|| {
            format!(
                "cannot read a PEM private key from `{}` (--tls-key)",
                self.key.display()
            )
        })?;
        // ring, as reqwest's TLS uses: no second crypto library (aws-lc) to build. rustls marks
        // it deprecated for lacking post-quantum key exchange, which aws-lc would bring.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("the TLS protocol versions")?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .with_context(|| {
                format!(
                    "the key `{}` does not go with the certificate `{}`",
                    self.key.display(),
                    self.cert.display()
                )
            })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn read_chain(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "cannot read PEM certificates from `{}` (--tls-cert)",
                path.display()
            )
        })?;
    if chain.is_empty() {
        bail!("`{}` holds no PEM certificate (--tls-cert)", path.display());
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_or_neither_and_bad_files_say_which() {
        assert_eq!(TlsSettings::resolve(None, None, None).expect("plain"), None);
        let half = TlsSettings::resolve(Some("c.pem".into()), None, None).expect_err("half");
        assert!(half.to_string().contains("without --tls-key"), "{half}");
        let file = TlsFile {
            cert: Some("file.pem".into()),
            key: Some("file.key".into()),
        };
        let flags_win = TlsSettings::resolve(Some("flag.pem".into()), None, Some(file))
            .expect("a pair")
            .expect("tls");
        assert_eq!(flags_win.cert, PathBuf::from("flag.pem"));
        assert_eq!(flags_win.key, PathBuf::from("file.key"));

        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let missing = TlsSettings {
            cert: empty,
            key: dir.path().join("none.key"),
        };
        let why = missing.server_config().expect_err("no certificate");
        assert!(
            why.to_string().contains("holds no PEM certificate"),
            "{why:#}"
        );
    }
}
