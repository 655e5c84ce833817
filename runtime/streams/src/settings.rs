//! What every task of an application shares: `StreamsSettings`, with Kafka Streams'
//! defaults.

use std::path::PathBuf;
use std::time::Duration;

use eddy_topologies::StreamsConfig;

/// Kafka Streams' default `commit.interval.ms` for at-least-once.
pub const COMMIT_INTERVAL_MS_DEFAULT: u64 = 30_000;
/// Kafka Streams' default `session.timeout.ms` (its consumers').
pub const SESSION_TIMEOUT_MS_DEFAULT: u64 = 45_000;
/// Kafka Streams' default `heartbeat.interval.ms`.
pub const HEARTBEAT_INTERVAL_MS_DEFAULT: u64 = 3_000;

/// What every task of an application shares.
#[derive(Debug, Clone)]
pub struct StreamsSettings {
    /// `application.id` and friends.
    pub config: StreamsConfig,
    /// `bootstrap.servers`.
    pub bootstrap: String,
    /// `commit.interval.ms`: how often input offsets are committed (after outputs are
    /// acknowledged).
    pub commit_interval: Duration,
    /// `application.server`: `HOST:PORT` where this instance serves interactive queries
    /// over HTTP (`GET /topologies/<app>/stores/<store>?key=…`); `None` serves none. It is
    /// also reported to the registry, so it must be an address other programs can reach.
    pub application_server: Option<String>,
    /// `state.dir`: where the instance keeps its state stores, under
    /// `<state.dir>/<application.id>`. Default: [`default_state_dir`]. Each instance of an
    /// application needs its own.
    pub state_dir: PathBuf,
    /// `session.timeout.ms`: how long the group keeps an instance that stopped
    /// heartbeating (a crashed one) before its tasks go to the others.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`: how often the instance heartbeats, and so how soon it
    /// notices a rebalance.
    pub heartbeat_interval: Duration,
    /// Whether `KafkaStreams::start` installs the default log subscriber
    /// ([`init_default_logging`]) when the process has none. Default: true; a program
    /// that wants no log at all sets it to false (one that sets its own subscriber
    /// before the start need not: it is never replaced).
    pub default_logging: bool,
    /// The node this instance runs in, set by a node hosting a deployed topology (one
    /// instance per node): the application's tasks are then placed beside their input
    /// partitions' leaders and follow them. `None` (a client program): tasks are balanced
    /// over the instances.
    pub node: Option<i32>,
    /// `replication.factor`: the replication factor of the internal topics (changelogs,
    /// repartition topics) the application creates; -1 (the default, as Kafka Streams'):
    /// the cluster's `default.replication.factor`.
    pub replication_factor: i16,
    /// `num.standby.replicas`: how many other instances keep a warm copy of each stateful
    /// task's stores (standby tasks), so a task that moves resumes without replaying its
    /// whole changelog. Default 0, as Kafka Streams'.
    pub num_standby_replicas: usize,
}

impl StreamsSettings {
    /// Settings with Kafka Streams' defaults.
    pub fn new(application_id: &str, bootstrap: &str) -> Self {
        StreamsSettings {
            config: StreamsConfig::new(application_id),
            bootstrap: bootstrap.to_string(),
            commit_interval: Duration::from_millis(COMMIT_INTERVAL_MS_DEFAULT),
            application_server: None,
            state_dir: default_state_dir(),
            session_timeout: Duration::from_millis(SESSION_TIMEOUT_MS_DEFAULT),
            heartbeat_interval: Duration::from_millis(HEARTBEAT_INTERVAL_MS_DEFAULT),
            default_logging: true,
            node: None,
            replication_factor: -1,
            num_standby_replicas: 0,
        }
    }
}

/// Kafka Streams' default `state.dir` (`${java.io.tmpdir}/kafka-streams`), Eddy's way:
/// `eddy-streams` in the system's temp directory.
pub fn default_state_dir() -> PathBuf {
    std::env::temp_dir().join("eddy-streams")
}
