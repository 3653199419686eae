//! Nodes: heartbeats and names, and the compare-and-swap hand-over of executions between
//! nodes (what a restarted, stopped or lost node leaves).

use ridge_core::fixtures::{at, execution};
use ridge_core::{Execution, ExecutionResult, ExecutionStatus};
use ridge_store::{Durability, ExecutionOutcome, Node, Store};

use super::fixtures::seed_function;

fn node(name: &str, address: &str, incarnation: &str, heartbeat: i64) -> Node {
    Node {
        name: name.into(),
        address: address.into(),
        incarnation: incarnation.into(),
        started_at: at(1),
        heartbeat_at: at(heartbeat),
        running: 3,
        waiting: 1,
    }
}

fn ids(executions: &[Execution]) -> Vec<ridge_core::ExecutionId> {
    executions.iter().map(|e| e.id).collect()
}

pub async fn heartbeats_keep_a_name_to_one_live_node(store: &dyn Store) {
    let first = node("n1", "http://10.0.0.1:7070", "run-1", 1_000);
    assert_eq!(
        store.heartbeat_node(&first, at(0)).await.expect("beat"),
        None
    );
    let again = Node {
        heartbeat_at: at(2_000),
        running: 0,
        ..first.clone()
    };
    assert_eq!(
        store.heartbeat_node(&again, at(0)).await.expect("beat"),
        None
    );
    assert_eq!(store.list_nodes().await.expect("list"), vec![again.clone()]);

    // Another process at another address under the same name, while n1 is live: refused,
    // and told who holds the name; nothing is written.
    let impostor = node("n1", "http://10.0.0.2:7070", "run-x", 3_000);
    assert_eq!(
        store
            .heartbeat_node(&impostor, at(1_500))
            .await
            .expect("beat"),
        Some(again.clone())
    );
    assert_eq!(store.list_nodes().await.expect("list"), vec![again.clone()]);
    // Once n1's heartbeat is older than the lease, the name is free.
    assert_eq!(
        store
            .heartbeat_node(&impostor, at(2_500))
            .await
            .expect("beat"),
        None
    );
    // A restart at the impostor's own address takes the row over at once.
    let restarted = node("n1", "http://10.0.0.2:7070", "run-y", 3_100);
    assert_eq!(
        store.heartbeat_node(&restarted, at(0)).await.expect("beat"),
        None
    );
    let other = node("n2", "http://10.0.0.3:7070", "run-1", 500);
    assert_eq!(
        store.heartbeat_node(&other, at(0)).await.expect("beat"),
        None
    );
    assert_eq!(
        store.list_nodes().await.expect("list"),
        vec![restarted.clone(), other.clone()]
    );

    // Removing stale rows returns their names; removing a row checks the incarnation.
    assert_eq!(
        store.remove_stale_nodes(at(1_000)).await.expect("remove"),
        vec!["n2".to_owned()]
    );
    store.remove_node("n1", "run-x").await.expect("remove");
    assert_eq!(store.list_nodes().await.expect("list"), vec![restarted]);
    store.remove_node("n1", "run-y").await.expect("remove");
    assert!(store.list_nodes().await.expect("list").is_empty());
}

pub async fn a_nodes_executions_are_listed_oldest_first(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let g = seed_function(store, "p2", 2).await;
    let started = execution(&f, 30);
    let waiting = execution(&g, 10);
    let finished = execution(&f, 5);
    let elsewhere = Execution {
        node: Some("n2".into()),
        ..execution(&f, 20)
    };
    let newest = execution(&f, 40);
    for e in [&started, &waiting, &finished, &elsewhere, &newest] {
        store.create_execution(e).await.expect("create");
    }
    assert!(
        store
            .mark_execution_started(started.id, "local", at(31), Durability::Flushed)
            .await
            .expect("mark")
    );
    let done = ExecutionOutcome {
        status: ExecutionStatus::Success,
        result: ExecutionResult::new(0.1, serde_json::json!(1)),
        logs: String::new(),
    };
    let finished_row = store.finish_execution(finished.id, &done).await;
    assert!(finished_row.expect("finish").is_some());

    let mine = store.node_executions("local").await.expect("list");
    assert_eq!(ids(&mine), vec![waiting.id, started.id, newest.id]);
    assert_eq!(mine[1].started_at, Some(at(31)));
    assert_eq!(mine[0].node.as_deref(), Some("local"));
    let theirs = store.node_executions("n2").await.expect("list");
    assert_eq!(ids(&theirs), vec![elsewhere.id]);
}

