//! Stream tasks as supervised actors against a real node (in process): a word count whose
//! user code panics once is restarted by its supervisor, rebuilds its store from the
//! changelog topic, resumes from the committed offsets, and ends with the right counts.
//! Also runs the shipped examples, which start an embedded node of their own.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eddy::client::{Admin, Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset};
use eddy::streams::{KafkaStreams, StreamsSettings};
use eddy::topologies::{StreamsBuilder, Topology};

static PANICKED: AtomicBool = AtomicBool::new(false);

/// How long a stream task may take to commit what it read: generous for a loaded machine.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between two looks at the tasks' committed offsets.
const COMMIT_POLL: Duration = Duration::from_millis(100);

fn counting_topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("words-in")
        .map_values(|word| {
            // The first "boom" panics once; after the restart it is counted like any word.
            if word == "boom" && !PANICKED.swap(true, Ordering::SeqCst) {
                panic!("user code failed on {word}");
            }
            word
        })
        .group_by(|_, word| word.clone())
        .count()
        .named("counts")
        .to_stream()
        .to("words-out");
    builder.build().expect("topology builds")
}

async fn produce(bootstrap: &str, words: &[&str]) {
    let mut producer = Producer::connect(bootstrap, ProducerConfig::default())
        .await
        .expect("producer");
    for w in words {
        producer
            .send(ProducerRecord::new("words-in", w.to_string()))
            .await
            .expect("send");
    }
    producer.flush().await.expect("flush");
}

