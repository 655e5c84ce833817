//! No acknowledged write is lost when nodes fail. A checker process
//! (`tests/cluster_support/checker.py`) produces numbered records with an idempotent
//! acks=all producer to a 3-partition topic with replication factor 3 and
//! `min.insync.replicas=2`, bootstrapping from all three nodes, while the test
//! 1. kills the leader of partition 0 with SIGKILL: it is fenced, every partition gets a
//!    leader from its ISR with a higher leader epoch, and producing goes on;
//! 2. restarts it on the same data directory: it rejoins and is back in every ISR;
//! 3. pauses another node with SIGSTOP past the session timeout: it is fenced and loses
//!    its leaderships; resumed with SIGCONT, it rejoins every ISR, and producing goes on.
//!
//! Then the whole topic is read back: every acknowledged record must be there exactly
//! once, at the partition and offset it was acknowledged at, and each partition's records
//! must be in the order they were produced. The test prints
//! `acked=N lost=L duplicated=D ...`. It is bounded in time and uses loopback only.

mod cluster_support;
mod common;

use std::thread;
use std::time::{Duration, Instant};

use cluster_support::{
    assert_every_partition_used, assert_nodes_healthy, assert_read_back_clean, read_back,
    start_checker, stop_checker, wait_for_more_acks, Budget, CheckerProducer, Cluster,
    ClusterStatus, CLUSTER_SIZE, SESSION_TIMEOUT_MS,
};

const TOPIC: &str = "no-acked-write-lost";
const PARTITIONS: i32 = 3;
const REPLICATION: i32 = 3;
/// The whole run after the cluster is up, disruptions and read-back included.
const TEST_BUDGET: Duration = Duration::from_secs(90);
const TOPIC_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Acknowledgements per partition before the first disruption.
const WARMUP_ACKS: usize = 200;
/// New acknowledgements per partition that show producing goes on after a disruption.
const PROGRESS_ACKS: usize = 100;
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long fencing a silent node and moving its leaderships may take.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a restarted or resumed node may take to be back in every ISR.
const REJOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node stays paused: well past the session timeout.
const PAUSE: Duration = Duration::from_millis(SESSION_TIMEOUT_MS + 2_000);
/// Fewer acknowledged records than this means the run did not exercise much.
const ACKED_MIN: usize = 1_000;

/// Whether `node` is fenced, leads no partition, and every partition has a leader.
fn failed_over(status: &ClusterStatus, node: i32) -> bool {
    let partitions = status.partitions(TOPIC);
    status.member(node).is_some_and(|m| m.fenced)
        && partitions.len() == PARTITIONS as usize
        && partitions
            .iter()
            .all(|p| p.leader_id().is_some_and(|l| l != node))
}

/// Whether `node` is an unfenced member again and in the ISR of every partition.
fn rejoined(status: &ClusterStatus, node: i32) -> bool {
    let partitions = status.partitions(TOPIC);
    status.member(node).is_some_and(|m| !m.fenced)
        && partitions.len() == PARTITIONS as usize
        && partitions
            .iter()
            .all(|p| p.leader_id().is_some() && p.isr.contains(&node))
}

/// Waits, through the other nodes' views, until `node` is fenced and has lost its
/// leaderships; asserts that each new leader came from the ISR with a higher epoch.
fn wait_for_failover(cluster: &Cluster, budget: &Budget, node: i32, before: &ClusterStatus) {
    let after = cluster.wait_for_status(
        &format!("node {node} is fenced and leads no partition"),
        budget.limit(FAILOVER_TIMEOUT),
        &[node],
        |status| failed_over(status, node),
    );
    for (old, new) in before.partitions(TOPIC).iter().zip(after.partitions(TOPIC)) {
        if old.leader_id() != Some(node) {
            continue;
        }
        let leader = new.leader_id().expect("failed_over checked every leader");
        assert!(
            old.isr.contains(&leader),
            "partition {}: new leader {leader} was not in the ISR {:?}",
            old.partition,
            old.isr
        );
        assert!(
            new.leader_epoch > old.leader_epoch,
            "partition {}: leader moved {node} -> {leader} but the epoch went {} -> {}",
            old.partition,
            old.leader_epoch,
            new.leader_epoch
        );
    }
}

/// Waits, through the other nodes' views, until `node` is back in every ISR.
fn wait_for_rejoin(cluster: &Cluster, budget: &Budget, node: i32) {
    cluster.wait_for_status(
        &format!("node {node} is unfenced and in every ISR"),
        budget.limit(REJOIN_TIMEOUT),
        &[node],
        |status| rejoined(status, node),
    );
}

