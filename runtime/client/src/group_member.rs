//! Membership of a consumer group: the client side of Kafka's classic group protocol.
//!
//! `GroupMembership` joins a group (JoinGroup, then SyncGroup), lets the leader compute
//! every member's assignment, heartbeats when its caller asks, commits offsets as its
//! member and generation, and leaves. It owns no task and no timer: the caller heartbeats
//! every `heartbeat_interval_ms` and calls `join` again when a heartbeat (or a commit) says
//! the group rebalances, so a rebalance happens where the caller can take it (a stream
//! thread between two batches). One request is in flight at a time, on one connection to
//! the coordinator.
//!
//! Subscriptions and assignments travel in the consumer protocol (protocol type
//! `consumer`, `ConsumerProtocolSubscription` / `ConsumerProtocolAssignment`), so Kafka's
//! tools, kcat and `eddy group describe` show the members and their partitions as for any
//! consumer group; what the partitions mean to the caller travels in the opaque
//! `user_data`.
//!
//! The coordinator is found, cached and forgotten by the `GroupOffsets` the membership
//! commits through: an answer that says it moved (NOT_COORDINATOR,
//! COORDINATOR_NOT_AVAILABLE) clears it and is returned as a retriable error. Static
//! membership (`group.instance.id`) is not supported.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, HeartbeatRequest,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use kafka_protocol::ResponseError;

use super::connection::ConnectionConfig;
use super::error::ClientError;
use super::group_offsets::GroupOffsets;
use super::groups::PROTOCOL_TYPE_CONSUMER;

/// The member id of a client that has not joined (or was forgotten by the coordinator).
const NO_MEMBER_ID: &str = "";
/// The generation of a client outside any generation.
const NO_GENERATION: i32 = -1;
/// The consumer protocol version this client writes: topics and user data, nothing more.
/// Every Kafka tool reads it.
const CONSUMER_PROTOCOL_VERSION: i16 = 0;
/// The highest consumer protocol version `kafka-protocol` decodes; later versions only
/// append fields, so their prefix reads the same.
const CONSUMER_PROTOCOL_VERSION_MAX: i16 = 3;
/// JoinGroup + SyncGroup rounds one `join` may take (each MEMBER_ID_REQUIRED, rebalance in
/// progress or fenced generation costs one) before it gives up, on top of the rebalance
/// timeout that bounds them in time.
const JOIN_ROUNDS_MAX: u32 = 64;

/// Timeouts of a group member, with Kafka consumers' defaults.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// How long the coordinator keeps a member that sends no heartbeat (Kafka's
    /// `session.timeout.ms`; the coordinator accepts 6 s to 30 min by default).
    pub session_timeout_ms: u64,
    /// How long the coordinator waits for every member to rejoin during a rebalance
    /// (Kafka's `max.poll.interval.ms`); also bounds how long `join` keeps retrying.
    pub rebalance_timeout_ms: u64,
    /// How often the caller should call [`GroupMembership::heartbeat`] (Kafka's
    /// `heartbeat.interval.ms`); well below the session timeout.
    pub heartbeat_interval_ms: u64,
    /// Settings of the connections; the client id names the member in DescribeGroups.
    pub connection: ConnectionConfig,
}

impl Default for MemberConfig {
    fn default() -> Self {
        Self {
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            heartbeat_interval_ms: 3_000,
            connection: ConnectionConfig::default(),
        }
    }
}

/// What a member asks for when it joins: the topics it reads, and data for the leader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// Opaque data for the leader's assignment (e.g. the tasks the member ran before).
    pub user_data: Vec<u8>,
}

/// What the leader gives a member: partitions by topic, and data for the member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    /// The assigned partitions by topic; decoded assignments list each topic's partitions
    /// sorted and without duplicates, and leave out topics without partitions.
    pub partitions: BTreeMap<String, Vec<i32>>,
    /// Opaque data from the leader (e.g. which task each partition belongs to).
    pub user_data: Vec<u8>,
}

