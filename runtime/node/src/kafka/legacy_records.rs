//! Produce v0–v2, as old clients send it (kcat with `broker.version.fallback` 0.8/0.9,
//! Kafka clients before 0.11): the body is Produce v3's without its `transactional_id`, and
//! each partition's records are a magic 0 or 1 *message set*, which the `kafka-protocol`
//! crate does not read (it decodes v3+ and magic 2 only). As Kafka's broker does, the
//! messages are converted on the way in to one magic-2 record batch per partition, which
//! then goes through the usual validation and append; the v0–v2 response is encoded here
//! (v2's layout is v3's; v1 lacks `log_append_time_ms`, v0 also `throttle_time_ms`).
//!
//! A message set: `offset i64, size i32, crc u32 (CRC-32 of the rest), magic i8,
//! attributes i8, [timestamp i64 if magic 1], key bytes, value bytes`, repeated. A message
//! whose attributes name a codec is a wrapper: its value is a compressed message set of
//! uncompressed messages. Pure functions, fuzzable.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use eddy_actors::log_validator::{decompress, Compression};
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};

/// The smallest magic-0 message: crc, magic, attributes, key length, value length.
const MESSAGE_MIN: usize = 4 + 1 + 1 + 4 + 4;
/// Timestamp type bit of a magic-1 message's attributes (LogAppendTime when set).
const LOG_APPEND_TIME_BIT: i8 = 0x08;
/// The codec bits of a message's attributes.
const CODEC_MASK: i8 = 0x07;

/// One message of a legacy message set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyMessage {
    /// Its timestamp; -1 for magic 0 (Kafka's NO_TIMESTAMP).
    pub timestamp: i64,
    /// Its key.
    pub key: Option<Bytes>,
    /// Its value.
    pub value: Option<Bytes>,
}

/// The messages of a message set, wrappers unwrapped (decompressed up to
/// `decompressed_max` bytes each).
pub fn read_message_set(
    mut set: Bytes,
    decompressed_max: usize,
) -> Result<Vec<LegacyMessage>, String> {
    let mut out = Vec::new();
    read_into(&mut set, decompressed_max, true, &mut out)?;
    if out.is_empty() {
        return Err("the message set holds no message".into());
    }
    Ok(out)
}

fn read_into(
    set: &mut Bytes,
    decompressed_max: usize,
    outer: bool,
    out: &mut Vec<LegacyMessage>,
) -> Result<(), String> {
    while set.has_remaining() {
        if set.remaining() < 12 {
            return Err(format!(
                "{} trailing byte(s) cannot hold a message header",
                set.remaining()
            ));
        }
        let _offset = set.get_i64();
        let size = set.get_i32();
        let size = usize::try_from(size)
            .ok()
            .filter(|s| *s >= MESSAGE_MIN && *s <= set.remaining())
            .ok_or_else(|| {
                format!(
                    "a message of {size} bytes with {} left in the set",
                    set.remaining()
                )
            })?;
        let mut message = set.split_to(size);
        let crc = message.get_u32();
        let computed = crc32fast::hash(&message);
        if crc != computed {
            return Err(format!(
                "message CRC {crc:#010x} does not match its bytes ({computed:#010x})"
            ));
        }
        let magic = message.get_i8();
        let attributes = message.get_i8();
        let timestamp = match magic {
            0 => -1,
            1 if message.remaining() >= 8 => message.get_i64(),
            1 => return Err("a magic-1 message too short for its timestamp".into()),
            other => return Err(format!("magic {other} in a v0-v2 produce request")),
        };
        let key = read_bytes(&mut message, "key")?;
        let value = read_bytes(&mut message, "value")?;
        if message.has_remaining() {
            return Err(format!(
                "{} byte(s) after a message's value",
                message.remaining()
            ));
        }
        let codec = match attributes & CODEC_MASK {
            0 => None,
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            other => return Err(format!("codec {other} in a magic-{magic} message")),
        };
        let Some(codec) = codec else {
            out.push(LegacyMessage {
                timestamp,
                key,
                value,
            });
            continue;
        };
        if !outer {
            return Err("a compressed message inside a compressed message".into());
        }
        let body = value.ok_or("a compressed message without a value")?;
        let inner = decompress(codec, &body, decompressed_max).map_err(|e| e.to_string())?;
        let first = out.len();
        read_into(&mut Bytes::from(inner), decompressed_max, false, out)?;
        if magic == 1 && attributes & LOG_APPEND_TIME_BIT != 0 {
            for m in &mut out[first..] {
                m.timestamp = timestamp;
            }
        }
    }
    Ok(())
}

