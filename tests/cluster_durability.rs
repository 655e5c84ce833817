//! What a cluster keeps when its nodes stall or all stop at once.
//!
//! 1. A follower that stops fetching leaves the ISR by the lag rule, not by fencing, and
//!    comes back once it has caught up. Three nodes run with a session timeout long enough
//!    that nobody is fenced (`--broker-session-timeout-ms 60000`) and a short
//!    `--replica-lag-time-max-ms 2000`. While the checker (an idempotent acks=all producer,
//!    `tests/cluster_support/checker.py`) writes to a 1-partition topic with replication
//!    factor 3 and `min.insync.replicas=2`, a follower that is neither the partition's
//!    leader nor the quorum leader is paused with SIGSTOP until the other nodes show the
//!    ISR without it while it is still an unfenced member, and acknowledgements keep
//!    coming (two in-sync replicas meet `min.insync.replicas`) — both waited for with a
//!    budget far inside the session timeout, so a slow machine cannot get it fenced.
//!    Resumed with SIGCONT, it is back in the ISR within a bounded wait. Every
//!    acknowledged record is read back exactly once, where it was acknowledged.
//! 2. A whole-cluster restart keeps the metadata and every acknowledged record. Three nodes
//!    hold a topic with 3 partitions (replication factor 3) and one with 1 partition
//!    (replication factor 2), filled by the checker (acks=all), and a consumer group
//!    (`tests/cluster_support/group_consumer.py`) commits offsets on the first. All three
//!    nodes are killed with SIGKILL, as in a power cut (the processes die; what the OS
//!    holds stays), and started again on their data all at once, in reverse order. Once
//!    all are live members and every partition has a leader and its full ISR: the topics,
//!    partitions and replica sets are the same; every acknowledged record is read back
//!    exactly once, where it was acknowledged; OffsetFetch answers the same committed
//!    offsets; the quorum takes a new topic; producing more works, appending after what
//!    was there; and past the session timeout no member has been fenced.
//!
//! Every wait is bounded, every process is killed when the cluster is dropped, and only
//! loopback is used.

