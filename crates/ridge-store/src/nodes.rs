//! The `nodes` table and the queries by which nodes sharing a store hand executions to one
//! another (docs/scale-out.md). The SQL is the same for SQLite and PostgreSQL (placeholders
//! `$N`, each first used in order, which SQLite binds by position too), so it is written once
//! and [`node_queries!`] instantiates it for each store's pool.
//!
//! Every hand-over is a compare-and-swap on the execution's `node`: a node runs an execution
//! only after its start (`mark_started`) matched its own name, so an execution moved to another
//! node, or handed back, is never started twice.

use ridge_core::{ExecutionId, Timestamp};

use crate::Result;
use crate::codec::{self, RowReader};

/// One node's row: what it wrote at its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `--node-name`: unique among live nodes.
    pub name: String,
    /// How the other nodes reach it (`--node-address`), e.g. `http://10.0.0.7:7070`.
    pub address: String,
    /// A fresh id per process start, so a restarted node is told from its previous run.
    pub incarnation: String,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
    /// Executions it held, unfinished, at its last heartbeat.
    pub running: u64,
    /// Of those, the ones waiting for a worker.
    pub waiting: u64,
}

crate::rows::sqlx_row! {
    pub(crate) struct NodeRow {
        name: String,
        address: String,
        incarnation: String,
        started_at: String,
        heartbeat_at: String,
        running: i64,
        waiting: i64,
    }
}

impl TryFrom<NodeRow> for Node {
    type Error = crate::StoreError;

    fn try_from(row: NodeRow) -> Result<Self> {
        let r = RowReader::new("nodes", &row.name);
        Ok(Node {
            started_at: r.ts("started_at", &row.started_at)?,
            heartbeat_at: r.ts("heartbeat_at", &row.heartbeat_at)?,
            running: r.int("running", row.running)?,
            waiting: r.int("waiting", row.waiting)?,
            name: row.name,
            address: row.address,
            incarnation: row.incarnation,
        })
    }
}

/// Inserts or refreshes the node's row, unless the name belongs to another live node: a row of
/// another incarnation, at another address, that heartbeat at or after `$8` (a node restarted
/// at its own address takes its row over at once).
pub(crate) const HEARTBEAT: &str = "\
    INSERT INTO nodes (name, address, incarnation, started_at, heartbeat_at, running, waiting) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (name) DO UPDATE SET address = excluded.address, \
      incarnation = excluded.incarnation, started_at = excluded.started_at, \
      heartbeat_at = excluded.heartbeat_at, running = excluded.running, \
      waiting = excluded.waiting \
    WHERE nodes.incarnation = excluded.incarnation OR nodes.address = excluded.address \
      OR nodes.heartbeat_at < $8";

pub(crate) const NODE_COLUMNS: &str =
    "name, address, incarnation, started_at, heartbeat_at, running, waiting";

/// Running executions that no live node holds: handed back (`node` NULL), or held by a node
/// that has no row (its row was removed as lost, or it stopped). `status <> 'success'`: the
/// condition of the partial index that holds running rows (migration 0012).
pub(crate) const STRANDED: &str = "status = 'running' AND status <> 'success' \
    AND (node IS NULL OR node NOT IN (SELECT name FROM nodes))";

/// The two values of a heartbeat that are counts, as the INTEGER columns hold them.
pub(crate) fn counts(node: &Node) -> Result<(i64, i64)> {
    Ok((
        codec::int("running", node.running)?,
        codec::int("waiting", node.waiting)?,
    ))
}

/// The text form of an execution id and a timestamp, as both stores bind them.
pub(crate) fn key(id: ExecutionId) -> String {
    id.to_string()
}

pub(crate) fn ts(at: &Timestamp) -> String {
    codec::ts(at)
}

