//! `keystone` auth mode against a real OpenStack Keystone (started here, see
//! `keystone/harness.rs`): valid, expired, invalid and other-project tokens, admin roles, and
//! the unchanged `openstack` CLI reaching Ridge through Keystone's catalog with ordinary
//! password credentials, as Qinling's users do. One test, because Keystone takes a minute to
//! set up.

mod harness;

use std::time::Duration;

use chrono::{DateTime, Utc};
use ridge::tenancy::AuthSettings;
use ridge_api::auth::KeystoneSettings;
use ridge_client::RidgeClient;
use serde_json::Value;
use tokio::process::Command;

use crate::common::{TestServer, api_error, openstack_cli, returning, zip_files};
use harness::Keystone;

/// Keystone's token lifetime here: short, so that expiry is tested for real.
const TOKEN_SECS: u64 = 30;

#[tokio::test]
async fn keystone_tokens_decide_project_and_role_and_the_openstack_cli_finds_ridge() {
    let ks = Keystone::start(TOKEN_SECS).await;
    let service = ks.project("service").await;
    let alpha = ks.project("alpha").await;
    let beta = ks.project("beta").await;
    let service_role = ks.role_id("service").await;
    let member = ks.role_id("member").await;
    ks.user("ridge", "ridge-secret", &service, &service_role)
        .await;
    ks.user("alice", "alice-secret", &alpha, &member).await;
    ks.user("bob", "bob-secret", &beta, &member).await;

    let settings = KeystoneSettings {
        auth_url: ks.url.clone(),
        username: "ridge".into(),
        password: "ridge-secret".into(),
        project_name: "service".into(),
        user_domain_name: "Default".into(),
        project_domain_name: "Default".into(),
        cache_ttl: Duration::from_secs(60),
        admin_roles: vec!["admin".into()],
        ca_roots: Vec::new(),
    };
    let ts = TestServer::start_with(|s| s.auth = AuthSettings::Keystone(settings)).await;
    ks.catalog("function-engine", "qinling", &ts.url).await;
    let url = ts.url.clone();
    let client = |token: &str| RidgeClient::new(&url).expect("client").with_token(token);

    // Keystone's admin is Ridge's admin; alice and bob are members of their projects.
    let (admin_token, _) = ks
        .password_token("admin", harness::ADMIN_PASSWORD, "admin")
        .await;
    let admin = client(&admin_token);
    let me = admin.whoami().await.expect("admin whoami");
    assert!(me.is_admin, "{me:?}");
    assert_eq!(me.auth, "keystone");
    let mut ts = ts;
    ts.client = admin.clone();
    let runtime = ts.python_runtime().await;
    let (alice_token, alice_body) = ks.password_token("alice", "alice-secret", "alpha").await;
    let alice = client(&alice_token);
    let me = alice.whoami().await.expect("alice whoami");
    assert_eq!(
        (me.project_id.as_str(), me.is_admin),
        (alpha.as_str(), false)
    );
    assert!(me.roles.contains(&"member".to_owned()), "{:?}", me.roles);

    let f = alice
        .create_function(&ridge_client::FunctionUpload {
            name: Some("alpha-fn".into()),
            runtime_id: Some(runtime.id.clone()),
            entry: Some("function.main".into()),
            package: Some(zip_files(&[("function.py", &returning("1"))]).into()),
            ..Default::default()
        })
        .await
        .expect("alice creates a function");
    assert_eq!(f.project_id, alpha);

    // A token of another project sees nothing of alpha.
    let (bob_token, _) = ks.password_token("bob", "bob-secret", "beta").await;
    let bob = client(&bob_token);
    assert_eq!(bob.whoami().await.expect("bob").project_id, beta);
    assert_eq!(api_error(bob.get_function(&f.id).await).0, 404);
    assert!(bob.list_functions(false).await.expect("list").is_empty());
    assert_eq!(api_error(bob.list_functions(true).await).0, 403);
    assert_eq!(api_error(bob.delete_function(&f.id).await).0, 404);

    // A token Keystone never issued.
    let (status, message) = api_error(client("gAAAAABnot-a-real-token").whoami().await);
    assert_eq!(status, 401);
    assert!(message.contains("invalid token"), "{message}");

    // The unchanged openstack CLI, with ordinary Keystone credentials and no endpoint
    // override, finds Ridge in the catalog as `function-engine`.
    let out = Command::new(openstack_cli())
        .args(["function", "list", "-f", "json"])
        .env_remove("OS_CLOUD")
        .env_remove("OS_TOKEN")
        .env_remove("OS_ENDPOINT")
        .env("OS_AUTH_URL", &ks.url)
        .env("OS_IDENTITY_API_VERSION", "3")
        .env("OS_USERNAME", "alice")
        .env("OS_PASSWORD", "alice-secret")
        .env("OS_PROJECT_NAME", "alpha")
        .env("OS_USER_DOMAIN_NAME", "Default")
        .env("OS_PROJECT_DOMAIN_NAME", "Default")
        .env("OS_REGION_NAME", "RegionOne")
        .env("OS_INTERFACE", "public")
        .output()
        .await
        .expect("openstack runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "openstack function list failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_str(&stdout).expect("json");
    let ids: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|f| f["Id"].as_str().or(f["id"].as_str()))
        .collect();
    assert_eq!(ids, vec![f.id.as_str()], "{listed}");

    // Expiry: once Keystone's token expires, Ridge refuses it (the cache never outlives it).
    let expires: DateTime<Utc> = alice_body["token"]["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("timestamp");
    let left = (expires - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_secs(1)).await;
    let (status, message) = api_error(alice.whoami().await);
    assert_eq!(status, 401, "{message}");
    // A fresh token works again (and Ridge's own service token was renewed meanwhile).
    let (fresh, _) = ks.password_token("alice", "alice-secret", "alpha").await;
    assert_eq!(
        client(&fresh)
            .get_function(&f.id)
            .await
            .expect("fresh token")
            .id,
        f.id
    );
}
