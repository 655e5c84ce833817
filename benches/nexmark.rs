//! Nexmark queries end to end on one embedded node (`NodeThread`), with the application
//! (`KafkaStreams`) in this process, in the client-program mode: the tasks read and write
//! through the Kafka protocol over loopback. The baseline that issue #13's in-node data
//! path is measured against.
//!
//! For each query: `EDDY_BENCH_NEXMARK_EVENTS` events (default 1,000,000; seeded, the
//! generator of `eddy_topologies::nexmark`) are encoded before the clock starts, then the
//! query's application starts on a fresh node, every event is produced to `nexmark-events`
//! (one partition), and the run ends when the application's group has committed every
//! input and every repartition record (commits follow acknowledged outputs, so the
//! outputs are written). Reported:
//! - events per second, wall, from the first send to the last commit;
//! - events per CPU-second of the whole process (node + application + producer: they
//!   share the process, as in `benches/streams.rs`);
//! - output records written, and the process's peak resident memory (VmHWM).
//!
//! Not measured here: end-to-end latency, and the node's CPU apart from the application's
//! (`benches/nexmark_deployed.rs` measures both for the queries deployed to a node
//! process). Run: `cargo bench --bench nexmark`;
//! `EDDY_BENCH_NEXMARK_QUERIES=q0,q1` picks queries (default all nine). Under
//! `cargo test --benches` it runs each query on a few thousand events, as a smoke test.

use std::path::Path;
use std::time::{Duration, Instant};

use eddy::client::{Admin, Producer, ProducerConfig, ProducerRecord};
use eddy::streams::{KafkaStreams, StreamsSettings};
use eddy::topologies::nexmark::{self, Generator, GeneratorConfig, QueryConfig, EVENTS_TOPIC};
use embedded::{caught_up, cpu_time, embedded_node, peak_rss_kib, run_size};

mod embedded;

const EVENTS_DEFAULT: u64 = 1_000_000;
/// Events per query under `cargo test --benches`, which only checks that it runs.
const EVENTS_TEST: u64 = 3_000;
const SEED: u64 = 20_261_207;
const COMMIT_INTERVAL: Duration = Duration::from_millis(500);
const PROGRESS_POLL: Duration = Duration::from_millis(200);
/// Bound of a run: this much, plus the input's time at `EVENTS_PER_S_MIN`.
const RUN_LIMIT_BASE: Duration = Duration::from_secs(300);
const EVENTS_PER_S_MIN: u64 = 2_000;

/// One query's figures.
struct Figures {
    query: String,
    events: u64,
    wall: Duration,
    cpu: Option<Duration>,
    outputs: i64,
    peak_rss_kib: Option<u64>,
}

/// The events as records, encoded before the clock starts (key: 8 big-endian bytes of
/// `Event::key`; value: the event as JSON; timestamp: its event time).
fn encode_events(events: u64) -> Vec<ProducerRecord> {
    Generator::new(GeneratorConfig::with_seed(SEED))
        .take(events as usize)
        .map(|e| {
            let value = serde_json::to_vec(&e.event).expect("events encode");
            let mut record = ProducerRecord::new(EVENTS_TOPIC, value)
                .with_key(e.event.key().to_be_bytes().to_vec());
            record.timestamp_ms = Some(e.timestamp_ms);
            record
        })
        .collect()
}

