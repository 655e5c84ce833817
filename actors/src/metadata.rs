//! MetadataActor: owns the node's view of topics (names, ids, partitions and their
//! placement, configs) and is the only writer of topic metadata in fjall. Every topic
//! change goes through it: it validates, asks the PlacementActor where new partitions go,
//! persists, publishes an immutable snapshot through a `watch` channel, and asks the
//! PartitionSupervisor to start, update or delete the partitions this node hosts.
//!
//! In cluster mode the topics live in the Raft quorum instead: changes are proposed as
//! [`Command`]s (placement computed here, once, and recorded in the command), and every
//! applied state comes back as [`ApplyClusterState`], which replaces the snapshot and
//! starts, updates (role, epoch, ISR) or removes this node's replicas.
//!
//! It also owns the record of the topologies deployed to the cluster and each node's
//! catalog; their messages and handlers are in `deployments.rs`.
//!
//! Started by the NodeSupervisor under actix's `Supervisor`, so its address survives a
//! restart; `restarting` reloads the topics and deployments from fjall. Its handlers that
//! await other actors are atomic (`AtomicResponse`), so topic changes are applied one at a
//! time. Not yet: its handlers are not wrapped in the panic guard, so a panic here would
//! end it.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::watch;

use crate::cluster::{ClusterState, Command, Outcome, Proposer, Refusal};
use crate::error::{ActorError, ActorResult};
use crate::partition::{PartitionSpec, Role};
use crate::partition_supervisor::{
    settings_for, EnsurePartitions, PartitionSupervisor, RemovePartitions,
};
use crate::placement::{Place, PlacementActor, SetMembers};
use crate::store::{DeploymentRecord, PartitionRecord, Store, TopicRecord};
use crate::topic_config::{self, BrokerDefaults, TopicConfig};
use crate::TopicPartition;

/// Kafka's longest topic name.
pub const TOPIC_NAME_LEN_MAX: usize = 249;
/// A bound on partitions per topic, so one request cannot start unbounded actors.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;
/// Default `max.broker.partitions`: partition replicas one node may host. Each idle
/// partition costs a few KiB of memory and a little start-up time (docs/PERFORMANCE.md), so
/// without a bound a client creating topics in a loop exhausts the node.
pub const BROKER_PARTITIONS_MAX_DEFAULT: usize = 100_000;

/// What connections read: every topic, plus the broker-level config defaults; and what the
/// node's topology host reads: the deployed topologies and each node's catalog.
#[derive(Debug, Clone, Default)]
pub struct MetadataSnapshot {
    /// Topics by name.
    pub topics: BTreeMap<String, TopicRecord>,
    /// Broker-level topic config defaults.
    pub broker_defaults: BrokerDefaults,
    /// Topologies deployed to the cluster, by application id.
    pub deployments: BTreeMap<String, DeploymentRecord>,
    /// Per node id, the topology names its binary can run. On a single node only this
    /// node's, as reported since it started (not stored).
    pub catalogs: BTreeMap<i32, Vec<String>>,
}

/// Defaults for topics created without explicit values.
#[derive(Debug, Clone)]
pub struct TopicDefaults {
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub replication_factor: i16,
}

/// The metadata actor.
pub struct MetadataActor {
    // `pub(crate)`: the deployment handlers (`deployments.rs`) read and write these too.
    pub(crate) node_id: i32,
    pub(crate) store: Store,
    placement: Addr<PlacementActor>,
    partitions: Addr<PartitionSupervisor>,
    defaults: TopicDefaults,
    pub(crate) snapshot: MetadataSnapshot,
    publish: watch::Sender<Arc<MetadataSnapshot>>,
    /// Cluster mode: the quorum owns the topics and the deployments.
    pub(crate) proposer: Option<Proposer>,
    /// `max.broker.partitions`: a topic change that would put more partition replicas on
    /// any node is refused.
    broker_partitions_max: usize,
}

