//! `eddy topology deploy` on a single node (a real `eddy` process): the stock `wordcount`
//! deployed as application `wc` runs inside the node — the tree of `eddy supervisors`
//! shows `topologies` → `topology wc` with its tasks, `eddy topology describe` shows every
//! task on node 1 — and counts lines produced by kafka-python exactly. Deploying the same
//! again succeeds (HTTP 200, the record unchanged); other configs under the same id, an
//! unknown topology and a per-node config (`state.dir`) are refused with the reason. The
//! deployment is recorded in the node's metadata: after a kill -9 and a start on the same
//! data dir the application runs again and counts new lines on top of the old counts,
//! exactly. `eddy topology undeploy` stops it (its row leaves the tree), keeps its topics,
//! and `GET /deployments/wc` then answers 404. A node whose broker session timeout (3 s)
//! is below the group coordinator's minimum session timeout (6 s) runs its deployments too.
//! The instance reaches its node in process (`eddy_local_requests_total` counts its
//! Fetch and Produce requests), not through the listener's sockets.
//!
//! Every wait is bounded; nothing asserts on time.

mod common;
mod deploy_support;
mod streams_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::EddyNode;
use deploy_support::{
    deploy, deploy_args, describe, eddy_fails, eddy_ok, hosted_row, hosted_tasks, http_ok,
    placement, produce_lines, root_name, supervisors, task_ids, wait_until,
};
use serde_json::{json, Value};
use streams_support::{expected_counts, WordCountRun};

const APP: &str = "wc";
const INPUT: &str = "deploy-lines";
const OUTPUT: &str = "deploy-counts";
const PARTITIONS: i32 = 3;
/// The word count's sub-topologies: the split (reads the input) and the count (reads the
/// repartition topic).
const SUBTOPOLOGIES: u32 = 2;
/// Lines produced before the restart, and again after it.
const LINES: usize = 300;
/// The deployment's configs: the topology's own (its topics) and Kafka Streams'.
const CONFIGS: [&str; 3] = [
    "input.topic=deploy-lines",
    "output.topic=deploy-counts",
    "commit.interval.ms=500",
];
/// How long a deployed application may take to run all its tasks (the registry reports
/// every 5 s).
const TASKS_TIMEOUT: Duration = Duration::from_secs(90);
/// How long an undeployed application's row may stay in the tree.
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

/// Waits until the node's tree shows `topology wc` with every task running, and
/// `describe` shows every task once, running on node 1 (the leader of every partition), in
/// an instance other than `gone` (those of earlier node processes, whose last reports stay
/// in the registry until they are stale). Returns the instances that run the tasks.
fn wait_for_tasks_on_node_1(
    node: &EddyNode,
    what: &str,
    gone: &BTreeSet<String>,
) -> BTreeSet<String> {
    let bootstrap = node.bootstrap();
    let expected = task_ids(SUBTOPOLOGIES, PARTITIONS);
    wait_until(
        &format!("{what}: the tree shows topology {APP} with every task running"),
        TASKS_TIMEOUT,
        || {
            let tree = supervisors(&bootstrap)?;
            assert_eq!(root_name(&tree), "node 1", "the tree of the node asked");
            let tasks = hosted_tasks(&tree, APP).ok_or_else(|| format!("no row: {tree}"))?;
            let ids: BTreeSet<String> = tasks.keys().cloned().collect();
            if ids == expected && tasks.values().all(|s| s == "running") {
                Ok(())
            } else {
                Err(format!("tasks {tasks:?}"))
            }
        },
    );
    let described = wait_until(
        &format!("{what}: describe shows every task running on node 1"),
        TASKS_TIMEOUT,
        || {
            let described = describe(&bootstrap, APP)?;
            let nodes = placement(&described, &expected, &[1])?;
            assert!(nodes.values().all(|n| *n == 1), "{nodes:?}");
            match described.tasks.iter().find(|t| gone.contains(&t.instance)) {
                Some(old) => Err(format!("{old:?} is an earlier process's report")),
                None => Ok(described),
            }
        },
    );
    described.tasks.into_iter().map(|t| t.instance).collect()
}