async fn latest_counts(bootstrap: &str, expect: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut consumer = Consumer::connect(bootstrap).await.expect("consumer");
    consumer
        .assign("words-out", &[0], StartOffset::Earliest)
        .await
        .expect("assign");
    let mut counts = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && &counts != expect {
        for r in consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
        {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            let value = r
                .value
                .as_deref()
                .and_then(|v| v.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            counts.insert(key, value);
        }
    }
    counts
}

#[test]
fn a_panicking_task_restarts_and_keeps_its_state() {
    let (dir, node) = common::embedded_node();
    let bootstrap = node.kafka_addr.to_string();
    let state_dir = dir.path().join("streams-state");
    actix_rt::System::new().block_on(async move {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin");
        admin
            .create_topic("words-in", 1, 1, &[])
            .await
            .expect("input topic");
        admin
            .create_topic("words-out", 1, 1, &[])
            .await
            .expect("output topic");
        let mut settings = StreamsSettings::new("panic-test", &bootstrap);
        settings.commit_interval = Duration::from_millis(100);
        settings.state_dir = state_dir;
        let streams = KafkaStreams::start(counting_topology(), settings)
            .await
            .expect("streams start");
        produce(&bootstrap, &["a", "b", "a"]).await;
        let first: BTreeMap<String, u64> = [("a".into(), 2), ("b".into(), 1)].into();
        assert_eq!(latest_counts(&bootstrap, &first).await, first);
        // The first words are committed before the panic, so the restarted task resumes
        // from a commit (its store from the changelog), not from the start of the input.
        wait_until_committed(&streams, "words-in-0", 3).await;
        produce(&bootstrap, &["boom", "a", "c"]).await;
        let expected: BTreeMap<String, u64> = [
            ("a".into(), 3),
            ("b".into(), 1),
            ("boom".into(), 1),
            ("c".into(), 1),
        ]
        .into();
        let counts = latest_counts(&bootstrap, &expected).await;
        assert_eq!(
            counts, expected,
            "state survived the restart: no count started over"
        );
        assert!(PANICKED.load(Ordering::SeqCst), "the user code did panic");
        let (_, tasks) = streams.report().await.expect("report");
        let restarts: u64 = tasks.iter().map(|t| t.supervision.restarts).sum();
        assert_eq!(restarts, 1, "exactly one task was restarted: {tasks:?}");
        assert!(tasks.iter().any(|t| t
            .supervision
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("user code failed"))));
        // The application reports itself to the cluster: `eddy topology describe` sees
        // its tasks and the restart, from another process.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let described = loop {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_eddy"))
                .args([
                    "topology",
                    "describe",
                    "panic-test",
                    "--json",
                    "-b",
                    &bootstrap,
                ])
                .output()
                .expect("run eddy topology describe");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let restarted = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .filter(|v| {
                    v["application"]["tasks"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|t| t["restarts"] == 1))
                });
            if let Some(v) = restarted {
                break v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no report with the restart: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(described["application"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Sub-topology")));
        assert_eq!(
            described["application"]["tasks"].as_array().map(Vec::len),
            Some(streams.tasks().len())
        );
        let listed = std::process::Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(["topology", "list", "--json", "-b", &bootstrap])
            .output()
            .expect("run eddy topology list");
        let listed: serde_json::Value =
            serde_json::from_slice(&listed.stdout).expect("topology list --json");
        assert_eq!(listed[0]["application_id"], "panic-test");
        assert_eq!(listed[0]["restarts"], 1);
        drop(streams);
    });
    node.shutdown();
}

/// Waits until a task of `streams` has committed input offset `offset` or more of
/// `partition` (`topic-partition`).
async fn wait_until_committed(streams: &KafkaStreams, partition: &str, offset: i64) {
    let started = Instant::now();
    loop {
        let (_, tasks) = streams.report().await.expect("report");
        let committed = tasks
            .iter()
            .filter_map(|t| t.committed.get(partition).copied())
            .max();
        if committed.is_some_and(|c| c >= offset) {
            println!(
                "{partition} committed up to {offset} after {:?}",
                started.elapsed()
            );
            return;
        }
        assert!(
            started.elapsed() < COMMIT_TIMEOUT,
            "{partition} not committed up to {offset} within {COMMIT_TIMEOUT:?}: {tasks:?}"
        );
        tokio::time::sleep(COMMIT_POLL).await;
    }
}

fn example(name: &str) -> PathBuf {
    // Test binaries live in target/<profile>/deps; examples in target/<profile>/examples
    // (built by `cargo build --all-targets`, which the test command runs first).
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    profile_dir.join("examples").join(name)
}

fn run_example(name: &str) -> String {
    let path = example(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --examples` (scripts/test.sh does)",
        path.display()
    );
    let out = std::process::Command::new(&path)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn wordcount_example_counts_words() {
    let out = run_example("wordcount");
    assert!(out.lines().any(|l| l == "kafka\t3"), "{out}");
    assert!(out.lines().any(|l| l == "streams\t2"), "{out}");
}

#[test]
fn payments_example_totals_and_enriches() {
    let out = run_example("payments");
    assert!(out.contains("Alice  window +  0s  total 300"), "{out}");
    assert!(
        out.contains(r#"{"user":"Alice Liddell","country":"UK","amount":200}"#),
        "{out}"
    );
}

#[test]
fn sessions_example_counts_clicks_per_session() {
    let out = run_example("sessions");
    // A late click bridged alice's first two sessions; another was too late to count.
    for line in [
        "alice\t00:00-09:30\t5",
        "alice\t30:00-30:00\t1",
        "bob\t02:00-06:00\t2",
        "bob\t31:00-31:00\t1",
        "carol\t21:00-21:00\t1",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in:\n{out}");
    }
    assert!(out.contains("dropped late 1"), "{out}");
}

/// More store changes than one record batch may hold (a topic's `max.message.bytes`, 1 MiB)
/// within one commit interval: the changelog goes out in batches the node accepts, and no
/// task fails on MESSAGE_TOO_LARGE.
#[test]
fn a_commit_interval_with_megabytes_of_store_changes() {
    const KEYS: usize = 600;
    const VALUE_BYTES: usize = 4 * 1024;
    let (dir, node) = common::embedded_node();
    let bootstrap = node.kafka_addr.to_string();
    let state_dir = dir.path().join("streams-state");
    actix_rt::System::new().block_on(async move {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin");
        admin
            .create_topic("big-in", 1, 1, &[])
            .await
            .expect("input topic");
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("big-in")
            .group_by_key()
            .reduce(|_, latest| latest)
            .named("latest");
        let mut settings = StreamsSettings::new("big-changes", &bootstrap);
        // Everything lands within one commit interval.
        settings.commit_interval = Duration::from_secs(10);
        settings.state_dir = state_dir;
        let streams = KafkaStreams::start(builder.build().expect("topology"), settings)
            .await
            .expect("streams start");
        let mut producer = Producer::connect(&bootstrap, ProducerConfig::default())
            .await
            .expect("producer");
        for i in 0..KEYS {
            let value = format!("{i:0>width$}", width = VALUE_BYTES);
            let record = ProducerRecord::new("big-in", value).with_key(format!("k{i}"));
            producer.send(record).await.expect("send");
        }
        producer.flush().await.expect("flush");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, tasks) = streams.report().await.expect("report");
            let restarts: u64 = tasks.iter().map(|t| t.supervision.restarts).sum();
            assert_eq!(
                restarts, 0,
                "no task failed writing its changelog: {tasks:?}"
            );
            let committed: i64 = tasks.iter().flat_map(|t| t.committed.values()).sum();
            if committed >= KEYS as i64 {
                break;
            }
            assert!(Instant::now() < deadline, "never committed: {tasks:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let last = format!("k{}", KEYS - 1);
        let stored = streams
            .query_typed::<String, String>("latest", &last)
            .await
            .expect("query");
        assert_eq!(stored.map(|v| v.len()), Some(VALUE_BYTES));
    });
}
