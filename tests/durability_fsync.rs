//! The flush policy, seen from outside: `eddy_log_flushes_total` counts the partition
//! logs' fsyncs (counted once the fsync has returned), so a test can check that with
//! `--log-flush-interval-messages 1` every acknowledged produce was preceded by an fsync,
//! and that the default policy does not fsync at all.
//!
//! A kill -9 cannot tell the two apart (the page cache survives the process; see
//! `durability_kill9.rs`), which is why this is checked through the counter: each produce
//! is sent alone, and the counter is read before it is sent and after its acknowledgement.
//! An fsync that the node ran only after acknowledging could still be counted before the
//! test reads the counter; what this rules out is an acknowledged produce with no fsync at
//! all, in the right place or late.

mod common;
mod topics_support;

use common::{EddyNode, KafkaConn};
use topics_support::{create_topic, encode_batch, metric, now_ms, produce_ok, NewRecord};

const TOPIC: &str = "fsync-policy";
const PRODUCES: i64 = 20;
const FLUSHES: &str = "eddy_log_flushes_total";

/// Produces `PRODUCES` one-record batches one at a time; returns the fsyncs counted between
/// sending each and reading its acknowledgement.
fn flushes_per_ack(node: &EddyNode) -> Vec<f64> {
    create_topic(node, TOPIC, &[]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    (0..PRODUCES)
        .map(|i| {
            let before = metric(node, FLUSHES);
            let batch = encode_batch(&[NewRecord::keyed("k", &format!("v{i}"), now_ms())], None);
            assert_eq!(produce_ok(&mut conn, TOPIC, 0, batch), i);
            metric(node, FLUSHES) - before
        })
        .collect()
}

#[test]
fn with_flush_messages_1_every_acknowledged_produce_follows_an_fsync() {
    let mut node = EddyNode::start_with_args(&["--log-flush-interval-messages", "1"]);
    let flushes = flushes_per_ack(&node);
    let unsynced: Vec<usize> = (0..flushes.len()).filter(|i| flushes[*i] < 1.0).collect();
    assert!(
        unsynced.is_empty(),
        "produces acknowledged without an fsync in between: {unsynced:?} (fsyncs per produce: {flushes:?})"
    );
    assert!(metric(&node, FLUSHES) >= PRODUCES as f64);
    node.assert_healthy();
}

#[test]
fn with_the_default_policy_acknowledged_produces_are_not_fsynced() {
    let mut node = EddyNode::start();
    let flushes = flushes_per_ack(&node);
    assert_eq!(
        metric(&node, FLUSHES),
        0.0,
        "the default policy (flush.messages and flush.ms never) fsyncs no append: {flushes:?}"
    );
    node.assert_healthy();
}
