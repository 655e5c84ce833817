//! Crashes at chosen points of the write paths, not only where a test happens to kill.
//!
//! Each test starts the real node with `EDDY_FAULT_POINT` armed (`eddy_actors::fault`), so
//! it aborts (SIGABRT, no shutdown step) at one named place, then restarts it without the
//! fault point on the same data directory and proves exactness:
//!
//! - `partition.append.before_ack`: a batch written but not acknowledged. The client sees
//!   no answer; after the restart the record is there at most once, and the producer's
//!   retry (same producer id, epoch and sequence) leaves it exactly once.
//! - `compaction.apply.before_commit` / `compaction.apply.after_commit`: a compaction pass
//!   killed around its one write batch. After the restart the log is exactly the log
//!   before the pass, or exactly the compacted log (the last-value model), never a mix.

mod common;
mod topics_support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::{encode_request, read_frame, EddyNode, FrameRead, KafkaConn};
use eddy_actors::fault;
use topics_support::{
    alter_topic, create_topic, encode_batch, init_producer_id, log_offsets, now_ms, produce,
    produce_ok, produce_request, read_log, NewRecord, ProducerFields, StoredRecord,
};

/// How long a node may take to reach its fault point once the test has set it off.
const ABORT_WAIT: Duration = Duration::from_secs(30);
const PRODUCE_VERSION: i16 = 9;

fn arm(point: &str, hit: u32) -> [(&'static str, String); 1] {
    [(fault::FAULT_POINT_VAR, format!("{point}:{hit}"))]
}

fn start_armed(args: &[&str], point: &str, hit: u32) -> EddyNode {
    let env = arm(point, hit);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    EddyNode::start_with_env(args, &env)
}

fn values(records: &[StoredRecord]) -> Vec<(i64, String)> {
    records
        .iter()
        .map(|r| (r.offset, r.value_str().unwrap_or_default()))
        .collect()
}

#[test]
fn a_batch_written_but_not_acknowledged_is_kept_at_most_once_and_a_retry_makes_it_once() {
    const TOPIC: &str = "crash-before-ack";
    // The third append of the node's life aborts: the first two are the test's own.
    let mut node = start_armed(&[], fault::APPEND_BEFORE_ACK, 3);
    create_topic(&node, TOPIC, &[]);
    let (producer_id, producer_epoch) = init_producer_id(&node);
    let batch = |seq: i32| {
        let fields = ProducerFields {
            producer_id,
            producer_epoch,
            base_sequence: seq,
        };
        encode_batch(
            &[NewRecord::keyed("k", &format!("record-{seq}"), now_ms())],
            Some(fields),
        )
    };
    let mut conn = KafkaConn::connect(node.kafka_addr());
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, batch(0)), 0);
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, batch(1)), 1);

    // The third is written, then the node aborts before answering: no acknowledgement.
    let mut raw = TcpStream::connect(node.kafka_addr()).expect("connect");
    raw.set_read_timeout(Some(ABORT_WAIT))
        .expect("read timeout");
    let frame = encode_request(7, PRODUCE_VERSION, &produce_request(TOPIC, 0, batch(2)));
    raw.write_all(&frame).expect("send the produce");
    match read_frame(&mut raw) {
        FrameRead::Closed { partial: 0 } => {}
        other => panic!("the unacknowledged produce got {other:?}, not a closed connection"),
    }
    node.expect_fault_abort(fault::APPEND_BEFORE_ACK, ABORT_WAIT);

    node.set_env(fault::FAULT_POINT_VAR, None);
    node.restart();
    let after_crash = values(&read_log(&node, TOPIC, 0));
    let copies = after_crash.iter().filter(|(_, v)| v == "record-2").count();
    assert!(
        copies <= 1,
        "the unacknowledged record is stored {copies} times: {after_crash:?}"
    );
    assert_eq!(
        after_crash[..2],
        [(0, "record-0".to_string()), (1, "record-1".to_string())],
        "the acknowledged records survive as they were"
    );
    eprintln!("after the crash the unacknowledged record is present {copies} time(s)");

    // The producer retries what it never saw acknowledged, twice: once stored, at offset 2.
    let mut conn = KafkaConn::connect(node.kafka_addr());
    for attempt in 1..=2 {
        let response = produce(&mut conn, TOPIC, 0, batch(2));
        assert_eq!(
            (response.error_code, response.base_offset),
            (0, 2),
            "retry {attempt} of the unacknowledged batch: {response:?}"
        );
    }
    let expected: Vec<(i64, String)> = (0..3).map(|i| (i, format!("record-{i}"))).collect();
    assert_eq!(values(&read_log(&node, TOPIC, 0)), expected);
    assert_eq!(log_offsets(&node, TOPIC, 0).1, 3, "high watermark");
    node.assert_healthy();
}

