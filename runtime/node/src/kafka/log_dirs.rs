//! DescribeLogDirs: the node's one log directory (its data dir, where fjall keeps every
//! partition), each hosted replica's size in bytes, and (v4) the file system's total and
//! usable bytes — what `kafka-log-dirs --describe` and admin UIs show. Eddy has no future
//! replicas (moves between log dirs), so `offset_lag` is 0 and `is_future_key` false.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    DescribeLogDirsRequest, DescribeLogDirsResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use super::Broker;
use eddy_actors::partition::GetLogBytes;

pub async fn describe(
    broker: &Broker,
    _header: &RequestHeader,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let wanted = |topic: &str, partition: i32| match &req.topics {
        None => true,
        Some(topics) => topics
            .iter()
            .any(|t| t.topic.0.as_str() == topic && t.partitions.contains(&partition)),
    };
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    let mut local = broker.local_partitions();
    local.sort_by(|(a, _), (b, _)| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    for (tp, handle) in local {
        if !wanted(&tp.topic, tp.partition) {
            continue;
        }
        // A replica that cannot answer (restarting) is left out, as Kafka leaves out one
        // whose log is offline.
        let Ok(Ok(bytes)) = handle.send(GetLogBytes).await else {
            continue;
        };
        by_topic.entry(tp.topic.clone()).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(tp.partition)
                .with_partition_size(i64::try_from(bytes).unwrap_or(i64::MAX)),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    let (usable, total) = crate::storage_health::disk_space(&broker.data_dir).unwrap_or((0, 0));
    let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let error = if broker.storage_fault().is_some() {
        ResponseError::KafkaStorageError.code()
    } else {
        0
    };
    let dir = DescribeLogDirsResult::default()
        .with_error_code(error)
        .with_log_dir(StrBytes::from_string(broker.data_dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(to_i64(total))
        .with_usable_bytes(to_i64(usable));
    DescribeLogDirsResponse::default().with_results(vec![dir])
}