/// A member of the generation being formed, as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// The member's subscription.
    pub subscription: Subscription,
}

/// The generation a `join` ended in, from this member's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generation id; every completed rebalance increases it.
    pub generation_id: i32,
    /// This member's id.
    pub member_id: String,
    /// Whether this member is the leader (it computed everyone's assignment).
    pub leader: bool,
    /// This member's assignment.
    pub assignment: Assignment,
}

/// What a heartbeat learned about the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// The generation goes on; keep working and heartbeating.
    Stable,
    /// The group rebalances or no longer counts this member in its generation: call
    /// [`GroupMembership::join`] again.
    RebalanceNeeded {
        /// What the coordinator answered (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION,
        /// UNKNOWN_MEMBER_ID or FENCED_INSTANCE_ID).
        reason: ResponseError,
    },
}

/// The leader's assignor, as `join` takes it.
type Assign<'a> = dyn FnMut(&[JoinedMember]) -> BTreeMap<String, Assignment> + Send + 'a;

/// Where one JoinGroup or SyncGroup left a `join`: done, or one more round needed.
enum Round<T> {
    /// The step succeeded.
    Done(T),
    /// The coordinator asked for a new JoinGroup; the error is what it said, returned if
    /// no round is left.
    Again(ClientError),
}

/// The membership of one client in one consumer group.
#[derive(Debug)]
pub struct GroupMembership {
    offsets: GroupOffsets,
    config: MemberConfig,
    member_id: String,
    generation_id: i32,
    /// The address of the coordinator last sent to, for error messages.
    coordinator_addr: String,
}

impl GroupMembership {
    /// Connects to the first server of `bootstrap` that answers, for group `group_id`.
    /// Nothing is sent to the group before [`GroupMembership::join`].
    pub async fn connect(
        bootstrap: &str,
        group_id: &str,
        config: MemberConfig,
    ) -> Result<Self, ClientError> {
        let offsets =
            GroupOffsets::connect_with(bootstrap, group_id, config.connection.clone()).await?;
        Ok(Self {
            offsets,
            config,
            member_id: NO_MEMBER_ID.to_owned(),
            generation_id: NO_GENERATION,
            coordinator_addr: String::new(),
        })
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        self.offsets.group_id()
    }

    /// The member id the coordinator gave this client; empty before the first join and
    /// after the coordinator forgot the member.
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The generation this member last joined; -1 outside any generation.
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    /// The member's settings.
    pub fn config(&self) -> &MemberConfig {
        &self.config
    }

    /// Joins the group (or rejoins it after a rebalance) with one protocol, `protocol_name`
    /// (the assignor's name, e.g. `range` or the application's own), and waits for this
    /// member's assignment. If the coordinator makes this member the leader, `assign` is
    /// called with every member's subscription and returns the assignment of each member
    /// id; members it leaves out get an empty assignment, ids that are not members are
    /// ignored. The coordinator holds the answer until every member rejoined, so all
    /// members must call `join` concurrently (each within the rebalance timeout).
    ///
    /// A new member id (MEMBER_ID_REQUIRED), a rebalance that starts before the assignment
    /// arrives (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION) and a forgotten member
    /// (UNKNOWN_MEMBER_ID) are handled by joining again, at most `JOIN_ROUNDS_MAX` times
    /// and not after the rebalance timeout; then the coordinator's last answer is returned.
    pub async fn join(
        &mut self,
        protocol_name: &str,
        subscription: &Subscription,
        assign: &mut (dyn FnMut(&[JoinedMember]) -> BTreeMap<String, Assignment> + Send),
    ) -> Result<Generation, ClientError> {
        let metadata = encode_subscription(subscription).map_err(|reason| ClientError::Encode {
            api: "JoinGroup",
            version: CONSUMER_PROTOCOL_VERSION,
            reason: format!("subscription for group {}: {reason}", self.group_id()),
        })?;
        let deadline = Instant::now() + Duration::from_millis(self.config.rebalance_timeout_ms);
        let mut rounds = 0;
        loop {
            rounds += 1;
            match self.join_round(protocol_name, &metadata, assign).await? {
                Round::Done(generation) => return Ok(generation),
                Round::Again(_) if rounds < JOIN_ROUNDS_MAX && Instant::now() < deadline => {}
                Round::Again(last) => return Err(last),
            }
        }
    }

