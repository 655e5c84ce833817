//! The cluster's replicated metadata as plain data, and the commands that change it.
//! `ClusterState::apply` is the Raft state machine's transition function: pure and
//! deterministic, so every node that applies the same log holds the same state. Decisions
//! that depend on time or hashing (who is silent, where replicas go) are taken before a
//! command is proposed and recorded in it; `apply` only checks and records.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::deployments::{decide_deploy, DeployDecision};
use crate::store::{CommittedOffset, DeploymentRecord, PartitionRecord, TopicRecord};

/// One registered node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Node id.
    pub node_id: i32,
    /// Advertised Kafka listener host.
    pub kafka_host: String,
    /// Advertised Kafka listener port.
    pub kafka_port: i32,
    /// Peer listener address (node-to-node frames).
    pub peer_addr: String,
    /// Fenced: silent past the session timeout; leads nothing and is in no ISR.
    pub fenced: bool,
    /// Leaving for good: its replicas move to the other nodes, then it is removed.
    pub decommissioning: bool,
}

/// The replicated metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// The cluster id, set once by the node that bootstrapped the cluster.
    pub cluster_id: String,
    /// Registered nodes by id.
    pub members: BTreeMap<i32, Member>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicRecord>,
    /// Next partition log uid (cluster-wide, never reused).
    pub next_uid: u64,
    /// Next producer id (InitProducerId).
    pub next_producer_id: i64,
    /// Consumer groups' committed offsets, by group, then (topic, partition): replicated so
    /// that a group's next coordinator resumes from them.
    pub group_offsets: BTreeMap<String, BTreeMap<(String, i32), CommittedOffset>>,
    // The fields below came after the first release: they stay at the end, where postcard
    // lets `raft.rs` tell an older state (which ends before them) apart and convert it.
    /// Topologies deployed to the cluster, by application id.
    pub deployments: BTreeMap<String, DeploymentRecord>,
    /// Per node id, the topology names its binary can run (reported at start).
    pub catalogs: BTreeMap<i32, Vec<String>>,
    /// Each consumer group's coordinator, recorded the first time a client looks it up
    /// (from the ring over the live nodes), so a node joining does not move the group —
    /// whose membership only its coordinator holds, in memory. Looked up afresh while the
    /// recorded node is fenced, decommissioning or gone.
    pub coordinators: BTreeMap<String, i32>,
    /// Topics created with a manual replica assignment (Kafka's `--replica-assignment`):
    /// the controller leaves their replicas where they were put, unless a node holding one
    /// is being decommissioned.
    pub pinned: BTreeSet<String>,
    /// Per deployed application, its co-partition groups (`Command::Colocate`): topics
    /// whose partition *i* must sit on one replica set, the group's anchor first. The
    /// controller moves the others onto their anchor's replicas ([`super::colocation`]).
    pub colocations: BTreeMap<String, Vec<Vec<String>>>,
    /// Reassignments in flight (Kafka's AlterPartitionReassignments), by topic and
    /// partition: the controller moves the partition onto `target` with the usual safe
    /// steps, then the record goes and the topic stays pinned where it was put.
    pub reassignments: BTreeMap<String, BTreeMap<i32, Reassignment>>,
    /// Each node's rack (Kafka's `broker.rack`), for nodes that name one: placement puts a
    /// partition's replicas on distinct racks whenever there are enough.
    pub racks: BTreeMap<i32, String>,
}

/// One partition's reassignment in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reassignment {
    /// The replicas wanted, preferred leader first.
    pub target: Vec<i32>,
    /// The replicas before it began (where a cancellation goes back to).
    pub original: Vec<i32>,
}

