//! A word count whose application process aborts in the middle of a commit, with input read
//! and not committed — not at a quiet point after everything was committed and at lag 0.
//!
//! The application runs in a child process (this test binary, re-run as the ignored test
//! `application_process_until_its_fault_point`) with `EDDY_FAULT_POINT` armed
//! (`eddy_actors::fault`), so it dies by SIGABRT at one named place of a stream task's
//! commit, with input read but not committed:
//!
//! - `streams.commit.after_changelog`: outputs and changelog records acknowledged, the
//!   input offsets not committed, the local stores not checkpointed;
//! - `streams.commit.before_checkpoint`: the input offsets committed, the stores not
//!   checkpointed.
//!
//! A new instance (in the test process, on the same state directory) then restores its
//! stores and finishes the input. Exactness: the final table (the latest count per word)
//! is exactly an uninterrupted run's, and every output record is explained by
//! at-least-once processing — per word, the counts run 1, 2, 3, … with, at most, runs
//! replayed from an earlier count (the records processed again after the crash), and no
//! count that an uninterrupted run would not emit.
//!
//! The input is keyed by word, so the count needs no repartition: one sub-topology, whose
//! store the restore rule keeps exact. Through a repartition topic at-least-once is weaker:
//! a crash between a repartitioning task's acknowledged writes and its commit writes those
//! records again, and the counting task downstream counts them twice
//! (docs/runtime-semantics.md, section 8).

mod common;
mod streams_support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{wait_bounded, EddyNode};
use eddy::client::{Admin, Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset};
use eddy::streams::{KafkaStreams, StreamsSettings};
use eddy::topologies::{StreamsBuilder, Topology};
use eddy_actors::fault;
use streams_support::expected_counts;

const INPUT: &str = "crash-lines";
const OUTPUT: &str = "crash-counts";
const APP: &str = "crash-wordcount";
const PARTITIONS: i32 = 2;
/// Lines fed in all, one input record per word (keyed by the word): the first part before
/// the application starts, the rest after the crash.
const LINES: usize = 2_000;
/// Lines produced before the application starts, and then while it runs (in chunks, so its
/// tasks commit again and again) until it crashes; the rest follows the crash.
const LINES_BEFORE_START: usize = 1_000;
const LINES_WHILE_RUNNING: usize = 500;
const TRICKLE_CHUNK_LINES: usize = 25;
const TRICKLE_PAUSE: Duration = Duration::from_millis(50);
const COMMIT_INTERVAL: Duration = Duration::from_millis(100);
/// Bound of the child's life, and of every wait for counts or commits.
const WAIT_LIMIT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);
/// What the parent tells the child process (names outside `EDDY_*`: they are the test's).
const CHILD_BOOTSTRAP: &str = "STREAMS_CRASH_CHILD_BOOTSTRAP";
const CHILD_STATE_DIR: &str = "STREAMS_CRASH_CHILD_STATE_DIR";
const CHILD_TEST: &str = "application_process_until_its_fault_point";

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(INPUT)
        .group_by_key()
        .count()
        .named("counts")
        .to_stream()
        .to(OUTPUT);
    builder.build().expect("topology builds")
}

fn settings(bootstrap: &str, state_dir: &Path) -> StreamsSettings {
    let mut settings = StreamsSettings::new(APP, bootstrap);
    settings.commit_interval = COMMIT_INTERVAL;
    settings.state_dir = state_dir.to_path_buf();
    // The crashed instance never leaves the group: the next one waits this long for it.
    settings.session_timeout = Duration::from_secs(6);
    settings.heartbeat_interval = Duration::from_millis(300);
    settings
}

/// Deterministic input (its own seed, so the two test files do not read the same lines).
fn lines() -> Vec<String> {
    streams_support::lines(0x9e37_79b9_7f4a_7c15, LINES)
}

async fn produce(bootstrap: &str, first_index: usize, lines: &[String]) {
    let mut producer = Producer::connect(bootstrap, ProducerConfig::default())
        .await
        .expect("producer connects");
    for (i, line) in lines.iter().enumerate() {
        for word in line.split_whitespace() {
            let record = ProducerRecord::new(INPUT, format!("line-{}", first_index + i))
                .with_key(word.to_string());
            producer.send(record).await.expect("send a word");
        }
    }
    producer.flush().await.expect("flush the lines");
}

