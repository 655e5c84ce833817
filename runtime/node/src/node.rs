//! Node bootstrap and shutdown. Start-up, in order: validate the config, open the fjall
//! store, (cluster mode) open the Raft log and start the Raft core, start the actor tree
//! (NodeSupervisor), load topics and start their partitions (single node; in cluster mode
//! they follow the quorum's state), bind the Kafka, admin and peer listeners (so a node
//! that answers is a node that has loaded its data), start the cluster services (join,
//! heartbeats, controller, replica fetchers), then log one line saying where it listens.
//!
//! Shutdown, in order: (0) stop the node's connectors, which commit their progress through
//! the listener; (1) stop accepting connections; (2) tell open connections to stop
//! reading and wait (bounded) until they have answered what they already read, so no new
//! request reaches the actors; (3) sync the store, so everything acknowledged is on disk;
//! (4) stop the actor tree, whose arbiters end after their current message; fjall closes when
//! the last store handle is dropped with the actor system.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_rt::task::JoinHandle;
use eddy_actors::metadata::{LoadTopics, SubscribeMetadata, TopicDefaults};
use eddy_actors::node_supervisor::{
    ClusterLink, NodeActors, NodeSupervisor, ServiceState, Shutdown, TreeConfig,
};
use eddy_actors::partition_supervisor::SubscribeRoutes;
use eddy_actors::store::{Store, StoreOptions};
use eddy_actors::supervision::{ChildState, RestartIntensity};
use futures::FutureExt as _;
use tokio::net::TcpListener;

use crate::admin_http::AdminTopologies;
use crate::cluster::{Cluster, ClusterSettings};
use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::kafka::{register_local, serve_listener, Broker};
use crate::services::spawn_service;
use crate::topologies::host::{CloseAll, HostSettings, TopologyHost};
use actix::Addr;
use eddy_connect::{ConnectHandle, ConnectSettings};
use eddy_streams::Catalog;

/// A node running inside the current actix `System`.
pub struct RunningNode {
    /// Where the Kafka listener is bound.
    pub kafka_addr: SocketAddr,
    /// Where the admin HTTP endpoint is bound.
    pub admin_addr: SocketAddr,
    /// The actor tree.
    pub actors: NodeActors,
    store: Store,
    tasks: Vec<JoinHandle<()>>,
    broker: Arc<Broker>,
    shutdown: tokio::sync::watch::Sender<bool>,
    connect: ConnectHandle,
    topologies: Addr<TopologyHost>,
    cluster: Option<Arc<Cluster>>,
    storage: crate::storage_health::StorageState,
    /// This node's addresses for in-process clients, unregistered when the node is dropped.
    _local_link: Option<eddy_client::local::Registration>,
}

/// How long shutdown waits for open connections to answer what they already read.
const DRAIN_WAIT_MS: u64 = 5_000;

async fn bind(addr: &str, flag: &'static str) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|e| NodeError::Bind {
        addr: addr.to_string(),
        reason: e.to_string(),
        flag,
    })
}

impl RunningNode {
    /// Starts a node on the current actix system, hosting no topology. Must be called from
    /// inside a `System`.
    pub async fn start(config: NodeConfig) -> Result<RunningNode, NodeError> {
        Self::start_with(config, Arc::new(Catalog::new())).await
    }

