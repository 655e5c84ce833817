//! Consumer-group administration requests: FindCoordinator, ListGroups, DescribeGroups,
//! OffsetFetch and DeleteGroups, each as a function over one connection, and the plain data
//! they produce. `Admin` decides which node each request goes to; this module only builds
//! requests and reads answers (including the consumer protocol's member assignment).

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest,
    FindCoordinatorRequest, GroupId, ListGroupsRequest, OffsetFetchRequest,
};
use kafka_protocol::protocol::{Decodable, StrBytes};
use serde::Serialize;

use super::connection::Connection;
use super::error::{check_code, ClientError};

/// FindCoordinator's key type for a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// The protocol type consumer-group members register with.
pub(crate) const PROTOCOL_TYPE_CONSUMER: &str = "consumer";
/// The highest ConsumerProtocolAssignment version `kafka-protocol` decodes; later versions
/// only append fields, so their prefix reads the same.
const ASSIGNMENT_VERSION_MAX: i16 = 3;
/// The state a node reports for a group it does not know (DescribeGroups before v6).
const STATE_DEAD: &str = "Dead";
/// Kafka's GROUP_ID_NOT_FOUND.
const GROUP_ID_NOT_FOUND: i16 = 69;

/// The node that coordinates a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CoordinatorInfo {
    pub(crate) node_id: i32,
    pub(crate) host: String,
    pub(crate) port: i32,
}

/// One group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The members' protocol type, `consumer` for consumer groups (empty if none joined).
    pub protocol_type: String,
    /// The group state (`Stable`, `Empty`, …), when the node reports it (ListGroups v4+).
    pub state: Option<String>,
}

/// Partitions of one topic assigned to a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicAssignment {
    /// The topic.
    pub topic: String,
    /// The partitions, sorted.
    pub partitions: Vec<i32>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupMember {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// The static member id (`group.instance.id`), if the member is static.
    pub group_instance_id: Option<String>,
    /// The client id the member's client sent.
    pub client_id: String,
    /// The host the member connected from.
    pub client_host: String,
    /// The partitions assigned to the member, by topic (sorted); empty while a rebalance
    /// is in progress or when the group is not a consumer group.
    pub assignment: Vec<TopicAssignment>,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The group state: `Empty`, `PreparingRebalance`, `CompletingRebalance` or `Stable`.
    pub state: String,
    /// The members' protocol type (`consumer` for consumer groups).
    pub protocol_type: String,
    /// The protocol the group chose, i.e. the partition assignor (`range`, `roundrobin`…).
    pub protocol: String,
    /// The members, in the order the coordinator lists them.
    pub members: Vec<GroupMember>,
}

impl GroupDescription {
    /// The member a partition is assigned to, if any.
    pub fn owner(&self, topic: &str, partition: i32) -> Option<&GroupMember> {
        self.members.iter().find(|m| {
            m.assignment
                .iter()
                .any(|a| a.topic == topic && a.partitions.contains(&partition))
        })
    }
}

/// A group's committed offset of one partition, with the partition's end and the lag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPartitionOffset {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset: the next offset the group will read.
    pub committed_offset: i64,
    /// The partition's log end offset as ListOffsets (latest) reports it — the high
    /// watermark, the end of what consumers can read; `None` if the partition no longer
    /// exists.
    pub log_end_offset: Option<i64>,
    /// `log_end_offset - committed_offset` (never negative), `None` without an end offset.
    pub lag: Option<i64>,
}

/// The lag of a group on a partition: how many readable records it has not committed.
pub fn lag(committed_offset: i64, log_end_offset: i64) -> i64 {
    (log_end_offset - committed_offset).max(0)
}

/// Asks which node coordinates `group_id`.
pub(crate) async fn find_coordinator(
    connection: &mut Connection,
    group_id: &str,
) -> Result<CoordinatorInfo, ClientError> {
    let version = connection.version(ApiKey::FindCoordinator)?;
    let mut request = FindCoordinatorRequest::default().with_key(str_bytes(group_id));
    // The key type exists from v1 on; v0 only knows groups.
    if version >= 1 {
        request.key_type = KEY_TYPE_GROUP;
    }
    let (response, _) = connection.send(&request).await?;
    let message = response.error_message.as_deref();
    check_code(
        response.error_code,
        || format!("find the coordinator of group {group_id}"),
        message,
    )?;
    Ok(CoordinatorInfo {
        node_id: response.node_id.0,
        host: response.host.to_string(),
        port: response.port,
    })
}

