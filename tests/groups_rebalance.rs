//! Three members of one consumer group share a 6-partition topic, then one leaves while
//! records keep coming: the other two take over its partitions from the committed offsets.
//! Run once with kafka-python members and once with confluent-kafka (librdkafka) members.
//!
//! Every member commits synchronously after each poll, so a record can be read twice only
//! if the commit after it failed or never happened; the test counts duplicates and bounds
//! them by exactly those records.

mod common;
mod groups_support;

use std::collections::BTreeSet;
use std::thread;
use std::time::Duration;

use common::EddyNode;
use groups_support::{
    create_topic, describe_group, described_assignments, disjoint_cover, distinct_records,
    expected_records, group_offsets, log_end_offsets, produce, produce_paced, wait_until, Lib,
    Member,
};

const PARTITIONS: i32 = 6;
/// Records per partition written before any member starts (read from the earliest offset).
const BACKLOG_PER_PARTITION: usize = 100;
/// Rounds of one record per partition written while a member leaves.
const PACED_ROUNDS: usize = 150;
const PACED_PAUSE_MS: u64 = 20;
/// When the leaving member closes, counted from the start of the paced production.
const LEAVE_AFTER_MS: u64 = 1_000;
/// Bounds on each phase: the first rebalance (3 s initial delay included), a takeover,
/// reading everything.
const SHARE_TIMEOUT_S: u64 = 60;
const TAKEOVER_TIMEOUT_S: u64 = 30;
const CONSUME_TIMEOUT_S: u64 = 90;

fn three_share_then_one_leaves(lib: Lib, tag: &str) {
    let mut node = EddyNode::start();
    let topic = format!("{tag}-orders");
    let group = format!("{tag}-readers");
    let all: Vec<i32> = (0..PARTITIONS).collect();
    create_topic(&node, &topic, PARTITIONS);
    produce(&node, &topic, &all, BACKLOG_PER_PARTITION);

    let mut a = Member::spawn(&node, lib, &topic, &group, "a", None);
    let mut b = Member::spawn(&node, lib, &topic, &group, "b", None);
    let mut c = Member::spawn(&node, lib, &topic, &group, "c", None);
    wait_until(
        "three members share all six partitions without overlap",
        Duration::from_secs(SHARE_TIMEOUT_S),
        || disjoint_cover(&[&a, &b, &c], PARTITIONS),
    );
    // The coordinator's view (DescribeGroups, decoded by Eddy's client) is the clients' own.
    let described = describe_group(&node, &group);
    assert_eq!(described.state, "Stable", "{described:?}");
    assert_eq!(described.protocol_type, "consumer");
    let by_client = described_assignments(&described);
    for m in [&a, &b, &c] {
        assert_eq!(
            by_client.get(&m.name),
            Some(&m.assignment()),
            "member {} per DescribeGroups: {described:?}",
            m.name
        );
    }
    let backlog = expected_records(&log_end_offsets(&node, &topic, PARTITIONS));
    assert_eq!(backlog.len(), BACKLOG_PER_PARTITION * all.len());
    wait_until(
        "the backlog is read",
        Duration::from_secs(CONSUME_TIMEOUT_S),
        || distinct_records(&[&a, &b, &c]).is_superset(&backlog),
    );

    // C leaves in the middle of a steady stream of records.
    let leaving = c.assignment();
    let (bootstrap, paced_topic) = (node.bootstrap(), topic.clone());
    let paced = thread::spawn(move || {
        produce_paced(
            &bootstrap,
            &paced_topic,
            &(0..PARTITIONS).collect::<Vec<_>>(),
            PACED_ROUNDS,
            Duration::from_millis(PACED_PAUSE_MS),
        )
    });
    thread::sleep(Duration::from_millis(LEAVE_AFTER_MS));
    c.close();
    // LeaveGroup took C out at once: it is gone before its session could have expired.
    let members: BTreeSet<String> = describe_group(&node, &group)
        .members
        .into_iter()
        .map(|m| m.client_id)
        .collect();
    assert_eq!(members, BTreeSet::from(["a".into(), "b".into()]));
    let took = wait_until(
        "the two remaining members share all six partitions",
        Duration::from_secs(TAKEOVER_TIMEOUT_S),
        || disjoint_cover(&[&a, &b], PARTITIONS),
    );
    eprintln!("{tag}: partitions {leaving:?} of the leaving member taken over in {took:?}");
    let paced_records = paced.join().expect("paced producer thread");
    assert_eq!(paced_records, PACED_ROUNDS * all.len());

    let ends = log_end_offsets(&node, &topic, PARTITIONS);
    let expected = expected_records(&ends);
    assert_eq!(
        expected.len(),
        (BACKLOG_PER_PARTITION + PACED_ROUNDS) * all.len()
    );
    wait_until(
        "every record is read",
        Duration::from_secs(CONSUME_TIMEOUT_S),
        || distinct_records(&[&a, &b, &c]).is_superset(&expected),
    );
    // Offsets are committed right after each poll: wait for the last commits to land.
    wait_until(
        "the group's committed offsets reach the log end offsets",
        Duration::from_secs(TAKEOVER_TIMEOUT_S),
        || {
            let offsets = group_offsets(&node, &group);
            offsets.len() == all.len() && offsets.iter().all(|o| o.lag == Some(0))
        },
    );

    let read: Vec<(i32, i64)> = [&a, &b, &c].iter().flat_map(|m| m.records()).collect();
    let distinct: BTreeSet<(i32, i64)> = read.iter().copied().collect();
    assert_eq!(distinct, expected, "records read that were never written");
    let duplicates = read.len() - distinct.len();
    let uncommitted: usize = [&a, &b, &c].iter().map(|m| m.uncommitted()).sum();
    eprintln!(
        "{tag}: {} records read, {} distinct, {duplicates} duplicate(s), {uncommitted} read \
         without a successful commit after them",
        read.len(),
        distinct.len()
    );
    assert!(
        duplicates <= uncommitted,
        "{duplicates} duplicates, but only {uncommitted} records were read without a commit"
    );
    // The partitions C held were read on by A and B, from where C's commits left off.
    for p in &leaving {
        let readers: Vec<&str> = [&a, &b]
            .iter()
            .filter(|m| m.assignment().contains(p))
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(readers.len(), 1, "partition {p} read by {readers:?}");
    }

    a.close();
    b.close();
    node.assert_healthy();
}

#[test]
fn kafka_python_three_members_share_and_take_over_after_leave() {
    three_share_then_one_leaves(Lib::KafkaPython, "kp");
}

#[test]
fn confluent_three_members_share_and_take_over_after_leave() {
    three_share_then_one_leaves(Lib::Confluent, "cf");
}
