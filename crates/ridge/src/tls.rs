//! TLS: `--tls-cert`/`--tls-key` (`[tls]`) make `ridge serve` listen with HTTPS (rustls);
//! `--tls-client-ca` adds mutual TLS for the admin API; `--ca-bundle` is trusted, besides the
//! system's roots, by everything Ridge connects to (Keystone, S3, PostgreSQL, the other nodes).
//!
//! The certificate chain, key and client CA are read again on SIGHUP; connections already open
//! keep the configuration they started with, new ones get the new one, and files that do not
//! load on reload are logged and ignored (the server goes on with what it has).
//!
//! With a client CA, the handshake asks for a client certificate but does not insist: a client
//! without one connects as before, a client whose certificate the CA did not sign is refused.
//! [`ClientCertAcceptor`] marks every request of a connection that presented one
//! ([`ridge_api::ClientCertified`]), and the API then takes admin credentials only with that mark.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::http::Request;
use axum_server::accept::Accept;
use axum_server::tls_rustls::RustlsAcceptor;
use hyper::body::Incoming;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde::Deserialize;
use tokio::net::TcpStream;
use tower::util::MapRequest;

/// `[tls]`: `cert` and `key` both or neither.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// The certificate chain, PEM, the server's own certificate first.
    pub cert: Option<PathBuf>,
    /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// PEM CA certificates whose client certificates admin credentials need (mutual TLS).
    pub client_ca: Option<PathBuf>,
    /// PEM CA certificates Ridge's own connections trust besides the system's roots.
    pub ca_bundle: Option<PathBuf>,
}

/// What the command line and environment said about TLS.
#[derive(Debug, Default, Clone)]
pub struct TlsFlags {
    /// `--tls-cert` / `RIDGE_TLS_CERT`.
    pub cert: Option<PathBuf>,
    /// `--tls-key` / `RIDGE_TLS_KEY`.
    pub key: Option<PathBuf>,
    /// `--tls-client-ca` / `RIDGE_TLS_CLIENT_CA`.
    pub client_ca: Option<PathBuf>,
    /// `--ca-bundle` / `RIDGE_CA_BUNDLE`.
    pub ca_bundle: Option<PathBuf>,
}

/// Where the server's certificate and key are, and the client CA if admin calls need one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// `--ca-bundle`, read: the certificates outgoing connections trust besides the system's roots.
#[derive(Debug, Clone)]
pub struct CaBundle {
    pub path: PathBuf,
    pub roots: Vec<reqwest::Certificate>,
}

impl CaBundle {
    fn load(path: PathBuf) -> anyhow::Result<Self> {
        let pem = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read the CA bundle `{}` (--ca-bundle)",
                path.display()
            )
        })?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem).with_context(|| {
            format!("`{}` is not a PEM CA bundle (--ca-bundle)", path.display())
        })?;
        if roots.is_empty() {
            bail!(
                "`{}` holds no PEM certificate (--ca-bundle)",
                path.display()
            );
        }
        Ok(Self { path, roots })
    }
}

/// Serving TLS (`None`: plain HTTP) and the outgoing CA bundle, from the flags over `[tls]`.
pub fn resolve(
    flags: TlsFlags,
    file: Option<TlsFile>,
) -> anyhow::Result<(Option<TlsSettings>, Option<CaBundle>)> {
    let file = file.unwrap_or_default();
    let client_ca = flags.client_ca.or(file.client_ca);
    let serving = match (flags.cert.or(file.cert), flags.key.or(file.key)) {
        (Some(cert), Some(key)) => Some(TlsSettings {
            cert,
            key,
            client_ca,
        }),
        (None, None) if client_ca.is_some() => bail!(
            "--tls-client-ca (RIDGE_TLS_CLIENT_CA, [tls] client_ca) needs --tls-cert and --tls-key: client certificates are asked for in the TLS handshake"
        ),
        (None, None) => None,
        (Some(_), None) => bail!(
            "--tls-cert (RIDGE_TLS_CERT, [tls] cert) is given without --tls-key: HTTPS needs both"
        ),
        (None, Some(_)) => bail!(
            "--tls-key (RIDGE_TLS_KEY, [tls] key) is given without --tls-cert: HTTPS needs both"
        ),
    };
    let bundle = flags
        .ca_bundle
        .or(file.ca_bundle)
        .map(CaBundle::load)
        .transpose()?;
    Ok((serving, bundle))
}

