//! A consumer group resumes from its committed offsets after its coordinator dies. Three
//! nodes host a 6-partition topic (replication factor 3, `min.insync.replicas=2`) holding
//! 3000 keyed records (acks=all). A confluent-kafka consumer
//! (`tests/cluster_support/group_consumer.py`, auto-commit off, a synchronous commit after
//! each processed batch) processes the first half of every partition, commits, and leaves
//! the group; its committed offsets read back are exactly where it stopped. The group's
//! coordinator — the node every node names in FindCoordinator — is then killed with
//! SIGKILL; once the others show it fenced they name another node as coordinator, and a
//! second run with the same group id:
//! - starts each partition exactly at its committed offset,
//! - together with the first run processes every record exactly once (no record before a
//!   committed offset read again, no gap), and commits the partitions' ends;
//! - and, asked before it joins (OffsetFetch, as `committed()` or a monitoring tool asks),
//!   the new coordinator already answers with the first run's committed offsets.
//!
//! It is bounded in time and uses loopback only.

mod cluster_support;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::time::Duration;

use cluster_support::{run_cluster_python, wait_for, Cluster, ClusterStatus};
use common::KafkaConn;
use kafka_protocol::messages::FindCoordinatorRequest;
use kafka_protocol::protocol::StrBytes;

const TOPIC: &str = "group-failover";
const GROUP: &str = "eddy-cluster-group-failover";
const PARTITIONS: i32 = 6;
const REPLICATION: i32 = 3;
const RECORDS: usize = 3_000;
const TOPIC_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Limit for producing the records (the script flushes within a minute).
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(120);
/// Limit for one consumer run (the script gives up after 90 s of consuming).
const CONSUME_TIMEOUT: Duration = Duration::from_secs(150);
/// How long fencing the killed coordinator and moving its leaderships may take.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the nodes may take to name the same coordinator.
const COORDINATOR_AGREE_TIMEOUT: Duration = Duration::from_secs(30);
/// FindCoordinator version used (key and key type, one answer).
const FIND_COORDINATOR_VERSION: i16 = 1;

/// Offsets per partition.
type Offsets = BTreeMap<i32, i64>;

/// The group's coordinator as each node in `ids` names it; `Err` while they disagree or
/// any of them answers with an error.
fn coordinator_named_by(cluster: &Cluster, ids: &[i32]) -> Result<i32, String> {
    let mut named = BTreeMap::new();
    for id in ids {
        let mut conn = KafkaConn::connect(cluster.node(*id).kafka_addr());
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_static_str(GROUP))
            .with_key_type(0);
        let response = conn.request(FIND_COORDINATOR_VERSION, &request);
        if response.error_code != 0 {
            return Err(format!(
                "node {id} answers FindCoordinator with error {}",
                response.error_code
            ));
        }
        named.insert(*id, response.node_id.0);
    }
    let distinct: BTreeSet<i32> = named.values().copied().collect();
    match distinct.into_iter().collect::<Vec<_>>()[..] {
        [one] => Ok(one),
        _ => Err(format!("nodes name different coordinators: {named:?}")),
    }
}

fn wait_for_coordinator(cluster: &Cluster, ids: &[i32]) -> i32 {
    wait_for(
        &format!("nodes {ids:?} name the same coordinator for {GROUP}"),
        COORDINATOR_AGREE_TIMEOUT,
        || coordinator_named_by(cluster, ids),
    )
}

/// Produces `RECORDS` records and returns how many each partition got; asserts that each
/// partition's acknowledged offsets are exactly 0, 1, 2, ...
fn produce(cluster: &Cluster) -> Offsets {
    let out = run_cluster_python(
        "group_consumer.py",
        &[
            "produce",
            &cluster.bootstrap_all(),
            TOPIC,
            &RECORDS.to_string(),
        ],
        PRODUCE_TIMEOUT,
    );
    let mut acked: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for fields in out.lines().filter_map(|l| l.strip_prefix("A ")) {
        let (partition, offset) = parse_pair(fields);
        acked.entry(partition).or_default().push(offset);
    }
    assert_eq!(
        acked.keys().copied().collect::<Vec<_>>(),
        (0..PARTITIONS).collect::<Vec<_>>(),
        "every partition must get records: {acked:?}"
    );
    let mut counts = Offsets::new();
    for (partition, mut offsets) in acked {
        offsets.sort_unstable();
        let count = i64::try_from(offsets.len()).expect("count fits i64");
        assert!(
            offsets.iter().copied().eq(0..count),
            "partition {partition}: acknowledged offsets must be 0..{count}: {offsets:?}"
        );
        counts.insert(partition, count);
    }
    assert_eq!(
        counts.values().sum::<i64>(),
        i64::try_from(RECORDS).expect("fits"),
        "records acknowledged"
    );
    counts
}

