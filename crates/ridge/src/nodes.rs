//! `[nodes]` and `--node-name`/`--node-address`: who this node is to the other nodes sharing
//! its store (docs/scale-out.md).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

/// How long a node may go without a heartbeat before the others take over its executions.
pub const DEFAULT_LEASE_SECS: u64 = 15;

/// `[nodes]`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodesFile {
    /// This node's name (default: the host name); unique among the nodes of one store.
    pub name: Option<String>,
    /// How the other nodes reach this one (default: `http://<listen address>`, with the host
    /// name when listening on every interface).
    pub address: Option<String>,
    /// Seconds without a heartbeat after which a node is lost (default 15).
    pub lease: Option<u64>,
}

/// `[nodes]` after the command line and the environment, the address still to be completed
/// once the listener is bound ([`NodeSettings::config`]).
#[derive(Debug, Clone)]
pub struct NodeSettings {
    pub name: String,
    pub address: Option<String>,
    pub lease: Duration,
}

impl NodeSettings {
    pub fn resolve(
        name: Option<String>,
        address: Option<String>,
        file: Option<NodesFile>,
    ) -> anyhow::Result<Self> {
        let file = file.unwrap_or_default();
        let name = match name.or(file.name) {
            Some(name) => name,
            None => host_name(),
        };
        if name.is_empty()
            || name.len() > 253
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            bail!(
                "invalid node name `{name}`: use 1 to 253 letters, digits, `-`, `_` or `.` (--node-name, RIDGE_NODE_NAME or [nodes] name)"
            );
        }
        let address = address.or(file.address);
        if let Some(address) = &address
            && !(address.starts_with("http://") || address.starts_with("https://"))
        {
            bail!(
                "invalid node address `{address}`: expected http://host:port or https://host:port (--node-address, RIDGE_NODE_ADDRESS or [nodes] address)"
            );
        }
        let lease = file.lease.unwrap_or(DEFAULT_LEASE_SECS);
        if lease == 0 {
            bail!("invalid nodes.lease 0: a node needs at least one second between heartbeats");
        }
        Ok(Self {
            name,
            address,
            lease: Duration::from_secs(lease),
        })
    }

    /// The engine's view, with the address completed from the bound listener and the scheme
    /// it serves (`https` with `--tls-cert`).
    pub fn config(&self, bound: SocketAddr, scheme: &str) -> ridge_engine::NodeConfig {
        let address = self.address.clone().unwrap_or_else(|| {
            if bound.ip().is_unspecified() {
                format!("{scheme}://{}:{}", host_name(), bound.port())
            } else {
                format!("{scheme}://{bound}")
            }
        });
        ridge_engine::NodeConfig {
            name: self.name.clone(),
            address,
            lease: self.lease,
        }
    }
}

/// The kernel's host name, else `ridge`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "ridge".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_checked_and_the_address_follows_the_listener() {
        let bad = NodeSettings::resolve(Some("a b".into()), None, None).expect_err("refused");
        assert!(bad.to_string().contains("invalid node name `a b`"), "{bad}");
        let bad = NodeSettings::resolve(Some("n1".into()), Some("10.0.0.1:7070".into()), None)
            .expect_err("refused");
        assert!(bad.to_string().contains("expected http://"), "{bad}");
        let file = NodesFile {
            lease: Some(0),
            ..NodesFile::default()
        };
        assert!(NodeSettings::resolve(Some("n1".into()), None, Some(file)).is_err());

        let n1 = NodeSettings::resolve(Some("n1".into()), None, None).expect("valid settings");
        assert_eq!(n1.lease, Duration::from_secs(DEFAULT_LEASE_SECS));
        let config = n1.config("127.0.0.1:7071".parse().expect("an address"), "http");
        assert_eq!(config.address, "http://127.0.0.1:7071");
        let tls = n1.config("127.0.0.1:7071".parse().expect("an address"), "https");
        assert_eq!(tls.address, "https://127.0.0.1:7071");
        let everywhere = n1.config("0.0.0.0:7071".parse().expect("an address"), "http");
        assert!(everywhere.address.ends_with(":7071"));
        assert!(
            !everywhere.address.contains("0.0.0.0"),
            "{}",
            everywhere.address
        );
        let given = NodeSettings::resolve(None, Some("https://n2.internal:443".into()), None)
            .expect("valid settings")
            .config("0.0.0.0:7071".parse().expect("an address"), "http");
        assert_eq!(given.address, "https://n2.internal:443");
        assert!(!given.name.is_empty());
    }
}