    /// Starts a node that can host the deployed topologies of `catalog`. Must be called
    /// from inside a `System`.
    pub async fn start_with(
        config: NodeConfig,
        catalog: Arc<Catalog>,
    ) -> Result<RunningNode, NodeError> {
        config.validate()?;
        let metrics = crate::metrics::install();
        // Before the store opens: fjall's file cache is sized from the raised limit.
        let fds = crate::fd_limit::raise_soft_limit();
        let store = Store::open_with(
            &config.data_dir,
            StoreOptions {
                cached_files: fds.storage_cached_files,
                cache_bytes: config.storage_cache_bytes,
                log_memtable_bytes: config.log_memtable_bytes,
            },
        )?;
        let cluster_id = store.meta().cluster_id()?;
        let cluster = match ClusterSettings::from_config(&config, config.advertised()) {
            Some(settings) => Some(Cluster::open(settings, &store).await?),
            None => None,
        };
        let (isr_tx, isr_rx) = tokio::sync::mpsc::unbounded_channel();
        let tree = TreeConfig {
            node_id: config.node_id,
            partition_arbiters: config.partition_threads,
            intensity: RestartIntensity::default(),
            retention_check_interval_ms: config.log_retention_check_interval_ms,
            cleaner_backoff_ms: config.log_cleaner_backoff_ms,
            topic_defaults: TopicDefaults {
                num_partitions: config.num_partitions,
                replication_factor: config.default_replication_factor,
            },
            broker_defaults: config.broker_topic_defaults(),
            replica_lag_max_ms: config.replica_lag_time_max_ms,
            broker_partitions_max: config.max_broker_partitions,
            cluster: cluster.as_ref().map(|c| ClusterLink {
                proposer: c.proposer(),
                isr_proposals: isr_tx,
                state: c.subscribe(),
            }),
        };
        let codec: Arc<dyn eddy_actors::compaction::RecordCodec> =
            Arc::new(crate::record_codec::KafkaRecordCodec);
        let actors = NodeSupervisor::start_tree(tree, store.clone(), Some(codec));
        let runtime = |e: actix::MailboxError| NodeError::Runtime(e.to_string());
        let topics = actors.metadata.send(LoadTopics).await.map_err(runtime)??;
        let routes = actors
            .partitions
            .send(SubscribeRoutes)
            .await
            .map_err(runtime)?;
        let metadata = actors
            .metadata
            .send(SubscribeMetadata)
            .await
            .map_err(runtime)?;
        let kafka = bind(&config.listen, "listen").await?;
        let admin = bind(&config.admin, "admin").await?;
        let peer = match &config.peer_listen {
            Some(addr) => Some(bind(addr, "peer-listen").await?),
            None => None,
        };
        let kafka_addr = kafka
            .local_addr()
            .map_err(|e| NodeError::Runtime(e.to_string()))?;
        let admin_addr = admin
            .local_addr()
            .map_err(|e| NodeError::Runtime(e.to_string()))?;
        let mut advertised = config.advertised();
        if config.advertised_listener.is_none() {
            // Port 0 binds an ephemeral port: advertise the real one.
            advertised.1 = i32::from(kafka_addr.port());
        }
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let mut configs = config.kafka_configs();
        // Known once bound (port 0 binds an ephemeral port): how the CLI finds the admin port.
        configs.insert(
            crate::admin_http::ADMIN_ADDRESS_CONFIG.into(),
            crate::admin_http::advertised_admin_address(admin_addr, &advertised.0),
        );
        let broker = Broker::new(
            config.node_id,
            advertised.clone(),
            cluster_id.clone(),
            config.auto_create_topics_enable,
            config.socket_request_max_bytes,
            config.inflight_requests_max,
            configs,
            actors.clone(),
            routes,
            metadata.clone(),
            shutdown_rx,
        );
        let (storage_watchdog, storage) = crate::storage_health::spawn_watchdog(
            store.clone(),
            config.data_dir.clone(),
            actors.node.clone(),
        );
        let broker = broker
            .with_storage_health(storage.clone())
            .with_data_dir(config.data_dir.clone())
            .with_connection_limits(&config);
        let broker = Arc::new(match &cluster {
            Some(c) => broker.with_cluster(c.clone()),
            None => broker,
        });
        let local = format!("{}:{}", kafka_addr.ip(), kafka_addr.port());
        // Clients of this process (the hosted topologies, Connect) reach the node directly.
        let local_link = register_local(
            broker.clone(),
            &[local.clone(), format!("{}:{}", advertised.0, advertised.1)],
        );
        let mut connect_settings =
            ConnectSettings::new(local.clone(), format!("{}:{}", advertised.0, advertised.1));
        // The supervisor reads `connect-configs` through the Kafka listener once it runs.
        connect_settings.config_owner = Some(config.node_id);
        let connect = ConnectHandle::start(connect_settings);
        let topologies = TopologyHost::launch(
            HostSettings {
                node_id: config.node_id,
                catalog: catalog.clone(),
                bootstrap: local.clone(),
                data_dir: config.data_dir.clone(),
                broker_session_timeout: Duration::from_millis(config.broker_session_timeout_ms),
            },
            actors.metadata.clone(),
            metadata,
        );
        let spawn = |name, service| spawn_service(actors.node.clone(), name, service);
        let mut tasks = vec![
            storage_watchdog,
            spawn(
                "memory-trim",
                crate::memory::trim_loop(Duration::from_millis(config.memory_trim_interval_ms))
                    .boxed_local(),
            ),
            spawn(
                "kafka-listener",
                serve_listener(kafka, broker.clone()).boxed_local(),
            ),
            spawn_service(
                actors.node.clone(),
                "admin-http",
                crate::admin_http::serve_admin(
                    admin,
                    broker.clone(),
                    metrics,
                    connect.clone(),
                    AdminTopologies {
                        host: topologies.clone(),
                        catalog,
                    },
                    local.clone(),
                )
                .boxed_local(),
            ),
        ];
        if let (Some(c), Some(peer)) = (&cluster, peer) {
            tasks.push(spawn(
                "peer-listener",
                crate::cluster::serve_peers(peer, c.clone(), broker.clone()).boxed_local(),
            ));
            let (join, services) = c.start_services(broker.clone(), cluster_id.clone(), isr_rx);
            tasks.push(join);
            for (name, service) in services {
                tasks.push(spawn_service(actors.node.clone(), name, service));
            }
        }
        // Connect is the ConnectSupervisor actor; `/supervisors` grafts its own report (its
        // connectors and tasks) under this child.
        actors.node.do_send(ServiceState {
            name: "connect".into(),
            state: ChildState::Running,
            error: None,
        });
        // Likewise the TopologyHost: its hosted applications and their tasks.
        actors.node.do_send(ServiceState {
            name: "topologies".into(),
            state: ChildState::Running,
            error: None,
        });
        tracing::info!(
            "eddy node {} listening: kafka={} (advertised {}:{}) admin=http://{} data={} topics={}",
            config.node_id,
            kafka_addr,
            advertised.0,
            advertised.1,
            admin_addr,
            config.data_dir.display(),
            topics
        );
        Ok(RunningNode {
            kafka_addr,
            admin_addr,
            actors,
            store,
            tasks,
            broker,
            shutdown,
            connect,
            topologies,
            cluster,
            storage,
            _local_link: local_link,
        })
    }

