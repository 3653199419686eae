//! Two projects on a `token`-mode server: `a` with member alice, `b` with member bob and admin
//! carol, and clients for each.

use ridge::tenancy::AuthSettings;
use ridge_client::{FunctionUpload, RidgeClient};
use ridge_core::api::{CreateProject, CreateToken, CreateUser, FunctionView, RuntimeView};

use crate::common::{TestServer, zip_files};

pub const BOOTSTRAP: &str = "bootstrap-admin-token-for-tests";

pub struct Tenants {
    pub ts: TestServer,
    /// The bootstrap admin, of project `default`.
    pub admin: RidgeClient,
    pub alice: RidgeClient,
    pub bob: RidgeClient,
    pub carol: RidgeClient,
    pub alice_id: String,
    pub bob_id: String,
    /// Alice's token secret, for raw HTTP calls.
    pub alice_token: String,
}

pub async fn token_server() -> TestServer {
    let mut ts = TestServer::start_with(|s| {
        s.auth = AuthSettings::Token {
            bootstrap_token: Some(BOOTSTRAP.to_owned()),
        };
    })
    .await;
    ts.client = RidgeClient::new(&ts.url)
        .expect("client")
        .with_token(BOOTSTRAP);
    ts
}

/// A user of `project` with `role` and a client carrying a fresh token of it.
pub async fn user(
    ts: &TestServer,
    name: &str,
    project: &str,
    role: &str,
) -> (String, String, RidgeClient) {
    let user = ts
        .client
        .create_user(&CreateUser {
            name: Some(name.to_owned()),
            project_id: Some(project.to_owned()),
            role: Some(role.to_owned()),
        })
        .await
        .expect("user created");
    let token = ts
        .client
        .create_token(&CreateToken {
            user_id: Some(user.id.clone()),
            ..CreateToken::default()
        })
        .await
        .expect("token issued");
    let secret = token.token.expect("the secret is shown once");
    let client = RidgeClient::new(&ts.url)
        .expect("client")
        .with_token(secret.clone());
    (user.id, secret, client)
}

pub async fn tenants() -> Tenants {
    let ts = token_server().await;
    for p in ["a", "b"] {
        ts.client
            .create_project(&CreateProject {
                id: Some(p.to_owned()),
                description: None,
            })
            .await
            .expect("project created");
    }
    let (alice_id, alice_token, alice) = user(&ts, "alice", "a", "member").await;
    let (bob_id, _, bob) = user(&ts, "bob", "b", "member").await;
    let (_, _, carol) = user(&ts, "carol", "b", "admin").await;
    Tenants {
        admin: ts.client.clone(),
        ts,
        alice,
        bob,
        carol,
        alice_id,
        bob_id,
        alice_token,
    }
}

/// A function of `client`'s project on `runtime`.
pub async fn function(client: &RidgeClient, runtime: &RuntimeView, source: &str) -> FunctionView {
    client
        .create_function(&FunctionUpload {
            name: Some("f".to_owned()),
            runtime_id: Some(runtime.id.clone()),
            entry: Some("function.main".to_owned()),
            package: Some(zip_files(&[("function.py", source)]).into()),
            ..FunctionUpload::default()
        })
        .await
        .expect("function created")
}
