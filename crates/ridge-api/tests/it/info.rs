//! `GET /v1/info` through the router, as a snapshot: every key and the shape of every value,
//! with what varies by machine (the data directory), by release (the version) and by run (when
//! this node started and heartbeat) replaced.

use crate::harness::TestApi;

#[tokio::test]
async fn info_keeps_its_shape() {
    let t = TestApi::start().await;
    let reply = t.api.get("/v1/info").send().await;
    assert_eq!(reply.status, 200);
    let dir = t.dir.path().display().to_string();
    let text = reply.text().replace(&dir, "[data dir]");
    let mut info: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    info["version"] = "[version]".into();
    // This node, heartbeating since it started.
    assert_eq!(info["nodes"][0]["name"], info["node"]);
    for time in ["started_at", "heartbeat_at"] {
        let at = info["nodes"][0][time].as_str().expect("a time");
        assert!(at.ends_with('Z') && at.len() == 20, "{time}: {at}");
        info["nodes"][0][time] = format!("[{time}]").into();
    }
    insta::assert_json_snapshot!("info", info);
}
