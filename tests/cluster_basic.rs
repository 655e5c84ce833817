//! A three-node cluster, each node a separate `eddy` process on loopback ports, behaves as
//! one Kafka cluster:
//! - metadata through any node (kcat -L) lists all three brokers at their addresses;
//! - a topic with 6 partitions and replication factor 3 gets three distinct replicas per
//!   partition, a leader on every node, full ISRs, and the same placement in every node's
//!   `/cluster` view and in the Kafka metadata;
//! - records produced (acks=all) through one node are read back exactly, in order per
//!   partition, through another, with kcat and with kafka-python.

mod cluster_support;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cluster_support::{
    run_cluster_python, wait_for, Cluster, ClusterNode, ClusterStatus, PartitionStatus,
    CLUSTER_SIZE,
};
use common::{kcat, run_kcat, run_with_timeout, tail};
use serde_json::Value;

const PARTITIONS: i32 = 6;
const REPLICATION: i32 = 3;
/// How long a new topic may take until every node sees leaders and full ISRs.
const TOPIC_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the Kafka metadata may take to agree with `/cluster`.
const METADATA_AGREE_TIMEOUT: Duration = Duration::from_secs(30);
/// Limit for one kcat invocation.
const KCAT_TIMEOUT: Duration = Duration::from_secs(120);
const KCAT_RECORDS: usize = 3_000;
const KCAT_KEYS: usize = 100;
const KAFKA_PYTHON_RECORDS: usize = 2_000;
const KAFKA_PYTHON_TIMEOUT: Duration = Duration::from_secs(180);

/// `kcat -L -J` through `node`, parsed.
fn kcat_metadata(node: &ClusterNode, topic: Option<&str>) -> Result<Value, String> {
    let bootstrap = node.bootstrap();
    let mut args = vec!["-L", "-J", "-b", &bootstrap, "-m", "15"];
    if let Some(topic) = topic {
        args.extend(["-t", topic]);
    }
    let mut cmd = std::process::Command::new(kcat());
    cmd.args(&args);
    let output = run_with_timeout(&mut cmd, None, KCAT_TIMEOUT);
    if !output.status.success() {
        return Err(format!("kcat {args:?} failed: {}", tail(&output.stderr)));
    }
    let out = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&out)
        .map_err(|err| format!("kcat -L -J printed invalid JSON ({err}): {out}"))
}

/// Asserts that metadata through `node` lists exactly the cluster's brokers, each at its
/// Kafka address.
fn assert_lists_all_brokers(cluster: &Cluster, node: &ClusterNode) {
    let metadata = kcat_metadata(node, None).unwrap_or_else(|err| panic!("{err}"));
    let listed: BTreeMap<i64, String> = metadata["brokers"]
        .as_array()
        .unwrap_or_else(|| panic!("no brokers array through node {}: {metadata}", node.id()))
        .iter()
        .map(|b| {
            let id = b["id"].as_i64().expect("broker id");
            (id, b["name"].as_str().unwrap_or_default().to_string())
        })
        .collect();
    let expected: BTreeMap<i64, String> = cluster
        .nodes()
        .iter()
        .map(|n| (i64::from(n.id()), n.bootstrap()))
        .collect();
    assert_eq!(
        listed,
        expected,
        "kcat -L through node {} must list every node at its address: {metadata}",
        node.id()
    );
}

/// Asserts that every partition of `topic` has `REPLICATION` distinct replicas among the
/// cluster's nodes with the leader among them, and that every node leads a partition.
fn assert_spread(status: &ClusterStatus, topic: &str, ids: &[i32]) {
    let partitions = status.partitions(topic);
    assert_eq!(partitions.len(), PARTITIONS as usize, "{}", status.raw);
    let mut leaders = BTreeMap::new();
    for p in &partitions {
        let replicas: BTreeSet<i32> = p.replicas.iter().copied().collect();
        assert_eq!(
            (p.replicas.len(), replicas.len()),
            (REPLICATION as usize, REPLICATION as usize),
            "partition {} must have {REPLICATION} distinct replicas: {:?}",
            p.partition,
            p.replicas
        );
        assert!(
            replicas.iter().all(|r| ids.contains(r)),
            "partition {} has replicas outside the cluster {ids:?}: {:?}",
            p.partition,
            p.replicas
        );
        let leader = p.leader_id().expect("a settled partition has a leader");
        assert!(
            replicas.contains(&leader),
            "partition {}: leader {leader} is no replica",
            p.partition
        );
        assert!(
            p.isr_is_full(),
            "partition {}: ISR {:?} != replicas",
            p.partition,
            p.isr
        );
        *leaders.entry(leader).or_insert(0) += 1;
    }
    for id in ids {
        assert!(
            leaders.contains_key(id),
            "node {id} leads no partition of {topic}: leaders per node {leaders:?}\n{}",
            status.raw
        );
    }
}

