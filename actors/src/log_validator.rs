//! Kafka's LogValidator for magic-2 record batches: before a partition appends a batch it
//! walks every record in it, so that a batch whose CRC is right but whose contents lie can
//! never reach the log, where it would stop every consumer at its offset for good.
//!
//! What is checked, as Kafka checks it (`LogValidator`, `DefaultRecord.readFrom`):
//! - the record count equals `lastOffsetDelta + 1`, and record `i` has offset delta `i`;
//! - each record's length varint covers exactly its attributes, timestamp and offset deltas,
//!   key, value and headers, and the records fill the batch body exactly (no trailing
//!   bytes); varints are at most 5 (10 for longs) bytes; key, value and header lengths are
//!   -1 (null, never for a header key) or within what is left; header counts non-negative;
//! - a compressed body decompresses (gzip, snappy, lz4, zstd, through their crates) within
//!   a bound, so a decompression bomb is refused after at most that many bytes, never
//!   expanded in full;
//! - control batches come only from the broker, not from clients;
//! - on compacted topics every record has a key.
//!
//! It returns the greatest record timestamp, which the partition writes into the batch
//! header when the producer got it wrong (Kafka does the same). Records are read in place:
//! nothing is re-encoded, and an uncompressed batch costs a few varint reads per record.

use std::io::Read;

use crate::batch::{BatchHeader, BATCH_HEADER_BYTES};
use crate::error::{ActorError, ActorResult};

/// The least bound on a batch's decompressed size (64 MiB). The bound used is the greater
/// of this and the topic's `max.message.bytes`, so ordinary compression ratios always fit
/// while a small bomb cannot make a partition allocate gigabytes.
pub const DECOMPRESSED_BATCH_BYTES_MIN: usize = 64 << 20;
/// Attribute bits 0–2: the compression codec.
const COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 5: a control batch (transaction markers), written only by brokers.
const CONTROL_BIT: i16 = 0x20;
/// Attribute bit 3: the timestamps are the broker's append time.
const LOG_APPEND_TIME_BIT: i16 = 0x08;

/// What a batch must satisfy beyond its header.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// The batch comes from a client (control batches refused), not from a leader.
    pub from_client: bool,
    /// The topic is compacted: every record needs a key.
    pub require_keys: bool,
    /// The most bytes a compressed body may decompress to.
    pub decompressed_bytes_max: usize,
    /// Record `i` must have offset delta `i` (a produced batch). A leader's compacted
    /// batches keep their survivors' original deltas, so a replica only asks that deltas
    /// increase and stay within the last offset delta.
    pub contiguous_offsets: bool,
}

impl Rules {
    /// The rules for a produced batch on a topic with these settings.
    pub fn for_client(compacted: bool, max_message_bytes: usize) -> Rules {
        Rules {
            from_client: true,
            require_keys: compacted,
            decompressed_bytes_max: max_message_bytes.max(DECOMPRESSED_BATCH_BYTES_MIN),
            contiguous_offsets: true,
        }
    }

    /// The rules for a batch a follower receives from its leader: its structure is checked,
    /// but what only a client may not send (control batches) and topic policy (keys) were
    /// the leader's to check.
    pub fn for_replica(max_message_bytes: usize) -> Rules {
        Rules {
            from_client: false,
            require_keys: false,
            decompressed_bytes_max: max_message_bytes.max(DECOMPRESSED_BATCH_BYTES_MIN),
            contiguous_offsets: false,
        }
    }
}

/// What the walk learnt about a valid batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidBatch {
    /// The greatest record timestamp (create time), or the header's for LogAppendTime.
    pub max_timestamp: i64,
}

/// The compression codecs of Kafka's batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Codec 0.
    None,
    /// Codec 1.
    Gzip,
    /// Codec 2 (xerial framing, or raw snappy as Kafka also reads).
    Snappy,
    /// Codec 3 (LZ4 frame format).
    Lz4,
    /// Codec 4.
    Zstd,
}

impl Compression {
    /// The codec of a batch's attributes.
    pub fn of(attributes: i16) -> ActorResult<Compression> {
        match attributes & COMPRESSION_MASK {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(ActorError::CorruptBatch(format!(
                "unknown compression codec {other} in the batch attributes"
            ))),
        }
    }
}