    /// Resolves when the storage watchdog reports a fault (never while storage is healthy).
    pub async fn storage_failed(&self) -> Arc<crate::storage_health::StorageFault> {
        let mut storage = self.storage.clone();
        let fault = match storage.wait_for(Option::is_some).await {
            Ok(fault) => fault.clone(),
            Err(_) => None,
        };
        match fault {
            Some(fault) => fault,
            // The watchdog is gone (aborted at shutdown): nothing more will be reported.
            None => std::future::pending().await,
        }
    }

    /// Shuts the node down in the documented order.
    pub async fn shutdown(self) {
        // Connectors and hosted topologies first: they commit their progress through this
        // node's listener.
        let topologies = self.topologies.send(CloseAll);
        let (_, _) = futures::join!(self.connect.shutdown(), topologies);
        for task in &self.tasks {
            task.abort();
        }
        let _ = self.shutdown.send(true);
        let deadline = std::time::Instant::now() + Duration::from_millis(DRAIN_WAIT_MS);
        while self.broker.open_connections() > 0 && std::time::Instant::now() < deadline {
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        if self.broker.open_connections() > 0 {
            tracing::warn!(
                open = self.broker.open_connections(),
                "connections still open after the drain wait"
            );
        }
        if let Err(err) = self.store.sync() {
            tracing::error!(error = %err, "final sync failed; the last unsynced writes may be lost on power failure");
        }
        if let Some(cluster) = &self.cluster {
            cluster.shutdown().await;
        }
        let _ = self.actors.node.send(Shutdown).await;
        // Give arbiters a moment to finish their current message; fjall closes when the
        // last store handle is dropped, with the System.
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        tracing::info!("node stopped");
    }
}

/// Runs a node that can host the deployed topologies of `catalog` until SIGINT or SIGTERM,
/// then shuts it down cleanly. Blocks the thread.
pub fn run_until_signal(config: NodeConfig, catalog: Catalog) -> Result<(), NodeError> {
    let system = actix_rt::System::new();
    system.block_on(async move {
        // Signals are watched before the node starts: a SIGTERM right after the listeners
        // bind (a supervisor or a test stopping a node it just saw start) is then a clean
        // shutdown, not the default action's kill.
        let signal = listen_for_signals();
        let node = RunningNode::start_with(config, Arc::new(catalog)).await?;
        let fault = tokio::select! {
            _ = signal => None,
            fault = node.storage_failed() => Some(fault),
        };
        let Some(fault) = fault else {
            tracing::info!("signal received, shutting down");
            node.shutdown().await;
            return Ok(());
        };
        exit_after_storage_fault(node, &fault).await;
        Err(NodeError::Storage(eddy_actors::error::ActorError::Storage(
            format!("{}; exited so that the node is restarted", fault.summary()),
        )))
    })
}

/// A node whose storage failed keeps answering for `STORAGE_FAILED_EXIT_DELAY_MS` (so
/// `/health`, `/supervisors` and the metrics say why, and writes fail at once), then shuts
/// down within `STORAGE_FAILED_SHUTDOWN_MS`: a partition arbiter may be stuck inside fjall.
async fn exit_after_storage_fault(node: RunningNode, fault: &crate::storage_health::StorageFault) {
    use crate::storage_health::{STORAGE_FAILED_EXIT_DELAY_MS, STORAGE_FAILED_SHUTDOWN_MS};
    tracing::error!(
        "storage failed ({}); shutting down in {STORAGE_FAILED_EXIT_DELAY_MS} ms and exiting \
         non-zero for a restart",
        fault.summary()
    );
    actix_rt::time::sleep(Duration::from_millis(STORAGE_FAILED_EXIT_DELAY_MS)).await;
    let bound = Duration::from_millis(STORAGE_FAILED_SHUTDOWN_MS);
    if tokio::time::timeout(bound, node.shutdown()).await.is_err() {
        tracing::error!(
            "shutdown did not finish within {STORAGE_FAILED_SHUTDOWN_MS} ms; exiting anyway"
        );
    }
}

/// How long the node may take to shut down after the first SIGINT or SIGTERM before the
/// process exits anyway (a second signal exits at once).
pub const SHUTDOWN_BOUND_MS: u64 = 20_000;
/// Exit status of a shutdown cut short by `SHUTDOWN_BOUND_MS` or a second signal.
const EXIT_SHUTDOWN_FORCED: i32 = 1;

/// Resolves at the first SIGINT or SIGTERM. Signals are received on a thread of their own,
/// not on the arbiter that runs the node, so that a node whose arbiter is busy still hears
/// them; from the first signal on, that thread bounds the shutdown (see `watch_signals`).
/// The thread starts listening at once, when this is called.
fn listen_for_signals() -> impl std::future::Future<Output = ()> {
    let (first, heard) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("eddy-signals".into())
        .spawn(move || watch_signals(first));
    async move {
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "no signal thread; shutdown on a signal is not bounded");
            next_signal().await;
            return;
        }
        // The sender is dropped only if the signal thread could not listen at all.
        if heard.await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The signal thread: tells the node about the first signal, then exits the process if it
/// still runs `SHUTDOWN_BOUND_MS` later or on a second signal. A forced exit loses what a
/// process crash loses: every acknowledged write was already handed to the OS by its fjall
/// commit, so only a power loss before the next fsync could lose it (see the flush
/// settings in docs/runtime-semantics.md).
fn watch_signals(first: tokio::sync::oneshot::Sender<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::warn!(error = %err, "no runtime for the signal thread");
            return;
        }
    };
    runtime.block_on(async move {
        next_signal().await;
        let _ = first.send(());
        let bound = Duration::from_millis(SHUTDOWN_BOUND_MS);
        tokio::select! {
            _ = tokio::time::sleep(bound) => tracing::error!(
                "shutdown did not finish within {SHUTDOWN_BOUND_MS} ms of the signal; exiting without it"
            ),
            _ = next_signal() => tracing::warn!("second signal: exiting without finishing the shutdown"),
        }
        std::process::exit(EXIT_SHUTDOWN_FORCED);
    });
}