/// The node methods of [`crate::Store`] for one store's pool type (`$pool`): the same SQL on
/// both databases.
macro_rules! node_queries {
    ($pool:ty) => {
        use ridge_core::{Execution, ExecutionId, Timestamp};

        use $crate::Result;
        use $crate::nodes::{HEARTBEAT, NODE_COLUMNS, Node, NodeRow, STRANDED};
        use $crate::rows::executions::{COLUMNS, ExecutionRow};

        /// `None` when written; else the live node that holds the name.
        pub(crate) async fn heartbeat(
            pool: &$pool,
            node: &Node,
            stale_before: Timestamp,
        ) -> Result<Option<Node>> {
            let (running, waiting) = $crate::nodes::counts(node)?;
            let done = sqlx::query(HEARTBEAT)
                .bind(&node.name)
                .bind(&node.address)
                .bind(&node.incarnation)
                .bind($crate::nodes::ts(&node.started_at))
                .bind($crate::nodes::ts(&node.heartbeat_at))
                .bind(running)
                .bind(waiting)
                .bind($crate::nodes::ts(&stale_before))
                .execute(pool)
                .await?;
            if done.rows_affected() == 1 {
                return Ok(None);
            }
            let holder: Option<NodeRow> =
                sqlx::query_as(&format!("SELECT {NODE_COLUMNS} FROM nodes WHERE name = $1"))
                    .bind(&node.name)
                    .fetch_optional(pool)
                    .await?;
            holder.map(Node::try_from).transpose()
        }

        pub(crate) async fn list(pool: &$pool) -> Result<Vec<Node>> {
            let rows: Vec<NodeRow> =
                sqlx::query_as(&format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY name"))
                    .fetch_all(pool)
                    .await?;
            rows.into_iter().map(Node::try_from).collect()
        }

        pub(crate) async fn remove_stale(
            pool: &$pool,
            stale_before: Timestamp,
        ) -> Result<Vec<String>> {
            let names: Vec<String> =
                sqlx::query_scalar("DELETE FROM nodes WHERE heartbeat_at < $1 RETURNING name")
                    .bind($crate::nodes::ts(&stale_before))
                    .fetch_all(pool)
                    .await?;
            Ok(names)
        }

        pub(crate) async fn remove(pool: &$pool, name: &str, incarnation: &str) -> Result<()> {
            sqlx::query("DELETE FROM nodes WHERE name = $1 AND incarnation = $2")
                .bind(name)
                .bind(incarnation)
                .execute(pool)
                .await?;
            Ok(())
        }

        pub(crate) async fn executions_of(pool: &$pool, node: &str) -> Result<Vec<Execution>> {
            let rows: Vec<ExecutionRow> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM executions WHERE status = 'running' AND node = $1 \
                 ORDER BY created_at, id"
            ))
            .bind(node)
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(Execution::try_from).collect()
        }

        pub(crate) async fn stranded(pool: &$pool, limit: u64) -> Result<Vec<Execution>> {
            let rows: Vec<ExecutionRow> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM executions WHERE {STRANDED} \
                 ORDER BY created_at, id LIMIT $1"
            ))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await?;
            rows.into_iter().map(Execution::try_from).collect()
        }

        /// Compare-and-swap: gives a running, not started execution held by `from` (`None`:
        /// handed back) to `to`.
        pub(crate) async fn take(
            pool: &$pool,
            id: ExecutionId,
            from: Option<&str>,
            to: &str,
        ) -> Result<bool> {
            let done = sqlx::query(
                "UPDATE executions SET node = $1 WHERE id = $2 AND status = 'running' \
                 AND started_at IS NULL AND (node = $3 OR (node IS NULL AND $3 IS NULL))",
            )
            .bind(to)
            .bind($crate::nodes::key(id))
            .bind(from)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        }

        pub(crate) async fn hand_back(pool: &$pool, node: &str) -> Result<u64> {
            let done = sqlx::query(
                "UPDATE executions SET node = NULL WHERE status = 'running' AND node = $1 \
                 AND started_at IS NULL AND NOT sync",
            )
            .bind(node)
            .execute(pool)
            .await?;
            Ok(done.rows_affected())
        }
    };
}

pub(crate) use node_queries;
