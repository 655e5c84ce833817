//! GroupCoordinator: owns one consumer group — its members and generations (through the
//! pure [`Group`] state machine), parked JoinGroup/SyncGroup requests, and its committed
//! offsets in fjall. A timer advances the state machine (rebalance completion, session
//! expiry) and exports the group's lag per partition as a metric.
//!
//! Supervised by the GroupSupervisor through actix's `Supervisor`; restart policy
//! permanent. A panic in a handler is caught and stops the actor; on restart the group is
//! rebuilt from fjall (generation, protocol type, offsets) with no members: parked requests
//! are dropped (their clients get COORDINATOR_NOT_AVAILABLE and retry) and members rejoin.
//!
//! A deleted group (DeleteGroups) ends its coordinator: it tells the GroupSupervisor, which
//! forgets it (so it leaves the supervision tree), stops its timers, and answers what still
//! reaches it as a dead group (COORDINATOR_NOT_AVAILABLE for joins and commits, so clients
//! find the coordinator again); actix ends it once no address to it is left. A group used
//! again later gets a new coordinator, which starts afresh from the store, as in Kafka.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix::prelude::*;
use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::group::{
    Group, GroupError, GroupState, JoinOutcome, JoinRequest, Reply, Step, SyncOutcome,
};
use crate::group_supervisor::{GroupEvent, GroupSupervisor};
use crate::partition::GetOffsets;
use crate::partition_supervisor::Routes;
use crate::store::{CommittedOffset, GroupRecord, GroupStore};
use crate::supervision::{guard, RestartDecision, RestartIntensity, RestartWindow};
use crate::TopicPartition;

/// How often the coordinator advances time (rebalance deadlines, session expiry).
pub const TICK_MS: u64 = 250;
/// How often the group's lag is recomputed for `/metrics`.
pub const LAG_REFRESH_MS: u64 = 5_000;

