//! DeleteRecords: moves each partition's log start offset forward, deleting whole batches
//! below it (`eddy topic trim`, Kafka's `kafka-delete-records`).

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse, RequestHeader};

use super::Broker;
use crate::error::kafka_error;

use eddy_actors::partition::DeleteRecords;

pub async fn handle(
    broker: &Broker,
    _header: &RequestHeader,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let result = match broker.leader_partition(t.name.0.as_str(), p.partition_index) {
                Ok(handle) => handle
                    .send(DeleteRecords {
                        before_offset: p.offset,
                    })
                    .await
                    .and_then(|r| r),
                Err(err) => Err(err),
            };
            let resp =
                DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            partitions.push(match result {
                Ok(low_watermark) => resp.with_low_watermark(low_watermark),
                Err(err) => resp
                    .with_low_watermark(-1)
                    .with_error_code(kafka_error(&err).code()),
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
