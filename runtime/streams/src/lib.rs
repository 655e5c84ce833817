//! Running topologies against a Kafka cluster (an Eddy node, embedded or remote) like
//! Kafka Streams applications: each task of a [`Topology`] — one sub-topology for one
//! input partition — runs as a supervised actor in the program's own actix system, reading
//! and writing through the Kafka protocol, with the application id as its consumer group
//! and internal-topic prefix.
//!
//! A complete program: upper-cases the values of `orders` into `orders-shouted` until
//! Ctrl-C or SIGTERM, against a node on `127.0.0.1:9092` (`eddy start`). [`run`] makes the
//! runtime the tasks need, so the program depends on no async runtime of its own.
//!
//! ```no_run
//! use eddy_streams::{KafkaStreams, StreamsSettings};
//! use eddy_topologies::StreamsBuilder;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     eddy_streams::run(async {
//!         let builder = StreamsBuilder::new();
//!         builder
//!             .stream::<String, String>("orders")
//!             .map_values(|order| order.to_uppercase())
//!             .to("orders-shouted");
//!         let topology = builder.build()?;
//!         let settings = StreamsSettings::new("orders-shouter", "127.0.0.1:9092");
//!         // Fails at once if `orders` does not exist (the error names it); creates
//!         // `orders-shouted` if the cluster auto-creates topics.
//!         let streams = KafkaStreams::start(topology, settings).await?;
//!         // Runs until Ctrl-C or SIGTERM, then stops the tasks and leaves the group.
//!         streams.run_until_signal().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! What the application does is logged without any set-up: with no global `tracing`
//! subscriber, [`KafkaStreams::start`] installs one on stderr (see
//! [`init_default_logging`]; `EDDY_LOG` filters it; [`StreamsSettings::default_logging`]
//! turns it off). It says when the application starts and with which tasks, each
//! rebalance (tasks revoked, tasks assigned), each task that fails and why, and the stop.
//!
//! Topics, as in Kafka Streams: a missing source topic fails the start with
//! [`StreamsError::MissingSourceTopics`], naming every one (the check never makes the
//! cluster create them); a missing sink topic is created the way a producer's first record
//! would create it, where the cluster auto-creates topics, and fails the start with
//! [`StreamsError::MissingSinkTopics`] elsewhere; repartition and changelog topics are
//! created.
//!
//! Interactive queries: [`KafkaStreams::query`] reads a store's current value for a key
//! from the task that owns the key (the partition the default partitioner picks for the
//! key bytes); with `application.server` set, the same reads are served over HTTP
//! (`GET /topologies/<app>/stores/<store>?key=…`) and the address is reported to the
//! [`registry`], where `eddy topology query` finds it.
//!
//! State stores are on disk under `state.dir`, checkpointed at every commit and caught up
//! from their changelog topics at every (re)start; an empty state directory is rebuilt
//! from the whole changelogs.
//!
//! Instances with the same application id split the tasks through the consumer group
//! named after it: each instance runs the tasks the group's leader gave it. Rebalances
//! (an instance joining, leaving or timing out) are cooperative: only the tasks that move
//! stop (committing first), and their new instance gets them in a follow-up rebalance. A
//! query of a key another instance owns is answered by that instance: `query`
//! says where (`QueryError::NotLocal`), the HTTP query server redirects there.

pub mod admin_routes;
mod assignment;
mod logging;
mod membership;
mod query_server;
pub mod registry;
mod runtime;
mod state_store;
mod stream_task;
mod topics;
mod topology_supervisor;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use eddy_actors::supervision::RestartIntensity;
use eddy_topologies::{
    Data, StoreKind, StoreLookup, StoreSerdeError, StreamsConfig, TaskError, TaskId, Topology,
    WindowedValue,
};

use eddy_client::{partition_for_key, ClientError, GroupMembership};
use stream_task::QueryStore;
use tokio::sync::{oneshot, watch};
use topology_supervisor::{Report, TopologySupervisor};

pub use eddy_actors::supervision::{ChildState, SupervisorReport};
pub use logging::{init_default_logging, LOG_FILTER_DEFAULT, LOG_FILTER_ENV};
pub use query_server::KEY_BYTES_MAX;
pub use runtime::{run, shutdown_signal, ShutdownSignal};
pub use state_store::StateDirError;
pub use stream_task::QUERIES_PENDING_MAX;
pub use topology_supervisor::TaskReport;

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
        }
    }
}

