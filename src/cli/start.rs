//! `eddy start`: run one node. Settings come from Eddy's embedded defaults, overridden by an
//! optional TOML file (`--config`), then by `EDDY_*` environment variables and flags.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use eddy_node::NodeConfig;

/// Flags of `eddy start`. Every flag is optional so that the TOML file and the defaults
/// show through when it is not given.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// TOML file with node settings (keys as the flags, e.g. `data-dir = "/var/lib/eddy"`).
    #[arg(long, env = "EDDY_CONFIG")]
    config: Option<PathBuf>,
    /// This node's id.
    #[arg(long, env = "EDDY_NODE_ID")]
    node_id: Option<i32>,
    /// Where the node keeps its data [default: ./eddy-data].
    #[arg(long, env = "EDDY_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Kafka listener HOST:PORT [default: 127.0.0.1:9092].
    #[arg(long, env = "EDDY_LISTEN")]
    listen: Option<String>,
    /// HOST:PORT that clients are told to connect to [default: the listen address].
    #[arg(long, env = "EDDY_ADVERTISED_LISTENER")]
    advertised_listener: Option<String>,
    /// Admin HTTP HOST:PORT [default: 127.0.0.1:9644].
    #[arg(long, env = "EDDY_ADMIN")]
    admin: Option<String>,
    /// auto.create.topics.enable [default: true].
    #[arg(long, env = "EDDY_AUTO_CREATE_TOPICS_ENABLE")]
    auto_create_topics_enable: Option<bool>,
    /// num.partitions for auto-created topics [default: 1].
    #[arg(long, env = "EDDY_NUM_PARTITIONS")]
    num_partitions: Option<i32>,
    /// socket.request.max.bytes [default: 104857600].
    #[arg(long, env = "EDDY_SOCKET_REQUEST_MAX_BYTES")]
    socket_request_max_bytes: Option<usize>,
    /// queued.max.request.bytes: request bytes read but not yet handled, node-wide; clients
    /// wait while it is used up [default: 536870912].
    #[arg(long, env = "EDDY_QUEUED_MAX_REQUEST_BYTES")]
    queued_max_request_bytes: Option<usize>,
    /// fetch.max.bytes: the most one fetch response carries [default: 57671680].
    #[arg(long, env = "EDDY_FETCH_MAX_BYTES")]
    fetch_max_bytes: Option<usize>,
    /// connections.max.idle.ms: close client connections idle this long [default: 600000].
    #[arg(long, env = "EDDY_CONNECTIONS_MAX_IDLE_MS")]
    connections_max_idle_ms: Option<u64>,
    /// A request must arrive whole this soon after its first bytes [default: 30000].
    #[arg(long, env = "EDDY_REQUEST_READ_TIMEOUT_MS")]
    request_read_timeout_ms: Option<u64>,
    /// Disconnect a client that reads none of a response for this long [default: 30000].
    #[arg(long, env = "EDDY_RESPONSE_WRITE_TIMEOUT_MS")]
    response_write_timeout_ms: Option<u64>,
    /// max.connections: client connections open at once [default: 2147483647, and never
    /// more than the open-file limit leaves after storage's reserve].
    #[arg(long, env = "EDDY_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// max.connections.per.ip: client connections from one address [default: 2147483647].
    #[arg(long, env = "EDDY_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,
    /// max.broker.partitions: partition replicas this node may host; creating more is
    /// refused with INVALID_PARTITIONS [default: 100000].
    #[arg(long, env = "EDDY_MAX_BROKER_PARTITIONS")]
    max_broker_partitions: Option<usize>,
    /// Produce requests handled at once per connection before it is no longer read
    /// [default: 1000].
    #[arg(long, env = "EDDY_INFLIGHT_REQUESTS_MAX")]
    inflight_requests_max: Option<usize>,
    /// log.flush.interval.messages: fsync after this many records; 1 = before every
    /// acknowledgement [default: never, as Kafka]. An acknowledged record is in the OS
    /// page cache at once, so it survives a crash of the eddy process (kill -9, panic)
    /// whatever this says; only fsynced records survive a power loss or kernel crash. With
    /// 1, every acknowledged record does; otherwise those since the last fsync may be lost
    /// (in a cluster, acks=all records are also on every in-sync replica).
    #[arg(long, env = "EDDY_LOG_FLUSH_INTERVAL_MESSAGES")]
    log_flush_interval_messages: Option<i64>,
    /// log.flush.interval.ms: fsync at least this often [default: never, as Kafka]. Bounds
    /// what a power loss can take to about this many ms of acknowledged records; a process
    /// crash loses nothing acknowledged either way. See docs/runtime-semantics.md §5.
    #[arg(long, env = "EDDY_LOG_FLUSH_INTERVAL_MS")]
    log_flush_interval_ms: Option<i64>,
    /// log.retention.check.interval.ms: how often partitions apply retention [default: 300000].
    #[arg(long, env = "EDDY_LOG_RETENTION_CHECK_INTERVAL_MS")]
    log_retention_check_interval_ms: Option<u64>,
    /// log.cleaner.backoff.ms: how often compacted partitions consider compacting [default: 15000].
    #[arg(long, env = "EDDY_LOG_CLEANER_BACKOFF_MS")]
    log_cleaner_backoff_ms: Option<u64>,
    /// Threads hosting partition actors [default: one per core].
    #[arg(long, env = "EDDY_PARTITION_THREADS")]
    partition_threads: Option<usize>,
    /// default.replication.factor for auto-created topics [default: 1].
    #[arg(long, env = "EDDY_DEFAULT_REPLICATION_FACTOR")]
    default_replication_factor: Option<i16>,
    /// Peer listener HOST:PORT for node-to-node traffic; turns on cluster mode.
    #[arg(long, env = "EDDY_PEER_LISTEN")]
    peer_listen: Option<String>,
    /// Comma-separated peer addresses of the cluster's nodes (the same list on every node;
    /// the first one bootstraps a new cluster).
    #[arg(long, env = "EDDY_SEEDS", value_delimiter = ',')]
    seeds: Option<Vec<String>>,
    /// How many of the first nodes vote in the metadata quorum [default: 3].
    #[arg(long, env = "EDDY_CONTROLLER_VOTERS")]
    controller_voters: Option<usize>,
    /// broker.session.timeout.ms: a silent node is fenced after this [default: 9000].
    #[arg(long, env = "EDDY_BROKER_SESSION_TIMEOUT_MS")]
    broker_session_timeout_ms: Option<u64>,
    /// broker.heartbeat.interval.ms [default: 2000].
    #[arg(long, env = "EDDY_BROKER_HEARTBEAT_INTERVAL_MS")]
    broker_heartbeat_interval_ms: Option<u64>,
    /// replica.lag.time.max.ms: a follower this far behind leaves the ISR [default: 30000].
    #[arg(long, env = "EDDY_REPLICA_LAG_TIME_MAX_MS")]
    replica_lag_time_max_ms: Option<u64>,
}