/// The value of the Prometheus sample `series` (name and labels as exposed), 0 if absent.
fn counter(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.trim().parse::<f64>().ok())
        .sum()
}

#[test]
fn a_deployed_wordcount_runs_in_the_node_survives_a_restart_and_undeploys() {
    let started = Instant::now();
    let mut node = EddyNode::start();
    let bootstrap = node.bootstrap();
    common::create_topics(&node, &[(INPUT, 3), (OUTPUT, 3)]);

    // Deploy: the CLI prints the record, the admin endpoint serves it.
    let record = deploy(&bootstrap, "wordcount", APP, &CONFIGS);
    let configs = json!({
        "input.topic": INPUT,
        "output.topic": OUTPUT,
        "commit.interval.ms": "500",
    });
    assert_eq!(record["application_id"], APP, "{record}");
    assert_eq!(record["topology"], "wordcount", "{record}");
    assert_eq!(record["configs"], configs, "{record}");
    let (status, body) = http_ok(node.admin_addr(), "GET", "/deployments/wc", None);
    assert_eq!(status, 200, "{body}");
    let served: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        served, record,
        "GET /deployments/wc serves what deploy printed"
    );

    // The lines are counted exactly.
    let first = streams_support::lines(0x6a09_e667_f3bc_c908, LINES);
    let spread = produce_lines(&bootstrap, INPUT, 0, &first);
    println!("first lines per partition: {spread:?}");
    assert_eq!(
        spread.len(),
        PARTITIONS as usize,
        "the lines reach every partition"
    );
    block_on(RUN.wait_for_counts(&bootstrap, &expected_counts(&first), "first lines"));
    println!(
        "[{:6.1}s] first lines counted",
        started.elapsed().as_secs_f64()
    );
    // The instance reached its node in process: its fetches and produces never touched
    // the Kafka listener's sockets (the node counts them apart).
    let metrics = common::http_get(node.admin_addr(), "/metrics").body;
    for api in ["Fetch", "Produce"] {
        let local = counter(
            &metrics,
            &format!("eddy_local_requests_total{{api=\"{api}\"}}"),
        );
        assert!(local > 0.0, "no {api} request went in process:\n{metrics}");
        println!("{api} requests in process: {local}");
    }
    let before = wait_for_tasks_on_node_1(&node, "deployed", &BTreeSet::new());
    let described = describe(&bootstrap, APP).expect("describe");
    let internal = described.internal_topics.clone();
    assert!(!internal.is_empty(), "{}", described.raw);

    // Deploying the same again succeeds and changes nothing, through the CLI and HTTP.
    let again = deploy(&bootstrap, "wordcount", APP, &CONFIGS);
    assert_eq!(again, record, "the same deployment again keeps the record");
    let request = json!({
        "application_id": APP,
        "topology": "wordcount",
        "configs": configs,
    });
    let (status, body) = http_ok(node.admin_addr(), "POST", "/deployments", Some(&request));
    assert_eq!(status, 200, "the same deployment again answers 200: {body}");

    // Other configs under a deployed id: refused, the way out named.
    let other = [CONFIGS[0], CONFIGS[1], "commit.interval.ms=900"];
    let stderr = eddy_fails(&deploy_args(&bootstrap, "wordcount", APP, &other));
    assert!(stderr.contains("undeploy"), "{stderr}");
    // An unknown topology: refused, the known ones listed.
    let stderr = eddy_fails(&deploy_args(&bootstrap, "word-count", "wc2", &[]));
    for name in ["wordcount", "payments", "sessions", "nexmark-q0"] {
        assert!(stderr.contains(name), "{name} is listed: {stderr}");
    }
    // A per-node config: refused.
    let stderr = eddy_fails(&deploy_args(
        &bootstrap,
        "wordcount",
        "wc3",
        &["state.dir=/x"],
    ));
    assert!(stderr.contains("state.dir"), "{stderr}");
    let (status, body) = http_ok(node.admin_addr(), "GET", "/deployments", None);
    assert_eq!(status, 200, "{body}");
    let listed: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(listed, json!([record]), "only wc is deployed");

    // The deployment is in the node's metadata: it runs again after a kill -9 and a start
    // on the same data dir. The counts were committed first, so none is counted twice.
    block_on(RUN.wait_for_commits(&bootstrap, LINES as i64));
    node.kill9();
    node.restart();
    println!("[{:6.1}s] node restarted", started.elapsed().as_secs_f64());
    let (status, body) = http_ok(node.admin_addr(), "GET", "/deployments/wc", None);
    assert_eq!(status, 200, "the deployment survives the restart: {body}");
    assert_eq!(serde_json::from_str::<Value>(&body).expect("JSON"), record);
    let second = streams_support::lines(0xbb67_ae85_84ca_a73b, LINES);
    produce_lines(&bootstrap, INPUT, LINES, &second);
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    block_on(RUN.wait_for_counts(&bootstrap, &expected_counts(&all), "after the restart"));
    println!(
        "[{:6.1}s] all lines counted",
        started.elapsed().as_secs_f64()
    );
    let after = wait_for_tasks_on_node_1(&node, "restarted", &before);
    println!("instances before the restart {before:?}, after {after:?}");

    // Undeploy: the row leaves the tree, the topics stay, the deployment is gone.
    eddy_ok(&["topology", "undeploy", APP, "-b", &bootstrap]);
    wait_until(
        &format!("topology {APP} leaves the tree"),
        UNDEPLOY_TIMEOUT,
        || {
            let tree = supervisors(&bootstrap)?;
            match hosted_row(&tree, APP) {
                None => Ok(()),
                Some(row) => Err(format!("still {row}")),
            }
        },
    );
    println!("[{:6.1}s] undeployed", started.elapsed().as_secs_f64());
    let topics = eddy_ok(&["topic", "list", "-b", &bootstrap]);
    for topic in [INPUT, OUTPUT]
        .iter()
        .copied()
        .chain(internal.iter().map(String::as_str))
    {
        assert!(
            topics
                .lines()
                .any(|l| l.split_whitespace().next() == Some(topic)),
            "{topic} stays after undeploy:\n{topics}"
        );
    }
    let (status, body) = http_ok(node.admin_addr(), "GET", "/deployments/wc", None);
    assert_eq!(status, 404, "{body}");
    let stderr = eddy_fails(&["topology", "undeploy", APP, "-b", &bootstrap]);
    assert!(stderr.contains(APP), "{stderr}");
    // The counts stay as they were: undeploying commits, it does not reprocess.
    block_on(RUN.wait_for_counts(&bootstrap, &expected_counts(&all), "after undeploy"));
    node.assert_healthy();
    println!("[{:6.1}s] done", started.elapsed().as_secs_f64());
}

/// A node whose broker session timeout is below the group coordinator's minimum session
/// timeout (`group.min.session.timeout.ms`, 6 s) still runs what is deployed to it: a
/// deployed instance takes the broker session timeout as its group session timeout unless
/// `session.timeout.ms` is given, and that must be one its group accepts.
#[test]
fn a_node_with_a_short_broker_session_runs_its_deployments() {
    let node = EddyNode::start_with_args(&["--broker-session-timeout-ms", "3000"]);
    let bootstrap = node.bootstrap();
    common::create_topics(&node, &[(INPUT, 3), (OUTPUT, 3)]);
    deploy(&bootstrap, "wordcount", APP, &CONFIGS);
    let lines = streams_support::lines(0x3c6e_f372_fe94_f82b, 50);
    produce_lines(&bootstrap, INPUT, 0, &lines);
    block_on(RUN.wait_for_counts(&bootstrap, &expected_counts(&lines), "short session"));
    wait_for_tasks_on_node_1(&node, "short broker session", &BTreeSet::new());
}
