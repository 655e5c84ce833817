//! OffsetForLeaderEpoch (KIP-101/KIP-320): where a leader epoch ends in a partition's log,
//! so that a consumer that saw a leader change can tell whether the log it read was
//! truncated (its position past the end of the epoch it last fetched). The answer comes
//! from the partition actor's `EpochEndOffset`, the same lookup followers truncate by. A
//! `current_leader_epoch` older than the leader's is FENCED_LEADER_EPOCH, a newer one
//! UNKNOWN_LEADER_EPOCH (the client's metadata is ahead of this node's), as in Kafka.

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset as EpochEnd, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, RequestHeader,
};
use kafka_protocol::ResponseError;

use super::Broker;
use crate::error::kafka_error;
use eddy_actors::error::ActorResult;
use eddy_actors::partition::EpochEndOffset;

/// How a client's `current_leader_epoch` compares with the leader's (-1: not checked).
fn check_current(current: i32, leader: i32) -> Option<ResponseError> {
    match current {
        c if c < 0 || c == leader => None,
        c if c < leader => Some(ResponseError::FencedLeaderEpoch),
        _ => Some(ResponseError::UnknownLeaderEpoch),
    }
}

async fn end_of(
    broker: &Broker,
    topic: &str,
    partition: i32,
    epoch: i32,
) -> ActorResult<(i32, i64)> {
    let handle = broker.leader_partition(topic, partition)?;
    handle
        .send(EpochEndOffset {
            epoch,
            leader: true,
        })
        .await?
}

pub async fn handle(
    broker: &Broker,
    _header: &RequestHeader,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let snapshot = broker.snapshot();
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = t.topic.0.as_str();
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let answer = EpochEnd::default()
                .with_partition(p.partition)
                .with_leader_epoch(-1)
                .with_end_offset(-1);
            let leader_epoch = snapshot
                .topics
                .get(name)
                .and_then(|topic| topic.partitions.get(usize::try_from(p.partition).ok()?))
                .map(|record| record.leader_epoch);
            if let Some(err) = leader_epoch.and_then(|e| check_current(p.current_leader_epoch, e)) {
                partitions.push(answer.with_error_code(err.code()));
                continue;
            }
            partitions.push(
                match end_of(broker, name, p.partition, p.leader_epoch).await {
                    Ok((epoch, end)) => answer.with_leader_epoch(epoch).with_end_offset(end),
                    Err(err) => answer.with_error_code(kafka_error(&err).code()),
                },
            );
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_or_future_current_epoch_is_refused_as_kafka_does() {
        assert_eq!(check_current(-1, 4), None, "not checked");
        assert_eq!(check_current(4, 4), None);
        assert_eq!(check_current(3, 4), Some(ResponseError::FencedLeaderEpoch));
        assert_eq!(check_current(5, 4), Some(ResponseError::UnknownLeaderEpoch));
    }
}
