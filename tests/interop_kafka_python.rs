//! kafka-python 3.x against a real `eddy` node: CreateTopics/DeleteTopics through the admin
//! client, an idempotent acks=all producer (InitProducerId) over four partitions, and a
//! manually assigned consumer that reads everything back with seek. The client-side
//! checks live in `tests/python/kafka_python_admin_produce.py`.

mod common;

use std::time::Duration;

use common::{fetch_batch_headers, run_python, EddyNode};

const RECORDS_PER_PARTITION: i64 = 500;
const PARTITIONS: i32 = 4;

#[test]
fn kafka_python_admin_idempotent_produce_and_assigned_consume() {
    let mut node = EddyNode::start();
    let per_partition = RECORDS_PER_PARTITION.to_string();
    let out = run_python(
        "kafka_python_admin_produce.py",
        &[&node.bootstrap(), &per_partition],
        Duration::from_secs(240),
    );
    let total = RECORDS_PER_PARTITION * i64::from(PARTITIONS);
    let summary = format!(
        "OK created=2 deleted=1 partitions={PARTITIONS} produced={total} consumed={total} seek=ok"
    );
    assert!(
        out.lines().any(|l| l == summary),
        "script summary missing; expected {summary:?}, got:\n{out}"
    );

    // The broker must have stored what the idempotent producer sent: a producer id from
    // InitProducerId and sequence numbers that start at 0 and follow each other.
    for partition in 0..PARTITIONS {
        let batches = fetch_batch_headers(&node, "kp-data", partition, RECORDS_PER_PARTITION);
        let records: i64 = batches.iter().map(|b| i64::from(b.record_count)).sum();
        assert_eq!(
            records, RECORDS_PER_PARTITION,
            "kp-data/{partition} record count"
        );
        let mut next_sequence = 0;
        for batch in &batches {
            assert!(
                batch.producer_id >= 0,
                "kp-data/{partition}: batch at {} has no producer id: {batch:?}",
                batch.base_offset
            );
            assert_eq!(
                batch.base_sequence, next_sequence,
                "kp-data/{partition}: batch at {} has an unexpected base sequence",
                batch.base_offset
            );
            next_sequence += batch.record_count;
        }
    }
    node.assert_healthy();
}

/// Kafka's manual replica assignment (`replica_assignments`, as `kafka-topics
/// --replica-assignment` sends it): honoured on the node that exists, refused with
/// INVALID_REPLICA_ASSIGNMENT (39) naming the node that does not.
#[test]
fn kafka_python_manual_replica_assignment() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let timeout = Duration::from_secs(60);
    let out = run_python(
        "topics_admin.py",
        &["assign", &bootstrap, "assigned", "0=1", "1=1"],
        timeout,
    );
    assert_eq!(
        out.trim(),
        "PARTITION 0 LEADER 1 REPLICAS 1\nPARTITION 1 LEADER 1 REPLICAS 1",
        "the assignment as given"
    );
    let out = run_python(
        "topics_admin.py",
        &["assign", &bootstrap, "elsewhere", "0=7"],
        timeout,
    );
    assert!(
        out.starts_with("ERROR 39 ") && out.contains("node 7"),
        "refused, naming node 7: {out}"
    );
    let out = run_python(
        "topics_admin.py",
        &["assign", &bootstrap, "gappy", "0=1", "2=1"],
        timeout,
    );
    assert!(
        out.starts_with("ERROR 39 ") && out.contains("partition 1 is missing"),
        "refused, naming the gap: {out}"
    );
}
