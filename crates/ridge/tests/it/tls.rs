//! `ridge serve --tls-cert --tls-key`: HTTPS with certificates made here by a test CA, trusted
//! by the `ridge` client and CLI through `--cacert`; a client that does not trust the CA is
//! refused; SIGHUP swaps in a new certificate for new connections.

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use ridge_client::RidgeClient;
use tokio::process::Command;

use crate::common::serve_process_with;

/// A CA (its PEM) and a certificate for 127.0.0.1 it signed (PEM chain and key).
struct Issued {
    ca: String,
    cert: String,
    key: String,
}

fn issue(name: &str) -> Issued {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca = ca.self_signed(&ca_key).expect("CA certificate");
    let key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca, &ca_key)
        .expect("server certificate");
    Issued {
        ca: ca.pem(),
        cert: server.pem(),
        key: key.serialize_pem(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[tokio::test]
async fn https_with_a_trusted_ca_a_refused_stranger_and_a_reload_on_sighup() {
    let data = tempfile::tempdir().expect("tmp");
    let certs = tempfile::tempdir().expect("tmp");
    let first = issue("first");
    let cert = write(certs.path(), "server.pem", &first.cert);
    let key = write(certs.path(), "server.key", &first.key);
    let first_ca = write(certs.path(), "first-ca.pem", &first.ca);
    let (child, url) = serve_process_with(data.path(), None, |c| {
        c.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
    })
    .await;
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // Trusted through the CA: the API answers.
    let trusted = RidgeClient::with_ca(&url, first.ca.as_bytes()).expect("client");
    let info = trusted.info().await.expect("info over HTTPS");
    assert!(!info.node.is_empty());
    // Not trusted: refused before any request is sent.
    let stranger = RidgeClient::new(&url).expect("client");
    let refused = stranger.info().await.expect_err("an unknown CA");
    assert!(
        matches!(refused, ridge_client::ClientError::Http(_)),
        "{refused:?}"
    );
    let plain = reqwest::get(url.replace("https://", "http://")).await;
    assert!(plain.is_err() || plain.is_ok_and(|r| !r.status().is_success()));

    // The CLI, with --cacert.
    let listed = Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(["runtime", "list", "--url", &url, "--cacert"])
        .arg(&first_ca)
        .output()
        .await
        .expect("ridge runs");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let no_ca = Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(["runtime", "list", "--url", &url])
        .env_remove("RIDGE_CACERT")
        .output()
        .await
        .expect("ridge runs");
    assert!(!no_ca.status.success());

    // A new certificate from another CA, then SIGHUP: new connections get it.
    let second = issue("second");
    std::fs::write(&cert, &second.cert).expect("write");
    std::fs::write(&key, &second.key).expect("write");
    let pid = child.id().expect("pid").to_string();
    let hup = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .expect("kill");
    assert!(hup.success());
    let renewed = RidgeClient::with_ca(&url, second.ca.as_bytes()).expect("client");
    let mut answered = false;
    for _ in 0..100 {
        if renewed.info().await.is_ok() {
            answered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered, "the new certificate was not served after SIGHUP");
    let old = RidgeClient::with_ca(&url, first.ca.as_bytes()).expect("client");
    old.info()
        .await
        .expect_err("the old CA no longer vouches for the server");

    // A broken pair on SIGHUP keeps the server on the one it has.
    std::fs::write(&key, "not a key").expect("write");
    let hup = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .await
        .expect("kill");
    assert!(hup.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    renewed
        .info()
        .await
        .expect("still serving the second certificate");
}

#[tokio::test]
async fn a_bad_certificate_stops_the_start_with_the_reason() {
    let data = tempfile::tempdir().expect("tmp");
    let certs = tempfile::tempdir().expect("tmp");
    let issued = issue("mismatch");
    let other = issue("other");
    let cert = write(certs.path(), "server.pem", &issued.cert);
    let key = write(certs.path(), "other.key", &other.key);
    let out = Command::new(env!("CARGO_BIN_EXE_ridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .output()
        .await
        .expect("ridge runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not go with the certificate"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_unchanged_openstack_cli_trusts_the_server_through_os_cacert() {
    let data = tempfile::tempdir().expect("tmp");
    let certs = tempfile::tempdir().expect("tmp");
    let issued = issue("openstack");
    let cert = write(certs.path(), "server.pem", &issued.cert);
    let key = write(certs.path(), "server.key", &issued.key);
    let ca = write(certs.path(), "ca.pem", &issued.ca);
    let (_child, url) = serve_process_with(data.path(), None, |c| {
        c.arg("--tls-cert").arg(&cert).arg("--tls-key").arg(&key);
    })
    .await;
    let openstack = |extra: &[&str]| {
        let mut command = Command::new(crate::common::openstack_cli());
        command
            .args(["--os-auth-type", "none", "--os-endpoint", &url])
            .args(extra)
            .args(["runtime", "list", "-f", "json"])
            .env_remove("OS_CLOUD")
            .env_remove("OS_AUTH_URL")
            .env_remove("OS_CACERT")
            .env_remove("REQUESTS_CA_BUNDLE");
        command
    };
    let ca = ca.to_str().expect("utf8").to_owned();
    let trusted = openstack(&["--os-cacert", &ca])
        .output()
        .await
        .expect("openstack runs");
    let stdout = String::from_utf8_lossy(&trusted.stdout);
    assert!(
        trusted.status.success(),
        "{}{stdout}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let listed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(listed.is_array(), "{listed}");
    let untrusted = openstack(&[]).output().await.expect("openstack runs");
    assert!(
        !untrusted.status.success(),
        "a server no CA vouches for was trusted"
    );
    let why = String::from_utf8_lossy(&untrusted.stderr);
    assert!(
        why.to_lowercase().contains("certificate") || why.contains("SSL"),
        "{why}"
    );
}
