//! `deploy/kubernetes/ridge.yaml`: the manifest parses (PyYAML, as `kubectl` would read it; no
//! cluster here), its `ridge.toml` is a configuration Ridge accepts, what the Deployment takes
//! from the Secret and the ConfigMap is there, each node is named after its pod and told its own
//! address, and the probes ask a path a server in `token` auth mode answers without credentials.

use std::path::Path;

use ridge::config::FileConfig;
use ridge::tenancy::AuthSettings;
use serde_json::Value;

use crate::common::TestServer;

const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../deploy/kubernetes/ridge.yaml"
);

/// Every document of the manifest, parsed by PyYAML (`yaml.safe_load_all`): with `python3` on
/// PATH, else Debian's (scripts/test-deps.sh installs python3-yaml for it).
fn documents() -> Vec<Value> {
    let mut failures = Vec::new();
    for python in ["python3", "/usr/bin/python3"] {
        let out = std::process::Command::new(python)
            .args([
                "-c",
                "import json, sys, yaml\n\
                 json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], sys.stdout)",
                MANIFEST,
            ])
            .output();
        match out {
            Ok(out) if out.status.success() => {
                return serde_json::from_slice(&out.stdout).expect("python printed JSON");
            }
            Ok(out) => failures.push(format!(
                "{python}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => failures.push(format!("{python}: {e}")),
        }
    }
    panic!(
        "the manifest does not parse, or no python3 with PyYAML (scripts/test-deps.sh installs \
         python3-yaml): {failures:?}"
    );
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected in the manifest");
    found[0]
}

/// The container's variable `name`.
fn env<'a>(container: &'a Value, name: &str) -> (usize, &'a Value) {
    container["env"]
        .as_array()
        .expect("env list")
        .iter()
        .enumerate()
        .find(|(_, e)| e["name"] == name)
        .unwrap_or_else(|| panic!("no variable {name}"))
}

#[tokio::test]
async fn the_kubernetes_manifest_parses_and_holds_together() {
    let docs = documents();
    let secret = of_kind(&docs, "Secret");
    let config_map = of_kind(&docs, "ConfigMap");
    let service = of_kind(&docs, "Service");
    let deployment = of_kind(&docs, "Deployment");
    let pod = &deployment["spec"]["template"];
    let container = &pod["spec"]["containers"][0];

    // The selector finds the pods, and the Service sends to the port the server listens on.
    let labels = &pod["metadata"]["labels"];
    for (k, v) in deployment["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels")
        .iter()
        .chain(service["spec"]["selector"].as_object().expect("selector"))
    {
        assert_eq!(&labels[k], v, "selector {k}");
    }
    assert_eq!(env(container, "RIDGE_LISTEN").1["value"], "0.0.0.0:7070");
    assert_eq!(container["ports"][0]["containerPort"], 7070);
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"],
        container["ports"][0]["name"]
    );

    // Each node is named after its pod and told its pod's address; Kubernetes expands $(VAR)
    // only for variables defined earlier in the list.
    let (pod_name, v) = env(container, "POD_NAME");
    assert_eq!(v["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    let (pod_ip, v) = env(container, "POD_IP");
    assert_eq!(v["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP");
    let (name_at, v) = env(container, "RIDGE_NODE_NAME");
    assert_eq!(v["value"], "$(POD_NAME)");
    let (address_at, v) = env(container, "RIDGE_NODE_ADDRESS");
    assert_eq!(v["value"], "http://$(POD_IP):7070");
    assert!(pod_name < name_at && pod_ip < address_at);

    // Every key taken from the Secret and the ConfigMap exists there.
    let secret_keys = secret["stringData"].as_object().expect("stringData");
    for e in container["env"].as_array().expect("env") {
        if let Some(key) = e["valueFrom"]["secretKeyRef"]["key"].as_str() {
            assert!(secret_keys.contains_key(key), "no Secret key {key}");
        }
    }
    assert!(env(container, "RIDGE_STORE").1["valueFrom"]["secretKeyRef"].is_object());
    let volumes = pod["spec"]["volumes"].as_array().expect("volumes");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let mount = |name: &str| {
        container["volumeMounts"]
            .as_array()
            .expect("volumeMounts")
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["mountPath"].as_str())
            .unwrap_or_else(|| panic!("volume {name} is not mounted"))
            .to_owned()
    };

    // The configuration is one Ridge accepts (unknown keys are refused), and `ridge serve`
    // is pointed at it.
    let config_item = &volume("config")["configMap"]["items"][0];
    let toml = config_map["data"][config_item["key"].as_str().expect("key")]
        .as_str()
        .expect("the ConfigMap holds the configuration");
    let config_path = format!(
        "{}/{}",
        mount("config"),
        config_item["path"].as_str().expect("path")
    );
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(args, ["serve", "--config", config_path.as_str()]);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("ridge.toml");
    std::fs::write(&file, toml).expect("write");
    let parsed = FileConfig::load(&file).expect("the ConfigMap's ridge.toml is a valid config");

    // The webhook key every node shares is the Secret's, mounted owner-only where the
    // configuration says.
    let key_volume = &volume("webhook-key")["secret"];
    let key_item = &key_volume["items"][0];
    assert!(secret_keys.contains_key(key_item["key"].as_str().expect("key")));
    assert_eq!(key_volume["defaultMode"], 0o400);
    let key_path = Path::new(&mount("webhook-key")).join(key_item["path"].as_str().expect("path"));
    let configured = parsed
        .webhooks
        .and_then(|w| w.secret_key_file)
        .expect("[webhooks] secret_key_file is set");
    assert_eq!(configured, key_path);

    // The sandbox's needs are granted, and said so.
    assert_eq!(container["securityContext"]["privileged"], true);
    assert_eq!(volume("tun")["hostPath"]["path"], "/dev/net/tun");

    // The probes ask a path that a real server answers without credentials.
    let server = TestServer::start_with(|s| {
        s.auth = AuthSettings::Token {
            bootstrap_token: Some("kubernetes-probe-test".to_owned()),
        };
    })
    .await;
    let http = server.http();
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["port"], "http", "{probe} port");
        let path = get["path"].as_str().expect("probe path");
        let resp = http
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .expect("probe request");
        assert_eq!(resp.status(), 200, "{probe} {path}");
    }
    // And the check is not vacuous: an authenticated path would fail a probe.
    let resp = http
        .get(server.v1("/functions"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401);
}