    /// Tells the coordinator this member is alive, and learns whether it must rejoin.
    /// Without a member id (never joined, or forgotten) nothing is sent and the answer is
    /// RebalanceNeeded. UNKNOWN_MEMBER_ID also forgets the member id, so the next `join`
    /// enters as a new member.
    pub async fn heartbeat(&mut self) -> Result<HeartbeatOutcome, ClientError> {
        if self.member_id.is_empty() {
            return Ok(HeartbeatOutcome::RebalanceNeeded {
                reason: ResponseError::UnknownMemberId,
            });
        }
        let request = HeartbeatRequest::default()
            .with_group_id(group_id_of(self.group_id()))
            .with_generation_id(self.generation_id)
            .with_member_id(str_bytes(&self.member_id));
        let code = self.send(&request, Duration::ZERO).await?.0.error_code;
        match ResponseError::try_from_code(code) {
            None => Ok(HeartbeatOutcome::Stable),
            Some(
                reason @ (ResponseError::RebalanceInProgress
                | ResponseError::IllegalGeneration
                | ResponseError::FencedInstanceId),
            ) => Ok(HeartbeatOutcome::RebalanceNeeded { reason }),
            Some(reason @ ResponseError::UnknownMemberId) => {
                self.forget_member();
                Ok(HeartbeatOutcome::RebalanceNeeded { reason })
            }
            Some(_) => Err(self.refused(self.kafka_error("heartbeat in", code))),
        }
    }

    /// Commits `offsets` (`(topic, partition)` → the next offset to read) as this member
    /// of its generation. A commit the coordinator refuses because the group rebalances
    /// fails with REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION, one from a member it no
    /// longer knows with UNKNOWN_MEMBER_ID, which also forgets the member id (see
    /// [`ClientError::kafka_error`]); in each case `join` again. Without a member id the
    /// commit fails with UNKNOWN_MEMBER_ID before anything is sent: it would otherwise be
    /// a simple commit made outside the group.
    pub async fn commit_offsets(
        &mut self,
        offsets: &BTreeMap<(String, i32), i64>,
    ) -> Result<(), ClientError> {
        if self.member_id.is_empty() {
            return Err(ClientError::kafka(
                format!("commit the offsets of group {}", self.group_id()),
                ResponseError::UnknownMemberId.code(),
                Some("this client is not a member of the group: join first".to_owned()),
            ));
        }
        let committed = self
            .offsets
            .commit_offsets_as(offsets, &self.member_id, self.generation_id)
            .await;
        if let Err(err) = &committed {
            if err.kafka_error() == Some(ResponseError::UnknownMemberId) {
                self.forget_member();
            }
        }
        committed
    }

