//! The unchanged `openstack` CLI (python-openstackclient + python-qinlingclient) against Ridge:
//! the seed report's round trip. `scripts/test.sh` installs the client into a venv and points
//! `RIDGE_OPENSTACK_CLI` at it; without it this test fails and says how to get it.

use crate::common::{TestServer, openstack_cli};
use serde_json::Value;
use tokio::process::Command;

async fn openstack(url: &str, args: &[&str]) -> String {
    let out = Command::new(openstack_cli())
        .args(["--os-auth-type", "none", "--os-endpoint", url])
        .args(args)
        // The client reads no other OS_* settings, so a developer's environment cannot leak in.
        .env_remove("OS_CLOUD")
        .env_remove("OS_AUTH_URL")
        .output()
        .await
        .expect("openstack runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "openstack {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn openstack_json(url: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-f", "json"]);
    let out = openstack(url, &all).await;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

#[tokio::test]
async fn openstack_cli_round_trip() {
    let t = TestServer::start().await;
    let url = t.url.clone();
    let rt = openstack_json(
        &url,
        &[
            "runtime",
            "create",
            "openstackqinling/python3-runtime",
            "--name",
            "python3",
        ],
    )
    .await;
    let rt_id = rt["id"].as_str().expect("runtime id").to_owned();
    t.wait_runtime(&rt_id).await;

    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("hello.py");
    std::fs::write(
        &file,
        "def main(name='World', **kwargs):\n    print('openstack says hi to', name)\n    return 'Hello, ' + name\n",
    )
    .expect("write");
    let f = openstack_json(
        &url,
        &[
            "function",
            "create",
            "--name",
            "hello",
            "--runtime",
            &rt_id,
            "--entry",
            "hello.main",
            "--file",
            file.to_str().expect("utf8"),
        ],
    )
    .await;
    let f_id = f["id"].as_str().expect("function id").to_owned();

    let e = openstack_json(
        &url,
        &[
            "function",
            "execution",
            "create",
            "--function",
            &f_id,
            "--input",
            r#"{"name": "qinling"}"#,
        ],
    )
    .await;
    assert_eq!(e["status"], "success", "{e}");
    let result: Value =
        serde_json::from_str(e["result"].as_str().expect("result string")).expect("json");
    assert_eq!(result["output"], "Hello, qinling");

    let log = openstack(
        &url,
        &[
            "function",
            "execution",
            "log",
            "show",
            e["id"].as_str().expect("id"),
        ],
    )
    .await;
    assert!(log.contains("openstack says hi to qinling"), "{log}");

    let listed = openstack_json(&url, &["function", "list"]).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    t.stop().await;
}

#[tokio::test]
async fn openstack_cli_versions_aliases_webhooks_and_jobs() {
    let t = TestServer::start().await;
    let url = t.url.clone();
    let rt = t.python_runtime().await;
    let f = t
        .function(
            &rt,
            "def main(name='World', **kwargs):\n    return 'Hello, ' + name\n",
        )
        .await;

    let v = openstack_json(
        &url,
        &[
            "function",
            "version",
            "create",
            &f.id,
            "--description",
            "first",
        ],
    )
    .await;
    assert_eq!(v["version_number"], 1, "{v}");
    let versions = openstack_json(&url, &["function", "version", "list", &f.id]).await;
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");

    let alias = openstack_json(
        &url,
        &[
            "function",
            "alias",
            "create",
            "stable",
            "--function",
            &f.id,
            "--function-version",
            "1",
        ],
    )
    .await;
    assert_eq!(alias["function_version"], 1, "{alias}");
    let e = openstack_json(
        &url,
        &[
            "function",
            "execution",
            "create",
            "--function-alias",
            "stable",
            "--input",
            r#"{"name": "alias"}"#,
        ],
    )
    .await;
    assert_eq!(e["status"], "success", "{e}");
    assert_eq!(e["function_version"], 1, "{e}");

    let hook = openstack_json(&url, &["webhook", "create", "--function", &f.id]).await;
    let invoke_url = hook["webhook_url"]
        .as_str()
        .expect("webhook_url")
        .to_owned();
    assert!(invoke_url.starts_with(&url), "{invoke_url}");
    let resp = t
        .http()
        .post(&invoke_url)
        .json(&serde_json::json!({"name": "hook"}))
        .send()
        .await
        .expect("invoke");
    assert_eq!(resp.status().as_u16(), 202);
    let accepted: Value = resp.json().await.expect("json");
    let done = t
        .wait(accepted["execution_id"].as_str().expect("execution_id"))
        .await;
    assert_eq!(crate::common::output(&done), "Hello, hook");

    let job = openstack_json(
        &url,
        &[
            "job",
            "create",
            "--function",
            &f.id,
            "--pattern",
            "0 0 1 1 *",
            "--function-input",
            r#"{"name": "job"}"#,
        ],
    )
    .await;
    assert_eq!(job["status"], "running", "{job}");
    let job_id = job["id"].as_str().expect("job id").to_owned();
    let paused = openstack_json(&url, &["job", "update", &job_id, "--status", "paused"]).await;
    assert_eq!(paused["status"], "paused", "{paused}");
    openstack(&url, &["job", "delete", &job_id]).await;
    openstack(
        &url,
        &["webhook", "delete", hook["id"].as_str().expect("id")],
    )
    .await;
    openstack(&url, &["function", "alias", "delete", "stable"]).await;
    openstack(&url, &["function", "version", "delete", &f.id, "1"]).await;
    t.stop().await;
}
