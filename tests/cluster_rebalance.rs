//! Replicas move when a node joins and when one is decommissioned, and no acknowledged
//! write is lost meanwhile. Three nodes host a 24-partition topic with replication factor
//! 3 while a checker process (`tests/cluster_support/checker.py`) produces to it through
//! nodes 1..3 (idempotent, acks=all), then:
//! 1. a 4th node starts with the same seed list (which does not name it) and joins through
//!    the seeds; the cluster moves replicas onto it on its own. Once every node shows no
//!    pending move (`GET /cluster/moves`), full ISRs and node 4 as a member, about a
//!    quarter of the 72 replicas changed node (within [0.15, 0.35]); each partition that
//!    changed gained node 4 and lost exactly one node, every other one kept its set, and
//!    every partition still has 3 distinct replicas. Every move shown while it was in
//!    flight went towards node 4.
//! 2. `POST /cluster/decommission/4` moves every replica off node 4, which is then removed
//!    from the members, and every partition is back on exactly the nodes it had before
//!    node 4 joined (replica sets compared). Node 4 is stopped afterwards.
//!
//! Producing goes on after each step; at the end the whole topic is read back and every
//! acknowledged record must be there exactly once, where it was acknowledged, in order.
//! Decommissioning an unknown node answers 404 with a JSON `error`. The test prints
//! `moved=X/72 (pct)` and `acked=N lost=L duplicated=D ...`; it is bounded in time and
//! uses loopback only.

mod cluster_support;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cluster_support::{
    assert_nodes_healthy, assert_read_back_clean, read_back, start_checker, stop_checker, wait_for,
    wait_for_more_acks, Budget, CheckerProducer, Cluster, ClusterStatus, MovesStatus, CLUSTER_SIZE,
};
use serde_json::Value;

const TOPIC: &str = "rebalance";
const PARTITIONS: i32 = 24;
const REPLICATION: i32 = 3;
/// Replicas of the topic: partitions × replication factor.
const REPLICAS_TOTAL: usize = 72;
/// The share of replicas that move when a fourth node joins is ≈ 1/4 on the hash ring;
/// with 24 partitions this range is more than three standard deviations wide each side.
const MOVED_FRACTION_MIN: f64 = 0.15;
const MOVED_FRACTION_MAX: f64 = 0.35;
/// The whole run after the cluster is up, both rebalances and the read-back included.
const TEST_BUDGET: Duration = Duration::from_secs(300);
const TOPIC_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long joining and moving replicas onto the new node may take.
const JOIN_REBALANCE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long moving replicas off the decommissioned node and removing it may take.
const DECOMMISSION_TIMEOUT: Duration = Duration::from_secs(120);
/// Acknowledgements per partition before node 4 starts.
const WARMUP_ACKS: usize = 20;
/// New acknowledgements per partition that show producing goes on after a step.
const PROGRESS_ACKS: usize = 20;
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);
/// Fewer acknowledged records than this means the run did not exercise much.
const ACKED_MIN: usize = 2_000;
/// A node id that is not in the cluster.
const UNKNOWN_NODE: i32 = 99;

type ReplicaSets = BTreeMap<i32, BTreeSet<i32>>;

/// What the waits saw of the moves while they were in flight.
#[derive(Default)]
struct MovesSeen {
    /// Distinct (partition, from, to) shown by any node.
    moves: BTreeSet<(i32, Vec<i32>, Vec<i32>)>,
    /// The largest `replicas_moving` any node reported.
    replicas_moving_max: usize,
    /// Whether some node showed the decommissioned node as `decommissioning`.
    decommissioning_seen: bool,
}

impl MovesSeen {
    fn record(&mut self, moves: &MovesStatus) {
        self.replicas_moving_max = self.replicas_moving_max.max(moves.replicas_moving);
        for m in moves.moves.iter().filter(|m| m.topic == TOPIC) {
            self.moves
                .insert((m.partition, m.from.clone(), m.to.clone()));
        }
    }
}

