//! NodeSupervisor: the root of a node's actor tree. It builds the tree (placement, metadata,
//! the partition supervisor on a thread of its own, one arbiter per core for partitions),
//! keeps a supervision record for every direct child and for the services the runtime
//! registers (Kafka listener, admin HTTP), receives escalations from child supervisors, and
//! answers `Report` with the whole tree.
//!
//! It is the top of the tree: nothing restarts it. Its child records for metadata,
//! placement, partitions and groups say Running from start-up; failures below them arrive
//! as escalations and are recorded as the child supervisor's last error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::compaction::RecordCodec;
use crate::compactor::CompactorActor;
use crate::group_supervisor::{GroupSupervisor, ReportGroups, SetGroupParent};
use crate::metadata::{MetadataActor, TopicDefaults};
use crate::partition_supervisor::{
    PartitionSupervisor, PartitionSupervisorConfig, ReportChildren, SetParent,
};
use crate::placement::PlacementActor;
use crate::store::Store;
use crate::supervision::{ChildRecord, ChildState, RestartIntensity, SupervisorReport};
use crate::topic_config::BrokerDefaults;

/// What the tree needs to start.
#[derive(Debug, Clone)]
pub struct TreeConfig {
    /// This node's id.
    pub node_id: i32,
    /// Arbiters (threads) for partition actors; 0 = one per core.
    pub partition_arbiters: usize,
    /// Restart intensity for partition actors.
    pub intensity: RestartIntensity,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: u64,
    /// `log.cleaner.backoff.ms`.
    pub cleaner_backoff_ms: u64,
    /// Defaults for new topics.
    pub topic_defaults: TopicDefaults,
    /// Broker-level topic config defaults.
    pub broker_defaults: BrokerDefaults,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_max_ms: u64,
    /// `max.broker.partitions`: partition replicas one node may host.
    pub broker_partitions_max: usize,
    /// Cluster mode: how metadata changes reach the quorum and ISR changes leave leaders.
    /// None: a single node that owns its metadata.
    pub cluster: Option<ClusterLink>,
}

/// What the actor tree needs from the cluster layer (which lives in the runtime crate).
#[derive(Clone)]
pub struct ClusterLink {
    /// Proposes a metadata command to the quorum (forwarded to its leader if needed).
    pub proposer: crate::cluster::Proposer,
    /// Where partition leaders send ISR changes.
    pub isr_proposals: tokio::sync::mpsc::UnboundedSender<crate::partition::IsrProposal>,
    /// The quorum's applied state (committed group offsets are read from it).
    pub state: tokio::sync::watch::Receiver<Arc<crate::cluster::ClusterState>>,
}

impl std::fmt::Debug for ClusterLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterLink")
    }
}

/// Addresses of the tree's actors.
#[derive(Clone)]
pub struct NodeActors {
    /// The root.
    pub node: Addr<NodeSupervisor>,
    /// Topic metadata.
    pub metadata: Addr<MetadataActor>,
    /// Partition placement.
    pub placement: Addr<PlacementActor>,
    /// Partition actors' supervisor.
    pub partitions: Addr<PartitionSupervisor>,
    /// Group coordinators' supervisor.
    pub groups: Addr<GroupSupervisor>,
}

/// The root supervisor.
pub struct NodeSupervisor {
    node_id: i32,
    started: Instant,
    arbiters: Vec<Arbiter>,
    partitions: Addr<PartitionSupervisor>,
    groups: Addr<GroupSupervisor>,
    children: BTreeMap<String, ChildRecord>,
}

