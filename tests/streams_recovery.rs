//! A word count survives `kill -9` of the node it runs against. The application runs in
//! the test process (an actix `System` with `KafkaStreams`, commit interval 200 ms); the
//! node is the real `eddy` binary (`EddyNode`). The input is fed in two halves; between
//! them — once the first half is counted and committed — the node is killed with SIGKILL
//! and restarted on the same data directory. While it is down the stream tasks' client
//! calls fail and their supervisor restarts them; they must come back (not give up), rebuild
//! their stores from the changelog topics, and after the second half the latest count per
//! word in the output topic must be exactly what an uninterrupted run counts.
//!
//! The stores' local state (`state.dir`) is kept between runs, so a restarted instance
//! replays only the changelog records after its checkpoints; with the state directory
//! deleted, it rebuilds every store from the whole changelogs, and queries answer as
//! before.

mod common;
mod streams_support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::EddyNode;
use eddy::client::Admin;
use eddy::streams::{KafkaStreams, StreamsSettings};
use eddy::topologies::{StreamsBuilder, TaskId, Topology};
use eddy_actors::supervision::ChildState;
use streams_support::{expected_counts, WordCountRun, POLL, WAIT_LIMIT};

const INPUT: &str = "recovery-lines";
const OUTPUT: &str = "recovery-counts";
const APP: &str = "recovery-wordcount";
const PARTITIONS: i32 = 2;
/// Lines fed in all (half before the crash, half after).
const LINES: usize = 600;
const COMMIT_INTERVAL: Duration = Duration::from_millis(200);
/// The node fsyncs every append, as in `durability_kill9.rs`. A kill -9 keeps the page
/// cache, so these tests would pass without it: they prove recovery from a crash of the
/// process, not from a power loss (`durability_fsync.rs` checks the fsync itself).
const FSYNC_EVERY_APPEND: [&str; 2] = ["--log-flush-interval-messages", "1"];
/// How long the node stays down: long enough for every task to notice.
const DOWNTIME: Duration = Duration::from_secs(3);
/// The application's topics and group, as the shared waits read them.
const RUN: WordCountRun = WordCountRun {
    input: INPUT,
    output: OUTPUT,
    app: APP,
    partitions: PARTITIONS,
};

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(INPUT)
        .flat_map_values(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone())
        .count()
        .named("counts")
        .to_stream()
        .to(OUTPUT);
    builder.build().expect("topology builds")
}

/// Deterministic input (its own seed, so the two test files do not read the same lines).
fn lines() -> Vec<String> {
    streams_support::lines(0x2545_f491_4f6c_dd1d, LINES)
}