/// Checks `GET /cluster` and `GET /cluster/moves` on every node in `ids`: each sees exactly
/// the members `members`, all unfenced, no pending move, every partition of the topic
/// with a leader and its full ISR, and the same replica sets as the others. Moves shown on
/// the way are added to `seen`. Returns the first node's views.
fn settled_views(
    cluster: &Cluster,
    ids: &[i32],
    members: &BTreeSet<i32>,
    seen: &mut MovesSeen,
) -> Result<(ClusterStatus, MovesStatus), String> {
    let mut agreed: Option<(ClusterStatus, MovesStatus)> = None;
    for id in ids {
        let node = cluster.node(*id);
        let status = node.status()?;
        let moves = node.moves()?;
        seen.record(&moves);
        seen.decommissioning_seen |= status.members.iter().any(|m| m.decommissioning);
        let listed: BTreeSet<i32> = status.members.iter().map(|m| m.node_id).collect();
        if &listed != members || status.members.iter().any(|m| m.fenced) {
            return Err(format!(
                "node {id} lists members {:?}, expected {members:?} unfenced",
                status.members
            ));
        }
        if !moves.moves.is_empty() {
            return Err(format!("node {id} shows moves {}", moves.raw));
        }
        if !status.topic_is_settled(TOPIC, PARTITIONS) {
            return Err(format!("node {id} sees {}", status.raw));
        }
        if let Some((first_status, _)) = &agreed {
            let (mine, theirs) = (status.replica_sets(TOPIC), first_status.replica_sets(TOPIC));
            if mine != theirs {
                return Err(format!(
                    "node {id} sees replicas {mine:?}, node {} sees {theirs:?}",
                    first_status.node_id
                ));
            }
        }
        agreed.get_or_insert((status, moves));
    }
    agreed.ok_or_else(|| "no node to ask".to_string())
}

/// Waits until every node in `ids` shows the settled state `settled_views` checks.
fn wait_until_settled(
    cluster: &Cluster,
    what: &str,
    timeout: Duration,
    ids: &[i32],
    members: &BTreeSet<i32>,
    seen: &mut MovesSeen,
) -> (ClusterStatus, MovesStatus) {
    wait_for(what, timeout, || settled_views(cluster, ids, members, seen))
}

/// Asserts that every partition has `REPLICATION` distinct replicas.
fn assert_three_distinct(sets: &ReplicaSets, status: &ClusterStatus) {
    assert_eq!(
        sets.keys().copied().collect::<Vec<_>>(),
        (0..PARTITIONS).collect::<Vec<_>>(),
        "partitions of {TOPIC}: {}",
        status.raw
    );
    for p in status.partitions(TOPIC) {
        assert_eq!(
            (p.replicas.len(), p.replica_set().len()),
            (REPLICATION as usize, REPLICATION as usize),
            "partition {} must have {REPLICATION} distinct replicas: {:?}",
            p.partition,
            p.replicas
        );
    }
}

/// Replicas in `after` that were not in `before`, over all partitions.
fn replicas_moved(before: &ReplicaSets, after: &ReplicaSets) -> usize {
    after
        .iter()
        .map(|(p, set)| set.difference(&before[p]).count())
        .sum()
}

/// Asserts that each partition either gained `joined` in place of exactly one of its
/// nodes, or kept exactly the set it had.
fn assert_moves_only_onto(joined: i32, before: &ReplicaSets, after: &ReplicaSets) {
    for (p, new) in after {
        let old = &before[p];
        if new.contains(&joined) {
            let gained: BTreeSet<i32> = new.difference(old).copied().collect();
            let lost: BTreeSet<i32> = old.difference(new).copied().collect();
            assert_eq!(
                gained,
                BTreeSet::from([joined]),
                "partition {p} went {old:?} -> {new:?}: it must gain only node {joined}"
            );
            assert_eq!(
                lost.len(),
                1,
                "partition {p} went {old:?} -> {new:?}: it must lose exactly one node"
            );
        } else {
            assert_eq!(
                new, old,
                "partition {p} did not gain node {joined}, so it must keep its replicas"
            );
        }
    }
}