/// The groups one node coordinates.
pub(crate) async fn list_groups(
    connection: &mut Connection,
) -> Result<Vec<GroupListing>, ClientError> {
    let version = connection.version(ApiKey::ListGroups)?;
    let (response, _) = connection.send(&ListGroupsRequest::default()).await?;
    let addr = connection.addr().to_owned();
    check_code(
        response.error_code,
        || format!("list groups on {addr}"),
        None,
    )?;
    Ok(response
        .groups
        .into_iter()
        .map(|g| GroupListing {
            group_id: g.group_id.0.to_string(),
            protocol_type: g.protocol_type.to_string(),
            // The state exists from v4 on.
            state: (version >= 4).then(|| g.group_state.to_string()),
        })
        .collect())
}

/// Describes `group_id` on its coordinator; GROUP_ID_NOT_FOUND if the node does not know it.
pub(crate) async fn describe_group(
    connection: &mut Connection,
    group_id: &str,
) -> Result<GroupDescription, ClientError> {
    let request = DescribeGroupsRequest::default().with_groups(vec![group_id_of(group_id)]);
    let (response, version) = connection.send(&request).await?;
    let group = response
        .groups
        .into_iter()
        .find(|g| g.group_id.0.as_str() == group_id)
        .ok_or_else(|| missing_group("DescribeGroups", group_id))?;
    let message = group.error_message.as_deref();
    check_code(
        group.error_code,
        || format!("describe group {group_id}"),
        message,
    )?;
    // Before v6 an unknown group comes back as a Dead group without an error.
    if group.group_state.as_str() == STATE_DEAD {
        return Err(ClientError::kafka(
            format!("describe group {group_id}"),
            GROUP_ID_NOT_FOUND,
            Some("the coordinator does not know the group".to_owned()),
        ));
    }
    let consumer = group.protocol_type.as_str() == PROTOCOL_TYPE_CONSUMER;
    let mut members = Vec::with_capacity(group.members.len());
    for m in group.members {
        let member_id = m.member_id.to_string();
        let assignment = if consumer {
            decode_assignment(m.member_assignment).map_err(|reason| ClientError::Decode {
                addr: connection.addr().to_owned(),
                api: "DescribeGroups",
                version,
                reason: format!("assignment of member {member_id} of group {group_id}: {reason}"),
            })?
        } else {
            Vec::new()
        };
        members.push(GroupMember {
            member_id,
            group_instance_id: m.group_instance_id.map(|id| id.to_string()),
            client_id: m.client_id.to_string(),
            client_host: m.client_host.to_string(),
            assignment,
        });
    }
    Ok(GroupDescription {
        group_id: group_id.to_owned(),
        state: group.group_state.to_string(),
        protocol_type: group.protocol_type.to_string(),
        protocol: group.protocol_data.to_string(),
        members,
    })
}

/// Every committed offset of `group_id`, as `((topic, partition), (offset, metadata))`
/// sorted by topic and partition; partitions without a commit (offset -1) are left out.
pub(crate) async fn offset_fetch(
    connection: &mut Connection,
    group_id: &str,
) -> Result<Vec<((String, i32), (i64, String))>, ClientError> {
    let version = connection.version(ApiKey::OffsetFetch)?;
    // No topic list (null) asks for every partition the group committed (v2+).
    let mut request = OffsetFetchRequest::default()
        .with_group_id(group_id_of(group_id))
        .with_topics(None);
    // A stable read waits out pending transactional commits (v7+); none exist here, and
    // it is what consumers ask for.
    if version >= 7 {
        request.require_stable = true;
    }
    let (response, _) = connection.send(&request).await?;
    check_code(
        response.error_code,
        || format!("fetch the offsets of group {group_id}"),
        None,
    )?;
    let mut offsets = Vec::new();
    for topic in response.topics {
        let name = topic.name.0.to_string();
        for p in topic.partitions {
            let index = p.partition_index;
            check_code(
                p.error_code,
                || format!("fetch the offset of group {group_id} on {name}/{index}"),
                None,
            )?;
            if p.committed_offset >= 0 {
                let metadata = p.metadata.map(|m| m.to_string()).unwrap_or_default();
                offsets.push(((name.clone(), index), (p.committed_offset, metadata)));
            }
        }
    }
    offsets.sort();
    Ok(offsets)
}