mod cluster_support;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use cluster_support::{
    assert_nodes_healthy, checker_consume, first, run_cluster_python, wait_for, Budget,
    CheckerProducer, Cluster, ClusterStatus, NodeTimings, Placed, Verdict, CLUSTER_SIZE,
    HEARTBEAT_INTERVAL_MS, SESSION_TIMEOUT_MS,
};
use common::KafkaConn;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{FindCoordinatorRequest, GroupId, OffsetFetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

/// How long a new topic, or a restarted cluster's partitions, may take until every node
/// sees leaders and full ISRs.
const TOPIC_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long producing may take to get the acknowledgements a step waits for.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(30);

/// Offsets per partition.
type Offsets = BTreeMap<i32, i64>;

/// Reads `topic` back with the checker and compares the records at or past `from` (per
/// partition; a partition not in `from` from 0) with `acked`; asserts that every
/// acknowledged record is there exactly once, where it was acknowledged, in production
/// order, and that at least `acked_min` were acknowledged. Returns the verdict's summary.
fn assert_read_back(
    cluster: &Cluster,
    topic: &str,
    partitions: i32,
    acked: &[Placed],
    acks_path: &Path,
    from: &Offsets,
    acked_min: usize,
) -> String {
    let read = checker_consume(&cluster.bootstrap_all(), topic, partitions, acks_path);
    assert!(
        read.conflicts.is_empty(),
        "{topic}: offsets read twice with different records: {:?}",
        first(&read.conflicts)
    );
    assert!(
        read.complete,
        "{topic}: the read-back did not reach every acknowledged offset and partition end"
    );
    let since = |p: &Placed| p.offset >= from.get(&p.partition).copied().unwrap_or(0);
    let consumed: Vec<Placed> = read.records.iter().copied().filter(since).collect();
    let verdict = Verdict::compare(acked, &consumed);
    let summary = format!("{topic}: {}", verdict.summary());
    println!("{summary}");
    verdict.assert_clean(acked_min);
    summary
}

// ---- 1. A lagging follower leaves the ISR and rejoins --------------------------------------

const LAG_TOPIC: &str = "lagging-follower";
/// `--broker-session-timeout-ms`: far longer than the pause can last, so nobody is fenced.
const LAG_SESSION_TIMEOUT_MS: u64 = 60_000;
/// `--replica-lag-time-max-ms`: well within the pause.
const LAG_REPLICA_LAG_TIME_MAX_MS: u64 = 2_000;
/// The whole run after the cluster is up, read-back included.
const LAG_TEST_BUDGET: Duration = Duration::from_secs(180);
/// Acknowledgements before the follower is paused.
const LAG_WARMUP_ACKS: usize = 200;
/// How long the follower may stay paused while the test waits for the ISR to shrink and
/// for acknowledgements to go on: far past the lag limit, yet half the session timeout.
const LAG_PAUSE_MAX: Duration = Duration::from_millis(30_000);
/// New acknowledgements, after the ISR shrank, that show producing goes on in the pause.
const LAG_PAUSE_PROGRESS_ACKS: usize = 50;
/// New acknowledgements that show producing goes on after the follower is back.
const LAG_REJOIN_PROGRESS_ACKS: usize = 100;
/// How long the resumed follower may take to be back in the ISR.
const LAG_REJOIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Fewer acknowledged records than this means the run did not exercise much.
const LAG_ACKED_MIN: usize = 1_000;

/// Picks a node that neither leads the partition nor the quorum.
fn pick_follower(status: &ClusterStatus) -> (i32, i32, i32) {
    let partition = status
        .partition(LAG_TOPIC, 0)
        .unwrap_or_else(|| panic!("no partition 0 of {LAG_TOPIC}: {}", status.raw));
    let leader = partition
        .leader_id()
        .unwrap_or_else(|| panic!("partition 0 has no leader: {}", status.raw));
    let controller = status
        .controller
        .filter(|id| *id >= 0)
        .unwrap_or_else(|| panic!("no quorum leader: {}", status.raw));
    let follower = partition
        .replicas
        .iter()
        .copied()
        .find(|id| *id != leader && *id != controller)
        .unwrap_or_else(|| panic!("no replica besides leader and controller: {}", status.raw));
    (follower, leader, controller)
}

/// Asserts that in `status` `follower` is a member and not fenced, and that `leader` still
/// leads partition 0.
fn assert_unfenced_and_leader_kept(status: &ClusterStatus, follower: i32, leader: i32) {
    let member = status
        .member(follower)
        .unwrap_or_else(|| panic!("node {follower} is no member: {}", status.raw));
    assert!(
        !member.fenced,
        "node {follower} was fenced within the pause, so the lag rule is not what removed \
         it from the ISR: {}",
        status.raw
    );
    let now = status.partition(LAG_TOPIC, 0).and_then(|p| p.leader_id());
    assert_eq!(
        now,
        Some(leader),
        "the leader of partition 0 changed: {}",
        status.raw
    );
}

/// Pauses `follower`; waits (at most `LAG_PAUSE_MAX`) until the ISR shrinks without
/// fencing it and acknowledgements keep coming; then resumes it.
fn pause_follower(
    cluster: &mut Cluster,
    checker: &mut CheckerProducer,
    budget: &Budget,
    follower: i32,
    leader: i32,
) {
    cluster.node_mut(follower).pause();
    let paused_at = Instant::now();
    budget.log(&format!("paused follower {follower} with SIGSTOP"));
    let shrunk = cluster.wait_for_status(
        &format!("the ISR of partition 0 no longer holds the paused node {follower}"),
        LAG_PAUSE_MAX.saturating_sub(paused_at.elapsed()),
        &[follower],
        |status| {
            status
                .partition(LAG_TOPIC, 0)
                .is_some_and(|p| !p.isr.contains(&follower))
        },
    );
    budget.log(&format!(
        "{:.1}s into the pause the ISR is {:?} and node {follower} is unfenced",
        paused_at.elapsed().as_secs_f64(),
        shrunk.partition(LAG_TOPIC, 0).map(|p| p.isr)
    ));
    assert_unfenced_and_leader_kept(&shrunk, follower, leader);

    let since = checker.acked_per_partition();
    checker.wait_for_progress(
        &format!("acknowledgements keep coming while node {follower} is paused"),
        &since,
        1,
        LAG_PAUSE_PROGRESS_ACKS,
        LAG_PAUSE_MAX.saturating_sub(paused_at.elapsed()),
    );
    budget.log(&format!(
        "{:.1}s into the pause acknowledgements keep coming with two in-sync replicas",
        paused_at.elapsed().as_secs_f64()
    ));

    let end = cluster
        .status_excluding(&[follower])
        .unwrap_or_else(|err| panic!("{err}"));
    assert_unfenced_and_leader_kept(&end, follower, leader);
    cluster.node_mut(follower).resume();
    budget.log(&format!(
        "resumed node {follower} with SIGCONT after {:.1}s, never fenced",
        paused_at.elapsed().as_secs_f64()
    ));
}

#[test]
fn a_lagging_follower_leaves_the_isr_and_rejoins_when_caught_up() {
    let mut cluster = Cluster::start_with_timings(NodeTimings {
        session_timeout_ms: LAG_SESSION_TIMEOUT_MS,
        heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
        replica_lag_time_max_ms: LAG_REPLICA_LAG_TIME_MAX_MS,
    });
    let budget = Budget::start(LAG_TEST_BUDGET);
    cluster.create_topic(1, LAG_TOPIC, 1, 3, &["min.insync.replicas=2"]);
    cluster.wait_until_topic_settled(LAG_TOPIC, 1, budget.limit(TOPIC_SETTLE_TIMEOUT));
    budget.log(&format!("{CLUSTER_SIZE} nodes up, {LAG_TOPIC} settled"));

    let mut checker =
        CheckerProducer::start(&cluster.bootstrap_all(), LAG_TOPIC, cluster.scratch_dir());
    checker.wait_for_progress(
        "the checker's first acknowledgements",
        &BTreeMap::new(),
        1,
        LAG_WARMUP_ACKS,
        budget.limit(PROGRESS_TIMEOUT),
    );
    budget.log("checker producing");

    let before = cluster.wait_until_topic_settled(LAG_TOPIC, 1, budget.limit(TOPIC_SETTLE_TIMEOUT));
    let (follower, leader, controller) = pick_follower(&before);
    budget.log(&format!(
        "leader of partition 0: node {leader}, quorum leader: node {controller}"
    ));
    pause_follower(&mut cluster, &mut checker, &budget, follower, leader);

    cluster.wait_for_status(
        &format!("node {follower} is back in the ISR of partition 0"),
        budget.limit(LAG_REJOIN_TIMEOUT),
        &[follower],
        |status| {
            status.member(follower).is_some_and(|m| !m.fenced)
                && status
                    .partition(LAG_TOPIC, 0)
                    .is_some_and(|p| p.isr_is_full() && p.leader_id().is_some())
        },
    );
    budget.log(&format!("node {follower} is back in the ISR"));
    let since = checker.acked_per_partition();
    checker.wait_for_progress(
        "producing goes on with the follower back",
        &since,
        1,
        LAG_REJOIN_PROGRESS_ACKS,
        budget.limit(PROGRESS_TIMEOUT),
    );

    let acked = checker.stop();
    budget.log(&format!(
        "checker stopped: {}",
        checker.summary().unwrap_or_default()
    ));
    cluster.wait_until_topic_settled(LAG_TOPIC, 1, budget.limit(TOPIC_SETTLE_TIMEOUT));
    assert_read_back(
        &cluster,
        LAG_TOPIC,
        1,
        &acked,
        checker.acks_path(),
        &Offsets::new(),
        LAG_ACKED_MIN,
    );
    assert_nodes_healthy(&mut cluster);
}

// ---- 2. A whole-cluster restart -----------------------------------------------------------

/// The topic the group commits on: 3 partitions, replication factor 3.
const WIDE_TOPIC: &str = "restart-wide";
const WIDE_PARTITIONS: i32 = 3;
/// 1 partition, replication factor 2.
const NARROW_TOPIC: &str = "restart-narrow";
const NARROW_PARTITIONS: i32 = 1;
const GROUP: &str = "eddy-cluster-restart-group";
/// Created after the restart, to show the quorum takes metadata changes.
const PROBE_TOPIC: &str = "restart-probe";
/// How long past the session timeout the members must still be live after the restart.
const SESSION_MARGIN_MS: u64 = 2_000;
/// The whole run after the cluster is up, restart and read-backs included.
const RESTART_TEST_BUDGET: Duration = Duration::from_secs(300);
/// Acknowledgements per partition before the restart.
const RESTART_ACKS: usize = 300;
/// Acknowledgements per partition after the restart.
const RESTART_MORE_ACKS: usize = 100;
/// Limit for the group's consumer run (the script gives up after 90 s of consuming).
const CONSUME_TIMEOUT: Duration = Duration::from_secs(150);
/// How long the restarted nodes may take until every one sees all members live.
const RESTART_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long OffsetFetch may answer with a retriable error after the restart.
const OFFSET_FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// FindCoordinator version used (key and key type, one answer).
const FIND_COORDINATOR_VERSION: i16 = 1;
/// OffsetFetch version used (named topics, a top-level error code).
const OFFSET_FETCH_VERSION: i16 = 3;

/// One topic the checker fills.
struct Filled {
    topic: &'static str,
    partitions: i32,
    acked: Vec<Placed>,
    acks_path: PathBuf,
}

impl Filled {
    /// One past the highest acknowledged offset, per partition.
    fn ends(&self) -> Offsets {
        let mut ends = Offsets::new();
        for placed in &self.acked {
            let end = ends.entry(placed.partition).or_insert(0);
            *end = (*end).max(placed.offset + 1);
        }
        ends
    }
}

/// Starts one checker per topic (each with its own files under `run`), waits until every
/// partition of each got `acks` acknowledgements, stops them and returns what they
/// acknowledged.
fn fill(cluster: &Cluster, budget: &Budget, run: &str, acks: usize) -> Vec<Filled> {
    let topics = [
        (WIDE_TOPIC, WIDE_PARTITIONS),
        (NARROW_TOPIC, NARROW_PARTITIONS),
    ];
    let mut checkers: Vec<(&'static str, i32, CheckerProducer)> = topics
        .iter()
        .map(|(topic, partitions)| {
            let dir = cluster.scratch_dir().join(format!("{run}-{topic}"));
            std::fs::create_dir_all(&dir).expect("create the checker's directory");
            let checker = CheckerProducer::start(&cluster.bootstrap_all(), topic, &dir);
            (*topic, *partitions, checker)
        })
        .collect();
    for (topic, partitions, checker) in &mut checkers {
        checker.wait_for_progress(
            &format!("{run}: {acks} acknowledgements on every partition of {topic}"),
            &BTreeMap::new(),
            *partitions,
            acks,
            budget.limit(PROGRESS_TIMEOUT),
        );
    }
    checkers
        .into_iter()
        .map(|(topic, partitions, mut checker)| {
            let acked = checker.stop();
            budget.log(&format!(
                "{run}: {topic}: {}",
                checker.summary().unwrap_or_default()
            ));
            Filled {
                topic,
                partitions,
                acked,
                acks_path: checker.acks_path().to_path_buf(),
            }
        })
        .collect()
}

/// Every topic in `status` with each partition's replica set.
fn placement(status: &ClusterStatus) -> BTreeMap<String, BTreeMap<i32, BTreeSet<i32>>> {
    status
        .topics
        .iter()
        .map(|t| (t.name.clone(), status.replica_sets(&t.name)))
        .collect()
}

/// The group's coordinator as node `via` names it.
fn find_coordinator(cluster: &Cluster, via: i32) -> Result<i32, String> {
    let mut conn = KafkaConn::connect(cluster.node(via).kafka_addr());
    let request = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str(GROUP))
        .with_key_type(0);
    let response = conn.request(FIND_COORDINATOR_VERSION, &request);
    if response.error_code != 0 {
        return Err(format!(
            "node {via} answers FindCoordinator with error {}",
            response.error_code
        ));
    }
    Ok(response.node_id.0)
}

/// The group's committed offsets on `WIDE_TOPIC` (-1 for none), asked with OffsetFetch
/// from the coordinator that node `via` names.
fn committed_offsets(cluster: &Cluster, via: i32) -> Result<Offsets, String> {
    let coordinator = find_coordinator(cluster, via)?;
    if !cluster.ids().contains(&coordinator) {
        return Err(format!(
            "node {via} names unknown coordinator {coordinator}"
        ));
    }
    let mut conn = KafkaConn::connect(cluster.node(coordinator).kafka_addr());
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str(GROUP)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(WIDE_TOPIC)))
            .with_partition_indexes((0..WIDE_PARTITIONS).collect())]));
    let response = conn.request(OFFSET_FETCH_VERSION, &request);
    if response.error_code != 0 {
        return Err(format!(
            "coordinator {coordinator} answers OffsetFetch with error {}",
            response.error_code
        ));
    }
    let mut offsets = Offsets::new();
    for topic in &response.topics {
        for partition in &topic.partitions {
            if partition.error_code != 0 {
                return Err(format!(
                    "coordinator {coordinator}: partition {} error {}",
                    partition.partition_index, partition.error_code
                ));
            }
            offsets.insert(partition.partition_index, partition.committed_offset);
        }
    }
    Ok(offsets)
}