/// Checks a topic name against Kafka's rules.
pub fn validate_topic_name(name: &str) -> ActorResult<()> {
    let invalid = |reason: &str| ActorError::InvalidTopic {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are not allowed"));
    }
    if name.len() > TOPIC_NAME_LEN_MAX {
        return Err(invalid("longer than 249 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return Err(invalid(
            "only ASCII letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

impl MetadataActor {
    /// A metadata actor for node `node_id`.
    pub fn new(
        node_id: i32,
        store: Store,
        placement: Addr<PlacementActor>,
        partitions: Addr<PartitionSupervisor>,
        defaults: TopicDefaults,
        broker_defaults: BrokerDefaults,
    ) -> Self {
        let snapshot = MetadataSnapshot {
            broker_defaults,
            ..MetadataSnapshot::default()
        };
        let (publish, _) = watch::channel(Arc::new(snapshot.clone()));
        MetadataActor {
            node_id,
            store,
            placement,
            partitions,
            defaults,
            snapshot,
            publish,
            proposer: None,
            broker_partitions_max: BROKER_PARTITIONS_MAX_DEFAULT,
        }
    }

    /// Sets `max.broker.partitions`.
    pub fn with_broker_partitions_max(mut self, max: usize) -> Self {
        self.broker_partitions_max = max;
        self
    }

    /// Refuses new partitions (`added`: the replica set of each) that would put more than
    /// `max.broker.partitions` replicas on a node. In cluster mode every node is checked
    /// against this node's setting, the one that handles the request.
    fn check_broker_partitions(&self, added: &[Vec<i32>]) -> ActorResult<()> {
        let mut hosted: BTreeMap<i32, usize> = BTreeMap::new();
        let existing = self.snapshot.topics.values().flat_map(|t| &t.partitions);
        let replicas = existing.map(|p| &p.replicas).chain(added).flatten();
        for node in replicas {
            *hosted.entry(*node).or_default() += 1;
        }
        let max = self.broker_partitions_max;
        match hosted.into_iter().find(|(_, count)| *count > max) {
            Some((node, count)) => Err(ActorError::InvalidPartitions(format!(
                "node {node} would host {count} partitions, more than max.broker.partitions \
                 ({max}); delete topics or raise it with --max-broker-partitions"
            ))),
            None => Ok(()),
        }
    }

    /// Cluster mode: topic changes are proposed to the quorum through `proposer`.
    pub fn with_proposer(mut self, proposer: Option<Proposer>) -> Self {
        self.proposer = proposer;
        self
    }

    /// What this node's replica of `p` does.
    fn spec_for(
        &self,
        topic: &TopicRecord,
        p: &PartitionRecord,
        settings: crate::partition::PartitionSettings,
    ) -> PartitionSpec {
        let role = if p.leader == self.node_id {
            Role::Leader {
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
            }
        } else {
            Role::Follower { leader: p.leader }
        };
        PartitionSpec {
            tp: TopicPartition::new(&topic.name, p.index),
            uid: p.uid,
            leader_epoch: p.leader_epoch,
            settings,
            node_id: self.node_id,
            role,
        }
    }

    /// Proposes `cmd` to the quorum (cluster mode only).
    pub(crate) fn propose(
        &self,
        cmd: Command,
    ) -> impl std::future::Future<Output = ActorResult<Outcome>> + 'static {
        let proposer = self.proposer.clone();
        async move {
            let proposer =
                proposer.ok_or_else(|| ActorError::Unavailable("not in cluster mode".into()))?;
            match proposer(cmd).await? {
                Outcome::Refused(refusal) => Err(refused(refusal)),
                outcome => Ok(outcome),
            }
        }
    }

    /// A receiver of metadata snapshots.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataSnapshot>> {
        self.publish.subscribe()
    }

    pub(crate) fn publish(&self) {
        self.publish.send_replace(Arc::new(self.snapshot.clone()));
    }

    /// Starts (or updates) the local partitions of `topics` with one message to the
    /// partition supervisor, which publishes the routing table once for all of them; the
    /// future ends once the routing table holds them.
    fn start_partitions<'t>(
        &self,
        topics: impl IntoIterator<Item = &'t TopicRecord>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let mut specs = Vec::new();
        for topic in topics {
            let settings = settings_for(&topic.config, &self.snapshot.broker_defaults);
            specs.extend(
                topic
                    .partitions
                    .iter()
                    .filter(|p| p.replicas.contains(&self.node_id))
                    .map(|p| self.spec_for(topic, p, settings)),
            );
        }
        let send = (!specs.is_empty()).then(|| self.partitions.send(EnsurePartitions(specs)));
        async move {
            if let Some(send) = send {
                match send.await {
                    Ok(_) => {}
                    // The node is shutting down (the supervisor stops with the tree, and is
                    // never stopped otherwise): a creation still in flight ends here.
                    Err(actix::MailboxError::Closed) => tracing::warn!(
                        "partitions not started: the partition supervisor has stopped (the node is shutting down)"
                    ),
                    Err(err) => tracing::error!(error = %err, "could not start partitions"),
                }
            }
        }
    }

    fn topic(&self, name: &str) -> ActorResult<&TopicRecord> {
        self.snapshot
            .topics
            .get(name)
            .ok_or_else(|| ActorError::UnknownTopic(name.to_string()))
    }

    fn check_new_topic(&self, msg: &CreateTopic) -> ActorResult<(i32, i16)> {
        validate_topic_name(&msg.name)?;
        if self.snapshot.topics.contains_key(&msg.name) {
            return Err(ActorError::TopicExists(msg.name.clone()));
        }
        if let Some(assignment) = &msg.assignment {
            if msg.partitions.is_some() || msg.replication_factor.is_some() {
                return Err(ActorError::InvalidReplicaAssignment(
                    "give either a replica assignment or a partition count and replication factor, not both".into(),
                ));
            }
            let partitions = i32::try_from(assignment.len()).unwrap_or(i32::MAX);
            let rf = assignment.first().map_or(0, |r| r.len());
            if partitions <= 0 || partitions > PARTITIONS_PER_TOPIC_MAX {
                return Err(ActorError::InvalidPartitions(format!(
                    "{partitions} partitions; use 1 to {PARTITIONS_PER_TOPIC_MAX}"
                )));
            }
            for (name, value) in &msg.configs {
                topic_config::validate(name, value)?;
            }
            return Ok((partitions, i16::try_from(rf).unwrap_or(i16::MAX)));
        }
        let partitions = msg.partitions.unwrap_or(self.defaults.num_partitions);
        if partitions <= 0 || partitions > PARTITIONS_PER_TOPIC_MAX {
            return Err(ActorError::InvalidPartitions(format!(
                "{partitions} partitions; use 1 to {PARTITIONS_PER_TOPIC_MAX}"
            )));
        }
        for (name, value) in &msg.configs {
            topic_config::validate(name, value)?;
        }
        let rf = msg
            .replication_factor
            .unwrap_or(self.defaults.replication_factor);
        Ok((partitions, rf))
    }

    fn new_partitions(
        &self,
        first: i32,
        replicas: Vec<Vec<i32>>,
    ) -> ActorResult<Vec<PartitionRecord>> {
        let first_uid = if self.proposer.is_some() {
            0
        } else {
            self.store
                .meta()
                .allocate_partition_uids(replicas.len() as u64)?
        };
        Ok(replicas
            .into_iter()
            .enumerate()
            .map(|(i, replicas)| PartitionRecord {
                index: first + i as i32,
                uid: if first_uid == 0 {
                    0
                } else {
                    first_uid + i as u64
                },
                leader: replicas.first().copied().unwrap_or(-1),
                // Cluster mode: the quorum assigns uids when it applies the command.
                isr: replicas.clone(),
                replicas,
                leader_epoch: 0,
            })
            .collect())
    }

    /// Single-node mode: replaces the snapshot's topics and deployments with the stored
    /// ones (publishing is the caller's).
    fn load_from_store(&mut self) -> ActorResult<()> {
        let topics = self.store.meta().load_topics()?;
        let deployments = self.store.meta().load_deployments()?;
        self.snapshot.topics = topics.into_iter().map(|t| (t.name.clone(), t)).collect();
        self.snapshot.deployments = deployments
            .into_iter()
            .map(|d| (d.application_id.clone(), d))
            .collect();
        Ok(())
    }

    /// Single-node mode: stores and publishes the topic.
    fn save(&mut self, topic: TopicRecord) -> ActorResult<TopicRecord> {
        self.store.meta().put_topic(&topic)?;
        self.snapshot
            .topics
            .insert(topic.name.clone(), topic.clone());
        self.publish();
        Ok(topic)
    }
}

impl Actor for MetadataActor {
    type Context = Context<Self>;
}

impl Supervised for MetadataActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        if self.proposer.is_some() {
            // Cluster mode: the snapshot mirrors the quorum's state; keep it until the next.
            return;
        }
        match self.load_from_store() {
            Ok(()) => self.publish(),
            Err(err) => {
                tracing::error!(error = %err, "metadata actor restarted but cannot reload its metadata")
            }
        }
    }
}

