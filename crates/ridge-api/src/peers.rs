//! Calls that cover every node (docs/scale-out.md): the workers API. The node a client reached
//! answers for itself and passes the same call, with the caller's own credentials, to every
//! other live node at its `--node-address`, marked [`LOCAL_ONLY`] so that it goes no further.
//! Each node checks the credentials itself, so passing a call on grants nothing: a client that
//! sets the mark only gets the one node's answer.

use std::time::Duration;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method};
use ridge_engine::Node;
use serde_json::Value;

use crate::auth::TOKEN_HEADER;
use crate::{ApiError, AppState};

/// Set on a call one node passes to another: answer for this node only.
pub const LOCAL_ONLY: &str = "x-ridge-local-only";

/// How long a node waits for another's answer: a node that does not answer in time is left
/// out (and logged), never waited on indefinitely.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether this call came from another node (and covers this node only).
pub fn local_only(headers: &HeaderMap) -> bool {
    headers.contains_key(LOCAL_ONLY)
}

/// The live nodes, this one included, by name; with this node's place among them.
pub async fn nodes(state: &AppState) -> Result<(Vec<Node>, usize), ApiError> {
    let mut nodes = state.engine.live_nodes().await?;
    let me = state.engine.node_name();
    if !nodes.iter().any(|n| n.name == me) {
        // Not heartbeating yet (or its row was just taken for lost): it still answers for itself.
        nodes.push(Node {
            name: me.to_owned(),
            address: String::new(),
            incarnation: String::new(),
            started_at: ridge_core::time::now(),
            heartbeat_at: ridge_core::time::now(),
            running: 0,
            waiting: 0,
        });
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let mine = nodes.iter().position(|n| n.name == me).unwrap_or_default();
    Ok((nodes, mine))
}

/// Node `index`'s share of `total` spread over `nodes` nodes: as even as it gets, the first
/// ones taking one more.
pub fn share(total: usize, nodes: usize, index: usize) -> usize {
    let nodes = nodes.max(1);
    total / nodes + usize::from(index < total % nodes)
}

/// Passes the call (`method` `path`, with `body` as JSON when given) to `node` with the
/// caller's credentials, over `http` ([`crate::ApiConfig::peer_client`]); its JSON answer, or `None` (logged) when it did not answer 2xx.
pub async fn pass_on(
    http: &reqwest::Client,
    node: &Node,
    headers: &HeaderMap,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Option<Value> {
    let url = format!("{}{path}", node.address.trim_end_matches('/'));
    let mut request = http
        .request(method, &url)
        .timeout(PEER_TIMEOUT)
        .header(LOCAL_ONLY, "1");
    for name in [AUTHORIZATION.as_str(), TOKEN_HEADER] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let failed = |why: String| {
        tracing::warn!(node = %node.name, %url, reason = %why, "another node did not answer a call passed on to it");
        None
    };
    match request.send().await {
        Ok(reply) if reply.status().is_success() => {
            if reply.content_length() == Some(0) {
                return Some(Value::Null);
            }
            match reply.json::<Value>().await {
                Ok(json) => Some(json),
                Err(_) => Some(Value::Null),
            }
        }
        Ok(reply) => failed(format!("HTTP {}", reply.status())),
        Err(e) => failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_add_up_and_differ_by_one_at_most() {
        for total in 0..20 {
            for nodes in 1..6 {
                let shares: Vec<usize> = (0..nodes).map(|i| share(total, nodes, i)).collect();
                assert_eq!(shares.iter().sum::<usize>(), total, "{total} over {nodes}");
                let (min, max) = (shares.iter().min(), shares.iter().max());
                assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{shares:?}");
            }
        }
        assert_eq!(share(5, 0, 0), 5, "no node list: this node takes all");
    }
}