/// The committed offsets through every node (each names the coordinator, which answers);
/// all must agree.
fn committed_offsets_through_all(cluster: &Cluster, timeout: Duration) -> Offsets {
    wait_for(
        &format!("every node leads to the committed offsets of {GROUP}"),
        timeout,
        || {
            let mut seen = BTreeMap::new();
            for id in cluster.ids() {
                seen.insert(id, committed_offsets(cluster, id)?);
            }
            let distinct: BTreeSet<&Offsets> = seen.values().collect();
            match distinct.into_iter().collect::<Vec<_>>()[..] {
                [one] => Ok(one.clone()),
                _ => Err(format!("nodes lead to different offsets: {seen:?}")),
            }
        },
    )
}

fn parse_offsets(out: &str, prefix: &str) -> Offsets {
    out.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|fields| {
            let mut it = fields.split(' ');
            let partition = it.next().and_then(|p| p.parse().ok());
            let offset = it.next().and_then(|o| o.parse().ok());
            match (partition, offset) {
                (Some(p), Some(o)) => (p, o),
                _ => panic!("expected `<partition> <offset>`, got {fields:?}"),
            }
        })
        .collect()
}

/// Runs the group's consumer on `WIDE_TOPIC` until every partition is processed up to
/// `stops` (each batch committed synchronously); asserts it got there and that the
/// committed offsets it then asks for (OffsetFetch right after its last commit) are
/// `stops`.
fn commit_with_group(cluster: &Cluster, budget: &Budget, stops: &Offsets) {
    let stops_arg: Vec<String> = stops.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    let processed = cluster.scratch_dir().join("group-processed.txt");
    let out = run_cluster_python(
        "group_consumer.py",
        &[
            "consume",
            &cluster.bootstrap_all(),
            WIDE_TOPIC,
            GROUP,
            &processed.to_string_lossy(),
            &stops_arg.join(","),
        ],
        CONSUME_TIMEOUT,
    );
    assert!(
        out.lines().any(|l| l.starts_with("END complete=true")),
        "the group's consumer did not reach its stops:\n{out}"
    );
    let read = parse_offsets(&out, "C ");
    if &read != stops {
        // Say who coordinated the group and who led the quorum, and what OffsetFetch
        // answers a moment later: a stale read heals, a lost commit does not.
        thread::sleep(Duration::from_secs(1));
        let later = committed_offsets_through_all(cluster, budget.limit(OFFSET_FETCH_TIMEOUT));
        let coordinator = find_coordinator(cluster, 1);
        let controller = cluster.status_excluding(&[]).map(|s| s.controller);
        panic!(
            "right after its last synchronous commit the group's consumer read committed \
             offsets {read:?}, not where it stopped {stops:?}; OffsetFetch 1 s later \
             answers {later:?}; coordinator {coordinator:?}, quorum leader {controller:?}\n\
             {out}"
        );
    }
}

