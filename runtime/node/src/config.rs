//! A node's configuration: the embedded defaults (one node, data in `./eddy-data`, Kafka on
//! 127.0.0.1:9092, admin HTTP on 127.0.0.1:9644) overridden by an optional TOML file, then
//! by `EDDY_*` environment variables and command-line flags (merged by the CLI).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::ConfigError;

/// Kafka's `socket.request.max.bytes` default: 100 MiB.
pub const SOCKET_REQUEST_MAX_BYTES_DEFAULT: usize = 100 * 1024 * 1024;

/// `queued.max.request.bytes` default: 512 MiB of request bytes read but not yet handled,
/// node-wide (Kafka's is unbounded; a bound keeps half-sent frames from filling memory).
pub const QUEUED_MAX_REQUEST_BYTES_DEFAULT: usize = 512 * 1024 * 1024;
/// Kafka's `fetch.max.bytes` default: 55 MiB per fetch response (the first batch is still
/// returned whole when larger, KIP-74).
pub const FETCH_MAX_BYTES_DEFAULT: usize = 57_671_680;

/// Settings of one node. Field names are the TOML keys (kebab-case in the file).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct NodeConfig {
    /// This node's id (`node.id`).
    pub node_id: i32,
    /// Where the node keeps its data.
    pub data_dir: PathBuf,
    /// Kafka listener address.
    pub listen: String,
    /// The `host:port` clients are told to connect to (defaults to `listen`).
    pub advertised_listener: Option<String>,
    /// Admin HTTP address.
    pub admin: String,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `num.partitions`: partitions of auto-created topics.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `socket.request.max.bytes`: frames larger than this are refused before allocation.
    pub socket_request_max_bytes: usize,
    /// `log.flush.interval.messages`: fsync after this many records (1 = every append).
    pub log_flush_interval_messages: Option<i64>,
    /// `log.flush.interval.ms`: fsync at least this often.
    pub log_flush_interval_ms: Option<i64>,
    /// `log.retention.check.interval.ms`: how often partitions apply retention.
    pub log_retention_check_interval_ms: u64,
    /// `log.cleaner.backoff.ms`: how often compacted partitions consider compacting.
    pub log_cleaner_backoff_ms: u64,
    /// Threads (arbiters) hosting partition actors; 0 = one per core.
    pub partition_threads: usize,
    /// Produce requests in flight per connection before the node stops reading from it
    /// (every other request is served one at a time per connection, as Kafka does).
    pub inflight_requests_max: usize,
    /// `queued.max.request.bytes`: request bytes read but not yet handled, node-wide;
    /// connections wait (are not read) while it is used up.
    pub queued_max_request_bytes: usize,
    /// `fetch.max.bytes`: the most a fetch response carries, whatever the client asks.
    pub fetch_max_bytes: usize,
    /// `connections.max.idle.ms`: a client connection sending nothing this long is closed.
    pub connections_max_idle_ms: u64,
    /// A request frame must arrive whole this soon after its first bytes.
    pub request_read_timeout_ms: u64,
    /// A client that reads none of a response for this long is disconnected.
    pub response_write_timeout_ms: u64,
    /// `max.connections`: client connections open at once; more are refused.
    pub max_connections: usize,
    /// `max.connections.per.ip`: client connections from one address; more are refused.
    pub max_connections_per_ip: usize,
    /// `max.broker.partitions` (KIP-578's name; Apache Kafka has no such bound): partition
    /// replicas this node may host. CreateTopics and CreatePartitions beyond it are refused
    /// with INVALID_PARTITIONS naming the setting.
    pub max_broker_partitions: usize,
    /// Peer listener HOST:PORT (node-to-node frames). Setting it (or seeds) turns on
    /// cluster mode: metadata in a Raft quorum, replicated partitions.
    pub peer_listen: Option<String>,
    /// Peer addresses of the cluster's nodes (this node's own may be among them). The node
    /// whose peer address is first bootstraps a new cluster; the others join through any.
    pub seeds: Vec<String>,
    /// How many of the first nodes vote in the metadata quorum (the rest follow it).
    pub controller_voters: usize,
    /// `broker.session.timeout.ms`: a node silent this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: u64,
    /// `replica.lag.time.max.ms`: a follower not caught up this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            node_id: 1,
            data_dir: PathBuf::from("./eddy-data"),
            listen: "127.0.0.1:9092".into(),
            advertised_listener: None,
            admin: "127.0.0.1:9644".into(),
            auto_create_topics_enable: true,
            num_partitions: 1,
            default_replication_factor: 1,
            socket_request_max_bytes: SOCKET_REQUEST_MAX_BYTES_DEFAULT,
            log_flush_interval_messages: None,
            log_flush_interval_ms: None,
            log_retention_check_interval_ms: 300_000,
            log_cleaner_backoff_ms: 15_000,
            partition_threads: 0,
            inflight_requests_max: 1000,
            queued_max_request_bytes: QUEUED_MAX_REQUEST_BYTES_DEFAULT,
            fetch_max_bytes: FETCH_MAX_BYTES_DEFAULT,
            connections_max_idle_ms: 600_000,
            request_read_timeout_ms: 30_000,
            response_write_timeout_ms: 30_000,
            max_connections: i32::MAX as usize,
            max_connections_per_ip: i32::MAX as usize,
            max_broker_partitions: eddy_actors::metadata::BROKER_PARTITIONS_MAX_DEFAULT,
            peer_listen: None,
            seeds: Vec::new(),
            controller_voters: 3,
            broker_session_timeout_ms: 9_000,
            broker_heartbeat_interval_ms: 2_000,
            replica_lag_time_max_ms: 30_000,
        }
    }
}

