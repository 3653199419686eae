//! Webhooks through the router: CRUD, invoke with form, JSON and query input, secrets and
//! signatures, the rate and body limits, and alias resolution at invoke time.

use ridge_api::webhook_guard::sign;
use ridge_core::api::{CreateAlias, UpdateAlias, WebhookRequest};
use serde_json::{Map, Value, json};

use crate::harness::{PUBLIC_URL, TestApi, api_error, output};

fn to_function(id: &str) -> WebhookRequest {
    WebhookRequest {
        function_id: Some(id.to_owned()),
        ..Default::default()
    }
}

/// The router path of a webhook URL.
fn path(webhook_url: &str) -> &str {
    webhook_url
        .strip_prefix(PUBLIC_URL)
        .expect("the webhook URL is under the public URL")
}

#[tokio::test]
async fn invoke_passes_form_json_and_query_input() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"hook\"").await;
    let w = t
        .api
        .create_webhook(&to_function(&f.id))
        .await
        .expect("webhook");
    assert_eq!(
        w.webhook_url,
        format!("{PUBLIC_URL}/v1/webhooks/{}/invoke", w.id)
    );
    assert!(!w.has_secret && w.secret.is_none());
    assert_eq!(w.function_version, Some(0));

    // A JSON object body plus query parameters.
    let reply = t
        .api
        .post(&format!("{}?q=1", path(&w.webhook_url)))
        .json(&json!({"a": 1, "b": "x"}))
        .send()
        .await;
    assert_eq!(reply.status, 202);
    let body = reply.value();
    let e = t.wait(body["execution_id"].as_str().expect("id")).await;
    assert_eq!(e.status, "success", "{:?}", e.result);
    assert!(!e.sync);
    assert_eq!(e.description, Some(format!("Created by Webhook {}", w.id)));
    assert_eq!(output(&e)["kwargs"], json!({"q": "1", "a": 1, "b": "x"}));

    // Form fields.
    let reply = t
        .api
        .post(path(&w.webhook_url))
        .form(&[("alert", "fired"), ("level", "3")])
        .send()
        .await;
    assert_eq!(reply.status, 202);
    let e = t
        .wait(reply.value()["execution_id"].as_str().expect("id"))
        .await;
    assert_eq!(
        output(&e)["kwargs"],
        json!({"alert": "fired", "level": "3"})
    );

    // Unknown webhook: 404 with a faultstring.
    let unknown = ridge_core::WebhookId::new();
    let reply = t
        .api
        .post(&format!("/v1/webhooks/{unknown}/invoke"))
        .send()
        .await;
    assert_eq!(
        reply.fault(),
        (404, format!("Webhook not found [id={unknown}]"))
    );

    // Deleting the function is refused while the webhook exists.
    let (status, msg) = api_error(t.api.delete_function(&f.id).await);
    assert_eq!(
        (status, msg.as_str()),
        (403, "The function is still associated with webhook(s).")
    );
    t.api.delete_webhook(&w.id).await.expect("deleted");
    let (status, _) = api_error(t.api.get_webhook(&w.id).await);
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_secret_is_required_as_bearer_token_or_signature() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"ok\"").await;
    let w = t
        .api
        .create_webhook(&WebhookRequest {
            secret: Some(json!(true)),
            ..to_function(&f.id)
        })
        .await
        .expect("webhook");
    let secret = w.secret.clone().expect("the secret is shown once");
    assert_eq!(secret.len(), 64);
    let shown = t.api.get_webhook(&w.id).await.expect("show");
    assert!(
        shown.has_secret && shown.secret.is_none(),
        "never shown again"
    );
    let listed = t.api.get("/v1/webhooks").send().await;
    assert!(!listed.text().contains(&secret));

    let input: Map<String, Value> = serde_json::from_value(json!({"n": 1})).expect("map");
    let (status, msg) = api_error(t.api.invoke_webhook(&w.id, &input, &[]).await);
    assert_eq!(status, 401);
    assert!(msg.contains("X-Hub-Signature-256"), "{msg}");
    let (status, _) = api_error(
        t.api
            .invoke_webhook(
                &w.id,
                &input,
                &[("Authorization", "Bearer wrong-secret-value".into())],
            )
            .await,
    );
    assert_eq!(status, 401);
    let ok = t
        .api
        .invoke_webhook(
            &w.id,
            &input,
            &[("Authorization", format!("Bearer {secret}"))],
        )
        .await
        .expect("bearer accepted");
    assert_eq!(t.wait(&ok.execution_id).await.status, "success");

    // GitHub-style signature of the exact body.
    let body = serde_json::to_vec(&input).expect("json");
    let ok = t
        .api
        .invoke_webhook(
            &w.id,
            &input,
            &[("X-Hub-Signature-256", sign(&secret, &body))],
        )
        .await
        .expect("signature accepted");
    assert_eq!(
        output(&t.wait(&ok.execution_id).await)["kwargs"],
        json!({"n": 1})
    );
    let (status, _) = api_error(
        t.api
            .invoke_webhook(
                &w.id,
                &input,
                &[("X-Hub-Signature-256", sign(&secret, b"other"))],
            )
            .await,
    );
    assert_eq!(status, 401);

    // A chosen secret; removing it makes the webhook public again.
    let short = t
        .api
        .update_webhook(
            &w.id,
            &WebhookRequest {
                secret: Some(json!("short")),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(api_error(short).0, 400);
    let updated = t
        .api
        .update_webhook(
            &w.id,
            &WebhookRequest {
                secret: Some(json!(false)),
                ..Default::default()
            },
        )
        .await
        .expect("secret removed");
    assert!(!updated.has_secret);
    t.api
        .invoke_webhook(&w.id, &input, &[])
        .await
        .expect("public again");
}

#[tokio::test]
async fn rate_and_body_limits() {
    let t = TestApi::start_with(|s| {
        s.config.webhook_rate_limit = 2;
        s.config.webhook_max_body = 64;
    })
    .await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "1").await;
    let w = t
        .api
        .create_webhook(&to_function(&f.id))
        .await
        .expect("webhook");
    let big = "x".repeat(100);
    let reply = t
        .api
        .post(path(&w.webhook_url))
        .json(&json!({ "big": big }))
        .send()
        .await;
    let (status, message) = reply.fault();
    assert_eq!(status, 413);
    assert!(message.contains("at most 64 bytes"), "{message}");

    let input = Map::new();
    // The refused 413 request took a token too: one left.
    t.api
        .invoke_webhook(&w.id, &input, &[])
        .await
        .expect("within the limit");
    let reply = t.api.post(path(&w.webhook_url)).send().await;
    assert_eq!(reply.status, 429);
    assert!(reply.headers.contains_key("retry-after"));
    let (_, message) = reply.fault();
    assert!(message.contains("rate limit"), "{message}");
    // Another webhook has its own budget.
    let w2 = t
        .api
        .create_webhook(&to_function(&f.id))
        .await
        .expect("webhook");
    t.api
        .invoke_webhook(&w2.id, &input, &[])
        .await
        .expect("own budget");
}