/// Waits until every node names the same quorum leader and sees all members live, then
/// until every node sees both topics with leaders and full ISRs; returns node 1's view.
/// A restarted node serves this view from its stored state at once (the persisted vote
/// names the former quorum leader too), so this says little about liveness by itself:
/// `assert_quorum_works` and `assert_members_stay_live` do.
fn wait_until_restarted(cluster: &Cluster, budget: &Budget) -> ClusterStatus {
    let controller = wait_for(
        "every restarted node knows the same quorum leader and sees all members live",
        budget.limit(RESTART_READY_TIMEOUT),
        || {
            let mut controllers = BTreeSet::new();
            for node in cluster.nodes() {
                let status = node.status()?;
                if !status.all_members_live(CLUSTER_SIZE) || status.controller.is_none() {
                    return Err(format!("node {} sees {}", node.id(), status.raw));
                }
                controllers.insert(status.controller);
            }
            match controllers.into_iter().collect::<Vec<_>>()[..] {
                [Some(one)] => Ok(one),
                ref several => Err(format!("nodes name quorum leaders {several:?}")),
            }
        },
    );
    budget.log(&format!(
        "quorum leader after the restart: node {controller}"
    ));
    cluster.wait_until_topic_settled(
        NARROW_TOPIC,
        NARROW_PARTITIONS,
        budget.limit(TOPIC_SETTLE_TIMEOUT),
    );
    cluster.wait_until_topic_settled(
        WIDE_TOPIC,
        WIDE_PARTITIONS,
        budget.limit(TOPIC_SETTLE_TIMEOUT),
    )
}

