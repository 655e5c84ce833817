//! Produced batches whose CRC is right but whose contents lie are refused, and the log
//! stays readable (issue #11, failures 1 and 2; Kafka's LogValidator).
//!
//! Raw Produce v8 requests carry each bad batch — garbage records, a garbage gzip body, a
//! record count that disagrees with the last offset delta, a last offset delta of 2^31-1,
//! a gzip bomb, a keyless record on a compacted topic — with a correct CRC-32C, so only a
//! walk of the records can tell. Each is answered INVALID_RECORD (87) or CORRUPT_MESSAGE
//! (2), naming the record where one is to blame (`record_errors`), and nothing is appended:
//! the log end offset stays put. Then kcat produces a valid record, and kcat and
//! confluent-kafka both read the partition from the beginning: exactly that record, at the
//! offset the log would have had without the bad batches.

mod common;
mod topics_support;

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use common::{create_topics, run_kcat, run_python, EddyNode, KafkaConn};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use topics_support::{
    create_topic, encode_batch, kcat_read, log_offsets, produce_request, NewRecord, INVALID_RECORD,
};

const CORRUPT_MESSAGE: i16 = 2;
/// Produce v8 is the first version with `record_errors` (KIP-467).
const PRODUCE_V8: i16 = 8;
const KCAT_TIMEOUT: Duration = Duration::from_secs(120);

// Batch header offsets (magic 2).
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const HEADER_BYTES: usize = 61;

