//! This node among the nodes sharing the store (docs/scale-out.md): it heartbeats its row every
//! fifth of the lease, and on each beat takes over what lost nodes held. A node whose heartbeat
//! is older than the lease is lost: its row is removed, and the executions it held are
//! stranded. A stranded execution that had started may have had effects, so it ends `error`
//! saying which node was lost; one that had not started is taken (compare-and-swap on its
//! `node`) by a node with room in its queue and run there. A node that stops hands its queued
//! async executions back and removes its row, so the others take them at their next beat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ridge_core::Timestamp;
use ridge_store::{Node, Store, StoreError};

use crate::dispatch::Dispatcher;
use crate::error::EngineError;
use crate::recovery;

/// Who this node is to the others.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `--node-name`: unique among the live nodes of one store.
    pub name: String,
    /// `--node-address`: how the other nodes reach this one.
    pub address: String,
    /// How long a node may go without a heartbeat before the others take over its work.
    pub lease: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            name: "local".into(),
            address: String::new(),
            lease: Duration::from_secs(15),
        }
    }
}

/// Executions taken over from lost nodes per heartbeat, at most.
const STRANDED_PER_BEAT: u64 = 1000;

pub(crate) struct Membership {
    config: NodeConfig,
    incarnation: String,
    started_at: Timestamp,
    /// The other live nodes as of the last heartbeat.
    others: Mutex<Vec<Node>>,
    /// Set once this node hands its queue back: from then on it takes no stranded execution
    /// (not even the ones it just handed back), it only finishes what it runs.
    leaving: AtomicBool,
    /// Whether this node has removed its row ([`Membership::leave`]). Each heartbeat's write
    /// holds it: a beat in flight when the node leaves would otherwise write the row back after
    /// its removal, and the other nodes would list this one until its lease ran out.
    left: tokio::sync::Mutex<bool>,
}

impl Membership {
    pub fn new(config: NodeConfig) -> Self {
        Self {
            config,
            incarnation: uuid::Uuid::new_v4().to_string(),
            started_at: ridge_core::time::now(),
            others: Mutex::new(Vec::new()),
            leaving: AtomicBool::new(false),
            left: tokio::sync::Mutex::new(false),
        }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// How often this node heartbeats: a fifth of the lease, so a few missed beats (a slow
    /// database, a pause) do not cost it its work.
    pub fn beat_interval(&self) -> Duration {
        (self.config.lease / 5).max(Duration::from_millis(100))
    }

    fn stale_before(&self, now: Timestamp) -> Timestamp {
        let lease = chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::MAX);
        now - lease
    }

    /// Writes this node's heartbeat; refused when another live node holds the name. Once the
    /// node has left, writes nothing and says so (`false`).
    async fn beat(&self, store: &dyn Store, dispatcher: &Dispatcher) -> Result<bool, EngineError> {
        let left = self.left.lock().await;
        if *left {
            return Ok(false);
        }
        let now = ridge_core::time::now();
        let me = Node {
            name: self.config.name.clone(),
            address: self.config.address.clone(),
            incarnation: self.incarnation.clone(),
            started_at: self.started_at,
            heartbeat_at: now,
            running: dispatcher.in_flight() as u64,
            waiting: dispatcher.waiting() as u64,
        };
        match store.heartbeat_node(&me, self.stale_before(now)).await? {
            None => Ok(true),
            Some(holder) => Err(EngineError::NodeNameInUse {
                name: holder.name,
                address: holder.address,
            }),
        }
    }

    /// Joins the nodes at start-up, then resolves what this node's previous run left (see
    /// [`recovery::recover_own`]). When a node at another address holds the name, it may be
    /// this node's previous run, killed a moment ago: that one stops heartbeating, so the
    /// name is free within a lease. One that goes on heartbeating is another live node, and
    /// joining is refused.
    pub async fn join(
        &self,
        store: &dyn Store,
        dispatcher: &Arc<Dispatcher>,
        room: usize,
    ) -> Result<(), EngineError> {
        let give_up = tokio::time::Instant::now() + self.config.lease + self.beat_interval();
        loop {
            match self.beat(store, dispatcher).await {
                Err(EngineError::NodeNameInUse { address, .. })
                    if tokio::time::Instant::now() < give_up =>
                {
                    tracing::warn!(node = %self.config.name, holder = %address, lease = ?self.config.lease, "another node heartbeats under this name: waiting for its lease to run out");
                    tokio::time::sleep(self.beat_interval()).await;
                }
                joined => {
                    joined?;
                    break;
                }
            }
        }
        recovery::recover_own(store, dispatcher, self.name()).await?;
        self.beat_and_take_over(store, dispatcher, room).await
    }

