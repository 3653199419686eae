//! Three `ridge serve` processes sharing one PostgreSQL database and one S3 bucket: any node
//! answers any call, a node killed with `kill -9` mid-load loses no accepted execution and runs
//! none twice, jobs fire once per tick across the nodes, and quotas hold on every node.

use std::path::Path;
use std::time::{Duration, Instant};

use ridge_client::{ClientError, FunctionUpdate, FunctionUpload, RidgeClient};
use ridge_core::api::{CreateExecution, CreateJob, ExecutionView, SetQuotas, WebhookRequest};
use ridge_package::s3::testing::TestS3;
use ridge_store::testing::TestDatabase;
use serde_json::json;
use tempfile::TempDir;
use tokio::process::Child;

use crate::common::{serve_process_with, zip_files};

/// The lease the nodes run with: short, so that the test waits little for a lost node.
const LEASE_SECS: u64 = 2;

struct Node {
    name: String,
    url: String,
    child: Child,
    client: RidgeClient,
    _data: TempDir,
}

struct Cluster {
    nodes: Vec<Node>,
    /// The key that seals webhook secrets, which every node must share.
    _keys: TempDir,
    _db: TestDatabase,
    _s3: TestS3,
}

impl Cluster {
    /// `count` nodes `n1`, `n2`, ... on one new database and one new bucket.
    async fn start(count: usize) -> Self {
        Self::start_with(
            count,
            |_| Vec::new(),
            |url| RidgeClient::new(url).expect("client"),
        )
        .await
    }

    /// [`Self::start`], with node `i`'s extra arguments and the client each node is called with.
    async fn start_with(
        count: usize,
        args: impl Fn(usize) -> Vec<String>,
        client: impl Fn(&str) -> RidgeClient,
    ) -> Self {
        let db = TestDatabase::create().await;
        let s3 = TestS3::start();
        let bucket = s3.bucket().await;
        let packages = format!("s3://{}/ridge", bucket.name());
        let keys = tempfile::tempdir().expect("temp dir");
        let key = keys.path().join("webhook-secrets.key");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&key)
                .expect("key file");
            std::io::Write::write_all(&mut file, "7e".repeat(32).as_bytes()).expect("key");
        }
        let config = format!(
            "max_workers_per_function = 4\n\
             [nodes]\nlease = {LEASE_SECS}\n\
             [jobs]\ntick_ms = 200\nmin_lead_secs = 0\nmin_interval_secs = 1\n\
             [webhooks]\nsecret_key_file = \"{}\"\n",
            key.display()
        );
        let mut nodes = Vec::new();
        for i in 1..=count {
            let name = format!("n{i}");
            let data = tempfile::tempdir().expect("temp dir");
            let extra = args(i);
            let (child, url) = serve(
                data.path(),
                &config,
                (&name, &extra),
                db.url(),
                &packages,
                &s3,
            )
            .await;
            nodes.push(Node {
                client: client(&url),
                url,
                name,
                child,
                _data: data,
            });
        }
        Self {
            nodes,
            _keys: keys,
            _db: db,
            _s3: s3,
        }
    }

    fn client(&self, i: usize) -> &RidgeClient {
        &self.nodes[i].client
    }
}

async fn serve(
    data: &Path,
    config: &str,
    (name, extra): (&str, &[String]),
    store: &str,
    packages: &str,
    s3: &TestS3,
) -> (Child, String) {
    serve_process_with(data, Some(config), |c| {
        c.args([
            "--store",
            store,
            "--packages",
            packages,
            "--node-name",
            name,
        ]);
        c.args(extra);
        c.env_remove("AWS_SESSION_TOKEN").env_remove("AWS_REGION");
        c.envs(s3.env());
    })
    .await
}

/// A python3 runtime, made available, and a function that sleeps `sleep` seconds and returns
/// its input `i`.
async fn function(client: &RidgeClient) -> String {
    let runtime = crate::common::python_runtime_via(client).await;
    let source =
        "import time\ndef main(i=0, sleep=0, **kw):\n    time.sleep(sleep)\n    return i\n";
    client
        .create_function(&FunctionUpload {
            runtime_id: Some(runtime.id),
            entry: Some("function.main".into()),
            package: Some(zip_files(&[("function.py", source)]).into()),
            ..Default::default()
        })
        .await
        .expect("function")
        .id
}