/// (leader, sorted replicas) per partition: the placement every view must agree on.
fn placement(partitions: &[PartitionStatus]) -> Vec<(i32, Option<i32>, Vec<i32>)> {
    partitions
        .iter()
        .map(|p| {
            let mut replicas = p.replicas.clone();
            replicas.sort_unstable();
            (p.partition, p.leader_id(), replicas)
        })
        .collect()
}

/// The same placement read from Kafka metadata (`kcat -L -J -t topic`).
fn placement_in_metadata(metadata: &Value, topic: &str) -> Vec<(i32, Option<i32>, Vec<i32>)> {
    let as_i32 = |v: &Value| v.as_i64().and_then(|n| i32::try_from(n).ok());
    let mut partitions: Vec<(i32, Option<i32>, Vec<i32>)> = metadata["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["topic"] == topic)
        .flat_map(|t| t["partitions"].as_array().cloned().unwrap_or_default())
        .map(|p| {
            let mut replicas: Vec<i32> = p["replicas"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| as_i32(&r["id"]))
                .collect();
            replicas.sort_unstable();
            let leader = as_i32(&p["leader"]).filter(|l| *l >= 0);
            (as_i32(&p["partition"]).unwrap_or(-1), leader, replicas)
        })
        .collect();
    partitions.sort();
    partitions
}

/// Waits until every node's `/cluster` and every node's Kafka metadata show `expected`.
fn wait_until_every_view_agrees(
    cluster: &Cluster,
    topic: &str,
    expected: &[(i32, Option<i32>, Vec<i32>)],
) {
    wait_for(
        "every node's /cluster and Kafka metadata agree on the placement",
        METADATA_AGREE_TIMEOUT,
        || {
            for node in cluster.nodes() {
                let seen = placement(&node.status()?.partitions(topic));
                if seen != expected {
                    return Err(format!(
                        "node {} /cluster shows {seen:?}, expected {expected:?}",
                        node.id()
                    ));
                }
                let seen = placement_in_metadata(&kcat_metadata(node, Some(topic))?, topic);
                if seen != expected {
                    return Err(format!(
                        "node {} metadata shows {seen:?}, expected {expected:?}",
                        node.id()
                    ));
                }
            }
            Ok(())
        },
    );
}

#[test]
fn three_nodes_list_every_broker_and_spread_leaders_over_all_of_them() {
    const TOPIC: &str = "spread";
    let cluster = Cluster::start();
    assert_eq!(cluster.nodes().len(), CLUSTER_SIZE);
    for node in cluster.nodes() {
        assert_lists_all_brokers(&cluster, node);
    }

    cluster.create_topic(1, TOPIC, PARTITIONS, REPLICATION, &[]);
    let status = cluster.wait_until_topic_settled(TOPIC, PARTITIONS, TOPIC_SETTLE_TIMEOUT);
    assert_spread(&status, TOPIC, &cluster.ids());
    let expected = placement(&status.partitions(TOPIC));
    wait_until_every_view_agrees(&cluster, TOPIC, &expected);
}

/// Key and value of kcat record `index`.
fn kcat_record(index: usize) -> (String, String) {
    (
        format!("key-{:03}", index % KCAT_KEYS),
        format!("value-{index:05}"),
    )
}

/// One record as the consuming kcat prints it with `-f '%p|%o|%k|%s\n'`.
#[derive(Debug)]
struct Read {
    partition: i32,
    offset: i64,
    key: String,
    value: String,
}

fn parse_reads(out: &str) -> Vec<Read> {
    out.lines()
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, '|').collect();
            assert_eq!(fields.len(), 4, "unexpected kcat line {line:?}");
            Read {
                partition: fields[0].parse().expect("partition"),
                offset: fields[1].parse().expect("offset"),
                key: fields[2].to_string(),
                value: fields[3].to_string(),
            }
        })
        .collect()
}

