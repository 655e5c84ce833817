//! Kafka record batches (magic 2) as stored bytes: header accessors, validation (sizes, magic,
//! CRC-32C) and the in-place rewrites a partition does when it appends (base offset and
//! partition leader epoch, neither covered by the CRC).
//!
//! The batch body is never decoded here: Eddy stores and serves batches as the client sent
//! them.

use crate::error::{ActorError, ActorResult};

/// Size of the fixed v2 batch header in bytes.
pub const BATCH_HEADER_BYTES: usize = 61;
const LENGTH_OFFSET: usize = 8;
const LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Attribute bit 3: the timestamps are the broker's append time.
const LOG_APPEND_TIME_BIT: i16 = 0x08;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;
/// Bytes of the header that precede the part the CRC covers plus the length field itself:
/// `batchLength` counts the bytes after offset 12.
const LENGTH_FIELD_END: usize = 12;

/// A view of one record batch's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// First offset of the batch.
    pub base_offset: i64,
    /// Total size of the batch in bytes, header included.
    pub size: usize,
    /// Offset of the last record relative to `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Greatest record timestamp in the batch.
    pub max_timestamp: i64,
    /// Number of records the batch says it holds.
    pub records_count: i32,
    /// The attributes (compression, timestamp type, transactional, control).
    pub attributes: i16,
    /// Producer id (-1 when not idempotent).
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence number of the first record (-1 when not idempotent).
    pub base_sequence: i32,
    /// The leader epoch stamped when the batch was appended.
    pub leader_epoch: i32,
}

impl BatchHeader {
    /// The offset of the last record of the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Whether the batch belongs to a transaction (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Reads the header of the batch at the start of `bytes` without checking the CRC.
/// Fails if the bytes are too short for the header or for the length it announces.
pub fn read_header(bytes: &[u8]) -> ActorResult<BatchHeader> {
    if bytes.len() < BATCH_HEADER_BYTES {
        return Err(ActorError::CorruptBatch(format!(
            "{} bytes is shorter than a batch header ({BATCH_HEADER_BYTES} bytes)",
            bytes.len()
        )));
    }
    let length = be_i32(bytes, LENGTH_OFFSET);
    let size = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(LENGTH_FIELD_END))
        .filter(|s| *s >= BATCH_HEADER_BYTES)
        .ok_or_else(|| ActorError::CorruptBatch(format!("invalid batch length {length}")))?;
    if size > bytes.len() {
        return Err(ActorError::CorruptBatch(format!(
            "batch announces {size} bytes but only {} were sent",
            bytes.len()
        )));
    }
    Ok(BatchHeader {
        base_offset: be_i64(bytes, 0),
        size,
        last_offset_delta: be_i32(bytes, LAST_OFFSET_DELTA_OFFSET),
        base_timestamp: be_i64(bytes, BASE_TIMESTAMP_OFFSET),
        max_timestamp: be_i64(bytes, MAX_TIMESTAMP_OFFSET),
        records_count: be_i32(bytes, RECORDS_COUNT_OFFSET),
        attributes: be_i16(bytes, ATTRIBUTES_OFFSET),
        producer_id: be_i64(bytes, PRODUCER_ID_OFFSET),
        producer_epoch: be_i16(bytes, PRODUCER_EPOCH_OFFSET),
        base_sequence: be_i32(bytes, BASE_SEQUENCE_OFFSET),
        leader_epoch: be_i32(bytes, LEADER_EPOCH_OFFSET),
    })
}

/// Validates one complete batch: magic 2, CRC-32C over attributes..end, a sane record
/// count and last offset delta.
pub fn validate(batch: &[u8]) -> ActorResult<BatchHeader> {
    let header = read_header(batch)?;
    if header.size != batch.len() {
        return Err(ActorError::CorruptBatch(format!(
            "batch length {} does not match its {} bytes",
            header.size,
            batch.len()
        )));
    }
    let magic = batch[MAGIC_OFFSET];
    if magic != 2 {
        return Err(ActorError::CorruptBatch(format!(
            "magic {magic} is not supported (only record batches of magic 2)"
        )));
    }
    let stored_crc = u32::from_be_bytes([
        batch[CRC_OFFSET],
        batch[CRC_OFFSET + 1],
        batch[CRC_OFFSET + 2],
        batch[CRC_OFFSET + 3],
    ]);
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    if crc != stored_crc {
        return Err(ActorError::CorruptBatch(format!(
            "CRC-32C mismatch: batch says {stored_crc:#010x}, bytes give {crc:#010x}"
        )));
    }
    if header.records_count <= 0 || header.last_offset_delta < 0 {
        return Err(ActorError::CorruptBatch(format!(
            "batch holds {} records with last offset delta {}",
            header.records_count, header.last_offset_delta
        )));
    }
    Ok(header)
}

/// Splits the records field of a produce request into validated batches.
/// All or nothing: one bad batch refuses the whole set.
pub fn split_and_validate(records: &[u8]) -> ActorResult<Vec<(usize, BatchHeader)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < records.len() {
        let header = read_header(&records[at..])?;
        validate(&records[at..at + header.size])?;
        out.push((at, header));
        at += header.size;
    }
    if out.is_empty() {
        return Err(ActorError::CorruptBatch(
            "no record batch in request".into(),
        ));
    }
    Ok(out)
}