/// The coordinator of one group.
pub struct GroupCoordinator {
    group_id: String,
    store: GroupStore,
    routes: watch::Receiver<Arc<Routes>>,
    supervisor: Addr<GroupSupervisor>,
    intensity: RestartIntensity,
    restart_window: RestartWindow,
    last_panic: Option<String>,
    group: Group,
    offsets: BTreeMap<TopicPartition, CommittedOffset>,
    persisted_generation: i32,
    joins: HashMap<String, oneshot::Sender<JoinOutcome>>,
    syncs: HashMap<String, oneshot::Sender<SyncOutcome>>,
    /// Cluster mode: offsets live in the quorum.
    replicated: Option<crate::cluster::ReplicatedOffsets>,
    /// The tick and lag timers, cancelled when the group is deleted.
    timers: Vec<SpawnHandle>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl GroupCoordinator {
    /// A coordinator for `group_id`; its state loads in `started`.
    pub fn new(
        group_id: String,
        store: GroupStore,
        routes: watch::Receiver<Arc<Routes>>,
        supervisor: Addr<GroupSupervisor>,
        intensity: RestartIntensity,
    ) -> Self {
        let group = Group::new(&group_id, 0, None);
        GroupCoordinator {
            group_id,
            store,
            routes,
            supervisor,
            intensity,
            restart_window: RestartWindow::default(),
            last_panic: None,
            group,
            offsets: BTreeMap::new(),
            persisted_generation: 0,
            joins: HashMap::new(),
            syncs: HashMap::new(),
            replicated: None,
            timers: Vec::new(),
        }
    }

    /// Cluster mode: commits go through the quorum and offsets are read from its state.
    pub fn with_replicated_offsets(
        mut self,
        replicated: Option<crate::cluster::ReplicatedOffsets>,
    ) -> Self {
        self.replicated = replicated;
        self
    }

    /// Cluster mode: takes the quorum's offsets (another node may have coordinated the
    /// group since this actor last did).
    fn refresh_offsets(&mut self) {
        if let Some(r) = &self.replicated {
            self.offsets = r.offsets_of(&self.group_id);
        }
    }

    /// Cluster mode: deletes offsets in the quorum too (in the background; the local
    /// view is already updated).
    fn forget_replicated(&self, partitions: Option<Vec<TopicPartition>>) {
        if let Some(r) = &self.replicated {
            let cmd = crate::cluster::Command::DeleteOffsets {
                group: self.group_id.clone(),
                partitions: partitions
                    .map(|tps| tps.into_iter().map(|tp| (tp.topic, tp.partition)).collect()),
            };
            let propose = (r.proposer)(cmd);
            let group = self.group_id.clone();
            actix_rt::spawn(async move {
                if let Err(err) = propose.await {
                    tracing::warn!(%group, error = %err, "offset deletion not replicated");
                }
            });
        }
    }

    fn load(&mut self) -> Result<(), String> {
        let record = self
            .store
            .load_group(&self.group_id)
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        self.group = Group::new(&self.group_id, record.generation_id, record.protocol_type);
        self.persisted_generation = record.generation_id;
        self.offsets = match &self.replicated {
            Some(r) => r.offsets_of(&self.group_id),
            None => self
                .store
                .load_offsets(&self.group_id)
                .map_err(|e| e.to_string())?
                .into_iter()
                .collect(),
        };
        self.joins.clear();
        self.syncs.clear();
        Ok(())
    }

    /// Sends replies to parked requests and persists a new generation.
    fn carry_out(&mut self, replies: Vec<Reply>) {
        for reply in replies {
            match reply {
                Reply::Join(member, outcome) => {
                    if let Some(tx) = self.joins.remove(&member) {
                        let _ = tx.send(outcome);
                    }
                }
                Reply::Sync(member, outcome) => {
                    if let Some(tx) = self.syncs.remove(&member) {
                        let _ = tx.send(outcome);
                    }
                }
            }
        }
        if self.group.generation_id != self.persisted_generation
            && self.group.state != GroupState::Dead
        {
            let record = GroupRecord {
                generation_id: self.group.generation_id,
                protocol_type: self.group.protocol_type.clone(),
            };
            match self.store.put_group(&self.group_id, &record) {
                Ok(()) => self.persisted_generation = record.generation_id,
                Err(err) => {
                    tracing::error!(group = %self.group_id, error = %err, "cannot persist group generation")
                }
            }
        }
    }

    /// Runs handler work with the panic guard (see `supervision::guard`).
    fn supervised<T>(
        &mut self,
        ctx: &mut Context<Self>,
        fallback: T,
        work: impl FnOnce(&mut Self) -> T,
    ) -> T {
        match guard(|| work(self)) {
            Ok(result) => result,
            Err(panic) => {
                tracing::error!(group = %self.group_id, error = %panic, "group coordinator panicked; restarting");
                self.last_panic = Some(panic);
                ctx.stop();
                fallback
            }
        }
    }

    fn tick(&mut self) {
        let mut replies = Vec::new();
        self.group.poll(Instant::now(), &mut replies);
        self.carry_out(replies);
    }

    fn refresh_lag(&self, ctx: &mut Context<Self>) {
        let routes = self.routes.borrow().clone();
        let group = self.group_id.clone();
        let committed: Vec<(TopicPartition, i64)> = self
            .offsets
            .iter()
            .map(|(tp, c)| (tp.clone(), c.offset))
            .collect();
        ctx.spawn(
            async move {
                for (tp, offset) in committed {
                    let Some(handle) = routes.get(&tp) else {
                        continue;
                    };
                    if let Ok(Ok(offsets)) = handle.send(GetOffsets).await {
                        let lag = (offsets.high_watermark - offset).max(0);
                        let labels = [
                            ("group", group.clone()),
                            ("topic", tp.topic.clone()),
                            ("partition", tp.partition.to_string()),
                        ];
                        metrics::gauge!("eddy_group_lag", &labels).set(lag as f64);
                    }
                }
            }
            .into_actor(self),
        );
    }
}

impl Actor for GroupCoordinator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Err(err) = self.load() {
            tracing::error!(group = %self.group_id, error = %err, "cannot load group");
        }
        self.timers = vec![
            ctx.run_interval(Duration::from_millis(TICK_MS), |act, _| act.tick()),
            ctx.run_interval(Duration::from_millis(LAG_REFRESH_MS), |act, ctx| {
                act.refresh_lag(ctx)
            }),
        ];
        self.supervisor.do_send(GroupEvent::Running {
            group_id: self.group_id.clone(),
        });
    }
}

impl Supervised for GroupCoordinator {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let error = self.last_panic.take().unwrap_or_else(|| "stopped".into());
        let decision = self
            .restart_window
            .on_abnormal_stop(Instant::now(), self.intensity);
        let failed = decision == RestartDecision::GiveUp;
        self.supervisor.do_send(GroupEvent::Restarting {
            group_id: self.group_id.clone(),
            error,
            failed,
        });
    }
}

