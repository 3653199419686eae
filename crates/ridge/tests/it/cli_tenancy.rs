//! The CLI in `token` auth mode: server and token from a profile of the client config file,
//! from flags and from the environment; and the admin commands for projects, users, tokens and
//! quotas.

use ridge::tenancy::AuthSettings;
use serde_json::Value;
use tokio::process::Command;

use crate::common::TestServer;

const ADMIN: &str = "cli-bootstrap-admin-token";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `ridge` with only the given environment (no RIDGE_* from the test's own environment).
async fn ridge(env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ridge"));
    cmd.args(args);
    for key in [
        "RIDGE_URL",
        "RIDGE_TOKEN",
        "RIDGE_PROFILE",
        "RIDGE_CLIENT_CONFIG",
    ] {
        cmd.env_remove(key);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("ridge runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn json(env: &[(&str, &str)], args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let run = ridge(env, &all).await;
    assert_eq!(run.code, 0, "ridge {args:?} failed: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", run.stdout))
}

#[tokio::test]
async fn profiles_flags_and_environment_choose_server_and_token() {
    let ts = TestServer::start_with(|s| {
        s.auth = AuthSettings::Token {
            bootstrap_token: Some(ADMIN.to_owned()),
        };
    })
    .await;
    let config = ts.dir.path().join("client.toml");
    std::fs::write(
        &config,
        format!(
            "default_profile = \"admin\"\n[profiles.admin]\nurl = \"{}\"\ntoken = \"{ADMIN}\"\n[profiles.nowhere]\nurl = \"http://127.0.0.1:9\"\n",
            ts.url
        ),
    )
    .expect("write client config");
    let config = config.to_str().expect("utf-8 path");
    let with_config = [("RIDGE_CLIENT_CONFIG", config)];

    // The default profile is the admin's.
    let project = json(&with_config, &["project", "create", "team-a"]).await;
    assert_eq!(project["id"], "team-a");
    let user = json(
        &with_config,
        &["user", "create", "alice", "--project", "team-a"],
    )
    .await;
    assert_eq!(user["role"], "member");
    let user_id = user["id"].as_str().expect("id");
    let token = json(
        &with_config,
        &["token", "create", user_id, "--expires-in", "3600"],
    )
    .await;
    let secret = token["token"].as_str().expect("the secret is printed once");
    let tokens = json(&with_config, &["token", "list", "--user", user_id]).await;
    assert!(tokens[0].get("token").is_none(), "{tokens}");

    // Environment over the profile: alice sees her own project's quotas.
    let quotas = json(
        &[("RIDGE_CLIENT_CONFIG", config), ("RIDGE_TOKEN", secret)],
        &["quota", "show"],
    )
    .await;
    assert_eq!(quotas["project_id"], "team-a");
    // Alice is no admin.
    let run = ridge(
        &[("RIDGE_CLIENT_CONFIG", config), ("RIDGE_TOKEN", secret)],
        &["quota", "set", "team-a", "--functions", "5"],
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("Operation not allowed"),
        "{}",
        run.stderr
    );
    // The admin sets it, with `unlimited` for another quota.
    let set = json(
        &with_config,
        &[
            "quota",
            "set",
            "team-a",
            "--functions",
            "5",
            "--package-bytes",
            "unlimited",
        ],
    )
    .await;
    assert_eq!(set["functions"]["limit"], 5);
    assert_eq!(set["package_bytes"]["limit"], Value::Null);

    // Flags over everything; a named profile that does not reach the server fails clearly.
    let run = ridge(&with_config, &["function", "list", "--profile", "nowhere"]).await;
    assert_ne!(run.code, 0);
    let run = ridge(&with_config, &["function", "list", "--profile", "qa"]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("no profile `qa`"), "{}", run.stderr);
    let listed = json(
        &with_config,
        &[
            "function",
            "list",
            "--profile",
            "nowhere",
            "--url",
            &ts.url,
            "--token",
            secret,
        ],
    )
    .await;
    assert_eq!(listed, Value::Array(Vec::new()));

    // Without a token the server says what is missing.
    let run = ridge(&[("RIDGE_URL", &ts.url)], &["function", "list"]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("X-Auth-Token"), "{}", run.stderr);

    // Revoked: alice's token stops working.
    let token_id = token["id"].as_str().expect("token id");
    let run = ridge(&with_config, &["token", "revoke", token_id]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = ridge(
        &[("RIDGE_URL", &ts.url), ("RIDGE_TOKEN", secret)],
        &["function", "list"],
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("revoked"), "{}", run.stderr);
}