/// Load every topic and every deployment from fjall and start the local partitions. Sent once at node start; answers the topic count.
#[derive(Message)]
#[rtype(result = "ActorResult<usize>")]
pub struct LoadTopics;

impl Handler<LoadTopics> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<usize>>;

    fn handle(&mut self, _msg: LoadTopics, _ctx: &mut Self::Context) -> Self::Result {
        if self.proposer.is_some() {
            // The quorum's state arrives through ApplyClusterState.
            let count = self.snapshot.topics.len();
            return AtomicResponse::new(Box::pin(async move { Ok(count) }.into_actor(self)));
        }
        let loaded = self.load_from_store();
        let (count, start) = match loaded {
            Ok(()) => {
                self.publish();
                // Every topic's partitions in one message: one routing-table publish.
                let start = self.start_partitions(self.snapshot.topics.values());
                (Ok(self.snapshot.topics.len()), Some(start))
            }
            Err(err) => (Err(err), None),
        };
        AtomicResponse::new(Box::pin(
            async move {
                if let Some(start) = start {
                    start.await;
                }
                count
            }
            .into_actor(self),
        ))
    }
}

/// Create a topic.
#[derive(Message, Clone)]
#[rtype(result = "ActorResult<TopicRecord>")]
pub struct CreateTopic {
    /// Topic name.
    pub name: String,
    /// Partition count; `None` = `num.partitions`.
    pub partitions: Option<i32>,
    /// Replication factor; `None` = the default.
    pub replication_factor: Option<i16>,
    /// Config overrides.
    pub configs: BTreeMap<String, String>,
    /// Check only, change nothing.
    pub validate_only: bool,
    /// The replicas of each partition, chosen by the caller (Kafka's manual replica
    /// assignment; then `partitions` and `replication_factor` must be `None`): checked,
    /// not placed.
    pub assignment: Option<Vec<Vec<i32>>>,
}

