//! A topology deployed to a three-node cluster (three `eddy` processes) runs its tasks
//! beside their input partitions' leaders and follows them when a node dies.
//!
//! The stock `wordcount` is deployed as `wc` over a 6-partition input topic (replication
//! factor 3): every node runs an instance, the instances form the group `wc`, and each of
//! the 12 tasks (the split `0_p` reading the input, the count `1_p` reading the repartition
//! topic) runs exactly once, on the node leading its first input partition — as
//! `eddy topology describe --json` reports it, and as every node's own tree (`eddy
//! supervisors --json`, `topologies` → `topology wc`) shows it live. kafka-python's lines
//! are counted exactly. Then a node running tasks is killed with SIGKILL: once the
//! cluster has fenced it and moved its leaderships, every task runs again once, on the
//! live leader of its input (the test prints the time from the kill to that point,
//! "resumption"); more lines are counted exactly on top of the first; `eddy topology
//! undeploy` stops the instances on the live nodes and the topics stay.
//!
//! Exactness across the kill holds because the node is killed while the pipeline is idle
//! and every input offset is committed (changelog and output flushed before the commit).
//! The deployment is at-least-once without transactions: a kill in the middle of a batch
//! may count a line twice (its output written, its offset not yet committed), so this
//! test does not promise more than an idle kill can.
//!
//! The deployment's internal topics (`wc-counts-repartition`, `wc-counts-changelog`) are
//! the runtime's to create: a deployed application gives them a replica on three nodes,
//! so they outlive the kill; the test checks that. So does the registry topic
//! (`__eddy_topologies`, one partition, a replica on up to three nodes), from which
//! `describe` reads the reports: the node killed is the one leading it when it runs tasks.
//!
//! The nodes run with the cluster tests' 3 s broker session timeout, below the group
//! coordinator's 6 s minimum session timeout, which the instances then take instead.
//!
//! Every wait is bounded; nothing asserts on time (the times are printed).

mod cluster_support;
mod common;
mod deploy_support;
mod streams_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cluster_support::{Budget, Cluster, ClusterNode, ClusterStatus};
use deploy_support::{
    deploy, describe, eddy_ok, hosted_row, hosted_tasks, http_ok, placement, produce_lines,
    root_name, supervisors, task_ids, wait_until,
};
use serde_json::json;
use streams_support::{expected_counts, WordCountRun};

