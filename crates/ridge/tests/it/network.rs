//! The per-function outbound network grant: off unless the operator allows grants, and then
//! only for the functions that ask, in a network namespace of their own behind `pasta`. Only
//! this host's addresses are contacted: "outbound" is shown by reaching a listener on the
//! host's non-loopback address, never Ridge's own port on the host's loopback, nor the
//! link-local metadata address.

use std::net::{IpAddr, TcpListener, UdpSocket};

use crate::common::{TestServer, output, zip_files};
use reqwest::multipart::{Form, Part};
use ridge::config::{FileConfig, Overrides, Settings};
use serde_json::{Value, json};

/// Connects to each `[host, port]` of `targets`; answers `connected` or the error's class, and
/// the worker's uid.
const PROBE: &str = r#"
import os, socket
def main(targets, **kw):
    answers = []
    for host, port in targets:
        s = socket.socket()
        s.settimeout(3)
        try:
            s.connect((host, port))
            answers.append("connected")
        except OSError as e:
            answers.append(type(e).__name__)
        finally:
            s.close()
    return {"uid": os.getuid(), "answers": answers}
"#;

/// The cloud metadata address, link-local.
const METADATA: (&str, u16) = ("169.254.169.254", 80);

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

/// Whether Ridge's own port on the host's loopback answers `function`.
async fn probe(t: &TestServer, function: &Value) -> Value {
    let port = t.server.addr().port();
    let answers = probe_all(t, function, &[("127.0.0.1".to_owned(), port)]).await;
    answers[0].clone()
}

async fn probe_all(t: &TestServer, function: &Value, targets: &[(String, u16)]) -> Vec<Value> {
    run_probe(t, function, targets).await["answers"]
        .as_array()
        .expect("a list of answers")
        .clone()
}

async fn run_probe(t: &TestServer, function: &Value, targets: &[(String, u16)]) -> Value {
    let f = serde_json::from_value(function.clone()).expect("function view");
    let e = t
        .run(&f, Some(&json!({"targets": targets}).to_string()))
        .await;
    assert_eq!(e.status, "success", "{e:?}");
    output(&e)
}

/// The command names of the host's processes whose real uid is `uid`.
fn processes_of(uid: u64) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
        };
        if field("Uid:").is_some_and(|u| u == uid.to_string()) {
            names.extend(field("Name:"));
        }
    }
    names
}

/// This host's address on its default route (a UDP `connect` sends nothing), if it has one
/// that is not loopback.
fn host_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("203.0.113.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
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
async fn an_outbound_function_reaches_out_but_not_the_host_loopback_or_link_local() {
    let t = TestServer::start_with(|s| s.allow_function_network = true).await;
    let rt = t.python_runtime().await;
    let (status, open) = create(&t, &rt.id, Some("outbound")).await;
    assert_eq!(status, 201, "{open}");
    assert_eq!(open["network"], "outbound");
    let (_, closed) = create(&t, &rt.id, None).await;
    // A listener on the host's own non-loopback address stands for the outside world (the
    // tests contact nothing beyond this host).
    let host = host_address().expect(
        "this test needs a non-loopback IPv4 address on the default route, as any host that \
         runs functions with outbound network has",
    );
    let listener = TcpListener::bind((host, 0)).expect("listen on the host's address");
    let outside = (
        host.to_string(),
        listener.local_addr().expect("addr").port(),
    );
    let ridge = t.server.addr().port();
    let targets = [
        outside.clone(),
        ("127.0.0.1".to_owned(), ridge),
        (host.to_string(), ridge),
        (METADATA.0.to_owned(), METADATA.1),
    ];
    // Out to the world; Ridge's port on the host's loopback is the worker's own, empty,
    // loopback; Ridge's port on the host's address (where it does not listen) never answers;
    // link-local is refused by a `prohibit` route (EACCES), not merely unanswered.
    let answers = probe_all(&t, &open, &targets).await;
    assert_eq!(answers[0], "connected", "{answers:?}");
    assert_eq!(answers[1], "ConnectionRefusedError", "{answers:?}");
    assert_ne!(answers[2], "connected", "{answers:?}");
    assert_eq!(answers[3], "PermissionError", "{answers:?}");
    // A loopback function has no route anywhere but its own loopback.
    assert_eq!(
        probe_all(&t, &closed, &targets).await,
        ["OSError", "ConnectionRefusedError", "OSError", "OSError"]
    );

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
    assert_eq!(probe_all(&t, &updated, &[outside]).await, ["connected"]);
    drop(listener);
    t.stop().await;
}

#[tokio::test]
async fn without_pasta_outbound_grants_are_refused_and_never_get_the_host_network() {
    let no_pasta = |s: &mut Settings| {
        s.allow_function_network = true;
        s.sandbox.pasta = Some("/nonexistent/pasta".into());
    };
    // `refuse` (the default): the server does not start, and says why.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::merge(
        Overrides {
            listen: Some("127.0.0.1:0".to_owned()),
            data_dir: Some(dir.path().to_path_buf()),
            ..Overrides::default()
        },
        FileConfig::default(),
    )
    .expect("valid settings");
    no_pasta(&mut settings);
    let Err(refusal) = ridge::serve::start(settings).await else {
        panic!("the server started with outbound grants it cannot give");
    };
    let refusal = format!("{refusal:#}");
    assert!(
        refusal.contains("allow_function_network") && refusal.contains("/nonexistent/pasta"),
        "{refusal}"
    );

    // `degraded`: it starts, and a granted function's execution ends in `error` rather than
    // reaching the host's loopback.
    let t = TestServer::start_with(|s| {
        no_pasta(s);
        s.sandbox.enforcement = ridge_sandbox::Enforcement::Degraded;
    })
    .await;
    let rt = t.python_runtime().await;
    let (status, open) = create(&t, &rt.id, Some("outbound")).await;
    assert_eq!(status, 201, "{open}");
    let f = serde_json::from_value(open).expect("function view");
    let port = t.server.addr().port();
    let e = t
        .run(
            &f,
            Some(&json!({"targets": [["127.0.0.1", port]]}).to_string()),
        )
        .await;
    assert_eq!(e.status, "error", "{e:?}");
    // Functions without the grant still run.
    let (_, closed) = create(&t, &rt.id, None).await;
    assert_eq!(probe(&t, &closed).await, json!("ConnectionRefusedError"));
    t.stop().await;
}

#[tokio::test]
async fn an_outbound_workers_pasta_ends_with_it() {
    // A range of its own, so that no other test's worker has the uid looked for.
    let range = ridge_sandbox::UidRange {
        first: 0x7100_0000,
        count: 8,
    };
    let t = TestServer::start_with(|s| {
        s.allow_function_network = true;
        s.sandbox.uids = range;
    })
    .await;
    let rt = t.python_runtime().await;
    let (_, open) = create(&t, &rt.id, Some("outbound")).await;
    let uid = run_probe(&t, &open, &[]).await["uid"]
        .as_u64()
        .expect("the worker's uid");
    assert!(
        (u64::from(range.first)..u64::from(range.first + range.count)).contains(&uid),
        "{uid}"
    );
    let running = processes_of(uid);
    assert_eq!(
        running.iter().filter(|n| n.starts_with("pas")).count(),
        1,
        "one pasta runs as the worker's uid: {running:?}"
    );
    t.stop().await;
    for _ in 0..100 {
        if processes_of(uid).is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("still running as the worker's uid: {:?}", processes_of(uid));
}
