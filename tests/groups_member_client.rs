//! Eddy's own client as a consumer-group member (`GroupMembership`) against a real node:
//! two members join and get exactly what the leader assigned, a third one makes the others
//! rebalance into a higher generation, commits are fenced by membership and generation,
//! and a member that leaves makes the rest rebalance at once instead of after its session
//! timeout.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant};

use common::EddyNode;
use eddy::client::{
    Admin, Assignment, ConnectionConfig, Generation, GroupMembership, GroupOffsets,
    HeartbeatOutcome, JoinedMember, MemberConfig, ResponseError, Subscription,
};

const TOPIC: &str = "orders";
const PARTITIONS: i32 = 4;
/// The assignor's name, which every member offers as its only protocol.
const PROTOCOL: &str = "eddy-test";
/// Far longer than any wait below, so no session expires during a test: a rebalance a
/// member sees came from a join or a leave, never from an expiry.
const SESSION_TIMEOUT_MS: u64 = 60_000;
const HEARTBEAT_INTERVAL_MS: u64 = 300;
const REBALANCE_TIMEOUT_MS: u64 = 15_000;
/// Bound on the joins of one rebalance (the first waits out the coordinator's 3 s initial
/// rebalance delay).
const JOIN_TIMEOUT_MS: u64 = 30_000;
/// Bound on one request that the coordinator answers at once.
const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// How long a member heartbeats, one interval apart, before the rebalance it waits for
/// must have shown: generous for a loaded 2-core machine, yet half the session timeout.
const REBALANCE_SEEN_TIMEOUT_MS: u64 = 30_000;

fn config(name: &str) -> MemberConfig {
    MemberConfig {
        session_timeout_ms: SESSION_TIMEOUT_MS,
        rebalance_timeout_ms: REBALANCE_TIMEOUT_MS,
        heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
        connection: ConnectionConfig {
            client_id: format!("member-{name}"),
            ..ConnectionConfig::default()
        },
    }
}

/// Runs `future`, failing the test if it takes longer than `ms`.
async fn bounded<F: Future>(what: &str, ms: u64, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_millis(ms), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {ms} ms"))
}

async fn start_node_with_topic() -> EddyNode {
    let node = EddyNode::start();
    let mut admin = Admin::connect(&node.bootstrap())
        .await
        .expect("connect admin");
    admin
        .create_topic(TOPIC, PARTITIONS, 1, &[])
        .await
        .unwrap_or_else(|err| panic!("create topic {TOPIC}: {err}"));
    node
}

async fn member(node: &EddyNode, group: &str, name: &str) -> GroupMembership {
    bounded(
        "connect a member",
        REQUEST_TIMEOUT_MS,
        GroupMembership::connect(&node.bootstrap(), group, config(name)),
    )
    .await
    .unwrap_or_else(|err| panic!("member {name} connects: {err}"))
}

fn subscription(name: &str) -> Subscription {
    Subscription {
        topics: vec![TOPIC.to_owned()],
        user_data: format!("from {name}").into_bytes(),
    }
}

/// Deals the topic's partitions round-robin over the members in the coordinator's order;
/// the user data tells each member its own id, so the test sees it arrive intact.
fn round_robin(members: &[JoinedMember]) -> BTreeMap<String, Assignment> {
    members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let partitions: Vec<i32> = (0..PARTITIONS)
                .filter(|p| usize::try_from(*p).expect("partition") % members.len() == i)
                .collect();
            let assignment = Assignment {
                partitions: BTreeMap::from([(TOPIC.to_owned(), partitions)]),
                user_data: format!("for {}", m.member_id).into_bytes(),
            };
            (m.member_id.clone(), assignment)
        })
        .collect()
}

/// Joins `member`, recording every call of its assignor into `calls`.
async fn join(
    member: &mut GroupMembership,
    name: &str,
    calls: &mut Vec<Vec<JoinedMember>>,
) -> Generation {
    let mut assign = |members: &[JoinedMember]| {
        calls.push(members.to_vec());
        round_robin(members)
    };
    member
        .join(PROTOCOL, &subscription(name), &mut assign)
        .await
        .unwrap_or_else(|err| panic!("member {name} joins: {err}"))
}