impl TlsSettings {
    /// The rustls configuration of the files as they are now.
    pub fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let chain = read_chain(&self.cert, "--tls-cert")?;
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
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("the TLS protocol versions")?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let mut roots = RootCertStore::empty();
                for cert in read_chain(path, "--tls-client-ca")? {
                    roots.add(cert).with_context(|| {
                        format!(
                            "a certificate in `{}` (--tls-client-ca) is not a usable CA",
                            path.display()
                        )
                    })?;
                }
                // Asked for, not insisted on: members connect without one; the API decides.
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .with_context(|| {
                            format!(
                                "cannot verify clients with `{}` (--tls-client-ca)",
                                path.display()
                            )
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).with_context(|| {
            format!(
                "the key `{}` does not go with the certificate `{}`",
                self.key.display(),
                self.cert.display()
            )
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// This node's certificate and key as a client identity, presented to the other nodes when
    /// they take admin credentials only with one (they share the client CA).
    pub fn identity(&self) -> anyhow::Result<Option<reqwest::Identity>> {
        if self.client_ca.is_none() {
            return Ok(None);
        }
        let mut pem = std::fs::read(&self.cert)
            .with_context(|| format!("cannot read `{}` (--tls-cert)", self.cert.display()))?;
        pem.push(b'\n');
        pem.extend(
            std::fs::read(&self.key)
                .with_context(|| format!("cannot read `{}` (--tls-key)", self.key.display()))?,
        );
        reqwest::Identity::from_pem(&pem)
            .map(Some)
            .context("this node's certificate and key do not make a client identity")
    }
}

/// The client every outgoing HTTPS call of the API to another node uses: `--ca-bundle` trusted,
/// and this node's own certificate presented when admin calls need one.
pub fn peer_client(
    tls: Option<&TlsSettings>,
    bundle: Option<&CaBundle>,
) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    for root in bundle.map(|b| b.roots.as_slice()).unwrap_or_default() {
        builder = builder.add_root_certificate(root.clone());
    }
    if let Some(identity) = tls.map(TlsSettings::identity).transpose()?.flatten() {
        builder = builder.identity(identity);
    }
    builder
        .build()
        .context("cannot set up the HTTP client for the other nodes")
}

type Marker = fn(Request<Incoming>) -> Request<Incoming>;

fn mark_certified(mut request: Request<Incoming>) -> Request<Incoming> {
    request.extensions_mut().insert(ridge_api::ClientCertified);
    request
}

/// The TLS acceptor, marking each request of a connection that presented a client certificate
/// (which the handshake verified against `--tls-client-ca`).
#[derive(Clone)]
pub struct ClientCertAcceptor {
    inner: RustlsAcceptor,
}

impl ClientCertAcceptor {
    pub fn new(inner: RustlsAcceptor) -> Self {
        Self { inner }
    }
}

impl<S: Send + 'static> Accept<TcpStream, S> for ClientCertAcceptor {
    type Stream = tokio_rustls::server::TlsStream<TcpStream>;
    type Service = MapRequest<S, Marker>;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let handshake = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = handshake.await?;
            let certified = stream
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|chain| !chain.is_empty());
            let marker: Marker = if certified {
                mark_certified
            } else {
                std::convert::identity
            };
            Ok((stream, MapRequest::new(service, marker)))
        })
    }
}

fn read_chain(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "cannot read PEM certificates from `{}` ({flag})",
                path.display()
            )
        })?;
    if chain.is_empty() {
        bail!("`{}` holds no PEM certificate ({flag})", path.display());
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_files_or_neither_and_bad_files_say_which() {
        let flags = |cert: Option<&str>, key: Option<&str>| TlsFlags {
            cert: cert.map(PathBuf::from),
            key: key.map(PathBuf::from),
            ..TlsFlags::default()
        };
        let (plain, bundle) = resolve(flags(None, None), None).expect("plain");
        assert!(plain.is_none() && bundle.is_none());
        let half = resolve(flags(Some("c.pem"), None), None).expect_err("half");
        assert!(half.to_string().contains("without --tls-key"), "{half}");
        let file = TlsFile {
            cert: Some("file.pem".into()),
            key: Some("file.key".into()),
            client_ca: Some("clients.pem".into()),
            ca_bundle: None,
        };
        let flags_win = resolve(flags(Some("flag.pem"), None), Some(file))
            .expect("a pair")
            .0
            .expect("tls");
        assert_eq!(flags_win.cert, PathBuf::from("flag.pem"));
        assert_eq!(flags_win.key, PathBuf::from("file.key"));
        assert_eq!(flags_win.client_ca, Some(PathBuf::from("clients.pem")));
        let lone_client_ca = TlsFlags {
            client_ca: Some("clients.pem".into()),
            ..TlsFlags::default()
        };
        let why = resolve(lone_client_ca, None).expect_err("client CA without a server pair");
        assert!(why.to_string().contains("needs --tls-cert"), "{why}");

        let dir = tempfile::tempdir().expect("tmp");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let missing = TlsSettings {
            cert: empty.clone(),
            key: dir.path().join("none.key"),
            client_ca: None,
        };
        let why = missing.server_config().expect_err("no certificate");
        assert!(
            why.to_string().contains("holds no PEM certificate"),
            "{why:#}"
        );
        let no_bundle = TlsFlags {
            ca_bundle: Some(empty),
            ..TlsFlags::default()
        };
        let why = resolve(no_bundle, None).expect_err("an empty bundle");
        assert!(why.to_string().contains("--ca-bundle"), "{why:#}");
    }
}