impl Handler<CreateTopic> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<TopicRecord>>;

    fn handle(&mut self, msg: CreateTopic, _ctx: &mut Self::Context) -> Self::Result {
        let check = self.check_new_topic(&msg);
        let placement = self.placement.clone();
        let id = *uuid::Uuid::new_v4().as_bytes();
        let assignment = msg.assignment.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let (partitions, rf) = check?;
                let factor = usize::try_from(rf).unwrap_or(0);
                let replicas =
                    placement.send(Place { topic_id: id, first: 0, count: partitions, replication_factor: factor, assignment }).await??;
                Ok((replicas, rf))
            }
            .into_actor(self)
            .then(move |placed: ActorResult<(Vec<Vec<i32>>, i16)>, act, _ctx| {
                let placed = placed.and_then(|(replicas, rf)| {
                    act.check_broker_partitions(&replicas)?;
                    Ok((replicas, rf))
                });
                if act.proposer.is_some() {
                    let topic = placed.and_then(|(replicas, rf)| {
                        Ok(TopicRecord {
                            name: msg.name.clone(),
                            id,
                            partitions: act.new_partitions(0, replicas)?,
                            replication_factor: rf,
                            config: TopicConfig { overrides: msg.configs.clone() },
                        })
                    });
                    // A manual replica assignment is kept where it was put (pinned).
                    let pinned = msg.assignment.is_some();
                    let propose = topic.as_ref().ok().filter(|_| !msg.validate_only).map(|t| {
                        act.propose(if pinned {
                            Command::CreateTopicPinned(t.clone())
                        } else {
                            Command::CreateTopic(t.clone())
                        })
                    });
                    return async move {
                        let topic = topic?;
                        match propose {
                            Some(p) => match p.await? {
                                Outcome::Topic(t) => Ok(t),
                                _ => Ok(topic),
                            },
                            None => Ok(topic),
                        }
                    }
                    .into_actor(act)
                    .boxed_local();
                }
                let created = placed.and_then(|(replicas, rf)| {
                    let topic = TopicRecord {
                        name: msg.name.clone(),
                        id,
                        partitions: act.new_partitions(0, replicas)?,
                        replication_factor: rf,
                        config: TopicConfig { overrides: msg.configs.clone() },
                    };
                    if msg.validate_only {
                        Ok(topic)
                    } else {
                        act.save(topic)
                    }
                });
                let start = match &created {
                    Ok(topic) if !msg.validate_only => {
                        tracing::info!(topic = %topic.name, partitions = topic.partitions.len(), "topic created");
                        Some(act.start_partitions([topic]))
                    }
                    _ => None,
                };
                async move {
                    if let Some(start) = start {
                        start.await;
                    }
                    created
                }
                .into_actor(act)
                .boxed_local()
            }),
        ))
    }
}