/// Heartbeats every interval until the coordinator asks for a rejoin; returns its reason.
async fn heartbeat_until_rebalance(member: &mut GroupMembership) -> ResponseError {
    let deadline = Instant::now() + Duration::from_millis(REBALANCE_SEEN_TIMEOUT_MS);
    while Instant::now() < deadline {
        let outcome = bounded("a heartbeat", REQUEST_TIMEOUT_MS, member.heartbeat())
            .await
            .unwrap_or_else(|err| panic!("heartbeat of {}: {err}", member.member_id()));
        match outcome {
            HeartbeatOutcome::Stable => {
                tokio::time::sleep(Duration::from_millis(HEARTBEAT_INTERVAL_MS)).await;
            }
            HeartbeatOutcome::RebalanceNeeded { reason } => return reason,
        }
    }
    panic!(
        "member {} saw no rebalance within {REBALANCE_SEEN_TIMEOUT_MS} ms",
        member.member_id()
    );
}

/// Checks one generation as a whole: one id, one leader whose last assignor call saw
/// every member, and each member holding exactly what that call assigned it.
fn check_generation(generations: &[&Generation], leader_calls: &[Vec<JoinedMember>]) {
    let ids: BTreeSet<i32> = generations.iter().map(|g| g.generation_id).collect();
    assert_eq!(ids.len(), 1, "one generation for all: {generations:?}");
    let leaders = generations.iter().filter(|g| g.leader).count();
    assert_eq!(leaders, 1, "exactly one leader: {generations:?}");
    let seen = leader_calls
        .last()
        .expect("the leader's assignor was called");
    let seen_ids: BTreeSet<&str> = seen.iter().map(|m| m.member_id.as_str()).collect();
    let member_ids: BTreeSet<&str> = generations.iter().map(|g| g.member_id.as_str()).collect();
    assert_eq!(seen_ids, member_ids, "the leader saw every member");
    let assigned = round_robin(seen);
    let mut covered = BTreeSet::new();
    for g in generations {
        assert_eq!(
            Some(&g.assignment),
            assigned.get(&g.member_id),
            "member {} holds what the leader assigned",
            g.member_id
        );
        for p in g.assignment.partitions.get(TOPIC).into_iter().flatten() {
            assert!(covered.insert(*p), "partition {p} assigned twice");
        }
    }
    assert_eq!(
        covered,
        (0..PARTITIONS).collect(),
        "every partition assigned"
    );
}

fn offsets(entries: &[(i32, i64)]) -> BTreeMap<(String, i32), i64> {
    entries
        .iter()
        .map(|(p, offset)| ((TOPIC.to_owned(), *p), *offset))
        .collect()
}