const COMPACT_TOPIC: &str = "crash-mid-compaction";
const KEYS: i64 = 500;
const RECORDS: i64 = 20_000;
const RECORDS_PER_BATCH: i64 = 100;
/// Compaction is considered every 100 ms while the fault is armed; after the restart not
/// for 10 minutes, so what the test reads is what the crash left, not a new pass.
const CLEANER_FAST: [&str; 2] = ["--log-cleaner-backoff-ms", "100"];
const CLEANER_IDLE: [&str; 2] = ["--log-cleaner-backoff-ms", "600000"];

fn key(g: i64) -> String {
    format!("key-{:05}", g % KEYS)
}

/// Records `0..RECORDS` in batches of `RECORDS_PER_BATCH` (record g at offset g), then a
/// marker at `RECORDS` in a batch of its own, so one pass covers every keyed record.
fn produce_keyed_log(node: &EddyNode) {
    let now = now_ms();
    let mut conn = KafkaConn::connect(node.kafka_addr());
    for first in (0..RECORDS).step_by(RECORDS_PER_BATCH as usize) {
        let records: Vec<NewRecord> = (first..first + RECORDS_PER_BATCH)
            .map(|g| NewRecord::keyed(&key(g), &format!("value-{g}"), now))
            .collect();
        assert_eq!(
            produce_ok(&mut conn, COMPACT_TOPIC, 0, encode_batch(&records, None)),
            first
        );
    }
    let marker = encode_batch(&[NewRecord::keyed("marker", "end", now)], None);
    assert_eq!(produce_ok(&mut conn, COMPACT_TOPIC, 0, marker), RECORDS);
}

/// `(offset, key, value)` of the whole log before any pass.
fn full_log() -> Vec<(i64, String, String)> {
    let mut log: Vec<(i64, String, String)> = (0..RECORDS)
        .map(|g| (g, key(g), format!("value-{g}")))
        .collect();
    log.push((RECORDS, "marker".into(), "end".into()));
    log
}

/// The last-value model: each key's latest record, in offset order, then the marker.
fn compacted_log() -> Vec<(i64, String, String)> {
    full_log()
        .into_iter()
        .filter(|(offset, _, _)| *offset >= RECORDS - KEYS)
        .collect()
}

fn stored(records: &[StoredRecord]) -> Vec<(i64, String, String)> {
    records
        .iter()
        .map(|r| (r.offset, r.key_str(), r.value_str().unwrap_or_default()))
        .collect()
}

/// Kills the node at `point` in its first compaction pass and returns the log it reads
/// after the restart.
fn crash_in_first_pass(point: &str) -> (EddyNode, Vec<(i64, String, String)>) {
    let mut node = start_armed(&CLEANER_FAST, point, 1);
    create_topic(&node, COMPACT_TOPIC, &[("cleanup.policy", "delete")]);
    produce_keyed_log(&node);
    alter_topic(&node, COMPACT_TOPIC, &[("cleanup.policy", "compact")]);
    node.expect_fault_abort(point, ABORT_WAIT);

    node.set_env(fault::FAULT_POINT_VAR, None);
    node.set_args(&CLEANER_IDLE);
    node.restart();
    assert_eq!(
        log_offsets(&node, COMPACT_TOPIC, 0).1,
        RECORDS + 1,
        "high watermark after the crash in {point}"
    );
    let log = stored(&read_log(&node, COMPACT_TOPIC, 0));
    (node, log)
}

fn first_difference(
    got: &[(i64, String, String)],
    want: &[(i64, String, String)],
) -> Option<String> {
    let at = got.iter().zip(want).position(|(g, w)| g != w);
    match at {
        Some(i) => Some(format!(
            "at index {i}: got {:?}, want {:?}",
            got[i], want[i]
        )),
        None if got.len() != want.len() => {
            Some(format!("{} records, want {}", got.len(), want.len()))
        }
        None => None,
    }
}

#[test]
fn a_crash_before_the_compaction_commit_leaves_the_whole_log() {
    let (mut node, log) = crash_in_first_pass(fault::COMPACTION_BEFORE_COMMIT);
    if let Some(diff) = first_difference(&log, &full_log()) {
        panic!("the log after a crash before the compaction's commit is not the log before the pass: {diff}");
    }
    node.assert_healthy();
}

#[test]
fn a_crash_after_the_compaction_commit_leaves_exactly_the_compacted_log() {
    let (mut node, log) = crash_in_first_pass(fault::COMPACTION_AFTER_COMMIT);
    if let Some(diff) = first_difference(&log, &compacted_log()) {
        panic!("the log after a crash right after the compaction's commit is not the last-value model: {diff}");
    }
    node.assert_healthy();
}
