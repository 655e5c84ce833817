//! Retention for `cleanup.policy=delete` on a real node that checks every 200 ms
//! (`--log-retention-check-interval-ms 200`): by time (`retention.ms` against each batch's
//! max timestamp), by size (`retention.bytes`: a batch goes while the log without it still
//! holds at least that many bytes), and DeleteRecords through kafka-python's admin client.
//!
//! Batches are produced byte-exactly over a raw connection so that their boundaries, sizes
//! and timestamps are known; what remains is checked with ListOffsets (raw and
//! kafka-python), raw fetches (OFFSET_OUT_OF_RANGE below the log start) and kcat.

mod common;
mod topics_support;

use std::thread;
use std::time::Duration;

use bytes::Bytes;
use common::{EddyNode, KafkaConn};
use topics_support::{
    admin, alter_topic, create_topic, encode_batch, fetch_partition, kcat_read, log_offsets,
    now_ms, produce_ok, wait_for, NewRecord, OFFSET_OUT_OF_RANGE,
};

const RETENTION_CHECK: [&str; 2] = ["--log-retention-check-interval-ms", "200"];
/// Batches produced per topic, and records per batch.
const BATCHES: i64 = 10;
const RECORDS_PER_BATCH: i64 = 10;
/// How long retention may take to act: many check intervals.
const RETENTION_WAIT: Duration = Duration::from_secs(15);
/// How long a settled log start offset is watched for further (wrong) deletions.
const SETTLED_WATCH: Duration = Duration::from_millis(1_000);

/// Record `index`: fixed-width key and value, so that every batch has the same size.
fn record(index: i64, timestamp: i64) -> NewRecord {
    NewRecord::keyed(
        &format!("key-{index:04}"),
        &format!("value-{index:04}-{}", "r".repeat(40)),
        timestamp,
    )
}

/// Batch `n` of a topic: records `n * RECORDS_PER_BATCH ..` all stamped `timestamp`.
fn batch(n: i64, timestamp: i64) -> Bytes {
    let records: Vec<NewRecord> = (0..RECORDS_PER_BATCH)
        .map(|i| record(n * RECORDS_PER_BATCH + i, timestamp))
        .collect();
    encode_batch(&records, None)
}

/// Produces batches `range` with the timestamp `timestamp_of(n)`, checking their offsets.
fn produce_batches(
    node: &EddyNode,
    topic: &str,
    range: std::ops::Range<i64>,
    timestamp_of: impl Fn(i64) -> i64,
) {
    let mut conn = KafkaConn::connect(node.kafka_addr());
    for n in range {
        let base = produce_ok(&mut conn, topic, 0, batch(n, timestamp_of(n)));
        assert_eq!(base, n * RECORDS_PER_BATCH, "base offset of batch {n}");
    }
}

/// Waits until the partition's offsets are `expected`, then checks they stay there.
fn wait_settled(node: &EddyNode, topic: &str, expected: (i64, i64)) {
    wait_for(
        &format!("{topic}: (log start, high watermark) = {expected:?}"),
        RETENTION_WAIT,
        || match log_offsets(node, topic, 0) {
            got if got == expected => Ok(()),
            got => Err(got),
        },
    );
    thread::sleep(SETTLED_WATCH);
    assert_eq!(
        log_offsets(node, topic, 0),
        expected,
        "{topic}: retention went on deleting after it settled"
    );
}

/// The offsets kcat reads, checked against the records produced at them.
fn assert_kcat_reads(node: &EddyNode, topic: &str, offsets: std::ops::Range<i64>) {
    let read = kcat_read(node, topic, 0);
    let got: Vec<i64> = read.iter().map(|r| r.offset).collect();
    assert_eq!(
        got,
        offsets.collect::<Vec<_>>(),
        "{topic}: offsets kcat reads"
    );
    for r in &read {
        let expected = record(r.offset, 0);
        assert_eq!(
            (r.key.as_bytes(), r.value.as_deref().map(str::as_bytes)),
            (
                expected.key.as_deref().unwrap_or_default(),
                expected.value.as_deref()
            ),
            "{topic}: record at offset {}",
            r.offset
        );
    }
}

fn assert_out_of_range(node: &EddyNode, topic: &str, offset: i64) {
    let data = fetch_partition(node, topic, 0, offset);
    assert_eq!(
        data.error_code, OFFSET_OUT_OF_RANGE,
        "{topic}: fetch at {offset}, below the log start, must be OFFSET_OUT_OF_RANGE: {data:?}"
    );
}

fn kafka_python_offsets(node: &EddyNode, topic: &str) -> String {
    admin(node, "offsets", &[topic, "0"]).trim().to_string()
}

#[test]
fn retention_by_time_deletes_expired_batches_and_moves_the_log_start() {
    const TOPIC: &str = "retention-time";
    let node = EddyNode::start_with_args(&RETENTION_CHECK);
    create_topic(&node, TOPIC, &[("retention.ms", "60000")]);

    // Five batches ten minutes old, five current ones: only the old ones are past 60 s.
    let now = now_ms();
    produce_batches(&node, TOPIC, 0..BATCHES, |n| {
        if n < 5 {
            now - 600_000
        } else {
            now
        }
    });
    wait_settled(&node, TOPIC, (50, 100));
    assert_eq!(kafka_python_offsets(&node, TOPIC), "EARLIEST 50 LATEST 100");
    assert_kcat_reads(&node, TOPIC, 50..100);
    assert_out_of_range(&node, TOPIC, 0);
    assert_out_of_range(&node, TOPIC, 49);
    let first = fetch_partition(&node, TOPIC, 0, 50);
    assert_eq!(first.error_code, 0, "fetch at the log start: {first:?}");
    assert_eq!(
        first.log_start_offset, 50,
        "log start offset in the fetch response"
    );

    // A shorter retention (changed while the node runs) lets the current batches expire
    // too; the log end offset stays and the next append continues from it.
    alter_topic(&node, TOPIC, &[("retention.ms", "1000")]);
    wait_settled(&node, TOPIC, (100, 100));
    assert_out_of_range(&node, TOPIC, 99);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, batch(10, now_ms())), 100);
    assert_eq!(log_offsets(&node, TOPIC, 0), (100, 110));
    assert!(
        node.log().contains("retention deleted batches"),
        "no retention log line"
    );
}

