//! `eddy bench produce|consume`: end-to-end throughput and latency drivers, in the manner of
//! Kafka's `kafka-producer-perf-test` and `kafka-consumer-perf-test`.
//!
//! Throughput counts record payload bytes (key + value), with MB = 10^6 bytes, the unit of
//! `machine-limits` and of docs/PERFORMANCE.md (Kafka's perf tools divide by 2^20 and call
//! it MB; Eddy does not). Produce latency is per record, as Kafka's perf test reports it:
//! from the record's send to its acknowledgement (measured when the bench settles its
//! receipts, in send order); the round trip of each Produce request is reported too.

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Subcommand};
use eddy::client::{
    Acks, Compression, Consumer, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
    StartOffset,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::node_access::{block_on, explain_for_topic, BootstrapArgs};
use super::receipts::Receipts;

/// Bytes per MB in the throughput figures: 10^6, as `machine-limits` counts.
const BYTES_PER_MB: f64 = 1_000_000.0;
/// The longest single poll while consuming.
const POLL_WAIT_MAX: Duration = Duration::from_millis(500);

/// `eddy bench` subcommands.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Write N records of B bytes as fast as possible; report throughput and latency.
    Produce(BenchProduceArgs),
    /// Read N records from the start of a topic; report throughput.
    Consume(BenchConsumeArgs),
}

/// Arguments of `eddy bench produce`.
#[derive(Args, Debug)]
pub struct BenchProduceArgs {
    /// The topic to write to (created if the cluster auto-creates topics).
    #[arg(long)]
    pub topic: String,
    /// Number of records.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Size of each record's value in bytes.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Acknowledgements: 0, 1 or all.
    #[arg(long, default_value = "1")]
    pub acks: Acks,
    /// Batch size in bytes at which a partition's batch is sent.
    #[arg(long, default_value_t = 64 * 1024)]
    pub batch_size: usize,
    /// How long a batch waits for more records.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Batch compression: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: Compression,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `eddy bench consume`.
#[derive(Args, Debug)]
pub struct BenchConsumeArgs {
    /// The topic to read (every partition, from the earliest offset).
    #[arg(long)]
    pub topic: String,
    /// Number of records to read.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Stop early once no record arrived for this long.
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
    /// Print the results as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs an `eddy bench` subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Produce(args) => block_on(bench_produce(args)),
        BenchCommand::Consume(args) => block_on(bench_consume(args)),
    }
}

async fn bench_produce(args: BenchProduceArgs) -> anyhow::Result<()> {
    let servers = args.bootstrap.bootstrap_server.clone();
    let explain = |err| explain_for_topic(err, &servers, Some(&args.topic));
    let config = ProducerConfig {
        acks: args.acks,
        compression: args.compression,
        linger_ms: args.linger_ms,
        batch_bytes_max: args.batch_size,
        ..ProducerConfig::default()
    };
    let mut producer = Producer::connect(&servers, config).await.map_err(explain)?;
    // Fail before the clock starts if the topic is missing.
    producer
        .partition_count(&args.topic)
        .await
        .map_err(explain)?;
    let payload = payload(args.record_size);
    let progress = progress_bar(args.records);
    let mut receipts = Receipts::timed();
    let mut ignore = |_: &RecordMetadata| {};
    let started = Instant::now();
    for sent in 0..args.records {
        let record = ProducerRecord::new(args.topic.clone(), payload.clone());
        receipts.push(producer.send(record).await.map_err(explain)?);
        receipts.settle_ready(&mut ignore);
        if sent % 1024 == 0 {
            progress.set_position(sent);
        }
    }
    let flushed = producer.flush().await;
    receipts.settle_all(&mut ignore).await;
    let elapsed = started.elapsed();
    progress.finish_and_clear();
    if let Some(err) = receipts.take_first_error().or(flushed.err()) {
        let failed = receipts.failed();
        return Err(explain(err).context(format!("{failed} record(s) could not be written")));
    }
    let mut requests = producer.take_request_latencies();
    requests.sort_unstable();
    let records = receipts.take_sorted_latencies();
    let bytes = args.records.saturating_mul(args.record_size as u64);
    let summary = Summary::new(receipts.delivered(), bytes, elapsed);
    print_produce(&args, &summary, &records, &requests);
    Ok(())
}

async fn bench_consume(args: BenchConsumeArgs) -> anyhow::Result<()> {
    let servers = args.bootstrap.bootstrap_server.clone();
    let explain = |err| explain_for_topic(err, &servers, Some(&args.topic));
    let mut consumer = Consumer::connect(&servers).await.map_err(explain)?;
    let partitions = consumer.partitions(&args.topic).await.map_err(explain)?;
    consumer
        .assign(&args.topic, &partitions, StartOffset::Earliest)
        .await
        .map_err(explain)?;
    let progress = progress_bar(args.records);
    let idle_timeout = Duration::from_millis(args.timeout_ms);
    let (mut count, mut bytes, mut fetches) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    let mut last_record = started;
    while count < args.records && last_record.elapsed() < idle_timeout {
        let wait = idle_timeout
            .saturating_sub(last_record.elapsed())
            .min(POLL_WAIT_MAX);
        let records = consumer.poll(wait).await.map_err(explain)?;
        fetches += 1;
        if records.is_empty() {
            continue;
        }
        last_record = Instant::now();
        for record in &records {
            let key = record.key.as_ref().map_or(0, Bytes::len);
            let value = record.value.as_ref().map_or(0, Bytes::len);
            bytes += (key + value) as u64;
        }
        count += records.len() as u64;
        progress.set_position(count.min(args.records));
    }
    // The idle wait after the last record is not reading time.
    let elapsed = last_record.duration_since(started);
    progress.finish_and_clear();
    let summary = Summary::new(count, bytes, elapsed);
    print_consume(&args, &summary, fetches);
    if count < args.records {
        eprintln!(
            "only {count} of {} record(s) arrived within an idle timeout of {} ms",
            args.records, args.timeout_ms
        );
    }
    Ok(())
}

