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
//! A second test starts a fourth node under the deployed wordcount: the controller moves
//! about a quarter of the replicas onto it and preferred-leader elections hand it some
//! leaderships. Only the tasks whose input leader changed may move (to the new leader);
//! every other task must run on untouched — same node and instance, `starts` and
//! `restarts` unchanged in `describe`, its live uptime spanning the whole join — and the
//! counts stay exact; the group's coordinator (recorded in the metadata when first looked
//! up) stays where it was, so the members keep their membership.
//!
//! Every wait is bounded; nothing asserts on time (the times are printed).

mod cluster_support;
mod common;
mod deploy_support;
mod streams_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cluster_support::{Budget, Cluster, ClusterNode, ClusterStatus};
use common::KafkaConn;
use deploy_support::{
    deploy, describe, eddy_ok, hosted_row, hosted_task_rows, http_ok, placement, produce_lines,
    root_name, supervisors, task_ids, wait_until, HostedTask, TaskView,
};
use kafka_protocol::messages::FindCoordinatorRequest;
use kafka_protocol::protocol::StrBytes;
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

/// A task as the node running it shows it live, in its own tree.
#[derive(Debug, Clone)]
struct LiveTask {
    node: i32,
    row: HostedTask,
    /// When the test asked that node for its tree, and when the answer had come.
    asked: Instant,
    answered: Instant,
}

/// The placement as the live nodes show it now, each asked itself: every task runs on
/// exactly one node of `live`, in the `running` state, and that node leads the task's
/// first input partition (the cluster's `/cluster` view). Returns each task's node.
fn live_placement(
    cluster: &Cluster,
    live: &[i32],
    dead: &[i32],
) -> Result<BTreeMap<String, i32>, String> {
    let status = cluster.status_excluding(dead)?;
    let tasks = live_tasks(cluster, live, &input_leaders(&status))?;
    Ok(tasks.into_iter().map(|(task, t)| (task, t.node)).collect())
}