/// Recomputes the CRC-32C over attributes..end, as a client forging a batch would.
fn reseal(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Replaces the body of `batch` (everything after the header) and fixes length and CRC.
fn with_body(batch: &[u8], body: &[u8], attributes: i16) -> Bytes {
    let mut b = batch[..HEADER_BYTES].to_vec();
    b.extend_from_slice(body);
    let length = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&length.to_be_bytes());
    b[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    reseal(&mut b);
    Bytes::from(b)
}

fn records(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord::keyed(&format!("k{i}"), &format!("v{i}"), 1_000 + i as i64))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn produce_v8(conn: &mut KafkaConn, topic: &str, batch: Bytes) -> PartitionProduceResponse {
    conn.request(PRODUCE_V8, &produce_request(topic, 0, batch))
        .responses
        .into_iter()
        .flat_map(|t| t.partition_responses)
        .next()
        .expect("a partition response")
}

/// Sends `batch`, expects `code`, and checks the log did not move.
fn refused(
    node: &EddyNode,
    conn: &mut KafkaConn,
    topic: &str,
    what: &str,
    batch: Bytes,
    code: i16,
) {
    let before = log_offsets(node, topic, 0);
    let resp = produce_v8(conn, topic, batch);
    let message = resp
        .error_message
        .as_ref()
        .map(|m| m.to_string())
        .unwrap_or_default();
    println!(
        "{what}: error {} ({message}); record_errors {:?}",
        resp.error_code, resp.record_errors
    );
    assert_eq!(resp.error_code, code, "{what}: {resp:?}");
    assert!(!message.is_empty(), "{what}: the refusal says why");
    assert_eq!(
        log_offsets(node, topic, 0),
        before,
        "{what}: nothing appended"
    );
}

#[test]
fn lying_batches_are_refused_and_the_log_stays_readable() {
    let mut node = EddyNode::start();
    let topic = "hardening-validation";
    create_topics(&node, &[(topic, 1)]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let good = encode_batch(&records(3), None).to_vec();

    // 1. Garbage records under a valid CRC.
    let garbage = with_body(&good, &[0xff; 40], 0);
    let mut conn2 = KafkaConn::connect(node.kafka_addr());
    let resp = produce_v8(&mut conn2, topic, garbage.clone());
    assert_eq!(
        resp.record_errors.first().map(|e| e.batch_index),
        Some(0),
        "record 0 is named: {resp:?}"
    );
    refused(
        &node,
        &mut conn,
        topic,
        "garbage records",
        garbage,
        INVALID_RECORD,
    );

    // 2. A gzip attribute over bytes that are not gzip.
    let bad_gzip = with_body(&good, b"\x1f\x8b\x08\x00 this is not deflate data", 1);
    refused(
        &node,
        &mut conn,
        topic,
        "garbage gzip",
        bad_gzip,
        CORRUPT_MESSAGE,
    );

    // 3. A gzip body that is valid gzip but holds garbage records.
    let gz_garbage = with_body(&good, &gzip(&[0xfe; 64]), 1);
    refused(
        &node,
        &mut conn,
        topic,
        "gzip of garbage",
        gz_garbage,
        INVALID_RECORD,
    );

    // 4. Three records that claim a last offset delta of 0 (the next batch would reuse
    //    offsets 1 and 2).
    let mut lying = good.clone();
    lying[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&0i32.to_be_bytes());
    reseal(&mut lying);
    refused(
        &node,
        &mut conn,
        topic,
        "count > last offset delta",
        lying.into(),
        INVALID_RECORD,
    );

    // 5. One record with a last offset delta of 2^31-1 (would move the log end by 2^31).
    let one = encode_batch(&records(1), None).to_vec();
    let mut far = one.clone();
    far[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
    reseal(&mut far);
    refused(
        &node,
        &mut conn,
        topic,
        "last offset delta 2^31-1",
        far.into(),
        INVALID_RECORD,
    );

    // 6. A gzip bomb: 200 MB of zeros in ~200 KB, under max.message.bytes.
    let bomb = gzip(&vec![0u8; 200_000_000]);
    println!("gzip bomb: {} bytes compressed", bomb.len());
    assert!(bomb.len() < 1_000_000);
    let bomb = with_body(&good, &bomb, 1);
    refused(&node, &mut conn, topic, "gzip bomb", bomb, INVALID_RECORD);

    // The node is still whole, and real clients read what comes next from offset 0.
    node.assert_healthy();
    run_kcat(
        &[
            "-P",
            "-b",
            &node.bootstrap(),
            "-t",
            topic,
            "-p",
            "0",
            "-K",
            ":",
        ],
        Some(b"after:AFTER\n".to_vec()),
        KCAT_TIMEOUT,
    );
    let read = kcat_read(&node, topic, 0);
    let seen: Vec<_> = read
        .iter()
        .map(|r| (r.offset, r.key.clone(), r.value.clone()))
        .collect();
    assert_eq!(
        seen,
        vec![(0, "after".to_string(), Some("AFTER".to_string()))]
    );
    let confluent = run_python(
        "confluent_read_all.py",
        &[&node.bootstrap(), topic, "0"],
        KCAT_TIMEOUT,
    );
    assert_eq!(
        confluent.trim(),
        "0|after|AFTER",
        "confluent-kafka read: {confluent}"
    );
    node.assert_healthy();
}

#[test]
fn keyless_records_on_a_compacted_topic_are_refused_by_the_partition() {
    let node = EddyNode::start();
    let topic = "hardening-compacted";
    create_topic(&node, topic, &[("cleanup.policy", "compact")]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let keyless = NewRecord {
        key: None,
        value: Some(Bytes::from_static(b"v")),
        timestamp: 1_000,
    };
    let mut both = records(1);
    both.push(keyless);
    let resp = produce_v8(&mut conn, topic, encode_batch(&both, None));
    assert_eq!(resp.error_code, INVALID_RECORD, "{resp:?}");
    assert_eq!(
        resp.record_errors.first().map(|e| e.batch_index),
        Some(1),
        "the keyless record is named: {resp:?}"
    );
    assert_eq!(log_offsets(&node, topic, 0), (0, 0));
}

#[test]
fn a_wrong_max_timestamp_is_corrected_like_kafka() {
    let node = EddyNode::start();
    let topic = "hardening-max-timestamp";
    create_topics(&node, &[(topic, 1)]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let mut batch = encode_batch(&records(3), None).to_vec();
    // Max timestamp (offset 35) claims 5 while the records say 1002.
    batch[35..43].copy_from_slice(&5i64.to_be_bytes());
    reseal(&mut batch);
    let resp = produce_v8(&mut conn, topic, batch.into());
    assert_eq!(resp.error_code, 0, "{resp:?}");
    let stored = common::fetch_batch_headers(&node, topic, 0, 3);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].max_timestamp, 1_002, "{stored:?}");
}