fn execution(function: &str, input: serde_json::Value, sync: bool) -> CreateExecution {
    CreateExecution {
        function_id: Some(function.to_owned()),
        input: Some(input),
        sync: Some(sync),
        ..Default::default()
    }
}

/// Every execution of `function`, through `client`, once none is `running` (bounded).
async fn settled(client: &RidgeClient, function: &str, within: Duration) -> Vec<ExecutionView> {
    let until = Instant::now() + within;
    loop {
        let all = client
            .list_executions(&[("function_id".into(), function.to_owned())])
            .await
            .expect("list");
        let running = all.iter().filter(|e| e.status == "running").count();
        if running == 0 {
            return all;
        }
        assert!(
            Instant::now() < until,
            "{running} executions still running after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn output(e: &ExecutionView) -> serde_json::Value {
    e.result_json()
        .and_then(|r| r.get("output").cloned())
        .unwrap_or_default()
}

#[tokio::test]
async fn any_node_answers_and_a_killed_node_loses_no_execution() {
    let mut cluster = Cluster::start(3).await;
    let info = cluster.client(0).info().await.expect("info");
    assert_eq!(info.node, "n1");
    let names: Vec<&str> = info.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["n1", "n2", "n3"]);
    assert!(
        info.nodes
            .iter()
            .all(|n| n.address.starts_with("http://127.0.0.1:"))
    );

    // Created on node 1, run on node 2, listed on node 3.
    let function = function(cluster.client(0)).await;
    let ran = cluster
        .client(1)
        .create_execution(&execution(&function, json!({"i": 7}), true))
        .await
        .expect("run");
    assert_eq!((ran.status.as_str(), output(&ran)), ("success", json!(7)));
    assert_eq!(ran.node.as_deref(), Some("n2"));
    let listed = cluster
        .client(2)
        .list_executions(&[("function_id".into(), function.clone())])
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, ran.id);

    // New code through node 1: node 2, with a warm worker of the old code, runs the new.
    let source =
        "import time\ndef main(i=0, sleep=0, **kw):\n    time.sleep(sleep)\n    return i\n";
    let updated = format!("{source}\n\ndef new(**kw):\n    return 'new code'\n");
    let update = FunctionUpdate {
        entry: Some("function.new".into()),
        package: Some(zip_files(&[("function.py", updated.as_str())]).into()),
        ..Default::default()
    };
    cluster
        .client(0)
        .update_function(&function, &update)
        .await
        .expect("update");
    let ran_new = cluster
        .client(1)
        .create_execution(&execution(&function, json!({}), true))
        .await
        .expect("run");
    assert_eq!(output(&ran_new), json!("new code"), "{ran_new:?}");
    let back = FunctionUpdate {
        entry: Some("function.main".into()),
        package: Some(zip_files(&[("function.py", source)]).into()),
        ..Default::default()
    };
    cluster
        .client(2)
        .update_function(&function, &back)
        .await
        .expect("update");

    // 1,000 async executions of 0.2 s round-robin, faster than the nodes run them; node 3 is
    // killed a third of the way, with a queue of its own.
    let mut accepted = Vec::new();
    let mut refused_by_dead = 0;
    for i in 0..1000u32 {
        if i == 333 {
            cluster.nodes[2].child.kill().await.expect("kill -9 node 3");
        }
        let node = &cluster.nodes[i as usize % 3];
        let body = execution(&function, json!({"i": i, "sleep": 0.2}), false);
        match node.client.create_execution(&body).await {
            Ok(e) => accepted.push((i, e.id, node.name.clone())),
            Err(ClientError::Http(_)) if node.name == "n3" && i >= 333 => {
                refused_by_dead += 1;
            }
            Err(e) => panic!("execution {i} refused by {}: {e}", node.name),
        }
    }
    assert!(refused_by_dead > 200, "node 3 kept answering");

    // Within the lease and the function's timeout (and the run time of what is queued),
    // every accepted execution ends.
    let all = settled(cluster.client(0), &function, Duration::from_secs(180)).await;
    let by_id: std::collections::HashMap<&str, &ExecutionView> =
        all.iter().map(|e| (e.id.as_str(), e)).collect();
    let (mut lost, mut taken_over) = (0, 0);
    for (i, id, via) in &accepted {
        let e = by_id[id.as_str()];
        match e.status.as_str() {
            "success" => {
                assert_eq!(
                    output(e),
                    json!(i),
                    "execution {i} returned another's output"
                );
                if via == "n3" && e.node.as_deref() != Some("n3") {
                    taken_over += 1;
                }
            }
            // Only what had started on node 3 when it died may end so, and says why.
            "error" => {
                let message = output(e);
                assert!(
                    message
                        .as_str()
                        .is_some_and(|m| m.contains("node `n3` stopped or was lost")),
                    "{e:?}"
                );
                lost += 1;
            }
            other => panic!("execution {i} ended {other}: {e:?}"),
        }
    }
    // Node 3 had started at most two executions per worker (4) when it died: one running,
    // and one whose worker had answered and was already given back but whose finish was not
    // yet written. What it had queued ran elsewhere.
    assert!(lost <= 2 * 4, "{lost} executions lost with node 3");
    assert!(
        taken_over > 0,
        "nothing of node 3's queue ran on another node"
    );
    // Each call made one execution at most: every input appears once. Beyond the accepted
    // ones only a call node 3 took as it died, whose answer never came, may be there.
    let mut inputs: Vec<u64> = all
        .iter()
        .filter(|e| !e.sync)
        .filter_map(|e| e.input.as_deref())
        .filter_map(|input| serde_json::from_str::<serde_json::Value>(input).ok())
        .filter_map(|input| input["i"].as_u64())
        .collect();
    let made = inputs.len();
    inputs.sort_unstable();
    inputs.dedup();
    assert_eq!(inputs.len(), made, "one call made two executions");
    assert!(
        made - accepted.len() <= 1,
        "{made} made, {} accepted",
        accepted.len()
    );

    // The survivors saw node 3 go.
    let info = cluster.client(1).info().await.expect("info");
    let names: Vec<&str> = info.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["n1", "n2"]);
}

