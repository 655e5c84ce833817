//! The Kafka protocol server: a listener, one connection task per client, and one handler
//! module per API. Handlers decode with the `kafka-protocol` crate, talk to actors by
//! message, and build typed responses; the connection frames and orders them.

mod api_versions;
mod cluster;
mod configs;
mod connection;
mod delete_records;
mod dispatch;
mod fetch;
mod groups;
mod list_offsets;
mod listener;
mod metadata;
mod offsets;
mod produce;
mod producer_id;
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
    metadata: watch::Receiver<Arc<MetadataSnapshot>>,
    shutdown: watch::Receiver<bool>,
    open_connections: Arc<AtomicUsize>,
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
            metadata,
            shutdown,
            open_connections: Arc::new(AtomicUsize::new(0)),
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

    /// Counts a connection in; the guard counts it out when dropped.
    pub(crate) fn connection_guard(&self) -> ConnectionGuard {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(self.open_connections.clone())
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
pub(crate) struct ConnectionGuard(Arc<AtomicUsize>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