/// Validates the records of one batch whose header (sizes, magic, CRC) `batch::validate`
/// already checked. Nothing is modified.
pub fn validate(batch: &[u8], header: &BatchHeader, rules: &Rules) -> ActorResult<ValidBatch> {
    if rules.from_client && header.attributes & CONTROL_BIT != 0 {
        return Err(invalid(
            None,
            "clients may not write control batches (transaction markers)".into(),
        ));
    }
    let expected = i64::from(header.last_offset_delta) + 1;
    let count = i64::from(header.records_count);
    if count > expected || (rules.contiguous_offsets && count != expected) {
        return Err(invalid(
            None,
            format!(
                "the batch says it holds {} records but its last offset delta {} means {expected}",
                header.records_count, header.last_offset_delta
            ),
        ));
    }
    let body = &batch[BATCH_HEADER_BYTES..header.size];
    let max_timestamp = match Compression::of(header.attributes)? {
        Compression::None => walk_records(body, header, rules)?,
        codec => {
            let plain = decompress(codec, body, rules.decompressed_bytes_max)?;
            walk_records(&plain, header, rules)?
        }
    };
    Ok(ValidBatch {
        max_timestamp: if header.attributes & LOG_APPEND_TIME_BIT != 0 {
            header.max_timestamp
        } else {
            max_timestamp
        },
    })
}

fn invalid(record: Option<i32>, reason: String) -> ActorError {
    ActorError::InvalidRecord { record, reason }
}

/// Decompresses a batch body into memory, refusing it once it passes `max` bytes.
pub fn decompress(codec: Compression, body: &[u8], max: usize) -> ActorResult<Vec<u8>> {
    let corrupt = |err: std::io::Error| {
        ActorError::CorruptBatch(format!("{codec:?} body does not decompress: {err}"))
    };
    let mut out = Vec::new();
    let limit = max as u64 + 1;
    match codec {
        Compression::None => out.extend_from_slice(body),
        Compression::Gzip => {
            flate2::read::GzDecoder::new(body)
                .take(limit)
                .read_to_end(&mut out)
                .map_err(corrupt)?;
        }
        Compression::Lz4 => {
            lz4::Decoder::new(body)
                .map_err(corrupt)?
                .take(limit)
                .read_to_end(&mut out)
                .map_err(corrupt)?;
        }
        Compression::Zstd => {
            zstd::stream::read::Decoder::new(body)
                .map_err(corrupt)?
                .take(limit)
                .read_to_end(&mut out)
                .map_err(corrupt)?;
        }
        Compression::Snappy => snappy(body, max, &mut out)?,
    }
    if out.len() > max {
        return Err(invalid(
            None,
            format!("the {codec:?} body decompresses to more than {max} bytes"),
        ));
    }
    Ok(out)
}

/// The xerial framing Kafka's Java clients write (a 16-byte magic header, then blocks each
/// prefixed by their compressed length), or raw snappy when the header is absent (Kafka
/// reads both). Every block's announced length is checked against `max` before allocating.
fn snappy(body: &[u8], max: usize, out: &mut Vec<u8>) -> ActorResult<()> {
    const XERIAL_MAGIC: &[u8; 16] = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01";
    let corrupt = |what: String| ActorError::CorruptBatch(format!("snappy body: {what}"));
    let block = |compressed: &[u8], out: &mut Vec<u8>| -> ActorResult<()> {
        let len = snap::raw::decompress_len(compressed).map_err(|e| corrupt(e.to_string()))?;
        if out.len().saturating_add(len) > max {
            return Err(invalid(
                None,
                format!("the Snappy body decompresses to more than {max} bytes"),
            ));
        }
        let start = out.len();
        out.resize(start + len, 0);
        snap::raw::Decoder::new()
            .decompress(compressed, &mut out[start..])
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(())
    };
    let Some(mut rest) = body.strip_prefix(XERIAL_MAGIC.as_slice()) else {
        return block(body, out);
    };
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt("truncated block length".into()));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err(corrupt(format!(
                "block of {len} bytes but {} are left",
                tail.len()
            )));
        }
        block(&tail[..len], out)?;
        rest = &tail[len..];
    }
    Ok(())
}

/// Reads varints of Kafka's record format (zigzag, as protobuf's `sint32`/`sint64`).
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varlong_of(&mut self, max_bytes: usize) -> Option<i64> {
        let mut raw: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            raw |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Some((raw >> 1) as i64 ^ -((raw & 1) as i64));
            }
        }
        None
    }

    fn varint(&mut self) -> Option<i32> {
        self.varlong_of(5).and_then(|v| i32::try_from(v).ok())
    }

    fn varlong(&mut self) -> Option<i64> {
        self.varlong_of(10)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        (n <= self.remaining()).then(|| self.at += n)
    }

    /// A length-prefixed byte string: `Some(None)` for null (-1).
    fn bytes_field(&mut self) -> Option<Option<()>> {
        match self.varint()? {
            -1 => Some(None),
            len if len >= 0 => self.skip(len as usize).map(Some),
            _ => None,
        }
    }
}

