//! The dashboard through the router: its files and headers, the browser redirect at `/`, the
//! endpoints added for it (`GET /v1/statistics`, `GET /v1/jobs/schedule`), and that every API
//! call its JavaScript can make reaches a route (the browser itself is driven in
//! `crates/ridge/tests/it/dashboard.rs`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::http::Method;
use ridge_core::Clock;
use serde_json::json;

use crate::harness::{TestApi, Upload, returning};
use crate::tenancy::setup::{tenants, token_server};

fn js_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dashboard dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            js_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "js") {
            out.push(path);
        }
    }
}

/// Every `api.get|text|post|put|del(<literal path>` in the dashboard's JavaScript, as
/// (method, path) with each `${…}` replaced by `placeholder`.
fn api_calls(placeholder: &str) -> BTreeSet<(Method, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
    let mut files = Vec::new();
    js_files(&root, &mut files);
    let mut calls = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read js");
        let name = file
            .strip_prefix(&root)
            .expect("under root")
            .display()
            .to_string();
        if name != "js/api.js" {
            assert!(
                !source.contains("fetch(") && !source.contains("XMLHttpRequest"),
                "{name} calls the network itself: every call goes through api.js"
            );
        }
        for (method, call) in [
            (Method::GET, "api.get("),
            (Method::GET, "api.text("),
            (Method::POST, "api.post("),
            (Method::PUT, "api.put("),
            (Method::DELETE, "api.del("),
        ] {
            for (i, _) in source.match_indices(call) {
                let rest = source[i + call.len()..].trim_start();
                let quote = rest.chars().next().expect("an argument");
                assert!(
                    matches!(quote, '\'' | '`' | '"'),
                    "{name}: `{call}` without a literal path: every path is written out so this test sees it"
                );
                let end = rest[1..].find(quote).expect("closing quote") + 1;
                let mut path = rest[1..end].to_owned();
                while let Some(start) = path.find("${") {
                    let close = start + path[start..].find('}').expect("closing brace");
                    path.replace_range(start..=close, placeholder);
                }
                assert!(
                    path.starts_with("/v1/"),
                    "{name}: `{path}` is not an API path"
                );
                calls.insert((method.clone(), path));
            }
        }
    }
    calls
}

#[tokio::test]
async fn every_api_call_of_the_dashboard_reaches_a_route() {
    let t = token_server().await;
    let calls = api_calls("00000000-0000-4000-8000-000000000000");
    for expected in [
        (Method::GET, "/v1/statistics"),
        (Method::POST, "/v1/functions"),
        (Method::POST, "/v1/executions"),
        (Method::POST, "/v1/webhooks"),
        (Method::GET, "/v1/jobs/schedule"),
        (Method::POST, "/v1/event_triggers"),
        (
            Method::POST,
            "/v1/event_triggers/00000000-0000-4000-8000-000000000000/resume",
        ),
    ] {
        assert!(
            calls.contains(&(expected.0.clone(), expected.1.to_owned())),
            "the scan missed {expected:?}: {calls:?}"
        );
    }
    for (method, path) in &calls {
        let mut call = t.api.call(method.clone(), path);
        if matches!(*method, Method::POST | Method::PUT) {
            call = call.json(&json!({}));
        }
        let reply = call.send().await;
        let text = reply.text();
        assert!(
            reply.status != 405 && !text.contains("no such resource"),
            "the dashboard calls {method} {path}, which the router lacks: {} {text}",
            reply.status
        );
    }
}

