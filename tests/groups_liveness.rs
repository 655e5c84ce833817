//! Liveness of group members, with kafka-python members in their own processes:
//! - a member frozen with SIGSTOP (its heartbeat thread included) for longer than the
//!   session timeout is evicted and its partitions go to the others; let run again, it
//!   rejoins;
//! - a static member (`group.instance.id`) killed and started again within the session
//!   timeout gets its partitions back in the same generation: no rebalance, the other
//!   members notice nothing. The static members run with a session timeout of 30 s, so
//!   that "within the session timeout" holds even when starting a Python member is slow.

mod common;
mod groups_support;

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use common::EddyNode;
use groups_support::{
    create_topic, describe_group, disjoint_cover, distinct_records, expected_records,
    log_end_offsets, produce, wait_until, Lib, Member, SESSION_TIMEOUT_MS,
};

const PARTITIONS: i32 = 6;
const RECORDS_PER_PARTITION: usize = 50;
/// Bounds on the first rebalance (3 s initial delay included) and on later ones.
const SHARE_TIMEOUT_S: u64 = 60;
const REBALANCE_TIMEOUT_S: u64 = 40;
const CONSUME_TIMEOUT_S: u64 = 60;
/// The members' heartbeat interval (groups_member.py).
const HEARTBEAT_INTERVAL_MS: u64 = 1_000;
/// How long the test watches for a rebalance that must not happen.
const QUIET_PERIOD_MS: u64 = 4 * HEARTBEAT_INTERVAL_MS;
/// The static members' session timeout: a killed member's replacement (a new Python
/// process) must join within it, which takes seconds on a loaded 2-core machine.
const STATIC_SESSION_TIMEOUT_MS: u64 = 30_000;

fn all_partitions() -> Vec<i32> {
    (0..PARTITIONS).collect()
}

#[test]
fn frozen_member_is_evicted_after_the_session_timeout_and_rejoins_when_thawed() {
    let mut node = EddyNode::start();
    let (topic, group) = ("frozen-orders", "frozen-readers");
    create_topic(&node, topic, PARTITIONS);
    let mut a = Member::spawn(&node, Lib::KafkaPython, topic, group, "a", None);
    let mut b = Member::spawn(&node, Lib::KafkaPython, topic, group, "b", None);
    let mut c = Member::spawn(&node, Lib::KafkaPython, topic, group, "c", None);
    wait_until(
        "three members share all six partitions",
        Duration::from_secs(SHARE_TIMEOUT_S),
        || disjoint_cover(&[&a, &b, &c], PARTITIONS),
    );
    let frozen = c.assignment();

    c.stop();
    let frozen_at = Instant::now();
    let took = wait_until(
        "the frozen member's partitions go to the other two",
        Duration::from_secs(REBALANCE_TIMEOUT_S),
        || disjoint_cover(&[&a, &b], PARTITIONS),
    );
    eprintln!("partitions {frozen:?} of the frozen member reassigned after {took:?}");
    // The last heartbeat came at most one interval before the freeze.
    let session_min = Duration::from_millis(SESSION_TIMEOUT_MS - HEARTBEAT_INTERVAL_MS);
    assert!(
        frozen_at.elapsed() >= session_min,
        "reassigned after {took:?}, before the session timeout could expire"
    );
    let described = describe_group(&node, group);
    let clients: BTreeSet<&str> = described
        .members
        .iter()
        .map(|m| m.client_id.as_str())
        .collect();
    assert_eq!(clients, BTreeSet::from(["a", "b"]), "{described:?}");

    // Records written while C is frozen, its old partitions included, reach A and B.
    produce(&node, topic, &all_partitions(), RECORDS_PER_PARTITION);
    let expected = expected_records(&log_end_offsets(&node, topic, PARTITIONS));
    wait_until(
        "A and B read every record",
        Duration::from_secs(CONSUME_TIMEOUT_S),
        || distinct_records(&[&a, &b]).is_superset(&expected),
    );

    // Thawed, C finds itself evicted and joins again as a new member.
    c.cont();
    wait_until(
        "the thawed member rejoins and the three share the partitions again",
        Duration::from_secs(REBALANCE_TIMEOUT_S),
        || disjoint_cover(&[&a, &b, &c], PARTITIONS),
    );
    assert_eq!(describe_group(&node, group).members.len(), 3);
    for member in [&mut a, &mut b, &mut c] {
        member.close();
    }
    node.assert_healthy();
}