/// A change of the metadata, proposed to the Raft leader and applied by every node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Name the cluster (only the first one counts).
    SetClusterId(String),
    /// Add a node, or update its addresses and unfence it.
    Register(Member),
    /// A node went silent: fence it, move its leaderships to other ISR members.
    Fence {
        /// The silent node.
        node_id: i32,
    },
    /// A fenced node heartbeats again.
    Unfence {
        /// The returning node.
        node_id: i32,
    },
    /// Create a topic (placement already in the record; uids are assigned on apply).
    CreateTopic(TopicRecord),
    /// Delete a topic.
    DeleteTopic {
        /// Topic name.
        name: String,
    },
    /// Append placed partitions to a topic (uids are assigned on apply).
    AddPartitions {
        /// Topic name.
        name: String,
        /// The new partitions.
        partitions: Vec<PartitionRecord>,
    },
    /// Replace a topic's config overrides.
    SetConfig {
        /// Topic name.
        name: String,
        /// The new overrides, whole.
        overrides: BTreeMap<String, String>,
    },
    /// The leader of a partition changes its ISR. Refused unless `leader_epoch` is current.
    AlterIsr {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The proposer's leader epoch.
        leader_epoch: i32,
        /// The proposing leader.
        leader: i32,
        /// The new ISR (must contain the leader).
        isr: Vec<i32>,
    },
    /// Hand out one producer id.
    AllocateProducerId,
    /// Start moving a partition: add replicas (they join the ISR once caught up).
    AddReplicas {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// Nodes to add.
        add: Vec<i32>,
    },
    /// Finish moving a partition: keep only `replicas`, all of which must be in sync; a
    /// leader that is not among them hands over to the first in-sync one (new epoch).
    CompleteMove {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The final replicas, preferred leader first.
        replicas: Vec<i32>,
    },
    /// Move leadership back to the preferred (first) replica, if it is in sync.
    ElectPreferred {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
    },
    /// A node leaves for good: its replicas move away, then it is removed.
    Decommission {
        /// The node.
        node_id: i32,
    },
    /// Remove a decommissioned node that holds no replica.
    RemoveMember {
        /// The node.
        node_id: i32,
    },
    /// A group's coordinator commits offsets.
    CommitOffsets {
        /// Group id.
        group: String,
        /// (topic, partition, offset).
        offsets: Vec<(String, i32, CommittedOffset)>,
    },
    /// A group's offsets are deleted (some partitions, or all with `None`).
    DeleteOffsets {
        /// Group id.
        group: String,
        /// The partitions; `None` = the whole group.
        partitions: Option<Vec<(String, i32)>>,
    },
    // New variants go at the end: postcard encodes the variant index, and the Raft log of
    // an earlier version must still decode.
    /// Deploy a topology: recorded unless its application id is taken (the same topology
    /// and configs again is a no-op that keeps the first record).
    Deploy(DeploymentRecord),
    /// Remove a deployment.
    Undeploy {
        /// Its application id.
        application_id: String,
    },
    /// A node reports the topology names its binary can run (replacing its previous list).
    SetCatalog {
        /// The node; must be a member.
        node_id: i32,
        /// The catalog's topology names.
        names: Vec<String>,
    },
    /// Record `node_id` as the coordinator of `group` (a live member).
    SetCoordinator {
        /// Group id.
        group: String,
        /// The coordinating node.
        node_id: i32,
    },
    /// Create a topic whose replicas were chosen by the client (a manual replica
    /// assignment): as `CreateTopic`, and pinned where it was put.
    CreateTopicPinned(TopicRecord),
    /// Record a deployed application's co-partition groups (each list's first topic is
    /// the anchor the others follow), replacing its previous ones. Refused unless the
    /// application is deployed; undeploying removes them.
    Colocate {
        /// The deployment's application id.
        application_id: String,
        /// Its co-partition groups.
        groups: Vec<Vec<String>>,
    },
    /// Reassign a partition to `target` (distinct members; its first replica the preferred
    /// leader), or cancel its reassignment in flight (`None`: back to the replicas it had).
    Reassign {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The replicas wanted, or `None` to cancel.
        target: Option<Vec<i32>>,
    },
    /// A node reports its rack (`None`: it names none), replacing what it said before.
    SetRack {
        /// The node; must be a member.
        node_id: i32,
        /// Its rack.
        rack: Option<String>,
    },
}

/// What applying a command answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Applied.
    Done,
    /// The topic as stored.
    Topic(TopicRecord),
    /// A producer id.
    ProducerId(i64),
    /// Refused; the state is unchanged.
    Refused(Refusal),
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The topic already exists.
    TopicExists(String),
    /// No such topic.
    UnknownTopic(String),
    /// No such partition.
    UnknownPartition(String, i32),
    /// The AlterIsr came from a stale leader.
    StaleLeaderEpoch,
    /// Invalid request, with the reason.
    Invalid(String),
    /// No such member.
    UnknownMember(i32),
    /// The move cannot finish yet (a new replica is not in sync).
    NotInSync,
    /// The application id is deployed with another topology or configs; the whole
    /// explanation, as `ActorError::DeploymentExists` carries it.
    DeploymentExists(String),
    /// No deployment has this application id.
    UnknownDeployment(String),
    /// Some nodes cannot run the deployment's topology (the reason names them).
    DeploymentUnrunnable(String),
    /// A reassignment's replicas are not a valid set (the reason says why).
    InvalidAssignment(String),
    /// A cancellation of a partition that has no reassignment in flight.
    NoReassignment(String, i32),
}

/// A new partition starts with its live replicas in sync, led by the first of them (a
/// replica on a fenced node joins the ISR once it returns and catches up).
fn start_in_sync(p: &mut PartitionRecord, fenced: &[i32]) {
    p.isr = p
        .replicas
        .iter()
        .copied()
        .filter(|r| !fenced.contains(r))
        .collect();
    if p.isr.is_empty() {
        p.isr = p.replicas.clone();
    }
    if !p.isr.contains(&p.leader) {
        p.leader = p.isr.first().copied().unwrap_or(-1);
    }
}