    /// One heartbeat: writes this node's, removes lost nodes' rows, and resolves what no live
    /// node holds, taking at most `room` executions to run here.
    pub async fn beat_and_take_over(
        &self,
        store: &dyn Store,
        dispatcher: &Arc<Dispatcher>,
        room: usize,
    ) -> Result<(), EngineError> {
        if !self.beat(store, dispatcher).await? {
            return Ok(());
        }
        let now = ridge_core::time::now();
        let lost = store.remove_stale_nodes(self.stale_before(now)).await?;
        if !lost.is_empty() {
            tracing::warn!(nodes = ?lost, lease = ?self.config.lease, "nodes stopped heartbeating: taking over their executions");
        }
        let room = match self.leaving.load(Ordering::SeqCst) {
            true => 0,
            false => room,
        };
        recovery::take_stranded(store, dispatcher, self.name(), STRANDED_PER_BEAT, room).await?;
        let nodes = store.list_nodes().await?;
        *self.others.lock().unwrap_or_else(PoisonError::into_inner) = nodes
            .into_iter()
            .filter(|n| n.name != self.config.name)
            .collect();
        Ok(())
    }

    /// The other live nodes as of the last heartbeat.
    pub fn others(&self) -> Vec<Node> {
        self.others
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Executions waiting for a worker on the other nodes, as of their last heartbeats.
    pub fn others_waiting(&self) -> usize {
        self.others()
            .iter()
            .map(|n| usize::try_from(n.waiting).unwrap_or(usize::MAX))
            .fold(0, usize::saturating_add)
    }

    /// The nodes whose heartbeat is within the lease, this one included.
    pub async fn live(&self, store: &dyn Store) -> Result<Vec<Node>, StoreError> {
        let stale_before = self.stale_before(ridge_core::time::now());
        let mut nodes = store.list_nodes().await?;
        nodes.retain(|n| n.heartbeat_at >= stale_before);
        Ok(nodes)
    }

    /// Leaving: hands back the queued async executions, for the other nodes to run.
    pub async fn hand_back(&self, store: &dyn Store) -> Result<u64, StoreError> {
        self.leaving.store(true, Ordering::SeqCst);
        store.hand_back_executions(self.name()).await
    }

    /// Left: removes this node's row, so the others resolve whatever it still held at their
    /// next heartbeat instead of after the lease.
    pub async fn leave(&self, store: &dyn Store) -> Result<(), StoreError> {
        let mut left = self.left.lock().await;
        *left = true;
        store.remove_node(self.name(), &self.incarnation).await
    }
}

#[cfg(test)]
mod tests {
    use crate::EngineConfig;
    use crate::testing::Fixture;

    /// A heartbeat after the node left (the heartbeat task runs until the process ends) must
    /// not write its row back: the other nodes would list it until its lease ran out.
    #[tokio::test]
    async fn a_node_that_left_does_not_heartbeat_its_row_back() {
        let fx = Fixture::new(EngineConfig::default()).await;
        fx.engine.boot().await.expect("boot");
        let names = |nodes: Vec<ridge_store::Node>| -> Vec<String> {
            nodes.into_iter().map(|n| n.name).collect()
        };
        let listed = names(fx.store.list_nodes().await.expect("nodes"));
        assert_eq!(listed, ["local"]);
        fx.engine.shutdown().await;
        assert!(fx.store.list_nodes().await.expect("nodes").is_empty());
        fx.engine.beat().await;
        let after = names(fx.store.list_nodes().await.expect("nodes"));
        assert!(after.is_empty(), "the row came back: {after:?}");
    }
}