/// Delete a topic and its data.
#[derive(Message)]
#[rtype(result = "ActorResult<TopicRecord>")]
pub struct DeleteTopic {
    /// Topic name.
    pub name: String,
}

impl Handler<DeleteTopic> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<TopicRecord>>;

    fn handle(&mut self, msg: DeleteTopic, _ctx: &mut Self::Context) -> Self::Result {
        if self.proposer.is_some() {
            let known = self.topic(&msg.name).cloned();
            let propose = self.propose(Command::DeleteTopic { name: msg.name });
            return AtomicResponse::new(Box::pin(
                async move {
                    let topic = known?;
                    propose.await?;
                    Ok(topic)
                }
                .into_actor(self),
            ));
        }
        let removed = self.topic(&msg.name).cloned().and_then(|topic| {
            self.store.meta().remove_topic(&topic.name)?;
            self.snapshot.topics.remove(&topic.name);
            self.publish();
            Ok(topic)
        });
        let partitions = self.partitions.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let topic = removed?;
                let tps = topic
                    .partitions
                    .iter()
                    .map(|p| TopicPartition::new(&topic.name, p.index))
                    .collect();
                partitions.send(RemovePartitions(tps)).await??;
                tracing::info!(topic = %topic.name, "topic deleted");
                Ok(topic)
            }
            .into_actor(self),
        ))
    }
}

/// Grow a topic to `count` partitions.
#[derive(Message)]
#[rtype(result = "ActorResult<()>")]
pub struct CreatePartitions {
    /// Topic name.
    pub name: String,
    /// The new total partition count.
    pub count: i32,
    /// Check only, change nothing.
    pub validate_only: bool,
}

impl Handler<CreatePartitions> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<()>>;

    fn handle(&mut self, msg: CreatePartitions, _ctx: &mut Self::Context) -> Self::Result {
        let check = self.topic(&msg.name).cloned().and_then(|topic| {
            let current = topic.partitions.len() as i32;
            if msg.count <= current || msg.count > PARTITIONS_PER_TOPIC_MAX {
                return Err(ActorError::InvalidPartitions(format!(
                    "topic '{}' has {current} partitions; the new count must be larger (and at most {PARTITIONS_PER_TOPIC_MAX}), got {}",
                    topic.name, msg.count
                )));
            }
            Ok(topic)
        });
        let placement = self.placement.clone();
        AtomicResponse::new(Box::pin(
            async move {
                let topic = check?;
                let first = topic.partitions.len() as i32;
                let replicas = placement
                    .send(Place {
                        topic_id: topic.id,
                        first,
                        count: msg.count - first,
                        replication_factor: usize::try_from(topic.replication_factor).unwrap_or(1),
                        assignment: None,
                    })
                    .await??;
                Ok((topic, replicas, msg.validate_only))
            }
            .into_actor(self)
            .then(
                |placed: ActorResult<(TopicRecord, Vec<Vec<i32>>, bool)>, act, _ctx| {
                    let placed = placed.and_then(|(topic, replicas, validate_only)| {
                        act.check_broker_partitions(&replicas)?;
                        Ok((topic, replicas, validate_only))
                    });
                    if act.proposer.is_some() {
                        let cmd = placed.and_then(|(topic, replicas, validate_only)| {
                            let first = topic.partitions.len() as i32;
                            let partitions = act.new_partitions(first, replicas)?;
                            Ok((!validate_only).then_some(Command::AddPartitions {
                                name: topic.name,
                                partitions,
                            }))
                        });
                        let propose = match cmd {
                            Ok(Some(cmd)) => Ok(Some(act.propose(cmd))),
                            Ok(None) => Ok(None),
                            Err(e) => Err(e),
                        };
                        return async move {
                            if let Some(p) = propose? {
                                p.await?;
                            }
                            Ok(())
                        }
                        .into_actor(act)
                        .boxed_local();
                    }
                    let grown = placed.and_then(|(mut topic, replicas, validate_only)| {
                        if validate_only {
                            return Ok(None);
                        }
                        let first = topic.partitions.len() as i32;
                        topic
                            .partitions
                            .extend(act.new_partitions(first, replicas)?);
                        act.save(topic).map(Some)
                    });
                    let start = match &grown {
                        Ok(Some(topic)) => Some(act.start_partitions([topic])),
                        _ => None,
                    };
                    async move {
                        if let Some(start) = start {
                            start.await;
                        }
                        grown.map(|_| ())
                    }
                    .into_actor(act)
                    .boxed_local()
                },
            ),
        ))
    }
}

