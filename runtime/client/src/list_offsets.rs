//! ListOffsets: the offset of a timestamp, the log start offset or the log end offset.

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::connection::Connection;
use super::error::{check_code, ClientError};

/// The special timestamp that asks for the log start offset.
pub(crate) const EARLIEST_TIMESTAMP: i64 = -2;
/// The special timestamp that asks for the log end offset.
pub(crate) const LATEST_TIMESTAMP: i64 = -1;

/// Asks the leader behind `connection` for the offset of `timestamp` in each partition.
pub(crate) async fn list_offsets(
    connection: &mut Connection,
    partitions: &[(String, i32)],
    timestamp: i64,
    read_committed: bool,
) -> Result<Vec<((String, i32), i64)>, ClientError> {
    let version = connection.version(ApiKey::ListOffsets)?;
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (topic, partition) in partitions {
        let entry = ListOffsetsPartition::default()
            .with_partition_index(*partition)
            .with_timestamp(timestamp);
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(existing) => existing.partitions.push(entry),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    let mut request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(topics);
    // The isolation level exists from v2 on; earlier versions only read uncommitted.
    if version >= 2 {
        request.isolation_level = i8::from(read_committed);
    }
    let (response, _) = connection.send(&request).await?;
    let mut offsets = Vec::new();
    for topic in response.topics {
        let name = topic.name.0.to_string();
        for partition in topic.partitions {
            let index = partition.partition_index;
            check_code(
                partition.error_code,
                || format!("list offsets of {name}/{index} at timestamp {timestamp}"),
                None,
            )?;
            offsets.push(((name.clone(), index), partition.offset));
        }
    }
    for wanted in partitions {
        if !offsets.iter().any(|(key, _)| key == wanted) {
            let (topic, partition) = wanted;
            let context = format!("list offsets of {topic}/{partition}");
            let message = Some("the answer left the partition out".to_owned());
            return Err(ClientError::kafka(context, -1, message));
        }
    }
    Ok(offsets)
}