    /// Every committed offset of the group, keyed by `(topic, partition)`; partitions
    /// without a commit are absent.
    pub async fn fetch_offsets(&mut self) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        self.offsets.fetch_offsets().await
    }

    /// Leaves the group, so the other members rebalance now instead of after this
    /// member's session timeout. The member id and generation are forgotten whatever the
    /// answer (a later `join` enters as a new member); a member the coordinator no longer
    /// knows counts as gone. An error means the coordinator may keep the member until its
    /// session times out.
    pub async fn leave(&mut self) -> Result<(), ClientError> {
        if self.member_id.is_empty() {
            return Ok(());
        }
        let member_id = self.member_id.clone();
        self.forget_member();
        let version = self
            .offsets
            .coordinator()
            .await?
            .version(ApiKey::LeaveGroup)?;
        let mut request = LeaveGroupRequest::default().with_group_id(group_id_of(self.group_id()));
        // v0–2 name one member; v3+ a batch of members.
        if version >= 3 {
            request.members = vec![MemberIdentity::default().with_member_id(str_bytes(&member_id))];
        } else {
            request.member_id = str_bytes(&member_id);
        }
        let (response, _) = self.send(&request, Duration::ZERO).await?;
        let member_code = response
            .members
            .iter()
            .find(|m| m.member_id.as_str() == member_id)
            .map_or(0, |m| m.error_code);
        let code = if response.error_code != 0 {
            response.error_code
        } else {
            member_code
        };
        match ResponseError::try_from_code(code) {
            None | Some(ResponseError::UnknownMemberId) => Ok(()),
            Some(_) => Err(self.refused(self.kafka_error("leave", code))),
        }
    }

    /// One JoinGroup, then (if it succeeded) one SyncGroup.
    async fn join_round(
        &mut self,
        protocol_name: &str,
        metadata: &Bytes,
        assign: &mut Assign<'_>,
    ) -> Result<Round<Generation>, ClientError> {
        let (joined, version) = match self.send_join(protocol_name, metadata).await? {
            Round::Done(joined) => joined,
            Round::Again(err) => return Ok(Round::Again(err)),
        };
        self.member_id = joined.member_id.to_string();
        self.generation_id = joined.generation_id;
        let leader = joined.leader.as_str() == joined.member_id.as_str();
        let assignments = if leader {
            self.leader_assignments(&joined, version, assign)?
        } else {
            Vec::new()
        };
        let protocol_name = joined
            .protocol_name
            .unwrap_or_else(|| str_bytes(protocol_name));
        let (bytes, sync_version) = match self.send_sync(protocol_name, assignments).await? {
            Round::Done(synced) => synced,
            Round::Again(err) => return Ok(Round::Again(err)),
        };
        let assignment = decode_assignment(bytes).map_err(|reason| ClientError::Decode {
            addr: self.coordinator_addr.clone(),
            api: "SyncGroup",
            version: sync_version,
            reason: format!(
                "assignment of member {} of group {}: {reason}",
                self.member_id,
                self.group_id()
            ),
        })?;
        Ok(Round::Done(Generation {
            generation_id: self.generation_id,
            member_id: self.member_id.clone(),
            leader,
            assignment,
        }))
    }

    /// Sends JoinGroup and sorts its answer: joined, join again, or failed.
    async fn send_join(
        &mut self,
        protocol_name: &str,
        metadata: &Bytes,
    ) -> Result<Round<(JoinGroupResponse, i16)>, ClientError> {
        let protocol = JoinGroupRequestProtocol::default()
            .with_name(str_bytes(protocol_name))
            .with_metadata(metadata.clone());
        let request = JoinGroupRequest::default()
            .with_group_id(group_id_of(self.group_id()))
            .with_session_timeout_ms(timeout_ms(self.config.session_timeout_ms))
            .with_rebalance_timeout_ms(timeout_ms(self.config.rebalance_timeout_ms))
            .with_member_id(str_bytes(&self.member_id))
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE_CONSUMER))
            .with_protocols(vec![protocol]);
        // The coordinator holds a JoinGroup until every member rejoined or the rebalance
        // timeout passed.
        let extra = Duration::from_millis(self.config.rebalance_timeout_ms);
        let (response, version) = self.send(&request, extra).await?;
        let Some(error) = ResponseError::try_from_code(response.error_code) else {
            return Ok(Round::Done((response, version)));
        };
        let again = self.kafka_error("join", response.error_code);
        match error {
            // KIP-394: the coordinator hands out the member id and waits for a second join.
            ResponseError::MemberIdRequired => {
                self.member_id = response.member_id.to_string();
                Ok(Round::Again(again))
            }
            ResponseError::UnknownMemberId => {
                self.forget_member();
                Ok(Round::Again(again))
            }
            ResponseError::RebalanceInProgress => Ok(Round::Again(again)),
            _ => Err(self.refused(again)),
        }
    }

    /// Sends SyncGroup (with everyone's assignment when this member leads) and returns
    /// this member's encoded assignment with the SyncGroup version, or asks for a new join.
    async fn send_sync(
        &mut self,
        protocol_name: StrBytes,
        assignments: Vec<SyncGroupRequestAssignment>,
    ) -> Result<Round<(Bytes, i16)>, ClientError> {
        // The protocol fields exist in v5 only; older versions leave them out.
        let request = SyncGroupRequest::default()
            .with_group_id(group_id_of(self.group_id()))
            .with_generation_id(self.generation_id)
            .with_member_id(str_bytes(&self.member_id))
            .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE_CONSUMER)))
            .with_protocol_name(Some(protocol_name))
            .with_assignments(assignments);
        // A follower's SyncGroup waits for the leader's, which the coordinator awaits at
        // most a session timeout before it expires the leader and answers.
        let extra = Duration::from_millis(self.config.session_timeout_ms);
        let (response, version) = self.send(&request, extra).await?;
        let Some(error) = ResponseError::try_from_code(response.error_code) else {
            return Ok(Round::Done((response.assignment, version)));
        };
        let again = self.kafka_error("sync", response.error_code);
        match error {
            ResponseError::RebalanceInProgress | ResponseError::IllegalGeneration => {
                Ok(Round::Again(again))
            }
            ResponseError::UnknownMemberId => {
                self.forget_member();
                Ok(Round::Again(again))
            }
            _ => Err(self.refused(again)),
        }
    }

    /// The leader's part: decodes every member's subscription, calls `assign` and encodes
    /// the assignment of each member.
    fn leader_assignments(
        &self,
        joined: &JoinGroupResponse,
        version: i16,
        assign: &mut Assign<'_>,
    ) -> Result<Vec<SyncGroupRequestAssignment>, ClientError> {
        let mut members = Vec::with_capacity(joined.members.len());
        for m in &joined.members {
            let member_id = m.member_id.to_string();
            let subscription =
                decode_subscription(m.metadata.clone()).map_err(|reason| ClientError::Decode {
                    addr: self.coordinator_addr.clone(),
                    api: "JoinGroup",
                    version,
                    reason: format!(
                        "subscription of member {member_id} of group {}: {reason}",
                        self.group_id()
                    ),
                })?;
            members.push(JoinedMember {
                member_id,
                subscription,
            });
        }
        let mut assigned = assign(&members);
        members
            .iter()
            .map(|m| {
                let assignment = assigned.remove(&m.member_id).unwrap_or_default();
                let bytes =
                    encode_assignment(&assignment).map_err(|reason| ClientError::Encode {
                        api: "SyncGroup",
                        version: CONSUMER_PROTOCOL_VERSION,
                        reason: format!("assignment of member {}: {reason}", m.member_id),
                    })?;
                Ok(SyncGroupRequestAssignment::default()
                    .with_member_id(str_bytes(&m.member_id))
                    .with_assignment(bytes))
            })
            .collect()
    }

    /// Sends `request` to the coordinator, allowing `extra` time on top of the request
    /// timeout; a connection that failed clears the cached coordinator.
    async fn send<R: Request>(
        &mut self,
        request: &R,
        extra: Duration,
    ) -> Result<(R::Response, i16), ClientError> {
        let connection = self.offsets.coordinator().await?;
        self.coordinator_addr = connection.addr().to_owned();
        let sent = connection.send_with_timeout(request, extra).await;
        self.offsets.forget_moved_coordinator(sent)
    }

    /// The coordinator's answer `code` to `action` on this group, as an error.
    fn kafka_error(&self, action: &str, code: i16) -> ClientError {
        ClientError::kafka(format!("{action} group {}", self.group_id()), code, None)
    }

    /// `err` as the end of the call; clears the cached coordinator if `err` says it moved.
    fn refused(&mut self, err: ClientError) -> ClientError {
        self.offsets.forget_moved_coordinator_on(&err);
        err
    }

    /// Forgets the member id and the generation: the next join enters as a new member.
    fn forget_member(&mut self) {
        self.member_id = NO_MEMBER_ID.to_owned();
        self.generation_id = NO_GENERATION;
    }
}