/// Kafka Streams' default `state.dir` (`${java.io.tmpdir}/kafka-streams`), Eddy's way:
/// `eddy-streams` in the system's temp directory.
pub fn default_state_dir() -> PathBuf {
    std::env::temp_dir().join("eddy-streams")
}

/// Why an application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The cluster could not be reached or refused a request.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// Source topics are missing (Kafka Streams' `MissingSourceTopicException`); the
    /// start checked without asking the cluster to create them.
    #[error("source topic(s) {} do not exist: create them first (e.g. `{}`), or correct the topology's topic names", .topics.join(", "), create_commands(.topics))]
    MissingSourceTopics {
        /// Every missing source topic, by name.
        topics: Vec<String>,
    },
    /// Sink (output) topics are missing and the cluster does not create topics on a
    /// producer's request (`auto.create.topics.enable=false`).
    #[error("sink topic(s) {} do not exist and the cluster does not create topics automatically (auto.create.topics.enable=false): create them first (e.g. `{}`)", .topics.join(", "), create_commands(.topics))]
    MissingSinkTopics {
        /// Every missing sink topic, by name.
        topics: Vec<String>,
    },
    /// The state directory could not be opened (or another instance holds it).
    #[error(transparent)]
    StateDir(#[from] state_store::StateDirError),
    /// The application's group gave this instance no assignment in time.
    #[error("application '{application}': the group '{application}' gave this instance no tasks within {waited:?}; is the cluster healthy? (`eddy group describe {application}`)")]
    NoAssignment {
        /// The application id.
        application: String,
        /// How long start waited.
        waited: Duration,
    },
    /// `application.server` could not be bound.
    #[error("application.server {address}: cannot listen there: {error}")]
    ApplicationServer {
        /// The address as configured.
        address: String,
        /// Why.
        error: std::io::Error,
    },
}

