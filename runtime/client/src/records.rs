//! Record batches on the wire: building magic-2 batches to produce, reading fetched ones.
//!
//! No I/O here. A fetched `records` field is a run of batches whose last one may be cut
//! short by the node's size limit; only complete batches are decoded, and the caller learns
//! where the next fetch starts (the last batch's base offset + last offset delta + 1, which
//! also steps over offsets that compaction removed). Header values decode into an
//! `IndexMap` inside `kafka-protocol`, so a record carrying the same header key twice
//! comes back with the last value only.

use std::fmt;
use std::str::FromStr;

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    self, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};

/// Bytes of a magic-2 batch header, before its records.
pub(crate) const BATCH_HEADER_BYTES: usize = 61;
/// Bytes of the base offset and length fields that precede every batch.
const BATCH_LOG_OVERHEAD_BYTES: usize = 12;
/// Offset of the magic byte within a batch.
const MAGIC_OFFSET: usize = 16;
/// Offset of the last offset delta within a batch.
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// The only record batch format this client reads and writes.
const MAGIC_V2: u8 = 2;
/// Worst-case bytes of the varints and attribute byte framing one record.
const RECORD_OVERHEAD_BYTES_MAX: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;
/// Worst-case bytes of the two varints framing one header.
const HEADER_OVERHEAD_BYTES_MAX: usize = 10;

/// A record header: a key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header key (UTF-8, as Kafka requires).
    pub key: String,
    /// The header value, `None` for a null value.
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Self {
            key: key.into(),
            value: Some(value.into()),
        }
    }
}

/// How a producer compresses its batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as Kafka writes it).
    Snappy,
    /// LZ4 frames.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    fn to_protocol(self) -> records::Compression {
        match self {
            Self::None => records::Compression::None,
            Self::Gzip => records::Compression::Gzip,
            Self::Snappy => records::Compression::Snappy,
            Self::Lz4 => records::Compression::Lz4,
            Self::Zstd => records::Compression::Zstd,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        })
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "gzip" => Ok(Self::Gzip),
            "snappy" => Ok(Self::Snappy),
            "lz4" => Ok(Self::Lz4),
            "zstd" => Ok(Self::Zstd),
            other => Err(format!(
                "unknown compression `{other}`: expected none, gzip, snappy, lz4 or zstd"
            )),
        }
    }
}

/// A record waiting in a producer batch.
#[derive(Debug, Clone)]
pub(crate) struct PendingRecord {
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
    pub(crate) timestamp_ms: i64,
}

impl PendingRecord {
    /// An upper bound of the record's encoded size inside a batch (before compression).
    pub(crate) fn size_bound(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| {
                HEADER_OVERHEAD_BYTES_MAX + h.key.len() + h.value.as_ref().map_or(0, Bytes::len)
            })
            .sum();
        RECORD_OVERHEAD_BYTES_MAX
            + self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + headers
    }
}

/// Encodes `pending` as one magic-2 batch with base offset 0 (the node assigns offsets).
pub(crate) fn encode_batch(
    pending: &[PendingRecord],
    compression: Compression,
) -> Result<Bytes, String> {
    let records: Vec<Record> = pending
        .iter()
        .enumerate()
        .map(|(index, record)| to_protocol_record(index, record))
        .collect();
    let options = RecordEncodeOptions {
        version: MAGIC_V2 as i8,
        compression: compression.to_protocol(),
    };
    let mut buf = BytesMut::with_capacity(
        BATCH_HEADER_BYTES + pending.iter().map(PendingRecord::size_bound).sum::<usize>(),
    );
    RecordBatchEncoder::encode(&mut buf, &records, &options).map_err(|err| format!("{err:#}"))?;
    Ok(buf.freeze())
}