/// A timeout for an i32 wire field; a value beyond it is sent as i32::MAX, which the
/// coordinator then refuses (INVALID_SESSION_TIMEOUT) rather than have it silently cut.
fn timeout_ms(ms: u64) -> i32 {
    i32::try_from(ms).unwrap_or(i32::MAX)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn group_id_of(group_id: &str) -> GroupId {
    GroupId(str_bytes(group_id))
}

/// User data as the consumer protocol carries it: absent when empty, as Kafka writes it.
fn user_data_field(user_data: &[u8]) -> Option<Bytes> {
    (!user_data.is_empty()).then(|| Bytes::copy_from_slice(user_data))
}

/// Writes a consumer protocol message: an i16 version, then the version's fields.
fn encode_versioned<T: Encodable>(message: &T) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    buf.put_i16(CONSUMER_PROTOCOL_VERSION);
    message
        .encode(&mut buf, CONSUMER_PROTOCOL_VERSION)
        .map_err(|err| format!("v{CONSUMER_PROTOCOL_VERSION}: {err}"))?;
    Ok(buf.freeze())
}

/// Reads a consumer protocol message: an i16 version, then the version's fields (a
/// version above what `kafka-protocol` knows is read as its highest, a prefix of it).
fn decode_versioned<T: Decodable>(bytes: Bytes) -> Result<T, String> {
    let mut buf = bytes;
    if buf.remaining() < 2 {
        return Err(format!("{} byte(s) cannot hold a version", buf.remaining()));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("negative version {version}"));
    }
    T::decode(&mut buf, version.min(CONSUMER_PROTOCOL_VERSION_MAX))
        .map_err(|err| format!("v{version}: {err}"))
}