fn parse_pair(fields: &str) -> (i32, i64) {
    let mut it = fields.split(' ');
    let partition = it.next().and_then(|p| p.parse().ok());
    let offset = it.next().and_then(|o| o.parse().ok());
    match (partition, offset) {
        (Some(p), Some(o)) => (p, o),
        _ => panic!("expected `<partition> <offset>`, got {fields:?}"),
    }
}

/// What one consumer run reported.
struct Run {
    /// The group's committed offsets when the run started (-1: none).
    committed_at_start: Offsets,
    /// The group's committed offsets when the run finished.
    committed_at_end: Offsets,
    /// The offsets it processed, per partition, in processing order.
    processed: BTreeMap<i32, Vec<i64>>,
    /// Whether every partition reached its stop offset in time.
    complete: bool,
    /// Its standard output, for failure messages.
    out: String,
}

fn parse_offsets(out: &str, prefix: &str) -> Offsets {
    out.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(parse_pair)
        .collect()
}

/// Runs the consumer with `GROUP` through `bootstrap` until every partition has been
/// processed up to `stops`; its processed records go to `processed_path`.
fn consume(bootstrap: &str, stops: &Offsets, processed_path: &Path) -> Run {
    let stops_arg: Vec<String> = stops.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    let out = run_cluster_python(
        "group_consumer.py",
        &[
            "consume",
            bootstrap,
            TOPIC,
            GROUP,
            &processed_path.to_string_lossy(),
            &stops_arg.join(","),
        ],
        CONSUME_TIMEOUT,
    );
    let mut processed: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let text = fs::read_to_string(processed_path).unwrap_or_default();
    for line in text.lines() {
        let (partition, offset) = parse_pair(line);
        processed.entry(partition).or_default().push(offset);
    }
    Run {
        committed_at_start: parse_offsets(&out, "C0 "),
        committed_at_end: parse_offsets(&out, "C "),
        processed,
        complete: out.lines().any(|l| l.starts_with("END complete=true")),
        out,
    }
}

/// Asserts that `run` processed each partition's offsets `from[p]..to[p]` exactly once,
/// in order.
fn assert_processed_range(name: &str, run: &Run, from: &Offsets, to: &Offsets) {
    for (partition, end) in to {
        let start = from.get(partition).copied().unwrap_or(0);
        let seen = run.processed.get(partition).cloned().unwrap_or_default();
        assert!(
            seen.iter().copied().eq(start..*end),
            "{name}: partition {partition} must be processed from {start} to {end} exactly \
             once, in order; processed {} records: first {:?}, last {:?}\n{}",
            seen.len(),
            seen.iter().take(5).collect::<Vec<_>>(),
            seen.iter().rev().take(5).collect::<Vec<_>>(),
            run.out
        );
    }
}

/// Whether `node` is fenced and every partition has a leader other than it.
fn failed_over(status: &ClusterStatus, node: i32) -> bool {
    let partitions = status.partitions(TOPIC);
    status.member(node).is_some_and(|m| m.fenced)
        && partitions.len() == PARTITIONS as usize
        && partitions
            .iter()
            .all(|p| p.leader_id().is_some_and(|l| l != node))
}