impl StartArgs {
    fn into_config(self) -> anyhow::Result<NodeConfig> {
        let mut c = match &self.config {
            Some(path) => NodeConfig::from_toml_file(path)?,
            None => NodeConfig::default(),
        };
        macro_rules! set {
            ($($field:ident),*) => {$(if let Some(v) = self.$field { c.$field = v; })*};
        }
        set!(
            node_id,
            data_dir,
            listen,
            admin,
            auto_create_topics_enable,
            num_partitions,
            socket_request_max_bytes,
            queued_max_request_bytes,
            fetch_max_bytes,
            connections_max_idle_ms,
            request_read_timeout_ms,
            response_write_timeout_ms,
            max_connections,
            max_connections_per_ip,
            max_broker_partitions,
            inflight_requests_max,
            log_retention_check_interval_ms,
            log_cleaner_backoff_ms,
            partition_threads,
            default_replication_factor,
            seeds,
            controller_voters,
            broker_session_timeout_ms,
            broker_heartbeat_interval_ms,
            replica_lag_time_max_ms
        );
        if self.peer_listen.is_some() {
            c.peer_listen = self.peer_listen;
        }
        if self.advertised_listener.is_some() {
            c.advertised_listener = self.advertised_listener;
        }
        if self.log_flush_interval_messages.is_some() {
            c.log_flush_interval_messages = self.log_flush_interval_messages;
        }
        if self.log_flush_interval_ms.is_some() {
            c.log_flush_interval_ms = self.log_flush_interval_ms;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Runs the node until SIGINT/SIGTERM.
pub fn run(args: StartArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDDY_LOG")
                .unwrap_or_else(|_| "info,fjall=warn,lsm_tree=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .init();
    let config = args.into_config()?;
    eddy_node::run_until_signal(config).context("the node stopped with an error")
}

/// Whether log lines on stderr get ANSI colours: only on a terminal (a log file must hold
/// plain text), and never when `NO_COLOR` is set to anything non-empty (no-color.org).
pub fn log_colours() -> bool {
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_colour && std::io::IsTerminal::is_terminal(&std::io::stderr())
}
