//! The per-function outbound network grant: off unless the operator allows grants, and then
//! only for the functions that ask. Only loopback addresses are contacted: "outbound" is shown
//! by reaching Ridge's own port on the host's loopback, which a sandboxed worker cannot.

use crate::common::{TestServer, output, zip_files};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

const PROBE: &str = r#"
import socket
def main(port, **kw):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", port))
        return "connected"
    except OSError as e:
        return type(e).__name__
    finally:
        s.close()
"#;

async fn create(t: &TestServer, runtime: &str, network: Option<&str>) -> (u16, Value) {
    let mut form = Form::new()
        .text("code", r#"{"source": "package"}"#)
        .text("runtime_id", runtime.to_owned())
        .text("entry", "function.main")
        .part(
            "package",
            Part::bytes(zip_files(&[("function.py", PROBE)])).file_name("p.zip"),
        );
    if let Some(n) = network {
        form = form.text("network", n.to_owned());
    }
    let resp = t
        .http()
        .post(t.v1("functions"))
        .multipart(form)
        .send()
        .await
        .expect("resp");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

async fn probe(t: &TestServer, function: &Value) -> Value {
    let f = serde_json::from_value(function.clone()).expect("function view");
    let port = t.server.addr().port();
    let e = t.run(&f, Some(&json!({"port": port}).to_string())).await;
    assert_eq!(e.status, "success", "{e:?}");
    output(&e)
}

#[tokio::test]
async fn outbound_grants_need_the_operator() {
    let t = TestServer::start().await;
    let rt = t.python_runtime().await;
    let (status, fault) = create(&t, &rt.id, Some("outbound")).await;
    assert_eq!(status, 403, "{fault}");
    assert!(
        fault["faultstring"]
            .as_str()
            .is_some_and(|s| s.contains("allow_function_network")),
        "{fault}"
    );
    let (status, fault) = create(&t, &rt.id, Some("everywhere")).await;
    assert_eq!(status, 400, "{fault}");
    let (status, f) = create(&t, &rt.id, None).await;
    assert_eq!(status, 201);
    assert_eq!(f["network"], "loopback");
    assert_eq!(probe(&t, &f).await, json!("ConnectionRefusedError"));
    assert!(
        t.client.list_functions(false).await.expect("list").len() == 1,
        "the refused ones left nothing"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_granted_function_reaches_the_host_network_and_others_do_not() {
    let t = TestServer::start_with(|s| s.allow_function_network = true).await;
    let rt = t.python_runtime().await;
    let (status, open) = create(&t, &rt.id, Some("outbound")).await;
    assert_eq!(status, 201, "{open}");
    assert_eq!(open["network"], "outbound");
    let (_, closed) = create(&t, &rt.id, None).await;
    assert_eq!(probe(&t, &open).await, json!("connected"));
    assert_eq!(probe(&t, &closed).await, json!("ConnectionRefusedError"));

    // Granting it later replaces the worker: the next execution has the network.
    let id = closed["id"].as_str().expect("id");
    let resp = t
        .http()
        .put(t.v1(&format!("functions/{id}")))
        .form(&[("network", "outbound")])
        .send()
        .await
        .expect("resp");
    assert_eq!(resp.status().as_u16(), 200);
    let updated: Value = resp.json().await.expect("json");
    assert_eq!(updated["network"], "outbound");
    assert_eq!(probe(&t, &updated).await, json!("connected"));
    t.stop().await;
}
