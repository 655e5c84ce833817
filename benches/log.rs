//! Partition log on fjall: append throughput (with and without an fsync per batch) and fetch
//! reads of 1 MiB, over realistic magic-2 record batches of 1 KiB records.
//!
//! Run with `cargo bench --bench log`. Each group writes into its own temporary directory,
//! so nothing is shared between groups and every group starts from an empty database.

mod common;

use std::hint::black_box;
use std::time::Duration;

use anyhow::Context as _;
use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use eddy::actors::batch::assign_offset;
use eddy::actors::store::{FjallLog, PartitionLog, Store};
use tempfile::TempDir;

use common::encode_batch;

/// Batch sizes measured: a typical `linger.ms` batch and a large one.
const BATCH_SIZES_BYTES: [usize; 2] = [16 * 1024, 64 * 1024];
/// What one fetch asks for (Kafka's default `max.partition.fetch.bytes`).
const FETCH_BYTES_MAX: usize = 1024 * 1024;
/// Size of the prefilled log the read benchmarks fetch from.
const PREFILL_BYTES: usize = 64 * 1024 * 1024;
/// Batch size of the prefilled log.
const PREFILL_BATCH_BYTES: usize = 16 * 1024;

/// A fresh store in its own temporary directory, and the log of partition uid 1.
fn open_log() -> anyhow::Result<(TempDir, Store, FjallLog)> {
    let dir = tempfile::tempdir().context("create temp dir")?;
    let store = Store::open(dir.path()).context("open store")?;
    let log = store.partition_log(1);
    Ok((dir, store, log))
}

/// Appends `batch` to `log` at `*next`, rewriting its base offset as the partition does,
/// then syncs when asked to (fsync-every-append mode).
fn append(
    log: &mut FjallLog,
    batch: &mut [u8],
    records: i64,
    next: &mut i64,
    sync: bool,
) -> anyhow::Result<()> {
    assign_offset(batch, *next, 0);
    // No idempotent producer state to store alongside: the batches carry producer id -1.
    log.append(*next, batch, &[])?;
    *next += records;
    if sync {
        log.sync()?;
    }
    Ok(())
}

fn bench_append(c: &mut Criterion, name: &str, sync: bool) {
    let mut group = c.benchmark_group(name);
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    if sync {
        // An fsync costs far more than an append: run each sample for a fixed number of
        // iterations instead of a linearly growing one.
        group.sampling_mode(SamplingMode::Flat);
    }
    let (_dir, _store, mut log) = open_log().expect("open log");
    let mut next = 0i64;
    for size in BATCH_SIZES_BYTES {
        let (batch, records) = encode_batch(size).expect("encode batch");
        let mut batch = batch.to_vec();
        group.throughput(Throughput::BytesDecimal(batch.len() as u64));
        group.bench_function(
            BenchmarkId::from_parameter(format!("{}KiB", size / 1024)),
            |b| b.iter(|| append(&mut log, &mut batch, records, &mut next, sync).expect("append")),
        );
    }
    group.finish();
}

fn append_no_sync(c: &mut Criterion) {
    bench_append(c, "log_append", false);
}

fn append_sync_every_batch(c: &mut Criterion) {
    bench_append(c, "log_append_sync", true);
}

/// A log prefilled with `PREFILL_BYTES` of 16 KiB batches and synced once.
fn prefilled_log() -> anyhow::Result<(TempDir, Store, FjallLog, i64)> {
    let (dir, store, mut log) = open_log()?;
    let (batch, records) = encode_batch(PREFILL_BATCH_BYTES)?;
    let mut batch = batch.to_vec();
    let mut next = 0i64;
    for _ in 0..PREFILL_BYTES / batch.len() {
        append(&mut log, &mut batch, records, &mut next, false)?;
    }
    log.sync()?;
    Ok((dir, store, log, next))
}

fn fetch_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_read_1MiB");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
    let (_dir, _store, log, log_end_offset) = prefilled_log().expect("prefill log");
    // From the middle: an offset inside a batch, so the read seeks back to its base offset.
    let starts = [("from_start", 0), ("from_middle", log_end_offset / 2 + 3)];
    for (name, offset) in starts {
        let bytes = log
            .read(offset, log_end_offset, FETCH_BYTES_MAX)
            .expect("read")
            .bytes
            .len();
        group.throughput(Throughput::BytesDecimal(bytes as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                log.read(black_box(offset), log_end_offset, FETCH_BYTES_MAX)
                    .expect("read")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, append_no_sync, append_sync_every_batch, fetch_read);
criterion_main!(benches);