/// Waits until every task is running again after the node came back.
async fn wait_for_tasks_running(streams: &KafkaStreams) -> u64 {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let (_, tasks) = streams.report().await.expect("the supervisor answers");
        let failed: Vec<_> = tasks
            .iter()
            .filter(|t| t.supervision.state == ChildState::Failed)
            .collect();
        assert!(
            failed.is_empty(),
            "stream tasks gave up after the node restart (restart intensity exceeded while the \
             node was down): {failed:#?}"
        );
        if tasks
            .iter()
            .all(|t| t.supervision.state == ChildState::Running)
        {
            return tasks.iter().map(|t| t.supervision.restarts).sum();
        }
        assert!(
            Instant::now() < deadline,
            "stream tasks did not come back within {WAIT_LIMIT:?}: {tasks:#?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Creates the topics, starts the application, feeds the first half and waits until it is
/// counted and committed.
async fn first_half(bootstrap: &str, first: &[String], state_dir: &Path) -> KafkaStreams {
    let mut admin = Admin::connect(bootstrap).await.expect("admin connects");
    for topic in [INPUT, OUTPUT] {
        admin
            .create_topic(topic, PARTITIONS, 1, &[])
            .await
            .unwrap_or_else(|err| panic!("create topic {topic}: {err}"));
    }
    let streams = start_app(bootstrap, state_dir).await;
    assert_eq!(
        streams.tasks().len(),
        2 * PARTITIONS as usize,
        "two sub-topologies (before and after the repartition) per partition"
    );
    RUN.produce(bootstrap, 0, first).await;
    RUN.wait_for_counts(bootstrap, &expected_counts(first), "first half")
        .await;
    RUN.wait_for_commits(bootstrap, first.len() as i64).await;
    let before = wait_for_tasks_running(&streams).await;
    assert_eq!(before, 0, "no task restarted before the crash");
    streams
}

async fn start_app(bootstrap: &str, state_dir: &Path) -> KafkaStreams {
    KafkaStreams::start(topology(), settings(bootstrap, state_dir))
        .await
        .expect("streams start")
}

fn settings(bootstrap: &str, state_dir: &Path) -> StreamsSettings {
    let mut settings = StreamsSettings::new(APP, bootstrap);
    settings.commit_interval = COMMIT_INTERVAL;
    settings.state_dir = state_dir.to_path_buf();
    // A restarted instance rejoins the group; an old member that never left is dropped
    // after this (the broker's least session timeout).
    settings.session_timeout = Duration::from_secs(6);
    settings.heartbeat_interval = Duration::from_millis(300);
    settings
}

/// Feeds the second half and checks the final counts against an uninterrupted run's.
async fn second_half(bootstrap: &str, first_len: usize, second: &[String]) {
    let expected_all = expected_counts(&lines());
    RUN.produce(bootstrap, first_len, second).await;
    RUN.wait_for_counts(bootstrap, &expected_all, "after the crash")
        .await;
    let counts = RUN.latest_counts(bootstrap).await.expect("read the output");
    assert_eq!(counts, expected_all, "exact counts of an uninterrupted run");
    RUN.wait_for_commits(bootstrap, LINES as i64).await;
}

/// The running application rides out the node's crash: its tasks are restarted by their
/// supervisor, come back once the node is up again, and the counts stay exact.
#[test]
fn word_count_survives_kill9_of_the_node() {
    let node = EddyNode::start_with_args(&FSYNC_EVERY_APPEND);
    let bootstrap = node.bootstrap();
    let node = Arc::new(Mutex::new(node));
    let all = lines();
    let (first, second) = all.split_at(LINES / 2);
    let state = tempfile::tempdir().expect("state dir");

    let for_app = node.clone();
    actix_rt::System::new().block_on(async move {
        let node = for_app;
        let streams = first_half(&bootstrap, first, state.path()).await;

        // SIGKILL the node; the tasks' client calls now fail.
        let killer = node.clone();
        tokio::task::spawn_blocking(move || killer.lock().expect("node lock").kill9())
            .await
            .expect("kill9");
        tokio::time::sleep(DOWNTIME).await;
        let (_, down) = streams.report().await.expect("the supervisor answers");
        let restarter = node.clone();
        tokio::task::spawn_blocking(move || restarter.lock().expect("node lock").restart())
            .await
            .expect("restart");

        // While the node is down the tasks wait and retry (state restarting, the connection
        // error recorded) rather than crash: an unreachable cluster is not a task failure.
        assert!(
            down.iter()
                .any(|t| t.supervision.state == ChildState::Restarting
                    && t.supervision.last_error.is_some()),
            "the tasks noticed the crash (report while down: {down:#?})"
        );
        wait_for_tasks_running(&streams).await;
        second_half(&bootstrap, first.len(), second).await;
    });
    node.lock().expect("node lock").assert_healthy();
}

/// The same crash, but the application is restarted after the node is back (a new
/// instance in a new actix system, as an operator would): its stores are rebuilt from the
/// changelog topics the node kept and it resumes from the committed offsets.
#[test]
fn word_count_restarted_after_kill9_of_the_node_keeps_exact_counts() {
    let mut node = EddyNode::start_with_args(&FSYNC_EVERY_APPEND);
    let bootstrap = node.bootstrap();
    let all = lines();
    let (first, second) = all.split_at(LINES / 2);
    let state = tempfile::tempdir().expect("state dir");

    let app = actix_rt::System::new();
    app.block_on(async {
        // Its tasks stay in the system (they only run while it is driven).
        drop(first_half(&bootstrap, first, state.path()).await);
    });
    // The node dies under the running application, which then runs through the outage.
    node.kill9();
    app.block_on(async { tokio::time::sleep(DOWNTIME).await });
    // The first instance ends with its actix system.
    drop(app);
    node.restart();

    actix_rt::System::new().block_on(async {
        let streams = start_app(&bootstrap, state.path()).await;
        let restarts = wait_for_tasks_running(&streams).await;
        assert_eq!(restarts, 0, "the new instance's tasks started cleanly");
        // Everything was committed and checkpointed before the crash: the local stores
        // are current, and replaying the whole changelogs (at least one record per word)
        // would mean the checkpoints were not used.
        let restored = restored_records(&streams).await;
        let words = expected_counts(first).len() as u64;
        assert!(
            restored < words,
            "the stores resumed from their checkpoints ({restored} changelog records \
             replayed; a full restore replays at least {words})"
        );
        second_half(&bootstrap, first.len(), second).await;
    });
    node.assert_healthy();
}

/// Changelog records the running tasks replayed into their stores when they started.
async fn restored_records(streams: &KafkaStreams) -> u64 {
    let (_, tasks) = streams.report().await.expect("the supervisor answers");
    tasks.iter().map(|t| t.restored_records).sum()
}

/// Every word's count as the application's `counts` store answers it.
async fn query_counts(streams: &KafkaStreams, words: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in words {
        let deadline = Instant::now() + WAIT_LIMIT;
        let count = loop {
            match streams.query_typed::<String, u64>("counts", word).await {
                Ok(Some(count)) => break count,
                Ok(None) => panic!("the store has no count for '{word}'"),
                Err(err) if err.is_retriable() && Instant::now() < deadline => {
                    tokio::time::sleep(POLL).await;
                }
                Err(err) => panic!("query of '{word}': {err}"),
            }
        };
        counts.insert(word.clone(), count);
    }
    counts
}

/// The local stores are lost between two runs (the application's state directory is
/// deleted): the next instance rebuilds them from the changelog topics, its queries answer
/// what the first instance's did, and counting goes on exactly.
#[test]
fn deleted_local_stores_are_rebuilt_from_the_changelogs() {
    let mut node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let all = lines();
    let (first, second) = all.split_at(LINES / 2);
    let expected_first = expected_counts(first);
    let words: Vec<String> = expected_first.keys().cloned().collect();
    let state = tempfile::tempdir().expect("state dir");

    let app = actix_rt::System::new();
    let before = app.block_on(async {
        let streams = first_half(&bootstrap, first, state.path()).await;
        let counts = query_counts(&streams, &words).await;
        streams.close().await;
        counts
    });
    // The first instance ends with its actix system, which closes its stores.
    drop(app);
    assert_eq!(before, expected_first, "the first instance's queries");
    let local = state.path().join(APP);
    assert!(
        local.is_dir(),
        "the stores were on disk in {}",
        local.display()
    );
    std::fs::remove_dir_all(&local).expect("delete the local state");

    actix_rt::System::new().block_on(async {
        let streams = start_app(&bootstrap, state.path()).await;
        wait_for_tasks_running(&streams).await;
        let restored = restored_records(&streams).await;
        assert!(
            restored >= words.len() as u64,
            "every store was rebuilt from its changelog ({restored} records replayed for \
             {} words)",
            words.len()
        );
        assert_eq!(
            query_counts(&streams, &words).await,
            before,
            "queries answer the same after the rebuild"
        );
        second_half(&bootstrap, first.len(), second).await;
    });
    node.assert_healthy();
}

/// Starts an instance that serves queries on a free loopback port.
async fn start_serving_app(bootstrap: &str, state_dir: &Path) -> KafkaStreams {
    let mut settings = settings(bootstrap, state_dir);
    settings.application_server = Some("127.0.0.1:0".into());
    KafkaStreams::start(topology(), settings)
        .await
        .expect("streams start")
}

/// Waits until the instance runs `count` tasks.
async fn wait_for_task_count(streams: &KafkaStreams, count: usize, what: &str) -> Vec<TaskId> {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let tasks = streams.tasks();
        if tasks.len() == count {
            return tasks;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the instance runs {tasks:?}, not {count} tasks, after {WAIT_LIMIT:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A word's count read over HTTP from `server`, following a redirect to the instance
/// that owns the word.
async fn http_count(server: SocketAddr, word: &str) -> Option<u64> {
    let url = format!("http://{server}/topologies/{APP}/stores/counts?key={word}");
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let response = reqwest::get(&url).await.expect("query over HTTP");
        let status = response.status();
        let body: serde_json::Value =
            serde_json::from_str(&response.text().await.expect("body")).expect("JSON answer");
        if status.is_success() {
            return body["value"].as_u64();
        }
        let retriable = body["retriable"].as_bool() == Some(true);
        assert!(
            retriable && Instant::now() < deadline,
            "query of '{word}': {status} {body}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The instances `eddy topology describe --json` reports the tasks of, once it reports
/// `tasks` tasks.
async fn reported_instances(bootstrap: &str, tasks: usize) -> std::collections::BTreeSet<String> {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let args = ["topology", "describe", APP, "--json", "-b", bootstrap].map(String::from);
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_eddy"))
                .args(&args)
                .output()
                .expect("run eddy topology describe")
        })
        .await
        .expect("join");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let rows = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["application"]["tasks"].as_array().cloned())
            .unwrap_or_default();
        if rows.len() == tasks {
            return rows
                .iter()
                .filter_map(|r| r["instance"].as_str().map(String::from))
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "describe never showed {tasks} tasks: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Two instances of one application split its tasks through the application's group; a
/// key of the other instance's tasks is answered by that instance (the HTTP query
/// server redirects there). When one instance crashes — its actix system ends without
/// closing it: no LeaveGroup, no last commit — the other takes its tasks over once the
/// session times out, rebuilds their stores from the changelogs, and the counts stay
/// exact.
#[test]
fn two_instances_split_the_tasks_and_one_takes_over_when_the_other_crashes() {
    let mut node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let all = lines();
    let (first, second) = all.split_at(LINES / 2);
    let expected_first = expected_counts(first);
    let (state_a, state_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let every_task = 2 * PARTITIONS as usize;

    actix_rt::System::new().block_on(async {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin connects");
        for topic in [INPUT, OUTPUT] {
            admin
                .create_topic(topic, PARTITIONS, 1, &[])
                .await
                .unwrap_or_else(|err| panic!("create topic {topic}: {err}"));
        }
        let a = start_serving_app(&bootstrap, state_a.path()).await;
        wait_for_task_count(&a, every_task, "alone").await;

        // Instance B in a thread and actix system of its own, until told to crash.
        let (b_started, b_tasks) = tokio::sync::oneshot::channel();
        let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
        let b_bootstrap = bootstrap.clone();
        let b_state = state_b.path().to_path_buf();
        let b = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let b = start_serving_app(&b_bootstrap, &b_state).await;
                let tasks = wait_for_task_count(&b, every_task / 2, "B joined").await;
                let _ = b_started.send((tasks, b.application_server().expect("B serves")));
                let _ = crashed.await;
                // Returning ends the system with B's tasks and membership in it.
                std::mem::forget(b);
            })
        });
        let (tasks_b, server_b) = b_tasks.await.expect("B started");
        let tasks_a = wait_for_task_count(&a, every_task / 2, "A after B joined").await;
        assert!(
            tasks_a.iter().all(|t| !tasks_b.contains(t)),
            "no task runs twice: A {tasks_a:?}, B {tasks_b:?}"
        );
        let group = admin.describe_group(APP).await.expect("describe the group");
        assert_eq!(
            group.members.len(),
            2,
            "both instances in the group: {group:?}"
        );

        RUN.produce(&bootstrap, 0, first).await;
        RUN.wait_for_counts(&bootstrap, &expected_first, "two instances")
            .await;
        // Every count through A's query server: B's keys are redirected to B.
        let server_a = a.application_server().expect("A serves");
        let mut redirected = 0;
        for (word, count) in &expected_first {
            if let Err(err) = a.query("counts", word.as_bytes()).await {
                let owner = server_b.to_string();
                assert!(err.to_string().contains(&owner), "{err}");
                redirected += 1;
            }
            assert_eq!(http_count(server_a, word).await, Some(*count), "{word}");
        }
        assert!(
            redirected > 0 && redirected < expected_first.len(),
            "the words are split between the instances ({redirected} of {} on B)",
            expected_first.len()
        );

        // `eddy topology describe`, from another process, shows both instances' tasks.
        let instances = reported_instances(&bootstrap, every_task).await;
        assert_eq!(
            instances.len(),
            2,
            "tasks reported by two instances: {instances:?}"
        );

        let _ = crash.send(());
        b.join().expect("B's thread");
        wait_for_task_count(&a, every_task, "A after B crashed").await;
        wait_for_tasks_running(&a).await;
        second_half(&bootstrap, first.len(), second).await;
        a.close().await;
    });
    node.assert_healthy();
}