/// One change of a topic config (IncrementalAlterConfigs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// Set `name` to `value`.
    Set {
        /// Config name.
        name: String,
        /// New value.
        value: String,
    },
    /// Remove the override, back to the default.
    Delete {
        /// Config name.
        name: String,
    },
    /// Add items to a list config (its override, else its default), each once.
    Append {
        /// Config name.
        name: String,
        /// Comma-separated items.
        value: String,
    },
    /// Remove items from a list config (its override, else its default).
    Subtract {
        /// Config name.
        name: String,
        /// Comma-separated items.
        value: String,
    },
    /// Remove every override (the legacy AlterConfigs replaces a topic's whole set).
    Clear,
}

impl ConfigChange {
    /// Applies this change to a topic's `overrides`, checking names and values.
    fn apply(&self, overrides: &mut BTreeMap<String, String>) -> ActorResult<()> {
        let known = |name: &str| {
            topic_config::find(name).ok_or_else(|| ActorError::InvalidConfig {
                name: name.to_string(),
                value: String::new(),
                reason: "unknown topic config".into(),
            })
        };
        match self {
            ConfigChange::Set { name, value } => {
                topic_config::validate(name, value)?;
                overrides.insert(name.clone(), value.clone());
            }
            ConfigChange::Delete { name } => {
                known(name)?;
                overrides.remove(name);
            }
            ConfigChange::Append { name, value } | ConfigChange::Subtract { name, value } => {
                let def = known(name)?;
                if def.kind != topic_config::ConfigType::List {
                    return Err(ActorError::InvalidConfig {
                        name: name.clone(),
                        value: value.clone(),
                        reason: "APPEND and SUBTRACT apply to list configs only; use SET".into(),
                    });
                }
                let current = overrides
                    .get(name)
                    .map_or(def.default, String::as_str)
                    .to_string();
                let new = if matches!(self, ConfigChange::Append { .. }) {
                    topic_config::list_append(&current, value)
                } else {
                    topic_config::list_subtract(&current, value)
                };
                topic_config::validate(name, &new)?;
                overrides.insert(name.clone(), new);
            }
            ConfigChange::Clear => overrides.clear(),
        }
        Ok(())
    }
}

/// Change a topic's configs.
#[derive(Message)]
#[rtype(result = "ActorResult<()>")]
pub struct AlterTopicConfig {
    /// Topic name.
    pub name: String,
    /// The changes, applied all or nothing.
    pub changes: Vec<ConfigChange>,
    /// Check only, change nothing.
    pub validate_only: bool,
}

impl Handler<AlterTopicConfig> for MetadataActor {
    type Result = AtomicResponse<Self, ActorResult<()>>;

    fn handle(&mut self, msg: AlterTopicConfig, _ctx: &mut Self::Context) -> Self::Result {
        let altered = self.topic(&msg.name).cloned().and_then(|mut topic| {
            for change in &msg.changes {
                change.apply(&mut topic.config.overrides)?;
            }
            if msg.validate_only {
                Ok(None)
            } else if self.proposer.is_some() {
                Ok(Some(topic))
            } else {
                self.save(topic).map(Some)
            }
        });
        if self.proposer.is_some() {
            let propose = match altered {
                Ok(Some(topic)) => Ok(Some(self.propose(Command::SetConfig {
                    name: topic.name,
                    overrides: topic.config.overrides,
                }))),
                Ok(None) => Ok(None),
                Err(e) => Err(e),
            };
            return AtomicResponse::new(Box::pin(
                async move {
                    if let Some(p) = propose? {
                        p.await?;
                    }
                    Ok(())
                }
                .into_actor(self),
            ));
        }
        let start = match &altered {
            Ok(Some(topic)) => Some(self.start_partitions([topic])),
            _ => None,
        };
        AtomicResponse::new(Box::pin(
            async move {
                if let Some(start) = start {
                    start.await;
                }
                altered.map(|_| ())
            }
            .into_actor(self),
        ))
    }
}

