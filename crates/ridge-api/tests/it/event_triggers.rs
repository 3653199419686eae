//! `/v1/event_triggers` through the router: the round trip with the broker password never
//! shown back, pause and resume, and every refusal with its `faultstring`. Consuming from a
//! real broker is tested end to end in `crates/ridge/tests/it/events.rs`.

use serde_json::{Value, json};

use crate::harness::TestApi;

const URL: &str = "amqp://nova:s3cr3t-pass@127.0.0.1:5672/%2f";

#[tokio::test]
async fn triggers_round_trip_without_showing_the_password() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"ok\"").await;
    let reply = t
        .api
        .post("/v1/event_triggers")
        .json(&json!({
            "function_id": f.id,
            "amqp_url": URL,
            "exchange": "nova",
            "binding_keys": ["notifications.info"],
            "event_types": ["compute.instance.*.end"],
            "prefetch": 4,
            "max_retries": 2,
            "dead_letter_exchange": "",
            "dead_letter_routing_key": "failed",
        }))
        .send()
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.value());
    let created = reply.value();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["amqp_url"], "amqp://nova:***@127.0.0.1:5672/%2f");
    assert_eq!(created["queue"], format!("ridge.trigger.{id}"));
    assert_eq!(created["status"], "starting");
    assert_eq!(created["function_version"], 0);
    assert_eq!(created["prefetch"], 4);
    assert_eq!(created["dead_letter_exchange"], "");

    let shown = t.api.get(&format!("/v1/event_triggers/{id}")).send().await;
    assert_eq!(shown.status, 200);
    let listed = t.api.get("/v1/event_triggers").send().await;
    assert_eq!(listed.value()["event_triggers"][0]["id"], id.as_str());

    let reply = t
        .api
        .post(&format!("/v1/event_triggers/{id}/pause"))
        .send()
        .await;
    assert_eq!(reply.value()["status"], "paused");
    let reply = t
        .api
        .put(&format!("/v1/event_triggers/{id}"))
        .json(&json!({"queue": "jobs", "description": "moved", "reply_exchange": "out"}))
        .send()
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.value());
    let updated = reply.value();
    assert_eq!(updated["queue"], "jobs");
    assert_eq!(updated["exchange"], Value::Null);
    assert_eq!(updated["binding_keys"], json!([]));
    assert_eq!(updated["status"], "paused", "an update does not resume");
    assert_eq!(updated["reply_exchange"], "out");
    let reply = t
        .api
        .post(&format!("/v1/event_triggers/{id}/resume"))
        .send()
        .await;
    assert_eq!(reply.value()["status"], "starting");

    for body in [&created, &shown.value(), &listed.value(), &updated] {
        assert!(!body.to_string().contains("s3cr3t"), "{body}");
    }

    let reply = t
        .api
        .delete(&format!("/v1/event_triggers/{id}"))
        .send()
        .await;
    assert_eq!(reply.status, 204);
    let (status, fault) = t
        .api
        .get(&format!("/v1/event_triggers/{id}"))
        .send()
        .await
        .fault();
    assert_eq!(status, 404, "{fault}");
}

#[tokio::test]
async fn bad_triggers_are_refused_with_what_to_fix() {
    let t = TestApi::start().await;
    let rt = t.python_runtime().await;
    let f = t.function(&rt, "\"ok\"").await;
    let base = json!({"function_id": f.id, "amqp_url": URL, "queue": "q"});
    let with = |extra: Value| {
        let mut body = base.clone();
        for (k, v) in extra.as_object().expect("object") {
            if v.is_null() {
                body.as_object_mut().expect("object").remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases = [
        (json!({"amqp_url": null}), 400, "`amqp_url` is required"),
        (json!({"amqp_url": "http://h"}), 400, "amqp://"),
        (json!({"amqp_url": "amqps://h"}), 400, "TLS"),
        (json!({"queue": null}), 400, "a source is required"),
        (json!({"exchange": "x"}), 400, "not both"),
        (json!({"binding_keys": ["a"]}), 400, "go with `exchange`"),
        (json!({"queue": ""}), 400, "invalid `queue`"),
        (json!({"prefetch": 65}), 400, "1 to 64"),
        (json!({"prefetch": 0}), 400, "`prefetch`"),
        (json!({"max_retries": 21}), 400, "`max_retries`"),
        (json!({"retry_backoff_ms": 1}), 400, "`retry_backoff_ms`"),
        (
            json!({"dead_letter_routing_key": "k"}),
            400,
            "needs `dead_letter_exchange`",
        ),
        (json!({"event_types": ["a b"]}), 400, "event type pattern"),
        (json!({"surprise": 1}), 400, "surprise"),
        (
            json!({"function_id": null}),
            400,
            "function_alias or function_id",
        ),
        (
            json!({"function_id": ridge_core::FunctionId::new().to_string()}),
            404,
            "",
        ),
        (json!({"function_alias": "nope"}), 404, ""),
    ];
    for (extra, status, message) in cases {
        let body = with(extra.clone());
        let (got, fault) = t
            .api
            .post("/v1/event_triggers")
            .json(&body)
            .send()
            .await
            .fault();
        assert_eq!(got, status, "{extra}: {fault}");
        assert!(fault.contains(message), "{extra}: {fault}");
        assert!(!fault.contains("s3cr3t"), "{fault}");
    }
    let (status, fault) = t
        .api
        .get("/v1/event_triggers/not-a-uuid")
        .send()
        .await
        .fault();
    assert_eq!(status, 400, "{fault}");

    // The harness allows 3 triggers per project: the 4th is refused, saying the setting.
    for _ in 0..3 {
        let reply = t.api.post("/v1/event_triggers").json(&base).send().await;
        assert_eq!(reply.status, 201);
    }
    let (status, fault) = t
        .api
        .post("/v1/event_triggers")
        .json(&base)
        .send()
        .await
        .fault();
    assert_eq!(status, 403);
    assert!(fault.contains("max_triggers_per_project"), "{fault}");
}