#[tokio::test]
async fn browsers_get_the_dashboard_and_api_clients_the_versions() {
    let t = TestApi::start().await;
    let browser = t
        .api
        .get("/")
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await;
    assert_eq!(browser.status, 303);
    assert_eq!(browser.headers["location"], "/dashboard/");
    let client = t.api.get("/").send().await;
    assert_eq!(client.status, 200);
    assert_eq!(client.value()["versions"][0]["id"], "v1.0");

    for path in ["/dashboard/", "/dashboard"] {
        let page = t.api.get(path).send().await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.text()
                .contains("<script type=\"module\" src=\"/dashboard/js/app.js\">")
        );
        let csp = page.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    }
    let js = t.api.get("/dashboard/js/app.js").send().await;
    assert_eq!(js.status, 200);
    assert_eq!(js.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(js.headers["x-content-type-options"], "nosniff");
    let missing = t.api.get("/dashboard/js/nothing.js").send().await;
    assert_eq!(missing.status, 404);
    // The dashboard's files are public (they hold no data) in every auth mode.
    let tokens = token_server().await;
    let page = tokens.api.without_token().get("/dashboard/").send().await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn statistics_count_the_callers_project_only() {
    let t = tenants().await;
    let rt = t.ts.python_runtime().await;
    let f = t.alice.function(&rt, "1").await;
    for _ in 0..3 {
        let e = t.alice.run(&f, None).await;
        assert_eq!(e.status, "success");
    }
    let bad = t
        .alice
        .create_function(&Upload {
            runtime_id: Some(rt.id.clone()),
            entry: Some("function.fail".into()),
            package: Some(returning("no")),
            ..Upload::default()
        })
        .await
        .expect("function");
    assert_eq!(t.alice.run(&bad, None).await.status, "failed");

    let mine = t.alice.get("/v1/statistics").send().await;
    assert_eq!(mine.status, 200, "{}", mine.text());
    let s = mine.value();
    assert_eq!(s["window_seconds"], 3600);
    assert_eq!(
        s["executions"],
        json!({"running": 0, "success": 3, "failed": 1, "error": 0})
    );
    assert!(s["duration_p50"].is_number() && s["duration_p99"].is_number());
    assert_eq!(s["duration_samples"], 4);
    assert_eq!(s["queue_depth"], 0);
    assert!(s["cold_starts"].as_u64().expect("a count") >= 1);

    // Bob (project b) sees none of it, even asking for project a.
    let theirs = t
        .bob
        .get("/v1/statistics?project_id=a")
        .send()
        .await
        .value();
    assert_eq!(
        theirs["executions"],
        json!({"running": 0, "success": 0, "failed": 0, "error": 0})
    );
    assert_eq!(theirs["duration_p50"], json!(null));
    assert_eq!(
        (
            theirs["cold_starts"].clone(),
            theirs["warm_workers"].clone()
        ),
        (json!(0), json!(0))
    );
    let (status, message) = t
        .bob
        .get("/v1/statistics?all_projects=true")
        .send()
        .await
        .fault();
    assert_eq!((status, message.as_str()), (403, "Operation not allowed"));
    let (status, message) = t.bob.get("/v1/statistics?since=1").send().await.fault();
    assert_eq!(
        (status, message.as_str()),
        (400, "Unknown argument: \"since\"")
    );
    // An admin may widen it.
    let all = t
        .admin
        .get("/v1/statistics?all_projects=true")
        .send()
        .await
        .value();
    assert_eq!(all["executions"]["success"], 3);

    // The window is the last hour by the server's clock.
    t.ts.clock.advance(std::time::Duration::from_secs(3601));
    let later = t.alice.get("/v1/statistics").send().await.value();
    assert_eq!(later["executions"]["success"], 0);
    assert_eq!(later["duration_samples"], 0);
}

#[tokio::test]
async fn job_schedule_lists_the_next_runs_or_says_why_not() {
    let t = TestApi::start().await;
    let daily = t
        .api
        .get("/v1/jobs/schedule?pattern=0+3+*+*+*")
        .send()
        .await;
    assert_eq!(daily.status, 200, "{}", daily.text());
    let times: Vec<String> = serde_json::from_value(daily.value()["next_execution_times"].clone())
        .expect("a list of times");
    assert_eq!(times.len(), 5);
    let parsed: Vec<_> = times
        .iter()
        .map(|t| ridge_core::time::parse_user(t).expect("a time"))
        .collect();
    assert!(times.iter().all(|t| t.ends_with("T03:00:00Z")), "{times:?}");
    assert!(parsed.windows(2).all(|w| (w[1] - w[0]).num_hours() == 24));
    assert!(parsed[0] > t.clock.now());

    let twice = t
        .api
        .get("/v1/jobs/schedule?pattern=0+3+*+*+*&count=2")
        .send()
        .await
        .value();
    assert_eq!(
        twice["next_execution_times"].as_array().map(Vec::len),
        Some(2)
    );
    let (status, message) = t
        .api
        .get("/v1/jobs/schedule?pattern=nope")
        .send()
        .await
        .fault();
    assert_eq!(
        (status, message.as_str()),
        (400, "The specified pattern is not valid: nope")
    );
    let (status, message) = t
        .api
        .get("/v1/jobs/schedule?pattern=*/5+*+*+*+*+*")
        .send()
        .await
        .fault();
    assert_eq!(status, 400);
    assert!(message.contains("at most once every 60 s"), "{message}");
    let (status, message) = t.api.get("/v1/jobs/schedule").send().await.fault();
    assert_eq!(
        (status, message.as_str()),
        (400, "pattern or first_execution_time must be specified.")
    );
}