/// Deletes `group_id` (and its committed offsets) on its coordinator.
pub(crate) async fn delete_group(
    connection: &mut Connection,
    group_id: &str,
) -> Result<(), ClientError> {
    let request = DeleteGroupsRequest::default().with_groups_names(vec![group_id_of(group_id)]);
    let (response, _) = connection.send(&request).await?;
    let result = response
        .results
        .iter()
        .find(|r| r.group_id.0.as_str() == group_id)
        .ok_or_else(|| missing_group("DeleteGroups", group_id))?;
    check_code(
        result.error_code,
        || format!("delete group {group_id}"),
        None,
    )
}

/// Reads a consumer protocol assignment: an i16 version, then the version's fields (the
/// `kafka-protocol` struct reads the fields only). Topics come out sorted by name, each
/// with its partitions sorted; empty bytes are an empty assignment.
pub fn decode_assignment(bytes: Bytes) -> Result<Vec<TopicAssignment>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut buf = bytes;
    if buf.remaining() < 2 {
        return Err(format!("{} byte(s) cannot hold a version", buf.remaining()));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(format!("negative assignment version {version}"));
    }
    let decoded = ConsumerProtocolAssignment::decode(&mut buf, version.min(ASSIGNMENT_VERSION_MAX))
        .map_err(|err| format!("assignment v{version}: {err}"))?;
    let mut topics: Vec<TopicAssignment> = Vec::new();
    for tp in decoded.assigned_partitions {
        let topic = tp.topic.0.to_string();
        match topics.iter_mut().find(|t| t.topic == topic) {
            Some(existing) => existing.partitions.extend(tp.partitions),
            None => topics.push(TopicAssignment {
                topic,
                partitions: tp.partitions,
            }),
        }
    }
    for t in &mut topics {
        t.partitions.sort_unstable();
        t.partitions.dedup();
    }
    topics.sort_by(|a, b| a.topic.cmp(&b.topic));
    Ok(topics)
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn group_id_of(group_id: &str) -> GroupId {
    GroupId(str_bytes(group_id))
}

fn missing_group(api: &str, group_id: &str) -> ClientError {
    // The node answered but left the group out: treat it as an unknown server error.
    ClientError::kafka(
        format!("{api} answer for group {group_id}"),
        -1,
        Some("no result for the group".into()),
    )
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::Encodable;

    use super::*;

    fn encoded(version: i16, topics: &[(&'static str, &[i32])]) -> Bytes {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
            topics
                .iter()
                .map(|(topic, partitions)| {
                    TopicPartition::default()
                        .with_topic(TopicName(StrBytes::from_static_str(topic)))
                        .with_partitions(partitions.to_vec())
                })
                .collect(),
        );
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        assignment
            .encode(&mut buf, version.min(ASSIGNMENT_VERSION_MAX))
            .unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_assignments_of_every_version() {
        for version in [0, 1, 3, 4] {
            let bytes = encoded(version, &[("b", &[2, 0]), ("a", &[5]), ("b", &[1])]);
            let topics = decode_assignment(bytes).unwrap();
            assert_eq!(
                topics,
                [
                    TopicAssignment {
                        topic: "a".into(),
                        partitions: vec![5]
                    },
                    TopicAssignment {
                        topic: "b".into(),
                        partitions: vec![0, 1, 2]
                    },
                ],
                "version {version}"
            );
        }
    }

    #[test]
    fn empty_and_broken_assignments() {
        assert!(decode_assignment(Bytes::new()).unwrap().is_empty());
        assert!(decode_assignment(Bytes::from_static(&[0])).is_err());
        assert!(decode_assignment(Bytes::from_static(&[0xff, 0xff, 0, 0, 0, 1])).is_err());
        // A version, then an array announcing one topic and nothing more.
        assert!(decode_assignment(Bytes::from_static(&[0, 0, 0, 0, 0, 1])).is_err());
    }

    #[test]
    fn lag_is_never_negative() {
        assert_eq!(lag(40, 100), 60);
        assert_eq!(lag(100, 100), 0);
        assert_eq!(lag(120, 100), 0);
    }
}
