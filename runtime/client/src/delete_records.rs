//! DeleteRecords for the admin client (`eddy topic trim`): moves a partition's log start
//! offset forward, sent to the partition's leader.

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::{DeleteRecordsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::admin::Admin;
use super::error::{check_code, ClientError};

/// How long the node may take to apply the deletion.
const DELETE_RECORDS_TIMEOUT_MS: i32 = 30_000;

impl Admin {
    /// Deletes the records of `topic`/`partition` below `before_offset` (-1: everything up
    /// to the high watermark) and returns the new log start offset (low watermark).
    pub async fn delete_records(
        &mut self,
        topic: &str,
        partition: i32,
        before_offset: i64,
    ) -> Result<i64, ClientError> {
        let leader = self.partition_leader(topic, partition).await?;
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(DELETE_RECORDS_TIMEOUT_MS)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(partition)
                    .with_offset(before_offset)])]);
        let (response, _) = self
            .cluster_mut()
            .node(leader)
            .await?
            .send(&request)
            .await?;
        let result = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| {
                ClientError::kafka(
                    format!("DeleteRecords answer for {topic}-{partition}"),
                    -1,
                    None,
                )
            })?;
        check_code(
            result.error_code,
            || format!("delete records of {topic}-{partition} below {before_offset}"),
            None,
        )?;
        Ok(result.low_watermark)
    }
}