pub async fn stranded_executions_are_taken_once_and_started_only_by_their_node(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let live = node("live", "http://10.0.0.1:7070", "run-1", 1_000);
    assert_eq!(
        store.heartbeat_node(&live, at(0)).await.expect("beat"),
        None
    );
    let held = |node: Option<&str>, created: i64| Execution {
        node: node.map(String::from),
        sync: false,
        ..execution(&f, created)
    };
    // Held by a live node; by a node with no row (lost); handed back (no node).
    let kept = held(Some("live"), 10);
    let orphan = held(Some("lost"), 20);
    let handed = held(None, 30);
    for e in [&kept, &orphan, &handed] {
        store.create_execution(e).await.expect("create");
    }
    let stranded = store.stranded_executions(10).await.expect("stranded");
    assert_eq!(ids(&stranded), vec![orphan.id, handed.id]);
    assert_eq!(stranded[0].node.as_deref(), Some("lost"));
    assert_eq!(
        ids(&store.stranded_executions(1).await.expect("stranded")),
        vec![orphan.id]
    );

    // Nothing starts an execution it does not hold: not a stranded one, not another node's.
    for (e, by) in [(&orphan, "live"), (&handed, "live"), (&kept, "other")] {
        assert!(
            !store
                .mark_execution_started(e.id, by, at(40), Durability::Flushed)
                .await
                .expect("mark"),
            "{by} started an execution it does not hold"
        );
    }
    // Taking is a compare-and-swap on the holder: the second taker finds it moved.
    assert!(
        store
            .take_execution(orphan.id, Some("lost"), "live")
            .await
            .expect("take")
    );
    assert!(
        !store
            .take_execution(orphan.id, Some("lost"), "other")
            .await
            .expect("take")
    );
    assert!(
        !store
            .take_execution(handed.id, Some("lost"), "live")
            .await
            .expect("take")
    );
    assert!(
        store
            .take_execution(handed.id, None, "live")
            .await
            .expect("take")
    );
    assert!(
        store
            .stranded_executions(10)
            .await
            .expect("stranded")
            .is_empty()
    );
    assert!(
        store
            .mark_execution_started(orphan.id, "live", at(41), Durability::Flushed)
            .await
            .expect("mark")
    );
    // A started execution is never moved.
    assert!(
        !store
            .take_execution(orphan.id, Some("live"), "other")
            .await
            .expect("take")
    );
    // When its node's row goes, a started execution is stranded too (to be ended).
    store.remove_node("live", "run-1").await.expect("remove");
    let stranded = store.stranded_executions(10).await.expect("stranded");
    assert_eq!(ids(&stranded), vec![kept.id, orphan.id, handed.id]);
    assert_eq!(stranded[1].started_at, Some(at(41)));
}

pub async fn a_stopping_node_hands_back_only_queued_async_executions(store: &dyn Store) {
    let f = seed_function(store, "p1", 1).await;
    let queued = Execution {
        sync: false,
        ..execution(&f, 10)
    };
    let started = Execution {
        sync: false,
        ..execution(&f, 20)
    };
    // A sync execution's caller waits on this node: it stays.
    let sync = execution(&f, 30);
    let other = Execution {
        sync: false,
        node: Some("n2".into()),
        ..execution(&f, 40)
    };
    for e in [&queued, &started, &sync, &other] {
        store.create_execution(e).await.expect("create");
    }
    assert!(
        store
            .mark_execution_started(started.id, "local", at(21), Durability::Flushed)
            .await
            .expect("mark")
    );
    assert_eq!(store.hand_back_executions("local").await.expect("hand"), 1);
    assert_eq!(
        store.get_execution(queued.id).await.expect("get").node,
        None
    );
    for kept in [&started, &sync] {
        let row = store.get_execution(kept.id).await.expect("get");
        assert_eq!(row.node.as_deref(), Some("local"));
    }
    let row = store.get_execution(other.id).await.expect("get");
    assert_eq!(row.node.as_deref(), Some("n2"));
    // Handed back, it is no longer this node's to start.
    assert!(
        !store
            .mark_execution_started(queued.id, "local", at(50), Durability::Flushed)
            .await
            .expect("mark")
    );
}
