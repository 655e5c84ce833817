//! Produce and Fetch semantics that Kafka clients rely on, checked on the wire against a
//! real node with raw requests (issue #18, "gaps"):
//! - acks=0 gets no response, the record is stored, and the next request's response
//!   carries the next correlation id;
//! - a fetch at the high watermark is empty, one above it is OFFSET_OUT_OF_RANGE;
//! - a fetch whose `max_bytes` is smaller than the first batch still returns that batch
//!   whole (KIP-74), and only that batch;
//! - long polls: a fetch with nothing to return waits `max_wait_ms` (at least), and one
//!   waiting for data is woken by an append before its wait ends;
//! - a batch with a wrong CRC is CORRUPT_MESSAGE and nothing is appended;
//! - acks=all is refused with NOT_ENOUGH_REPLICAS below `min.insync.replicas` (acks=1 is
//!   not), and nothing is appended;
//! - a tombstone survives a kill -9 restart until compaction and `delete.retention.ms`
//!   remove it, and does not come back after the next restart.

mod common;
mod topics_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{batch_headers, EddyNode, KafkaConn};
use kafka_protocol::messages::{ApiVersionsRequest, FetchResponse};
use topics_support::{
    create_topic, encode_batch, log_offsets, produce, produce_ok, produce_request, read_log,
    wait_for, NewRecord,
};

const OFFSET_OUT_OF_RANGE: i16 = 1;
const CORRUPT_MESSAGE: i16 = 2;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const FETCH_VERSION: i16 = 11;
/// A budget for waits on a loaded 2-core machine; only lower bounds are asserted on time.
const WAIT_BUDGET: Duration = Duration::from_secs(60);

fn records(prefix: &str, n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord::keyed(&format!("{prefix}{i}"), &format!("v{i}"), 1_000 + i as i64))
        .collect()
}

fn fetch(
    conn: &mut KafkaConn,
    topic: &str,
    offset: i64,
    max_bytes: i32,
    max_wait_ms: i32,
) -> FetchResponse {
    let request = common::fetch_request(topic, 0, offset, max_bytes, max_wait_ms);
    conn.request(FETCH_VERSION, &request)
}

fn partition_of(resp: &FetchResponse) -> &kafka_protocol::messages::fetch_response::PartitionData {
    resp.responses
        .first()
        .and_then(|t| t.partitions.first())
        .expect("one partition in the fetch response")
}