#[tokio::test]
async fn two_members_get_what_the_leader_assigned_and_commit_as_members() {
    let node = start_node_with_topic().await;
    let group = "split";
    let mut a = member(&node, group, "a").await;
    let mut b = member(&node, group, "b").await;
    let (mut calls_a, mut calls_b) = (Vec::new(), Vec::new());
    let (ga, gb) = bounded("two members join", JOIN_TIMEOUT_MS, async {
        tokio::join!(
            join(&mut a, "a", &mut calls_a),
            join(&mut b, "b", &mut calls_b)
        )
    })
    .await;

    assert_ne!(ga.member_id, gb.member_id);
    assert_eq!(
        (a.member_id(), a.generation_id()),
        (ga.member_id.as_str(), ga.generation_id)
    );
    assert_eq!(
        (b.member_id(), b.generation_id()),
        (gb.member_id.as_str(), gb.generation_id)
    );
    let (leader_calls, follower_calls) = if ga.leader {
        (&calls_a, &calls_b)
    } else {
        (&calls_b, &calls_a)
    };
    assert_eq!(
        leader_calls.len(),
        1,
        "the leader assigns once: {leader_calls:?}"
    );
    assert!(follower_calls.is_empty(), "a follower never assigns");
    let user_data: BTreeSet<&[u8]> = leader_calls[0]
        .iter()
        .map(|m| m.subscription.user_data.as_slice())
        .collect();
    assert_eq!(user_data, BTreeSet::from([&b"from a"[..], &b"from b"[..]]));
    assert!(leader_calls[0]
        .iter()
        .all(|m| m.subscription.topics == [TOPIC]));
    check_generation(&[&ga, &gb], leader_calls);

    // Kafka's tools see a consumer group: DescribeGroups decodes the same assignment.
    let mut admin = Admin::connect(&node.bootstrap())
        .await
        .expect("connect admin");
    let described = admin.describe_group(group).await.expect("describe group");
    assert_eq!(described.state, "Stable", "{described:?}");
    assert_eq!(described.protocol_type, "consumer");
    assert_eq!(described.protocol, PROTOCOL);
    for g in [&ga, &gb] {
        let m = described
            .members
            .iter()
            .find(|m| m.member_id == g.member_id)
            .unwrap_or_else(|| panic!("{} missing from {described:?}", g.member_id));
        let partitions: Vec<i32> = m
            .assignment
            .iter()
            .flat_map(|t| t.partitions.clone())
            .collect();
        assert_eq!(Some(&partitions), g.assignment.partitions.get(TOPIC));
    }

    for m in [&mut a, &mut b] {
        let outcome = m.heartbeat().await.expect("heartbeat");
        assert_eq!(outcome, HeartbeatOutcome::Stable);
    }
    a.commit_offsets(&offsets(&[(0, 5), (1, 7)]))
        .await
        .expect("commit as a member of the current generation");
    assert_eq!(
        a.fetch_offsets().await.expect("fetch offsets"),
        offsets(&[(0, 5), (1, 7)])
    );

    // A simple (member-less) commit is refused while the group has members...
    let mut outside = GroupOffsets::connect(&node.bootstrap(), group)
        .await
        .expect("connect group offsets");
    let err = outside
        .commit_offsets(&offsets(&[(2, 1)]))
        .await
        .expect_err("a simple commit while members exist");
    assert_eq!(
        err.kafka_error(),
        Some(ResponseError::UnknownMemberId),
        "{err}"
    );
    // ...but another connection may commit on behalf of a member.
    outside
        .commit_offsets_as(&offsets(&[(2, 9)]), &gb.member_id, gb.generation_id)
        .await
        .expect("commit on behalf of member b");
    assert_eq!(
        outside.fetch_offsets().await.expect("fetch offsets"),
        offsets(&[(0, 5), (1, 7), (2, 9)])
    );
}

