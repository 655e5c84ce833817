//! The cluster as `GET /cluster` and `eddy cluster status` show it: members, the quorum,
//! per-node leader and replica counts, and every partition's replicas, leader and ISR.
//! A single node reports itself as a one-member cluster.

use serde::{Deserialize, Serialize};

use crate::kafka::Broker;

/// One member.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemberStatus {
    /// Node id.
    pub node_id: i32,
    /// Advertised Kafka `host:port`.
    pub kafka: String,
    /// Peer address (empty on a single node).
    pub peer: String,
    /// Fenced (silent past the session timeout).
    pub fenced: bool,
    /// Votes in the metadata quorum.
    pub voter: bool,
    /// Leaving for good (its replicas are moving away).
    #[serde(default)]
    pub decommissioning: bool,
    /// Partitions it leads.
    pub leaders: usize,
    /// Replicas it hosts.
    pub replicas: usize,
}

/// One partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PartitionStatus {
    /// Partition index.
    pub partition: i32,
    /// Leader node (-1: offline).
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// Replica nodes, in placement order.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Where a reassignment in flight takes it (AlterPartitionReassignments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassigning_to: Option<Vec<i32>>,
}

/// One topic.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicStatus {
    /// Name.
    pub name: String,
    /// Topic id (hex).
    pub id: String,
    /// What decides its replicas: `ring` (the hash ring), `pinned` (a manual assignment
    /// or a reassignment), `follows TOPIC` (co-placed by a deployed topology), or
    /// `single node`.
    #[serde(default)]
    pub placement: String,
    /// Partitions.
    pub partitions: Vec<PartitionStatus>,
}

/// The whole view.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClusterStatus {
    /// Cluster id.
    pub cluster_id: String,
    /// The node that answered.
    pub node_id: i32,
    /// The metadata quorum's leader (the controller), if known.
    pub controller: Option<i32>,
    /// Quorum voters.
    pub voters: Vec<i32>,
    /// Members.
    pub members: Vec<MemberStatus>,
    /// Topics.
    pub topics: Vec<TopicStatus>,
}

fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The status as this node sees it.
pub fn status(broker: &Broker) -> ClusterStatus {
    let snapshot = broker.snapshot();
    let state = broker.cluster.as_ref().map(|c| c.state());
    let anchors = state
        .as_deref()
        .map(eddy_actors::cluster::colocation::anchors)
        .unwrap_or_default();
    let placement = |name: &str| match &state {
        None => "single node".to_string(),
        Some(_) if anchors.contains_key(name) => format!("follows {}", anchors[name]),
        Some(s) if s.pinned.contains(name) => "pinned".to_string(),
        Some(_) => "ring".to_string(),
    };
    let reassigning_to = |topic: &str, partition: i32| {
        let r = state.as_ref()?.reassignments.get(topic)?.get(&partition)?;
        Some(r.target.clone())
    };
    let topics: Vec<TopicStatus> = snapshot
        .topics
        .values()
        .map(|t| TopicStatus {
            name: t.name.clone(),
            id: hex(&t.id),
            placement: placement(&t.name),
            partitions: t
                .partitions
                .iter()
                .map(|p| PartitionStatus {
                    partition: p.index,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    reassigning_to: reassigning_to(&t.name, p.index),
                })
                .collect(),
        })
        .collect();
    let count = |node: i32| {
        let mut leaders = 0;
        let mut replicas = 0;
        for t in &topics {
            for p in &t.partitions {
                leaders += usize::from(p.leader == node);
                replicas += usize::from(p.replicas.contains(&node));
            }
        }
        (leaders, replicas)
    };
    let (members, voters, controller) = match &broker.cluster {
        Some(cluster) => {
            let (voters, _) = cluster.voters_and_learners();
            let members = cluster
                .state()
                .members
                .values()
                .map(|m| {
                    let (leaders, replicas) = count(m.node_id);
                    MemberStatus {
                        node_id: m.node_id,
                        kafka: format!("{}:{}", m.kafka_host, m.kafka_port),
                        peer: m.peer_addr.clone(),
                        fenced: m.fenced,
                        voter: voters.contains(&m.node_id),
                        decommissioning: m.decommissioning,
                        leaders,
                        replicas,
                    }
                })
                .collect();
            (members, voters, cluster.leader())
        }
        None => {
            let (leaders, replicas) = count(broker.node_id);
            let me = MemberStatus {
                node_id: broker.node_id,
                kafka: format!("{}:{}", broker.advertised.0, broker.advertised.1),
                peer: String::new(),
                fenced: false,
                voter: true,
                decommissioning: false,
                leaders,
                replicas,
            };
            (vec![me], vec![broker.node_id], Some(broker.node_id))
        }
    };
    ClusterStatus {
        cluster_id: broker.cluster_id(),
        node_id: broker.node_id,
        controller,
        voters,
        members,
        topics,
    }
}

/// What `GET /cluster/moves` answers: the replica moves pending or in flight.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MovesStatus {
    /// Replicas in the cluster.
    pub replicas_total: usize,
    /// Replicas that move (one per replica added).
    pub replicas_moving: usize,
    /// The moves.
    pub moves: Vec<eddy_actors::cluster::rebalance::Move>,
}

/// The moves as this node sees them (empty on a single node).
pub fn moves(broker: &Broker) -> MovesStatus {
    let replicas_total = broker
        .snapshot()
        .topics
        .values()
        .flat_map(|t| &t.partitions)
        .map(|p| p.replicas.len())
        .sum();
    let moves = match &broker.cluster {
        Some(c) => eddy_actors::cluster::rebalance::planned_moves(&c.state()),
        None => Vec::new(),
    };
    let replicas_moving = moves
        .iter()
        .map(|m| m.to.iter().filter(|r| !m.from.contains(r)).count())
        .sum();
    MovesStatus {
        replicas_total,
        replicas_moving,
        moves,
    }
}
