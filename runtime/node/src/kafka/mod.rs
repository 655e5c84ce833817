//! The Kafka protocol server: a listener, one connection task per client, and one handler
//! module per API. Handlers decode with the `kafka-protocol` crate, talk to actors by
//! message, and build typed responses; the connection frames and orders them. Clients in
//! this process reach the same handler without a socket (`local`).

mod api_versions;
mod authorized;
mod cluster;
mod configs;
mod connection;
mod delete_records;
pub mod dispatch;
mod fetch;
mod groups;
mod leader_epochs;
pub mod legacy_records;
mod list_offsets;
mod listener;
mod local;
mod log_dirs;
mod metadata;
mod offsets;
mod produce;
mod producer_id;
mod reassignments;
mod topics;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use eddy_actors::error::{ActorError, ActorResult};
use eddy_actors::metadata::{CreateTopic, MetadataSnapshot};
use eddy_actors::node_supervisor::NodeActors;
use eddy_actors::partition_supervisor::{PartitionHandle, Routes};
use eddy_actors::store::TopicRecord;
use eddy_actors::TopicPartition;
use tokio::sync::watch;

pub use listener::serve_listener;
pub use local::{register_local, LOCAL_CLIENTS_ENV};

/// What every connection needs: node identity, actor addresses, and the latest routing and
/// metadata snapshots.
pub struct Broker {
    /// This node's id.
    pub node_id: i32,
    /// Host and port advertised to clients.
    pub advertised: (String, i32),
    /// The cluster id reported in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `socket.request.max.bytes`.
    pub request_bytes_max: usize,
    /// Requests in flight per connection.
    pub inflight_requests_max: usize,
    /// Static broker settings, reported by DescribeConfigs for the broker resource.
    pub broker_configs: BTreeMap<String, String>,
    /// The actor tree.
    pub actors: NodeActors,
    routes: watch::Receiver<Arc<Routes>>,
    /// The data directory (DescribeLogDirs' one log dir).
    pub data_dir: std::path::PathBuf,
    metadata: watch::Receiver<Arc<MetadataSnapshot>>,
    shutdown: watch::Receiver<bool>,
    open_connections: Arc<AtomicUsize>,
    /// Open client connections per remote address (`max.connections.per.ip`).
    connections_by_ip: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    /// `max.connections` and `max.connections.per.ip`.
    pub connections_max: (usize, usize),
    /// Per-connection and node-wide request limits.
    pub connection_limits: connection::ConnectionLimits,
    /// `fetch.max.bytes`: the most one fetch response carries.
    pub fetch_max_bytes: usize,
    storage: crate::storage_health::StorageState,
    /// Cluster mode: the metadata quorum and peers.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// The ring of the live members that chose group coordinators last, rebuilt only when
    /// the member list changes (not on every FindCoordinator).
    coordinator_ring: std::sync::Mutex<Option<(Vec<i32>, Arc<eddy_actors::placement::Ring>)>>,
}

/// A broker as clients see it in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

