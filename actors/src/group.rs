//! The classic consumer-group protocol as a pure state machine: members, generations,
//! protocol selection, leader choice, static membership and session expiry — plain data in,
//! decisions out, no I/O and no clock of its own (time is an argument), so it can be tested
//! exhaustively. The GroupCoordinator actor feeds it requests and carries out its replies.
//!
//! Legal transitions (Kafka's):
//! Empty → PreparingRebalance (a member joins)
//! PreparingRebalance → CompletingRebalance (every member rejoined, or the rebalance
//!   timeout passed) | Empty (nobody rejoined)
//! CompletingRebalance → Stable (the leader synced) | PreparingRebalance (membership changed)
//! Stable → PreparingRebalance (a member joins, leaves, changes protocols or expires)
//! any → Dead (the group is deleted)

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::TopicPartition;

/// Kafka's `group.min.session.timeout.ms` default.
pub const SESSION_TIMEOUT_MS_MIN: i32 = 6_000;
/// Kafka's `group.max.session.timeout.ms` default.
pub const SESSION_TIMEOUT_MS_MAX: i32 = 1_800_000;
/// Kafka's `group.initial.rebalance.delay.ms` default: an empty group waits this long for
/// more members before the first rebalance completes.
pub const INITIAL_REBALANCE_DELAY_MS: u64 = 3_000;
/// Members per group, so one group cannot grow without bound.
pub const MEMBERS_MAX: usize = 1_000;

/// The group lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Members have their assignments.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// Kafka's name, as DescribeGroups and ListGroups report it.
    pub fn kafka_name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Group protocol errors, mapped to Kafka codes by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupError {
    /// UNKNOWN_MEMBER_ID (25).
    UnknownMemberId,
    /// ILLEGAL_GENERATION (22).
    IllegalGeneration,
    /// REBALANCE_IN_PROGRESS (27).
    RebalanceInProgress,
    /// INCONSISTENT_GROUP_PROTOCOL (23).
    InconsistentGroupProtocol,
    /// INVALID_SESSION_TIMEOUT (26).
    InvalidSessionTimeout,
    /// MEMBER_ID_REQUIRED (79): rejoin with the member id given.
    MemberIdRequired,
    /// FENCED_INSTANCE_ID (82).
    FencedInstanceId,
    /// GROUP_MAX_SIZE_REACHED (81).
    GroupMaxSizeReached,
    /// NON_EMPTY_GROUP (68).
    NonEmptyGroup,
    /// GROUP_ID_NOT_FOUND (69).
    GroupIdNotFound,
    /// COORDINATOR_NOT_AVAILABLE (15): the group was deleted meanwhile.
    CoordinatorNotAvailable,
    /// GROUP_SUBSCRIBED_TO_TOPIC (86): an offset of a topic the group consumes.
    GroupSubscribedToTopic,
}

/// A JoinGroup request, decoded.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Member id ("" for a new member).
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Protocol type (e.g. "consumer").
    pub protocol_type: String,
    /// Supported protocols with their metadata, in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a new member must first obtain its member id (KIP-394).
    pub require_known_member_id: bool,
}

