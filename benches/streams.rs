//! Word count throughput and end-to-end latency on an embedded node (`NodeThread`).
//!
//! Generates `EDDY_BENCH_STREAMS_RECORDS` lines (default 1,000,000; a few words each, from a
//! small vocabulary) into a 1-partition input topic, runs the word count topology of
//! `examples/wordcount.rs` with `KafkaStreams` in this process, and reports:
//! - throughput: input records per second from the first produce until the output shows
//!   every word's final count;
//! - end-to-end latency: for every `MARK_EVERY`-th line, which carries a word of its own
//!   (`mark<i>`), the time from just before its send to its count appearing in the output
//!   topic, as p50 / p99 / max — under full load, so it includes the backlog;
//! - the same latency unloaded: `PROBES` lines sent one at a time, each awaited.
//!
//! Run: `cargo bench --bench streams`. Not a criterion bench: one run, figures printed.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use eddy::client::{Admin, Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset};
use eddy::runtime::streams::{KafkaStreams, StreamsSettings};
use eddy::runtime::{NodeConfig, NodeThread};
use eddy::topologies::{StreamsBuilder, Topology};

const INPUT: &str = "bench-lines";
const OUTPUT: &str = "bench-counts";
const RECORDS_DEFAULT: usize = 1_000_000;
const VOCABULARY: u64 = 1_000;
const WORDS_PER_LINE_MAX: u64 = 4;
/// One line in this many carries a marker word whose output time is measured.
const MARK_EVERY: usize = 1_000;
/// Lines sent one at a time after the run, for the latency of an idle application.
const PROBES: usize = 100;
const PROBE_LIMIT: Duration = Duration::from_secs(30);
/// Bound of the whole run after the last send.
const DRAIN_LIMIT: Duration = Duration::from_secs(900);

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(INPUT)
        .flat_map_values(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone())
        .count()
        .named("counts")
        .to_stream()
        .to(OUTPUT);
    builder.build().expect("topology builds")
}

struct Lines {
    state: u64,
}

impl Lines {
    fn next_u64(&mut self) -> u64 {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.state >> 33
    }