fn to_protocol_record(index: usize, record: &PendingRecord) -> Record {
    let offset = i64::try_from(index).unwrap_or(i64::MAX);
    let headers: IndexMap<StrBytes, Option<Bytes>> = record
        .headers
        .iter()
        .map(|h| (StrBytes::from_string(h.key.clone()), h.value.clone()))
        .collect();
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset,
        // The encoder keeps records in one batch only while offset - sequence is constant,
        // and derives the base sequence from the first record: sequence = offset - 1 gives
        // one batch with base sequence -1 (no idempotence).
        sequence: (offset as i32).wrapping_sub(1),
        timestamp: record.timestamp_ms,
        key: record.key.clone(),
        value: record.value.clone(),
        headers,
    }
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp in milliseconds since the epoch (creation or log append time).
    pub timestamp: i64,
    /// The key, `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, `None` for a tombstone.
    pub value: Option<Bytes>,
    /// The headers, in record order (a repeated key keeps only its last value).
    pub headers: Vec<Header>,
}

/// The records of one fetched partition, and where reading goes on.
#[derive(Debug, Default)]
pub(crate) struct DecodedRecords {
    /// Records at or above the fetch offset, control records left out.
    pub(crate) records: Vec<ConsumedRecord>,
    /// The offset after the last complete batch, if there was one.
    pub(crate) next_offset: Option<i64>,
    /// The full size of a batch that was cut short, when no complete batch came before it.
    pub(crate) truncated_batch_bytes: Option<usize>,
}

/// Decodes the complete batches of a fetched `records` field.
pub(crate) fn decode_records(
    topic: &str,
    partition: i32,
    mut data: Bytes,
    fetch_offset: i64,
) -> Result<DecodedRecords, String> {
    let mut decoded = DecodedRecords::default();
    while data.len() >= BATCH_LOG_OVERHEAD_BYTES {
        let base_offset = read_i64(&data, 0);
        let length = read_i32(&data, 8);
        let length = usize::try_from(length)
            .map_err(|_| format!("batch at offset {base_offset} has negative length {length}"))?;
        let total = BATCH_LOG_OVERHEAD_BYTES + length;
        if data.len() < total {
            if decoded.next_offset.is_none() {
                decoded.truncated_batch_bytes = Some(total);
            }
            break;
        }
        let mut batch = data.split_to(total);
        if total < BATCH_HEADER_BYTES {
            return Err(format!(
                "batch at offset {base_offset} is only {total} bytes"
            ));
        }
        if batch[MAGIC_OFFSET] != MAGIC_V2 {
            let magic = batch[MAGIC_OFFSET];
            return Err(format!(
                "batch at offset {base_offset} has unsupported magic {magic}"
            ));
        }
        let last_offset_delta = read_i32(&batch, LAST_OFFSET_DELTA_OFFSET);
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|err| format!("batch at offset {base_offset}: {err:#}"))?;
        let wanted = set
            .records
            .into_iter()
            .filter(|r| !r.control && r.offset >= fetch_offset);
        decoded
            .records
            .extend(wanted.map(|r| consumed(topic, partition, r)));
        decoded.next_offset = Some(base_offset + i64::from(last_offset_delta) + 1);
    }
    Ok(decoded)
}

fn consumed(topic: &str, partition: i32, record: Record) -> ConsumedRecord {
    ConsumedRecord {
        topic: topic.to_owned(),
        partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: record.key,
        value: record.value,
        headers: record
            .headers
            .into_iter()
            .map(|(key, value)| Header {
                key: key.to_string(),
                value,
            })
            .collect(),
    }
}

fn read_i64(data: &[u8], at: usize) -> i64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&data[at..at + 8]);
    i64::from_be_bytes(bytes)
}

