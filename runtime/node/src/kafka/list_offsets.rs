//! ListOffsets: earliest (-2) is the log start offset, latest (-1) the high watermark, and a
//! timestamp gives the first record at or after it — offset -1 and timestamp -1 when none
//! is (clients rely on both).

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse, RequestHeader};
use kafka_protocol::records::RecordBatchDecoder;

use super::Broker;
use crate::error::kafka_error;
use eddy_actors::error::{ActorError, ActorResult};
use eddy_actors::partition::{FindByTimestamp, GetOffsets};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

/// (offset, timestamp) for one partition.
async fn lookup(
    broker: &Broker,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ActorResult<(i64, i64)> {
    let handle = broker.leader_partition(topic, partition)?;
    match timestamp {
        LATEST => Ok((handle.send(GetOffsets).await??.high_watermark, -1)),
        EARLIEST => Ok((handle.send(GetOffsets).await??.log_start_offset, -1)),
        ts if ts < 0 => Err(ActorError::InvalidConfig {
            name: "timestamp".into(),
            value: ts.to_string(),
            reason: "only -1 (latest), -2 (earliest) or a timestamp are supported".into(),
        }),
        ts => {
            let Some((mut batch, log_start)) =
                handle.send(FindByTimestamp { timestamp: ts }).await??
            else {
                return Ok((-1, -1));
            };
            // A LogAppendTime batch carries one timestamp for all its records: its max.
            let header = eddy_actors::batch::read_header(&batch)?;
            if header.attributes & 0x08 != 0 {
                return Ok((header.base_offset.max(log_start), header.max_timestamp));
            }
            // The batch's max timestamp is at or after the target; find the first record.
            let set = RecordBatchDecoder::decode(&mut batch)
                .map_err(|e| ActorError::Storage(format!("stored batch does not decode: {e}")))?;
            Ok(set
                .records
                .iter()
                .find(|r| r.offset >= log_start && r.timestamp >= ts)
                .map(|r| (r.offset, r.timestamp))
                .unwrap_or((-1, -1)))
        }
    }
}

pub async fn handle(
    broker: &Broker,
    header: &RequestHeader,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let version = header.request_api_version;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let resp =
                ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
            let resp = match lookup(broker, t.name.0.as_str(), p.partition_index, p.timestamp).await
            {
                Ok((offset, timestamp)) => {
                    let resp = resp.with_offset(offset).with_timestamp(timestamp);
                    if version >= 4 {
                        resp.with_leader_epoch(0)
                    } else {
                        resp
                    }
                }
                Err(err) => resp
                    .with_error_code(kafka_error(&err).code())
                    .with_offset(-1)
                    .with_timestamp(-1),
            };
            partitions.push(resp);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
