//! The Kafka record codec behind compaction: decodes stored batches into records and
//! encodes the survivors into a batch with the original's compression, timestamp type and
//! producer, using the `kafka-protocol` crate.
//!
//! Known limit: headers pass through an `IndexMap`, so a record with a repeated header key
//! keeps only the last value when its batch is rewritten.

use bytes::{Bytes, BytesMut};
use eddy_actors::batch::BatchHeader;
use eddy_actors::compaction::{LogRecord, RecordCodec};
use indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// [`RecordCodec`] over kafka-protocol.
pub struct KafkaRecordCodec;

fn compression(attributes: i16) -> Compression {
    match attributes & 0x07 {
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        3 => Compression::Lz4,
        4 => Compression::Zstd,
        _ => Compression::None,
    }
}

impl RecordCodec for KafkaRecordCodec {
    fn decode(&self, batch: &[u8]) -> Result<Vec<LogRecord>, String> {
        let mut buf = Bytes::copy_from_slice(batch);
        let set = RecordBatchDecoder::decode(&mut buf).map_err(|e| e.to_string())?;
        Ok(set
            .records
            .into_iter()
            .map(|r| LogRecord {
                offset: r.offset,
                timestamp: r.timestamp,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v))
                    .collect(),
                sequence: r.sequence,
            })
            .collect())
    }

    fn encode(&self, template: &BatchHeader, records: &[LogRecord]) -> Result<Vec<u8>, String> {
        let timestamp_type = if template.attributes & 0x08 != 0 {
            TimestampType::LogAppend
        } else {
            TimestampType::Creation
        };
        // The encoder starts a new batch wherever `offset - sequence` changes; compaction
        // leaves offset gaps, so sequences are derived from the first record's to keep one
        // batch (the header stores only the base sequence).
        let (first_offset, first_sequence) = records
            .first()
            .map(|r| (r.offset, r.sequence))
            .unwrap_or((0, -1));
        let records: Vec<Record> = records
            .iter()
            .map(|r| Record {
                transactional: template.is_transactional(),
                control: false,
                delete_horizon: false,
                partition_leader_epoch: template.leader_epoch,
                producer_id: template.producer_id,
                producer_epoch: template.producer_epoch,
                timestamp_type,
                offset: r.offset,
                sequence: first_sequence.wrapping_add((r.offset - first_offset) as i32),
                timestamp: r.timestamp,
                key: r.key.clone(),
                value: r.value.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                    .collect::<IndexMap<_, _>>(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: compression(template.attributes),
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).map_err(|e| e.to_string())?;
        let mut bytes = buf.to_vec();
        // The encoder writes CreateTime and takes the max timestamp from the records: a
        // LogAppendTime batch gets its type bit and the broker's time back.
        if timestamp_type == TimestampType::LogAppend {
            eddy_actors::batch::stamp_log_append_time(&mut bytes, template.max_timestamp);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(offset: i64, key: &str) -> LogRecord {
        LogRecord {
            offset,
            timestamp: 1_000 + offset,
            key: Some(Bytes::from(key.to_string())),
            value: Some(Bytes::from_static(b"v")),
            headers: vec![("h".into(), Some(Bytes::from_static(b"x")))],
            sequence: -1,
        }
    }

    #[test]
    fn rewritten_batches_keep_offsets_and_compression() {
        let template = BatchHeader {
            base_offset: 10,
            size: 0,
            last_offset_delta: 5,
            base_timestamp: 0,
            max_timestamp: 0,
            records_count: 6,
            attributes: 4, // zstd
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            leader_epoch: 0,
        };
        let kept = vec![record(12, "a"), record(15, "b")];
        let bytes = KafkaRecordCodec.encode(&template, &kept).expect("encode");
        let header = eddy_actors::batch::validate(&bytes).expect("valid batch");
        assert_eq!(header.base_offset, 12);
        assert_eq!(header.attributes & 0x07, 4);
        let back = KafkaRecordCodec.decode(&bytes).expect("decode");
        assert_eq!(
            back.iter()
                .map(|r| (r.offset, r.key.clone()))
                .collect::<Vec<_>>(),
            kept.iter()
                .map(|r| (r.offset, r.key.clone()))
                .collect::<Vec<_>>()
        );
    }
}