/// A record value of `size` printable bytes (uppercase letters, like Kafka's perf test).
fn payload(size: usize) -> Bytes {
    (0..size)
        .map(|i| b'A' + u8::try_from(i.wrapping_mul(7919) % 26).unwrap_or(0))
        .collect::<Vec<u8>>()
        .into()
}

/// A progress bar on stderr (indicatif draws nothing when stderr is not a terminal).
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    // The template is a constant; should it ever fail to parse, the default style is fine.
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} records ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Counts and rates of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Summary {
    records: u64,
    bytes: u64,
    seconds: f64,
    records_per_sec: f64,
    mb_per_sec: f64,
}

impl Summary {
    fn new(records: u64, bytes: u64, elapsed: Duration) -> Self {
        let seconds = elapsed.as_secs_f64();
        let rate = |amount: f64| if seconds > 0.0 { amount / seconds } else { 0.0 };
        Self {
            records,
            bytes,
            seconds,
            records_per_sec: rate(records as f64),
            mb_per_sec: rate(bytes as f64 / BYTES_PER_MB),
        }
    }
}

/// The value at quantile `q` of sorted `samples`, in milliseconds (nearest rank).
fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

/// Mean, p50, p99, p99.9 and max of sorted latencies, in milliseconds.
fn latency_stats(sorted: &[Duration]) -> [f64; 5] {
    let mean = if sorted.is_empty() {
        0.0
    } else {
        sorted.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0 / sorted.len() as f64
    };
    let max = sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    [
        mean,
        percentile_ms(sorted, 0.5),
        percentile_ms(sorted, 0.99),
        percentile_ms(sorted, 0.999),
        max,
    ]
}

fn print_produce(
    args: &BenchProduceArgs,
    summary: &Summary,
    records: &[Duration],
    requests: &[Duration],
) {
    let [mean, p50, p99, p999, max] = latency_stats(records);
    let [r_mean, r_p50, r_p99, r_p999, r_max] = latency_stats(requests);
    if args.json {
        let report = json!({
            "topic": args.topic, "records": summary.records, "record_size": args.record_size,
            "acks": args.acks.to_string(), "compression": args.compression.to_string(),
            "seconds": summary.seconds, "records_per_sec": summary.records_per_sec,
            "mb_per_sec": summary.mb_per_sec, "mb_is_bytes": 1_000_000,
            "latency_ms": { "mean": mean, "p50": p50, "p99": p99, "p999": p999, "max": max },
            "requests": requests.len(),
            "request_latency_ms": { "mean": r_mean, "p50": r_p50, "p99": r_p99, "p999": r_p999, "max": r_max },
        });
        println!("{report}");
        return;
    }
    println!(
        "{} records sent in {:.2} s: {:.1} records/s ({:.2} MB/s, MB = 10^6 bytes)",
        summary.records, summary.seconds, summary.records_per_sec, summary.mb_per_sec
    );
    if requests.is_empty() {
        println!("no latency: the node does not answer produce requests with acks=0");
        return;
    }
    println!(
        "record latency ms (send to ack): mean {mean:.2}, p50 {p50:.2}, p99 {p99:.2}, p999 {p999:.2}, max {max:.2}"
    );
    println!(
        "{} produce requests, round trip ms: mean {r_mean:.2}, p50 {r_p50:.2}, p99 {r_p99:.2}, p999 {r_p999:.2}, max {r_max:.2}",
        requests.len()
    );
}

fn print_consume(args: &BenchConsumeArgs, summary: &Summary, fetches: u64) {
    if args.json {
        let report = json!({
            "topic": args.topic, "records": summary.records, "bytes": summary.bytes,
            "seconds": summary.seconds, "records_per_sec": summary.records_per_sec,
            "mb_per_sec": summary.mb_per_sec, "polls": fetches,
        });
        println!("{report}");
        return;
    }
    println!(
        "{} records ({:.2} MB) read in {:.2} s: {:.1} records/s ({:.2} MB/s), {fetches} polls",
        summary.records,
        summary.bytes as f64 / BYTES_PER_MB,
        summary.seconds,
        summary.records_per_sec,
        summary.mb_per_sec
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&samples, 0.5), 500.0);
        assert_eq!(percentile_ms(&samples, 0.99), 990.0);
        assert_eq!(percentile_ms(&samples, 0.999), 999.0);
        assert_eq!(percentile_ms(&samples[..1], 0.999), 1.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn rates_divide_by_elapsed_time() {
        let summary = Summary::new(1000, 2_000_000, Duration::from_secs(2));
        assert_eq!(summary.records_per_sec, 500.0);
        assert_eq!(summary.mb_per_sec, 1.0);
        assert_eq!(Summary::new(5, 5, Duration::ZERO).records_per_sec, 0.0);
    }

    #[test]
    fn payload_has_the_requested_size() {
        let value = payload(100);
        assert_eq!(value.len(), 100);
        assert!(value.iter().all(u8::is_ascii_uppercase));
    }
}