/// Kills every node with SIGKILL, then starts them again in reverse id order without
/// waiting in between, and waits until the cluster is whole again; returns the view then
/// and when the nodes were started.
fn power_cut(cluster: &mut Cluster, budget: &Budget) -> (ClusterStatus, Instant) {
    let ids = cluster.ids();
    for id in &ids {
        cluster.node_mut(*id).kill9();
    }
    budget.log(&format!("killed nodes {ids:?} with SIGKILL"));
    let reversed: Vec<i32> = ids.iter().rev().copied().collect();
    let restarted_at = Instant::now();
    cluster.restart_all(&reversed);
    budget.log(&format!("restarted nodes {reversed:?}"));
    let after = wait_until_restarted(cluster, budget);
    budget.log("all members live, every partition has a leader and its full ISR");
    (after, restarted_at)
}

/// Asserts that the restarted quorum takes and applies a metadata change: a new topic
/// created through the node started first gets a leader and its full ISR on every node.
fn assert_quorum_works(cluster: &Cluster, budget: &Budget) {
    let first_started = cluster.ids().into_iter().max().expect("a node");
    cluster.create_topic(first_started, PROBE_TOPIC, 1, 3, &[]);
    cluster.wait_until_topic_settled(PROBE_TOPIC, 1, budget.limit(TOPIC_SETTLE_TIMEOUT));
    budget.log(&format!(
        "the quorum works: {PROBE_TOPIC} created through node {first_started} settled"
    ));
}

