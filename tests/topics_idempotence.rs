//! Idempotent producers: a batch whose acknowledgement was lost is retried and stored once.
//!
//! Deterministically with the raw client: an idempotent Produce request (producer id from
//! InitProducerId, sequences 0..n) is sent and its socket closed without reading the
//! response; once the broker has appended it, the same batch is sent again on a new
//! connection and is answered with its original base offset, the log holding it once —
//! also after kill -9 and restart. A sequence gap is refused with
//! OUT_OF_ORDER_SEQUENCE_NUMBER (45), an older epoch with INVALID_PRODUCER_EPOCH (47).
//!
//! With librdkafka (confluent-kafka, `enable.idempotence=true`): 20,000 records read back
//! exactly once, directly and through a proxy that drops the connection instead of
//! forwarding every 10th Produce response (so librdkafka retries batches already stored).

mod common;
mod topics_support;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use common::{run_python, EddyNode, KafkaConn};
use topics_support::proxy::ProxyListener;
use topics_support::{
    create_topic, encode_batch, init_producer_id, log_offsets, now_ms, produce, produce_frame,
    produce_ok, read_log, wait_for, NewRecord, ProducerFields, INVALID_PRODUCER_EPOCH,
    OUT_OF_ORDER_SEQUENCE_NUMBER,
};

const LIBRDKAFKA_RECORDS: u64 = 20_000;
const LIBRDKAFKA_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the broker may take to append a request whose sender already left.
const APPEND_WAIT: Duration = Duration::from_secs(10);
/// The proxy drops the connection instead of forwarding every this-many-th Produce response.
const DROP_EVERY: u64 = 10;

/// An idempotent batch of `count` records numbered from `first` (keys and values carry the
/// number), with sequences from `base_sequence`.
fn idempotent_batch(first: i64, count: i64, producer: ProducerFields) -> Bytes {
    let now = now_ms();
    let records: Vec<NewRecord> = (first..first + count)
        .map(|i| NewRecord::keyed(&format!("k{i}"), &format!("v{i}"), now))
        .collect();
    encode_batch(&records, Some(producer))
}

/// The values stored in the partition, in offset order.
fn stored_values(node: &EddyNode, topic: &str) -> Vec<String> {
    read_log(node, topic, 0)
        .iter()
        .map(|r| r.value_str().unwrap_or_default())
        .collect()
}

fn values(range: std::ops::Range<i64>) -> Vec<String> {
    range.map(|i| format!("v{i}")).collect()
}

