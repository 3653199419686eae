//! Two projects on a `token`-mode server: `a` with member alice, `b` with member bob and admin
//! carol, and clients for each.

use ridge_core::api::{CreateProject, CreateToken, CreateUser};

use crate::harness::{Api, TestApi};

pub struct Tenants {
    pub ts: TestApi,
    /// The bootstrap admin, of project `default`.
    pub admin: Api,
    pub alice: Api,
    pub bob: Api,
    pub carol: Api,
    pub alice_id: String,
    pub bob_id: String,
    /// Alice's token secret, for raw calls.
    pub alice_token: String,
}

pub async fn token_server() -> TestApi {
    TestApi::start_with(|s| s.token_auth = true).await
}

/// A user of `project` with `role` and a client carrying a fresh token of it.
pub async fn user(ts: &TestApi, name: &str, project: &str, role: &str) -> (String, String, Api) {
    let user = ts
        .api
        .create_user(&CreateUser {
            name: Some(name.to_owned()),
            project_id: Some(project.to_owned()),
            role: Some(role.to_owned()),
        })
        .await
        .expect("user created");
    let token = ts
        .api
        .create_token(&CreateToken {
            user_id: Some(user.id.clone()),
            ..CreateToken::default()
        })
        .await
        .expect("token issued");
    let secret = token.token.expect("the secret is shown once");
    let client = ts.client(&secret);
    (user.id, secret, client)
}

pub async fn tenants() -> Tenants {
    let ts = token_server().await;
    for p in ["a", "b"] {
        ts.api
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
        admin: ts.api.clone(),
        ts,
        alice,
        bob,
        carol,
        alice_id,
        bob_id,
        alice_token,
    }
}