/// Walks `count` records filling `body` exactly; returns the greatest record timestamp.
fn walk_records(body: &[u8], header: &BatchHeader, rules: &Rules) -> ActorResult<i64> {
    let mut cur = Cursor { bytes: body, at: 0 };
    let mut max_timestamp = i64::MIN;
    let mut previous_delta = -1;
    for index in 0..header.records_count {
        let bad = |what: &str| invalid(Some(index), format!("record {index}: {what}"));
        let len = cur
            .varint()
            .filter(|len| *len > 0)
            .ok_or_else(|| bad("its length is not a positive varint"))? as usize;
        if len > cur.remaining() {
            return Err(bad(&format!(
                "its length {len} runs past the batch ({} bytes left)",
                cur.remaining()
            )));
        }
        let mut rec = Cursor {
            bytes: &cur.bytes[cur.at..cur.at + len],
            at: 0,
        };
        cur.at += len;
        rec.byte().ok_or_else(|| bad("no attributes"))?;
        let timestamp_delta = rec.varlong().ok_or_else(|| bad("bad timestamp delta"))?;
        let offset_delta = rec.varint().ok_or_else(|| bad("bad offset delta"))?;
        let in_order = if rules.contiguous_offsets {
            offset_delta == index
        } else {
            offset_delta > previous_delta && offset_delta <= header.last_offset_delta
        };
        if !in_order {
            return Err(bad(&format!(
                "offset delta {offset_delta} after {previous_delta} (last offset delta {})",
                header.last_offset_delta
            )));
        }
        previous_delta = offset_delta;
        let key = rec.bytes_field().ok_or_else(|| bad("bad key length"))?;
        if key.is_none() && rules.require_keys {
            return Err(bad(
                "it has no key, and a compacted topic needs a key on every record",
            ));
        }
        rec.bytes_field().ok_or_else(|| bad("bad value length"))?;
        let headers = rec
            .varint()
            .filter(|n| *n >= 0)
            .ok_or_else(|| bad("bad header count"))?;
        for h in 0..headers {
            let key_len = rec
                .varint()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad(&format!("header {h}: bad key length")))?;
            rec.skip(key_len as usize)
                .ok_or_else(|| bad(&format!("header {h}: key runs past the record")))?;
            rec.bytes_field()
                .ok_or_else(|| bad(&format!("header {h}: bad value length")))?;
        }
        if rec.remaining() != 0 {
            return Err(bad(&format!(
                "{} bytes left over after its last field",
                rec.remaining()
            )));
        }
        max_timestamp = max_timestamp.max(header.base_timestamp.saturating_add(timestamp_delta));
    }
    if cur.remaining() != 0 {
        return Err(invalid(
            None,
            format!(
                "{} bytes follow the batch's {} records",
                cur.remaining(),
                header.records_count
            ),
        ));
    }
    Ok(max_timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch;
    use crate::batch::tests::{record, zigzag};

    fn raw(count: i32, body: &[u8]) -> Vec<u8> {
        batch::tests::make_raw_batch(count, body, -1, 0, -1)
    }

    fn records(n: i64) -> Vec<u8> {
        (0..n)
            .flat_map(|i| record(i, i * 10, Some(b"k"), b"value"))
            .collect()
    }

    fn check(batch: &[u8], rules: &Rules) -> ActorResult<ValidBatch> {
        let header = batch::validate(batch)?;
        validate(batch, &header, rules)
    }

    fn client() -> Rules {
        Rules::for_client(false, 1 << 20)
    }

    #[test]
    fn well_formed_records_pass_and_report_their_max_timestamp() {
        let b = raw(3, &records(3));
        assert_eq!(check(&b, &client()).expect("valid").max_timestamp, 20);
    }

    #[test]
    fn garbage_records_with_a_valid_crc_are_refused() {
        let b = raw(2, b"\xff\xff\xff\xff\xff\xff garbage");
        let err = check(&b, &client()).unwrap_err();
        assert!(
            matches!(
                err,
                ActorError::InvalidRecord {
                    record: Some(0),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_count_that_disagrees_with_the_last_offset_delta_is_refused() {
        let mut b = raw(3, &records(3));
        // last offset delta 0 while three records are announced: crc recomputed by hand.
        b[23..27].copy_from_slice(&0i32.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            check(&b, &client()),
            Err(ActorError::InvalidRecord { record: None, .. })
        ));
    }

    #[test]
    fn offset_deltas_out_of_order_are_refused() {
        let mut body = record(0, 0, Some(b"k"), b"a");
        body.extend(record(5, 0, Some(b"k"), b"b"));
        let b = raw(2, &body);
        let err = check(&b, &client()).unwrap_err();
        assert!(
            matches!(
                err,
                ActorError::InvalidRecord {
                    record: Some(1),
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_and_short_bodies_are_refused() {
        let mut body = records(2);
        body.push(0);
        assert!(check(&raw(2, &body), &client()).is_err());
        let body = records(2);
        assert!(check(&raw(3, &body), &client()).is_err());
    }

    #[test]
    fn keyless_records_are_refused_only_on_compacted_topics() {
        let body = record(0, 0, None, b"v");
        let b = raw(1, &body);
        assert!(check(&b, &client()).is_ok());
        assert!(check(&b, &Rules::for_client(true, 1 << 20)).is_err());
    }

    #[test]
    fn control_batches_only_from_leaders() {
        let mut b = raw(1, &records(1));
        b[21..23].copy_from_slice(&CONTROL_BIT.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(check(&b, &client()).is_err());
        assert!(check(&b, &Rules::for_replica(1 << 20)).is_ok());
    }

    #[test]
    fn replicas_accept_compacted_gaps_but_not_disorder() {
        // Survivors of compaction at deltas 1 and 4 of a batch whose last delta is 4.
        let mut body = record(1, 0, Some(b"k"), b"a");
        body.extend(record(4, 0, Some(b"j"), b"b"));
        let mut b = raw(2, &body);
        b[23..27].copy_from_slice(&4i32.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(check(&b, &Rules::for_replica(1 << 20)).is_ok());
        assert!(check(&b, &client()).is_err());
        let mut body = record(4, 0, Some(b"k"), b"a");
        body.extend(record(1, 0, Some(b"j"), b"b"));
        let mut b = raw(2, &body);
        b[23..27].copy_from_slice(&4i32.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        assert!(check(&b, &Rules::for_replica(1 << 20)).is_err());
    }

    fn compressed_batch(codec: i16, count: i32, body: &[u8]) -> Vec<u8> {
        let mut b = raw(count, body);
        b[21..23].copy_from_slice(&codec.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).expect("gzip");
        enc.finish().expect("gzip")
    }

    #[test]
    fn every_codec_round_trips() {
        let plain = records(4);
        let gz = gzip(&plain);
        let zs = zstd::encode_all(plain.as_slice(), 1).expect("zstd");
        let mut lz = lz4::EncoderBuilder::new().build(Vec::new()).expect("lz4");
        std::io::Write::write_all(&mut lz, &plain).expect("lz4");
        let (lz, res) = lz.finish();
        res.expect("lz4");
        let sn = snap::raw::Encoder::new()
            .compress_vec(&plain)
            .expect("snappy");
        for (codec, body) in [(1, gz), (2, sn), (3, lz), (4, zs)] {
            let b = compressed_batch(codec, 4, &body);
            assert_eq!(
                check(&b, &client()).expect("valid").max_timestamp,
                30,
                "codec {codec}"
            );
        }
    }

    #[test]
    fn garbage_gzip_is_corrupt() {
        let b = compressed_batch(1, 1, b"\x1f\x8b not really gzip at all");
        assert!(matches!(
            check(&b, &client()),
            Err(ActorError::CorruptBatch(_))
        ));
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_bound() {
        let bomb = gzip(&vec![0u8; 8 << 20]);
        assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
        let err = decompress(Compression::Gzip, &bomb, 1 << 20).unwrap_err();
        assert!(matches!(err, ActorError::InvalidRecord { .. }), "{err}");
        let sn = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 4 << 20])
            .expect("snappy");
        assert!(decompress(Compression::Snappy, &sn, 1 << 20).is_err());
    }

    #[test]
    fn unknown_codec_is_corrupt() {
        let b = compressed_batch(6, 1, &records(1));
        assert!(matches!(
            check(&b, &client()),
            Err(ActorError::CorruptBatch(_))
        ));
    }

    #[test]
    fn varints_decode_like_kafkas() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i32::MAX as i64,
            i32::MIN as i64,
        ] {
            let mut out = Vec::new();
            zigzag(v, &mut out);
            let mut cur = Cursor { bytes: &out, at: 0 };
            assert_eq!(cur.varint(), Some(v as i32));
        }
        let mut cur = Cursor {
            bytes: &[0xff; 11],
            at: 0,
        };
        assert_eq!(cur.varlong(), None);
    }
}