/// Rewrites the base offset and partition leader epoch of a batch in place. Both sit
/// before the CRC-covered part, so the CRC stays valid.
pub fn assign_offset(batch: &mut [u8], base_offset: i64, leader_epoch: i32) {
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[LEADER_EPOCH_OFFSET..LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
}

/// Writes the greatest record timestamp into a create-time batch whose producer got it
/// wrong (as Kafka's LogValidator does), so time indexes and retention see the truth. The
/// max timestamp is CRC-covered, so the CRC is recomputed.
pub fn set_max_timestamp(batch: &mut [u8], max_timestamp: i64) {
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Stamps a batch with the broker's time (`message.timestamp.type=LogAppendTime`): sets the
/// timestamp-type attribute and the max timestamp, which changes CRC-covered bytes, so the
/// CRC is recomputed.
pub fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = be_i16(batch, ATTRIBUTES_OFFSET) | LOG_APPEND_TIME_BIT;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Appends `v` as a zigzag varint, as Kafka's record format writes it.
    pub(crate) fn zigzag(v: i64, out: &mut Vec<u8>) {
        let mut raw = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            if raw < 0x80 {
                out.push(raw as u8);
                return;
            }
            out.push((raw as u8 & 0x7f) | 0x80);
            raw >>= 7;
        }
    }

    /// One record in Kafka's format, with one header `h` of null value.
    pub(crate) fn record(
        offset_delta: i64,
        ts_delta: i64,
        key: Option<&[u8]>,
        value: &[u8],
    ) -> Vec<u8> {
        let mut body = vec![0u8];
        zigzag(ts_delta, &mut body);
        zigzag(offset_delta, &mut body);
        match key {
            Some(k) => {
                zigzag(k.len() as i64, &mut body);
                body.extend_from_slice(k);
            }
            None => zigzag(-1, &mut body),
        }
        zigzag(value.len() as i64, &mut body);
        body.extend_from_slice(value);
        zigzag(1, &mut body);
        zigzag(1, &mut body);
        body.push(b'h');
        zigzag(-1, &mut body);
        let mut out = Vec::new();
        zigzag(body.len() as i64, &mut out);
        out.extend(body);
        out
    }

    /// Builds a valid batch of `count` records, each keyed `k` with `value`.
    pub(crate) fn make_batch(count: i32, value: &[u8]) -> Vec<u8> {
        make_idempotent_batch(count, value, -1, 0, -1)
    }

    /// A batch from an idempotent producer (`producer_id` ≥ 0).
    pub(crate) fn make_idempotent_batch(
        count: i32,
        value: &[u8],
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
    ) -> Vec<u8> {
        let body: Vec<u8> = (0..i64::from(count))
            .flat_map(|i| record(i, 0, Some(b"k"), value))
            .collect();
        make_raw_batch(count, &body, producer_id, epoch, base_sequence)
    }

    /// A batch around `body` as given (valid or not), with a correct CRC.
    pub(crate) fn make_raw_batch(
        count: i32,
        body: &[u8],
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
    ) -> Vec<u8> {
        let mut b = vec![0u8; BATCH_HEADER_BYTES];
        b.extend_from_slice(body);
        let len = (b.len() - LENGTH_FIELD_END) as i32;
        b[LENGTH_OFFSET..LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
        b[MAGIC_OFFSET] = 2;
        b[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
            .copy_from_slice(&(count - 1).to_be_bytes());
        b[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&1000i64.to_be_bytes());
        b[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&count.to_be_bytes());
        b[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8].copy_from_slice(&producer_id.to_be_bytes());
        b[PRODUCER_EPOCH_OFFSET..PRODUCER_EPOCH_OFFSET + 2].copy_from_slice(&epoch.to_be_bytes());
        b[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4]
            .copy_from_slice(&base_sequence.to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn valid_batch_passes_and_offset_rewrite_keeps_crc() {
        let mut b = make_batch(3, b"payload");
        let h = validate(&b).expect("valid");
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assign_offset(&mut b, 42, 7);
        let h = validate(&b).expect("still valid after rewrite");
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.last_offset(), 44);
    }

    #[test]
    fn log_append_time_stamp_keeps_the_batch_valid() {
        let mut b = make_batch(2, b"xy");
        stamp_log_append_time(&mut b, 1_234);
        let h = validate(&b).expect("valid after restamp");
        assert_eq!(h.max_timestamp, 1_234);
        assert_eq!(h.attributes & LOG_APPEND_TIME_BIT, LOG_APPEND_TIME_BIT);
    }

    #[test]
    fn flipped_byte_is_corrupt() {
        let mut b = make_batch(1, b"payload");
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(validate(&b), Err(ActorError::CorruptBatch(m)) if m.contains("CRC")));
    }

    #[test]
    fn wrong_magic_and_truncation_are_corrupt() {
        let mut b = make_batch(1, b"x");
        b[MAGIC_OFFSET] = 1;
        assert!(validate(&b).is_err());
        let b = make_batch(1, b"xyz");
        assert!(split_and_validate(&b[..b.len() - 1]).is_err());
        assert!(split_and_validate(&b[..10]).is_err());
        assert!(split_and_validate(&[]).is_err());
    }

    #[test]
    fn several_batches_split() {
        let mut all = make_batch(2, b"a");
        all.extend(make_batch(5, b"bb"));
        let parts = split_and_validate(&all).expect("valid");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].1.records_count, 5);
    }
}
