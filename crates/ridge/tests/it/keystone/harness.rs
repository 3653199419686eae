//! A real OpenStack Keystone for the tests: `scripts/keystone/serve.py` run with the Python of
//! the keystone venv (`RIDGE_KEYSTONE_VENV`, which `scripts/test.sh` builds and exports, or
//! `target/keystone-venv`), on SQLite in a temporary directory and a free loopback port; and
//! the few identity API calls the tests need to set up projects, users, roles and the catalog.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const ADMIN_PASSWORD: &str = "admin-secret";

pub struct Keystone {
    /// `http://127.0.0.1:<port>/v3`.
    pub url: String,
    http: reqwest::Client,
    _child: Child,
    _dir: tempfile::TempDir,
}

fn venv() -> PathBuf {
    let venv = std::env::var_os("RIDGE_KEYSTONE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/keystone-venv")
        });
    assert!(
        venv.join("bin/keystone-manage").exists(),
        "Keystone is not installed at `{}`: run the tests with `scripts/test.sh`, which builds the venv (scripts/keystone-venv.sh) and sets RIDGE_KEYSTONE_VENV",
        venv.display()
    );
    venv
}

impl Keystone {
    /// Starts Keystone with tokens valid for `expiration_secs`, and waits (bounded) until it
    /// serves.
    pub async fn start(expiration_secs: u64) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let script =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/keystone/serve.py");
        let mut child = Command::new(venv().join("bin/python"))
            .arg(&script)
            .arg(dir.path())
            .arg(expiration_secs.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("keystone starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        // db_sync alone takes a minute on a busy machine.
        let url = tokio::time::timeout(Duration::from_secs(600), async {
            while let Some(line) = lines.next_line().await.expect("read keystone output") {
                if let Some(url) = line.strip_prefix("READY ") {
                    return url.to_owned();
                }
            }
            panic!("keystone exited before it was ready (its log is above)");
        })
        .await
        .expect("keystone ready within 10 minutes");
        let http = reqwest::Client::new();
        Keystone {
            url,
            http,
            _child: child,
            _dir: dir,
        }
    }

    /// A fresh admin token for each set-up call: tokens here live only seconds, and a loaded
    /// machine can take longer than that to set everything up.
    async fn admin(&self) -> String {
        self.password_token("admin", ADMIN_PASSWORD, "admin")
            .await
            .0
    }

    /// A project-scoped token by password: (token, its body).
    pub async fn password_token(
        &self,
        user: &str,
        password: &str,
        project: &str,
    ) -> (String, Value) {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }});
        let resp = self
            .http
            .post(format!("{}/auth/tokens", self.url))
            .json(&body)
            .send()
            .await
            .expect("token request");
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "password login of `{user}`"
        );
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .expect("X-Subject-Token")
            .to_owned();
        (token, resp.json().await.expect("token body"))
    }

    /// `POST /v3/<path>` as the admin; returns the created object under `key`.
    async fn create(&self, path: &str, key: &str, body: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}/{path}", self.url))
            .header("X-Auth-Token", self.admin().await)
            .json(&json!({ key: body }))
            .send()
            .await
            .expect("identity call");
        let status = resp.status();
        let answer: Value = resp.json().await.expect("identity answer");
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {answer}");
        answer[key].clone()
    }

    pub async fn project(&self, name: &str) -> String {
        let p = self
            .create(
                "projects",
                "project",
                json!({"name": name, "domain_id": "default"}),
            )
            .await;
        p["id"].as_str().expect("project id").to_owned()
    }

    /// The id of an existing role (bootstrap creates `admin`, `member`, `reader` and `service`).
    pub async fn role_id(&self, name: &str) -> String {
        let resp: Value = self
            .http
            .get(format!("{}/roles?name={name}", self.url))
            .header("X-Auth-Token", self.admin().await)
            .send()
            .await
            .expect("roles")
            .json()
            .await
            .expect("roles body");
        resp["roles"][0]["id"]
            .as_str()
            .expect("role exists")
            .to_owned()
    }

    /// A user with `role` on `project`.
    pub async fn user(&self, name: &str, password: &str, project: &str, role: &str) -> String {
        let u = self
            .create(
                "users",
                "user",
                json!({"name": name, "password": password, "domain_id": "default", "default_project_id": project}),
            )
            .await;
        let id = u["id"].as_str().expect("user id").to_owned();
        let resp = self
            .http
            .put(format!(
                "{}/projects/{project}/users/{id}/roles/{role}",
                self.url
            ))
            .header("X-Auth-Token", self.admin().await)
            .send()
            .await
            .expect("role grant");
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "grant");
        id
    }

    /// Registers a service of `service_type` with a public endpoint at `url`.
    pub async fn catalog(&self, service_type: &str, name: &str, url: &str) {
        let s = self
            .create(
                "services",
                "service",
                json!({"type": service_type, "name": name}),
            )
            .await;
        self.create(
            "endpoints",
            "endpoint",
            json!({"service_id": s["id"], "interface": "public", "url": url, "region_id": "RegionOne"}),
        )
        .await;
    }
}
