//! Golden tests of windowed counts through a running node (the real `eddy` binary), read
//! back from the application's output topics — not through the topology test driver.
//!
//! Tumbling windows of 10 s with a 5 s grace period; the input has out-of-order records
//! inside the grace period (counted) and a record past it (dropped and reported). One
//! output gets every update of the windowed count, the other only the final count of each
//! window (`suppress(until_window_closes)`). Both are checked record by record: windowed
//! key (key bytes, then the window start as 8 big-endian bytes), count (8 big-endian
//! bytes) and record timestamp.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::EddyNode;
use eddy::client::{Admin, Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset};
use eddy::streams::{KafkaStreams, StreamsSettings};
use eddy::topologies::{StreamsBuilder, Suppressed, TimeWindows, Topology};

const INPUT: &str = "golden-clicks";
const UPDATES: &str = "golden-window-updates";
const FINALS: &str = "golden-window-finals";
const APP: &str = "golden-windowed-count";
const WINDOW_MS: i64 = 10_000;
const GRACE_MS: i64 = 5_000;
/// Bound of every wait for output.
const WAIT_LIMIT: Duration = Duration::from_secs(60);
/// How long an output must stay unchanged after the expected records arrived.
const QUIET: Duration = Duration::from_millis(1_500);

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    let counts = builder
        .stream::<String, String>(INPUT)
        .group_by_key()
        .windowed_by(
            TimeWindows::of(Duration::from_millis(WINDOW_MS as u64))
                .grace(Duration::from_millis(GRACE_MS as u64)),
        )
        .count()
        .named("clicks-per-window");
    counts.to_stream().to(UPDATES);
    counts
        .suppress(Suppressed::until_window_closes())
        .to_stream()
        .to(FINALS);
    builder.build().expect("topology builds")
}

/// One output record: (key, window start relative to the base, count, timestamp relative
/// to the base).
type Row = (String, i64, u64, i64);

/// A window-aligned base time a minute in the past, so the records' timestamps are recent
/// (no retention applies) while every expectation stays relative and exact.
fn base_ms() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    now / 60_000 * 60_000 - 60_000
}

/// The input: (key, event time relative to the base).
const INPUT_RECORDS: [(&str, i64); 8] = [
    ("A", 1_000),
    ("A", 3_000),
    // Stream time 12 s: window [0, 10 s) stays open until 15 s (grace).
    ("B", 12_000),
    // Out of order, inside the grace period: counted in [0, 10 s).
    ("A", 8_000),
    // Stream time 16 s: [0, 10 s) closes.
    ("A", 16_000),
    // Late: [0, 10 s) closed at 15 s; dropped.
    ("A", 4_000),
    // Out of order but its window [10 s, 20 s) is open.
    ("B", 11_000),
    // Stream time 30 s: [10 s, 20 s) closes (at 25 s).
    ("C", 30_000),
];

fn expected_updates() -> Vec<Row> {
    vec![
        ("A".into(), 0, 1, 1_000),
        ("A".into(), 0, 2, 3_000),
        ("B".into(), 10_000, 1, 12_000),
        // The window's timestamp is the latest of its records.
        ("A".into(), 0, 3, 8_000),
        ("A".into(), 10_000, 1, 16_000),
        ("B".into(), 10_000, 2, 12_000),
        ("C".into(), 30_000, 1, 30_000),
    ]
}

fn expected_finals() -> Vec<Row> {
    vec![
        // Emitted when A@16 s moves stream time past 10 s + grace.
        ("A".into(), 0, 3, 8_000),
        // Emitted when C@30 s moves stream time past 20 s + grace, in key order.
        ("A".into(), 10_000, 1, 16_000),
        ("B".into(), 10_000, 2, 12_000),
    ]
}

async fn produce(bootstrap: &str, base: i64) {
    let mut producer = Producer::connect(bootstrap, ProducerConfig::default())
        .await
        .expect("producer connects");
    for (i, (key, at)) in INPUT_RECORDS.iter().enumerate() {
        let mut record = ProducerRecord::new(INPUT, format!("click-{i}")).with_key(key.to_string());
        record.timestamp_ms = Some(base + at);
        producer.send(record).await.expect("send");
        // One record per produce request: the input order is the event order above.
        producer.flush().await.expect("flush");
    }
}