/// Asserts that every move shown while in flight heads for `REPLICATION` distinct
/// replicas, which hold `node` when `towards` and do not otherwise.
fn assert_moves_seen(seen: &MovesSeen, node: i32, towards: bool) {
    assert!(
        !seen.moves.is_empty() && seen.replicas_moving_max > 0,
        "no node ever showed a move in /cluster/moves while replicas moved"
    );
    for (partition, from, to) in &seen.moves {
        let distinct: BTreeSet<i32> = to.iter().copied().collect();
        assert_eq!(
            (to.len(), distinct.len()),
            (REPLICATION as usize, REPLICATION as usize),
            "partition {partition}: move {from:?} -> {to:?} must end on {REPLICATION} \
             distinct replicas"
        );
        assert_eq!(
            to.contains(&node),
            towards,
            "partition {partition}: move {from:?} -> {to:?} (node {node}, towards={towards})"
        );
    }
}

fn wait_for_progress(checker: &mut CheckerProducer, budget: &Budget, after: &str) {
    wait_for_more_acks(
        checker,
        budget,
        after,
        PARTITIONS,
        PROGRESS_ACKS,
        PROGRESS_TIMEOUT,
    );
}

/// `POST /cluster/decommission/99` answers 404 with a JSON `message`.
fn assert_unknown_node_is_not_found(cluster: &Cluster) {
    let path = format!("/cluster/decommission/{UNKNOWN_NODE}");
    let (status, body) = cluster
        .node(1)
        .admin_post(&path)
        .unwrap_or_else(|err| panic!("POST {path}: {err}"));
    assert_eq!(status, 404, "POST {path} answered {status}: {body}");
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|err| panic!("POST {path} answered no JSON ({err}): {body}"));
    assert!(
        json["message"].as_str().is_some_and(|e| !e.is_empty()),
        "POST {path} must answer a JSON error message: {body}"
    );
}

/// Asks a node other than the quorum leader (so the request is forwarded) to decommission
/// `node`; asserts the answer.
fn decommission(cluster: &Cluster, status: &ClusterStatus, node: i32) {
    let via = (1..=CLUSTER_SIZE as i32)
        .find(|id| Some(*id) != status.controller)
        .expect("a node that is not the controller");
    let path = format!("/cluster/decommission/{node}");
    let (code, body) = cluster
        .node(via)
        .admin_post(&path)
        .unwrap_or_else(|err| panic!("POST {path} through node {via}: {err}"));
    assert_eq!(code, 200, "POST {path} through node {via}: {body}");
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|err| panic!("POST {path} answered no JSON ({err}): {body}"));
    assert_eq!(
        (json["node_id"].as_i64(), json["decommissioning"].as_bool()),
        (Some(i64::from(node)), Some(true)),
        "POST {path} through node {via}: {body}"
    );
}