/// `eddy topic create` commands for `topics`, joined with `; `.
fn create_commands(topics: &[String]) -> String {
    topics
        .iter()
        .map(|t| format!("eddy topic create {t} --partitions 1"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The least time `KafkaStreams::start` waits for the instance's first assignment (the
/// group's first rebalance waits `group.initial.rebalance.delay.ms`, 3 s, for more
/// members); twice the session timeout if that is longer.
const ASSIGNMENT_WAIT_MIN: Duration = Duration::from_secs(60);

/// How long an interactive query waits for the task that owns the key: a task answers
/// between two batches of input, but not while it waits for the cluster to acknowledge a
/// commit.
pub const QUERY_WAIT_MS_MAX: u64 = 5_000;

/// Why an interactive query got no answer. `is_retriable` says whether asking again later
/// may succeed (a task restoring or restarting); the HTTP status derives from the variant.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The topology has no store by that name.
    #[error("application '{application}' has no state store '{store}' (its stores: {known})")]
    UnknownStore {
        /// The application id.
        application: String,
        /// The store asked for.
        store: String,
        /// The topology's stores, comma-separated.
        known: String,
    },
    /// `query` was asked of a window or session store, or `query_windows` of a key-value
    /// store.
    #[error("store '{store}' is not a {expected} store; use {instead}")]
    WrongStoreKind {
        /// The store.
        store: String,
        /// The kind the call reads: "key-value" or "window or session".
        expected: &'static str,
        /// The call that reads it.
        instead: &'static str,
    },
    /// The store is an operator's buffer (suppression, join), not a table.
    #[error("store '{store}' is an operator's buffer and cannot be queried")]
    NotQueryable {
        /// The store.
        store: String,
    },
    /// The task owning the key is not processing: restoring, restarting, failed, stopped.
    #[error("task {task}, which owns the key, is {state}; try again later")]
    NotRunning {
        /// The task owning the key.
        task: TaskId,
        /// What it is doing instead.
        state: &'static str,
    },
    /// The task has too many queries waiting.
    #[error("task {task} has {pending} queries waiting; try again later")]
    Busy {
        /// The task owning the key.
        task: TaskId,
        /// The bound that was reached.
        pending: usize,
    },
    /// Another instance of the application runs the task owning the key; `host` is its
    /// `application.server` (`None`: it serves no queries).
    #[error("task {task}, which owns the key, runs in another instance of the application{}", match host { Some(h) => format!(", which serves queries on {h}"), None => " that serves no queries (give it application.server)".to_string() })]
    NotLocal {
        /// The task owning the key.
        task: TaskId,
        /// Where its instance serves queries.
        host: Option<String>,
    },
    /// The task did not answer in time.
    #[error("task {task} did not answer within {waited_ms} ms")]
    Timeout {
        /// The task owning the key.
        task: TaskId,
        /// How long the query waited.
        waited_ms: u64,
    },
    /// The store failed to read.
    #[error("task {task} could not read store '{store}': {error}")]
    Store {
        /// The task owning the key.
        task: TaskId,
        /// The store.
        store: String,
        /// The store's error.
        error: TaskError,
    },
    /// The typed helper's key or value did not match the store's serdes.
    #[error(transparent)]
    Serde(#[from] StoreSerdeError),
}

impl QueryError {
    /// Whether the same query may succeed later.
    pub fn is_retriable(&self) -> bool {
        match self {
            QueryError::NotRunning { state, .. } => *state != TASK_FAILED,
            QueryError::Busy { .. } | QueryError::Timeout { .. } => true,
            QueryError::Store { error, .. } => error.is_retriable(),
            _ => false,
        }
    }

    /// The error of a task's failed store read.
    pub(crate) fn from_task(task: TaskId, store: &str, error: TaskError) -> QueryError {
        match error {
            TaskError::NotQueryable { store } => QueryError::NotQueryable { store },
            error => QueryError::Store {
                task,
                store: store.to_string(),
                error,
            },
        }
    }
}

/// `QueryError::NotRunning`'s state of a task past its restart intensity.
pub(crate) const TASK_FAILED: &str = "failed (past its restart intensity)";

/// The task that owns `key` (its key serde's bytes) in the store `store`: the store's
/// sub-topology, at the partition Kafka's default partitioner picks for the key among
/// that sub-topology's partitions — where the key's records went, so where its state is.
pub fn task_for_key(
    topology: &Topology,
    application: &str,
    tasks: &[TaskId],
    store: &str,
    key: &[u8],
) -> Result<(TaskId, StoreKind), QueryError> {
    let (subtopology, kind) = topology
        .store_owner(store)
        .ok_or_else(|| unknown_store(topology, application, store))?;
    let partitions = tasks
        .iter()
        .filter(|t| t.subtopology == subtopology)
        .count();
    let partitions = i32::try_from(partitions).unwrap_or(i32::MAX).max(1);
    let task = TaskId {
        subtopology,
        partition: partition_for_key(key, partitions),
    };
    Ok((task, kind))
}

fn unknown_store(topology: &Topology, application: &str, store: &str) -> QueryError {
    QueryError::UnknownStore {
        application: application.to_string(),
        store: store.to_string(),
        known: topology.store_names().join(", "),
    }
}

/// What an interactive query needs of a running application; cloned into the query
/// server.
#[derive(Clone)]
pub(crate) struct StoreQueries {
    application_id: String,
    topology: Topology,
    tasks: Arc<[TaskId]>,
    supervisor: Addr<TopologySupervisor>,
}

impl StoreQueries {
    /// What the store `store` holds for `key`, read by the task that owns the key.
    pub(crate) async fn lookup(&self, store: &str, key: &[u8]) -> Result<StoreLookup, QueryError> {
        let (task, _) = task_for_key(
            &self.topology,
            &self.application_id,
            &self.tasks,
            store,
            key,
        )?;
        let ask = self.supervisor.send(QueryStore {
            task,
            store: store.to_string(),
            key: key.to_vec(),
        });
        match tokio::time::timeout(Duration::from_millis(QUERY_WAIT_MS_MAX), ask).await {
            Err(_) => Err(QueryError::Timeout {
                task,
                waited_ms: QUERY_WAIT_MS_MAX,
            }),
            Ok(Err(_)) => Err(QueryError::NotRunning {
                task,
                state: "stopped",
            }),
            Ok(Ok(answer)) => answer,
        }
    }

    pub(crate) fn application_id(&self) -> &str {
        &self.application_id
    }

    pub(crate) fn topology(&self) -> &Topology {
        &self.topology
    }
}

/// A running application instance.
pub struct KafkaStreams {
    supervisor: Addr<TopologySupervisor>,
    /// The tasks the group assigned to this instance now.
    assigned: Arc<Mutex<Vec<TaskId>>>,
    queries: StoreQueries,
    application_server: Option<SocketAddr>,
    reporter: actix_rt::task::JoinHandle<()>,
    query_server: Option<actix_rt::task::JoinHandle<()>>,
    /// Tells the membership loop to stop the tasks and leave the group.
    shutdown: Option<oneshot::Sender<()>>,
    member_loop: Option<actix_rt::task::JoinHandle<()>>,
    bootstrap: String,
    /// This instance's name in reports and its group subscription.
    instance: String,
}

impl Drop for KafkaStreams {
    /// Stops the reports and the query server at once; the tasks stop and the instance
    /// leaves its group as soon as the actix system runs again (`close` waits for it).
    fn drop(&mut self) {
        self.reporter.abort();
        if let Some(server) = &self.query_server {
            server.abort();
        }
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Reports the application and its tasks to the registry topic every few seconds (see
/// [`registry`]), until the application's supervisor is gone.
async fn report_loop(
    supervisor: Addr<TopologySupervisor>,
    bootstrap: String,
    application_id: String,
    description: String,
    internal_topics: Vec<String>,
    application_server: Option<String>,
    instance: String,
) {
    let mut registry = None;
    loop {
        let Ok((_, tasks)) = supervisor.send(Report).await else {
            return;
        };
        if registry.is_none() {
            match registry::Registry::connect(&bootstrap).await {
                Ok(r) => registry = Some(r),
                Err(err) => tracing::debug!(error = %err, "topology registry unreachable"),
            }
        }
        if let Some(r) = registry.as_mut() {
            let record = registry::AppRecord {
                application_id: application_id.clone(),
                description: description.clone(),
                internal_topics: internal_topics.clone(),
                tasks: tasks
                    .into_iter()
                    .map(|t| registry::TaskRow {
                        task: t.supervision.name.trim_start_matches("task ").to_string(),
                        state: format!("{:?}", t.supervision.state).to_lowercase(),
                        restarts: t.supervision.restarts,
                        last_error: t.supervision.last_error,
                        processed_records: t.processed_records,
                        dropped_late_records: t.dropped_late_records,
                        committed: t.committed,
                        instance: instance.clone(),
                    })
                    .collect(),
                instance: instance.clone(),
                application_server: application_server.clone(),
                reported_at_ms: registry::now_ms(),
            };
            if let Err(err) = r.publish(&record).await {
                tracing::debug!(error = %err, "could not report to the topology registry");
                registry = None;
            }
        }
        actix_rt::time::sleep(registry::REPORT_INTERVAL).await;
    }
}

impl KafkaStreams {
    /// Checks the source topics (a missing one fails the start, naming it), creates the
    /// missing sink topics where the cluster auto-creates topics and the internal topics,
    /// joins the application's group and returns once this instance has its first
    /// assignment; one supervised task runs per (sub-topology, partition) assigned. Must be
    /// called inside an actix `System` (see [`run`]).
    ///
    /// With [`StreamsSettings::default_logging`] on (the default) and no global `tracing`
    /// subscriber yet, it first installs the default one ([`init_default_logging`]).
    pub async fn start(
        topology: Topology,
        settings: StreamsSettings,
    ) -> Result<KafkaStreams, StreamsError> {
        if settings.default_logging {
            init_default_logging();
        }
        let app = settings.config.application_id.clone();
        let prepared = match topics::prepare(&topology, &app, &settings.bootstrap).await {
            Ok(prepared) => prepared,
            Err(err) => {
                tracing::error!(application = %app, error = %err, "the application cannot start");
                return Err(err);
            }
        };
        if !prepared.created_sinks.is_empty() {
            tracing::info!(application = %app, topics = %prepared.created_sinks.join(", "), "created the missing sink topic(s) (the cluster auto-creates topics)");
        }
        let internal = prepared.internal;
        let tasks = prepared.tasks;
        // Bind before any task starts, so a taken address fails the start cleanly.
        let listener = match &settings.application_server {
            Some(address) => Some(tokio::net::TcpListener::bind(address).await.map_err(
                |error| StreamsError::ApplicationServer {
                    address: address.clone(),
                    error,
                },
            )?),
            None => None,
        };
        let application_server = listener.as_ref().and_then(|l| l.local_addr().ok());
        let state = state_store::StateDirectory::open(&settings.state_dir, &app)?;
        tracing::debug!(application = %app, tasks = tasks.len(), ?application_server, "joining the application's group");
        let description = topology.describe().to_string();
        let internal_names = internal.iter().map(|t| t.name.clone()).collect();
        let bootstrap = settings.bootstrap.clone();
        let instance = registry::instance_name();
        let member_config = membership::member_config(
            settings.session_timeout,
            settings.heartbeat_interval,
            &instance,
        );
        let assignment_wait = ASSIGNMENT_WAIT_MIN.max(2 * settings.session_timeout);
        let member = GroupMembership::connect(&bootstrap, &app, member_config).await?;
        let supervisor = TopologySupervisor::launch(
            topology.clone(),
            Arc::new(settings),
            state,
            RestartIntensity::default(),
        );
        let assigned = Arc::new(Mutex::new(Vec::new()));
        let (generations_tx, mut generations) = watch::channel(0u64);
        let (shutdown, shutdown_rx) = oneshot::channel();
        let member_loop = membership::MemberLoop {
            member,
            plan: membership::TaskPlan::new(&topology, &app, &tasks),
            supervisor: supervisor.clone(),
            application_server: application_server.map(|a| a.to_string()),
            assigned: assigned.clone(),
            generations: generations_tx,
        };
        let member_loop = actix_rt::spawn(member_loop.run(shutdown_rx));
        let queries = StoreQueries {
            application_id: app.clone(),
            topology,
            tasks: tasks.clone().into(),
            supervisor: supervisor.clone(),
        };
        let query_server = listener
            .map(|listener| actix_rt::spawn(query_server::serve(listener, queries.clone())));
        let bootstrap_for_close = bootstrap.clone();
        let reporter = actix_rt::spawn(report_loop(
            supervisor.clone(),
            bootstrap,
            app,
            description,
            internal_names,
            application_server.map(|a| a.to_string()),
            instance.clone(),
        ));
        let mut streams = KafkaStreams {
            supervisor,
            assigned,
            queries,
            application_server,
            reporter,
            query_server,
            shutdown: Some(shutdown),
            member_loop: Some(member_loop),
            bootstrap: bootstrap_for_close,
            instance,
        };
        // Like Kafka Streams' REBALANCING → RUNNING: return once this instance has its
        // first assignment (possibly empty, with more instances than tasks).
        let first = tokio::time::timeout(assignment_wait, generations.wait_for(|g| *g > 0)).await;
        if !matches!(first, Ok(Ok(_))) {
            streams.close_now().await;
            let err = StreamsError::NoAssignment {
                application: streams.queries.application_id.clone(),
                waited: assignment_wait,
            };
            tracing::error!(error = %err, "the application cannot start");
            return Err(err);
        }
        let assigned: Vec<String> = streams.tasks().iter().map(ToString::to_string).collect();
        tracing::info!(
            application = %streams.queries.application_id,
            tasks = %assigned.join(", "),
            application_server = ?streams.application_server,
            "application started with {} of its {} task(s)",
            assigned.len(),
            streams.queries.tasks.len(),
        );
        Ok(streams)
    }

    /// Stops this instance's tasks and leaves the group, so the other instances take the
    /// tasks over at once rather than after the session timeout; waits until done.
    pub async fn close(mut self) {
        self.close_now().await;
        tracing::info!(application = %self.queries.application_id, "application stopped");
    }

    /// Runs until Ctrl-C (SIGINT) or SIGTERM, then [`close`](KafkaStreams::close)s: the
    /// tasks stop and the instance leaves the group, so the other instances take its tasks
    /// over at once (and a restart of this one gets them back without waiting for the
    /// session timeout). Returns the signal that stopped it.
    pub async fn run_until_signal(self) -> ShutdownSignal {
        let signal = shutdown_signal().await;
        tracing::info!(application = %self.queries.application_id, %signal, "stopping: closing the tasks and leaving the group");
        self.close().await;
        signal
    }

    async fn close_now(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(member_loop) = self.member_loop.take() {
            let _ = member_loop.await;
            self.reporter.abort();
            let retracted = match registry::Registry::connect(&self.bootstrap).await {
                Ok(mut registry) => {
                    let app = &self.queries.application_id;
                    registry.retract(app, &self.instance).await
                }
                Err(err) => Err(err),
            };
            if let Err(err) = retracted {
                tracing::debug!(error = %err, "could not remove this instance's report");
            }
        }
    }

    /// Where this instance serves interactive queries over HTTP (`application.server`, with
    /// the port the system chose if it was 0).
    pub fn application_server(&self) -> Option<SocketAddr> {
        self.application_server
    }

    /// The current value of `key` (its key serde's bytes) in the key-value store `store`:
    /// the value serde's bytes, without the timestamp the store keeps; `None` if the key
    /// is absent. The task that owns the key answers between two batches of its input, so
    /// the value reflects whole records. Window and session stores: `query_windows`.
    pub async fn query(&self, store: &str, key: &[u8]) -> Result<Option<Vec<u8>>, QueryError> {
        match self.queries.lookup(store, key).await? {
            StoreLookup::Value(value) => Ok(value),
            StoreLookup::Windows(_) => Err(QueryError::WrongStoreKind {
                store: store.to_string(),
                expected: "key-value",
                instead: "query_windows",
            }),
        }
    }

    /// Every window (or session) of `key` in the window or session store `store`, by
    /// start time, with the value serde's bytes; empty if the key has none.
    pub async fn query_windows(
        &self,
        store: &str,
        key: &[u8],
    ) -> Result<Vec<WindowedValue>, QueryError> {
        match self.queries.lookup(store, key).await? {
            StoreLookup::Windows(windows) => Ok(windows),
            StoreLookup::Value(_) => Err(QueryError::WrongStoreKind {
                store: store.to_string(),
                expected: "window or session",
                instead: "query",
            }),
        }
    }

    /// `query` with the store's own serdes: `K` and `V` must be the store's key and value
    /// types (`QueryError::Serde` otherwise).
    pub async fn query_typed<K: Data, V: Data>(
        &self,
        store: &str,
        key: &K,
    ) -> Result<Option<V>, QueryError> {
        let topology = self.queries.topology();
        let bytes = match topology.serialize_store_key(store, key) {
            Err(StoreSerdeError::UnknownStore(_)) => {
                return Err(unknown_store(
                    topology,
                    self.queries.application_id(),
                    store,
                ))
            }
            bytes => bytes?,
        };
        match self.query(store, &bytes).await? {
            Some(value) => Ok(Some(topology.deserialize_store_value(store, &value)?)),
            None => Ok(None),
        }
    }

    /// The tasks the group assigned to this instance; they keep running while it
    /// rebalances (cooperative rebalancing stops only the tasks that move).
    pub fn tasks(&self) -> Vec<TaskId> {
        self.assigned.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// The live supervision tree of the application's tasks, with their progress.
    pub async fn report(
        &self,
    ) -> Option<(eddy_actors::supervision::SupervisorReport, Vec<TaskReport>)> {
        self.supervisor.send(Report).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_topologies::StreamsBuilder;

    /// Words re-keyed and counted: the count store lives in sub-topology 1, behind a
    /// repartition topic; sub-topology 0 has no store.
    fn word_count() -> Topology {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("lines")
            .group_by(|_, word| word.clone())
            .count()
            .named("counts");
        builder.build().expect("topology builds")
    }

    fn tasks(partitions: i32) -> Vec<TaskId> {
        (0..2)
            .flat_map(|subtopology| {
                (0..partitions).map(move |partition| TaskId {
                    subtopology,
                    partition,
                })
            })
            .collect()
    }

    #[test]
    fn a_key_is_routed_to_the_task_its_records_were_partitioned_to() {
        let topology = word_count();
        assert_eq!(topology.store_owner("counts").map(|(s, _)| s), Some(1));
        for partitions in [1, 3, 8] {
            let tasks = tasks(partitions);
            for word in ["kafka", "streams", "", "héllo", "foobar"] {
                let (task, kind) =
                    task_for_key(&topology, "wc", &tasks, "counts", word.as_bytes()).unwrap();
                assert_eq!(kind, StoreKind::KeyValue);
                assert_eq!(
                    task,
                    TaskId {
                        subtopology: 1,
                        // Where the producer's default partitioner sent the word's records.
                        partition: partition_for_key(word.as_bytes(), partitions),
                    }
                );
            }
        }
        // Kafka's murmur2 of "foobar" is 1357151166, so with 10 partitions: partition 6.
        let (task, _) = task_for_key(&topology, "wc", &tasks(10), "counts", b"foobar").unwrap();
        assert_eq!(task.partition, 6);
        let err = task_for_key(&topology, "wc", &tasks(1), "nope", b"k").unwrap_err();
        assert!(matches!(err, QueryError::UnknownStore { .. }), "{err}");
        assert!(err.to_string().contains("its stores: counts"), "{err}");
        assert!(!err.is_retriable());
    }
}