/// Once the session timeout has passed since the restart (a quorum leader fences members
/// it has not heard from for that long), asserts that every node still sees all members
/// live: each restarted node heartbeats.
fn assert_members_stay_live(cluster: &Cluster, budget: &Budget, restarted_at: Instant) {
    let heard_for = Duration::from_millis(SESSION_TIMEOUT_MS + SESSION_MARGIN_MS);
    thread::sleep(heard_for.saturating_sub(restarted_at.elapsed()));
    for node in cluster.nodes() {
        let status = node.status().unwrap_or_else(|err| panic!("{err}"));
        assert!(
            status.all_members_live(CLUSTER_SIZE),
            "{:.1}s after the restart node {} sees members fenced or missing: {}",
            restarted_at.elapsed().as_secs_f64(),
            node.id(),
            status.raw
        );
    }
    budget.log(&format!(
        "{:.1}s after the restart every node still sees all members live",
        restarted_at.elapsed().as_secs_f64()
    ));
}

/// Produces more to both topics after the restart and asserts that it is acknowledged
/// after what was there and read back exactly.
fn assert_producing_more_works(cluster: &Cluster, budget: &Budget, before: &[Filled]) {
    let more = fill(cluster, budget, "after-restart", RESTART_MORE_ACKS);
    for (old, new) in before.iter().zip(&more) {
        let ends = old.ends();
        let early: Vec<&Placed> = new
            .acked
            .iter()
            .filter(|p| p.offset < ends.get(&p.partition).copied().unwrap_or(0))
            .collect();
        assert!(
            early.is_empty(),
            "{}: records produced after the restart were acknowledged below the ends {ends:?} \
             of what was there, first: {:?}",
            new.topic,
            first(early)
        );
        let min = RESTART_MORE_ACKS * usize::try_from(new.partitions).expect("fits");
        let summary = assert_read_back(
            cluster,
            new.topic,
            new.partitions,
            &new.acked,
            &new.acks_path,
            &ends,
            min,
        );
        budget.log(&format!("after the restart: {summary}"));
    }
}