/// Hand out a fresh producer id (InitProducerId).
#[derive(Message)]
#[rtype(result = "ActorResult<i64>")]
pub struct AllocateProducerId;

impl Handler<AllocateProducerId> for MetadataActor {
    type Result = ResponseFuture<ActorResult<i64>>;

    fn handle(&mut self, _msg: AllocateProducerId, _ctx: &mut Self::Context) -> Self::Result {
        if self.proposer.is_none() {
            let id = self.store.meta().allocate_producer_id();
            return Box::pin(async move { id });
        }
        let propose = self.propose(Command::AllocateProducerId);
        Box::pin(async move {
            match propose.await? {
                Outcome::ProducerId(id) => Ok(id),
                other => Err(ActorError::Quorum(format!("unexpected outcome {other:?}"))),
            }
        })
    }
}

/// Cluster mode: the quorum applied a new state. Replaces the topics, deployments and
/// catalogs, updates the placement's members, and starts, updates or removes this node's
/// replicas.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyClusterState(pub Arc<ClusterState>);

impl Handler<ApplyClusterState> for MetadataActor {
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, msg: ApplyClusterState, _ctx: &mut Self::Context) -> Self::Result {
        let state = msg.0;
        let me = self.node_id;
        self.placement.do_send(SetMembers {
            nodes: state.placement_nodes(),
            racks: state.racks.clone(),
        });
        let old = std::mem::replace(&mut self.snapshot.topics, state.topics.clone());
        self.snapshot.deployments = state.deployments.clone();
        self.snapshot.catalogs = state.catalogs.clone();
        self.publish();
        let mut removed = Vec::new();
        for topic in old.values() {
            for p in topic.partitions.iter().filter(|p| p.replicas.contains(&me)) {
                let kept = state
                    .topics
                    .get(&topic.name)
                    .and_then(|t| t.partitions.get(p.index as usize))
                    .is_some_and(|np| np.uid == p.uid && np.replicas.contains(&me));
                if !kept {
                    removed.push(TopicPartition::new(&topic.name, p.index));
                }
            }
        }
        let remove = (!removed.is_empty()).then(|| self.partitions.send(RemovePartitions(removed)));
        // Only topics that changed (most states change offsets, ISRs or members only).
        let start = self.start_partitions(
            self.snapshot
                .topics
                .values()
                .filter(|t| old.get(&t.name) != Some(*t)),
        );
        AtomicResponse::new(Box::pin(
            async move {
                if let Some(remove) = remove {
                    if let Ok(Err(err)) = remove.await {
                        tracing::error!(error = %err, "could not remove a partition");
                    }
                }
                start.await;
            }
            .into_actor(self),
        ))
    }
}

/// The error a refused command means for the caller.
fn refused(refusal: Refusal) -> ActorError {
    match refusal {
        Refusal::TopicExists(name) => ActorError::TopicExists(name),
        Refusal::UnknownTopic(name) => ActorError::UnknownTopic(name),
        Refusal::UnknownPartition(topic, partition) => {
            ActorError::UnknownPartition { topic, partition }
        }
        Refusal::StaleLeaderEpoch => ActorError::Quorum("stale leader epoch".into()),
        Refusal::Invalid(reason) => ActorError::InvalidPartitions(reason),
        Refusal::UnknownMember(id) => ActorError::Quorum(format!("node {id} is not a member")),
        Refusal::NotInSync => ActorError::Quorum("the new replicas are not in sync yet".into()),
        Refusal::DeploymentExists(why) => ActorError::DeploymentExists(why),
        Refusal::UnknownDeployment(id) => ActorError::UnknownDeployment(id),
        Refusal::DeploymentUnrunnable(why) => ActorError::DeploymentUnrunnable(why),
        Refusal::InvalidAssignment(why) => ActorError::InvalidReplicaAssignment(why),
        Refusal::NoReassignment(topic, partition) => {
            ActorError::NoReassignment { topic, partition }
        }
    }
}

/// The snapshot receiver (for connections and the admin HTTP).
#[derive(Message)]
#[rtype(result = "watch::Receiver<Arc<MetadataSnapshot>>")]
pub struct SubscribeMetadata;

impl Handler<SubscribeMetadata> for MetadataActor {
    type Result = MessageResult<SubscribeMetadata>;

    fn handle(&mut self, _msg: SubscribeMetadata, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::validate_topic_name;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_eu-west").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("with space").is_err());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
    }
}