impl ClusterState {
    /// Applies one command. Deterministic: the same state and command give the same result.
    pub fn apply(&mut self, cmd: Command) -> Outcome {
        match cmd {
            Command::SetClusterId(id) => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = id;
                }
                Outcome::Done
            }
            Command::Register(member) => {
                let id = member.node_id;
                let decommissioning = self.members.get(&id).is_some_and(|m| m.decommissioning);
                self.members.insert(
                    id,
                    Member {
                        fenced: false,
                        decommissioning,
                        ..member
                    },
                );
                self.unfence(id);
                Outcome::Done
            }
            Command::Fence { node_id } => {
                if let Some(m) = self.members.get_mut(&node_id) {
                    m.fenced = true;
                }
                self.fence(node_id);
                Outcome::Done
            }
            Command::Unfence { node_id } => {
                if let Some(m) = self.members.get_mut(&node_id) {
                    m.fenced = false;
                }
                self.unfence(node_id);
                Outcome::Done
            }
            Command::Reassign {
                topic,
                partition,
                target,
            } => self.reassign(topic, partition, target),
            Command::SetRack { node_id, rack } => {
                if !self.members.contains_key(&node_id) {
                    return Outcome::Refused(Refusal::UnknownMember(node_id));
                }
                match rack {
                    Some(rack) => self.racks.insert(node_id, rack),
                    None => self.racks.remove(&node_id),
                };
                Outcome::Done
            }
            Command::Colocate {
                application_id,
                groups,
            } => {
                if !self.deployments.contains_key(&application_id) {
                    return Outcome::Refused(Refusal::UnknownDeployment(application_id));
                }
                self.colocations.insert(application_id, groups);
                Outcome::Done
            }
            Command::CreateTopicPinned(topic) => {
                let name = topic.name.clone();
                let outcome = self.apply(Command::CreateTopic(topic));
                if matches!(outcome, Outcome::Topic(_)) {
                    self.pinned.insert(name);
                }
                outcome
            }
            Command::CreateTopic(mut topic) => {
                if self.topics.contains_key(&topic.name) {
                    return Outcome::Refused(Refusal::TopicExists(topic.name));
                }
                let fenced = self.fenced_nodes();
                for p in &mut topic.partitions {
                    p.uid = self.take_uid();
                    start_in_sync(p, &fenced);
                }
                self.topics.insert(topic.name.clone(), topic.clone());
                Outcome::Topic(topic)
            }
            Command::DeleteTopic { name } => match self.topics.remove(&name) {
                Some(topic) => {
                    self.pinned.remove(&name);
                    self.reassignments.remove(&name);
                    // Committed offsets go with the topic, as in Kafka.
                    for stored in self.group_offsets.values_mut() {
                        stored.retain(|(t, _), _| *t != name);
                    }
                    self.group_offsets.retain(|_, stored| !stored.is_empty());
                    Outcome::Topic(topic)
                }
                None => Outcome::Refused(Refusal::UnknownTopic(name)),
            },
            Command::AddPartitions { name, partitions } => {
                let fenced = self.fenced_nodes();
                let mut uids = Vec::with_capacity(partitions.len());
                for _ in &partitions {
                    uids.push(self.take_uid());
                }
                let Some(topic) = self.topics.get_mut(&name) else {
                    return Outcome::Refused(Refusal::UnknownTopic(name));
                };
                let first = topic.partitions.len() as i32;
                if partitions.first().map(|p| p.index) != Some(first) {
                    return Outcome::Refused(Refusal::Invalid(format!(
                        "new partitions of '{name}' must start at index {first}"
                    )));
                }
                for (mut p, uid) in partitions.into_iter().zip(uids) {
                    p.uid = uid;
                    start_in_sync(&mut p, &fenced);
                    topic.partitions.push(p);
                }
                Outcome::Topic(topic.clone())
            }
            Command::SetConfig { name, overrides } => match self.topics.get_mut(&name) {
                Some(topic) => {
                    topic.config.overrides = overrides;
                    Outcome::Topic(topic.clone())
                }
                None => Outcome::Refused(Refusal::UnknownTopic(name)),
            },
            Command::AlterIsr {
                topic,
                partition,
                leader_epoch,
                leader,
                isr,
            } => {
                let fenced: Vec<i32> = self.fenced_nodes();
                let Some(p) = self
                    .topics
                    .get_mut(&topic)
                    .and_then(|t| t.partitions.get_mut(partition as usize))
                else {
                    return Outcome::Refused(Refusal::UnknownPartition(topic, partition));
                };
                if p.leader != leader || p.leader_epoch != leader_epoch {
                    return Outcome::Refused(Refusal::StaleLeaderEpoch);
                }
                if !isr.contains(&leader) || isr.iter().any(|r| !p.replicas.contains(r)) {
                    return Outcome::Refused(Refusal::Invalid(
                        "the ISR must hold the leader and only replicas".into(),
                    ));
                }
                // A fenced node never joins an ISR.
                p.isr = isr.into_iter().filter(|r| !fenced.contains(r)).collect();
                Outcome::Done
            }
            Command::AllocateProducerId => {
                let id = self.next_producer_id;
                self.next_producer_id += 1;
                Outcome::ProducerId(id)
            }
            Command::AddReplicas {
                topic,
                partition,
                add,
            } => match self.partition_mut(&topic, partition) {
                Some(p) => {
                    for r in add {
                        if !p.replicas.contains(&r) {
                            p.replicas.push(r);
                        }
                    }
                    Outcome::Done
                }
                None => Outcome::Refused(Refusal::UnknownPartition(topic, partition)),
            },
            Command::CompleteMove {
                topic,
                partition,
                replicas,
            } => {
                let fenced = self.fenced_nodes();
                let Some(p) = self.partition_mut(&topic, partition) else {
                    return Outcome::Refused(Refusal::UnknownPartition(topic, partition));
                };
                if replicas.is_empty() || replicas.iter().any(|r| !p.isr.contains(r)) {
                    return Outcome::Refused(Refusal::NotInSync);
                }
                if !replicas.contains(&p.leader) {
                    let Some(next) = replicas.iter().find(|r| !fenced.contains(r)) else {
                        return Outcome::Refused(Refusal::NotInSync);
                    };
                    p.leader = *next;
                    p.leader_epoch += 1;
                }
                p.isr.retain(|r| replicas.contains(r));
                p.replicas = replicas;
                self.finish_reassignment(&topic, partition);
                Outcome::Done
            }
            Command::ElectPreferred { topic, partition } => {
                let fenced = self.fenced_nodes();
                let Some(p) = self.partition_mut(&topic, partition) else {
                    return Outcome::Refused(Refusal::UnknownPartition(topic, partition));
                };
                let Some(&preferred) = p.replicas.first() else {
                    return Outcome::Refused(Refusal::Invalid("no replicas".into()));
                };
                if p.leader != preferred
                    && p.isr.contains(&preferred)
                    && !fenced.contains(&preferred)
                {
                    p.leader = preferred;
                    p.leader_epoch += 1;
                }
                Outcome::Done
            }
            Command::Decommission { node_id } => match self.members.get_mut(&node_id) {
                Some(m) => {
                    m.decommissioning = true;
                    Outcome::Done
                }
                None => Outcome::Refused(Refusal::UnknownMember(node_id)),
            },
            Command::CommitOffsets { group, offsets } => {
                let stored = self.group_offsets.entry(group).or_default();
                for (topic, partition, offset) in offsets {
                    stored.insert((topic, partition), offset);
                }
                Outcome::Done
            }
            Command::DeleteOffsets { group, partitions } => {
                match partitions {
                    None => {
                        self.group_offsets.remove(&group);
                    }
                    Some(partitions) => {
                        if let Some(stored) = self.group_offsets.get_mut(&group) {
                            for key in &partitions {
                                stored.remove(key);
                            }
                            if stored.is_empty() {
                                self.group_offsets.remove(&group);
                            }
                        }
                    }
                }
                Outcome::Done
            }
            Command::RemoveMember { node_id } => {
                let holds = self
                    .topics
                    .values()
                    .flat_map(|t| &t.partitions)
                    .any(|p| p.replicas.contains(&node_id));
                if holds {
                    return Outcome::Refused(Refusal::Invalid(format!(
                        "node {node_id} still holds replicas"
                    )));
                }
                match self.members.remove(&node_id) {
                    Some(_) => {
                        self.catalogs.remove(&node_id);
                        self.racks.remove(&node_id);
                        self.coordinators.retain(|_, n| *n != node_id);
                        Outcome::Done
                    }
                    None => Outcome::Refused(Refusal::UnknownMember(node_id)),
                }
            }
            Command::Deploy(deployment) => {
                let existing = self.deployments.get(&deployment.application_id);
                match decide_deploy(existing, &deployment, &self.catalogs) {
                    DeployDecision::Record => {
                        self.deployments
                            .insert(deployment.application_id.clone(), deployment);
                        Outcome::Done
                    }
                    DeployDecision::AlreadyDeployed => Outcome::Done,
                    DeployDecision::Conflict(why) => {
                        Outcome::Refused(Refusal::DeploymentExists(why))
                    }
                    DeployDecision::Unrunnable(why) => {
                        Outcome::Refused(Refusal::DeploymentUnrunnable(why))
                    }
                }
            }
            Command::Undeploy { application_id } => {
                match self.deployments.remove(&application_id) {
                    Some(_) => {
                        self.colocations.remove(&application_id);
                        Outcome::Done
                    }
                    None => Outcome::Refused(Refusal::UnknownDeployment(application_id)),
                }
            }
            Command::SetCoordinator { group, node_id } => {
                let live = self
                    .members
                    .get(&node_id)
                    .is_some_and(|m| !m.fenced && !m.decommissioning);
                if !live {
                    return Outcome::Refused(Refusal::UnknownMember(node_id));
                }
                self.coordinators.insert(group, node_id);
                Outcome::Done
            }
            Command::SetCatalog { node_id, names } => {
                if !self.members.contains_key(&node_id) {
                    return Outcome::Refused(Refusal::UnknownMember(node_id));
                }
                self.catalogs.insert(node_id, names);
                Outcome::Done
            }
        }
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionRecord> {
        self.topics
            .get_mut(topic)
            .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
    }

    /// Members that hold replicas going forward: registered and not decommissioning
    /// (fenced ones included: a node that is down for a while keeps its replicas).
    pub fn placement_nodes(&self) -> Vec<i32> {
        self.members
            .values()
            .filter(|m| !m.decommissioning)
            .map(|m| m.node_id)
            .collect()
    }

    fn take_uid(&mut self) -> u64 {
        // Uid 0 is never handed out, so a zero in a record means "not yet assigned".
        self.next_uid = self.next_uid.max(1);
        let uid = self.next_uid;
        self.next_uid += 1;
        uid
    }

    /// Ids of the fenced members.
    pub(crate) fn fenced_nodes(&self) -> Vec<i32> {
        self.members
            .values()
            .filter(|m| m.fenced)
            .map(|m| m.node_id)
            .collect()
    }

    /// The recorded coordinator of `group`, while it is a live member (not fenced, not
    /// decommissioning).
    pub fn coordinator(&self, group: &str) -> Option<i32> {
        let node = *self.coordinators.get(group)?;
        self.members
            .get(&node)
            .filter(|m| !m.fenced && !m.decommissioning)
            .map(|_| node)
    }

    /// Ids of the members that are not fenced, in order.
    pub fn live_nodes(&self) -> Vec<i32> {
        self.members
            .values()
            .filter(|m| !m.fenced)
            .map(|m| m.node_id)
            .collect()
    }

    /// A fenced node leaves every ISR; partitions it led get the first other live ISR
    /// member as leader (with a new epoch), or no leader when none is left (the ISR then
    /// keeps the fenced node, so it can lead again when it returns: no unclean election).
    fn fence(&mut self, node: i32) {
        let fenced = self.fenced_nodes();
        for topic in self.topics.values_mut() {
            for p in &mut topic.partitions {
                if !p.isr.contains(&node) && p.leader != node {
                    continue;
                }
                let others: Vec<i32> = p
                    .isr
                    .iter()
                    .copied()
                    .filter(|r| *r != node && !fenced.contains(r))
                    .collect();
                if others.is_empty() {
                    // The last ISR member: it keeps its place; the partition goes offline.
                    if p.leader == node {
                        p.leader = -1;
                        p.leader_epoch += 1;
                    }
                    continue;
                }
                p.isr.retain(|r| *r != node);
                if p.leader == node || p.leader == -1 {
                    p.leader = others[0];
                    p.leader_epoch += 1;
                }
            }
        }
    }

    /// A returning node leads the offline partitions whose ISR it is in.
    fn unfence(&mut self, node: i32) {
        for topic in self.topics.values_mut() {
            for p in &mut topic.partitions {
                if p.leader == -1 && p.isr.contains(&node) {
                    p.leader = node;
                    p.isr = vec![node];
                    p.leader_epoch += 1;
                }
            }
        }
    }
}