/// JoinGroup. The reply arrives on the receiver when the rebalance completes.
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<JoinOutcome>")]
pub struct Join(pub JoinRequest);

impl Handler<Join> for GroupCoordinator {
    type Result = MessageResult<Join>;

    fn handle(&mut self, msg: Join, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.supervised(ctx, (), move |act| {
            let mut replies = Vec::new();
            match act.group.join(msg.0, Instant::now(), &mut replies) {
                Step::Now(outcome) => {
                    let _ = tx.send(outcome);
                }
                Step::Park(member) => {
                    // A member rejoining while an older join of it is parked: the old one
                    // is answered by dropping it (its client has given up on it).
                    act.joins.insert(member, tx);
                }
            }
            act.carry_out(replies);
        });
        MessageResult(rx)
    }
}

/// SyncGroup. Followers' replies arrive when the leader syncs.
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<SyncOutcome>")]
pub struct Sync {
    /// Member id.
    pub member_id: String,
    /// Generation.
    pub generation_id: i32,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Assignments (leader only).
    pub assignments: Vec<(String, Bytes)>,
}

impl Handler<Sync> for GroupCoordinator {
    type Result = MessageResult<Sync>;

    fn handle(&mut self, msg: Sync, ctx: &mut Self::Context) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.supervised(ctx, (), move |act| {
            let mut replies = Vec::new();
            let step = act.group.sync(
                &msg.member_id,
                msg.generation_id,
                msg.group_instance_id.as_deref(),
                msg.assignments,
                Instant::now(),
                &mut replies,
            );
            match step {
                Step::Now(outcome) => {
                    let _ = tx.send(outcome);
                }
                Step::Park(member) => {
                    act.syncs.insert(member, tx);
                }
            }
            act.carry_out(replies);
        });
        MessageResult(rx)
    }
}

/// Heartbeat.
#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct Heartbeat {
    /// Member id.
    pub member_id: String,
    /// Generation.
    pub generation_id: i32,
    /// Static id.
    pub group_instance_id: Option<String>,
}

impl Handler<Heartbeat> for GroupCoordinator {
    type Result = Result<(), GroupError>;

    fn handle(&mut self, msg: Heartbeat, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, Err(GroupError::CoordinatorNotAvailable), |act| {
            act.group.heartbeat(
                &msg.member_id,
                msg.generation_id,
                msg.group_instance_id.as_deref(),
                Instant::now(),
            )
        })
    }
}

/// LeaveGroup for one or more members: (member id, static id).
#[derive(Message)]
#[rtype(result = "Vec<Result<(), GroupError>>")]
pub struct Leave(pub Vec<(String, Option<String>)>);

impl Handler<Leave> for GroupCoordinator {
    type Result = MessageResult<Leave>;

    fn handle(&mut self, msg: Leave, ctx: &mut Self::Context) -> Self::Result {
        let fallback = vec![Err(GroupError::CoordinatorNotAvailable); msg.0.len()];
        MessageResult(self.supervised(ctx, fallback, |act| {
            let mut replies = Vec::new();
            let results = msg
                .0
                .iter()
                .map(|(member, instance)| {
                    act.group
                        .leave(member, instance.as_deref(), Instant::now(), &mut replies)
                })
                .collect();
            act.carry_out(replies);
            results
        }))
    }
}

/// OffsetCommit (topics already checked to exist by the caller).
#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct CommitOffsets {
    /// Member id ("" for a simple commit).
    pub member_id: String,
    /// Generation (-1 for a simple commit).
    pub generation_id: i32,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Offsets to commit.
    pub offsets: Vec<(TopicPartition, i64, i32, Option<String>)>,
}

impl Handler<CommitOffsets> for GroupCoordinator {
    type Result = AtomicResponse<Self, Result<(), GroupError>>;

