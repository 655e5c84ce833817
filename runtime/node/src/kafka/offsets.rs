//! OffsetCommit, OffsetFetch and OffsetDelete: committed offsets live with the group's
//! coordinator, persisted in fjall. Commits for topics or partitions that do not exist get
//! UNKNOWN_TOPIC_OR_PARTITION; the rest of the request still commits.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::groups::coordinator;
use super::Broker;
use crate::error::group_code;
use eddy_actors::group::GroupError;
use eddy_actors::group_coordinator::{CommitOffsets, DeleteOffsets, FetchOffsets};
use eddy_actors::store::CommittedOffset;
use eddy_actors::TopicPartition;

fn partition_exists(broker: &Broker, topic: &str, partition: i32) -> bool {
    broker
        .snapshot()
        .topics
        .get(topic)
        .is_some_and(|t| partition >= 0 && (partition as usize) < t.partitions.len())
}

pub async fn commit(
    broker: &Broker,
    _header: &RequestHeader,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let mut valid = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            if partition_exists(broker, t.name.0.as_str(), p.partition_index) {
                let metadata = p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.as_str().to_string());
                valid.push((
                    TopicPartition::new(t.name.0.as_str(), p.partition_index),
                    p.committed_offset,
                    p.committed_leader_epoch,
                    metadata,
                ));
            }
        }
    }
    let outcome: Result<(), ResponseError> =
        match coordinator(broker, req.group_id.0.as_str(), true).await {
            Err(e) => Err(e),
            Ok(addr) => {
                let msg = CommitOffsets {
                    member_id: req.member_id.as_str().to_string(),
                    generation_id: req.generation_id_or_member_epoch,
                    group_instance_id: req
                        .group_instance_id
                        .as_ref()
                        .map(|s| s.as_str().to_string()),
                    offsets: valid,
                };
                let r = addr
                    .send(msg)
                    .await
                    .unwrap_or(Err(GroupError::CoordinatorNotAvailable));
                r.map_err(crate::error::group_error)
            }
        };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = if !partition_exists(broker, t.name.0.as_str(), p.partition_index) {
                        ResponseError::UnknownTopicOrPartition.code()
                    } else {
                        outcome.err().map(|e| e.code()).unwrap_or(0)
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// Committed offsets by topic: (topic, [(partition, committed offset)]).
type ByTopic = Vec<(TopicName, Vec<(i32, Option<CommittedOffset>)>)>;

/// Committed offsets of one group. `None` = all.
async fn fetch_group(
    broker: &Broker,
    group_id: &str,
    wanted: Option<Vec<(TopicName, Vec<i32>)>>,
) -> Result<ByTopic, ResponseError> {
    let addr = match coordinator(broker, group_id, false).await {
        Ok(addr) => Some(addr),
        Err(ResponseError::GroupIdNotFound) => None,
        Err(e) => return Err(e),
    };
    let asked: Option<Vec<TopicPartition>> = wanted.as_ref().map(|w| {
        w.iter()
            .flat_map(|(t, ps)| {
                ps.iter()
                    .map(move |p| TopicPartition::new(t.0.as_str(), *p))
            })
            .collect()
    });
    let found = match &addr {
        Some(addr) => addr
            .send(FetchOffsets(asked.clone()))
            .await
            .map_err(|_| ResponseError::CoordinatorNotAvailable)?,
        None => asked
            .unwrap_or_default()
            .into_iter()
            .map(|tp| (tp, None))
            .collect(),
    };
    let mut out: ByTopic = Vec::new();
    for (tp, committed) in found {
        match out.iter_mut().find(|(t, _)| t.0.as_str() == tp.topic) {
            Some((_, ps)) => ps.push((tp.partition, committed)),
            None => out.push((
                TopicName(StrBytes::from_string(tp.topic.clone())),
                vec![(tp.partition, committed)],
            )),
        }
    }
    Ok(out)
}

fn offset_of(c: &Option<CommittedOffset>) -> (i64, i32, Option<StrBytes>) {
    match c {
        Some(c) => (
            c.offset,
            c.leader_epoch,
            Some(StrBytes::from_string(
                c.metadata.clone().unwrap_or_default(),
            )),
        ),
        None => (-1, -1, Some(StrBytes::new())),
    }
}

pub async fn fetch(
    broker: &Broker,
    header: &RequestHeader,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let version = header.request_api_version;
    if version >= 8 {
        let mut groups = Vec::with_capacity(req.groups.len());
        for g in req.groups {
            let wanted = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name, t.partition_indexes))
                    .collect()
            });
            let group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            groups.push(
                match fetch_group(broker, g.group_id.0.as_str(), wanted).await {
                    Ok(topics) => group.with_topics(
                        topics
                            .into_iter()
                            .map(|(name, ps)| {
                                let partitions = ps
                                    .iter()
                                    .map(|(p, c)| {
                                        let (offset, epoch, metadata) = offset_of(c);
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(*p)
                                            .with_committed_offset(offset)
                                            .with_committed_leader_epoch(epoch)
                                            .with_metadata(metadata)
                                    })
                                    .collect();
                                OffsetFetchResponseTopics::default()
                                    .with_name(name)
                                    .with_partitions(partitions)
                            })
                            .collect(),
                    ),
                    Err(e) => group.with_error_code(e.code()),
                },
            );
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    match fetch_group(broker, req.group_id.0.as_str(), wanted).await {
        Ok(topics) => {
            let topics = topics
                .into_iter()
                .map(|(name, ps)| {
                    let partitions = ps
                        .iter()
                        .map(|(p, c)| {
                            let (offset, epoch, metadata) = offset_of(c);
                            let part = OffsetFetchResponsePartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(offset)
                                .with_metadata(metadata);
                            if version >= 5 {
                                part.with_committed_leader_epoch(epoch)
                            } else {
                                part
                            }
                        })
                        .collect();
                    OffsetFetchResponseTopic::default()
                        .with_name(name)
                        .with_partitions(partitions)
                })
                .collect();
            OffsetFetchResponse::default().with_topics(topics)
        }
        // v1 has no top-level error; from v2 on the group-level error says what happened
        // (an empty answer would make consumers reset their offsets).
        Err(e) if version >= 2 => OffsetFetchResponse::default().with_error_code(e.code()),
        Err(_) => OffsetFetchResponse::default(),
    }
}