#[tokio::test]
async fn webhooks_follow_alias_updates_and_validate_targets() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"one\"").await;
    t.api.create_version(&f.id, None).await.expect("v1");
    t.update_code(&f, "\"two\"").await;
    t.api
        .create_alias(&CreateAlias {
            name: Some("live".into()),
            function_id: Some(f.id.clone()),
            function_version: Some(json!(1)),
            description: None,
        })
        .await
        .expect("alias");
    let w = t
        .api
        .create_webhook(&WebhookRequest {
            function_alias: Some("live".into()),
            ..Default::default()
        })
        .await
        .expect("webhook");
    assert_eq!(
        (w.function_id.as_deref(), w.function_alias.as_deref()),
        (None, Some("live"))
    );
    let input = Map::new();
    let run = t
        .api
        .invoke_webhook(&w.id, &input, &[])
        .await
        .expect("invoke");
    let e = t.wait(&run.execution_id).await;
    assert_eq!(
        (output(&e)["v"].clone(), e.function_version),
        (json!("one"), 1)
    );
    assert_eq!(e.function_alias.as_deref(), Some("live"));

    t.api
        .update_alias(
            "live",
            &UpdateAlias {
                function_version: Some(json!(0)),
                ..Default::default()
            },
        )
        .await
        .expect("moved");
    let run = t
        .api
        .invoke_webhook(&w.id, &input, &[])
        .await
        .expect("invoke");
    assert_eq!(output(&t.wait(&run.execution_id).await)["v"], "two");

    // Targets are validated on create and update; a function target clears the alias.
    let (status, _) = api_error(
        t.api
            .create_webhook(&WebhookRequest {
                function_alias: Some("nope".into()),
                ..Default::default()
            })
            .await,
    );
    assert_eq!(status, 404);
    let (status, msg) = api_error(t.api.create_webhook(&WebhookRequest::default()).await);
    assert_eq!(
        (status, msg.as_str()),
        (
            400,
            "Either function_alias or function_id must be provided."
        )
    );
    let (status, _) = api_error(
        t.api
            .create_webhook(&WebhookRequest {
                function_version: Some(json!(7)),
                ..to_function(&f.id)
            })
            .await,
    );
    assert_eq!(status, 404);
    // The openstack client sends the version as a string.
    let moved = t
        .api
        .update_webhook(
            &w.id,
            &WebhookRequest {
                function_version: Some(json!("1")),
                ..to_function(&f.id)
            },
        )
        .await
        .expect("moved to a version");
    assert_eq!(
        (moved.function_alias, moved.function_version),
        (None, Some(1))
    );
}