    fn line(&mut self) -> String {
        let n = 1 + self.next_u64() % WORDS_PER_LINE_MAX;
        (0..n)
            .map(|_| format!("w{}", self.next_u64() % VOCABULARY))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(bootstrap: String, records: usize, state_dir: std::path::PathBuf) {
    let mut admin = Admin::connect(&bootstrap).await.expect("admin");
    for topic in [INPUT, OUTPUT] {
        admin.create_topic(topic, 1, 1, &[]).await.expect("topic");
    }
    let mut settings = StreamsSettings::new("bench-wordcount", &bootstrap);
    settings.commit_interval = Duration::from_millis(1_000);
    settings.state_dir = state_dir;
    let streams = KafkaStreams::start(topology(), settings)
        .await
        .expect("streams start");

    // The output watcher runs beside the producer, on the same actix system.
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let mut generator = Lines {
        state: 0x9e37_79b9_7f4a_7c15,
    };
    let mut expected: HashMap<String, u64> = HashMap::new();
    let mut lines = Vec::with_capacity(records);
    for i in 0..records {
        let mut line = generator.line();
        if i % MARK_EVERY == 0 {
            line.push_str(&format!(" mark{i}"));
        }
        for w in line.split_whitespace() {
            *expected.entry(w.to_string()).or_insert(0) += 1;
        }
        lines.push(line);
    }
    let expected_words = expected.len();
    let watcher_bootstrap = bootstrap.clone();
    let watcher = actix_rt::spawn(async move {
        let mut consumer = Consumer::connect(&watcher_bootstrap)
            .await
            .expect("consumer");
        consumer
            .assign(OUTPUT, &[0], StartOffset::Earliest)
            .await
            .expect("assign");
        let mut sent_at: HashMap<String, Instant> = HashMap::new();
        let mut seen_at: HashMap<String, Instant> = HashMap::new();
        let mut latest: HashMap<String, u64> = HashMap::new();
        let mut done_at = None;
        let deadline = Instant::now() + DRAIN_LIMIT + Duration::from_secs(300);
        while Instant::now() < deadline {
            let batch = consumer
                .poll(Duration::from_millis(50))
                .await
                .expect("poll output");
            let now = Instant::now();
            while let Ok((mark, at)) = sent_rx.try_recv() {
                sent_at.insert(mark, at);
            }
            for r in batch {
                let word =
                    String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
                let count = r
                    .value
                    .as_deref()
                    .and_then(|v| v.try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                if word.starts_with("mark") {
                    seen_at.entry(word.clone()).or_insert(now);
                }
                latest.insert(word, count);
            }
            if latest.len() == expected.len() && latest.iter().all(|(w, c)| expected[w] == *c) {
                done_at = Some(Instant::now());
                break;
            }
        }
        while let Ok((mark, at)) = sent_rx.try_recv() {
            sent_at.insert(mark, at);
        }
        let mut latencies: Vec<Duration> = seen_at
            .iter()
            .filter_map(|(m, seen)| sent_at.get(m).map(|sent| seen.duration_since(*sent)))
            .collect();
        latencies.sort();
        (done_at, latencies, latest.len())
    });

    let mut producer = Producer::connect(&bootstrap, ProducerConfig::default())
        .await
        .expect("producer");
    let started = Instant::now();
    for (i, line) in lines.into_iter().enumerate() {
        if i % MARK_EVERY == 0 {
            // Sent without waiting for earlier batches: the mark leaves with the next flush.
            let _ = sent_tx.send((format!("mark{i}"), Instant::now()));
        }
        producer
            .send(ProducerRecord::new(INPUT, line))
            .await
            .expect("send");
    }
    producer.flush().await.expect("flush");
    let produced = started.elapsed();
    drop(sent_tx);
    let (done_at, latencies, words) = watcher.await.expect("watcher");
    let Some(done_at) = done_at else {
        let report = streams.report().await;
        panic!(
            "output incomplete: {words} of {expected_words} words at their final count; {report:?}"
        );
    };
    let total = done_at.duration_since(started);
    println!("streams wordcount bench: {records} input lines, {expected_words} distinct words");
    println!(
        "  produce: {:.2} s ({:.0} lines/s)",
        produced.as_secs_f64(),
        records as f64 / produced.as_secs_f64()
    );
    println!(
        "  end to end (first send -> every final count visible): {:.2} s = {:.0} lines/s",
        total.as_secs_f64(),
        records as f64 / total.as_secs_f64()
    );
    println!(
        "  latency produce -> output visible, {} marked lines: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    // Unloaded latency: one line at a time, each sent, flushed, and awaited in the output.
    let mut consumer = Consumer::connect(&bootstrap).await.expect("consumer");
    consumer
        .assign(OUTPUT, &[0], StartOffset::Latest)
        .await
        .expect("assign");
    let mut probes = Vec::with_capacity(PROBES);
    for i in 0..PROBES {
        let word = format!("probe{i}");
        let sent = Instant::now();
        producer
            .send(ProducerRecord::new(INPUT, word.clone()))
            .await
            .expect("send probe");
        producer.flush().await.expect("flush probe");
        let deadline = sent + PROBE_LIMIT;
        'wait: loop {
            assert!(Instant::now() < deadline, "{word} not counted in time");
            for r in consumer
                .poll(Duration::from_millis(20))
                .await
                .expect("poll")
            {
                if r.key.as_deref() == Some(word.as_bytes()) {
                    probes.push(sent.elapsed());
                    break 'wait;
                }
            }
        }
    }
    probes.sort();
    println!(
        "  latency unloaded (one line at a time, {} probes): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        probes.len(),
        percentile(&probes, 50.0).as_secs_f64() * 1e3,
        percentile(&probes, 99.0).as_secs_f64() * 1e3,
        probes.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    if let Some((_, tasks)) = streams.report().await {
        let per_task: BTreeMap<String, u64> = tasks
            .iter()
            .map(|t| (t.supervision.name.clone(), t.processed_records))
            .collect();
        let restarts: u64 = tasks.iter().map(|t| t.supervision.restarts).sum();
        println!("  processed records (last commit) per task: {per_task:?}; restarts {restarts}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with no such flag: keep
    // that run tiny.
    let benching = std::env::args().any(|a| a == "--bench");
    let records = std::env::var("EDDY_BENCH_STREAMS_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { RECORDS_DEFAULT } else { 2_000 });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = NodeConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        admin: "127.0.0.1:0".into(),
        ..NodeConfig::default()
    };
    let node = NodeThread::spawn(config).expect("embedded node");
    let bootstrap = node.kafka_addr.to_string();
    actix_rt::System::new().block_on(run(bootstrap, records, dir.path().join("streams-state")));
    node.shutdown();
}