pub async fn delete(
    broker: &Broker,
    _header: &RequestHeader,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    let addr = match coordinator(broker, req.group_id.0.as_str(), false).await {
        Ok(addr) => addr,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.code()),
    };
    let tps: Vec<TopicPartition> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| TopicPartition::new(t.name.0.as_str(), p.partition_index))
        })
        .collect();
    let delete = DeleteOffsets {
        partitions: tps,
        topics_of: subscription_topics,
    };
    let outcome = match addr.send(delete).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(err)) => {
            return OffsetDeleteResponse::default().with_error_code(group_code::<()>(&Err(err)))
        }
        Err(_) => {
            let err = GroupError::CoordinatorNotAvailable;
            return OffsetDeleteResponse::default().with_error_code(group_code::<()>(&Err(err)));
        }
    };
    let code_of = |topic: &str, partition: i32| {
        outcome
            .iter()
            .find(|(tp, _)| tp.topic == topic && tp.partition == partition)
            .and_then(|(_, err)| *err)
            .map_or(0, |err| group_code::<()>(&Err(err)))
    };
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code_of(t.name.0.as_str(), p.partition_index))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}

/// The topics of one member's `consumer` protocol metadata (a versioned
/// ConsumerProtocolSubscription), or `None` if it cannot be read.
fn subscription_topics(metadata: &bytes::Bytes) -> Option<Vec<String>> {
    use bytes::Buf;
    use kafka_protocol::protocol::{Decodable, Message};
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    // A newer client's version is read as the newest this crate knows (fields are added
    // at the end, as Kafka's own coordinator reads them).
    let version = version.min(ConsumerProtocolSubscription::VERSIONS.max);
    let subscription = ConsumerProtocolSubscription::decode(&mut buf, version).ok()?;
    Some(subscription.topics.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn a_members_subscription_is_read_from_its_metadata() {
        let subscription = ConsumerProtocolSubscription::default().with_topics(vec![
            StrBytes::from_static_str("orders"),
            StrBytes::from_static_str("users"),
        ]);
        let mut buf = bytes::BytesMut::new();
        buf.extend_from_slice(&1i16.to_be_bytes());
        subscription.encode(&mut buf, 1).expect("encode");
        let topics = subscription_topics(&buf.freeze());
        assert_eq!(
            topics,
            Some(vec!["orders".to_string(), "users".to_string()])
        );
        assert_eq!(
            subscription_topics(&bytes::Bytes::from_static(b"\x00")),
            None
        );
        assert_eq!(
            subscription_topics(&bytes::Bytes::from_static(b"\x00\x01\xff")),
            None
        );
    }
}