async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A node on a thread of its own (for in-process tests and embedded use).
pub struct NodeThread {
    /// Where the Kafka listener is bound.
    pub kafka_addr: SocketAddr,
    /// Where the admin HTTP endpoint is bound.
    pub admin_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NodeThread {
    /// Starts a node on a new thread and waits until it listens.
    pub fn spawn(config: NodeConfig) -> Result<NodeThread, NodeError> {
        Self::spawn_with(config, Catalog::new())
    }

    /// Starts a node that can host the topologies of `catalog` on a new thread and waits
    /// until it listens.
    pub fn spawn_with(config: NodeConfig, catalog: Catalog) -> Result<NodeThread, NodeError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("eddy-node".into())
            .spawn(move || {
                let system = actix_rt::System::new();
                system.block_on(async move {
                    match RunningNode::start_with(config, Arc::new(catalog)).await {
                        Ok(node) => {
                            let _ = ready_tx.send(Ok((node.kafka_addr, node.admin_addr)));
                            let _ = stop_rx.await;
                            node.shutdown().await;
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })
            .map_err(|e| NodeError::Runtime(e.to_string()))?;
        let (kafka_addr, admin_addr) = ready_rx
            .recv()
            .map_err(|_| NodeError::Runtime("node thread ended before it was ready".into()))??;
        Ok(NodeThread {
            kafka_addr,
            admin_addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops the node and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for NodeThread {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
