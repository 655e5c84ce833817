//! `KafkaStreams`: a running application instance — its start (topics checked, tasks
//! supervised, the group joined), its reports to the registry, queries, and its close.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use eddy_actors::supervision::RestartIntensity;
use eddy_topologies::{Data, StoreLookup, StoreSerdeError, TaskId, Topology, WindowedValue};

use crate::queries::unknown_store;
use crate::topology_supervisor::{Report, TopologySupervisor};
use crate::*;
use eddy_client::GroupMembership;
use tokio::sync::{oneshot, watch};

/// The least time `KafkaStreams::start` waits for the instance's first assignment (the
/// group's first rebalance waits `group.initial.rebalance.delay.ms`, 3 s, for more
/// members); twice the session timeout if that is longer.
const ASSIGNMENT_WAIT_MIN: Duration = Duration::from_secs(60);

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

/// What an instance says about itself in its reports, besides its tasks.
struct Reporter {
    bootstrap: String,
    application_id: String,
    description: String,
    internal_topics: Vec<String>,
    application_server: Option<String>,
    instance: String,
    node_id: Option<i32>,
    /// Each task's source topics.
    sources: BTreeMap<TaskId, Vec<String>>,
}

/// Reports the application and its tasks to the registry topic every few seconds (see
/// [`registry`]), until the application's supervisor is gone.
async fn report_loop(supervisor: Addr<TopologySupervisor>, reporter: Reporter) {
    let Reporter {
        bootstrap,
        application_id,
        description,
        internal_topics,
        application_server,
        instance,
        node_id,
        sources,
    } = reporter;
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
                        task: t.id.to_string(),
                        state: format!("{:?}", t.supervision.state).to_lowercase(),
                        restarts: t.supervision.restarts,
                        last_error: t.supervision.last_error,
                        processed_records: t.processed_records,
                        dropped_late_records: t.dropped_late_records,
                        committed: t.committed,
                        instance: instance.clone(),
                        node_id,
                        inputs: sources
                            .get(&t.id)
                            .into_iter()
                            .flatten()
                            .map(|topic| format!("{topic}-{}", t.id.partition))
                            .collect(),
                        restored_records: t.restored_records,
                        starts: t.starts,
                        standby: t.standby,
                    })
                    .collect(),
                instance: instance.clone(),
                application_server: application_server.clone(),
                reported_at_ms: registry::now_ms(),
                node_id,
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
        let prepared = match topics::prepare(
            &topology,
            &app,
            &settings.bootstrap,
            settings.replication_factor,
            settings.node.is_some(),
        )
        .await
        {
            Ok(prepared) => prepared,
            Err(err) => {
                // A node hosting a deployment says it itself, with when it retries (a
                // source topic created after the deploy is a normal wait, not an error).
                if settings.node.is_none() {
                    tracing::error!(application = %app, error = %err, "the application cannot start");
                }
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
        let settings_node = settings.node;
        let settings_standby_replicas = settings.num_standby_replicas;
        let supervisor = TopologySupervisor::launch(
            topology.clone(),
            Arc::new(settings),
            state,
            RestartIntensity::default(),
        );
        let assigned = Arc::new(Mutex::new(Vec::new()));
        let (generations_tx, mut generations) = watch::channel(0u64);
        let (shutdown, shutdown_rx) = oneshot::channel();
        let plan = membership::TaskPlan::new(&topology, &app, &tasks, settings_standby_replicas);
        let plan_sources = plan.tasks.clone();
        let member_loop = membership::MemberLoop {
            member,
            plan,
            supervisor: supervisor.clone(),
            application_server: application_server.map(|a| a.to_string()),
            node: settings_node,
            leaders: membership::Leaders::new(&bootstrap),
            standbys: Vec::new(),
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
        let reporter = Reporter {
            bootstrap,
            application_id: app,
            description,
            internal_topics: internal_names,
            application_server: application_server.map(|a| a.to_string()),
            instance: instance.clone(),
            node_id: settings_node,
            sources: plan_sources,
        };
        let reporter = actix_rt::spawn(report_loop(supervisor.clone(), reporter));
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
        self.report_handle().report().await
    }

    /// A handle that reads this instance's live report from elsewhere (another actor, a
    /// server) while the instance itself stays with its owner, who closes it.
    pub fn report_handle(&self) -> ReportHandle {
        ReportHandle {
            supervisor: self.supervisor.clone(),
        }
    }
}

/// Reads an instance's live report: see [`KafkaStreams::report_handle`].
#[derive(Clone)]
pub struct ReportHandle {
    supervisor: Addr<TopologySupervisor>,
}

impl ReportHandle {
    /// The live supervision tree of the application's tasks, with their progress; `None`
    /// once the instance has closed.
    pub async fn report(
        &self,
    ) -> Option<(eddy_actors::supervision::SupervisorReport, Vec<TaskReport>)> {
        self.supervisor.send(Report).await.ok()
    }
}
