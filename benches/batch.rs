//! Record-batch checks on the produce path: `split_and_validate` (header checks and the
//! CRC-32C over attributes..end) of uncompressed magic-2 batches of 1 KiB records.
//!
//! Run with `cargo bench --bench batch`.

use std::hint::black_box;
use std::time::Duration;

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eddy::actors::batch::split_and_validate;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// Size of one record's value; the batch sizes below are multiples of it.
const RECORD_VALUE_BYTES: usize = 1024;
/// Batch sizes measured.
const BATCH_SIZES_BYTES: [usize; 2] = [16 * 1024, 64 * 1024];

/// One uncompressed magic-2 batch of `batch_bytes / 1 KiB` records, as a client sends it.
fn encode_batch(batch_bytes: usize) -> anyhow::Result<Bytes> {
    let records: Vec<Record> = (0..batch_bytes / RECORD_VALUE_BYTES)
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
                value: Some(Bytes::from(vec![b'v'; RECORD_VALUE_BYTES])),
                headers: IndexMap::new(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).context("encode batch")?;
    Ok(buf.freeze())
}

fn validate_batches(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_split_and_validate");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for size in BATCH_SIZES_BYTES {
        let batch = encode_batch(size).expect("encode batch");
        let parts = split_and_validate(&batch).expect("the encoder produced an invalid batch");
        assert_eq!(parts.len(), 1, "expected exactly one batch");
        group.throughput(Throughput::Bytes(batch.len() as u64));
        group.bench_function(
            BenchmarkId::from_parameter(format!("{}KiB", size / 1024)),
            |b| b.iter(|| split_and_validate(black_box(&batch)).expect("valid batch")),
        );
    }
    group.finish();
}

criterion_group!(benches, validate_batches);
criterion_main!(benches);