#[test]
fn replicas_move_onto_a_joining_node_and_back_off_a_decommissioned_one() {
    let mut cluster = Cluster::start();
    let budget = Budget::start(TEST_BUDGET);
    assert_unknown_node_is_not_found(&cluster);

    cluster.create_topic(
        1,
        TOPIC,
        PARTITIONS,
        REPLICATION,
        &["min.insync.replicas=2"],
    );
    let original_ids = cluster.ids();
    let original_members: BTreeSet<i32> = original_ids.iter().copied().collect();
    let mut seen = MovesSeen::default();
    let (before, _) = wait_until_settled(
        &cluster,
        "the topic is settled on three nodes with no move pending",
        budget.limit(TOPIC_SETTLE_TIMEOUT),
        &original_ids,
        &original_members,
        &mut seen,
    );
    let before_sets = before.replica_sets(TOPIC);
    assert_three_distinct(&before_sets, &before);
    budget.log(&format!("{CLUSTER_SIZE} nodes up, {TOPIC} settled"));

    let mut checker = start_checker(
        &cluster,
        &budget,
        TOPIC,
        PARTITIONS,
        WARMUP_ACKS,
        PROGRESS_TIMEOUT,
    );

    // 1. A fourth node joins; replicas move onto it.
    let joined = cluster.add_node();
    assert_eq!(joined, CLUSTER_SIZE as i32 + 1);
    budget.log(&format!("started node {joined}"));
    let all_ids = cluster.ids();
    let all_members: BTreeSet<i32> = all_ids.iter().copied().collect();
    let mut seen = MovesSeen::default();
    let (after_join, moves) = wait_until_settled(
        &cluster,
        &format!("node {joined} is a member and no move is pending"),
        budget.limit(JOIN_REBALANCE_TIMEOUT),
        &all_ids,
        &all_members,
        &mut seen,
    );
    let joined_sets = after_join.replica_sets(TOPIC);
    let moved = replicas_moved(&before_sets, &joined_sets);
    let fraction = moved as f64 / REPLICAS_TOTAL as f64;
    println!("moved={moved}/{REPLICAS_TOTAL} ({:.1}%)", 100.0 * fraction);
    budget.log(&format!(
        "node {joined} joined; {} distinct moves seen in flight",
        seen.moves.len()
    ));
    assert_eq!(
        moves.replicas_total, REPLICAS_TOTAL,
        "/cluster/moves replicas_total once settled: {}",
        moves.raw
    );
    assert_three_distinct(&joined_sets, &after_join);
    assert!(
        (MOVED_FRACTION_MIN..=MOVED_FRACTION_MAX).contains(&fraction),
        "{moved} of {REPLICAS_TOTAL} replicas moved ({fraction:.3}), outside \
         [{MOVED_FRACTION_MIN}, {MOVED_FRACTION_MAX}]: {before_sets:?} -> {joined_sets:?}"
    );
    assert_moves_only_onto(joined, &before_sets, &joined_sets);
    assert_moves_seen(&seen, joined, true);
    wait_for_progress(&mut checker, &budget, &format!("node {joined} joined"));
    budget.log("producing goes on with four nodes");

    // 2. The fourth node is decommissioned; its replicas move back.
    decommission(&cluster, &after_join, joined);
    budget.log(&format!("decommissioning node {joined}"));
    let mut seen = MovesSeen::default();
    let (after_leave, _) = wait_until_settled(
        &cluster,
        &format!("node {joined} is removed and no move is pending"),
        budget.limit(DECOMMISSION_TIMEOUT),
        &original_ids,
        &original_members,
        &mut seen,
    );
    budget.log(&format!(
        "node {joined} removed; {} distinct moves seen in flight",
        seen.moves.len()
    ));
    assert!(
        seen.decommissioning_seen,
        "no node ever showed node {joined} as decommissioning"
    );
    assert_moves_seen(&seen, joined, false);
    let left_sets = after_leave.replica_sets(TOPIC);
    assert_three_distinct(&left_sets, &after_leave);
    assert_eq!(
        left_sets, before_sets,
        "after decommissioning node {joined} every partition must be back on the nodes it \
         had before node {joined} joined"
    );
    let removed = cluster.remove_node(joined);
    assert!(
        !removed.log().contains("panicked"),
        "node {joined} panicked:\n{}",
        removed.log()
    );
    drop(removed);
    budget.log(&format!("stopped node {joined}"));
    wait_for_progress(
        &mut checker,
        &budget,
        &format!("node {joined} was decommissioned and stopped"),
    );
    budget.log("producing goes on with three nodes");

    // Everything acknowledged is there exactly once.
    let acked = stop_checker(&mut checker, &budget);
    let summary = checker.summary().unwrap_or_default();
    assert!(
        summary.starts_with("DONE ") && !checker.output().contains("FATAL"),
        "the checker saw a fatal error:\n{}",
        checker.output()
    );
    cluster.wait_until_topic_settled(TOPIC, PARTITIONS, budget.limit(TOPIC_SETTLE_TIMEOUT));
    let (read, verdict) = read_back(&cluster, &budget, &checker, TOPIC, PARTITIONS, &acked);

    assert_read_back_clean(&read, &verdict, ACKED_MIN);
    assert_nodes_healthy(&mut cluster);
}
