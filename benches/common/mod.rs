//! Shared by the benches: realistic record batches, built with kafka-protocol's encoder as a
//! client would send them.

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use eddy::actors::batch::validate;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Size of one record's value; batch sizes are multiples of it.
pub const RECORD_VALUE_BYTES: usize = 1024;

/// One uncompressed magic-2 batch of `batch_bytes / 1 KiB` records, base offset 0, as a
/// client would send it. Returns the bytes and the record count.
pub fn encode_batch(batch_bytes: usize) -> anyhow::Result<(Bytes, i64)> {
    encode_batch_with(batch_bytes, Compression::None, |_| {
        vec![b'v'; RECORD_VALUE_BYTES]
    })
}

/// Like [`encode_batch`], with a compression codec and values of pseudo-random lowercase
/// text (a deterministic generator; compresses like text, about 1.6:1), so that
/// decompression costs what it costs on real data.
// Only the batch bench validates compressed batches; each bench compiles this module.
#[allow(dead_code)]
pub fn encode_text_batch(
    batch_bytes: usize,
    compression: Compression,
) -> anyhow::Result<(Bytes, i64)> {
    encode_batch_with(batch_bytes, compression, |i| {
        let mut state = (i as u64)
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (0..RECORD_VALUE_BYTES)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                b'a' + ((state >> 33) % 26) as u8
            })
            .collect()
    })
}

fn encode_batch_with(
    batch_bytes: usize,
    compression: Compression,
    value: impl Fn(usize) -> Vec<u8>,
) -> anyhow::Result<(Bytes, i64)> {
    let count = batch_bytes / RECORD_VALUE_BYTES;
    let records: Vec<Record> = (0..count)
        .map(|i| {
            let offset = i as i64;
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset,
                // The encoder keeps records in one batch while offset - sequence is constant;
                // sequence = offset - 1 gives base sequence -1 (no idempotence).
                sequence: (offset as i32).wrapping_sub(1),
                timestamp: 1_700_000_000_000 + offset,
                key: Some(Bytes::from(format!("key-{i:04}"))),
                value: Some(Bytes::from(value(i))),
                headers: IndexMap::new(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).context("encode batch")?;
    let batch = buf.freeze();
    let header = validate(&batch).context("the encoder produced an invalid batch")?;
    anyhow::ensure!(
        i64::from(header.records_count) == count as i64,
        "expected one batch of {count} records, got {}",
        header.records_count
    );
    Ok((batch, count as i64))
}