/// Kills one static member and starts it again under the same instance id (the new
/// process replaces it in `members`). Asserts the group went on in the same generation.
fn restart_static_member(
    node: &EddyNode,
    topic: &str,
    group: &str,
    members: &mut [Member],
    index: usize,
) {
    let generation = members[0].generation().expect("generation").0;
    let old = &members[index];
    let (name, instance) = (old.name.clone(), format!("{group}-{}", old.name));
    let kept = old.assignment();
    let old_member_id = describe_group(node, group)
        .members
        .into_iter()
        .find(|m| m.group_instance_id.as_deref() == Some(instance.as_str()))
        .expect("the static member in DescribeGroups")
        .member_id;
    let marks: Vec<usize> = members.iter().map(Member::event_count).collect();

    members[index].kill9();
    let killed_at = Instant::now();
    members[index] = static_member(node, topic, group, &name);
    let back = &members[index];
    wait_until(
        "the restarted static member has partitions",
        Duration::from_secs(REBALANCE_TIMEOUT_S),
        || !back.assignment().is_empty() && back.generation().is_some(),
    );
    let back_after = killed_at.elapsed();
    eprintln!("the restarted static member {name} was back after {back_after:?}");
    // The bound is the premise of the test (a restart within the session timeout), not a
    // speed requirement: STATIC_SESSION_TIMEOUT_MS leaves a slow start ample room.
    assert!(
        back_after < Duration::from_millis(STATIC_SESSION_TIMEOUT_MS),
        "the member took {back_after:?} to come back: longer than the session timeout, so \
         this run did not test a restart within it"
    );
    assert_eq!(back.assignment(), kept, "partitions after the restart");
    assert_eq!(
        back.generation().map(|g| g.0),
        Some(generation),
        "the restarted static member joined another generation"
    );
    // Give a rebalance, if one were under way, time to reach the other members.
    thread::sleep(Duration::from_millis(QUIET_PERIOD_MS));
    for (i, member) in members.iter().enumerate() {
        if i == index {
            continue;
        }
        let later: Vec<String> = member
            .events_since(marks[i])
            .iter()
            .filter(|e| {
                matches!(
                    e["ev"].as_str(),
                    Some("assigned" | "revoked" | "generation")
                )
            })
            .map(|e| e.to_string())
            .collect();
        assert!(
            later.is_empty(),
            "member {} saw a rebalance after {name} restarted: {later:?}",
            member.name
        );
    }
    let described = describe_group(node, group);
    assert_eq!(described.state, "Stable", "{described:?}");
    assert_eq!(described.members.len(), members.len());
    let now = described
        .members
        .iter()
        .find(|m| m.group_instance_id.as_deref() == Some(instance.as_str()))
        .expect("the static member in DescribeGroups");
    assert_ne!(
        now.member_id, old_member_id,
        "a restart gets a new member id"
    );
    let described_partitions: BTreeSet<i32> = now
        .assignment
        .iter()
        .flat_map(|a| a.partitions.iter().copied())
        .collect();
    assert_eq!(described_partitions, kept);
}

/// A static member `name` (instance id `<group>-<name>`) with the long session timeout.
fn static_member(node: &EddyNode, topic: &str, group: &str, name: &str) -> Member {
    let instance = format!("{group}-{name}");
    Member::spawn_with_session_timeout(
        node,
        Lib::KafkaPython,
        topic,
        group,
        name,
        Some(&instance),
        STATIC_SESSION_TIMEOUT_MS,
    )
}

fn static_group(node: &EddyNode, topic: &str, group: &str) -> Vec<Member> {
    create_topic(node, topic, PARTITIONS);
    let members: Vec<Member> = ["s1", "s2", "s3"]
        .iter()
        .map(|name| static_member(node, topic, group, name))
        .collect();
    wait_until(
        "three static members share all six partitions in one generation",
        Duration::from_secs(SHARE_TIMEOUT_S),
        || {
            let generations: BTreeSet<Option<i64>> = members
                .iter()
                .map(|m| m.generation().map(|g| g.0))
                .collect();
            disjoint_cover(&members.iter().collect::<Vec<_>>(), PARTITIONS)
                && generations.len() == 1
                && !generations.contains(&None)
        },
    );
    members
}

fn finish(node: &mut EddyNode, topic: &str, members: Vec<Member>) {
    // The group still reads: every record written now is read once the test is done.
    produce(node, topic, &all_partitions(), RECORDS_PER_PARTITION);
    let expected = expected_records(&log_end_offsets(node, topic, PARTITIONS));
    let refs: Vec<&Member> = members.iter().collect();
    wait_until(
        "the members read every record",
        Duration::from_secs(CONSUME_TIMEOUT_S),
        || distinct_records(&refs).is_superset(&expected),
    );
    for mut member in members {
        member.close();
    }
    node.assert_healthy();
}

#[test]
fn static_follower_restarted_within_the_session_timeout_keeps_its_partitions() {
    let mut node = EddyNode::start();
    let (topic, group) = ("static-orders", "static-readers");
    let mut members = static_group(&node, topic, group);
    let follower = members
        .iter()
        .position(|m| m.generation().is_some_and(|(_, leader)| !leader))
        .expect("a member that is not the leader");
    restart_static_member(&node, topic, group, &mut members, follower);
    finish(&mut node, topic, members);
}

/// Kafka keeps the generation when a static leader comes back with an unknown member id
/// (its `staticMemberRejoinWithLeaderIdAndUnknownMemberId` test), and so does Eddy: the
/// restarted leader gets its partitions back in the same generation and no member sees a
/// rebalance.
#[test]
fn static_leader_restarted_within_the_session_timeout_keeps_its_partitions() {
    let mut node = EddyNode::start();
    let (topic, group) = ("static-lead-orders", "static-lead-readers");
    let mut members = static_group(&node, topic, group);
    let leader = members
        .iter()
        .position(|m| m.generation().is_some_and(|(_, leader)| leader))
        .expect("the leader");
    restart_static_member(&node, topic, group, &mut members, leader);
    finish(&mut node, topic, members);
}