fn read_bytes(message: &mut Bytes, what: &str) -> Result<Option<Bytes>, String> {
    if message.remaining() < 4 {
        return Err(format!("a message too short for its {what} length"));
    }
    let len = message.get_i32();
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if len > message.remaining() {
        return Err(format!(
            "a {what} of {len} bytes with {} left in the message",
            message.remaining()
        ));
    }
    Ok(Some(message.split_to(len)))
}

/// One uncompressed magic-2 batch holding `messages` (offsets from 0; the partition
/// assigns the real ones), as Kafka up-converts a v0–v2 produce.
pub fn to_batch(messages: &[LegacyMessage]) -> Result<Bytes, String> {
    let records: Vec<Record> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch while offset - sequence is constant
            // and takes the base sequence from the first: offset - 1 gives one batch with
            // base sequence -1 (no idempotence), as eddy_client's producer does.
            sequence: (i as i32).wrapping_sub(1),
            timestamp: m.timestamp,
            key: m.key.clone(),
            value: m.value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: kafka_protocol::records::Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options)
        .map_err(|e| format!("cannot encode the converted batch: {e}"))?;
    Ok(buf.freeze())
}

/// Produce v0–v2's body read as v3's: the same fields after a null `transactional_id`.
pub fn as_v3_body(body: &Bytes) -> Bytes {
    let mut out = BytesMut::with_capacity(body.len() + 2);
    out.put_i16(-1);
    out.put_slice(body);
    out.freeze()
}

/// Encodes a ProduceResponse at v0, v1 or v2 (v2 is v3's layout).
pub fn encode_response(response: &ProduceResponse, version: i16, out: &mut BytesMut) {
    out.put_i32(response.responses.len() as i32);
    for topic in &response.responses {
        put_string(out, &topic.name.0);
        out.put_i32(topic.partition_responses.len() as i32);
        for p in &topic.partition_responses {
            out.put_i32(p.index);
            out.put_i16(p.error_code);
            out.put_i64(p.base_offset);
            if version >= 2 {
                out.put_i64(p.log_append_time_ms);
            }
        }
    }
    if version >= 1 {
        out.put_i32(response.throttle_time_ms);
    }
}

fn put_string(out: &mut BytesMut, s: &StrBytes) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message as an old client writes it.
    fn message(magic: i8, attributes: i8, ts: i64, key: Option<&[u8]>, value: &[u8]) -> Vec<u8> {
        let mut body = vec![magic as u8, attributes as u8];
        if magic == 1 {
            body.extend_from_slice(&ts.to_be_bytes());
        }
        match key {
            Some(k) => {
                body.extend_from_slice(&(k.len() as i32).to_be_bytes());
                body.extend_from_slice(k);
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
        body.extend_from_slice(&(value.len() as i32).to_be_bytes());
        body.extend_from_slice(value);
        let mut out = 0i64.to_be_bytes().to_vec();
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn magic_0_and_1_messages_become_one_batch() {
        let mut set = message(0, 0, 0, Some(b"k"), b"v0");
        set.extend(message(1, 0, 1_700_000_000_000, None, b"v1"));
        let messages = read_message_set(Bytes::from(set), 1 << 20).expect("read");
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].timestamp, -1);
        assert_eq!(messages[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(messages[1].timestamp, 1_700_000_000_000);
        assert_eq!(messages[1].key, None);
        let batch = to_batch(&messages).expect("batch");
        let header = eddy_actors::batch::validate(&batch).expect("a valid magic-2 batch");
        assert_eq!(header.last_offset_delta, 1);
    }

    #[test]
    fn a_gzip_wrapper_is_unwrapped() {
        use std::io::Write;
        let inner: Vec<u8> = [b"a".as_slice(), b"b"]
            .iter()
            .flat_map(|v| message(1, 0, 5, None, v))
            .collect();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&inner).expect("gzip");
        let wrapper = message(1, 1, 9, None, &gz.finish().expect("gzip"));
        let messages = read_message_set(Bytes::from(wrapper), 1 << 20).expect("read");
        let values: Vec<_> = messages.iter().map(|m| m.value.clone().unwrap()).collect();
        assert_eq!(
            values,
            vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
        );
    }

    #[test]
    fn damaged_sets_are_refused_with_the_reason() {
        let mut bad_crc = message(1, 0, 5, None, b"v");
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        let err = read_message_set(Bytes::from(bad_crc), 1 << 20).unwrap_err();
        assert!(err.contains("CRC"), "{err}");
        let truncated = message(1, 0, 5, None, b"value")[..20].to_vec();
        assert!(read_message_set(Bytes::from(truncated), 1 << 20).is_err());
        let magic2 = message(2, 0, 5, None, b"v");
        assert!(read_message_set(Bytes::from(magic2), 1 << 20)
            .unwrap_err()
            .contains("magic 2"));
        assert!(read_message_set(Bytes::new(), 1 << 20).is_err());
    }
}