#[test]
fn a_whole_cluster_restart_keeps_metadata_and_acknowledged_records() {
    let mut cluster = Cluster::start();
    let budget = Budget::start(RESTART_TEST_BUDGET);
    cluster.create_topic(
        1,
        WIDE_TOPIC,
        WIDE_PARTITIONS,
        3,
        &["min.insync.replicas=2"],
    );
    cluster.create_topic(
        2,
        NARROW_TOPIC,
        NARROW_PARTITIONS,
        2,
        &["min.insync.replicas=2"],
    );
    cluster.wait_until_topic_settled(
        NARROW_TOPIC,
        NARROW_PARTITIONS,
        budget.limit(TOPIC_SETTLE_TIMEOUT),
    );
    cluster.wait_until_topic_settled(
        WIDE_TOPIC,
        WIDE_PARTITIONS,
        budget.limit(TOPIC_SETTLE_TIMEOUT),
    );
    budget.log(&format!("{CLUSTER_SIZE} nodes up, both topics settled"));

    let filled = fill(&cluster, &budget, "before-restart", RESTART_ACKS);
    let halves: Offsets = filled[0].ends().iter().map(|(p, e)| (*p, e / 2)).collect();
    commit_with_group(&cluster, &budget, &halves);
    let committed = committed_offsets_through_all(&cluster, budget.limit(OFFSET_FETCH_TIMEOUT));
    assert_eq!(committed, halves, "OffsetFetch before the restart");
    let settled = cluster.wait_until_topic_settled(
        WIDE_TOPIC,
        WIDE_PARTITIONS,
        budget.limit(TOPIC_SETTLE_TIMEOUT),
    );
    let before = placement(&settled);
    budget.log(&format!(
        "group {GROUP} committed {committed:?}; placement {before:?}"
    ));

    let (after, restarted_at) = power_cut(&mut cluster, &budget);
    assert_eq!(
        placement(&after),
        before,
        "topics, partitions and replica sets after the restart: {}",
        after.raw
    );
    for old in &filled {
        let min = RESTART_ACKS * usize::try_from(old.partitions).expect("fits");
        let summary = assert_read_back(
            &cluster,
            old.topic,
            old.partitions,
            &old.acked,
            &old.acks_path,
            &Offsets::new(),
            min,
        );
        budget.log(&format!("after the restart: {summary}"));
    }
    assert_eq!(
        committed_offsets_through_all(&cluster, budget.limit(OFFSET_FETCH_TIMEOUT)),
        committed,
        "the group's committed offsets after the restart"
    );
    budget.log("committed offsets unchanged");

    assert_quorum_works(&cluster, &budget);
    assert_producing_more_works(&cluster, &budget, &filled);
    assert_members_stay_live(&cluster, &budget, restarted_at);
    assert_nodes_healthy(&mut cluster);
}