#[test]
fn retention_by_size_keeps_at_least_retention_bytes() {
    const TOPIC: &str = "retention-size";
    let node = EddyNode::start_with_args(&RETENTION_CHECK);
    let size = batch(0, now_ms()).len() as i64;
    assert!(
        (0..=BATCHES).all(|n| batch(n, now_ms()).len() as i64 == size),
        "every batch has the same size"
    );
    // 3.5 batches: the log is cut down to four batches (without the fourth it would hold
    // only three, fewer than retention.bytes).
    let retention_bytes = (3 * size + size / 2).to_string();
    create_topic(&node, TOPIC, &[("retention.bytes", &retention_bytes)]);

    produce_batches(&node, TOPIC, 0..BATCHES, |_| now_ms());
    wait_settled(&node, TOPIC, (60, 100));
    assert_out_of_range(&node, TOPIC, 59);
    assert_kcat_reads(&node, TOPIC, 60..100);

    // One more batch pushes exactly one more out.
    produce_batches(&node, TOPIC, BATCHES..BATCHES + 1, |_| now_ms());
    wait_settled(&node, TOPIC, (70, 110));
    assert_eq!(kafka_python_offsets(&node, TOPIC), "EARLIEST 70 LATEST 110");
    assert_kcat_reads(&node, TOPIC, 70..110);
}

#[test]
fn delete_records_through_kafka_python_moves_the_earliest_offset() {
    const TOPIC: &str = "delete-records";
    let mut node = EddyNode::start_with_args(&RETENTION_CHECK);
    create_topic(&node, TOPIC, &[]);
    produce_batches(&node, TOPIC, 0..BATCHES, |_| now_ms());

    let trim = |before: &str| {
        admin(&node, "delete-records", &[TOPIC, "0", before])
            .trim()
            .to_string()
    };
    // Inside a batch: the log start moves to 35, the batch holding it (30..39) stays.
    assert_eq!(trim("35"), "LOW_WATERMARK 35");
    assert_eq!(log_offsets(&node, TOPIC, 0), (35, 100));
    assert_eq!(kafka_python_offsets(&node, TOPIC), "EARLIEST 35 LATEST 100");
    assert_out_of_range(&node, TOPIC, 34);
    let at_start = fetch_partition(&node, TOPIC, 0, 35);
    assert_eq!(at_start.error_code, 0, "fetch at the new log start");
    assert_eq!(at_start.log_start_offset, 35);
    assert_kcat_reads(&node, TOPIC, 35..100);

    // Below the log start: nothing changes.
    assert_eq!(trim("10"), "LOW_WATERMARK 35");
    // Past the high watermark: refused.
    assert_eq!(trim("150"), "ERROR 1 OffsetOutOfRangeError");
    assert_eq!(log_offsets(&node, TOPIC, 0), (35, 100));
    // -1 means the high watermark: everything goes.
    assert_eq!(trim("-1"), "LOW_WATERMARK 100");
    assert_eq!(log_offsets(&node, TOPIC, 0), (100, 100));
    assert!(
        kcat_read(&node, TOPIC, 0).is_empty(),
        "an emptied log reads empty"
    );

    // The new log start survives kill -9, and appends continue after the old end.
    node.kill9();
    node.restart();
    assert_eq!(log_offsets(&node, TOPIC, 0), (100, 100), "after kill -9");
    let mut conn = KafkaConn::connect(node.kafka_addr());
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, batch(10, now_ms())), 100);
    node.assert_healthy();
}

/// Regression test: ListOffsets by timestamp searches from the log start offset (as Kafka
/// does), never answering an offset below it — a consumer seeking there would get
/// OFFSET_OUT_OF_RANGE.
#[test]
fn list_offsets_by_timestamp_never_answers_below_the_log_start() {
    const TOPIC: &str = "timestamp-after-trim";
    let node = EddyNode::start();
    create_topic(&node, TOPIC, &[]);
    let base_time = now_ms() - 60_000;
    // Record n has timestamp base_time + n.
    let mut conn = KafkaConn::connect(node.kafka_addr());
    for n in 0..BATCHES {
        let records: Vec<NewRecord> = (0..RECORDS_PER_BATCH)
            .map(|i| {
                record(
                    n * RECORDS_PER_BATCH + i,
                    base_time + n * RECORDS_PER_BATCH + i,
                )
            })
            .collect();
        produce_ok(&mut conn, TOPIC, 0, encode_batch(&records, None));
    }
    assert_eq!(
        admin(&node, "delete-records", &[TOPIC, "0", "35"]).trim(),
        "LOW_WATERMARK 35"
    );
    for (timestamp, expected) in [(base_time, 35), (base_time + 31, 35), (base_time + 36, 36)] {
        let found = topics_support::list_offset(&node, TOPIC, 0, timestamp);
        assert_eq!(
            (found.error_code, found.offset),
            (0, expected),
            "ListOffsets at timestamp base+{}",
            timestamp - base_time
        );
    }
}