#[tokio::test]
async fn a_third_member_makes_the_others_rejoin_into_a_higher_generation() {
    let node = start_node_with_topic().await;
    let group = "grow";
    let mut a = member(&node, group, "a").await;
    let mut b = member(&node, group, "b").await;
    let (mut calls_a, mut calls_b) = (Vec::new(), Vec::new());
    let (first_a, first_b) = bounded("two members join", JOIN_TIMEOUT_MS, async {
        tokio::join!(
            join(&mut a, "a", &mut calls_a),
            join(&mut b, "b", &mut calls_b)
        )
    })
    .await;
    let first = first_a.generation_id;
    assert_eq!(first_b.generation_id, first);

    // C's JoinGroup is held by the coordinator until A and B rejoin.
    let mut c = member(&node, group, "c").await;
    let joining = tokio::spawn(async move {
        let mut calls = Vec::new();
        let generation = join(&mut c, "c", &mut calls).await;
        (c, generation, calls)
    });
    let (reason_a, reason_b) = bounded("A and B learn of the rebalance", JOIN_TIMEOUT_MS, async {
        tokio::join!(
            heartbeat_until_rebalance(&mut a),
            heartbeat_until_rebalance(&mut b)
        )
    })
    .await;
    assert_eq!(reason_a, ResponseError::RebalanceInProgress);
    assert_eq!(reason_b, ResponseError::RebalanceInProgress);
    let (mut again_a, mut again_b) = (Vec::new(), Vec::new());
    let (ga, gb, joined_c) = bounded("three members rejoin", JOIN_TIMEOUT_MS, async {
        tokio::join!(
            join(&mut a, "a", &mut again_a),
            join(&mut b, "b", &mut again_b),
            joining
        )
    })
    .await;
    let (mut c, gc, calls_c) = joined_c.expect("member c's task");
    assert!(ga.generation_id > first, "{ga:?} after generation {first}");
    let leader_calls = [&again_a, &again_b, &calls_c]
        .into_iter()
        .find(|calls| !calls.is_empty())
        .expect("one member assigned");
    assert_eq!(
        leader_calls.len(),
        1,
        "the leader assigns once: {leader_calls:?}"
    );
    check_generation(&[&ga, &gb, &gc], leader_calls);

    // The new generation commits; the one before is fenced.
    c.commit_offsets(&offsets(&[(3, 4)]))
        .await
        .expect("commit in the new generation");
    assert_eq!(
        c.fetch_offsets().await.expect("fetch offsets"),
        offsets(&[(3, 4)])
    );
    let mut tasks = GroupOffsets::connect(&node.bootstrap(), group)
        .await
        .expect("connect group offsets");
    let err = tasks
        .commit_offsets_as(&offsets(&[(0, 1)]), &ga.member_id, first)
        .await
        .expect_err("a commit from the generation before");
    assert_eq!(
        err.kafka_error(),
        Some(ResponseError::IllegalGeneration),
        "{err}"
    );
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn a_member_that_leaves_makes_the_rest_rebalance_before_its_session_could_expire() {
    let node = start_node_with_topic().await;
    let group = "shrink";
    let mut a = member(&node, group, "a").await;
    let mut b = member(&node, group, "b").await;
    let (mut calls_a, mut calls_b) = (Vec::new(), Vec::new());
    let (first_a, _) = bounded("two members join", JOIN_TIMEOUT_MS, async {
        tokio::join!(
            join(&mut a, "a", &mut calls_a),
            join(&mut b, "b", &mut calls_b)
        )
    })
    .await;

    let left = Instant::now();
    bounded("leave", REQUEST_TIMEOUT_MS, b.leave())
        .await
        .expect("member b leaves");
    assert_eq!((b.member_id(), b.generation_id()), ("", -1));
    let reason = bounded(
        "A learns of the rebalance",
        JOIN_TIMEOUT_MS,
        heartbeat_until_rebalance(&mut a),
    )
    .await;
    assert_eq!(reason, ResponseError::RebalanceInProgress);
    let waited = left.elapsed();
    eprintln!("the rebalance showed {waited:?} after the leave");
    // The bound is the behaviour under test — the leave, not an expiry, starts the
    // rebalance — and safe on a slow machine: B's session could not expire before
    // SESSION_TIMEOUT_MS, far more than any rebalance takes to show.
    assert!(
        waited < Duration::from_millis(SESSION_TIMEOUT_MS),
        "the rebalance showed {waited:?} after the leave, as if the session had to expire"
    );

    // A member that left is no member: no heartbeat, no commit.
    assert_eq!(
        b.heartbeat().await.expect("heartbeat without membership"),
        HeartbeatOutcome::RebalanceNeeded {
            reason: ResponseError::UnknownMemberId
        }
    );
    let err = b
        .commit_offsets(&offsets(&[(0, 1)]))
        .await
        .expect_err("a commit after leaving");
    assert_eq!(
        err.kafka_error(),
        Some(ResponseError::UnknownMemberId),
        "{err}"
    );

    // A alone takes everything in the next generation.
    let mut again = Vec::new();
    let alone = bounded(
        "A rejoins alone",
        JOIN_TIMEOUT_MS,
        join(&mut a, "a", &mut again),
    )
    .await;
    assert!(alone.generation_id > first_a.generation_id, "{alone:?}");
    check_generation(&[&alone], &again);

    // Once the group is empty, simple commits are accepted again.
    bounded("leave", REQUEST_TIMEOUT_MS, a.leave())
        .await
        .expect("member a leaves");
    let mut outside = GroupOffsets::connect(&node.bootstrap(), group)
        .await
        .expect("connect group offsets");
    outside
        .commit_offsets(&offsets(&[(1, 3)]))
        .await
        .expect("a simple commit in an empty group");
}