#[test]
fn a_batch_whose_ack_was_lost_is_answered_with_its_original_offset_on_retry() {
    const TOPIC: &str = "idempotent-raw";
    let mut node = EddyNode::start();
    create_topic(&node, TOPIC, &[]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    // Five plain records first, so the idempotent batch's offset is not 0.
    let plain: Vec<NewRecord> = (0..5)
        .map(|i| NewRecord::keyed(&format!("k{i}"), &format!("v{i}"), now_ms()))
        .collect();
    assert_eq!(
        produce_ok(&mut conn, TOPIC, 0, encode_batch(&plain, None)),
        0
    );

    let (producer_id, epoch) = init_producer_id(&node);
    let fields = |base_sequence| ProducerFields {
        producer_id,
        producer_epoch: epoch,
        base_sequence,
    };
    // Records 5..15 with sequences 0..9: sent, and the connection closed unread.
    let first = idempotent_batch(5, 10, fields(0));
    {
        let mut lost = TcpStream::connect(node.kafka_addr()).expect("connect");
        lost.write_all(&produce_frame(1, TOPIC, 0, first.clone()))
            .expect("send the produce request");
        let _ = lost.shutdown(Shutdown::Both);
    }
    wait_for(
        "the broker appends the batch whose ack is lost",
        APPEND_WAIT,
        || match log_offsets(&node, TOPIC, 0) {
            (0, 15) => Ok(()),
            other => Err(other),
        },
    );

    // The producer retries on a new connection: same offset, stored once.
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let retry = produce(&mut conn, TOPIC, 0, first.clone());
    assert_eq!(
        (retry.error_code, retry.base_offset),
        (0, 5),
        "retry: {retry:?}"
    );
    assert_eq!(log_offsets(&node, TOPIC, 0), (0, 15));
    assert_eq!(stored_values(&node, TOPIC), values(0..15));

    // The next batch continues; retries of it and of the one before stay answered.
    let second = idempotent_batch(15, 10, fields(10));
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, second.clone()), 15);
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, second.clone()), 15);
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, first.clone()), 5);
    assert_eq!(log_offsets(&node, TOPIC, 0), (0, 25));

    // The producer state is durable: after kill -9 a retry is still recognised.
    node.kill9();
    node.restart();
    let mut conn = KafkaConn::connect(node.kafka_addr());
    assert_eq!(
        produce_ok(&mut conn, TOPIC, 0, second),
        15,
        "retry after restart"
    );
    assert_eq!(log_offsets(&node, TOPIC, 0), (0, 25));

    // A gap: sequence 30 when 20 is expected.
    let gap = produce(&mut conn, TOPIC, 0, idempotent_batch(25, 5, fields(30)));
    assert_eq!(gap.error_code, OUT_OF_ORDER_SEQUENCE_NUMBER, "gap: {gap:?}");
    assert_eq!(log_offsets(&node, TOPIC, 0), (0, 25), "nothing stored");

    // A bumped epoch starts again at sequence 0; the old epoch is then fenced.
    let bumped = ProducerFields {
        producer_id,
        producer_epoch: epoch + 1,
        base_sequence: 0,
    };
    assert_eq!(
        produce_ok(&mut conn, TOPIC, 0, idempotent_batch(25, 5, bumped)),
        25
    );
    let zombie = produce(&mut conn, TOPIC, 0, idempotent_batch(30, 5, fields(20)));
    assert_eq!(
        zombie.error_code, INVALID_PRODUCER_EPOCH,
        "old epoch: {zombie:?}"
    );
    assert_eq!(log_offsets(&node, TOPIC, 0), (0, 30));
    assert_eq!(stored_values(&node, TOPIC), values(0..30));
    node.assert_healthy();
}

/// Runs `topics_idempotent.py` and checks its report and the stored log: every record once.
fn librdkafka_writes_each_record_once(node: &EddyNode, bootstrap: &str, topic: &str) {
    let count = LIBRDKAFKA_RECORDS.to_string();
    let out = run_python(
        "topics_idempotent.py",
        &[bootstrap, topic, &count],
        LIBRDKAFKA_TIMEOUT,
    );
    let n = LIBRDKAFKA_RECORDS;
    assert!(
        out.contains(&format!("PRODUCED acked={n}")),
        "producer report:\n{out}"
    );
    assert!(
        out.contains(&format!(
            "CONSUMED records={n} distinct={n} first=0 last={}",
            n - 1
        )),
        "consumer report:\n{out}"
    );
    let stored = read_log(node, topic, 0);
    assert_eq!(stored.len() as u64, n, "records stored");
    let distinct: BTreeSet<Option<String>> = stored.iter().map(|r| r.value_str()).collect();
    assert_eq!(distinct.len() as u64, n, "distinct values stored");
    assert!(
        stored.iter().all(|r| r.producer_id >= 0),
        "every batch carries the idempotent producer's id"
    );
}

#[test]
fn librdkafka_idempotent_producer_writes_each_record_once() {
    const TOPIC: &str = "idempotent-librdkafka";
    let node = EddyNode::start();
    create_topic(&node, TOPIC, &[]);
    librdkafka_writes_each_record_once(&node, &node.bootstrap(), TOPIC);
}

#[test]
fn librdkafka_idempotent_producer_retries_lost_acks_without_duplicates() {
    const TOPIC: &str = "idempotent-lost-acks";
    let proxy = ProxyListener::bind();
    let advertised = proxy.addr().to_string();
    let node = EddyNode::start_with_args(&["--advertised-listener", &advertised]);
    let proxy = proxy.start(node.kafka_addr(), DROP_EVERY);
    create_topic(&node, TOPIC, &[]);
    librdkafka_writes_each_record_once(&node, &advertised, TOPIC);
    assert!(
        proxy.dropped() >= 3,
        "the proxy dropped only {} of {} produce responses: the retry path was not exercised",
        proxy.dropped(),
        proxy.produce_responses()
    );
    eprintln!(
        "produce responses {}, dropped with their connection {}",
        proxy.produce_responses(),
        proxy.dropped()
    );
}
