//! A consumer group's committed offsets, read and written without joining the group.
//!
//! `GroupOffsets` sends OffsetFetch and OffsetCommit to the group's coordinator. By default
//! it commits as a "simple" consumer: member id empty, generation -1. Kafka (and Eddy)
//! accept such a commit only while the group has no members, which is what a client that
//! assigns its partitions itself (Connect's sink tasks, tools) needs. `commit_offsets_as`
//! commits on behalf of a member that joined elsewhere (a stream task's connection commits
//! with its instance's member id and generation); `GroupMembership` commits through the
//! same code. The coordinator's node id is cached; an answer that says it moved
//! (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE) clears the cache, and the error is returned
//! as retriable for the caller to decide.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{ApiKey, GroupId, OffsetCommitRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::cluster::Cluster;
use super::connection::{Connection, ConnectionConfig};
use super::error::{check_code, ClientError};
use super::groups::{find_coordinator, offset_fetch};

/// The member id of a commit made outside group membership.
const SIMPLE_MEMBER_ID: &str = "";
/// The generation of a commit made outside group membership.
const SIMPLE_GENERATION: i32 = -1;
/// "Keep the offsets as long as the broker's default retention says" (OffsetCommit v2–v4).
const DEFAULT_RETENTION_MS: i64 = -1;
/// "No leader epoch known" (OffsetCommit v6+).
const NO_LEADER_EPOCH: i32 = -1;

/// Reads and commits the offsets of one consumer group on its coordinator.
#[derive(Debug)]
pub struct GroupOffsets {
    cluster: Cluster,
    group_id: String,
    coordinator: Option<i32>,
}

impl GroupOffsets {
    /// Connects to the first server of `bootstrap` that answers, for group `group_id`.
    pub async fn connect(bootstrap: &str, group_id: &str) -> Result<Self, ClientError> {
        Self::connect_with(bootstrap, group_id, ConnectionConfig::default()).await
    }

    /// Like [`GroupOffsets::connect`], with explicit connection settings.
    pub async fn connect_with(
        bootstrap: &str,
        group_id: &str,
        config: ConnectionConfig,
    ) -> Result<Self, ClientError> {
        let cluster = Cluster::connect(bootstrap, config).await?;
        Ok(Self {
            cluster,
            group_id: group_id.to_owned(),
            coordinator: None,
        })
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Every committed offset of the group, keyed by `(topic, partition)`; partitions
    /// without a commit are absent.
    pub async fn fetch_offsets(&mut self) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        let fetched = self.fetch_offsets_with_metadata().await?;
        Ok(fetched
            .into_iter()
            .map(|(tp, (offset, _))| (tp, offset))
            .collect())
    }

    /// Like [`GroupOffsets::fetch_offsets`], with each offset's metadata string (empty if
    /// the commit gave none).
    pub async fn fetch_offsets_with_metadata(
        &mut self,
    ) -> Result<BTreeMap<(String, i32), (i64, String)>, ClientError> {
        let group_id = self.group_id.clone();
        let connection = self.coordinator().await?;
        let fetched = offset_fetch(connection, &group_id).await;
        let offsets = self.forget_moved_coordinator(fetched)?;
        Ok(offsets.into_iter().collect())
    }

    /// Commits `offsets` (`(topic, partition)` → the next offset to read) as a simple
    /// consumer, which the coordinator refuses (UNKNOWN_MEMBER_ID) while the group has
    /// members. Fails with the first partition error; the other partitions of the request
    /// are committed anyway. An empty map still sends the (empty) request, which Kafka
    /// accepts.
    pub async fn commit_offsets(
        &mut self,
        offsets: &BTreeMap<(String, i32), i64>,
    ) -> Result<(), ClientError> {
        self.commit_offsets_as(offsets, SIMPLE_MEMBER_ID, SIMPLE_GENERATION)
            .await
    }