fn read_i32(data: &[u8], at: usize) -> i32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&data[at..at + 4]);
    i32::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(count: usize) -> Vec<PendingRecord> {
        (0..count)
            .map(|i| PendingRecord {
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("value-{i}"))),
                headers: vec![
                    Header::new("h", format!("{i}")),
                    Header {
                        key: "null".into(),
                        value: None,
                    },
                ],
                timestamp_ms: 1_700_000_000_000 + i as i64,
            })
            .collect()
    }

    /// A batch as a node stores it: the base offset rewritten to `base`.
    fn at_offset(batch: &Bytes, base: i64) -> Bytes {
        let mut bytes = BytesMut::from(&batch[..]);
        bytes[..8].copy_from_slice(&base.to_be_bytes());
        bytes.freeze()
    }

    #[test]
    fn batches_round_trip_with_every_compression() {
        for compression in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let records = pending(5);
            let batch = encode_batch(&records, compression).unwrap();
            let decoded = decode_records("t", 0, batch, 0).unwrap();
            assert_eq!(decoded.next_offset, Some(5), "{compression}");
            assert_eq!(decoded.records.len(), 5);
            for (i, record) in decoded.records.iter().enumerate() {
                assert_eq!(record.offset, i as i64);
                assert_eq!(record.key, records[i].key);
                assert_eq!(record.value, records[i].value);
                assert_eq!(record.headers, records[i].headers);
                assert_eq!(record.timestamp, records[i].timestamp_ms);
            }
        }
    }

    #[test]
    fn one_batch_without_producer_id() {
        let batch = encode_batch(&pending(3), Compression::None).unwrap();
        let mut buf = batch.clone();
        let infos = RecordBatchDecoder::decode_batch_info(&mut buf).unwrap();
        assert_eq!(infos.len(), 1);
        assert_eq!(infos[0].record_count, 3);
        assert_eq!(infos[0].base_sequence, -1);
        assert_eq!(infos[0].producer_id, -1);
    }

    #[test]
    fn skips_records_below_the_fetch_offset_and_stops_at_a_cut_batch() {
        let first = at_offset(&encode_batch(&pending(4), Compression::None).unwrap(), 10);
        let second = at_offset(&encode_batch(&pending(2), Compression::Lz4).unwrap(), 14);
        let mut data = BytesMut::new();
        data.extend_from_slice(&first);
        data.extend_from_slice(&second[..second.len() - 3]);
        let decoded = decode_records("t", 3, data.freeze(), 12).unwrap();
        let offsets: Vec<i64> = decoded.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [12, 13]);
        assert_eq!(decoded.next_offset, Some(14));
        assert_eq!(decoded.truncated_batch_bytes, None);
        assert_eq!(decoded.records[0].partition, 3);
    }

    #[test]
    fn reports_a_batch_too_big_for_the_fetch() {
        let batch = encode_batch(&pending(4), Compression::None).unwrap();
        let decoded = decode_records("t", 0, batch.slice(..40), 0).unwrap();
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.next_offset, None);
        assert_eq!(decoded.truncated_batch_bytes, Some(batch.len()));
    }

    #[test]
    fn rejects_corrupt_batches() {
        let batch = encode_batch(&pending(2), Compression::None).unwrap();
        let mut corrupt = BytesMut::from(&batch[..]);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        assert!(decode_records("t", 0, corrupt.freeze(), 0).is_err());
        let mut old_magic = BytesMut::from(&batch[..]);
        old_magic[MAGIC_OFFSET] = 1;
        assert!(decode_records("t", 0, old_magic.freeze(), 0).is_err());
    }

    #[test]
    fn size_bound_covers_the_encoding() {
        let records = pending(20);
        let batch = encode_batch(&records, Compression::None).unwrap();
        let bound: usize = records.iter().map(PendingRecord::size_bound).sum();
        assert!(batch.len() <= BATCH_HEADER_BYTES + bound);
    }

    #[test]
    fn compression_names_parse() {
        assert_eq!("ZSTD".parse::<Compression>(), Ok(Compression::Zstd));
        assert!("brotli".parse::<Compression>().is_err());
        assert_eq!(Compression::Lz4.to_string(), "lz4");
    }
}