/// `live_placement` against the input leaders `leaders`, with each task's live row.
fn live_tasks(
    cluster: &Cluster,
    live: &[i32],
    leaders: &BTreeMap<String, Option<i32>>,
) -> Result<BTreeMap<String, LiveTask>, String> {
    let expected = task_ids(SUBTOPOLOGIES, PARTITIONS);
    let mut placed: BTreeMap<String, Vec<LiveTask>> = BTreeMap::new();
    let mut problems = Vec::new();
    for id in live {
        let asked = Instant::now();
        let tree = supervisors(&cluster.node(*id).bootstrap())?;
        let answered = Instant::now();
        assert_eq!(
            root_name(&tree),
            format!("node {id}"),
            "the tree of the node asked"
        );
        for (task, row) in hosted_task_rows(&tree, APP).unwrap_or_default() {
            if row.state != "running" {
                problems.push(format!("{task} is {} on node {id}", row.state));
            }
            placed.entry(task).or_default().push(LiveTask {
                node: *id,
                row,
                asked,
                answered,
            });
        }
    }
    let mut tasks = BTreeMap::new();
    for task in &expected {
        let input = first_input(task);
        let leader = leaders.get(&input).copied().flatten();
        match placed.remove(task).as_deref() {
            Some([one]) if Some(one.node) == leader => {
                tasks.insert(task.clone(), one.clone());
            }
            other => problems.push(format!(
                "{task} runs on {:?}, its input {input} is led by {leader:?}",
                other.map(|o| o.iter().map(|t| t.node).collect::<Vec<_>>())
            )),
        }
    }
    if !placed.is_empty() {
        problems.push(format!(
            "unexpected tasks {:?}",
            placed.keys().collect::<Vec<_>>()
        ));
    }
    if problems.is_empty() {
        Ok(tasks)
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
    let tasks = reported_tasks(cluster, via, live)?;
    Ok(tasks
        .into_iter()
        .map(|(task, view)| (task, view.node_id.expect("a placed task's node")))
        .collect())
}

/// `reported_placement`, with each active task's row as `describe` reports it.
fn reported_tasks(
    cluster: &Cluster,
    via: i32,
    live: &[i32],
) -> Result<BTreeMap<String, TaskView>, String> {
    let described = describe(&cluster.node(via).bootstrap(), APP)?;
    placement(&described, &task_ids(SUBTOPOLOGIES, PARTITIONS), live)?;
    for task in &described.tasks {
        assert_eq!(
            task.inputs.first(),
            Some(&first_input(&task.task)),
            "the task reads what the test expects: {}",
            described.raw
        );
    }
    Ok(described
        .tasks
        .into_iter()
        .filter(|t| !t.standby)
        .map(|t| (t.task.clone(), t))
        .collect())
}

fn tasks_per_node(placement: &BTreeMap<String, i32>) -> BTreeMap<i32, Vec<&str>> {
    let mut per_node: BTreeMap<i32, Vec<&str>> = BTreeMap::new();
    for (task, node) in placement {
        per_node.entry(*node).or_default().push(task);
    }
    per_node
}

/// Where each count task's (sub-topology 1's) standby runs, once every standby has applied
/// as many changes as its active task processed (one change per word); `Err` until then.
fn caught_up_standbys(bootstrap: &str) -> Result<BTreeMap<String, i32>, String> {
    let described = describe(bootstrap, APP)?;
    let mut standbys = BTreeMap::new();
    for active in described
        .tasks
        .iter()
        .filter(|t| !t.standby && t.task.starts_with("1_"))
    {
        let standby = described
            .tasks
            .iter()
            .find(|t| t.standby && t.task == active.task)
            .ok_or_else(|| format!("{} has no standby yet", active.task))?;
        if standby.processed_records < active.processed_records {
            return Err(format!(
                "{}'s standby applied {} of {} changes",
                active.task, standby.processed_records, active.processed_records
            ));
        }
        let node = standby
            .node_id
            .ok_or_else(|| format!("{}'s standby names no node", active.task))?;
        standbys.insert(active.task.clone(), node);
    }
    if standbys.is_empty() {
        return Err("no count task reported yet".into());
    }
    Ok(standbys)
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

    // Every standby has applied every change its task made (word count: one change per
    // word its count task processed), so the tasks that move below resume warm.
    let standby_nodes = wait_until(
        "every count task's standby has applied all of its task's changes",
        budget.limit(PLACEMENT_TIMEOUT),
        || caught_up_standbys(&cluster.node(1).bootstrap()),
    );
    budget.log(&format!("standbys caught up: {standby_nodes:?}"));

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
    // A moved count task that landed where its standby was resumed from the warm store:
    // it replayed no changelog record.
    let described = describe(&cluster.node(via).bootstrap(), APP).expect("describe");
    let moved: Vec<(&str, i32, u64)> = described
        .tasks
        .iter()
        .filter(|t| !t.standby && moving.contains(&t.task.as_str()))
        .map(|t| (t.task.as_str(), t.node_id.unwrap_or(-1), t.restored_records))
        .collect();
    println!("moved tasks (node, changelog records restored): {moved:?}");
    let mut warm = 0;
    for (task, node, restored) in &moved {
        if standby_nodes.get(*task) == Some(node) {
            assert_eq!(
                *restored, 0,
                "{task} moved to node {node}, where its standby was: it resumes warm"
            );
            warm += 1;
        }
    }
    let moved_counts = moved.iter().filter(|(t, _, _)| t.starts_with("1_")).count();
    assert!(
        moved_counts == 0 || warm > 0,
        "the standbys sit where the next leaders are: some moved count task lands on its \
         standby's node ({moved:?}, standbys {standby_nodes:?})"
    );
    budget.log(&format!(
        "{warm} moved count task(s) resumed from their standby with nothing to replay"
    ));

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

/// The topics whose partitions' leaders place the tasks: sub-topology 0 reads the input,
/// sub-topology 1 the repartition topic.
const TASK_INPUT_TOPICS: [&str; 2] = [INPUT, REPARTITION];
/// How long a fourth node may take to join, take its replicas, lead its partitions and run
/// their tasks.
const JOIN_SETTLE_TIMEOUT: Duration = Duration::from_secs(150);
/// What the fourth node is called (`Cluster::add_node` takes the next id).
const JOINED: i32 = 4;

/// Each task input partition's leader and leader epoch, by `topic-partition`.
type Epochs = BTreeMap<String, (Option<i32>, i64)>;

/// FindCoordinator v1, which names one coordinator.
const FIND_COORDINATOR_VERSION: i16 = 1;

/// The application group's coordinator as each node of `ids` names it (the coordinator is
/// recorded in the metadata when first looked up, so a joining node does not take it).
fn coordinators(cluster: &Cluster, ids: &[i32]) -> BTreeMap<i32, i32> {
    ids.iter()
        .map(|id| {
            let mut conn = KafkaConn::connect(cluster.node(*id).kafka_addr());
            let request = FindCoordinatorRequest::default()
                .with_key(StrBytes::from_static_str(APP))
                .with_key_type(0);
            let response = conn.request(FIND_COORDINATOR_VERSION, &request);
            (*id, response.node_id.0)
        })
        .collect()
}

/// Leader and leader epoch of every partition of the tasks' input topics. The controller
/// bumps a partition's leader epoch exactly when its leader changes (an election, a move
/// that drops the leader, a fence), so an unchanged epoch means the leader never changed
/// in between, not just that it is the same again.
fn input_epochs(status: &ClusterStatus) -> Epochs {
    TASK_INPUT_TOPICS
        .iter()
        .flat_map(|topic| {
            status.partitions(topic).into_iter().map(move |p| {
                (
                    format!("{topic}-{}", p.partition),
                    (p.leader_id(), p.leader_epoch),
                )
            })
        })
        .collect()
}

/// The replicas of every partition of the application's topics.
fn app_replicas(status: &ClusterStatus) -> BTreeMap<String, BTreeSet<i32>> {
    [INPUT, OUTPUT, REPARTITION, CHANGELOG]
        .iter()
        .flat_map(|topic| {
            status
                .partitions(topic)
                .into_iter()
                .map(move |p| (format!("{topic}-{}", p.partition), p.replica_set()))
        })
        .collect()
}

/// Why the cluster is not quiet yet, as each node of `members` sees it: exactly `members`,
/// none fenced; no replica move pending; every partition of the application's topics with
/// a leader and its full ISR; the tasks' input partitions each led by its preferred (first)
/// replica, so no preferred-leader election is still due; and every node agreeing on those
/// leaders and epochs.
fn quiet(cluster: &Cluster, members: &[i32]) -> Result<(), String> {
    let wanted: BTreeSet<i32> = members.iter().copied().collect();
    let mut agreed: Option<(i32, Epochs)> = None;
    for id in members {
        let node = cluster.node(*id);
        let status = node.status()?;
        let listed: BTreeSet<i32> = status.members.iter().map(|m| m.node_id).collect();
        if listed != wanted || status.members.iter().any(|m| m.fenced) {
            return Err(format!("node {id} lists members {:?}", status.members));
        }
        let moves = node.moves()?;
        if !moves.moves.is_empty() {
            return Err(format!("node {id} shows moves {}", moves.raw));
        }
        for topic in [INPUT, OUTPUT, REPARTITION, CHANGELOG] {
            if !status.topic_is_settled(topic, PARTITIONS) {
                return Err(format!("node {id} sees {topic} unsettled: {}", status.raw));
            }
        }
        for topic in TASK_INPUT_TOPICS {
            if let Some(p) = status
                .partitions(topic)
                .into_iter()
                .find(|p| p.leader_id() != p.replicas.first().copied())
            {
                return Err(format!(
                    "node {id} sees {topic}-{} led off its preferred replica: {p:?}",
                    p.partition
                ));
            }
        }
        let epochs = input_epochs(&status);
        match &agreed {
            Some((first, theirs)) if *theirs != epochs => {
                return Err(format!(
                    "node {id} sees leaders {epochs:?}, node {first} sees {theirs:?}"
                ))
            }
            Some(_) => {}
            None => agreed = Some((*id, epochs)),
        }
    }
    Ok(())
}

/// Every active task as the node running it shows it live and as `describe` reports it,
/// both beside the leader of the task's first input, with those leaders (and epochs) the
/// same before and after the reading.
struct Snapshot {
    epochs: Epochs,
    live: BTreeMap<String, LiveTask>,
    reported: BTreeMap<String, TaskView>,
}

fn snapshot(cluster: &Cluster, live: &[i32]) -> Result<Snapshot, String> {
    let epochs = input_epochs(&cluster.status_excluding(&[])?);
    let leaders = epochs.iter().map(|(tp, (l, _))| (tp.clone(), *l)).collect();
    let live_rows = live_tasks(cluster, live, &leaders)?;
    let reported = reported_tasks(cluster, live[0], live)?;
    let again = input_epochs(&cluster.status_excluding(&[])?);
    if again != epochs {
        return Err(format!(
            "leaders changed while reading: {epochs:?} then {again:?}"
        ));
    }
    for (task, row) in &live_rows {
        let node = reported.get(task).and_then(|t| t.node_id);
        if node != Some(row.node) {
            return Err(format!(
                "{task} runs on node {} but describe reports node {node:?}",
                row.node
            ));
        }
    }
    Ok(Snapshot {
        epochs,
        live: live_rows,
        reported,
    })
}

/// The tasks of `later` sorted by what happened to the leader of their first input since
/// `before`: kept (same leader epoch: it never changed), moved (another leader now) and
/// back (led elsewhere meanwhile, by the same node again now).
struct Sorted {
    kept: Vec<String>,
    moved: Vec<(String, i32, i32)>,
    back: Vec<String>,
}

fn sort_tasks(before: &Snapshot, later: &Snapshot) -> Sorted {
    let mut sorted = Sorted {
        kept: Vec::new(),
        moved: Vec::new(),
        back: Vec::new(),
    };
    for task in task_ids(SUBTOPOLOGIES, PARTITIONS) {
        let input = first_input(&task);
        let (was, was_epoch) = before.epochs[&input];
        let (is, is_epoch) = later.epochs[&input];
        if was_epoch == is_epoch {
            assert_eq!(was, is, "{input}: a leader change without a new epoch");
            sorted.kept.push(task);
        } else if was != is {
            let from = before.live[&task].node;
            let to = later.live[&task].node;
            sorted.moved.push((task, from, to));
        } else {
            sorted.back.push(task);
        }
    }
    sorted
}

/// Asserts that every task of `kept` ran on without an interruption from `before` to
/// `later`: on the same node, in the same instance, started as often as before (the
/// per-instance `starts` counts every start for an assignment: a task revoked and
/// assigned again counts one more), never restarted after a failure, and — in the
/// node's live tree — running at least since the moment its node answered `before`
/// (a restart or a new start resets the uptime).
fn assert_uninterrupted(kept: &[String], before: &Snapshot, later: &Snapshot, when: &str) {
    let mut interrupted = Vec::new();
    for task in kept {
        let (was, is) = (&before.live[task], &later.live[task]);
        let since_before = is.asked.duration_since(was.answered).as_millis() as u64;
        let (was_reported, is_reported) = (&before.reported[task], &later.reported[task]);
        let unchanged = (was.node, was.row.restarts) == (is.node, is.row.restarts)
            && is.row.uptime_ms + 1 >= since_before
            && (
                &was_reported.instance,
                was_reported.starts,
                was_reported.restarts,
            ) == (
                &is_reported.instance,
                is_reported.starts,
                is_reported.restarts,
            );
        if !unchanged {
            interrupted.push(format!(
                "{task}: node {} -> {}, restarts {} -> {}, live uptime {} ms although it ran \
                 there {since_before} ms earlier; describe: instance {} -> {}, starts {} -> {}, \
                 restarts {} -> {}",
                was.node,
                is.node,
                was.row.restarts,
                is.row.restarts,
                is.row.uptime_ms,
                was_reported.instance,
                is_reported.instance,
                was_reported.starts,
                is_reported.starts,
                was_reported.restarts,
                is_reported.restarts
            ));
        }
    }
    assert!(
        interrupted.is_empty(),
        "{when}: {} of the {} tasks whose input's leader never changed were interrupted \
         (moved, restarted or started again):\n{}",
        interrupted.len(),
        kept.len(),
        interrupted.join("\n")
    );
}

/// Creates the input and output topics, deploys the wordcount through node 1 and waits
/// until every node serves the deployment; returns the deployment record.
fn deploy_wordcount(cluster: &Cluster, budget: &Budget) -> serde_json::Value {
    for topic in [INPUT, OUTPUT] {
        cluster.create_topic(1, topic, PARTITIONS, REPLICATION, &[]);
    }
    for topic in [INPUT, OUTPUT] {
        cluster.wait_until_topic_settled(topic, PARTITIONS, budget.limit(TOPIC_SETTLE_TIMEOUT));
    }
    let record = deploy(&cluster.node(1).bootstrap(), "wordcount", APP, &CONFIGS);
    assert_eq!(record["unable_nodes"], json!([]), "every node can run it");
    for node in cluster.nodes() {
        wait_until_served(node, &record, budget);
    }
    record
}

/// Waits until `node` serves the deployment `record`.
fn wait_until_served(node: &ClusterNode, record: &serde_json::Value, budget: &Budget) {
    wait_until(
        &format!("node {} serves the deployment", node.id()),
        budget.limit(DEPLOYMENT_SPREAD_TIMEOUT),
        || match http_ok(node.admin_addr(), "GET", "/deployments/wc", None) {
            (200, body)
                if serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .as_ref()
                    == Some(record) =>
            {
                Ok(())
            }
            (status, body) => Err(format!("{status} {body}")),
        },
    );
}

/// A fourth node joins a cluster running the deployed wordcount: the controller moves
/// about a quarter of the replicas onto it and preferred-leader elections hand it
/// leaderships. Only the tasks whose input leader changed move (to the new leader); every
/// other task runs on untouched — same node and instance, `starts` and `restarts` as
/// before, its live uptime spanning the whole join — and the counts stay exact.
///
/// The tasks are sorted by their first input's leader epoch, which the controller bumps
/// exactly on a leader change: "kept" means the leader never changed, even briefly.
///
/// The group's coordinator must not move: it holds the group's membership in memory only,
/// and a new one would make every member rejoin as new and restart all its tasks (as it
/// did when coordinators were derived from the member list alone).
#[test]
fn a_joining_node_takes_only_the_tasks_whose_leaders_move_to_it() {
    let mut cluster = Cluster::start();
    let budget = Budget::start(TEST_BUDGET);
    budget.log("cluster up");
    let record = deploy_wordcount(&cluster, &budget);
    let three = cluster.ids();
    budget.log("deployed");

    // The first lines, counted exactly and committed: the pipeline is then idle.
    let first = streams_support::lines(0x510e_527f_ade6_82d1, LINES);
    produce_lines(&cluster.bootstrap_all(), INPUT, 0, &first);
    block_on(RUN.wait_for_counts(&cluster.bootstrap_all(), &expected_counts(&first), "first"));
    block_on(RUN.wait_for_commits(&cluster.bootstrap_all(), LINES as i64));
    budget.log("first lines counted and committed");

    let before = wait_until(
        "the cluster is quiet and every task runs beside its input's leader (live and described)",
        budget.limit(PLACEMENT_TIMEOUT),
        || {
            quiet(&cluster, &three)?;
            snapshot(&cluster, &three)
        },
    );
    let nodes_before: BTreeMap<String, i32> = before
        .live
        .iter()
        .map(|(t, l)| (t.clone(), l.node))
        .collect();
    let starts: BTreeMap<&str, u64> = before
        .reported
        .iter()
        .map(|(t, v)| (t.as_str(), v.starts))
        .collect();
    let coordinator_before = coordinators(&cluster, &three);
    budget.log(&format!(
        "three nodes: {:?}; starts per task {starts:?}; the group's coordinator as each node \
         names it: {coordinator_before:?}",
        tasks_per_node(&nodes_before),
    ));

    let replicas_before = app_replicas(&cluster.status_excluding(&[]).expect("a /cluster view"));

    // The fourth node joins through the seeds and runs an instance too.
    let joined = cluster.add_node();
    assert_eq!(joined, JOINED, "the next node id");
    let joined_at = Instant::now();
    budget.log(&format!("started node {joined}"));
    wait_until_served(cluster.node(joined), &record, &budget);
    let four = cluster.ids();
    let after = wait_until(
        "node 4 has its replicas and leaderships, and every task runs beside its input's \
         leader again (live and described)",
        budget.limit(JOIN_SETTLE_TIMEOUT),
        || {
            quiet(&cluster, &four)?;
            snapshot(&cluster, &four)
        },
    );
    let settling = joined_at.elapsed();
    let coordinator_after = coordinators(&cluster, &four);
    budget.log(&format!(
        "the group's coordinator as each node names it: {coordinator_after:?}"
    ));
    let was: BTreeSet<i32> = coordinator_before.values().copied().collect();
    let is: BTreeSet<i32> = coordinator_after.values().copied().collect();
    assert!(
        was.len() == 1 && is == was,
        "the group's coordinator stays put through the join: {coordinator_before:?} then \
         {coordinator_after:?}"
    );
    let nodes_after: BTreeMap<String, i32> = after
        .live
        .iter()
        .map(|(t, l)| (t.clone(), l.node))
        .collect();
    let replicas_after = app_replicas(&cluster.status_excluding(&[]).expect("a /cluster view"));
    let replicas_moved = replicas_before
        .iter()
        .map(|(tp, was)| was.difference(&replicas_after[tp]).count())
        .sum::<usize>();
    let onto_joined = replicas_after
        .values()
        .filter(|set| set.contains(&joined))
        .count();
    budget.log(&format!(
        "replicas moved: {replicas_moved} of {} (the application's topics), {onto_joined} now on \
         node {joined}",
        replicas_before.values().map(BTreeSet::len).sum::<usize>()
    ));
    assert!(
        onto_joined > 0,
        "the join moved replicas of the application's topics onto node {joined}: \
         {replicas_before:?} then {replicas_after:?}"
    );
    let sorted = sort_tasks(&before, &after);
    budget.log(&format!(
        "settling: {:.1}s from node {joined}'s start until every task ran beside its leader; \
         {} of {} tasks moved {:?}, {} kept, {} led elsewhere meanwhile and back {:?}; now {:?}",
        settling.as_secs_f64(),
        sorted.moved.len(),
        nodes_after.len(),
        sorted.moved,
        sorted.kept.len(),
        sorted.back.len(),
        sorted.back,
        tasks_per_node(&nodes_after)
    ));
    let led_by_joined = after
        .epochs
        .values()
        .filter(|(leader, _)| *leader == Some(joined))
        .count();
    if led_by_joined == 0 {
        println!("note: node {joined} leads none of the tasks' input partitions once settled");
    }
    for (task, from, to) in &sorted.moved {
        assert_ne!(
            from, to,
            "{task}: its input's leader changed, so it moved to the new leader"
        );
    }
    assert_eq!(
        nodes_after.values().filter(|n| **n == joined).count(),
        led_by_joined,
        "node {joined} runs exactly the tasks whose input it leads: {nodes_after:?}"
    );
    assert_uninterrupted(&sorted.kept, &before, &after, "once settled");

    // More lines, counted exactly on top of the first, by the tasks where they run now.
    let second = streams_support::lines(0x9b05_688c_2b3e_6c1f, LINES);
    produce_lines(&cluster.bootstrap_all(), INPUT, LINES, &second);
    let every: Vec<String> = first.iter().chain(&second).cloned().collect();
    block_on(RUN.wait_for_counts(
        &cluster.bootstrap_all(),
        &expected_counts(&every),
        "after the join",
    ));
    block_on(RUN.wait_for_commits(&cluster.bootstrap_all(), 2 * LINES as i64));
    budget.log("all lines counted exactly");

    // Still untouched after counting the second lines (describe's reports are then newer
    // than the settling).
    let last = wait_until(
        "every task still runs beside its input's leader (live and described)",
        budget.limit(PLACEMENT_TIMEOUT),
        || snapshot(&cluster, &four),
    );
    let since_join = sort_tasks(&before, &last);
    assert_uninterrupted(&since_join.kept, &before, &last, "after the second lines");
    for id in &four {
        cluster.node_mut(*id).assert_healthy_except(&[]);
    }
}
