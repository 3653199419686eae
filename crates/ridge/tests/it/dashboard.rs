//! The web dashboard in a real browser: headless Chromium driven through WebDriver against a
//! real `token`-mode server with real Python workers. One browser session walks through what a
//! new user does: sign in, upload a function, run it with JSON input and read its result and
//! log, type a failing function and read its message, create a webhook and read its URL and
//! curl line, preview a job's runs, bind an event trigger (its broker password never shown
//! back), and sign out. A screenshot of each main page is written to
//! `target/tmp/dashboard-screenshots/`.

mod webdriver;

use std::path::{Path, PathBuf};

use ridge::tenancy::AuthSettings;
use serde_json::{Value, json};

use crate::common::TestServer;
use webdriver::{Browser, Driver};

const ADMIN: &str = "dashboard-bootstrap-admin-token";

const HELLO: &str = "def main(name=\"world\", **kwargs):\n    print(\"called with\", name)\n    return {\"greeting\": \"Hello, \" + name}\n";

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")
}

async fn api(ts: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = ts
        .http()
        .request(method, format!("{}{path}", ts.url))
        .header("x-auth-token", ADMIN);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("api answers");
    assert!(res.status().is_success(), "{path}: {}", res.status());
    res.json().await.expect("api JSON")
}

async fn python_runtime(ts: &TestServer) {
    let rt = api(
        ts,
        reqwest::Method::POST,
        "/v1/runtimes",
        Some(json!({"image": "python3", "name": "python3"})),
    )
    .await;
    let path = format!("/v1/runtimes/{}", rt["id"].as_str().expect("id"));
    for _ in 0..200 {
        if api(ts, reqwest::Method::GET, &path, None).await["status"] == "available" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the runtime never became available");
}

async fn executions(ts: &TestServer) -> usize {
    api(ts, reqwest::Method::GET, "/v1/executions", None).await["executions"]
        .as_array()
        .map_or(0, Vec::len)
}

async fn page(b: &Browser, ts: &TestServer, hash: &str, heading: &str) {
    b.goto(&format!("{}/dashboard/#/{hash}", ts.url)).await;
    b.wait_text("main h1", heading).await;
}

#[tokio::test]
async fn a_new_user_creates_runs_and_inspects_functions_in_the_dashboard() {
    let driver = Driver::start().await;
    let ts = TestServer::start_with(|s| {
        s.auth = AuthSettings::Token {
            bootstrap_token: Some(ADMIN.to_owned()),
        };
    })
    .await;
    python_runtime(&ts).await;
    let shots = screenshots();
    let b = driver.session(1280, 900).await;

    // A browser at `/` lands on the dashboard, which asks for a token.
    b.goto(&ts.url).await;
    b.wait_text("main h1", "Sign in to Ridge").await;
    assert!(b.current_url().await.ends_with("/dashboard/"));
    b.screenshot(&shots, "sign-in").await;
    b.type_into("input[name=token]", "not-a-token").await;
    b.click_css("form button[type=submit]").await;
    b.wait_text("input[name=token] ~ .field-error", "invalid token")
        .await;
    b.set_value("input[name=token]", ADMIN).await;
    b.click_css("form button[type=submit]").await;
    b.wait_text("main h1", "Overview").await;
    b.wait_text("#who", "admin").await;

    // Upload a single Python file: it is zipped in the page, and its entry guessed.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("hello.py");
    std::fs::write(&file, HELLO).expect("write hello.py");
    page(&b, &ts, "functions/new", "New function").await;
    b.type_into("input[name=name]", "hello").await;
    b.type_into("input[name=package]", file.to_str().expect("utf-8 path"))
        .await;
    let entry = b
        .script(
            "return document.querySelector('input[name=entry]').value",
            json!([]),
        )
        .await;
    assert_eq!(entry, "hello.main");
    b.click_css("form button[type=submit]").await;
    b.wait_text("main h1", "hello").await;
    b.screenshot(&shots, "function").await;

    // Run it with JSON input: result, status, duration and log together.
    b.click_css("main a.button.primary[href^='#/run/']").await;
    b.wait_text("main h1", "Run hello").await;
    let before = executions(&ts).await;
    b.type_into("textarea[name=input]", "{oops").await;
    b.click_css("main form button[type=submit]").await;
    b.wait_text("textarea[name=input] ~ .field-error", "Not valid JSON")
        .await;
    assert_eq!(executions(&ts).await, before, "invalid JSON is never sent");
    b.set_value("textarea[name=input]", "{\"name\": \"Ridge\"}")
        .await;
    b.click_css("main form button[type=submit]").await;
    b.wait_text("pre.output.success", "Hello, Ridge").await;
    b.wait_text("pre.log", "called with Ridge").await;
    b.wait_text(".execution h2", "success").await;
    let duration = b.wait_text("dd.duration", "").await;
    assert!(
        duration.ends_with(" ms") || duration.ends_with(" s"),
        "{duration}"
    );
    b.screenshot(&shots, "run").await;
    b.click_css("main form button:not([type=submit])").await; // Run again
    for _ in 0..200 {
        if executions(&ts).await == before + 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        executions(&ts).await,
        before + 2,
        "rerun sends the same input"
    );

    // Type a failing function; its run shows the exception's message.
    page(&b, &ts, "functions/new", "New function").await;
    b.type_into("input[name=name]", "broken").await;
    b.click_css("input[type=radio][value=type]").await;
    b.set_value(
        "textarea[name=code]",
        "def main(**kwargs):\n    raise ValueError(\"boom from the dashboard\")\n",
    )
    .await;
    b.click_css("form button[type=submit]").await;
    b.wait_text("main h1", "broken").await;
    b.click_css("main a.button.primary[href^='#/run/']").await;
    b.wait_text("main h1", "Run broken").await;
    b.click_css("main form button[type=submit]").await;
    b.wait_text("pre.output.failed", "boom from the dashboard")
        .await;

    // A webhook with a secret: its URL, the secret once, a curl line.
    page(&b, &ts, "webhooks", "Webhooks").await;
    b.click_css("input[name=secret]").await;
    b.click_css("main form button[type=submit]").await;
    let shown = b
        .wait_text("#webhook-url", &format!("{}/v1/webhooks/", ts.url))
        .await;
    let hooks = api(&ts, reqwest::Method::GET, "/v1/webhooks", None).await;
    assert_eq!(hooks["webhooks"][0]["webhook_url"], shown.as_str());
    let secret = b.wait_text("code.secret", "").await;
    assert_eq!(secret.len(), 64, "{secret}");
    let curl = b.wait_text(".created pre", "X-Ridge-Signature").await;
    assert!(curl.contains(&shown), "{curl}");
    b.screenshot(&shots, "webhooks").await;
    // Leave and come back (the same hash again would not redraw the page).
    page(&b, &ts, "functions", "Functions").await;
    page(&b, &ts, "webhooks", "Webhooks").await;
    b.wait_text("main table", &shown).await;
    let text = b
        .script("return document.body.textContent", json!([]))
        .await;
    assert!(
        !text.as_str().unwrap_or_default().contains(&secret),
        "the secret is shown only once"
    );

    // Executions, with the failed one; a job's next runs before saving.
    page(&b, &ts, "executions", "Executions").await;
    b.wait_text("main table", "failed").await;
    b.screenshot(&shots, "executions").await;
    page(&b, &ts, "jobs", "Jobs").await;
    b.type_into("input[name=pattern]", "0 3 * * *").await;
    let runs = b.wait_text("ol.runs", "03:00:00").await;
    assert_eq!(runs.matches("03:00:00").count(), 5, "{runs}");
    b.screenshot(&shots, "jobs").await;
    b.set_value("input[name=pattern]", "nope").await;
    b.wait_text(
        "input[name=pattern] ~ .field-error",
        "The specified pattern is not valid",
    )
    .await;
    // An event trigger: a refusal names what to fix; the password is never shown back.
    page(&b, &ts, "triggers", "Event triggers").await;
    b.type_into(
        "input[name=amqp_url]",
        "amqp://ridge:hunter2@127.0.0.1:1/%2f",
    )
    .await;
    b.click_css("main form button[type=submit]").await;
    b.wait_text("main .alert", "queue").await;
    b.type_into("input[name=queue]", "orders").await;
    b.click_css("main form button[type=submit]").await;
    b.wait_text("main table", "amqp://ridge:***@127.0.0.1:1")
        .await;
    b.click_css("main table button:not(.danger)").await;
    b.wait_text("main table", "paused").await;
    let text = b
        .script("return document.body.textContent", json!([]))
        .await;
    assert!(
        !text.as_str().unwrap_or_default().contains("hunter2"),
        "the broker password is never shown back"
    );
    b.screenshot(&shots, "triggers").await;
    page(&b, &ts, "runtimes", "Runtimes").await;
    b.wait_text("main table", "python3").await;
    b.screenshot(&shots, "runtimes").await;
    page(&b, &ts, "admin", "Projects and users").await;
    b.wait_text("main", "Users and tokens").await;
    b.screenshot(&shots, "admin").await;

    // The overview counts what ran; dark mode and a phone-sized screen.
    page(&b, &ts, "overview", "Overview").await;
    b.wait_text(".cards", "1 not successful").await;
    b.wait_text(".protections", "").await;
    b.screenshot(&shots, "overview").await;
    b.prefer_dark(true).await;
    b.screenshot(&shots, "overview-dark").await;
    b.prefer_dark(false).await;
    b.resize(390, 844).await;
    page(&b, &ts, "functions", "Functions").await;
    b.wait_text("main table", "broken").await;
    b.screenshot(&shots, "functions-phone").await;

    // Nothing broke the Content-Security-Policy and no script failed.
    let console = b.console().await;
    for entry in &console {
        let message = entry["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("Content Security Policy") && !message.contains("Uncaught"),
            "browser console: {message}"
        );
    }

    // Sign out: the token is gone from the tab, and was never in a URL.
    assert!(!b.current_url().await.contains(ADMIN));
    b.click_css("#who button").await;
    b.wait_text("main h1", "Sign in to Ridge").await;
    let kept = b
        .script("return sessionStorage.getItem('ridge.token')", json!([]))
        .await;
    assert_eq!(kept, Value::Null);
    b.quit().await;
}

/// With `[sandbox] mode = "off"` the overview says the operator turned the sandbox off (not
/// that the host lacks protections), and badges each protection `turned off`.
#[tokio::test]
async fn the_overview_says_when_the_operator_turned_the_sandbox_off() {
    let driver = Driver::start().await;
    let ts = TestServer::start_with(|s| {
        s.sandbox.enforcement = ridge_sandbox::Enforcement::Off;
    })
    .await;
    let b = driver.session(1280, 900).await;
    page(&b, &ts, "overview", "Overview").await;
    b.wait_text(".alert", "The sandbox is off (sandbox.mode = \"off\")")
        .await;
    b.wait_text(".protections", "turned off").await;
    let text = b
        .script("return document.querySelector('main').innerText", json!([]))
        .await;
    let text = text.as_str().unwrap_or_default();
    assert!(!text.contains("not enforced on this host"), "{text}");
    b.screenshot(&screenshots(), "overview-sandbox-off").await;
    b.quit().await;
}