#[test]
fn a_group_resumes_from_its_committed_offsets_after_its_coordinator_dies() {
    let mut cluster = Cluster::start();
    cluster.create_topic(
        1,
        TOPIC,
        PARTITIONS,
        REPLICATION,
        &["min.insync.replicas=2"],
    );
    cluster.wait_until_topic_settled(TOPIC, PARTITIONS, TOPIC_SETTLE_TIMEOUT);
    let ends = produce(&cluster);
    let halves: Offsets = ends.iter().map(|(p, end)| (*p, end / 2)).collect();
    assert!(
        halves.values().all(|h| *h > 0),
        "every partition needs records in its first half: {ends:?}"
    );
    println!("produced {RECORDS} records: {ends:?}");

    let ids = cluster.ids();
    let coordinator = wait_for_coordinator(&cluster, &ids);
    println!("coordinator of {GROUP}: node {coordinator}");

    // First run: the first half of every partition.
    let first_run = consume(
        &cluster.bootstrap_all(),
        &halves,
        &cluster.scratch_dir().join("run-1.txt"),
    );
    assert!(
        first_run.complete,
        "the first run did not reach its stops:\n{}",
        first_run.out
    );
    let none: Offsets = (0..PARTITIONS).map(|p| (p, -1)).collect();
    assert_eq!(
        first_run.committed_at_start, none,
        "a new group has no committed offsets:\n{}",
        first_run.out
    );
    assert_processed_range("the first run", &first_run, &Offsets::new(), &halves);
    assert_eq!(
        first_run.committed_at_end, halves,
        "the first run's committed offsets must be where it stopped:\n{}",
        first_run.out
    );
    println!("first run processed and committed {halves:?}");

    // The coordinator dies.
    assert_eq!(
        wait_for_coordinator(&cluster, &ids),
        coordinator,
        "the coordinator changed while no node changed"
    );
    cluster.node_mut(coordinator).kill9();
    println!("killed node {coordinator} (the coordinator) with SIGKILL");
    cluster.wait_for_status(
        &format!("node {coordinator} is fenced and leads no partition"),
        FAILOVER_TIMEOUT,
        &[coordinator],
        |status| failed_over(status, coordinator),
    );
    let live: Vec<i32> = ids
        .iter()
        .copied()
        .filter(|id| *id != coordinator)
        .collect();
    let successor = wait_for_coordinator(&cluster, &live);
    assert_ne!(
        successor, coordinator,
        "the live nodes still name the dead node {coordinator} as coordinator"
    );
    assert!(
        live.contains(&successor),
        "coordinator {successor} is not a live node {live:?}"
    );
    println!("node {coordinator} fenced; node {successor} coordinates {GROUP} now");

    // Second run: the rest, from the committed offsets.
    let second_run = consume(
        &cluster.bootstrap_excluding(&[coordinator]),
        &ends,
        &cluster.scratch_dir().join("run-2.txt"),
    );
    assert!(
        second_run.complete,
        "the second run did not reach the end of every partition:\n{}",
        second_run.out
    );
    let first_offsets: Offsets = second_run
        .processed
        .iter()
        .filter_map(|(p, offsets)| offsets.first().map(|o| (*p, *o)))
        .collect();
    assert_eq!(
        first_offsets, halves,
        "the second run must start every partition at its committed offset:\n{}",
        second_run.out
    );
    assert_processed_range("the second run", &second_run, &halves, &ends);
    assert_eq!(
        second_run.committed_at_end, ends,
        "the second run's committed offsets must be the partitions' ends:\n{}",
        second_run.out
    );

    // Together: every record exactly once.
    let mut together: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for run in [&first_run, &second_run] {
        for (partition, offsets) in &run.processed {
            for offset in offsets {
                *together.entry((*partition, *offset)).or_insert(0) += 1;
            }
        }
    }
    let expected: BTreeSet<(i32, i64)> = ends
        .iter()
        .flat_map(|(p, end)| (0..*end).map(move |o| (*p, o)))
        .collect();
    let again: Vec<_> = together.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(again.is_empty(), "records processed twice: {again:?}");
    let missing: Vec<_> = expected
        .iter()
        .filter(|k| !together.contains_key(k))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "records never processed: {missing:?}");
    assert_eq!(together.len(), RECORDS, "records processed in total");
    println!(
        "processed {} records exactly once across the failover",
        together.len()
    );
    // What the group committed is also what the new coordinator answers to OffsetFetch
    // before anyone joins (as a monitoring tool or `committed()` would ask).
    assert_eq!(
        second_run.committed_at_start, halves,
        "before the second run joined, the new coordinator (node {successor}) must answer \
         OffsetFetch with the offsets committed through node {coordinator}:\n{}",
        second_run.out
    );
    for node in cluster.nodes() {
        assert!(
            !node.log().contains("panicked"),
            "node {} panicked",
            node.id()
        );
    }
}
