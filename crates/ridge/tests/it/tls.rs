//! `ridge serve --tls-cert --tls-key`: HTTPS with certificates made here by a test CA, trusted
//! by the `ridge` client and CLI through `--cacert`; a client that does not trust the CA is
//! refused; SIGHUP swaps in a new certificate for new connections.

use std::path::{Path, PathBuf};
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
    let (ca, ca_key) = test_ca(name);
    let (cert, key) = leaf(&ca, &ca_key, "server", &[]);
    Issued {
        ca: ca.pem(),
        cert,
        key,
    }
}

/// A test CA: its certificate and key.
pub fn test_ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let cert = params.self_signed(&key).expect("CA certificate");
    (cert, key)
}

/// A certificate `ca` signed for 127.0.0.1 and localhost, with `usages` (none: any), and its
/// key: both PEM.
pub fn leaf(
    ca: &rcgen::Certificate,
    ca_key: &KeyPair,
    name: &str,
    usages: &[rcgen::ExtendedKeyUsagePurpose],
) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.extended_key_usages = usages.to_vec();
    let cert = params.signed_by(&key, ca, ca_key).expect("certificate");
    (cert.pem(), key.serialize_pem())
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

#[tokio::test]
async fn https_with_a_trusted_ca_a_refused_stranger_and_a_reload_on_sighup() {
    let data = tempfile::tempdir().expect("tmp");
    let certs = tempfile::tempdir().expect("tmp");
    let first = issue("first");
    let (child, url, files) = serve_tls(data.path(), None, certs.path(), &first, None).await;
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
        .arg(&files.ca)
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
    std::fs::write(&files.cert, &second.cert).expect("write");
    std::fs::write(&files.key, &second.key).expect("write");
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
    std::fs::write(&files.key, "not a key").expect("write");
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
    let (_child, url, files) = serve_tls(data.path(), None, certs.path(), &issued, None).await;
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
    let ca = files.ca.to_str().expect("utf8").to_owned();
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

/// A client certificate (PEM chain and key in one buffer) that `ca` signed, for client auth.
pub fn client_identity(ca: &rcgen::Certificate, ca_key: &KeyPair, name: &str) -> String {
    let (cert, key) = leaf(
        ca,
        ca_key,
        name,
        &[rcgen::ExtendedKeyUsagePurpose::ClientAuth],
    );
    format!("{cert}{key}")
}

/// Where [`serve_tls`] wrote the server's pair and the CA that signed it.
struct ServerFiles {
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

/// `ridge serve` over HTTPS with `server`'s pair (and, given `clients`, a CA's PEM, asking
/// clients for a certificate it signed); the files are written to `certs`.
async fn serve_tls(
    data: &Path,
    config: Option<&str>,
    certs: &Path,
    server: &Issued,
    clients: Option<&str>,
) -> (tokio::process::Child, String, ServerFiles) {
    let files = ServerFiles {
        cert: write(certs, "server.pem", &server.cert),
        key: write(certs, "server.key", &server.key),
        ca: write(certs, "ca.pem", &server.ca),
    };
    let clients = clients.map(|pem| write(certs, "clients.pem", pem));
    let (child, url) = serve_process_with(data, config, |c| {
        c.arg("--tls-cert")
            .arg(&files.cert)
            .arg("--tls-key")
            .arg(&files.key);
        if let Some(clients) = &clients {
            c.arg("--tls-client-ca").arg(clients);
        }
    })
    .await;
    (child, url, files)
}

#[tokio::test]
async fn with_a_client_ca_admin_credentials_need_a_client_certificate_and_members_do_not() {
    const ADMIN: &str = "mutual-tls-admin-token";
    let data = tempfile::tempdir().expect("tmp");
    let certs = tempfile::tempdir().expect("tmp");
    let server = issue("mtls");
    let (ca, ca_key) = test_ca("operators");
    let (stranger_ca, stranger_key) = test_ca("stranger");
    let operator = client_identity(&ca, &ca_key, "operator");
    let stranger = client_identity(&stranger_ca, &stranger_key, "stranger");
    let config = format!("[auth]\nmode = \"token\"\nbootstrap_token = \"{ADMIN}\"\n");
    let (_child, url, files) = serve_tls(
        data.path(),
        Some(&config),
        certs.path(),
        &server,
        Some(&ca.pem()),
    )
    .await;
    let ca_pem = server.ca.as_bytes();

    // The admin token alone: refused, saying what is missing.
    let bare = RidgeClient::with_ca(&url, ca_pem)
        .expect("client")
        .with_token(ADMIN);
    let refused = bare
        .list_runtimes()
        .await
        .expect_err("no client certificate");
    assert!(
        matches!(&refused, ridge_client::ClientError::Api { status: 403, .. }),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("client certificate"),
        "{refused}"
    );
    // With the operator's certificate: the admin API answers.
    let admin = RidgeClient::with_tls(&url, Some(ca_pem), Some(operator.as_bytes()))
        .expect("client")
        .with_token(ADMIN);
    admin
        .list_runtimes()
        .await
        .expect("admin with a certificate");
    // A certificate some other CA signed: refused in the handshake.
    let forged = RidgeClient::with_tls(&url, Some(ca_pem), Some(stranger.as_bytes()))
        .expect("client")
        .with_token(ADMIN);
    let refused = forged
        .list_runtimes()
        .await
        .expect_err("a stranger's certificate");
    assert!(
        matches!(refused, ridge_client::ClientError::Http(_)),
        "{refused:?}"
    );

    // The CLI, with --cert and --key; then a member, who needs no certificate.
    let operator_cert = write(certs.path(), "operator.pem", &operator);
    let ridge = |args: &[&str], token: &str, with_cert: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ridge"));
        command
            .args(args)
            .args(["-f", "json", "--url", &url, "--token", token, "--cacert"])
            .arg(&files.ca)
            .env_remove("RIDGE_CLIENT_CONFIG");
        if with_cert {
            command
                .arg("--cert")
                .arg(&operator_cert)
                .arg("--key")
                .arg(&operator_cert);
        }
        command.output()
    };
    let without = ridge(&["project", "create", "team-a"], ADMIN, false)
        .await
        .expect("ridge runs");
    assert!(!without.status.success());
    let why = String::from_utf8_lossy(&without.stderr);
    assert!(why.contains("client certificate"), "{why}");
    for args in [
        &["project", "create", "team-a"][..],
        &["user", "create", "alice", "--project", "team-a"],
    ] {
        let made = ridge(args, ADMIN, true).await.expect("ridge runs");
        assert!(
            made.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let users = ridge(&["user", "list"], ADMIN, true)
        .await
        .expect("ridge runs");
    let users: serde_json::Value = serde_json::from_slice(&users.stdout).expect("JSON");
    let alice = users
        .as_array()
        .and_then(|all| all.iter().find(|u| u["name"] == "alice"))
        .and_then(|u| u["id"].as_str())
        .expect("alice is listed")
        .to_owned();
    let token = ridge(&["token", "create", &alice], ADMIN, true)
        .await
        .expect("ridge runs");
    let token: serde_json::Value = serde_json::from_slice(&token.stdout).expect("JSON");
    let member = token["token"].as_str().expect("the member's token");
    let listed = ridge(&["runtime", "list"], member, false)
        .await
        .expect("ridge runs");
    assert!(
        listed.status.success(),
        "a member needs no certificate: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
}

#[tokio::test]
async fn the_unchanged_openstack_cli_presents_a_client_certificate_with_os_cert() {
    let data = tempfile::tempdir().expect("tmp");
    let certs = tempfile::tempdir().expect("tmp");
    let server = issue("openstack-mtls");
    let (ca, ca_key) = test_ca("openstack operators");
    let (client_cert, client_key) = leaf(
        &ca,
        &ca_key,
        "operator",
        &[rcgen::ExtendedKeyUsagePurpose::ClientAuth],
    );
    let client_cert = write(certs.path(), "operator.pem", &client_cert);
    let client_key = write(certs.path(), "operator.key", &client_key);
    // Auth mode `none`: every caller is an admin, so every call needs the certificate.
    let (_child, url, files) =
        serve_tls(data.path(), None, certs.path(), &server, Some(&ca.pem())).await;
    let openstack = |extra: &[&Path]| {
        let mut command = Command::new(crate::common::openstack_cli());
        command
            .args([
                "--os-auth-type",
                "none",
                "--os-endpoint",
                &url,
                "--os-cacert",
            ])
            .arg(&files.ca);
        if let [cert, key] = extra {
            command.arg("--os-cert").arg(cert).arg("--os-key").arg(key);
        }
        command
            .args(["runtime", "list", "-f", "json"])
            .env_remove("OS_CLOUD")
            .env_remove("OS_AUTH_URL")
            .env_remove("OS_CERT")
            .env_remove("OS_KEY");
        command.output()
    };
    let with = openstack(&[&client_cert, &client_key])
        .await
        .expect("openstack runs");
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let without = openstack(&[]).await.expect("openstack runs");
    assert!(
        !without.status.success(),
        "admin calls without a certificate"
    );
    let why = String::from_utf8_lossy(&without.stderr);
    assert!(why.contains("client certificate"), "{why}");
}