fn decode(base: i64, key: &[u8], value: &[u8], timestamp: i64) -> Row {
    assert!(key.len() > 8, "windowed key too short: {key:?}");
    let (k, start) = key.split_at(key.len() - 8);
    let start = i64::from_be_bytes(start.try_into().expect("8 bytes"));
    let count = u64::from_be_bytes(value.try_into().expect("an 8-byte count"));
    (
        String::from_utf8_lossy(k).into_owned(),
        start - base,
        count,
        timestamp - base,
    )
}

/// Reads `topic` until it holds at least `expected` records and stays quiet for `QUIET`.
async fn read_rows(bootstrap: &str, topic: &str, base: i64, expected: usize) -> Vec<Row> {
    let mut consumer = Consumer::connect(bootstrap).await.expect("consumer");
    consumer
        .assign(topic, &[0], StartOffset::Earliest)
        .await
        .expect("assign");
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut last_new = Instant::now();
    let mut rows = Vec::new();
    while Instant::now() < deadline && (rows.len() < expected || last_new.elapsed() < QUIET) {
        let records = consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll");
        if !records.is_empty() {
            last_new = Instant::now();
        }
        for r in records {
            rows.push(decode(
                base,
                r.key.as_deref().expect("a windowed key"),
                r.value.as_deref().expect("a count"),
                r.timestamp,
            ));
        }
    }
    rows
}

#[test]
fn windowed_count_with_out_of_order_and_late_records() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let base = base_ms();
    let state = tempfile::tempdir().expect("state dir");
    let state_dir = state.path().to_path_buf();
    actix_rt::System::new().block_on(async move {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin");
        for topic in [INPUT, UPDATES, FINALS] {
            admin
                .create_topic(topic, 1, 1, &[])
                .await
                .expect("create topic");
        }
        let mut settings = StreamsSettings::new(APP, &bootstrap);
        settings.commit_interval = Duration::from_millis(200);
        settings.state_dir = state_dir;
        settings.session_timeout = Duration::from_secs(6);
        settings.heartbeat_interval = Duration::from_millis(300);
        let streams = KafkaStreams::start(topology(), settings.clone())
            .await
            .expect("streams start");
        produce(&bootstrap, base).await;

        let updates = read_rows(&bootstrap, UPDATES, base, expected_updates().len()).await;
        assert_eq!(updates, expected_updates(), "every update of the count");
        let finals = read_rows(&bootstrap, FINALS, base, expected_finals().len()).await;
        assert_eq!(finals, expected_finals(), "the final count of each window");

        // The late record is reported once the task commits.
        wait_for_progress(&streams, INPUT_RECORDS.len() as u64, 1).await;

        // A new instance goes on from the committed stream time (kept in the commit
        // metadata), so a record for a window that closed before the restart is late
        // still: dropped, not counted into the closed window.
        streams.close().await;
        let streams = KafkaStreams::start(topology(), settings)
            .await
            .expect("streams restart");
        let after = [("A", 2_000), ("C", 31_000)];
        let mut producer = Producer::connect(&bootstrap, ProducerConfig::default())
            .await
            .expect("producer connects");
        for (key, at) in after {
            let mut record = ProducerRecord::new(INPUT, "after").with_key(key.to_string());
            record.timestamp_ms = Some(base + at);
            producer.send(record).await.expect("send");
        }
        producer.flush().await.expect("flush");
        wait_for_progress(&streams, after.len() as u64, 1).await;
        let mut expected = expected_updates();
        expected.push(("C".into(), 30_000, 2, 31_000));
        let updates = read_rows(&bootstrap, UPDATES, base, expected.len()).await;
        assert_eq!(
            updates, expected,
            "the late record after the restart changed nothing"
        );
    });
}

/// Waits until the application's tasks processed `processed` records, and checks how many
/// they dropped as late.
async fn wait_for_progress(streams: &KafkaStreams, processed: u64, dropped: u64) {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let (_, tasks) = streams.report().await.expect("report");
        let late: u64 = tasks.iter().map(|t| t.dropped_late_records).sum();
        let done: u64 = tasks.iter().map(|t| t.processed_records).sum();
        if done >= processed {
            assert_eq!(late, dropped, "late records dropped: {tasks:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the task did not report its progress: {tasks:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
