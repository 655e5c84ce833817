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

/// Declares every node setting once — its doc (also the flag's help), type, default, flag
/// and environment variable, and Kafka's name when DescribeConfigs reports it — and derives
/// from that one list: [`NodeConfig`] (TOML keys in kebab-case), its `Default`,
/// [`NodeConfigOverrides`] (the flags and `EDDY_*` variables of `eddy start`, every one
/// optional so the file and the defaults show through) and [`NodeConfig::kafka_configs`].
///
/// `value` settings always have a value; `optional` ones may be unset (`Option<T>`).
macro_rules! node_settings {
    ($(
        $(#[doc = $doc:literal])*
        $field:ident: $kind:ident $ty:ty = $default:expr,
            #[arg($($arg:tt)*)] $(kafka $kafka:literal)?;
    )*) => {
        /// Settings of one node. Field names are the TOML keys (kebab-case in the file).
        #[derive(Debug, Clone, Deserialize, PartialEq)]
        #[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
        pub struct NodeConfig {
            $($(#[doc = $doc])* pub $field: setting_type!($kind $ty),)*
        }

        impl Default for NodeConfig {
            fn default() -> Self {
                NodeConfig { $($field: $default,)* }
            }
        }

        /// The settings given on the command line or in `EDDY_*` variables: each one that
        /// is present overrides the TOML file and the defaults.
        #[derive(Debug, Default, Clone, clap::Args)]
        pub struct NodeConfigOverrides {
            $(
                $(#[doc = $doc])*
                #[arg($($arg)*)]
                pub $field: Option<$ty>,
            )*
        }

        impl NodeConfigOverrides {
            /// Writes every setting present here over `config`.
            pub fn apply_to(self, config: &mut NodeConfig) {
                $(if let Some(v) = self.$field { config.$field = setting_value!($kind v); })*
            }
        }

        impl NodeConfig {
            /// The settings Kafka knows, by Kafka's names, as DescribeConfigs reports them
            /// for the broker (unset optional settings are left out).
            pub fn kafka_configs(&self) -> BTreeMap<String, String> {
                #[allow(unused_mut)]
                let mut out = BTreeMap::new();
                $($(
                    if let Some(v) = ConfigText::text(&self.$field) {
                        out.insert($kafka.to_string(), v);
                    }
                )?)*
                out
            }
        }
    };
}

macro_rules! setting_type {
    (value $ty:ty) => { $ty };
    (optional $ty:ty) => { Option<$ty> };
}

macro_rules! setting_value {
    (value $v:expr) => {
        $v
    };
    (optional $v:expr) => {
        Some($v)
    };
}

/// A setting's value as DescribeConfigs reports it.
trait ConfigText {
    fn text(&self) -> Option<String>;
}

macro_rules! config_text_display {
    ($($ty:ty),*) => {$(
        impl ConfigText for $ty {
            fn text(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}
config_text_display!(i16, i32, i64, u64, usize, bool, String);

impl<T: ConfigText> ConfigText for Option<T> {
    fn text(&self) -> Option<String> {
        self.as_ref().and_then(ConfigText::text)
    }
}

node_settings! {
    /// This node's id.
    node_id: value i32 = 1,
        #[arg(long, env = "EDDY_NODE_ID")] kafka "node.id";
    /// Where the node keeps its data [default: ./eddy-data].
    data_dir: value PathBuf = PathBuf::from("./eddy-data"),
        #[arg(long, env = "EDDY_DATA_DIR")];
    /// Kafka listener HOST:PORT [default: 127.0.0.1:9092].
    listen: value String = "127.0.0.1:9092".into(),
        #[arg(long, env = "EDDY_LISTEN")];
    /// HOST:PORT that clients are told to connect to [default: the listen address].
    advertised_listener: optional String = None,
        #[arg(long, env = "EDDY_ADVERTISED_LISTENER")];
    /// Admin HTTP HOST:PORT [default: 127.0.0.1:9644].
    admin: value String = "127.0.0.1:9644".into(),
        #[arg(long, env = "EDDY_ADMIN")];
    /// auto.create.topics.enable [default: true].
    auto_create_topics_enable: value bool = true,
        #[arg(long, env = "EDDY_AUTO_CREATE_TOPICS_ENABLE")] kafka "auto.create.topics.enable";
    /// num.partitions: partitions of auto-created topics [default: 1].
    num_partitions: value i32 = 1,
        #[arg(long, env = "EDDY_NUM_PARTITIONS")] kafka "num.partitions";
    /// default.replication.factor for auto-created topics [default: 1].
    default_replication_factor: value i16 = 1,
        #[arg(long, env = "EDDY_DEFAULT_REPLICATION_FACTOR")] kafka "default.replication.factor";
    /// socket.request.max.bytes: frames larger than this are refused before allocation
    /// [default: 104857600].
    socket_request_max_bytes: value usize = SOCKET_REQUEST_MAX_BYTES_DEFAULT,
        #[arg(long, env = "EDDY_SOCKET_REQUEST_MAX_BYTES")] kafka "socket.request.max.bytes";
    /// log.flush.interval.messages: fsync after this many records; 1 = before every
    /// acknowledgement [default: never, as Kafka]. An acknowledged record is in the OS
    /// page cache at once, so it survives a crash of the eddy process (kill -9, panic)
    /// whatever this says; only fsynced records survive a power loss or kernel crash. With
    /// 1, every acknowledged record does; otherwise those since the last fsync may be lost
    /// (in a cluster, acks=all records are also on every in-sync replica).
    log_flush_interval_messages: optional i64 = None,
        #[arg(long, env = "EDDY_LOG_FLUSH_INTERVAL_MESSAGES")] kafka "log.flush.interval.messages";
    /// log.flush.interval.ms: fsync at least this often [default: never, as Kafka]. Bounds
    /// what a power loss can take to about this many ms of acknowledged records; a process
    /// crash loses nothing acknowledged either way. See docs/runtime-semantics.md §5.
    log_flush_interval_ms: optional i64 = None,
        #[arg(long, env = "EDDY_LOG_FLUSH_INTERVAL_MS")] kafka "log.flush.interval.ms";
    /// log.retention.check.interval.ms: how often partitions apply retention
    /// [default: 300000].
    log_retention_check_interval_ms: value u64 = 300_000,
        #[arg(long, env = "EDDY_LOG_RETENTION_CHECK_INTERVAL_MS")]
        kafka "log.retention.check.interval.ms";
    /// log.cleaner.backoff.ms: how often compacted partitions consider compacting
    /// [default: 15000].
    log_cleaner_backoff_ms: value u64 = 15_000,
        #[arg(long, env = "EDDY_LOG_CLEANER_BACKOFF_MS")] kafka "log.cleaner.backoff.ms";
    /// Threads hosting partition actors; 0 = one per core [default: 0].
    partition_threads: value usize = 0,
        #[arg(long, env = "EDDY_PARTITION_THREADS")];
    /// Produce requests handled at once per connection before it is no longer read (every
    /// other request is served one at a time per connection, as Kafka does)
    /// [default: 1000].
    inflight_requests_max: value usize = 1000,
        #[arg(long, env = "EDDY_INFLIGHT_REQUESTS_MAX")];
    /// queued.max.request.bytes: request bytes read but not yet handled, node-wide; clients
    /// wait (are not read) while it is used up [default: 536870912].
    queued_max_request_bytes: value usize = QUEUED_MAX_REQUEST_BYTES_DEFAULT,
        #[arg(long, env = "EDDY_QUEUED_MAX_REQUEST_BYTES")] kafka "queued.max.request.bytes";
    /// fetch.max.bytes: the most one fetch response carries, whatever the client asks
    /// [default: 57671680].
    fetch_max_bytes: value usize = FETCH_MAX_BYTES_DEFAULT,
        #[arg(long, env = "EDDY_FETCH_MAX_BYTES")] kafka "fetch.max.bytes";
    /// connections.max.idle.ms: close client connections idle this long [default: 600000].
    connections_max_idle_ms: value u64 = 600_000,
        #[arg(long, env = "EDDY_CONNECTIONS_MAX_IDLE_MS")] kafka "connections.max.idle.ms";
    /// A request must arrive whole this soon after its first bytes [default: 30000].
    request_read_timeout_ms: value u64 = 30_000,
        #[arg(long, env = "EDDY_REQUEST_READ_TIMEOUT_MS")];
    /// Disconnect a client that reads none of a response for this long [default: 30000].
    response_write_timeout_ms: value u64 = 30_000,
        #[arg(long, env = "EDDY_RESPONSE_WRITE_TIMEOUT_MS")];
    /// max.connections: client connections open at once [default: 2147483647, and never
    /// more than the open-file limit leaves after storage's reserve].
    max_connections: value usize = i32::MAX as usize,
        #[arg(long, env = "EDDY_MAX_CONNECTIONS")] kafka "max.connections";
    /// max.connections.per.ip: client connections from one address [default: 2147483647].
    max_connections_per_ip: value usize = i32::MAX as usize,
        #[arg(long, env = "EDDY_MAX_CONNECTIONS_PER_IP")] kafka "max.connections.per.ip";
    /// max.broker.partitions (KIP-578's name; Apache Kafka has no such bound): partition
    /// replicas this node may host; CreateTopics and CreatePartitions beyond it are refused
    /// with INVALID_PARTITIONS naming the setting [default: 100000].
    max_broker_partitions: value usize = eddy_actors::metadata::BROKER_PARTITIONS_MAX_DEFAULT,
        #[arg(long, env = "EDDY_MAX_BROKER_PARTITIONS")];
    /// Bytes of the storage's block cache (fjall), which keeps recently read table blocks
    /// in memory; the OS page cache still holds what it drops [default: 16777216, 16 MiB].
    storage_cache_bytes: value u64 = eddy_actors::store::CACHE_BYTES_DEFAULT,
        #[arg(long, env = "EDDY_STORAGE_CACHE_BYTES")];
    /// Bytes of written batches the partition logs keep in memory before flushing them to a
    /// table (fjall's memtable; at least 1 MiB). Smaller: less memory, more and smaller
    /// tables to compact [default: 16777216, 16 MiB].
    log_memtable_bytes: value u64 = eddy_actors::store::LOG_MEMTABLE_BYTES_DEFAULT,
        #[arg(long, env = "EDDY_LOG_MEMTABLE_BYTES")];
    /// How often the node hands memory it freed back to the operating system (glibc's
    /// `malloc_trim`), in milliseconds; 0 turns it off [default: 10000].
    memory_trim_interval_ms: value u64 = 10_000,
        #[arg(long, env = "EDDY_MEMORY_TRIM_INTERVAL_MS")];
    /// This node's rack (Kafka's `broker.rack`): a cluster puts each partition's replicas
    /// on distinct racks whenever there are enough of them, and Metadata reports it.
    rack: optional String = None,
        #[arg(long, env = "EDDY_RACK")] kafka "broker.rack";
    /// Peer listener HOST:PORT for node-to-node traffic; turns on cluster mode (metadata in
    /// a Raft quorum, replicated partitions).
    peer_listen: optional String = None,
        #[arg(long, env = "EDDY_PEER_LISTEN")];
    /// Comma-separated peer addresses of the cluster's nodes (the same list on every node,
    /// this node's own may be among them; the first one bootstraps a new cluster).
    seeds: value Vec<String> = Vec::new(),
        #[arg(long, env = "EDDY_SEEDS", value_delimiter = ',')];
    /// How many of the first nodes vote in the metadata quorum [default: 3].
    controller_voters: value usize = 3,
        #[arg(long, env = "EDDY_CONTROLLER_VOTERS")];
    /// broker.session.timeout.ms: a silent node is fenced after this [default: 9000].
    broker_session_timeout_ms: value u64 = 9_000,
        #[arg(long, env = "EDDY_BROKER_SESSION_TIMEOUT_MS")];
    /// broker.heartbeat.interval.ms [default: 2000].
    broker_heartbeat_interval_ms: value u64 = 2_000,
        #[arg(long, env = "EDDY_BROKER_HEARTBEAT_INTERVAL_MS")];
    /// replica.lag.time.max.ms: a follower not caught up this long leaves the ISR
    /// [default: 30000].
    replica_lag_time_max_ms: value u64 = 30_000,
        #[arg(long, env = "EDDY_REPLICA_LAG_TIME_MAX_MS")];
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
    fn flags_override_the_file_and_leave_the_rest() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            settings: NodeConfigOverrides,
        }
        let mut c: NodeConfig = toml::from_str("node-id = 3\nnum-partitions = 4").expect("parse");
        let cli = Cli::try_parse_from([
            "eddy",
            "--num-partitions",
            "6",
            "--seeds",
            "127.0.0.1:1,127.0.0.1:2",
            "--log-flush-interval-messages",
            "1",
        ])
        .expect("flags parse");
        cli.settings.apply_to(&mut c);
        assert_eq!(c.node_id, 3, "the file's value shows through");
        assert_eq!(c.num_partitions, 6, "the flag wins over the file");
        assert_eq!(c.seeds, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert_eq!(c.log_flush_interval_messages, Some(1));
        assert_eq!(c.admin, NodeConfig::default().admin);
    }

    #[test]
    fn kafka_configs_use_kafkas_names_and_skip_unset_settings() {
        let c = NodeConfig {
            log_flush_interval_ms: Some(250),
            ..NodeConfig::default()
        };
        let configs = c.kafka_configs();
        assert_eq!(configs["node.id"], "1");
        assert_eq!(configs["auto.create.topics.enable"], "true");
        assert_eq!(configs["log.flush.interval.ms"], "250");
        assert_eq!(
            configs["fetch.max.bytes"],
            FETCH_MAX_BYTES_DEFAULT.to_string()
        );
        assert!(!configs.contains_key("log.flush.interval.messages"));
        assert!(
            configs.keys().all(|k| !k.contains('-') && !k.contains('_')),
            "{configs:?}"
        );
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