impl ClusterState {
    /// Records (or cancels) a reassignment; see [`Command::Reassign`].
    fn reassign(&mut self, topic: String, partition: i32, target: Option<Vec<i32>>) -> Outcome {
        let Some(current) = self
            .topics
            .get(&topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
            .map(|p| p.replicas.clone())
        else {
            return Outcome::Refused(Refusal::UnknownPartition(topic, partition));
        };
        let in_flight = self
            .reassignments
            .get(&topic)
            .and_then(|by| by.get(&partition))
            .cloned();
        let target = match target {
            Some(target) => {
                if let Err(why) = self.check_target(&target) {
                    return Outcome::Refused(Refusal::InvalidAssignment(why));
                }
                target
            }
            None => match &in_flight {
                Some(r) => r.original.clone(),
                None => return Outcome::Refused(Refusal::NoReassignment(topic, partition)),
            },
        };
        let original = in_flight.map_or(current, |r| r.original);
        self.reassignments
            .entry(topic.clone())
            .or_default()
            .insert(partition, Reassignment { target, original });
        self.finish_reassignment(&topic, partition);
        Outcome::Done
    }

    /// A reassignment's replicas: some, distinct, each a registered node not leaving.
    fn check_target(&self, target: &[i32]) -> Result<(), String> {
        if target.is_empty() {
            return Err("a partition needs at least one replica".into());
        }
        let distinct: BTreeSet<i32> = target.iter().copied().collect();
        if distinct.len() != target.len() {
            return Err(format!("replicas {target:?} name a node twice"));
        }
        for node in target {
            match self.members.get(node) {
                None => return Err(format!("node {node} is not a member of the cluster")),
                Some(m) if m.decommissioning => {
                    return Err(format!("node {node} is being decommissioned"))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Ends a partition's reassignment once its replicas are the target, in order (or the
    /// target is where it already was): the record goes and the topic stays pinned there,
    /// as Kafka keeps a reassigned partition where it was put.
    fn finish_reassignment(&mut self, topic: &str, partition: i32) {
        let replicas = self
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
            .map(|p| p.replicas.clone());
        let Some(by) = self.reassignments.get_mut(topic) else {
            return;
        };
        if by.get(&partition).map(|r| &r.target) == replicas.as_ref() {
            by.remove(&partition);
            if by.is_empty() {
                self.reassignments.remove(topic);
            }
            self.pinned.insert(topic.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_config::TopicConfig;

    fn member(id: i32) -> Member {
        Member {
            node_id: id,
            kafka_host: "127.0.0.1".into(),
            kafka_port: 9000 + id,
            peer_addr: format!("127.0.0.1:{}", 9500 + id),
            fenced: false,
            decommissioning: false,
        }
    }

    fn topic(name: &str, placements: &[&[i32]]) -> TopicRecord {
        TopicRecord {
            name: name.into(),
            id: [1; 16],
            partitions: placements
                .iter()
                .enumerate()
                .map(|(i, r)| PartitionRecord {
                    index: i as i32,
                    uid: 0,
                    replicas: r.to_vec(),
                    leader: r[0],
                    leader_epoch: 0,
                    isr: r.to_vec(),
                })
                .collect(),
            replication_factor: placements[0].len() as i16,
            config: TopicConfig::default(),
        }
    }

    fn three_nodes() -> ClusterState {
        let mut s = ClusterState::default();
        for id in 1..=3 {
            assert_eq!(s.apply(Command::Register(member(id))), Outcome::Done);
        }
        s
    }

    #[test]
    fn create_assigns_unique_uids_and_refuses_duplicates() {
        let mut s = three_nodes();
        let Outcome::Topic(t) = s.apply(Command::CreateTopic(topic("a", &[&[1, 2], &[2, 3]])))
        else {
            panic!("not created")
        };
        assert_eq!(t.partitions[0].uid, 1);
        assert_eq!(t.partitions[1].uid, 2);
        assert_eq!(
            s.apply(Command::CreateTopic(topic("a", &[&[1]]))),
            Outcome::Refused(Refusal::TopicExists("a".into()))
        );
        let Outcome::Topic(b) = s.apply(Command::CreateTopic(topic("b", &[&[3]]))) else {
            panic!("not created")
        };
        assert_eq!(b.partitions[0].uid, 3);
    }

    #[test]
    fn fencing_moves_leadership_within_the_isr_and_bumps_the_epoch() {
        let mut s = three_nodes();
        s.apply(Command::CreateTopic(topic("t", &[&[1, 2, 3], &[2, 3, 1]])));
        s.apply(Command::Fence { node_id: 1 });
        let p0 = &s.topics["t"].partitions[0];
        assert_eq!((p0.leader, p0.leader_epoch), (2, 1));
        assert_eq!(p0.isr, vec![2, 3]);
        let p1 = &s.topics["t"].partitions[1];
        assert_eq!(
            (p1.leader, p1.leader_epoch),
            (2, 0),
            "a follower's fence keeps the epoch"
        );
        assert_eq!(p1.isr, vec![2, 3]);
        assert!(s.members[&1].fenced);
        assert_eq!(s.live_nodes(), vec![2, 3]);
    }

    #[test]
    fn the_last_isr_member_keeps_the_partition_until_it_returns() {
        let mut s = three_nodes();
        s.apply(Command::CreateTopic(topic("t", &[&[1, 2]])));
        s.apply(Command::Fence { node_id: 2 });
        assert_eq!(s.topics["t"].partitions[0].isr, vec![1]);
        s.apply(Command::Fence { node_id: 1 });
        let p = &s.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (-1, 1));
        assert_eq!(p.isr, vec![1], "no unclean election: node 2 is not in sync");
        // Node 2 coming back does not lead: it may miss acknowledged records.
        s.apply(Command::Unfence { node_id: 2 });
        assert_eq!(s.topics["t"].partitions[0].leader, -1);
        s.apply(Command::Unfence { node_id: 1 });
        let p = &s.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (1, 2));
    }

    #[test]
    fn alter_isr_is_fenced_by_leader_epoch() {
        let mut s = three_nodes();
        s.apply(Command::CreateTopic(topic("t", &[&[1, 2, 3]])));
        let shrink = |epoch| Command::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader_epoch: epoch,
            leader: 1,
            isr: vec![1, 3],
        };
        assert_eq!(
            s.apply(shrink(7)),
            Outcome::Refused(Refusal::StaleLeaderEpoch)
        );
        assert_eq!(s.apply(shrink(0)), Outcome::Done);
        assert_eq!(s.topics["t"].partitions[0].isr, vec![1, 3]);
        let bad = Command::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader_epoch: 0,
            leader: 1,
            isr: vec![3],
        };
        assert!(matches!(
            s.apply(bad),
            Outcome::Refused(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn a_move_adds_then_completes_only_when_in_sync() {
        let mut s = three_nodes();
        s.apply(Command::Register(member(4)));
        s.apply(Command::CreateTopic(topic("t", &[&[1, 2, 3]])));
        let add = Command::AddReplicas {
            topic: "t".into(),
            partition: 0,
            add: vec![4],
        };
        assert_eq!(s.apply(add), Outcome::Done);
        assert_eq!(s.topics["t"].partitions[0].replicas, vec![1, 2, 3, 4]);
        let complete = Command::CompleteMove {
            topic: "t".into(),
            partition: 0,
            replicas: vec![2, 3, 4],
        };
        assert_eq!(
            s.apply(complete.clone()),
            Outcome::Refused(Refusal::NotInSync),
            "node 4 has not caught up"
        );
        s.apply(Command::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader_epoch: 0,
            leader: 1,
            isr: vec![1, 2, 3, 4],
        });
        assert_eq!(s.apply(complete), Outcome::Done);
        let p = &s.topics["t"].partitions[0];
        assert_eq!(
            (p.leader, p.leader_epoch),
            (2, 1),
            "the dropped leader hands over"
        );
        assert_eq!(p.replicas, vec![2, 3, 4]);
        assert_eq!(p.isr, vec![2, 3, 4]);
    }

    #[test]
    fn decommissioned_nodes_leave_placement_and_are_removed_when_empty() {
        let mut s = three_nodes();
        s.apply(Command::CreateTopic(topic("t", &[&[1, 2]])));
        assert_eq!(s.apply(Command::Decommission { node_id: 2 }), Outcome::Done);
        assert_eq!(s.placement_nodes(), vec![1, 3]);
        assert!(matches!(
            s.apply(Command::RemoveMember { node_id: 2 }),
            Outcome::Refused(Refusal::Invalid(_))
        ));
        s.apply(Command::Register(member(2)));
        assert!(
            s.members[&2].decommissioning,
            "a restart does not cancel it"
        );
        assert_eq!(
            s.apply(Command::Decommission { node_id: 9 }),
            Outcome::Refused(Refusal::UnknownMember(9))
        );
    }

    #[test]
    fn preferred_leader_returns_when_in_sync() {
        let mut s = three_nodes();
        s.apply(Command::CreateTopic(topic("t", &[&[1, 2, 3]])));
        s.apply(Command::Fence { node_id: 1 });
        let elect = Command::ElectPreferred {
            topic: "t".into(),
            partition: 0,
        };
        s.apply(elect.clone());
        assert_eq!(s.topics["t"].partitions[0].leader, 2, "1 is not in sync");
        s.apply(Command::Unfence { node_id: 1 });
        s.apply(Command::AlterIsr {
            topic: "t".into(),
            partition: 0,
            leader_epoch: 1,
            leader: 2,
            isr: vec![2, 3, 1],
        });
        s.apply(elect);
        let p = &s.topics["t"].partitions[0];
        assert_eq!((p.leader, p.leader_epoch), (1, 2));
    }

    #[test]
    fn committed_offsets_are_kept_per_group_and_go_with_their_topic() {
        let mut s = three_nodes();
        s.apply(Command::CreateTopic(topic("t", &[&[1]])));
        let offset = |o| CommittedOffset {
            offset: o,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 0,
        };
        s.apply(Command::CommitOffsets {
            group: "g".into(),
            offsets: vec![("t".into(), 0, offset(5)), ("u".into(), 0, offset(7))],
        });
        s.apply(Command::CommitOffsets {
            group: "g".into(),
            offsets: vec![("t".into(), 0, offset(9))],
        });
        assert_eq!(s.group_offsets["g"][&("t".to_string(), 0)].offset, 9);
        s.apply(Command::DeleteTopic { name: "t".into() });
        assert!(!s.group_offsets["g"].contains_key(&("t".to_string(), 0)));
        s.apply(Command::DeleteOffsets {
            group: "g".into(),
            partitions: None,
        });
        assert!(s.group_offsets.is_empty());
    }

    #[test]
    fn a_topic_created_while_a_node_is_down_starts_without_it_in_sync() {
        let mut s = three_nodes();
        s.apply(Command::Fence { node_id: 2 });
        s.apply(Command::CreateTopic(topic("t", &[&[2, 1, 3]])));
        let p = &s.topics["t"].partitions[0];
        assert_eq!(p.isr, vec![1, 3]);
        assert_eq!(p.leader, 1);
        assert_eq!(p.replicas, vec![2, 1, 3], "placement is kept");
    }

    fn deployment(app: &str, topology: &str, threads: &str, at: i64) -> DeploymentRecord {
        DeploymentRecord {
            application_id: app.into(),
            topology: topology.into(),
            configs: BTreeMap::from([("num.stream.threads".to_string(), threads.to_string())]),
            deployed_at_ms: at,
        }
    }

    #[test]
    fn a_deployment_is_recorded_once_and_a_different_one_is_refused() {
        let mut s = three_nodes();
        let first = deployment("wc", "wordcount", "1", 10);
        assert_eq!(s.apply(Command::Deploy(first.clone())), Outcome::Done);
        assert_eq!(s.deployments["wc"], first);
        // The same topology and configs again (a retry): accepted, the first record kept.
        let retry = deployment("wc", "wordcount", "1", 20);
        assert_eq!(s.apply(Command::Deploy(retry)), Outcome::Done);
        assert_eq!(s.deployments["wc"].deployed_at_ms, 10);
        // Another topology, or other configs, under the same application id: refused.
        let before = s.clone();
        let other_topology = s.apply(Command::Deploy(deployment("wc", "payments", "1", 30)));
        assert_eq!(
            other_topology,
            Outcome::Refused(Refusal::DeploymentExists(
                "application wc is already deployed (topology wordcount); undeploy it first".into()
            ))
        );
        let other_configs = s.apply(Command::Deploy(deployment("wc", "wordcount", "4", 30)));
        assert!(matches!(
            other_configs,
            Outcome::Refused(Refusal::DeploymentExists(_))
        ));
        assert_eq!(s, before, "a refused deploy changes nothing");
        assert_eq!(
            s.apply(Command::Deploy(deployment("pay", "payments", "1", 40))),
            Outcome::Done
        );
        assert_eq!(s.deployments.len(), 2);
    }

    #[test]
    fn undeploy_removes_a_deployment_and_refuses_an_unknown_one() {
        let mut s = three_nodes();
        s.apply(Command::Deploy(deployment("wc", "wordcount", "1", 10)));
        let undeploy = |id: &str| Command::Undeploy {
            application_id: id.into(),
        };
        assert_eq!(s.apply(undeploy("wc")), Outcome::Done);
        assert!(s.deployments.is_empty());
        assert_eq!(
            s.apply(undeploy("wc")),
            Outcome::Refused(Refusal::UnknownDeployment("wc".into()))
        );
        // Undeployed, the id can take another topology.
        let again = deployment("wc", "payments", "1", 20);
        assert_eq!(s.apply(Command::Deploy(again.clone())), Outcome::Done);
        assert_eq!(s.deployments["wc"], again);
    }

    #[test]
    fn catalogs_are_kept_for_members_only_and_leave_with_them() {
        let mut s = three_nodes();
        let names = vec!["wordcount".to_string(), "payments".to_string()];
        let set = |node_id, names: &[String]| Command::SetCatalog {
            node_id,
            names: names.to_vec(),
        };
        assert_eq!(s.apply(set(2, &names)), Outcome::Done);
        assert_eq!(s.catalogs[&2], names);
        assert_eq!(s.apply(set(2, &names[..1])), Outcome::Done);
        assert_eq!(s.catalogs[&2], names[..1], "a report replaces the list");
        assert_eq!(
            s.apply(set(9, &names)),
            Outcome::Refused(Refusal::UnknownMember(9))
        );
        assert!(!s.catalogs.contains_key(&9));
        s.apply(Command::Decommission { node_id: 2 });
        assert_eq!(s.apply(Command::RemoveMember { node_id: 2 }), Outcome::Done);
        assert!(
            !s.catalogs.contains_key(&2),
            "a removed node's catalog goes"
        );
    }

    #[test]
    fn a_recorded_coordinator_stays_while_it_lives() {
        let mut s = three_nodes();
        let set = |node_id| Command::SetCoordinator {
            group: "g".into(),
            node_id,
        };
        assert_eq!(s.apply(set(2)), Outcome::Done);
        s.apply(Command::Register(member(4)));
        assert_eq!(s.coordinator("g"), Some(2), "a joining node moves nothing");
        s.apply(Command::Fence { node_id: 2 });
        assert_eq!(
            s.coordinator("g"),
            None,
            "looked up afresh while 2 is fenced"
        );
        assert_eq!(s.apply(set(2)), Outcome::Refused(Refusal::UnknownMember(2)));
        assert_eq!(s.apply(set(3)), Outcome::Done);
        s.apply(Command::Unfence { node_id: 2 });
        assert_eq!(s.coordinator("g"), Some(3), "and it does not move back");
        assert_eq!(s.apply(set(9)), Outcome::Refused(Refusal::UnknownMember(9)));
    }

    #[test]
    fn producer_ids_are_unique() {
        let mut s = ClusterState::default();
        assert_eq!(s.apply(Command::AllocateProducerId), Outcome::ProducerId(0));
        assert_eq!(s.apply(Command::AllocateProducerId), Outcome::ProducerId(1));
    }
}