    /// Commits `offsets` on behalf of member `member_id` of generation `generation_id`, e.g.
    /// from a connection of its own while the member heartbeats on another. A commit from
    /// a generation that is over fails with ILLEGAL_GENERATION, one while the group waits
    /// for its new assignment with REBALANCE_IN_PROGRESS, one from a member the group no
    /// longer has with UNKNOWN_MEMBER_ID (see [`ClientError::kafka_error`]).
    pub async fn commit_offsets_as(
        &mut self,
        offsets: &BTreeMap<(String, i32), i64>,
        member_id: &str,
        generation_id: i32,
    ) -> Result<(), ClientError> {
        self.commit_offsets_with_metadata_as(offsets, &BTreeMap::new(), member_id, generation_id)
            .await
    }

    /// Like [`GroupOffsets::commit_offsets_as`], with a metadata string per partition
    /// (Kafka's `OffsetAndMetadata`; partitions missing from `metadata` get an empty one),
    /// which `fetch_offsets_with_metadata` returns.
    pub async fn commit_offsets_with_metadata_as(
        &mut self,
        offsets: &BTreeMap<(String, i32), i64>,
        metadata: &BTreeMap<(String, i32), String>,
        member_id: &str,
        generation_id: i32,
    ) -> Result<(), ClientError> {
        let group_id = self.group_id.clone();
        let connection = self.coordinator().await?;
        let member = (member_id, generation_id);
        let committed = commit(connection, &group_id, member, offsets, metadata).await;
        self.forget_moved_coordinator(committed)
    }

    /// The connection to the group's coordinator, found with FindCoordinator if unknown. A
    /// coordinator that cannot be connected to is looked up again on the next call.
    pub(super) async fn coordinator(&mut self) -> Result<&mut Connection, ClientError> {
        let node_id = match self.coordinator {
            Some(node_id) => node_id,
            None => {
                let info = find_coordinator(self.cluster.control().await?, &self.group_id).await?;
                // The metadata call records the brokers, so `node` can open the connection.
                self.cluster.metadata(Some(&[])).await?;
                self.coordinator = Some(info.node_id);
                info.node_id
            }
        };
        let connected = self.cluster.node(node_id).await;
        if connected.is_err() {
            self.coordinator = None;
        }
        connected
    }

    /// Clears the cached coordinator when `result` says it is no longer the right node.
    pub(super) fn forget_moved_coordinator<T>(
        &mut self,
        result: Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        if let Err(err) = &result {
            self.forget_moved_coordinator_on(err);
        }
        result
    }

    /// Clears the cached coordinator when `err` says it is no longer the right node.
    pub(super) fn forget_moved_coordinator_on(&mut self, err: &ClientError) {
        let moved = matches!(
            err.kafka_error(),
            Some(ResponseError::NotCoordinator | ResponseError::CoordinatorNotAvailable)
        );
        if moved || err.is_unreachable() {
            self.coordinator = None;
        }
    }
}

/// Sends one OffsetCommit for `offsets` as member `member_id` of generation
/// `generation_id` (the simple consumer: "" and -1).
async fn commit(
    connection: &mut Connection,
    group_id: &str,
    (member_id, generation_id): (&str, i32),
    offsets: &BTreeMap<(String, i32), i64>,
    metadata: &BTreeMap<(String, i32), String>,
) -> Result<(), ClientError> {
    let version = connection.version(ApiKey::OffsetCommit)?;
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp @ (topic, partition), offset) in offsets {
        let text = metadata.get(tp).cloned().unwrap_or_default();
        let mut entry = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_metadata(Some(StrBytes::from_string(text)));
        if version >= 6 {
            entry.committed_leader_epoch = NO_LEADER_EPOCH;
        }
        topics.entry(topic.as_str()).or_default().push(entry);
    }
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_owned())))
                .with_partitions(partitions)
        })
        .collect();
    let mut request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group_id.to_owned())))
        .with_generation_id_or_member_epoch(generation_id)
        .with_member_id(StrBytes::from_string(member_id.to_owned()))
        .with_topics(topics);
    // The retention field exists in v2–v4 only.
    if (2..=4).contains(&version) {
        request.retention_time_ms = DEFAULT_RETENTION_MS;
    }
    let (response, _) = connection.send(&request).await?;
    for topic in response.topics {
        let name = topic.name.0.to_string();
        for p in topic.partitions {
            let index = p.partition_index;
            check_code(
                p.error_code,
                || format!("commit the offset of group {group_id} on {name}/{index}"),
                None,
            )?;
        }
    }
    Ok(())
}