#[test]
fn acks_zero_gets_no_response_and_the_next_answer_is_in_order() {
    let node = EddyNode::start();
    let topic = "wire-acks0";
    create_topic(&node, topic, &[]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let mut request = produce_request(topic, 0, encode_batch(&records("k", 3), None));
    request.acks = 0;
    // Correlation ids 1 (acks=0 produce) and 2 (ApiVersions) on one socket: the first
    // frame back must be ApiVersions' answer.
    let mut frames = common::encode_request(41, 9, &request);
    frames.extend(common::encode_request(
        42,
        3,
        &ApiVersionsRequest::default(),
    ));
    let mut stream = std::net::TcpStream::connect(node.kafka_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    std::io::Write::write_all(&mut stream, &frames).expect("send");
    match common::read_frame(&mut stream) {
        common::FrameRead::Frame(body) => {
            let correlation_id = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            assert_eq!(correlation_id, 42, "the acks=0 produce got a response");
        }
        other => panic!("no response to ApiVersions after an acks=0 produce: {other:?}"),
    }
    let stored = wait_for("the acks=0 records to be stored", WAIT_BUDGET, || {
        let offsets = log_offsets(&node, topic, 0);
        if offsets.1 == 3 {
            Ok(offsets)
        } else {
            Err(offsets)
        }
    });
    assert_eq!(stored, (0, 3));
    // The raw client still works on its own connection.
    assert_eq!(
        conn.request(3, &ApiVersionsRequest::default()).error_code,
        0
    );
}

#[test]
fn fetch_at_above_and_below_the_high_watermark() {
    let node = EddyNode::start();
    let topic = "wire-fetch";
    create_topic(&node, topic, &[]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    // Three batches of 20 records with ~1 KB values: each batch is well over 100 bytes.
    let value = "x".repeat(1_000);
    for b in 0..3 {
        let batch: Vec<NewRecord> = (0..20)
            .map(|i| NewRecord::keyed(&format!("b{b}-{i}"), &value, 1_000))
            .collect();
        produce_ok(&mut conn, topic, 0, encode_batch(&batch, None));
    }
    let (_, hw) = log_offsets(&node, topic, 0);
    assert_eq!(hw, 60);

    let at_hw = fetch(&mut conn, topic, hw, 1 << 20, 0);
    let p = partition_of(&at_hw);
    assert_eq!(p.error_code, 0, "{p:?}");
    assert_eq!(p.high_watermark, hw);
    assert!(
        p.records.as_ref().is_none_or(|r| r.is_empty()),
        "nothing at the HW"
    );

    let above = fetch(&mut conn, topic, hw + 1, 1 << 20, 0);
    assert_eq!(partition_of(&above).error_code, OFFSET_OUT_OF_RANGE);

    // KIP-74: max_bytes of 100 is far below one batch; the first batch comes whole.
    let small = fetch(&mut conn, topic, 0, 100, 0);
    let p = partition_of(&small);
    assert_eq!(p.error_code, 0);
    let records = p.records.clone().unwrap_or_default();
    let headers = batch_headers(&records);
    assert_eq!(
        headers.len(),
        1,
        "exactly the first batch, whole: {headers:?}"
    );
    assert_eq!((headers[0].base_offset, headers[0].record_count), (0, 20));
    println!(
        "max_bytes=100 returned the first batch whole: {} bytes",
        records.len()
    );
}

#[test]
fn long_polls_wait_and_are_woken_by_appends() {
    let node = EddyNode::start();
    let topic = "wire-long-poll";
    create_topic(&node, topic, &[]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    produce_ok(&mut conn, topic, 0, encode_batch(&records("k", 1), None));

    // Nothing past offset 1: the fetch waits its max_wait_ms. A wait can only be longer on
    // a loaded machine, so the lower bound is safe to assert.
    let started = Instant::now();
    let empty = fetch(&mut conn, topic, 1, 1 << 20, 700);
    let waited = started.elapsed();
    assert_eq!(partition_of(&empty).error_code, 0);
    println!("an empty long poll of max_wait_ms=700 returned after {waited:?}");
    assert!(
        waited >= Duration::from_millis(650),
        "returned after {waited:?}, before its max_wait_ms"
    );

    // A poll waiting up to 50 s is woken by an append 300 ms in.
    let addr = node.kafka_addr();
    let waiter = std::thread::spawn(move || {
        let mut conn = KafkaConn::connect(addr);
        let started = Instant::now();
        let resp = fetch(&mut conn, "wire-long-poll", 1, 1 << 20, 50_000);
        (started.elapsed(), resp)
    });
    std::thread::sleep(Duration::from_millis(300));
    produce_ok(&mut conn, topic, 0, encode_batch(&records("w", 2), None));
    let (waited, resp) = waiter.join().expect("waiter");
    let headers = batch_headers(&partition_of(&resp).records.clone().unwrap_or_default());
    println!("a long poll of max_wait_ms=50000 was woken after {waited:?}");
    assert_eq!(
        headers.first().map(|h| h.base_offset),
        Some(1),
        "woken with the append"
    );
    // The append, not the timeout, ended it: a timeout would take 50 s.
    assert!(waited < Duration::from_secs(45), "not woken: {waited:?}");
}

#[test]
fn a_bad_crc_is_corrupt_message_and_acks_all_needs_min_insync() {
    let node = EddyNode::start();
    let topic = "wire-errors";
    create_topic(&node, topic, &[("min.insync.replicas", "2")]);
    let mut conn = KafkaConn::connect(node.kafka_addr());

    let mut bad = encode_batch(&records("k", 2), None).to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x55;
    // acks=1: with acks=all the ISR check comes first, as in Kafka (NOT_ENOUGH_REPLICAS).
    let mut corrupt = produce_request(topic, 0, Bytes::from(bad));
    corrupt.acks = 1;
    let resp = conn.request(9, &corrupt).responses[0].partition_responses[0].clone();
    assert_eq!(resp.error_code, CORRUPT_MESSAGE, "{resp:?}");
    assert_eq!(log_offsets(&node, topic, 0), (0, 0));

    // One node, min.insync.replicas=2: acks=all is refused, acks=1 is not.
    let resp = produce(&mut conn, topic, 0, encode_batch(&records("k", 2), None));
    assert_eq!(resp.error_code, NOT_ENOUGH_REPLICAS, "{resp:?}");
    assert_eq!(log_offsets(&node, topic, 0), (0, 0));
    let mut acks1 = produce_request(topic, 0, encode_batch(&records("k", 2), None));
    acks1.acks = 1;
    let resp = conn.request(9, &acks1);
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "{p:?}");
    assert_eq!(log_offsets(&node, topic, 0), (0, 2));
}

#[test]
fn a_tombstone_survives_restarts_until_compaction_removes_it() {
    let mut node = EddyNode::start_with_args(&["--log-cleaner-backoff-ms", "200"]);
    let topic = "wire-tombstone";
    create_topic(
        &node,
        topic,
        &[
            ("cleanup.policy", "compact"),
            ("delete.retention.ms", "86400000"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let mut conn = KafkaConn::connect(node.kafka_addr());
    produce_ok(&mut conn, topic, 0, encode_batch(&records("k", 1), None));
    let tombstone = NewRecord {
        key: Some(Bytes::from_static(b"k0")),
        value: None,
        timestamp: 2_000,
    };
    produce_ok(&mut conn, topic, 0, encode_batch(&[tombstone], None));
    produce_ok(
        &mut conn,
        topic,
        0,
        encode_batch(&records("other", 1), None),
    );

    node.kill9();
    node.restart();
    let log = read_log(&node, topic, 0);
    let at_1 = log
        .iter()
        .find(|r| r.offset == 1)
        .expect("the tombstone at offset 1");
    assert_eq!(
        (at_1.key_str(), at_1.value.clone()),
        ("k0".to_string(), None)
    );

    // Now let compaction drop it: delete.retention.ms down to 0, and a new head so that the
    // tombstone's batch is below the active head.
    topics_support::alter_topic(&node, topic, &[("delete.retention.ms", "0")]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    produce_ok(&mut conn, topic, 0, encode_batch(&records("head", 1), None));
    let compacted = wait_for(
        "compaction to remove k0 and its tombstone",
        WAIT_BUDGET,
        || {
            let log = read_log(&node, topic, 0);
            if log.iter().any(|r| r.key_str() == "k0") {
                Err(log)
            } else {
                Ok(log)
            }
        },
    );
    assert!(compacted.iter().any(|r| r.key_str() == "other0"));
    node.kill9();
    node.restart();
    let log = read_log(&node, topic, 0);
    assert!(
        !log.iter().any(|r| r.key_str() == "k0"),
        "a removed tombstone (or its key) came back after a restart: {log:?}"
    );
}