async fn run(query: &str, records: Vec<ProducerRecord>, bootstrap: &str, state: &Path) -> Figures {
    let events = records.len() as u64;
    let output = nexmark::output_topic(query);
    let mut admin = Admin::connect(bootstrap).await.expect("admin");
    for topic in [EVENTS_TOPIC, output.as_str()] {
        admin.create_topic(topic, 1, 1, &[]).await.expect("topic");
    }
    let topology = nexmark::query(query, &QueryConfig::default())
        .expect("a known query")
        .expect("the query builds");
    let app = format!("nexmark-{query}");
    let mut settings = StreamsSettings::new(&app, bootstrap);
    settings.commit_interval = COMMIT_INTERVAL;
    settings.state_dir = state.to_path_buf();
    settings.default_logging = false;
    let streams = KafkaStreams::start(topology, settings)
        .await
        .expect("streams start");
    let mut producer = Producer::connect(bootstrap, ProducerConfig::default())
        .await
        .expect("producer");
    let cpu_start = cpu_time();
    let started = Instant::now();
    let mut receipts = Vec::with_capacity(records.len());
    for record in records {
        receipts.push(producer.send(record).await.expect("send"));
    }
    producer.flush().await.expect("flush");
    for receipt in receipts {
        receipt.wait().await.expect("acknowledged");
    }
    let deadline = started + RUN_LIMIT_BASE + Duration::from_secs(events / EVENTS_PER_S_MIN);
    loop {
        if caught_up(&mut admin, &app, events as i64).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{query}: not caught up before the run limit; {:?}",
            admin.group_offsets(&app).await
        );
        tokio::time::sleep(PROGRESS_POLL).await;
    }
    let wall = started.elapsed();
    let cpu = cpu_start.zip(cpu_time()).map(|(a, b)| b.saturating_sub(a));
    let outputs = admin
        .log_end_offsets(&[(output.clone(), 0)])
        .await
        .expect("output end")
        .values()
        .sum();
    streams.close().await;
    Figures {
        query: query.to_string(),
        events,
        wall,
        cpu,
        outputs,
        peak_rss_kib: peak_rss_kib(),
    }
}

/// Runs one query on a node of its own, in an actix system of its own.
fn on_fresh_node(query: &str, events: u64) -> Figures {
    let records = encode_events(events);
    let (dir, node) = embedded_node();
    let bootstrap = node.kafka_addr.to_string();
    let state = dir.path().join("streams-state");
    let figures = actix_rt::System::new().block_on(run(query, records, &bootstrap, &state));
    node.shutdown();
    figures
}

fn main() {
    let events = run_size("EDDY_BENCH_NEXMARK_EVENTS", EVENTS_DEFAULT, EVENTS_TEST);
    let queries: Vec<String> = match std::env::var("EDDY_BENCH_NEXMARK_QUERIES") {
        Ok(list) => list.split(',').map(|q| q.trim().to_string()).collect(),
        Err(_) => nexmark::QUERY_NAMES.iter().map(|q| q.to_string()).collect(),
    };
    let mut all = Vec::new();
    for query in &queries {
        assert!(
            nexmark::QUERY_NAMES.contains(&query.as_str()),
            "EDDY_BENCH_NEXMARK_QUERIES lists {query:?}; the queries are {:?}",
            nexmark::QUERY_NAMES
        );
        let f = on_fresh_node(query, events);
        println!(
            "nexmark {}: {} events in {:.2} s",
            f.query,
            f.events,
            f.wall.as_secs_f64()
        );
        all.push(f);
    }
    println!(
        "\nquery   events      wall s   events/s wall   events/CPU-s   outputs     peak RSS MiB"
    );
    for f in &all {
        let wall = f.wall.as_secs_f64();
        let per_cpu = f
            .cpu
            .map(|c| format!("{:.0}", f.events as f64 / c.as_secs_f64()))
            .unwrap_or_else(|| "n/a".into());
        let rss = f
            .peak_rss_kib
            .map(|k| format!("{:.0}", k as f64 / 1024.0))
            .unwrap_or_else(|| "n/a".into());
        println!(
            "{:<7} {:<11} {:<8.2} {:<15.0} {:<14} {:<11} {}",
            f.query,
            f.events,
            wall,
            f.events as f64 / wall,
            per_cpu,
            f.outputs,
            rss
        );
    }
    println!(
        "(CPU: the whole process — node, application and producer; peak RSS: the process's \
         VmHWM after each query, so it only grows)"
    );
}
