//! Multi-tenancy through the router: `token` auth mode (projects, users, tokens, expiry on a
//! clock the test moves, revocation), the access model (a member of project A reaches nothing
//! of project B through any endpoint; admin-only endpoints), and `none` mode.

pub mod setup;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::Method;
use ridge_core::api::{CreateAlias, CreateJob, CreateRuntime, CreateToken, WebhookRequest};
use serde_json::{Value, json};

use crate::harness::{BOOTSTRAP, TestApi, Upload, api_error, zip_files};
use setup::{tenants, token_server};

async fn call(
    ts: &TestApi,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let client = match token {
        Some(t) => ts.client(t),
        None => ts.anonymous(),
    };
    let mut req = client.call(method, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let reply = req.send().await;
    (reply.status, reply.text())
}

#[tokio::test]
async fn token_mode_authenticates_every_call_but_discovery_and_webhook_invoke() {
    let ts = token_server().await;
    let (status, body) = call(&ts, None, Method::GET, "/v1/functions", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("X-Auth-Token"), "{body}");
    let (status, body) = call(&ts, Some("nope"), Method::GET, "/v1/functions", None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid token"), "{body}");
    for open in ["/", "/v1"] {
        assert_eq!(
            call(&ts, None, Method::GET, open, None).await.0,
            200,
            "{open}"
        );
    }
    // `Authorization: Bearer` works as well as `X-Auth-Token`.
    let reply = ts
        .anonymous()
        .get("/v1/whoami")
        .header("authorization", &format!("Bearer {BOOTSTRAP}"))
        .send()
        .await;
    assert_eq!(reply.status, 200);
    let me = ts.api.whoami().await.expect("whoami");
    assert_eq!(
        (me.auth.as_str(), me.project_id.as_str(), me.is_admin),
        ("token", "default", true)
    );
    assert_eq!(ts.api.info().await.expect("info").auth, "token");
}

#[tokio::test]
async fn tokens_expire_and_are_revoked() {
    let ts = token_server().await;
    let (user_id, secret, client) = setup::user(&ts, "dave", "default", "member").await;
    assert!(!client.whoami().await.expect("valid").is_admin);
    // Tokens are listed oldest first, and their times are read on the test's clock.
    ts.clock.advance(Duration::from_millis(1));

    let short = ts
        .api
        .create_token(&CreateToken {
            user_id: Some(user_id.clone()),
            description: Some("short".into()),
            expires_in: Some(1),
        })
        .await
        .expect("token");
    let short_client = ts.client(&short.token.clone().expect("secret"));
    short_client.whoami().await.expect("valid before expiry");
    ts.clock.advance(Duration::from_millis(999));
    short_client
        .whoami()
        .await
        .expect("valid until its last moment");
    ts.clock.advance(Duration::from_millis(301));
    let (status, message) = api_error(short_client.whoami().await);
    assert_eq!(status, 401);
    assert!(message.contains("expired"), "{message}");

    let listed = ts.api.list_tokens(Some(&user_id)).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(
        listed.iter().all(|t| t.token.is_none()),
        "secrets are never shown again"
    );
    let long = listed
        .iter()
        .find(|t| t.expires_at.is_none())
        .expect("the first token");
    ts.api.revoke_token(&long.id).await.expect("revoke");
    let (status, message) = api_error(client.whoami().await);
    assert_eq!(status, 401);
    assert!(message.contains("revoked"), "{message}");
    assert!(ts.api.list_tokens(Some(&user_id)).await.expect("list")[0].revoked);

    // A deleted user's tokens stop working.
    let (other_id, _, other) = setup::user(&ts, "erin", "default", "member").await;
    other.whoami().await.expect("valid");
    ts.api.delete_user(&other_id).await.expect("delete user");
    assert_eq!(api_error(other.whoami().await).0, 401);
    // Bad requests say what to fix.
    let (status, body) = call(
        &ts,
        Some(BOOTSTRAP),
        Method::POST,
        "/v1/projects",
        Some(json!({"id": "default"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("project `default` already exists"), "{body}");
    let (status, body) = call(
        &ts,
        Some(BOOTSTRAP),
        Method::POST,
        "/v1/users",
        Some(json!({"name": "dave", "project_id": "default"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = call(
        &ts,
        Some(BOOTSTRAP),
        Method::POST,
        "/v1/users",
        Some(json!({"name": "x", "project_id": "ghost"})),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("project `ghost` not found"), "{body}");
    let (status, body) = call(
        &ts,
        Some(BOOTSTRAP),
        Method::POST,
        "/v1/users",
        Some(json!({"name": "x", "project_id": "default", "role": "root"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid role `root`"), "{body}");
    let (status, message) = api_error(
        ts.api
            .create_token(&CreateToken {
                user_id: Some(user_id),
                expires_in: Some(0),
                ..CreateToken::default()
            })
            .await,
    );
    assert_eq!(status, 400);
    assert!(message.contains("expires_in"), "{message}");
    drop(secret);
}

/// The paths of every route in the API's router, read from its source, so that a new
/// endpoint cannot escape the enumeration below.
/// Every path the router serves, from its own route table.
fn routes(state: &ridge_api::AppState) -> BTreeSet<String> {
    crate::openapi::served(&ridge_api::router(state.clone()))
        .into_iter()
        .map(|(_, path)| path)
        .collect()
}

#[tokio::test]
async fn a_member_of_project_a_reaches_nothing_of_project_b_through_any_endpoint() {
    let t = tenants().await;
    let ts = &t.ts;
    // Project B: a private runtime, a function with a version, an alias, a webhook, a job and
    // an execution. The public runtime belongs to the admin's project.
    let public = ts.python_runtime().await;
    let private = t
        .carol
        .create_runtime(&CreateRuntime {
            image: Some("python3".into()),
            is_public: Some(false),
            ..CreateRuntime::default()
        })
        .await
        .expect("private runtime");
    let f = t.bob.function(&public, "1").await;
    t.bob.create_version(&f.id, None).await.expect("version");
    let alias = t
        .bob
        .create_alias(&CreateAlias {
            name: Some("b-alias".into()),
            function_id: Some(f.id.clone()),
            function_version: Some(json!(1)),
            description: None,
        })
        .await
        .expect("alias");
    let webhook = t
        .bob
        .create_webhook(&WebhookRequest {
            function_id: Some(f.id.clone()),
            ..WebhookRequest::default()
        })
        .await
        .expect("webhook");
    let job = t
        .bob
        .create_job(&CreateJob {
            function_id: Some(f.id.clone()),
            pattern: Some("0 0 * * *".into()),
            ..CreateJob::default()
        })
        .await
        .expect("job");
    let trigger = t
        .bob
        .post("/v1/event_triggers")
        .json(&json!({
            "function_id": f.id,
            "amqp_url": "amqp://b:b-secret@127.0.0.1:5672/%2f",
            "queue": "b-orders",
        }))
        .send()
        .await;
    assert_eq!(trigger.status, 201, "{:?}", trigger.value());
    let trigger: ridge_core::api::EventTriggerView = trigger.json();
    let execution = t
        .bob
        .create_execution(&ridge_core::api::CreateExecution {
            function_id: Some(f.id.clone()),
            ..Default::default()
        })
        .await
        .expect("execution");
    let b_tokens = t.admin.list_tokens(None).await.expect("tokens");
    let bob_token = &b_tokens
        .iter()
        .find(|tk| tk.user_id == t.bob_id)
        .expect("bob's token")
        .id;
    let secrets_of_b = [
        f.id.as_str(),
        private.id.as_str(),
        alias.name.as_str(),
        webhook.id.as_str(),
        job.id.as_str(),
        execution.id.as_str(),
        trigger.id.as_str(),
        "b-orders",
    ];

    let (fid, rid, wid, jid, eid) = (&f.id, &private.id, &webhook.id, &job.id, &execution.id);
    // (route, method, concrete path, body, expected status); 200 means "answered, but showed
    // nothing of B".
    let cases: Vec<(&str, Method, String, Option<Value>, u16)> = vec![
        ("/v1/info", Method::GET, "/v1/info".into(), None, 200),
        ("/metrics", Method::GET, "/metrics".into(), None, 403),
        ("/v1/whoami", Method::GET, "/v1/whoami".into(), None, 200),
        (
            "/v1/jobs/schedule",
            Method::GET,
            "/v1/jobs/schedule?pattern=0+0+*+*+*".into(),
            None,
            200,
        ),
        (
            "/v1/statistics",
            Method::GET,
            "/v1/statistics?project_id=b".into(),
            None,
            200,
        ),
        (
            "/v1/projects",
            Method::GET,
            "/v1/projects".into(),
            None,
            403,
        ),
        (
            "/v1/projects",
            Method::POST,
            "/v1/projects".into(),
            Some(json!({"id": "c"})),
            403,
        ),
        (
            "/v1/projects/{id}",
            Method::GET,
            "/v1/projects/b".into(),
            None,
            403,
        ),
        (
            "/v1/users",
            Method::GET,
            "/v1/users?project_id=b".into(),
            None,
            403,
        ),
        (
            "/v1/users",
            Method::POST,
            "/v1/users".into(),
            Some(json!({"name": "mallory", "project_id": "b", "role": "admin"})),
            403,
        ),
        (
            "/v1/users/{id}",
            Method::DELETE,
            format!("/v1/users/{}", t.bob_id),
            None,
            403,
        ),
        ("/v1/tokens", Method::GET, "/v1/tokens".into(), None, 403),
        (
            "/v1/tokens",
            Method::POST,
            "/v1/tokens".into(),
            Some(json!({"user_id": t.bob_id})),
            403,
        ),
        (
            "/v1/tokens/{id}",
            Method::DELETE,
            format!("/v1/tokens/{bob_token}"),
            None,
            403,
        ),
        ("/v1/quotas", Method::GET, "/v1/quotas".into(), None, 200),
        (
            "/v1/quotas/{project}",
            Method::GET,
            "/v1/quotas/b".into(),
            None,
            403,
        ),
        (
            "/v1/quotas/{project}",
            Method::PUT,
            "/v1/quotas/b".into(),
            Some(json!({"functions": 0})),
            403,
        ),
        (
            "/v1/retention",
            Method::GET,
            "/v1/retention".into(),
            None,
            200,
        ),
        (
            "/v1/retention/{project}",
            Method::GET,
            "/v1/retention/b".into(),
            None,
            403,
        ),
        (
            "/v1/retention/{project}",
            Method::PUT,
            "/v1/retention/b".into(),
            Some(json!({"max_age": 0})),
            403,
        ),
        (
            "/v1/runtimes",
            Method::GET,
            "/v1/runtimes".into(),
            None,
            200,
        ),
        (
            "/v1/runtimes",
            Method::POST,
            "/v1/runtimes".into(),
            Some(json!({"image": "python3"})),
            403,
        ),
        (
            "/v1/runtimes/{id}",
            Method::GET,
            format!("/v1/runtimes/{rid}"),
            None,
            404,
        ),
        (
            "/v1/runtimes/{id}",
            Method::PUT,
            format!("/v1/runtimes/{rid}"),
            Some(json!({"name": "x"})),
            403,
        ),
        (
            "/v1/runtimes/{id}",
            Method::DELETE,
            format!("/v1/runtimes/{rid}"),
            None,
            403,
        ),
        (
            "/v1/runtimes/{id}/pool",
            Method::GET,
            format!("/v1/runtimes/{rid}/pool"),
            None,
            403,
        ),
        (
            "/v1/runtimes/{id}/pool",
            Method::PUT,
            format!("/v1/runtimes/{rid}/pool"),
            Some(json!({"size": 1})),
            403,
        ),
        (
            "/v1/functions",
            Method::GET,
            "/v1/functions".into(),
            None,
            200,
        ),
        (
            "/v1/functions",
            Method::GET,
            "/v1/functions?project_id=b".into(),
            None,
            200,
        ),
        (
            "/v1/functions",
            Method::GET,
            "/v1/functions?all_projects=true".into(),
            None,
            403,
        ),
        (
            "/v1/functions/{id}",
            Method::GET,
            format!("/v1/functions/{fid}"),
            None,
            404,
        ),
        (
            "/v1/functions/{id}",
            Method::GET,
            format!("/v1/functions/{fid}?download=true"),
            None,
            404,
        ),
        (
            "/v1/functions/{id}",
            Method::PUT,
            format!("/v1/functions/{fid}"),
            Some(json!({"name": "stolen"})),
            404,
        ),
        (
            "/v1/functions/{id}",
            Method::DELETE,
            format!("/v1/functions/{fid}"),
            None,
            404,
        ),
        (
            "/v1/functions/{id}/scale_up",
            Method::POST,
            format!("/v1/functions/{fid}/scale_up"),
            None,
            403,
        ),
        (
            "/v1/functions/{id}/scale_down",
            Method::POST,
            format!("/v1/functions/{fid}/scale_down"),
            None,
            403,
        ),
        (
            "/v1/functions/{id}/detach",
            Method::POST,
            format!("/v1/functions/{fid}/detach"),
            None,
            403,
        ),
        (
            "/v1/functions/{id}/workers",
            Method::GET,
            format!("/v1/functions/{fid}/workers"),
            None,
            403,
        ),
        (
            "/v1/functions/{id}/versions/{n}/scale_up",
            Method::POST,
            format!("/v1/functions/{fid}/versions/1/scale_up"),
            None,
            403,
        ),
        (
            "/v1/functions/{id}/versions/{n}/scale_down",
            Method::POST,
            format!("/v1/functions/{fid}/versions/1/scale_down"),
            None,
            403,
        ),
        (
            "/v1/functions/{id}/versions/{n}/detach",
            Method::POST,
            format!("/v1/functions/{fid}/versions/1/detach"),
            None,
            403,
        ),
        (
            "/v1/functions/{id}/versions",
            Method::GET,
            format!("/v1/functions/{fid}/versions"),
            None,
            404,
        ),
        (
            "/v1/functions/{id}/versions",
            Method::POST,
            format!("/v1/functions/{fid}/versions"),
            Some(json!({})),
            404,
        ),
        (
            "/v1/functions/{id}/versions/{n}",
            Method::GET,
            format!("/v1/functions/{fid}/versions/1"),
            None,
            404,
        ),
        (
            "/v1/functions/{id}/versions/{n}",
            Method::GET,
            format!("/v1/functions/{fid}/versions/1?download=true"),
            None,
            404,
        ),
        (
            "/v1/functions/{id}/versions/{n}",
            Method::DELETE,
            format!("/v1/functions/{fid}/versions/1"),
            None,
            404,
        ),
        (
            "/v1/executions",
            Method::GET,
            "/v1/executions".into(),
            None,
            200,
        ),
        (
            "/v1/executions",
            Method::GET,
            format!("/v1/executions?function_id={fid}"),
            None,
            200,
        ),
        (
            "/v1/executions",
            Method::GET,
            "/v1/executions?all_projects=true".into(),
            None,
            403,
        ),
        (
            "/v1/executions",
            Method::POST,
            "/v1/executions".into(),
            Some(json!({"function_id": fid})),
            404,
        ),
        (
            "/v1/executions",
            Method::POST,
            "/v1/executions".into(),
            Some(json!({"function_alias": "b-alias"})),
            404,
        ),
        (
            "/v1/executions/{id}",
            Method::GET,
            format!("/v1/executions/{eid}"),
            None,
            404,
        ),
        (
            "/v1/executions/{id}",
            Method::DELETE,
            format!("/v1/executions/{eid}"),
            None,
            404,
        ),
        (
            "/v1/executions/{id}/log",
            Method::GET,
            format!("/v1/executions/{eid}/log"),
            None,
            404,
        ),
        ("/v1/aliases", Method::GET, "/v1/aliases".into(), None, 200),
        // Qinling's bug let any member list every project's aliases.
        (
            "/v1/aliases",
            Method::GET,
            "/v1/aliases?all_projects=true".into(),
            None,
            403,
        ),
        (
            "/v1/aliases",
            Method::POST,
            "/v1/aliases".into(),
            Some(json!({"name": "mine", "function_id": fid})),
            404,
        ),
        (
            "/v1/aliases/{name}",
            Method::GET,
            "/v1/aliases/b-alias".into(),
            None,
            404,
        ),
        (
            "/v1/aliases/{name}",
            Method::PUT,
            "/v1/aliases/b-alias".into(),
            Some(json!({"description": "x"})),
            404,
        ),
        (
            "/v1/aliases/{name}",
            Method::DELETE,
            "/v1/aliases/b-alias".into(),
            None,
            404,
        ),
        (
            "/v1/webhooks",
            Method::GET,
            "/v1/webhooks".into(),
            None,
            200,
        ),
        (
            "/v1/webhooks",
            Method::GET,
            "/v1/webhooks?all_projects=true".into(),
            None,
            403,
        ),
        (
            "/v1/webhooks",
            Method::POST,
            "/v1/webhooks".into(),
            Some(json!({"function_id": fid})),
            404,
        ),
        (
            "/v1/webhooks",
            Method::POST,
            "/v1/webhooks".into(),
            Some(json!({"function_alias": "b-alias"})),
            404,
        ),
        (
            "/v1/webhooks/{id}",
            Method::GET,
            format!("/v1/webhooks/{wid}"),
            None,
            404,
        ),
        (
            "/v1/webhooks/{id}",
            Method::PUT,
            format!("/v1/webhooks/{wid}"),
            Some(json!({"description": "x"})),
            404,
        ),
        (
            "/v1/webhooks/{id}",
            Method::DELETE,
            format!("/v1/webhooks/{wid}"),
            None,
            404,
        ),
        (
            "/v1/event_triggers",
            Method::GET,
            "/v1/event_triggers".into(),
            None,
            200,
        ),
        (
            "/v1/event_triggers",
            Method::POST,
            "/v1/event_triggers".into(),
            Some(json!({"function_id": fid, "amqp_url": "amqp://127.0.0.1/%2f", "queue": "q"})),
            404,
        ),
        (
            "/v1/event_triggers/{id}",
            Method::GET,
            format!("/v1/event_triggers/{}", trigger.id),
            None,
            404,
        ),
        (
            "/v1/event_triggers/{id}",
            Method::PUT,
            format!("/v1/event_triggers/{}", trigger.id),
            Some(json!({"description": "x"})),
            404,
        ),
        (
            "/v1/event_triggers/{id}",
            Method::DELETE,
            format!("/v1/event_triggers/{}", trigger.id),
            None,
            404,
        ),
        (
            "/v1/event_triggers/{id}/pause",
            Method::POST,
            format!("/v1/event_triggers/{}/pause", trigger.id),
            None,
            404,
        ),
        (
            "/v1/event_triggers/{id}/resume",
            Method::POST,
            format!("/v1/event_triggers/{}/resume", trigger.id),
            None,
            404,
        ),
        ("/v1/jobs", Method::GET, "/v1/jobs".into(), None, 200),
        (
            "/v1/jobs",
            Method::GET,
            "/v1/jobs?all_projects=true".into(),
            None,
            403,
        ),
        (
            "/v1/jobs",
            Method::POST,
            "/v1/jobs".into(),
            Some(json!({"function_id": fid, "pattern": "0 0 * * *"})),
            404,
        ),
        (
            "/v1/jobs/{id}",
            Method::GET,
            format!("/v1/jobs/{jid}"),
            None,
            404,
        ),
        (
            "/v1/jobs/{id}",
            Method::PUT,
            format!("/v1/jobs/{jid}"),
            Some(json!({"name": "x"})),
            404,
        ),
        (
            "/v1/jobs/{id}",
            Method::DELETE,
            format!("/v1/jobs/{jid}"),
            None,
            404,
        ),
    ];
    // Public by design: discovery, the OpenAPI document, and webhook invoke (the webhook's own
    // secret guards it). The dashboard's assets hold no data: it reads everything through the API.
    let mut covered: BTreeSet<String> = [
        "/",
        "/v1",
        "/v1/openapi.json",
        "/v1/webhooks/{id}/invoke",
        "/dashboard",
        "/dashboard/{*path}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for (route, method, path, body, expected) in cases {
        covered.insert(route.to_owned());
        let (status, text) = call(ts, Some(&t.alice_token), method.clone(), &path, body).await;
        assert_eq!(status, expected, "{method} {path}: {text}");
        if status < 300 {
            for secret in secrets_of_b {
                assert!(
                    !text.contains(secret),
                    "{method} {path} showed `{secret}` of B: {text}"
                );
            }
        }
    }
    // A function upload onto B's private runtime (multipart, so through the client).
    let (status, _) = api_error(
        t.alice
            .create_function(&Upload {
                runtime_id: Some(private.id.clone()),
                package: Some(zip_files(&[("function.py", "x = 1")])),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 404);
    let missing: Vec<_> = routes(&ts.state).difference(&covered).cloned().collect();
    assert!(missing.is_empty(), "routes not enumerated: {missing:?}");

    // Nothing of B changed.
    let still = t.bob.get_function(&f.id).await.expect("function kept");
    assert_eq!(still.name, f.name);
    assert_eq!(t.bob.list_versions(&f.id).await.expect("versions").len(), 1);
    let a = t.bob.get_alias("b-alias").await.expect("alias kept");
    assert_eq!((a.function_version, a.description), (1, None));
    assert_eq!(
        t.bob
            .get_webhook(&webhook.id)
            .await
            .expect("webhook")
            .description,
        None
    );
    assert_eq!(t.bob.get_job(&job.id).await.expect("job").name, job.name);
    t.bob
        .get_execution(&execution.id)
        .await
        .expect("execution kept");
    t.carol
        .get_runtime(&private.id)
        .await
        .expect("runtime kept");
    assert_eq!(t.admin.list_users(Some("b")).await.expect("users").len(), 2);
    // And alice's own project is untouched by her attempts.
    assert!(
        t.alice
            .list_functions(false)
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn admin_only_endpoints_refuse_members_and_serve_admins() {
    let t = tenants().await;
    let ts = &t.ts;
    let runtime = ts.python_runtime().await;
    let f = t.bob.function(&runtime, "1").await;
    t.bob.create_version(&f.id, None).await.expect("version");
    let bob_token = {
        let tokens = t.admin.list_tokens(Some(&t.bob_id)).await.expect("tokens");
        tokens[0].id.clone()
    };
    let fid = &f.id;
    let rid = &runtime.id;
    let admin_only: Vec<(Method, String, Option<Value>)> = vec![
        (
            Method::POST,
            "/v1/runtimes".into(),
            Some(json!({"image": "python3", "name": "n"})),
        ),
        (
            Method::PUT,
            format!("/v1/runtimes/{rid}"),
            Some(json!({"description": "d"})),
        ),
        (Method::GET, format!("/v1/runtimes/{rid}/pool"), None),
        (
            Method::PUT,
            format!("/v1/runtimes/{rid}/pool"),
            Some(json!({"size": 1})),
        ),
        (Method::GET, format!("/v1/functions/{fid}/workers"), None),
        (Method::POST, format!("/v1/functions/{fid}/scale_up"), None),
        (
            Method::POST,
            format!("/v1/functions/{fid}/scale_down"),
            None,
        ),
        (Method::POST, format!("/v1/functions/{fid}/detach"), None),
        (
            Method::POST,
            format!("/v1/functions/{fid}/versions/1/scale_up"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/functions/{fid}/versions/1/scale_down"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/functions/{fid}/versions/1/detach"),
            None,
        ),
        (Method::GET, "/v1/functions?all_projects=true".into(), None),
        (Method::GET, "/v1/executions?all_projects=true".into(), None),
        (Method::GET, "/v1/webhooks?all_projects=true".into(), None),
        (Method::GET, "/v1/jobs?all_projects=true".into(), None),
        (Method::GET, "/v1/aliases?all_projects=true".into(), None),
        (Method::GET, "/v1/projects".into(), None),
        (
            Method::POST,
            "/v1/projects".into(),
            Some(json!({"id": "c"})),
        ),
        (Method::GET, "/v1/users".into(), None),
        (
            Method::POST,
            "/v1/users".into(),
            Some(json!({"name": "zed", "project_id": "a"})),
        ),
        (Method::GET, "/v1/tokens".into(), None),
        (
            Method::POST,
            "/v1/tokens".into(),
            Some(json!({"user_id": t.alice_id})),
        ),
        (Method::DELETE, format!("/v1/tokens/{bob_token}"), None),
        (Method::GET, "/v1/quotas/b".into(), None),
        (
            Method::PUT,
            "/v1/quotas/a".into(),
            Some(json!({"functions": 5})),
        ),
        (Method::GET, "/v1/retention/b".into(), None),
        (
            Method::PUT,
            "/v1/retention/a".into(),
            Some(json!({"max_per_function": 5})),
        ),
        (Method::GET, "/metrics".into(), None),
        (Method::DELETE, format!("/v1/runtimes/{rid}"), None),
    ];
    for (method, path, body) in &admin_only {
        let (status, text) =
            call(ts, Some(&t.alice_token), method.clone(), path, body.clone()).await;
        assert_eq!(status, 403, "member: {method} {path}: {text}");
        assert!(text.contains("Operation not allowed"), "{text}");
        let (status, text) = call(ts, Some(BOOTSTRAP), method.clone(), path, body.clone()).await;
        // Deleting a runtime in use is refused for what it is, not for who asks.
        let ok = status < 300 || (path.starts_with("/v1/runtimes/") && method == Method::DELETE);
        assert!(ok, "admin: {method} {path}: {status} {text}");
    }
    // An admin's plain list is its own project; `all_projects` is everyone's.
    assert!(t.admin.list_functions(false).await.expect("own").is_empty());
    assert_eq!(t.admin.list_functions(true).await.expect("all").len(), 1);
    // An admin reads another project's function, but cannot delete it.
    t.admin.get_function(&f.id).await.expect("admin reads");
    let (status, message) = api_error(t.admin.delete_function(&f.id).await);
    assert_eq!(
        (status, message.as_str()),
        (403, "Function can only be deleted by its owner.")
    );
    // carol is admin in her own project b: she may delete it.
    t.carol
        .delete_function(&f.id)
        .await
        .expect("owner project deletes");
}

#[tokio::test]
async fn none_mode_is_admin_of_default_and_ignores_tokens() {
    let ts = TestApi::start().await;
    let me = ts.api.whoami().await.expect("whoami");
    assert_eq!(
        (me.auth.as_str(), me.project_id.as_str(), me.is_admin),
        ("none", "default", true)
    );
    let (status, body) = call(&ts, Some("notused"), Method::GET, "/v1/functions", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&ts, None, Method::GET, "/v1/users", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`token` auth mode"), "{body}");
    // Quotas work in every mode.
    assert_eq!(
        ts.api.quotas(None).await.expect("quotas").project_id,
        "default"
    );
}