fn encode_subscription(subscription: &Subscription) -> Result<Bytes, String> {
    let message = ConsumerProtocolSubscription::default()
        .with_topics(subscription.topics.iter().map(|t| str_bytes(t)).collect())
        .with_user_data(user_data_field(&subscription.user_data));
    encode_versioned(&message)
}

/// Reads a member's subscription; empty bytes are an empty subscription.
fn decode_subscription(bytes: Bytes) -> Result<Subscription, String> {
    if bytes.is_empty() {
        return Ok(Subscription::default());
    }
    let decoded: ConsumerProtocolSubscription = decode_versioned(bytes)?;
    Ok(Subscription {
        topics: decoded.topics.iter().map(ToString::to_string).collect(),
        user_data: decoded.user_data.map(|b| b.to_vec()).unwrap_or_default(),
    })
}

fn encode_assignment(assignment: &Assignment) -> Result<Bytes, String> {
    let topics = assignment
        .partitions
        .iter()
        .map(|(topic, partitions)| {
            TopicPartition::default()
                .with_topic(TopicName(str_bytes(topic)))
                .with_partitions(partitions.clone())
        })
        .collect();
    let message = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(topics)
        .with_user_data(user_data_field(&assignment.user_data));
    encode_versioned(&message)
}

/// Reads a member's assignment; empty bytes (a member the leader left out, for a leader
/// that sends nothing then) are an empty assignment.
fn decode_assignment(bytes: Bytes) -> Result<Assignment, String> {
    if bytes.is_empty() {
        return Ok(Assignment::default());
    }
    let decoded: ConsumerProtocolAssignment = decode_versioned(bytes)?;
    let mut partitions: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in decoded.assigned_partitions {
        if !tp.partitions.is_empty() {
            partitions
                .entry(tp.topic.0.to_string())
                .or_default()
                .extend(tp.partitions);
        }
    }
    for list in partitions.values_mut() {
        list.sort_unstable();
        list.dedup();
    }
    Ok(Assignment {
        partitions,
        user_data: decoded.user_data.map(|b| b.to_vec()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::groups::{self, TopicAssignment};

    fn assignment(topics: &[(&str, &[i32])], user_data: &[u8]) -> Assignment {
        Assignment {
            partitions: topics
                .iter()
                .map(|(t, ps)| ((*t).to_owned(), ps.to_vec()))
                .collect(),
            user_data: user_data.to_vec(),
        }
    }

    #[test]
    fn subscriptions_round_trip() {
        for subscription in [
            Subscription::default(),
            Subscription {
                topics: vec!["orders".into(), "payments".into()],
                user_data: b"tasks 0_1 1_1".to_vec(),
            },
        ] {
            let bytes = encode_subscription(&subscription).unwrap();
            assert_eq!(decode_subscription(bytes).unwrap(), subscription);
        }
        assert_eq!(
            decode_subscription(Bytes::new()).unwrap(),
            Subscription::default()
        );
    }

    #[test]
    fn reads_subscriptions_of_later_versions() {
        // Kafka 3.x consumers write v3 (owned partitions, generation, rack after the user
        // data); a v4 writer only appends more, which the v3 reading ignores.
        let message = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("t")])
            .with_user_data(Some(Bytes::from_static(b"u")))
            .with_generation_id(7)
            .with_rack_id(Some(StrBytes::from_static_str("rack-a")));
        for version in [1, 3, 4] {
            let mut buf = BytesMut::new();
            buf.put_i16(version);
            message.encode(&mut buf, version.min(3)).unwrap();
            let read = decode_subscription(buf.freeze()).unwrap();
            assert_eq!(read.topics, ["t"], "v{version}");
            assert_eq!(read.user_data, b"u", "v{version}");
        }
    }

    #[test]
    fn assignments_round_trip_and_tools_read_them() {
        let given = assignment(&[("a", &[0, 2]), ("b", &[1])], b"standby 0_0");
        let bytes = encode_assignment(&given).unwrap();
        assert_eq!(decode_assignment(bytes.clone()).unwrap(), given);
        // What DescribeGroups decoding (and so `eddy group describe`) makes of it.
        assert_eq!(
            groups::decode_assignment(bytes).unwrap(),
            [
                TopicAssignment {
                    topic: "a".into(),
                    partitions: vec![0, 2]
                },
                TopicAssignment {
                    topic: "b".into(),
                    partitions: vec![1]
                },
            ]
        );
        let empty = Assignment::default();
        assert_eq!(
            decode_assignment(encode_assignment(&empty).unwrap()).unwrap(),
            empty
        );
        assert_eq!(decode_assignment(Bytes::new()).unwrap(), empty);
    }

    #[test]
    fn decoded_assignments_are_sorted_and_merged() {
        let message = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![3, 1]),
            TopicPartition::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![1, 0]),
            TopicPartition::default().with_topic(TopicName(StrBytes::from_static_str("none"))),
        ]);
        let read = decode_assignment(encode_versioned(&message).unwrap()).unwrap();
        assert_eq!(read, assignment(&[("t", &[0, 1, 3])], b""));
    }

    #[test]
    fn rejects_broken_bytes() {
        assert!(decode_assignment(Bytes::from_static(&[0])).is_err());
        assert!(decode_assignment(Bytes::from_static(&[0xff, 0xff, 0, 0, 0, 0])).is_err());
        // A version, then an array announcing one topic and nothing more.
        assert!(decode_assignment(Bytes::from_static(&[0, 0, 0, 0, 0, 1])).is_err());
        assert!(decode_subscription(Bytes::from_static(&[0, 0, 0, 0, 0, 2, 0])).is_err());
    }

    #[test]
    fn default_timeouts_are_kafkas() {
        let config = MemberConfig::default();
        assert_eq!(config.session_timeout_ms, 45_000);
        assert_eq!(config.rebalance_timeout_ms, 300_000);
        assert_eq!(config.heartbeat_interval_ms, 3_000);
        assert_eq!(timeout_ms(u64::MAX), i32::MAX);
    }
}
