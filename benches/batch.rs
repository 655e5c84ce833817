//! Record-batch checks on the produce path: `split_and_validate` (header checks and the
//! CRC-32C over attributes..end) of uncompressed magic-2 batches of 1 KiB records.
//!
//! Run with `cargo bench --bench batch`.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eddy::actors::batch::split_and_validate;

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