impl Broker {
    /// A broker context over the running actor tree.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        node_id: i32,
        advertised: (String, i32),
        cluster_id: String,
        auto_create_topics: bool,
        request_bytes_max: usize,
        inflight_requests_max: usize,
        broker_configs: BTreeMap<String, String>,
        actors: NodeActors,
        routes: watch::Receiver<Arc<Routes>>,
        metadata: watch::Receiver<Arc<MetadataSnapshot>>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Broker {
            node_id,
            advertised,
            cluster_id,
            auto_create_topics,
            request_bytes_max,
            inflight_requests_max,
            broker_configs,
            actors,
            routes,
            data_dir: std::path::PathBuf::new(),
            metadata,
            shutdown,
            open_connections: Arc::new(AtomicUsize::new(0)),
            connections_by_ip: Default::default(),
            connections_max: (usize::MAX, usize::MAX),
            connection_limits: connection::ConnectionLimits::new(
                crate::config::QUEUED_MAX_REQUEST_BYTES_DEFAULT,
                600_000,
                30_000,
                30_000,
            ),
            fetch_max_bytes: crate::config::FETCH_MAX_BYTES_DEFAULT,
            storage: crate::storage_health::always_healthy(),
            cluster: None,
            coordinator_ring: Default::default(),
        }
    }

    /// Follows the storage watchdog: once it reports a fault, partition requests fail at
    /// once (`leader_partition`) and `/health` answers 503.
    pub fn with_storage_health(mut self, storage: crate::storage_health::StorageState) -> Self {
        self.storage = storage;
        self
    }

    /// The data directory, as DescribeLogDirs names it.
    pub fn with_data_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.data_dir = dir;
        self
    }

    /// Every partition replica this node hosts.
    pub fn local_partitions(&self) -> Vec<(TopicPartition, PartitionHandle)> {
        self.routes
            .borrow()
            .iter()
            .map(|(tp, handle)| (tp.clone(), handle.clone()))
            .collect()
    }

    /// The storage fault the watchdog reported, if any (then the node is about to exit).
    pub fn storage_fault(&self) -> Option<Arc<crate::storage_health::StorageFault>> {
        self.storage.borrow().clone()
    }

    /// Cluster mode: metadata, leaders and coordinators come from the quorum.
    pub fn with_cluster(mut self, cluster: Arc<crate::cluster::Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// A node's rack (`broker.rack`), as Metadata and DescribeCluster report it: from the
    /// cluster's metadata, or this node's own setting.
    pub fn rack_of(&self, node_id: i32) -> Option<String> {
        if let Some(cluster) = &self.cluster {
            if let Some(rack) = cluster.state().racks.get(&node_id) {
                return Some(rack.clone());
            }
        }
        (node_id == self.node_id)
            .then(|| self.broker_configs.get("broker.rack").cloned())
            .flatten()
    }

    /// The cluster id (the quorum's in cluster mode).
    pub fn cluster_id(&self) -> String {
        match &self.cluster {
            Some(c) => {
                let id = c.state().cluster_id.clone();
                if id.is_empty() {
                    self.cluster_id.clone()
                } else {
                    id
                }
            }
            None => self.cluster_id.clone(),
        }
    }

    /// The live brokers: every unfenced member, or this node alone.
    pub fn brokers(&self) -> Vec<BrokerAddr> {
        let me = BrokerAddr {
            node_id: self.node_id,
            host: self.advertised.0.clone(),
            port: self.advertised.1,
        };
        let Some(cluster) = &self.cluster else {
            return vec![me];
        };
        let live: Vec<BrokerAddr> = cluster
            .state()
            .members
            .values()
            .filter(|m| !m.fenced)
            .map(|m| BrokerAddr {
                node_id: m.node_id,
                host: m.kafka_host.clone(),
                port: m.kafka_port,
            })
            .collect();
        if live.iter().any(|b| b.node_id == self.node_id) {
            live
        } else {
            // Not registered yet: still answer with a broker clients can reach.
            let mut live = live;
            live.push(me);
            live
        }
    }

    /// The controller id reported to clients: the quorum leader (or this node).
    pub fn controller_id(&self) -> i32 {
        self.cluster
            .as_ref()
            .and_then(|c| c.leader())
            .unwrap_or(self.node_id)
    }

    /// The coordinator of a group: in cluster mode the node the metadata records for it
    /// while that node is live, else [`derived_coordinator`](Self::derived_coordinator).
    pub fn coordinator_of(&self, group_id: &str) -> BrokerAddr {
        if let Some(cluster) = &self.cluster {
            let state = cluster.state();
            if let Some(node) = state.coordinator(group_id) {
                if let Some(b) = self.brokers().into_iter().find(|b| b.node_id == node) {
                    return b;
                }
            }
        }
        self.derived_coordinator(group_id)
    }

    /// Cluster mode: records the group's coordinator in the metadata when it is not (or
    /// the recorded node is no longer live), so that a node joining later does not move
    /// the group. Runs in the background; a lost race only records the same node twice.
    pub fn record_coordinator(&self, group_id: &str, node_id: i32) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        if cluster.state().coordinator(group_id) == Some(node_id) {
            return;
        }
        let propose = cluster.proposer();
        let command = eddy_actors::cluster::Command::SetCoordinator {
            group: group_id.to_string(),
            node_id,
        };
        actix_rt::spawn(async move {
            if let Err(err) = propose(command).await {
                tracing::debug!(error = %err, "the group's coordinator is not recorded yet");
            }
        });
    }

    /// A group's coordinator as the hash ring places it: the first live node on the ring
    /// from hash(group id), so every node gives the same answer for the same membership.
    fn derived_coordinator(&self, group_id: &str) -> BrokerAddr {
        let brokers = self.brokers();
        if brokers.len() <= 1 {
            return brokers.into_iter().next().unwrap_or(BrokerAddr {
                node_id: self.node_id,
                host: self.advertised.0.clone(),
                port: self.advertised.1,
            });
        }
        let ids: Vec<i32> = brokers.iter().map(|b| b.node_id).collect();
        let mut key = [0u8; 16];
        key[..4].copy_from_slice(&crc32c::crc32c(group_id.as_bytes()).to_be_bytes());
        key[4] = b'g';
        let ring = {
            let mut cached = self
                .coordinator_ring
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match cached.as_ref() {
                Some((cached_ids, ring)) if *cached_ids == ids => ring.clone(),
                _ => {
                    let ring = Arc::new(eddy_actors::placement::Ring::new(&ids));
                    *cached = Some((ids, ring.clone()));
                    ring
                }
            }
        };
        let chosen = ring
            .replicas(&key, 0, 1)
            .ok()
            .and_then(|r| r.first().copied())
            .unwrap_or(self.node_id);
        brokers
            .into_iter()
            .find(|b| b.node_id == chosen)
            .unwrap_or(BrokerAddr {
                node_id: self.node_id,
                host: self.advertised.0.clone(),
                port: self.advertised.1,
            })
    }

    /// The local partition actor, or the error a client should get: NOT_LEADER_OR_FOLLOWER
    /// when the partition exists but this node does not lead it, UNKNOWN_TOPIC_OR_PARTITION
    /// when it does not exist, and KAFKA_STORAGE_ERROR at once when the storage has failed
    /// (a partition actor may be stuck inside fjall and leave the client to its timeout).
    pub fn leader_partition(&self, topic: &str, partition: i32) -> ActorResult<PartitionHandle> {
        if let Some(fault) = self.storage_fault() {
            return Err(ActorError::Storage(fault.summary()));
        }
        let exists = self
            .snapshot()
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(partition as usize).map(|p| p.leader))
            .filter(|_| partition >= 0);
        match exists {
            None => Err(ActorError::UnknownPartition {
                topic: topic.to_string(),
                partition,
            }),
            Some(leader) if leader != self.node_id => {
                Err(ActorError::NotLeader(format!("{topic}-{partition}")))
            }
            Some(_) => self
                .partition(topic, partition)
                .ok_or_else(|| ActorError::NotLeader(format!("{topic}-{partition}"))),
        }
    }

    /// Connections still open (shutdown waits for them to drain).
    pub fn open_connections(&self) -> usize {
        self.open_connections.load(Ordering::Relaxed)
    }

    /// A receiver that turns `true` when the node shuts down.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.clone()
    }

    /// The connection limits of the node's config (defaults otherwise).
    pub fn with_connection_limits(mut self, config: &crate::config::NodeConfig) -> Self {
        self.connections_max = (config.max_connections, config.max_connections_per_ip);
        self.connection_limits = connection::ConnectionLimits::new(
            config.queued_max_request_bytes,
            config.connections_max_idle_ms,
            config.request_read_timeout_ms,
            config.response_write_timeout_ms,
        );
        self.fetch_max_bytes = config.fetch_max_bytes;
        self
    }

    /// Counts a connection from `ip` in, unless `max.connections` or
    /// `max.connections.per.ip` is reached (then says which); the guard counts it out when
    /// dropped.
    pub(crate) fn connection_guard(&self, ip: std::net::IpAddr) -> Result<ConnectionGuard, String> {
        let (total_max, per_ip_max) = self.connections_max;
        // The lock covers check and increment so two accepts cannot both take the last
        // place; it is held for a map lookup only.
        let mut by_ip = self
            .connections_by_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let from_ip = by_ip.get(&ip).copied().unwrap_or(0);
        if self.open_connections.load(Ordering::Relaxed) >= total_max {
            return Err(format!("max.connections={total_max} reached"));
        }
        if from_ip >= per_ip_max {
            return Err(format!(
                "max.connections.per.ip={per_ip_max} reached for {ip}"
            ));
        }
        by_ip.insert(ip, from_ip + 1);
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        Ok(ConnectionGuard {
            open: self.open_connections.clone(),
            by_ip: self.connections_by_ip.clone(),
            ip,
        })
    }

    /// The latest metadata snapshot.
    pub fn snapshot(&self) -> Arc<MetadataSnapshot> {
        self.metadata.borrow().clone()
    }

    /// The partition actor hosting `topic`/`partition` on this node, if any.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<PartitionHandle> {
        self.routes
            .borrow()
            .get(&TopicPartition::new(topic, partition))
            .cloned()
    }

    /// The topic, created with the defaults if it is missing and auto-creation is on.
    pub async fn topic_or_create(
        &self,
        name: &str,
        allow_create: bool,
    ) -> ActorResult<TopicRecord> {
        if let Some(topic) = self.snapshot().topics.get(name) {
            return Ok(topic.clone());
        }
        if !(allow_create && self.auto_create_topics) {
            return Err(ActorError::UnknownTopic(name.to_string()));
        }
        let created = self
            .actors
            .metadata
            .send(CreateTopic {
                name: name.to_string(),
                partitions: None,
                replication_factor: None,
                configs: BTreeMap::new(),
                validate_only: false,
                assignment: None,
            })
            .await?;
        match created {
            // Another request created it first: use theirs.
            Err(ActorError::TopicExists(_)) => self
                .snapshot()
                .topics
                .get(name)
                .cloned()
                .ok_or_else(|| ActorError::UnknownTopic(name.to_string())),
            other => other,
        }
    }
}

/// Keeps a connection counted as open while it lives.
pub(crate) struct ConnectionGuard {
    open: Arc<AtomicUsize>,
    by_ip: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        let mut by_ip = self
            .by_ip
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}