#[tokio::test]
async fn jobs_fire_once_per_tick_and_quotas_hold_on_every_node() {
    let cluster = Cluster::start(3).await;
    let function = function(cluster.client(0)).await;

    // A webhook with a secret, created on node 1: a signed call is accepted by node 2 and its
    // replay refused by node 3 (and by node 2 again).
    let secret = "a-secret-every-node-opens";
    let hook = cluster
        .client(0)
        .create_webhook(&WebhookRequest {
            function_id: Some(function.clone()),
            secret: Some(json!(secret)),
            ..Default::default()
        })
        .await
        .expect("webhook");
    // Its URL names the node each caller reached, never another node's address.
    assert!(
        hook.webhook_url.starts_with(&cluster.nodes[0].url),
        "{hook:?}"
    );
    let seen_by_2 = cluster
        .client(1)
        .get_webhook(&hook.id)
        .await
        .expect("webhook");
    assert!(
        seen_by_2.webhook_url.starts_with(&cluster.nodes[1].url),
        "{seen_by_2:?}"
    );
    let now = ridge_core::time::now().timestamp();
    let signed = [
        ("X-Ridge-Timestamp", now.to_string()),
        (
            "X-Ridge-Signature",
            ridge_api::webhook_guard::sign_timestamped(secret, now, b"{}"),
        ),
    ];
    let body = serde_json::Map::new();
    cluster
        .client(1)
        .invoke_webhook(&hook.id, &body, &signed)
        .await
        .expect("a signed call");
    for i in [2, 1] {
        let replay = cluster
            .client(i)
            .invoke_webhook(&hook.id, &body, &signed)
            .await
            .expect_err("a replay");
        assert!(replay.to_string().contains("already accepted"), "{replay}");
    }
    cluster
        .client(0)
        .delete_webhook(&hook.id)
        .await
        .expect("delete the webhook");
    // Its one execution, finished, before the job's are counted.
    let ran = settled(cluster.client(0), &function, Duration::from_secs(30)).await;
    assert_eq!(ran.len(), 1);
    for e in &ran {
        cluster
            .client(0)
            .delete_execution(&e.id)
            .await
            .expect("delete");
    }

    // A job every second, four times: every node's scheduler sees it due, one fires each tick.
    let job = cluster
        .client(1)
        .create_job(&CreateJob {
            function_id: Some(function.clone()),
            pattern: Some("* * * * * *".into()),
            count: Some(json!(4)),
            ..Default::default()
        })
        .await
        .expect("job");
    let until = Instant::now() + Duration::from_secs(30);
    while cluster
        .client(2)
        .get_job(&job.id)
        .await
        .expect("job")
        .status
        != "done"
    {
        assert!(Instant::now() < until, "the job did not run four times");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let a scheduler that double-fired show it, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fired = settled(cluster.client(0), &function, Duration::from_secs(30)).await;
    assert_eq!(fired.len(), 4, "{fired:?}");
    let mut ticks: Vec<&str> = fired.iter().map(|e| e.created_at.as_str()).collect();
    ticks.dedup();
    assert_eq!(ticks.len(), 4, "two executions in one tick: {fired:?}");

    // One execution at a time for the project: while one runs on node 1, every node refuses.
    cluster
        .client(0)
        .set_quotas(
            "default",
            &SetQuotas {
                concurrent_executions: Some(json!(1)),
                ..Default::default()
            },
        )
        .await
        .expect("quota");
    let long = cluster
        .client(0)
        .create_execution(&execution(&function, json!({"sleep": 3}), false))
        .await
        .expect("the first is admitted");
    for i in 0..3 {
        let refused = cluster
            .client(i)
            .create_execution(&execution(&function, json!({}), true))
            .await
            .expect_err("over the quota");
        assert!(
            refused.to_string().contains("concurrent"),
            "node {}: {refused}",
            i + 1
        );
    }
    let done = settled(cluster.client(2), &function, Duration::from_secs(30)).await;
    assert!(
        done.iter()
            .any(|e| e.id == long.id && e.status == "success"),
        "{done:?}"
    );
}

/// The node of each of `function`'s workers, as `client`'s node lists them, sorted.
async fn worker_nodes(client: &RidgeClient, function: &str) -> Vec<String> {
    let mut by_node: Vec<String> = client
        .list_workers(function, None)
        .await
        .expect("workers")
        .into_iter()
        .map(|w| w.node.expect("each worker names its node"))
        .collect();
    by_node.sort();
    by_node
}

#[tokio::test]
async fn the_workers_api_covers_every_node() {
    let cluster = Cluster::start(2).await;
    let function = function(cluster.client(0)).await;
    let workers = |i: usize| worker_nodes(cluster.client(i), &function);

    // Four workers asked of node 1: two on each node, listed alike by either.
    cluster
        .client(0)
        .scale_up(&function, 4)
        .await
        .expect("scale up");
    let until = Instant::now() + Duration::from_secs(30);
    while workers(1).await != ["n1", "n1", "n2", "n2"] {
        assert!(Instant::now() < until, "workers: {:?}", workers(1).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(workers(0).await, ["n1", "n1", "n2", "n2"]);

    // Two fewer, asked of node 2: one fewer on each node.
    cluster
        .client(1)
        .scale_down(&function, 2)
        .await
        .expect("scale down");
    assert_eq!(workers(0).await, ["n1", "n2"]);

    // Detached through node 2: none left anywhere.
    cluster.client(1).detach(&function).await.expect("detach");
    assert!(workers(0).await.is_empty());

    // Deleted through node 1: node 2 stops its workers by its next heartbeat.
    cluster
        .client(1)
        .scale_up(&function, 2)
        .await
        .expect("scale up");
    while workers(0).await.len() < 2 {
        assert!(Instant::now() < until, "workers: {:?}", workers(0).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gauge = format!("function=\"{function}\"");
    let metrics = format!("{}/metrics", cluster.nodes[1].url);
    let node_2_shows = || async {
        let text = reqwest::get(&metrics).await.expect("metrics");
        text.text().await.expect("metrics text").contains(&gauge)
    };
    assert!(node_2_shows().await, "node 2 counts its warm workers");
    cluster
        .client(0)
        .delete_function(&function)
        .await
        .expect("delete");
    let until = Instant::now() + Duration::from_secs(3 * LEASE_SECS);
    while node_2_shows().await {
        assert!(
            Instant::now() < until,
            "node 2 kept the deleted function's workers"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_stopping_node_hands_its_queue_to_the_others() {
    let mut cluster = Cluster::start(2).await;
    let function = function(cluster.client(0)).await;
    // Sixteen executions of half a second on node 2 alone: four run, twelve wait.
    let mut accepted = Vec::new();
    for i in 0..16 {
        let body = execution(&function, json!({"i": i, "sleep": 0.5}), false);
        let e = cluster
            .client(1)
            .create_execution(&body)
            .await
            .expect("accepted");
        accepted.push(e.id);
    }
    let pid = cluster.nodes[1].child.id().expect("pid").to_string();
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(term.success());
    let stopped = tokio::time::timeout(Duration::from_secs(30), cluster.nodes[1].child.wait())
        .await
        .expect("node 2 exits once what it ran is done")
        .expect("wait");
    assert!(stopped.success(), "{stopped}");

    // What it ran finished there; what waited ran on node 1; nothing failed or ran twice.
    let all = settled(cluster.client(0), &function, Duration::from_secs(60)).await;
    assert_eq!(all.len(), accepted.len());
    assert!(all.iter().all(|e| e.status == "success"), "{all:?}");
    let on_1 = all
        .iter()
        .filter(|e| e.node.as_deref() == Some("n1"))
        .count();
    assert!(on_1 > 0, "node 2 handed nothing back: {all:?}");
    // Node 2 left at once: node 1 lists itself alone without waiting for the lease.
    let info = cluster.client(0).info().await.expect("info");
    let names: Vec<&str> = info.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["n1"]);
}

#[tokio::test]
async fn nodes_reach_each_other_over_https_through_the_ca_bundle() {
    use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};

    use crate::tls::{client_identity, leaf, test_ca, write};

    // One private CA: it signs both nodes' certificates (server and client use: a node shows
    // its own to the other when it passes a call on) and the operator's client certificate.
    let certs = tempfile::tempdir().expect("temp dir");
    let (ca, ca_key) = test_ca("nodes");
    let ca_file = write(certs.path(), "ca.pem", &ca.pem());
    let (cert, key) = leaf(&ca, &ca_key, "node", &[ServerAuth, ClientAuth]);
    let cert = write(certs.path(), "node.pem", &cert);
    let key = write(certs.path(), "node.key", &key);
    let operator = client_identity(&ca, &ca_key, "operator");
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    // Node 1 trusts the CA through --ca-bundle; node 2 does not.
    let cluster = Cluster::start_with(
        2,
        |i| {
            let mut args = vec![
                "--tls-cert".to_owned(),
                path(&cert),
                "--tls-key".to_owned(),
                path(&key),
                "--tls-client-ca".to_owned(),
                path(&ca_file),
            ];
            if i == 1 {
                args.extend(["--ca-bundle".to_owned(), path(&ca_file)]);
            }
            args
        },
        |url| {
            RidgeClient::with_tls(url, Some(ca.pem().as_bytes()), Some(operator.as_bytes()))
                .expect("client")
        },
    )
    .await;
    assert!(cluster.nodes[0].url.starts_with("https://"));
    let function = function(cluster.client(0)).await;
    let workers = |i: usize| worker_nodes(cluster.client(i), &function);

    // Through node 1, which trusts node 2's certificate: one worker on each node.
    cluster
        .client(0)
        .scale_up(&function, 2)
        .await
        .expect("scale up");
    let until = Instant::now() + Duration::from_secs(30);
    while workers(0).await != ["n1", "n2"] {
        assert!(Instant::now() < until, "workers: {:?}", workers(0).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Node 2 cannot verify node 1 without the bundle: it answers for itself only.
    assert_eq!(workers(1).await, ["n2"]);
}