fn kcat_produce(node: &ClusterNode, topic: &str) {
    let input: String = (0..KCAT_RECORDS)
        .map(|i| {
            let (key, value) = kcat_record(i);
            format!("{key}:{value}\n")
        })
        .collect();
    let bootstrap = node.bootstrap();
    run_kcat(
        &[
            "-P",
            "-b",
            &bootstrap,
            "-t",
            topic,
            "-K:",
            "-X",
            "acks=all",
            // One request in flight per broker: a retry cannot reorder records.
            "-X",
            "max.in.flight.requests.per.connection=1",
            "-X",
            "message.timeout.ms=30000",
            "-X",
            "socket.timeout.ms=10000",
        ],
        Some(input.into_bytes()),
        KCAT_TIMEOUT,
    );
}

fn kcat_consume(node: &ClusterNode, topic: &str) -> Vec<Read> {
    let bootstrap = node.bootstrap();
    let out = run_kcat(
        &[
            "-C",
            "-b",
            &bootstrap,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%p|%o|%k|%s\\n",
            "-X",
            "socket.timeout.ms=10000",
        ],
        None,
        KCAT_TIMEOUT,
    );
    parse_reads(&out)
}

/// Asserts that `reads` are exactly the kcat records: each once with its key, every key in
/// one partition, every partition used, offsets contiguous from 0 and records in
/// production order within each partition.
fn assert_kcat_records(reads: &[Read]) {
    assert_eq!(reads.len(), KCAT_RECORDS, "records read back");
    let mut by_partition: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
    let mut partition_of_key: BTreeMap<&str, i32> = BTreeMap::new();
    let mut indexes = BTreeSet::new();
    for read in reads {
        let index: usize = read
            .value
            .strip_prefix("value-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a record that was never produced: {read:?}"));
        assert!(
            index < KCAT_RECORDS && indexes.insert(index),
            "unexpected or repeated {read:?}"
        );
        assert_eq!(read.key, kcat_record(index).0, "key of {read:?}");
        let first = *partition_of_key.entry(&read.key).or_insert(read.partition);
        assert_eq!(first, read.partition, "key {} in two partitions", read.key);
        by_partition
            .entry(read.partition)
            .or_default()
            .push((read.offset, index));
    }
    assert_eq!(
        by_partition.len(),
        PARTITIONS as usize,
        "partitions with records"
    );
    for (partition, records) in &mut by_partition {
        records.sort_unstable();
        let offsets: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
        let contiguous: Vec<i64> = (0..records.len() as i64).collect();
        assert_eq!(offsets, contiguous, "offsets of partition {partition}");
        assert!(
            records.windows(2).all(|w| w[0].1 < w[1].1),
            "partition {partition} holds records out of production order"
        );
    }
}

#[test]
fn records_produced_through_one_node_are_read_back_through_another() {
    const KCAT_TOPIC: &str = "kcat-through-nodes";
    const KAFKA_PYTHON_TOPIC: &str = "kafka-python-through-node-1";
    let cluster = Cluster::start();
    cluster.create_topic(2, KCAT_TOPIC, PARTITIONS, REPLICATION, &[]);
    cluster.create_topic(3, KAFKA_PYTHON_TOPIC, PARTITIONS, REPLICATION, &[]);
    cluster.wait_until_topic_settled(KCAT_TOPIC, PARTITIONS, TOPIC_SETTLE_TIMEOUT);
    cluster.wait_until_topic_settled(KAFKA_PYTHON_TOPIC, PARTITIONS, TOPIC_SETTLE_TIMEOUT);

    kcat_produce(cluster.node(2), KCAT_TOPIC);
    assert_kcat_records(&kcat_consume(cluster.node(3), KCAT_TOPIC));

    let count = KAFKA_PYTHON_RECORDS.to_string();
    let out = run_cluster_python(
        "kafka_python_roundtrip.py",
        &[&cluster.node(1).bootstrap(), KAFKA_PYTHON_TOPIC, &count],
        KAFKA_PYTHON_TIMEOUT,
    );
    let expected = format!("OK produced={count} consumed={count} partitions={PARTITIONS}");
    assert!(
        out.lines().any(|l| l == expected),
        "kafka_python_roundtrip.py printed:\n{out}"
    );

    // Every node's log must be free of panics after all this.
    for node in cluster.nodes() {
        assert!(
            !node.log().contains("panicked"),
            "node {} panicked",
            node.id()
        );
    }
}