    fn handle(&mut self, msg: CommitOffsets, ctx: &mut Self::Context) -> Self::Result {
        if let Some(r) = self.replicated.clone() {
            // Cluster mode: commit through the quorum, one commit at a time per group.
            let checked = self.group.check_commit(
                &msg.member_id,
                msg.generation_id,
                msg.group_instance_id.as_deref(),
            );
            let ts = now_ms();
            let committed: Vec<(TopicPartition, CommittedOffset)> = msg
                .offsets
                .into_iter()
                .map(|(tp, offset, leader_epoch, metadata)| {
                    let c = CommittedOffset {
                        offset,
                        leader_epoch,
                        metadata,
                        commit_timestamp_ms: ts,
                    };
                    (tp, c)
                })
                .collect();
            let cmd = crate::cluster::Command::CommitOffsets {
                group: self.group_id.clone(),
                offsets: committed
                    .iter()
                    .map(|(tp, c)| (tp.topic.clone(), tp.partition, c.clone()))
                    .collect(),
            };
            let propose = checked.map(|()| (r.proposer)(cmd));
            return AtomicResponse::new(Box::pin(
                async move {
                    match propose {
                        Ok(p) => p.await.map(|_| ()).map_err(|err| {
                            tracing::warn!(error = %err, "offset commit not replicated");
                            GroupError::CoordinatorNotAvailable
                        }),
                        Err(e) => Err(e),
                    }
                }
                .into_actor(self)
                .map(move |result, act, _| {
                    if result.is_ok() {
                        act.offsets.extend(committed);
                    }
                    result
                }),
            ));
        }
        let result = self.supervised(ctx, Err(GroupError::CoordinatorNotAvailable), |act| {
            act.group.check_commit(
                &msg.member_id,
                msg.generation_id,
                msg.group_instance_id.as_deref(),
            )?;
            let ts = now_ms();
            let committed: Vec<(TopicPartition, CommittedOffset)> = msg
                .offsets
                .into_iter()
                .map(|(tp, offset, leader_epoch, metadata)| {
                    (
                        tp,
                        CommittedOffset {
                            offset,
                            leader_epoch,
                            metadata,
                            commit_timestamp_ms: ts,
                        },
                    )
                })
                .collect();
            if let Err(err) = act.store.commit(&act.group_id, &committed) {
                tracing::error!(group = %act.group_id, error = %err, "offset commit not stored");
                return Err(GroupError::CoordinatorNotAvailable);
            }
            act.offsets.extend(committed);
            Ok(())
        });
        AtomicResponse::new(Box::pin(fut::ready(result)))
    }
}

/// OffsetFetch: the committed offsets of the given partitions (all when `None`).
#[derive(Message)]
#[rtype(result = "Vec<(TopicPartition, Option<CommittedOffset>)>")]
pub struct FetchOffsets(pub Option<Vec<TopicPartition>>);

impl Handler<FetchOffsets> for GroupCoordinator {
    type Result = MessageResult<FetchOffsets>;

    fn handle(&mut self, msg: FetchOffsets, _ctx: &mut Self::Context) -> Self::Result {
        self.refresh_offsets();
        MessageResult(match msg.0 {
            Some(tps) => tps
                .into_iter()
                .map(|tp| {
                    let c = self.offsets.get(&tp).cloned();
                    (tp, c)
                })
                .collect(),
            None => self
                .offsets
                .iter()
                .map(|(tp, c)| (tp.clone(), Some(c.clone())))
                .collect(),
        })
    }
}

/// A topic was deleted: its committed offsets go with it, as in Kafka.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct DropTopicOffsets(pub String);

impl Handler<DropTopicOffsets> for GroupCoordinator {
    type Result = ();

    fn handle(&mut self, msg: DropTopicOffsets, _ctx: &mut Self::Context) {
        let gone: Vec<TopicPartition> = self
            .offsets
            .keys()
            .filter(|tp| tp.topic == msg.0)
            .cloned()
            .collect();
        if gone.is_empty() {
            return;
        }
        match self.store.delete_offsets(&self.group_id, &gone) {
            Ok(()) => {
                for tp in &gone {
                    self.offsets.remove(tp);
                }
                // (The quorum drops a deleted topic's offsets when it applies the deletion.)
            }
            Err(err) => {
                tracing::error!(group = %self.group_id, error = %err, "cannot drop offsets of a deleted topic")
            }
        }
    }
}

/// OffsetDelete: deletes the committed offsets of the partitions [`Group::offsets_deletable`]
/// allows; answers each partition's outcome (`None`: deleted).
#[derive(Message)]
#[rtype(result = "Result<Vec<(TopicPartition, Option<GroupError>)>, GroupError>")]
pub struct DeleteOffsets {
    /// The partitions whose offsets to delete.
    pub partitions: Vec<TopicPartition>,
    /// Reads the topics of a member's `consumer` protocol metadata (decoded at the edge).
    pub topics_of: fn(&bytes::Bytes) -> Option<Vec<String>>,
}

impl Handler<DeleteOffsets> for GroupCoordinator {
    type Result = Result<Vec<(TopicPartition, Option<GroupError>)>, GroupError>;

