//! Three members of one consumer group share a 6-partition topic, then one leaves while
//! records keep coming: the other two take over its partitions from the committed offsets
//! — on each of them the new owner reads exactly from the offset the leaving member last
//! committed there to the log end offset, in order. Run once with kafka-python members and
//! once with confluent-kafka (librdkafka) members.
//!
//! Every member commits synchronously after each poll, so a record can be read twice only
//! if the commit after it failed or never happened; the test counts duplicates and bounds
//! them by exactly those records.

mod common;
mod groups_support;

use std::collections::{BTreeMap, BTreeSet};
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

/// The member's last successful commit per partition (the next offset to read there), from
/// its `committed` events.
fn last_commits(member: &Member) -> BTreeMap<i32, i64> {
    let mut last = BTreeMap::new();
    for event in member.events() {
        if event["ev"] != "committed" {
            continue;
        }
        for (partition, offset) in event["offsets"].as_object().into_iter().flatten() {
            let partition = partition
                .parse()
                .expect("a partition number in `committed`");
            let offset = offset.as_i64().expect("an offset in `committed`");
            last.insert(partition, offset);
        }
    }
    last
}

/// The offsets of `partition` the member read, in order, in its events after the first
/// `mark`.
fn reads_since(member: &Member, mark: usize, partition: i32) -> Vec<i64> {
    member
        .events_since(mark)
        .iter()
        .filter(|event| event["ev"] == "records")
        .flat_map(|event| event["records"].as_array().cloned().unwrap_or_default())
        .filter(|record| record[0].as_i64() == Some(i64::from(partition)))
        .filter_map(|record| record[1].as_i64())
        .collect()
}

/// Asserts that each partition in `leaving` is now read by exactly one of `survivors`
/// (each with the number of events it had before the other member left), and that it read
/// there exactly the offsets from the one `resumed_from` says the leaving member last
/// committed up to the log end offset in `ends`, in order. Returns how many partitions were
/// checked so (those the leaving member committed).
fn assert_resumed_from_commits(
    tag: &str,
    leaving: &BTreeSet<i32>,
    survivors: &[(&Member, usize)],
    resumed_from: &BTreeMap<i32, i64>,
    ends: &BTreeMap<i32, i64>,
) -> usize {
    let mut checked = 0;
    for p in leaving {
        let readers: Vec<&(&Member, usize)> = survivors
            .iter()
            .filter(|(m, _)| m.assignment().contains(p))
            .collect();
        assert_eq!(
            readers.len(),
            1,
            "partition {p} held by {} members",
            readers.len()
        );
        let (reader, mark) = *readers[0];
        let read = reads_since(reader, mark, *p);
        match resumed_from.get(p) {
            Some(&committed) => {
                let end = ends[p];
                assert!(
                    read.iter().copied().eq(committed..end),
                    "partition {p}: {} read {} record(s) from {:?} to {:?}, but the leaving \
                     member's last commit there was {committed} and the log ends at {end}: \
                     {read:?}",
                    reader.name,
                    read.len(),
                    read.first(),
                    read.last()
                );
                checked += 1;
            }
            None => eprintln!("{tag}: partition {p} was never committed by the leaving member"),
        }
    }
    checked
}

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
    // What A and B read from here on includes the partitions they take over from C.
    let marks = (a.event_count(), b.event_count());
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

    // The partitions C held were read on by A and B, from where C's commits left off.
    let checked = assert_resumed_from_commits(
        tag,
        &leaving,
        &[(&a, marks.0), (&b, marks.1)],
        &last_commits(&c),
        &ends,
    );
    assert!(
        checked > 0,
        "the leaving member committed none of its partitions {leaving:?}: nothing to resume from"
    );
    eprintln!("{tag}: {checked} partition(s) read on from the leaving member's last commit");

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