/// A member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOutcome {
    /// Error, if any.
    pub error: Option<GroupError>,
    /// Generation.
    pub generation_id: i32,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader: String,
    /// This member's id.
    pub member_id: String,
    /// All members (for the leader only).
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    fn error(error: GroupError, member_id: &str) -> Self {
        JoinOutcome {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Error, if any.
    pub error: Option<GroupError>,
    /// Protocol type.
    pub protocol_type: Option<String>,
    /// Chosen protocol.
    pub protocol_name: Option<String>,
    /// This member's assignment.
    pub assignment: Bytes,
}

impl SyncOutcome {
    fn error(error: GroupError) -> Self {
        SyncOutcome {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A reply to a parked request, addressed by member id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answer a parked JoinGroup.
    Join(String, JoinOutcome),
    /// Answer a parked SyncGroup.
    Sync(String, SyncOutcome),
}

/// What a JoinGroup or SyncGroup call leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<T> {
    /// Answer now.
    Now(T),
    /// Park the request under this member id until a [`Reply`] releases it.
    Park(String),
}

/// A static member that replaced its old member id.
#[derive(Debug, Clone)]
struct StaticRejoin {
    old_member_id: String,
    was_leader: bool,
}

/// One member.
#[derive(Debug, Clone)]
pub struct Member {
    /// Member id.
    pub member_id: String,
    /// Static id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout: Duration,
    /// Rebalance timeout.
    pub rebalance_timeout: Duration,
    /// Protocols in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// Current assignment.
    pub assignment: Bytes,
    last_heartbeat: Instant,
    awaiting_join: bool,
    awaiting_sync: bool,
}

/// A consumer group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Group id.
    pub group_id: String,
    /// Lifecycle state.
    pub state: GroupState,
    /// Generation (bumped by every completed rebalance).
    pub generation_id: i32,
    /// Protocol type of the members.
    pub protocol_type: Option<String>,
    /// Chosen protocol of the current generation.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader: Option<String>,
    members: BTreeMap<String, Member>,
    join_order: Vec<String>,
    instances: HashMap<String, String>,
    pending: HashMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    initial_delay_until: Option<Instant>,
    next_member: u64,
}

impl Group {
    /// An empty group (with a persisted generation, if any).
    pub fn new(group_id: &str, generation_id: i32, protocol_type: Option<String>) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id,
            protocol_type,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            join_order: Vec::new(),
            instances: HashMap::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            next_member: 0,
        }
    }

    /// Members, by member id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.join_order.iter().filter_map(|id| self.members.get(id))
    }

    /// Whether `member_id` belongs to the current generation.
    pub fn is_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        format!(
            "{client_id}-{}-{}",
            self.next_member,
            uuid::Uuid::new_v4().simple()
        )
    }

    fn start_rebalance(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for the old generation's assignment must rejoin.
            for m in self.members.values_mut() {
                if m.awaiting_sync {
                    m.awaiting_sync = false;
                    replies.push(Reply::Sync(
                        m.member_id.clone(),
                        SyncOutcome::error(GroupError::RebalanceInProgress),
                    ));
                }
            }
        }
        if self.state == GroupState::Empty {
            self.initial_delay_until =
                Some(now + Duration::from_millis(INITIAL_REBALANCE_DELAY_MS));
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + timeout);
        self.state = GroupState::PreparingRebalance;
    }

    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        self.join_order.retain(|id| id != member_id);
        if let Some(instance) = &member.group_instance_id {
            if self.instances.get(instance).map(String::as_str) == Some(member_id) {
                self.instances.remove(instance);
            }
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
        Some(member)
    }

    fn after_membership_loss(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.generation_id += 1;
            self.protocol_name = None;
            self.leader = None;
            self.rebalance_deadline = None;
        } else if self.state != GroupState::PreparingRebalance {
            self.start_rebalance(now, replies);
        }
    }

    /// Handles a JoinGroup. Replies to other parked members may come out of it.
    pub fn join(
        &mut self,
        req: JoinRequest,
        now: Instant,
        replies: &mut Vec<Reply>,
    ) -> Step<JoinOutcome> {
        if !(SESSION_TIMEOUT_MS_MIN..=SESSION_TIMEOUT_MS_MAX).contains(&req.session_timeout_ms) {
            return Step::Now(JoinOutcome::error(
                GroupError::InvalidSessionTimeout,
                &req.member_id,
            ));
        }
        if self.state == GroupState::Dead {
            return Step::Now(JoinOutcome::error(
                GroupError::CoordinatorNotAvailable,
                &req.member_id,
            ));
        }
        let compatible = req
            .protocols
            .iter()
            .any(|(name, _)| self.candidate_protocols().iter().any(|c| c == name));
        if req.protocols.is_empty()
            || (!self.members.is_empty()
                && (self.protocol_type.as_deref() != Some(req.protocol_type.as_str())
                    || !compatible))
        {
            return Step::Now(JoinOutcome::error(
                GroupError::InconsistentGroupProtocol,
                &req.member_id,
            ));
        }
        let (member_id, rejoined) = match self.resolve_member_id(&req, now) {
            Ok(resolved) => resolved,
            Err(outcome) => return Step::Now(*outcome),
        };
        if let Some(rejoin) = rejoined {
            if let Some(outcome) = self.static_rejoin(&member_id, rejoin, &req, now) {
                return Step::Now(outcome);
            }
        }
        let known = self.members.contains_key(&member_id);
        if !known && self.members.len() >= MEMBERS_MAX {
            return Step::Now(JoinOutcome::error(
                GroupError::GroupMaxSizeReached,
                &member_id,
            ));
        }
        let unchanged = known
            && self
                .members
                .get(&member_id)
                .is_some_and(|m| m.protocols == req.protocols);
        let is_leader = self.leader.as_deref() == Some(member_id.as_str());
        // A follower rejoining without changes keeps its generation (no rebalance).
        if unchanged
            && !is_leader
            && matches!(
                self.state,
                GroupState::Stable | GroupState::CompletingRebalance
            )
        {
            if let Some(m) = self.members.get_mut(&member_id) {
                m.last_heartbeat = now;
            }
            return Step::Now(self.join_outcome(&member_id, false));
        }
        self.upsert_member(&member_id, req, now);
        if self.state != GroupState::PreparingRebalance {
            self.start_rebalance(now, replies);
        }
        self.poll(now, replies);
        if let Some(idx) = replies
            .iter()
            .position(|r| matches!(r, Reply::Join(id, _) if *id == member_id))
        {
            if let Reply::Join(_, outcome) = replies.remove(idx) {
                return Step::Now(outcome);
            }
        }
        Step::Park(member_id)
    }

    /// A static member that came back under a new member id, in a group whose chosen
    /// protocol it still supports, keeps its assignment without a rebalance (Kafka's
    /// KIP-345). A returning leader is told the *old* leader id, so it does not compute
    /// a new assignment; the group's leader becomes its new id.
    fn static_rejoin(
        &mut self,
        member_id: &str,
        rejoin: StaticRejoin,
        req: &JoinRequest,
        now: Instant,
    ) -> Option<JoinOutcome> {
        let chosen = self.protocol_name.clone()?;
        if self.state != GroupState::Stable || !req.protocols.iter().any(|(n, _)| *n == chosen) {
            return None;
        }
        let member = self.members.get_mut(member_id)?;
        member.protocols = req.protocols.clone();
        member.last_heartbeat = now;
        member.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        let mut outcome = self.join_outcome(member_id, false);
        if rejoin.was_leader {
            outcome.leader = rejoin.old_member_id;
            self.leader = Some(member_id.to_string());
        }
        Some(outcome)
    }

    fn resolve_member_id(
        &mut self,
        req: &JoinRequest,
        now: Instant,
    ) -> Result<(String, Option<StaticRejoin>), Box<JoinOutcome>> {
        if !req.member_id.is_empty() {
            // Its instance id now names another member: fenced (see `check_member`).
            if let Some(instance) = &req.group_instance_id {
                let current = self.instances.get(instance);
                if current.is_some_and(|id| *id != req.member_id) {
                    return Err(Box::new(JoinOutcome::error(
                        GroupError::FencedInstanceId,
                        &req.member_id,
                    )));
                }
            }
            if self.members.contains_key(&req.member_id) {
                if let Some(instance) = &req.group_instance_id {
                    if self.instances.get(instance) != Some(&req.member_id) {
                        return Err(Box::new(JoinOutcome::error(
                            GroupError::FencedInstanceId,
                            &req.member_id,
                        )));
                    }
                }
                return Ok((req.member_id.clone(), None));
            }
            if self.pending.remove(&req.member_id).is_some() {
                return Ok((req.member_id.clone(), None));
            }
            return Err(Box::new(JoinOutcome::error(
                GroupError::UnknownMemberId,
                &req.member_id,
            )));
        }
        let new_id = self.new_member_id(&req.client_id);
        if let Some(instance) = &req.group_instance_id {
            // A static member coming back takes over its old member's place.
            let mut rejoin = None;
            if let Some(old) = self.instances.get(instance).cloned() {
                let was_leader = self.leader.as_deref() == Some(old.as_str());
                if let Some(mut member) = self.remove_member(&old) {
                    member.member_id = new_id.clone();
                    self.members.insert(new_id.clone(), member);
                    self.join_order.push(new_id.clone());
                    if was_leader {
                        self.leader = Some(new_id.clone());
                    }
                    rejoin = Some(StaticRejoin {
                        old_member_id: old,
                        was_leader,
                    });
                }
            }
            self.instances.insert(instance.clone(), new_id.clone());
            return Ok((new_id, rejoin));
        }
        if req.require_known_member_id {
            self.pending.insert(new_id.clone(), now);
            return Err(Box::new(JoinOutcome::error(
                GroupError::MemberIdRequired,
                &new_id,
            )));
        }
        Ok((new_id, None))
    }

    fn upsert_member(&mut self, member_id: &str, req: JoinRequest, now: Instant) {
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        let member = self
            .members
            .entry(member_id.to_string())
            .or_insert_with(|| Member {
                member_id: member_id.to_string(),
                group_instance_id: req.group_instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout: Duration::ZERO,
                rebalance_timeout: Duration::ZERO,
                protocols: Vec::new(),
                assignment: Bytes::new(),
                last_heartbeat: now,
                awaiting_join: false,
                awaiting_sync: false,
            });
        member.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        member.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
        member.protocols = req.protocols;
        member.last_heartbeat = now;
        member.awaiting_join = true;
        if !self.join_order.iter().any(|id| id == member_id) {
            self.join_order.push(member_id.to_string());
        }
    }

    fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            candidates.retain(|c| m.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        // Most votes wins; ties go to the earliest candidate in the first member's order.
        candidates
            .iter()
            .max_by_key(|c| {
                (
                    votes.get(c.as_str()).copied().unwrap_or(0),
                    std::cmp::Reverse(candidates.iter().position(|x| x == *c)),
                )
            })
            .cloned()
    }

    fn join_outcome(&self, member_id: &str, with_members: bool) -> JoinOutcome {
        let protocol = self.protocol_name.clone();
        let members = if with_members {
            self.members()
                .map(|m| JoinedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m
                        .protocols
                        .iter()
                        .find(|(n, _)| Some(n) == protocol.as_ref())
                        .map(|(_, md)| md.clone())
                        .unwrap_or_default(),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: protocol,
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
        }
    }

    /// Advances time: completes a rebalance that is ready or timed out, and expires members
    /// whose session ran out. Replies for parked requests come out.
    pub fn poll(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        self.expire(now, replies);
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join);
        let delayed = self.initial_delay_until.is_some_and(|t| now < t);
        let timed_out = self.rebalance_deadline.is_some_and(|t| now >= t);
        if (all_joined && !delayed) || timed_out {
            self.complete_join(now, replies);
        }
    }

    fn expire(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        self.pending.retain(|_, since| {
            now.duration_since(*since) < Duration::from_millis(SESSION_TIMEOUT_MS_MAX as u64)
        });
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                !m.awaiting_join && now.duration_since(m.last_heartbeat) > m.session_timeout
            })
            .map(|m| m.member_id.clone())
            .collect();
        if expired.is_empty() {
            return;
        }
        for id in &expired {
            if let Some(m) = self.remove_member(id) {
                if m.awaiting_sync {
                    replies.push(Reply::Sync(
                        id.clone(),
                        SyncOutcome::error(GroupError::UnknownMemberId),
                    ));
                }
            }
        }
        self.after_membership_loss(now, replies);
    }

    fn complete_join(&mut self, now: Instant, replies: &mut Vec<Reply>) {
        let late: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join)
            .map(|m| m.member_id.clone())
            .collect();
        for id in late {
            self.remove_member(&id);
        }
        self.initial_delay_until = None;
        self.rebalance_deadline = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.generation_id += 1;
            self.protocol_name = None;
            return;
        }
        self.generation_id += 1;
        self.protocol_name = self.select_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self.join_order.first().cloned();
        }
        self.state = GroupState::CompletingRebalance;
        let leader = self.leader.clone().unwrap_or_default();
        let ids: Vec<String> = self.join_order.clone();
        for id in ids {
            let outcome = self.join_outcome(&id, id == leader);
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = false;
                m.last_heartbeat = now;
                m.assignment = Bytes::new();
            }
            replies.push(Reply::Join(id, outcome));
        }
    }

    fn check_member(
        &self,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        // A static member replaced by a newer one with its instance id is fenced, not
        // unknown: UNKNOWN_MEMBER_ID would make it rejoin and fence the newer one in turn,
        // and the two would take the partitions from each other for ever (KIP-345).
        if let Some(instance) = instance {
            let current = self.instances.get(instance).map(String::as_str);
            if current.is_some_and(|id| id != member_id) {
                return Err(GroupError::FencedInstanceId);
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        if let Some(instance) = instance {
            if self.instances.get(instance).map(String::as_str) != Some(member_id) {
                return Err(GroupError::FencedInstanceId);
            }
        }
        if generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(())
    }

    /// Handles a SyncGroup; the leader's sync releases the parked followers.
    pub fn sync(
        &mut self,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
        replies: &mut Vec<Reply>,
    ) -> Step<SyncOutcome> {
        if let Err(e) = self.check_member(member_id, generation_id, instance) {
            return Step::Now(SyncOutcome::error(e));
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat = now;
        }
        match self.state {
            GroupState::PreparingRebalance => {
                Step::Now(SyncOutcome::error(GroupError::RebalanceInProgress))
            }
            GroupState::Stable => Step::Now(self.sync_outcome(member_id)),
            GroupState::CompletingRebalance => {
                if self.leader.as_deref() != Some(member_id) {
                    if let Some(m) = self.members.get_mut(member_id) {
                        m.awaiting_sync = true;
                    }
                    return Step::Park(member_id.to_string());
                }
                for (id, assignment) in assignments {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.assignment = assignment;
                    }
                }
                self.state = GroupState::Stable;
                let waiting: Vec<String> = self
                    .members
                    .values()
                    .filter(|m| m.awaiting_sync)
                    .map(|m| m.member_id.clone())
                    .collect();
                for id in waiting {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.awaiting_sync = false;
                    }
                    replies.push(Reply::Sync(id.clone(), self.sync_outcome(&id)));
                }
                Step::Now(self.sync_outcome(member_id))
            }
            GroupState::Empty | GroupState::Dead => {
                Step::Now(SyncOutcome::error(GroupError::UnknownMemberId))
            }
        }
    }

    fn sync_outcome(&self, member_id: &str) -> SyncOutcome {
        SyncOutcome {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Handles a Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
        now: Instant,
    ) -> Result<(), GroupError> {
        if !self.members.contains_key(member_id) {
            // A replaced static member hears FENCED_INSTANCE_ID (`check_member`).
            self.check_member(member_id, generation_id, instance)?;
            return Err(GroupError::UnknownMemberId);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat = now;
        }
        if self.state == GroupState::PreparingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        self.check_member(member_id, generation_id, instance)
    }

    /// Handles a LeaveGroup of one member, by member id or (static) instance id.
    pub fn leave(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        now: Instant,
        replies: &mut Vec<Reply>,
    ) -> Result<(), GroupError> {
        let id = match instance {
            Some(instance) => match self.instances.get(instance) {
                Some(id) if member_id.is_empty() || id == member_id => id.clone(),
                Some(_) => return Err(GroupError::FencedInstanceId),
                None => return Err(GroupError::UnknownMemberId),
            },
            None => member_id.to_string(),
        };
        let member = self.remove_member(&id).ok_or(GroupError::UnknownMemberId)?;
        if member.awaiting_join {
            replies.push(Reply::Join(
                id.clone(),
                JoinOutcome::error(GroupError::UnknownMemberId, &id),
            ));
        }
        if member.awaiting_sync {
            replies.push(Reply::Sync(
                id,
                SyncOutcome::error(GroupError::UnknownMemberId),
            ));
        }
        self.after_membership_loss(now, replies);
        self.poll(now, replies);
        Ok(())
    }

    /// Whether an offset commit from `member_id` at `generation_id` is accepted. A commit
    /// with generation -1 and no member is a "simple" commit, allowed only while the group
    /// has no members.
    pub fn check_commit(
        &self,
        member_id: &str,
        generation_id: i32,
        instance: Option<&str>,
    ) -> Result<(), GroupError> {
        if generation_id < 0 && member_id.is_empty() {
            return if self.members.is_empty() {
                Ok(())
            } else {
                Err(GroupError::UnknownMemberId)
            };
        }
        self.check_member(member_id, generation_id, instance)?;
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Which of `partitions` OffsetDelete may delete, as Kafka decides: none of a deleted
    /// group (GROUP_ID_NOT_FOUND); in a consumer group, those of topics no member subscribes
    /// to — the others get GROUP_SUBSCRIBED_TO_TOPIC (every topic counts as subscribed
    /// while the subscriptions cannot be read: no protocol chosen yet, or metadata
    /// `topics_of` cannot decode); in a group of another protocol, all once it is empty,
    /// else none (NON_EMPTY_GROUP). `topics_of` reads the topics of one member's
    /// `consumer` protocol metadata (the protocol edge decodes it).
    pub fn offsets_deletable(
        &self,
        partitions: &[TopicPartition],
        topics_of: fn(&Bytes) -> Option<Vec<String>>,
    ) -> Result<Vec<(TopicPartition, Option<GroupError>)>, GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::GroupIdNotFound);
        }
        let subscribed: Option<BTreeSet<String>> = if self.members.is_empty() {
            Some(BTreeSet::new())
        } else if self.protocol_type.as_deref() == Some("consumer") {
            self.subscribed_topics(topics_of)
        } else {
            return Err(GroupError::NonEmptyGroup);
        };
        Ok(partitions
            .iter()
            .map(|tp| {
                let taken = subscribed.as_ref().is_none_or(|s| s.contains(&tp.topic));
                (
                    tp.clone(),
                    taken.then_some(GroupError::GroupSubscribedToTopic),
                )
            })
            .collect())
    }

    /// The topics the members of a consumer group subscribe to, from their metadata of the
    /// chosen protocol; `None` when there is none yet or one cannot be read.
    fn subscribed_topics(
        &self,
        topics_of: fn(&Bytes) -> Option<Vec<String>>,
    ) -> Option<BTreeSet<String>> {
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            let (_, metadata) = member.protocols.iter().find(|(name, _)| name == protocol)?;
            topics.extend(topics_of(metadata)?);
        }
        Some(topics)
    }

    /// Whether the group may be deleted (it exists and has no members), without changing
    /// it: the deletion is stored first, then `delete` marks it.
    pub fn check_delete(&self) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::GroupIdNotFound);
        }
        if !self.members.is_empty() {
            return Err(GroupError::NonEmptyGroup);
        }
        Ok(())
    }

    /// Marks the group deleted; fails if it still has members.
    pub fn delete(&mut self) -> Result<(), GroupError> {
        self.check_delete()?;
        self.state = GroupState::Dead;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(member_id: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            group_instance_id: instance.map(str::to_string),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"md"))],
            require_known_member_id: true,
        }
    }

    /// Joins a new dynamic member through the MEMBER_ID_REQUIRED round trip.
    fn join_new(g: &mut Group, now: Instant, replies: &mut Vec<Reply>) -> Step<JoinOutcome> {
        let Step::Now(first) = g.join(req("", None), now, replies) else {
            panic!("expected member id")
        };
        assert_eq!(first.error, Some(GroupError::MemberIdRequired));
        g.join(req(&first.member_id, None), now, replies)
    }

    fn parked(step: Step<JoinOutcome>) -> String {
        match step {
            Step::Park(id) => id,
            Step::Now(o) => panic!("expected to park, got {o:?}"),
        }
    }

    #[test]
    fn two_members_rebalance_after_initial_delay_then_sync() {
        let t0 = Instant::now();
        let mut g = Group::new("g", 0, None);
        let mut replies = Vec::new();
        let a = parked(join_new(&mut g, t0, &mut replies));
        let b = parked(join_new(&mut g, t0, &mut replies));
        assert!(
            replies.is_empty(),
            "the initial delay holds the first rebalance"
        );
        g.poll(
            t0 + Duration::from_millis(INITIAL_REBALANCE_DELAY_MS + 1),
            &mut replies,
        );
        assert_eq!(g.state, GroupState::CompletingRebalance);
        assert_eq!(g.generation_id, 1);
        let joins = std::mem::take(&mut replies);
        assert_eq!(joins.len(), 2);
        let leader = g.leader.clone().expect("leader");
        assert_eq!(leader, a);
        for r in &joins {
            let Reply::Join(id, o) = r else {
                panic!("join reply")
            };
            assert_eq!(o.members.len(), if *id == leader { 2 } else { 0 });
            assert_eq!(o.protocol_name.as_deref(), Some("range"));
        }
        let t1 = t0 + Duration::from_secs(4);
        assert_eq!(
            g.sync(&b, 1, None, vec![], t1, &mut replies),
            Step::Park(b.clone())
        );
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ];
        let Step::Now(mine) = g.sync(&a, 1, None, assignments, t1, &mut replies) else {
            panic!("leader answered")
        };
        assert_eq!(mine.assignment, Bytes::from_static(b"A"));
        assert_eq!(
            replies,
            vec![Reply::Sync(
                b.clone(),
                SyncOutcome {
                    error: None,
                    protocol_type: Some("consumer".into()),
                    protocol_name: Some("range".into()),
                    assignment: Bytes::from_static(b"B"),
                }
            )]
        );
        assert_eq!(g.state, GroupState::Stable);
    }

    #[test]
    fn stale_generation_and_unknown_member_are_refused() {
        let t0 = Instant::now();
        let mut g = Group::new("g", 0, None);
        let mut replies = Vec::new();
        let a = parked(join_new(&mut g, t0, &mut replies));
        g.poll(t0 + Duration::from_secs(4), &mut replies);
        assert_eq!(
            g.sync(&a, 0, None, vec![], t0, &mut replies),
            Step::Now(SyncOutcome::error(GroupError::IllegalGeneration))
        );
        assert_eq!(
            g.heartbeat("nobody", 1, None, t0),
            Err(GroupError::UnknownMemberId)
        );
        assert_eq!(
            g.check_commit(&a, 7, None),
            Err(GroupError::IllegalGeneration)
        );
        assert_eq!(
            g.check_commit("", -1, None),
            Err(GroupError::UnknownMemberId),
            "simple commits need an empty group"
        );
    }

    #[test]
    fn silent_member_expires_and_the_rest_rebalance() {
        let t0 = Instant::now();
        let mut g = Group::new("g", 0, None);
        let mut replies = Vec::new();
        let a = parked(join_new(&mut g, t0, &mut replies));
        let b = parked(join_new(&mut g, t0, &mut replies));
        let t1 = t0 + Duration::from_secs(4);
        g.poll(t1, &mut replies);
        replies.clear();
        let _ = g.sync(&a, 1, None, vec![], t1, &mut replies);
        // Only `a` keeps heartbeating.
        for s in 5..=15 {
            let _ = g.heartbeat(&a, 1, None, t0 + Duration::from_secs(s));
            g.poll(t0 + Duration::from_secs(s), &mut replies);
        }
        assert!(!g.is_member(&b), "b expired after its 10 s session");
        assert_eq!(g.state, GroupState::PreparingRebalance);
        assert_eq!(
            g.heartbeat(&a, 1, None, t0 + Duration::from_secs(15)),
            Err(GroupError::RebalanceInProgress)
        );
        let _ = g.join(req(&a, None), t0 + Duration::from_secs(15), &mut replies);
        assert_eq!(g.state, GroupState::CompletingRebalance);
        assert_eq!(g.generation_id, 2);
    }

    #[test]
    fn static_member_rejoining_keeps_assignment_without_rebalance() {
        let t0 = Instant::now();
        let mut g = Group::new("g", 0, None);
        let mut replies = Vec::new();
        let a = parked(g.join(req("", Some("i-a")), t0, &mut replies));
        let b = parked(g.join(req("", Some("i-b")), t0, &mut replies));
        let t1 = t0 + Duration::from_secs(4);
        g.poll(t1, &mut replies);
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"A")),
            (b.clone(), Bytes::from_static(b"B")),
        ];
        let leader = g.leader.clone().expect("leader");
        let follower = if leader == a { b.clone() } else { a.clone() };
        let _ = g.sync(&leader, 1, None, assignments, t1, &mut replies);
        assert_eq!(g.state, GroupState::Stable);
        // The follower restarts (new connection, no member id) within its session.
        let instance = if follower == a { "i-a" } else { "i-b" };
        let Step::Now(o) = g.join(req("", Some(instance)), t1, &mut replies) else {
            panic!("answered at once")
        };
        assert_eq!(o.generation_id, 1, "no new generation");
        assert_eq!(g.state, GroupState::Stable);
        let Step::Now(s) = g.sync(&o.member_id, 1, Some(instance), vec![], t1, &mut replies) else {
            panic!()
        };
        let expected = if follower == a {
            Bytes::from_static(b"A")
        } else {
            Bytes::from_static(b"B")
        };
        assert_eq!(s.assignment, expected);
        // The replaced member is fenced wherever it shows up again (KIP-345), so that it
        // stops instead of rejoining and fencing its replacement in turn.
        assert_eq!(
            g.sync(&follower, 1, Some(instance), vec![], t1, &mut replies),
            Step::Now(SyncOutcome::error(GroupError::FencedInstanceId))
        );
        assert_eq!(
            g.heartbeat(&follower, 1, Some(instance), t1),
            Err(GroupError::FencedInstanceId)
        );
        assert_eq!(
            g.check_commit(&follower, 1, Some(instance)),
            Err(GroupError::FencedInstanceId)
        );
        let Step::Now(rejoin) = g.join(req(&follower, Some(instance)), t1, &mut replies) else {
            panic!("answered at once")
        };
        assert_eq!(rejoin.error, Some(GroupError::FencedInstanceId));
        assert!(g.is_member(&o.member_id), "the replacement stays");
    }

    #[test]
    fn leave_of_last_member_empties_the_group() {
        let t0 = Instant::now();
        let mut g = Group::new("g", 0, None);
        let mut replies = Vec::new();
        let a = parked(join_new(&mut g, t0, &mut replies));
        g.poll(t0 + Duration::from_secs(4), &mut replies);
        g.leave(&a, None, t0, &mut replies).expect("leave");
        assert_eq!(g.state, GroupState::Empty);
        assert_eq!(g.check_commit("", -1, None), Ok(()));
        assert_eq!(
            g.leave(&a, None, t0, &mut replies),
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn incompatible_protocols_are_refused() {
        let t0 = Instant::now();
        let mut g = Group::new("g", 0, None);
        let mut replies = Vec::new();
        parked(join_new(&mut g, t0, &mut replies));
        let mut other = req("", None);
        other.protocols = vec![("roundrobin".into(), Bytes::new())];
        let Step::Now(o) = g.join(other, t0, &mut replies) else {
            panic!()
        };
        assert_eq!(o.error, Some(GroupError::InconsistentGroupProtocol));
    }

    #[test]
    fn static_leader_rejoining_keeps_generation_and_hears_the_old_leader_id() {
        let t0 = Instant::now();
        let mut g = Group::new("g", 0, None);
        let mut replies = Vec::new();
        let a = parked(g.join(req("", Some("i-a")), t0, &mut replies));
        let b = parked(g.join(req("", Some("i-b")), t0, &mut replies));
        let t1 = t0 + Duration::from_secs(4);
        g.poll(t1, &mut replies);
        let leader = g.leader.clone().expect("leader");
        let instance = if leader == a { "i-a" } else { "i-b" };
        let _ = b;
        let _ = g.sync(&leader, 1, None, vec![], t1, &mut replies);
        let Step::Now(o) = g.join(req("", Some(instance)), t1, &mut replies) else {
            panic!("answered at once")
        };
        assert_eq!(o.generation_id, 1);
        assert_eq!(
            o.leader, leader,
            "told the old leader id, so it does not reassign"
        );
        assert_eq!(g.leader.as_deref(), Some(o.member_id.as_str()));
        assert_eq!(g.state, GroupState::Stable);
    }

    #[test]
    fn deleting_twice_is_group_id_not_found() {
        let mut g = Group::new("g", 0, None);
        assert_eq!(g.delete(), Ok(()));
        assert_eq!(g.delete(), Err(GroupError::GroupIdNotFound));
    }
}