/// Waits until every partition got `PROGRESS_ACKS` more acknowledgements.
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

/// Waits until every node (a restarted one included, so its view has caught up) sees a
/// leader and the full ISR for every partition; returns node 1's view. Taking the view
/// before a disruption from here makes "the new leader was in the ISR" a fair check.
fn settled(cluster: &Cluster, budget: &Budget) -> ClusterStatus {
    cluster.wait_until_topic_settled(TOPIC, PARTITIONS, budget.limit(TOPIC_SETTLE_TIMEOUT))
}

fn leader_of_partition_0(status: &ClusterStatus) -> i32 {
    status
        .partition(TOPIC, 0)
        .and_then(|p| p.leader_id())
        .unwrap_or_else(|| panic!("partition 0 has no leader: {}", status.raw))
}

/// Kills the leader of partition 0, waits for the failover and for producing to go on,
/// restarts the node and waits until it is back in every ISR. Returns the node.
fn kill_and_restart_leader(
    cluster: &mut Cluster,
    checker: &mut CheckerProducer,
    budget: &Budget,
) -> i32 {
    let before = settled(cluster, budget);
    let victim = leader_of_partition_0(&before);
    cluster.node_mut(victim).kill9();
    budget.log(&format!(
        "killed node {victim} (leader of partition 0) with SIGKILL"
    ));
    wait_for_failover(cluster, budget, victim, &before);
    budget.log(&format!(
        "node {victim} fenced, its partitions have new leaders"
    ));
    wait_for_progress(checker, budget, &format!("node {victim} was killed"));
    budget.log("producing goes on with two nodes");

    cluster.node_mut(victim).restart();
    budget.log(&format!("restarted node {victim}"));
    wait_for_rejoin(cluster, budget, victim);
    budget.log(&format!("node {victim} is back in every ISR"));
    victim
}

/// Pauses a node other than `spared` (the current leader of partition 0 if it can),
/// waits until it is fenced and at least `PAUSE` has passed, resumes it and waits until it
/// is back in every ISR and producing goes on. Returns the node.
fn pause_and_resume_another(
    cluster: &mut Cluster,
    checker: &mut CheckerProducer,
    budget: &Budget,
    spared: i32,
) -> i32 {
    let before = settled(cluster, budget);
    let leader = leader_of_partition_0(&before);
    let victim = if leader != spared {
        leader
    } else {
        *cluster
            .ids()
            .iter()
            .find(|id| **id != spared)
            .expect("another node")
    };
    cluster.node_mut(victim).pause();
    let paused_at = Instant::now();
    budget.log(&format!("paused node {victim} with SIGSTOP"));
    wait_for_failover(cluster, budget, victim, &before);
    budget.log(&format!(
        "node {victim} fenced, its partitions have new leaders"
    ));
    thread::sleep(PAUSE.saturating_sub(paused_at.elapsed()));

    cluster.node_mut(victim).resume();
    budget.log(&format!("resumed node {victim} with SIGCONT"));
    wait_for_rejoin(cluster, budget, victim);
    budget.log(&format!("node {victim} is back in every ISR"));
    wait_for_progress(checker, budget, &format!("node {victim} was resumed"));
    budget.log("producing goes on with three nodes");
    victim
}

#[test]
fn no_acknowledged_write_is_lost_across_kill9_restart_and_pause() {
    let mut cluster = Cluster::start();
    let budget = Budget::start(TEST_BUDGET);
    cluster.create_topic(
        1,
        TOPIC,
        PARTITIONS,
        REPLICATION,
        &["min.insync.replicas=2"],
    );
    settled(&cluster, &budget);
    budget.log(&format!("{CLUSTER_SIZE} nodes up, {TOPIC} settled"));

    let mut checker = start_checker(
        &cluster,
        &budget,
        TOPIC,
        PARTITIONS,
        WARMUP_ACKS,
        PROGRESS_TIMEOUT,
    );

    let killed = kill_and_restart_leader(&mut cluster, &mut checker, &budget);
    let paused = pause_and_resume_another(&mut cluster, &mut checker, &budget, killed);
    assert_ne!(killed, paused);

    let acked = stop_checker(&mut checker, &budget);
    settled(&cluster, &budget);
    let (read, verdict) = read_back(&cluster, &budget, &checker, TOPIC, PARTITIONS, &acked);

    assert_read_back_clean(&read, &verdict, ACKED_MIN);
    assert_every_partition_used(&acked, PARTITIONS);
    assert_nodes_healthy(&mut cluster);
}
