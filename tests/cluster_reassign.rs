//! Partition reassignment (KIP-455) on a three-node cluster, as `kafka-reassign-partitions`
//! and admin clients drive it (kafka-python's `alter_partition_reassignments` and
//! `list_partition_reassignments`): a partition holding records is moved onto another
//! pair of nodes — one replica added, caught up, the other dropped, by the controller's
//! safe moves — and ends with exactly the replicas asked for, led by the first of them
//! once the preferred-leader election has run; every record is still there; the move no
//! longer shows in the list once done; a cancellation with nothing in flight and a target
//! naming an unknown node are refused with Kafka's errors.
//!
//! Every wait is bounded; nothing asserts on time (the times are printed).

mod cluster_support;
mod common;
mod deploy_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster_support::{Budget, Cluster};
use deploy_support::{produce_keyed, read_keyed, wait_until};

const TOPIC: &str = "moved";
const PARTITIONS: i32 = 3;
const REPLICATION: i32 = 2;
const RECORDS: usize = 300;
const SCRIPT: &str = "reassign.py";
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
const TEST_BUDGET: Duration = Duration::from_secs(300);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The move, then the preferred-leader election (every 10 s on the controller).
const MOVE_TIMEOUT: Duration = Duration::from_secs(90);

/// A topic's `placement` in a `/cluster` body.
fn placement(raw: &str, topic: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(raw).expect("/cluster JSON");
    json["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == topic)
        .and_then(|t| t["placement"].as_str())
        .unwrap_or("missing")
        .to_string()
}

fn reassign(bootstrap: &str, partition: i32, nodes: &str) -> String {
    let out = common::run_python(
        SCRIPT,
        &["alter", bootstrap, TOPIC, &partition.to_string(), nodes],
        SCRIPT_TIMEOUT,
    );
    println!("reassign {TOPIC}-{partition} to {nodes}: {out}");
    out
}

#[test]
fn a_partition_moves_where_an_admin_client_puts_it_with_every_record() {
    let cluster = Cluster::start();
    let budget = Budget::start(TEST_BUDGET);
    let via = cluster.node(1).bootstrap();
    cluster.create_topic(1, TOPIC, PARTITIONS, REPLICATION, &[]);
    let status = cluster.wait_until_topic_settled(TOPIC, PARTITIONS, budget.limit(SETTLE_TIMEOUT));
    let records: Vec<(String, String)> = (0..RECORDS)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    produce_keyed(&via, TOPIC, &records);

    let before = status.partition(TOPIC, 0).expect("partition 0").replicas;
    let spare = cluster
        .ids()
        .into_iter()
        .find(|n| !before.contains(n))
        .expect("a node without partition 0");
    let target = vec![spare, before[0]];
    let nodes = format!("{},{}", target[0], target[1]);
    let asked = Instant::now();
    let out = reassign(&via, 0, &nodes);
    assert!(
        out.contains("RESULT None"),
        "the reassignment is accepted: {out}"
    );
    let listed = common::run_python(SCRIPT, &["list", &via], SCRIPT_TIMEOUT);
    println!("right after: {listed}");

    wait_until(
        "partition 0 on the replicas asked for, in sync, led by the first",
        budget.limit(MOVE_TIMEOUT),
        || {
            let status = cluster.node(1).status()?;
            let p = status.partition(TOPIC, 0).ok_or("no partition 0")?;
            if p.replicas == target && p.isr_is_full() && p.leader_id() == Some(target[0]) {
                Ok(())
            } else {
                Err(format!("{p:?}, want {target:?} led by {}", target[0]))
            }
        },
    );
    println!(
        "moved and led by node {} after {:?}",
        target[0],
        asked.elapsed()
    );
    let listed = common::run_python(SCRIPT, &["list", &via], SCRIPT_TIMEOUT);
    assert!(
        listed.contains("LISTED 0"),
        "a finished move is no longer listed: {listed}"
    );
    // The other partitions did not move, and the topic now stays where it was put.
    let after = cluster.node(1).status().expect("a /cluster view");
    assert_eq!(placement(&after.raw, TOPIC), "pinned", "{}", after.raw);
    for p in 1..PARTITIONS {
        assert_eq!(
            after.partition(TOPIC, p).map(|p| p.replica_set()),
            status.partition(TOPIC, p).map(|p| p.replica_set()),
            "{TOPIC}-{p} stays"
        );
    }
    // Every record is still there, read through the new leader.
    let read = read_keyed(&via, TOPIC).expect("read the topic");
    let got: BTreeMap<String, String> = read.into_iter().map(|(_, k, v)| (k, v)).collect();
    assert_eq!(got, records.into_iter().collect::<BTreeMap<_, _>>());

    let out = reassign(&via, 1, "cancel");
    assert!(
        out.contains("RESULT NoReassignmentInProgressError"),
        "nothing to cancel: {out}"
    );
    let out = reassign(&via, 1, "1,9");
    assert!(
        // kafka-python's class for INVALID_REPLICA_ASSIGNMENT (39).
        out.contains("RESULT InvalidReplicationAssignmentError"),
        "node 9 is not a member: {out}"
    );
}
