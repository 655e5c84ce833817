//! Record-batch checks on the produce path: `split_and_validate` (header checks and the
//! CRC-32C over attributes..end) of uncompressed magic-2 batches of 1 KiB records, and the
//! LogValidator's walk of every record (`log_validator::validate`), uncompressed and with
//! each codec (64 KiB of 1 KiB text records; throughput is per byte of the batch as sent).
//!
//! Run with `cargo bench --bench batch`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eddy::actors::batch::split_and_validate;
use eddy::actors::log_validator::{self, Rules};
use kafka_protocol::records::Compression;

/// Batch sizes measured.
const BATCH_SIZES_BYTES: [usize; 2] = [16 * 1024, 64 * 1024];

fn validate_batches(c: &mut Criterion) {
    let mut group = c.benchmark_group("batch_split_and_validate");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    for size in BATCH_SIZES_BYTES {
        let (batch, _) = common::encode_batch(size).expect("encode batch");
        let parts = split_and_validate(&batch).expect("the encoder produced an invalid batch");
        assert_eq!(parts.len(), 1, "expected exactly one batch");
        group.throughput(Throughput::BytesDecimal(batch.len() as u64));
        group.bench_function(
            BenchmarkId::from_parameter(format!("{}KiB", size / 1024)),
            |b| b.iter(|| split_and_validate(black_box(&batch)).expect("valid batch")),
        );
    }
    group.finish();
}

/// The batch size of the validator benchmark.
const VALIDATOR_BATCH_BYTES: usize = 64 * 1024;

fn validate_records(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_validator");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    let rules = Rules::for_client(false, 1024 * 1024);
    for (name, codec) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        let (batch, _) =
            common::encode_text_batch(VALIDATOR_BATCH_BYTES, codec).expect("encode batch");
        let parts = split_and_validate(&batch).expect("valid batch");
        let header = parts[0].1;
        log_validator::validate(&batch, &header, &rules).expect("valid records");
        group.throughput(Throughput::BytesDecimal(batch.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| log_validator::validate(black_box(&batch), &header, &rules).expect("valid"))
        });
    }
    group.finish();
}

criterion_group!(benches, validate_batches, validate_records);
criterion_main!(benches);