impl NodeSupervisor {
    /// Builds and starts the tree on the current arbiter (partition actors on their own).
    /// `codec` decodes and re-encodes record batches for compaction; without one, compacted
    /// topics are never compacted.
    pub fn start_tree(
        config: TreeConfig,
        store: Store,
        codec: Option<Arc<dyn RecordCodec>>,
    ) -> NodeActors {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let count = if config.partition_arbiters == 0 {
            cores
        } else {
            config.partition_arbiters
        };
        let arbiters: Vec<Arbiter> = (0..count).map(|_| Arbiter::new()).collect();
        let handles = arbiters.iter().map(Arbiter::handle).collect();
        let mut arbiters = arbiters;
        let compactor = codec.map(|codec| {
            // Compaction gets a thread of its own so produce and fetch never wait for it.
            let arbiter = Arbiter::new();
            let store = store.clone();
            let addr = Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
                CompactorActor::new(store, codec)
            });
            arbiters.push(arbiter);
            addr
        });
        let partition_config = PartitionSupervisorConfig {
            store: store.clone(),
            intensity: config.intensity,
            retention_check: Duration::from_millis(config.retention_check_interval_ms.max(1)),
            cleaner_backoff: Duration::from_millis(config.cleaner_backoff_ms.max(1)),
            compactor,
            replica_lag_max: Duration::from_millis(config.replica_lag_max_ms.max(1)),
            isr_proposals: config.cluster.as_ref().map(|c| c.isr_proposals.clone()),
        };
        let partition_supervisor = PartitionSupervisor::new(partition_config, handles);
        let routes = partition_supervisor.routes();
        // The partition supervisor gets a thread of its own: starting or loading thousands
        // of partitions (and publishing the routing table) must not hold up the arbiter
        // that serves client connections.
        let supervisor_arbiter = Arbiter::new();
        let partitions =
            PartitionSupervisor::start_in_arbiter(&supervisor_arbiter.handle(), move |_| {
                partition_supervisor
            });
        arbiters.push(supervisor_arbiter);
        let replicated = config
            .cluster
            .as_ref()
            .map(|c| crate::cluster::ReplicatedOffsets {
                proposer: c.proposer.clone(),
                state: c.state.clone(),
            });
        let groups = GroupSupervisor::new(store.groups().clone(), routes, config.intensity)
            .with_replicated_offsets(replicated)
            .start();
        let members = [config.node_id];
        let placement = Supervisor::start(move |_| PlacementActor::new(&members));
        let metadata = {
            let (store, placement, partitions) =
                (store.clone(), placement.clone(), partitions.clone());
            let (defaults, broker) = (
                config.topic_defaults.clone(),
                config.broker_defaults.clone(),
            );
            let node_id = config.node_id;
            let proposer = config.cluster.as_ref().map(|c| c.proposer.clone());
            let partitions_max = config.broker_partitions_max;
            Supervisor::start(move |_| {
                MetadataActor::new(node_id, store, placement, partitions, defaults, broker)
                    .with_proposer(proposer)
                    .with_broker_partitions_max(partitions_max)
            })
        };
        let mut children = BTreeMap::new();
        for name in ["metadata", "placement", "partitions", "groups", "compactor"] {
            let mut record = ChildRecord::starting(name.to_string());
            record.state = ChildState::Running;
            children.insert(name.to_string(), record);
        }
        let node = NodeSupervisor {
            node_id: config.node_id,
            started: Instant::now(),
            arbiters,
            partitions: partitions.clone(),
            groups: groups.clone(),
            children,
        }
        .start();
        partitions.do_send(SetParent(node.clone()));
        groups.do_send(SetGroupParent(node.clone()));
        NodeActors {
            node,
            metadata,
            placement,
            partitions,
            groups,
        }
    }
}

impl Actor for NodeSupervisor {
    type Context = Context<Self>;

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

/// A child supervisor gave up on one of its children.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Escalate {
    /// Which child supervisor.
    pub from: String,
    /// What failed.
    pub error: String,
}

impl Handler<Escalate> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, msg: Escalate, _ctx: &mut Self::Context) {
        tracing::error!(supervisor = %msg.from, error = %msg.error, "child failed permanently; escalated to the node");
        if let Some(record) = self.children.get_mut(&msg.from) {
            record.last_error = Some(msg.error);
        }
    }
}

/// The runtime reports the state of a service it runs (listener, admin HTTP).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ServiceState {
    /// Service name.
    pub name: String,
    /// New state.
    pub state: ChildState,
    /// Error, if it failed.
    pub error: Option<String>,
}

impl Handler<ServiceState> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ServiceState, _ctx: &mut Self::Context) {
        let record = self
            .children
            .entry(msg.name.clone())
            .or_insert_with(|| ChildRecord::starting(msg.name));
        if msg.state == ChildState::Restarting {
            record.restarts += 1;
        }
        if msg.state == ChildState::Running {
            record.since = Instant::now();
        }
        record.state = msg.state;
        if msg.error.is_some() {
            record.last_error = msg.error;
        }
    }
}

/// The whole supervision tree of this node.
#[derive(Message)]
#[rtype(result = "NodeReport")]
pub struct Report;

/// The tree, as served by `GET /supervisors`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeReport {
    /// This node's id.
    pub node_id: i32,
    /// The root of the tree.
    pub root: SupervisorReport,
}

impl Handler<Report> for NodeSupervisor {
    type Result = ResponseActFuture<Self, NodeReport>;

    fn handle(&mut self, _msg: Report, _ctx: &mut Self::Context) -> Self::Result {
        let partitions = self.partitions.clone();
        let groups = self.groups.clone();
        Box::pin(
            async move {
                let partition_rows = partitions.send(ReportChildren).await.unwrap_or_default();
                let group_rows = groups.send(ReportGroups).await.unwrap_or_default();
                (partition_rows, group_rows)
            }
            .into_actor(self)
            .map(|(partition_rows, group_rows), act, _ctx| {
                let children = act
                    .children
                    .values()
                    .map(|c| {
                        let rows = match c.name.as_str() {
                            "partitions" => partition_rows.clone(),
                            "groups" => group_rows.clone(),
                            _ => Vec::new(),
                        };
                        c.report(0, rows)
                    })
                    .collect();
                let mut root = ChildRecord::starting(format!("node {}", act.node_id));
                root.state = ChildState::Running;
                root.since = act.started;
                NodeReport {
                    node_id: act.node_id,
                    root: root.report(0, children),
                }
            }),
        )
    }
}

/// Stop the tree: the arbiters hosting partition actors end after their current message.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for NodeSupervisor {
    type Result = ();

    fn handle(&mut self, _msg: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