const APP: &str = "wc";
const INPUT: &str = "deployed-lines";
const OUTPUT: &str = "deployed-counts";
/// The internal topics Kafka Streams names after the application and the count's store.
const REPARTITION: &str = "wc-counts-repartition";
const CHANGELOG: &str = "wc-counts-changelog";
/// Where the instances report (`eddy_streams::registry::REGISTRY_TOPIC`).
const REGISTRY: &str = "__eddy_topologies";
const PARTITIONS: i32 = 6;
const REPLICATION: i32 = 3;
const SUBTOPOLOGIES: u32 = 2;
/// Lines produced before the kill, and again after it.
const LINES: usize = 600;
const CONFIGS: [&str; 3] = [
    "input.topic=deployed-lines",
    "output.topic=deployed-counts",
    "commit.interval.ms=500",
];
/// The whole test after the cluster is up.
const TEST_BUDGET: Duration = Duration::from_secs(600);
const TOPIC_SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the deployment may take to reach every node's metadata.
const DEPLOYMENT_SPREAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the instances may take to place and run every task (the registry reports
/// every 5 s; an instance that is gone stays in it for 15 s).
const PLACEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the tasks may take to run again beside the live leaders after the kill.
const RESUMPTION_TIMEOUT: Duration = Duration::from_secs(90);
/// How long an undeployed application's row may stay in a node's tree.
const UNDEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

const RUN: WordCountRun = WordCountRun {
    input: INPUT,
    output: OUTPUT,
    app: APP,
    partitions: PARTITIONS,
};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// The partition a task reads first: `0_p` the input's, `1_p` the repartition topic's
/// (checked against `describe`'s `inputs` once the tasks run).
fn first_input(task: &str) -> String {
    let (subtopology, partition) = task.split_once('_').expect("a task id s_p");
    match subtopology {
        "0" => format!("{INPUT}-{partition}"),
        "1" => format!("{REPARTITION}-{partition}"),
        other => panic!("wordcount has no sub-topology {other}"),
    }
}

/// The leader of every partition of the tasks' input topics in `status`.
fn input_leaders(status: &ClusterStatus) -> BTreeMap<String, Option<i32>> {
    [INPUT, REPARTITION]
        .iter()
        .flat_map(|topic| {
            status
                .partitions(topic)
                .into_iter()
                .map(move |p| (format!("{topic}-{}", p.partition), p.leader_id()))
        })
        .collect()
}

/// The placement as the live nodes show it now, each asked itself: every task runs on
/// exactly one node of `live`, in the `running` state, and that node leads the task's
/// first input partition (the cluster's `/cluster` view). Returns each task's node.
fn live_placement(
    cluster: &Cluster,
    live: &[i32],
    dead: &[i32],
) -> Result<BTreeMap<String, i32>, String> {
    let expected = task_ids(SUBTOPOLOGIES, PARTITIONS);
    let status = cluster.status_excluding(dead)?;
    let leaders = input_leaders(&status);
    let mut placed: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    let mut problems = Vec::new();
    for id in live {
        let tree = supervisors(&cluster.node(*id).bootstrap())?;
        assert_eq!(
            root_name(&tree),
            format!("node {id}"),
            "the tree of the node asked"
        );
        for (task, state) in hosted_tasks(&tree, APP).unwrap_or_default() {
            if state != "running" {
                problems.push(format!("{task} is {state} on node {id}"));
            }
            placed.entry(task).or_default().push(*id);
        }
    }
    let mut nodes = BTreeMap::new();
    for task in &expected {
        let input = first_input(task);
        let leader = leaders.get(&input).copied().flatten();
        match placed.get(task).map(Vec::as_slice) {
            Some([node]) if Some(*node) == leader => {
                nodes.insert(task.clone(), *node);
            }
            other => problems.push(format!(
                "{task} runs on {other:?}, its input {input} is led by {leader:?}"
            )),
        }
    }
    let unknown: Vec<&String> = placed.keys().filter(|t| !expected.contains(*t)).collect();
    if !unknown.is_empty() {
        problems.push(format!("unexpected tasks {unknown:?}"));
    }
    if problems.is_empty() {
        Ok(nodes)
    } else {
        Err(problems.join("; "))
    }
}

/// The placement as `eddy topology describe --json` (asked through `via`) reports it:
/// every task once, running on a node of `live` that leads its first input partition.
fn reported_placement(
    cluster: &Cluster,
    via: i32,
    live: &[i32],
) -> Result<BTreeMap<String, i32>, String> {
    let described = describe(&cluster.node(via).bootstrap(), APP)?;
    let nodes = placement(&described, &task_ids(SUBTOPOLOGIES, PARTITIONS), live)?;
    for task in &described.tasks {
        assert_eq!(
            task.inputs.first(),
            Some(&first_input(&task.task)),
            "the task reads what the test expects: {}",
            described.raw
        );
    }
    Ok(nodes)
}

fn tasks_per_node(placement: &BTreeMap<String, i32>) -> BTreeMap<i32, Vec<&str>> {
    let mut per_node: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
    for (task, node) in placement {
        per_node.entry(*node).or_default().push(task);
    }
    per_node
}

/// The node to kill: the registry topic's leader if it runs tasks (so `describe` must
/// survive a registry failover too), else the node running the most tasks. The registry
/// has a replica on every one of the three nodes.
fn victim(cluster: &Cluster, placement: &BTreeMap<String, i32>) -> i32 {
    let status = cluster.status_excluding(&[]).expect("a /cluster view");
    let registry = status.partitions(REGISTRY);
    assert_eq!(registry.len(), 1, "{REGISTRY} exists: {}", status.raw);
    assert_eq!(
        registry[0].replicas.len(),
        3,
        "{REGISTRY} outlives a node: {}",
        status.raw
    );
    let per_node = tasks_per_node(placement);
    if let Some(leader) = registry[0].leader.filter(|l| per_node.contains_key(l)) {
        return leader;
    }
    per_node
        .iter()
        .max_by_key(|(node, tasks)| (tasks.len(), -**node))
        .map(|(node, _)| *node)
        .expect("some node runs tasks")
}

#[test]
fn deployed_tasks_run_beside_their_leaders_and_follow_them_when_a_node_dies() {
    let mut cluster = Cluster::start();
    let budget = Budget::start(TEST_BUDGET);
    budget.log("cluster up");
    for topic in [INPUT, OUTPUT] {
        cluster.create_topic(1, topic, PARTITIONS, REPLICATION, &[]);
    }
    for topic in [INPUT, OUTPUT] {
        cluster.wait_until_topic_settled(topic, PARTITIONS, budget.limit(TOPIC_SETTLE_TIMEOUT));
    }
    let all = cluster.ids();

    // Deploy through node 1; every node's metadata gets the deployment.
    let record = deploy(&cluster.node(1).bootstrap(), "wordcount", APP, &CONFIGS);
    assert_eq!(record["topology"], "wordcount", "{record}");
    assert_eq!(
        record["configs"],
        json!({"input.topic": INPUT, "output.topic": OUTPUT, "commit.interval.ms": "500"}),
        "{record}"
    );
    assert_eq!(record["unable_nodes"], json!([]), "every node can run it");
    for node in cluster.nodes() {
        wait_until(
            &format!("node {} serves the deployment", node.id()),
            budget.limit(DEPLOYMENT_SPREAD_TIMEOUT),
            || match http_ok(node.admin_addr(), "GET", "/deployments/wc", None) {
                (200, body)
                    if serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .as_ref()
                        == Some(&record) =>
                {
                    Ok(())
                }
                (status, body) => Err(format!("{status} {body}")),
            },
        );
    }
    budget.log("deployed");

    let placed = wait_until(
        "every task runs once, beside its input's leader (every node's own tree)",
        budget.limit(PLACEMENT_TIMEOUT),
        || live_placement(&cluster, &all, &[]),
    );
    budget.log(&format!("tasks placed: {:?}", tasks_per_node(&placed)));
    let reported = wait_until(
        "describe reports every task beside its input's leader",
        budget.limit(PLACEMENT_TIMEOUT),
        || reported_placement(&cluster, 1, &all),
    );
    budget.log("describe agrees");
    let described = describe(&cluster.node(1).bootstrap(), APP).expect("describe");
    let internal: BTreeSet<&str> = described
        .internal_topics
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        internal,
        BTreeSet::from([REPARTITION, CHANGELOG]),
        "{}",
        described.raw
    );
    // Replicated on three nodes, so the kill below takes none of their partitions away.
    for topic in [REPARTITION, CHANGELOG] {
        cluster.wait_until_topic_settled(topic, PARTITIONS, budget.limit(TOPIC_SETTLE_TIMEOUT));
        let status = cluster.status_excluding(&[]).expect("a /cluster view");
        for partition in status.partitions(topic) {
            assert_eq!(
                partition.replicas.len(),
                REPLICATION as usize,
                "{topic}-{} has a replica on every node: {}",
                partition.partition,
                status.raw
            );
        }
    }
    // Leaders may have moved in between; then both views are waited for again.
    if reported != placed {
        println!("placement changed between the views: {placed:?} then {reported:?}");
        wait_until(
            "the live and the reported placement agree",
            budget.limit(PLACEMENT_TIMEOUT),
            || {
                let live = live_placement(&cluster, &all, &[])?;
                let reported = reported_placement(&cluster, 1, &all)?;
                if live == reported {
                    Ok(())
                } else {
                    Err(format!("live {live:?}, reported {reported:?}"))
                }
            },
        );
    }

    // The first lines, counted exactly and committed: the pipeline is then idle.
    let first = streams_support::lines(0x3c6e_f372_fe94_f82b, LINES);
    let spread = produce_lines(&cluster.bootstrap_all(), INPUT, 0, &first);
    assert_eq!(
        spread.len(),
        PARTITIONS as usize,
        "every partition: {spread:?}"
    );
    block_on(RUN.wait_for_counts(&cluster.bootstrap_all(), &expected_counts(&first), "first"));
    block_on(RUN.wait_for_commits(&cluster.bootstrap_all(), LINES as i64));
    budget.log("first lines counted and committed");

    // Kill a node that runs tasks (as they run now, should a leader have moved).
    let placed = wait_until(
        "every task runs once, beside its input's leader, before the kill",
        budget.limit(PLACEMENT_TIMEOUT),
        || live_placement(&cluster, &all, &[]),
    );
    let dead = victim(&cluster, &placed);
    let live: Vec<i32> = all.iter().copied().filter(|id| *id != dead).collect();
    let moving: Vec<&str> = tasks_per_node(&placed).remove(&dead).unwrap_or_default();
    budget.log(&format!("killing node {dead}, which runs {moving:?}"));
    cluster.node_mut(dead).kill9();
    let killed_at = Instant::now();
    let resumed = wait_until(
        "every task runs again once, beside its input's live leader (the live nodes' trees)",
        budget.limit(RESUMPTION_TIMEOUT),
        || live_placement(&cluster, &live, &[dead]),
    );
    let resumption = killed_at.elapsed();
    budget.log(&format!(
        "resumption: {:.1}s from the kill until every task ran beside its live leader: {:?}",
        resumption.as_secs_f64(),
        tasks_per_node(&resumed)
    ));
    let via = live[0];
    wait_until(
        "describe reports every task beside its input's live leader",
        budget.limit(RESUMPTION_TIMEOUT),
        || reported_placement(&cluster, via, &live),
    );
    budget.log(&format!(
        "describe shows the resumption {:.1}s after the kill",
        killed_at.elapsed().as_secs_f64()
    ));
    if let Ok(described) = describe(&cluster.node(via).bootstrap(), APP) {
        let moved: Vec<(&str, u64)> = described
            .tasks
            .iter()
            .filter(|t| !t.standby && moving.contains(&t.task.as_str()))
            .map(|t| (t.task.as_str(), t.restored_records))
            .collect();
        let standbys = described.tasks.iter().filter(|t| t.standby).count();
        println!("moved tasks (changelog records restored): {moved:?}; standbys now: {standbys}");
    }

    // More lines, counted exactly on top of the first.
    let bootstrap = cluster.bootstrap_excluding(&[dead]);
    let second = streams_support::lines(0xa54f_f53a_5f1d_36f1, LINES);
    produce_lines(&bootstrap, INPUT, LINES, &second);
    let every: Vec<String> = first.iter().chain(&second).cloned().collect();
    block_on(RUN.wait_for_counts(&bootstrap, &expected_counts(&every), "after the kill"));
    block_on(RUN.wait_for_commits(&bootstrap, 2 * LINES as i64));
    budget.log("all lines counted exactly");

    // Undeploy: the live nodes stop their instances; the topics stay.
    eddy_ok(&[
        "topology",
        "undeploy",
        APP,
        "-b",
        &cluster.node(via).bootstrap(),
    ]);
    for id in &live {
        let node: &ClusterNode = cluster.node(*id);
        wait_until(
            &format!("topology {APP} leaves node {id}'s tree"),
            budget.limit(UNDEPLOY_TIMEOUT),
            || {
                let tree = supervisors(&node.bootstrap())?;
                if let Some(row) = hosted_row(&tree, APP) {
                    return Err(format!("still {row}"));
                }
                match http_ok(node.admin_addr(), "GET", "/deployments/wc", None) {
                    (404, _) => Ok(()),
                    (status, body) => Err(format!("GET /deployments/wc: {status} {body}")),
                }
            },
        );
    }
    budget.log("undeployed");
    let status = cluster.status_excluding(&[dead]).expect("a /cluster view");
    for topic in [INPUT, OUTPUT, REPARTITION, CHANGELOG] {
        assert_eq!(
            status.partitions(topic).len(),
            PARTITIONS as usize,
            "{topic} stays after undeploy: {}",
            status.raw
        );
    }
    for id in &live {
        cluster.node_mut(*id).assert_healthy_except(&[]);
    }
}