/// Every output record, per word in offset order (a word's records are all on the
/// partition its key hashes to, written by one task).
async fn output_per_word(bootstrap: &str) -> Result<BTreeMap<String, Vec<u64>>, String> {
    let mut consumer = Consumer::connect(bootstrap)
        .await
        .map_err(|e| e.to_string())?;
    let partitions: Vec<i32> = (0..PARTITIONS).collect();
    consumer
        .assign(OUTPUT, &partitions, StartOffset::Earliest)
        .await
        .map_err(|e| e.to_string())?;
    let mut per_word: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for r in consumer.poll(POLL).await.map_err(|e| e.to_string())? {
            let key = String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned();
            let value = r
                .value
                .as_deref()
                .and_then(|v| v.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| format!("output value of {key} is not an 8-byte count"))?;
            per_word.entry(key).or_default().push(value);
        }
        let caught_up = partitions.iter().all(|p| {
            consumer.position(OUTPUT, *p).unwrap_or(0)
                >= consumer.high_watermark(OUTPUT, *p).unwrap_or(i64::MAX)
        });
        if caught_up {
            return Ok(per_word);
        }
        if Instant::now() >= deadline {
            return Err("the output topic was not read to its end in time".into());
        }
    }
}

fn latest(per_word: &BTreeMap<String, Vec<u64>>) -> BTreeMap<String, u64> {
    per_word
        .iter()
        .filter_map(|(w, counts)| Some((w.clone(), *counts.last()?)))
        .collect()
}

/// Waits until the latest counts are exactly `expected`; fails at once on an over-count.
async fn wait_for_exact_table(bootstrap: &str, expected: &BTreeMap<String, u64>) {
    let deadline = Instant::now() + WAIT_LIMIT;
    let mut last = Err("not read yet".to_string());
    while Instant::now() < deadline {
        last = output_per_word(bootstrap).await.map(|p| latest(&p));
        if let Ok(counts) = &last {
            if counts == expected {
                return;
            }
            let over: Vec<_> = counts
                .iter()
                .filter(|(w, c)| **c > expected.get(*w).copied().unwrap_or(0))
                .collect();
            assert!(
                over.is_empty(),
                "words counted more often than they occur: {over:?}"
            );
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("the counts did not reach the expected ones within {WAIT_LIMIT:?}\nexpected {expected:?}\nlast read {last:?}");
}

/// Checks that one word's output is what at-least-once processing can write: an
/// uninterrupted run writes 1, 2, …, `total`; records processed again after a crash repeat
/// a run of counts from some earlier count. Returns how many records were repeats.
fn explained_by_at_least_once(word: &str, counts: &[u64], total: u64) -> usize {
    let mut repeats = 0;
    let mut highest = 0;
    let mut previous = 0;
    for (i, &count) in counts.iter().enumerate() {
        assert!(
            (1..=total).contains(&count),
            "{word}: output #{i} is the count {count}, outside 1..={total}: {counts:?}"
        );
        if count != previous + 1 {
            // A replay starts again from a count already written (the restored store's
            // count + 1); it never skips ahead.
            assert!(
                count <= highest,
                "{word}: output #{i} jumps from {previous} to {count}, which no run of the \
                 input writes: {counts:?}"
            );
        }
        if count <= highest {
            repeats += 1;
        }
        highest = highest.max(count);
        previous = count;
    }
    assert_eq!(
        highest, total,
        "{word}: the counts never reach {total}: {counts:?}"
    );
    repeats
}

/// The sum of the group's committed offsets on the input topic.
async fn committed_input(bootstrap: &str) -> i64 {
    let mut admin = Admin::connect(bootstrap).await.expect("admin connects");
    admin
        .group_offsets(APP)
        .await
        .expect("group offsets")
        .iter()
        .filter(|o| o.topic == INPUT)
        .map(|o| o.committed_offset)
        .sum()
}

/// Runs the application as a child process armed to abort at `point`, and waits for it to.
fn run_child_until_abort(bootstrap: &str, state_dir: &Path, log: &Path, point: &str, hit: u32) {
    use std::os::unix::process::ExitStatusExt;
    let out = File::create(log).expect("create the child's log");
    let err = out.try_clone().expect("clone the log handle");
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([CHILD_TEST, "--exact", "--ignored", "--nocapture"])
        .env(CHILD_BOOTSTRAP, bootstrap)
        .env(CHILD_STATE_DIR, state_dir)
        .env(fault::FAULT_POINT_VAR, format!("{point}:{hit}"))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn the application process");
    let status = wait_bounded(&mut child, WAIT_LIMIT + Duration::from_secs(10));
    let output = std::fs::read_to_string(log).unwrap_or_default();
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the application process did not end\n{output}");
    };
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "the application was to abort at {point}; it exited with {status}\n{output}"
    );
    assert!(
        output.contains(&format!("fault point {point} reached")),
        "the application aborted elsewhere than at {point}:\n{output}"
    );
}