impl NodeConfig {
    /// Reads a TOML file; unknown keys are errors that name the key.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }

    /// Checks values that cannot work, with a message that says what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name: &str, reason: String| {
            Err(ConfigError::Invalid {
                name: name.into(),
                reason,
            })
        };
        if self.node_id < 0 {
            return bad(
                "node-id",
                format!("{} is negative; use 0 or more", self.node_id),
            );
        }
        for (name, addr) in [("listen", &self.listen), ("admin", &self.admin)] {
            if addr.parse::<SocketAddr>().is_err() {
                return bad(
                    name,
                    format!("'{addr}' is not HOST:PORT with an IP address, e.g. 127.0.0.1:9092"),
                );
            }
        }
        if let Some(adv) = &self.advertised_listener {
            if split_host_port(adv).is_none() {
                return bad("advertised-listener", format!("'{adv}' is not HOST:PORT"));
            }
        }
        if self.num_partitions < 1 {
            return bad(
                "num-partitions",
                format!("{} must be at least 1", self.num_partitions),
            );
        }
        if self.default_replication_factor < 1 {
            return bad("default-replication-factor", "must be at least 1".into());
        }
        if self.default_replication_factor != 1 && !self.cluster_mode() {
            return bad(
                "default-replication-factor",
                "a single node can only hold 1 replica; give --peer-listen and --seeds to form a cluster".into(),
            );
        }
        if !self.seeds.is_empty() && self.peer_listen.is_none() {
            return bad(
                "seeds",
                "a node that joins a cluster needs --peer-listen HOST:PORT for node-to-node traffic".into(),
            );
        }
        if let Some(peer) = &self.peer_listen {
            if peer.parse::<SocketAddr>().is_err() {
                return bad(
                    "peer-listen",
                    format!("'{peer}' is not HOST:PORT with an IP address, e.g. 127.0.0.1:9093"),
                );
            }
        }
        for seed in &self.seeds {
            if split_host_port(seed).is_none() {
                return bad(
                    "seeds",
                    format!(
                        "'{seed}' is not HOST:PORT; give a comma-separated list of peer addresses"
                    ),
                );
            }
        }
        if self.controller_voters == 0 {
            return bad("controller-voters", "must be at least 1".into());
        }
        if self.broker_heartbeat_interval_ms == 0
            || self.broker_session_timeout_ms <= self.broker_heartbeat_interval_ms
        {
            return bad(
                "broker-session-timeout-ms",
                "must be larger than broker-heartbeat-interval-ms (and both above 0)".into(),
            );
        }
        if self.replica_lag_time_max_ms == 0 {
            return bad("replica-lag-time-max-ms", "must be at least 1".into());
        }
        if self.socket_request_max_bytes < 1024 {
            return bad("socket-request-max-bytes", "must be at least 1024".into());
        }
        if matches!(self.log_flush_interval_messages, Some(n) if n < 1) {
            return bad("log-flush-interval-messages", "must be at least 1".into());
        }
        if self.log_retention_check_interval_ms == 0 {
            return bad(
                "log-retention-check-interval-ms",
                "must be at least 1".into(),
            );
        }
        if self.log_cleaner_backoff_ms == 0 {
            return bad("log-cleaner-backoff-ms", "must be at least 1".into());
        }
        if self.inflight_requests_max == 0 {
            return bad("inflight-requests-max", "must be at least 1".into());
        }
        if self.queued_max_request_bytes < self.socket_request_max_bytes {
            return bad(
                "queued-max-request-bytes",
                format!(
                    "{} is below socket-request-max-bytes={}: the largest request could never be read; raise it or lower the other",
                    self.queued_max_request_bytes, self.socket_request_max_bytes
                ),
            );
        }
        if self.queued_max_request_bytes > u32::MAX as usize {
            return bad(
                "queued-max-request-bytes",
                "must be at most 4294967295".into(),
            );
        }
        for (name, value) in [
            ("fetch-max-bytes", self.fetch_max_bytes as u64),
            ("connections-max-idle-ms", self.connections_max_idle_ms),
            ("request-read-timeout-ms", self.request_read_timeout_ms),
            ("response-write-timeout-ms", self.response_write_timeout_ms),
            ("max-connections", self.max_connections as u64),
            ("max-connections-per-ip", self.max_connections_per_ip as u64),
            ("max-broker-partitions", self.max_broker_partitions as u64),
        ] {
            if value == 0 {
                return bad(name, "must be at least 1".into());
            }
        }
        Ok(())
    }

    /// Cluster mode: a peer listener is configured.
    pub fn cluster_mode(&self) -> bool {
        self.peer_listen.is_some()
    }

    /// The address advertised to clients, as (host, port).
    pub fn advertised(&self) -> (String, i32) {
        let text = self.advertised_listener.as_deref().unwrap_or(&self.listen);
        split_host_port(text).unwrap_or_else(|| ("127.0.0.1".into(), 9092))
    }

    /// Broker-level defaults for topic configs, by Kafka topic config name.
    pub fn broker_topic_defaults(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(n) = self.log_flush_interval_messages {
            out.insert("flush.messages".into(), n.to_string());
        }
        if let Some(ms) = self.log_flush_interval_ms {
            out.insert("flush.ms".into(), ms.to_string());
        }
        out
    }
}

/// Splits `host:port`.
pub fn split_host_port(text: &str) -> Option<(String, i32)> {
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    if host.is_empty() {
        return None;
    }
    Some((
        host.trim_matches(|c| c == '[' || c == ']').to_string(),
        i32::from(port),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        let c = NodeConfig::default();
        c.validate().expect("valid");
        assert_eq!(c.advertised(), ("127.0.0.1".to_string(), 9092));
    }

    #[test]
    fn toml_overrides_and_unknown_keys_fail() {
        let c: NodeConfig =
            toml::from_str("node-id = 3\nlisten = \"127.0.0.1:19092\"").expect("parse");
        assert_eq!(c.node_id, 3);
        assert_eq!(c.admin, "127.0.0.1:9644");
        assert!(toml::from_str::<NodeConfig>("no-such-key = 1").is_err());
    }

    #[test]
    fn bad_values_name_the_flag() {
        let c = NodeConfig {
            listen: "nowhere".into(),
            ..NodeConfig::default()
        };
        let err = c.validate().expect_err("invalid");
        assert!(err.to_string().contains("listen"), "{err}");
    }
}