    fn handle(&mut self, msg: DeleteOffsets, _ctx: &mut Self::Context) -> Self::Result {
        let outcome = self
            .group
            .offsets_deletable(&msg.partitions, msg.topics_of)?;
        let deletable: Vec<TopicPartition> = outcome
            .iter()
            .filter(|(_, err)| err.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        if self
            .store
            .delete_offsets(&self.group_id, &deletable)
            .is_err()
        {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        for tp in &deletable {
            self.offsets.remove(tp);
        }
        self.forget_replicated(Some(deletable));
        Ok(outcome)
    }
}

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the chosen protocol.
    pub metadata: Bytes,
    /// Assignment.
    pub assignment: Bytes,
}

/// A group as DescribeGroups / ListGroups show it.
#[derive(Debug, Clone)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// Lifecycle state.
    pub state: GroupState,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// Generation.
    pub generation_id: i32,
    /// Members.
    pub members: Vec<MemberDescription>,
}

/// Describe the group.
#[derive(Message)]
#[rtype(result = "GroupDescription")]
pub struct Describe;

impl Handler<Describe> for GroupCoordinator {
    type Result = MessageResult<Describe>;

    fn handle(&mut self, _msg: Describe, _ctx: &mut Self::Context) -> Self::Result {
        let g = &self.group;
        let protocol = g.protocol_name.clone();
        let members = g
            .members()
            .map(|m| MemberDescription {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|(n, _)| Some(n) == protocol.as_ref())
                    .map(|(_, md)| md.clone())
                    .unwrap_or_default(),
                // Kafka shows assignments only once the group is stable.
                assignment: if g.state == GroupState::Stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        MessageResult(GroupDescription {
            group_id: self.group_id.clone(),
            state: g.state,
            protocol_type: g.protocol_type.clone(),
            protocol_name: protocol,
            generation_id: g.generation_id,
            members,
        })
    }
}

/// DeleteGroups: only an empty group can be deleted; its offsets go with it.
#[derive(Message)]
#[rtype(result = "Result<(), GroupError>")]
pub struct DeleteGroup;

impl Handler<DeleteGroup> for GroupCoordinator {
    type Result = AtomicResponse<Self, Result<(), GroupError>>;

    /// Nothing changes until the deletion is stored: in cluster mode the quorum's
    /// `DeleteOffsets` is awaited first (else a coordinator rebuilt for the group would read
    /// the offsets back from the quorum), then the local record goes, and only then is the
    /// group marked dead. A failure at either step leaves the group as it was and answers
    /// COORDINATOR_NOT_AVAILABLE, so the client's retry can succeed.
    fn handle(&mut self, _msg: DeleteGroup, _ctx: &mut Self::Context) -> Self::Result {
        if let Err(err) = self.group.check_delete() {
            return AtomicResponse::new(Box::pin(fut::ready(Err(err))));
        }
        let replicated = self.replicated.as_ref().map(|r| {
            (r.proposer)(crate::cluster::Command::DeleteOffsets {
                group: self.group_id.clone(),
                partitions: None,
            })
        });
        AtomicResponse::new(Box::pin(
            async move {
                match replicated {
                    Some(propose) => propose.await.map(|_| ()).map_err(|err| {
                        tracing::warn!(error = %err, "group deletion not replicated");
                        GroupError::CoordinatorNotAvailable
                    }),
                    None => Ok(()),
                }
            }
            .into_actor(self)
            .map(|replicated, act, ctx| {
                replicated?;
                act.finish_delete(ctx)
            }),
        ))
    }
}

impl GroupCoordinator {
    /// The local half of a deletion, once the quorum (in cluster mode) has it: the stored
    /// record, then the in-memory group, then the end of this coordinator.
    fn finish_delete(&mut self, ctx: &mut Context<Self>) -> Result<(), GroupError> {
        self.group.check_delete()?;
        if let Err(err) = self.store.delete_group(&self.group_id) {
            tracing::error!(group = %self.group_id, error = %err, "group deletion not stored");
            return Err(GroupError::CoordinatorNotAvailable);
        }
        self.group.delete()?;
        self.offsets.clear();
        self.persisted_generation = self.group.generation_id;
        // The end of this coordinator (see the module doc): sent before the reply, so the
        // supervisor forgets it before the client can ask for the group again.
        for timer in self.timers.drain(..) {
            ctx.cancel_future(timer);
        }
        self.supervisor.do_send(GroupEvent::Deleted {
            group_id: self.group_id.clone(),
        });
        Ok(())
    }
}