/// Feeds the first part, runs the application until it aborts at the `hit`-th time one of
/// its tasks passes `point`, then finishes with a new instance and checks exactness.
fn crash_mid_commit_then_finish(point: &str, hit: u32) {
    let mut node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let all = lines();
    let (first, rest) = all.split_at(LINES_BEFORE_START);
    let (during, after) = rest.split_at(LINES_WHILE_RUNNING);
    let state = tempfile::tempdir().expect("state dir");
    let state_dir: PathBuf = state.path().join("state");

    let app = actix_rt::System::new();
    app.block_on(async {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin connects");
        for topic in [INPUT, OUTPUT] {
            admin
                .create_topic(topic, PARTITIONS, 1, &[])
                .await
                .unwrap_or_else(|err| panic!("create topic {topic}: {err}"));
        }
        produce(&bootstrap, 0, first).await;
    });

    // More input arrives once the application has committed, so its tasks commit again.
    let crashed = Arc::new(AtomicBool::new(false));
    let trickle = {
        let (bootstrap, during) = (bootstrap.clone(), during.to_vec());
        let crashed = crashed.clone();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async {
                while !crashed.load(Ordering::SeqCst) && committed_input(&bootstrap).await == 0 {
                    tokio::time::sleep(POLL).await;
                }
                for (i, chunk) in during.chunks(TRICKLE_CHUNK_LINES).enumerate() {
                    produce(
                        &bootstrap,
                        LINES_BEFORE_START + i * TRICKLE_CHUNK_LINES,
                        chunk,
                    )
                    .await;
                    tokio::time::sleep(TRICKLE_PAUSE).await;
                }
            })
        })
    };
    let log = state.path().join("app.log");
    run_child_until_abort(&bootstrap, &state_dir, &log, point, hit);
    crashed.store(true, Ordering::SeqCst);
    let committed = app.block_on(committed_input(&bootstrap));
    trickle
        .join()
        .expect("the input produced while the application ran");
    let words =
        |lines: &[String]| -> usize { lines.iter().map(|l| l.split_whitespace().count()).sum() };
    eprintln!(
        "{point} (hit {hit}): {committed} input records committed at the crash, {} produced by then at most",
        words(first) + words(during)
    );

    app.block_on(async {
        let streams = KafkaStreams::start(topology(), settings(&bootstrap, &state_dir))
            .await
            .expect("the second instance starts");
        produce(&bootstrap, LINES_BEFORE_START + LINES_WHILE_RUNNING, after).await;
        let expected = expected_counts(&all);
        wait_for_exact_table(&bootstrap, &expected).await;
        let per_word = output_per_word(&bootstrap).await.expect("read the output");
        let repeats: usize = per_word
            .iter()
            .map(|(w, counts)| explained_by_at_least_once(w, counts, expected[w]))
            .sum();
        eprintln!(
            "{point} (hit {hit}): {repeats} output records were repeats of at-least-once replays"
        );
        streams.close().await;
    });
    node.assert_healthy();
}

#[test]
fn a_crash_after_the_changelog_write_in_the_first_commit_keeps_the_table_exact() {
    crash_mid_commit_then_finish(fault::STREAMS_AFTER_CHANGELOG, 1);
}

#[test]
fn a_crash_after_the_changelog_write_in_a_later_commit_keeps_the_table_exact() {
    crash_mid_commit_then_finish(fault::STREAMS_AFTER_CHANGELOG, 3);
}

#[test]
fn a_crash_after_the_commit_before_the_checkpoint_keeps_the_table_exact() {
    crash_mid_commit_then_finish(fault::STREAMS_BEFORE_CHECKPOINT, 2);
}

/// The application process of the tests above: runs the word count until the armed fault
/// point aborts it. Without its environment (a plain test run) it returns at once.
#[test]
#[ignore = "run as a child process by the crash tests of this file"]
fn application_process_until_its_fault_point() {
    let Ok(bootstrap) = std::env::var(CHILD_BOOTSTRAP) else {
        return;
    };
    let state_dir = PathBuf::from(std::env::var(CHILD_STATE_DIR).expect("the state dir"));
    actix_rt::System::new().block_on(async {
        let _streams = KafkaStreams::start(topology(), settings(&bootstrap, &state_dir))
            .await
            .expect("streams start");
        tokio::time::sleep(WAIT_LIMIT).await;
    });
    panic!("the armed fault point was not reached within {WAIT_LIMIT:?}");
}
