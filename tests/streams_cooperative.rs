//! Cooperative rebalancing of a streams application (Kafka's KIP-429) against a real node:
//! a word count on a 4-partition input (8 tasks: before and after the repartition) runs in
//! instance A; instance B joins while A processes input. Only the tasks that move to B stop
//! in A — the ones A keeps are started once and never again (the supervisor counts each
//! task's starts, restarts after failures aside) — the moved ones run in B, each task runs
//! in exactly one instance, queries of B's keys made to A name B's `application.server`,
//! and the counts are exact (never over). Then B closes: its tasks return to A at once,
//! again without A's own tasks stopping, and the counts stay exact.
//!
//! When B crashes instead (its actix system ends: no last commit, no LeaveGroup), its
//! tasks go to A as soon as the group drops B, in one rebalance (no follow-up: nobody owns
//! them any more), and A's own tasks again never stop. Without standbys, A's stores of
//! B's tasks are as A left them: the takeover replays their whole changelog partitions.
//! With `num.standby.replicas` = 1, each stateful task has one standby, on the instance
//! that does not run it, applying every committed change of its changelog; when B crashes
//! after a quiet period (all committed, all applied), A's promoted tasks open the warm
//! stores and replay nothing.
//!
//! The instances run in the test process, each with its own state directory (in one actix
//! system, or B in a thread and system of its own to crash it); the node is the real
//! `eddy` binary (`EddyNode`). No timed assertion: every wait is bounded and checks a
//! state.

mod common;
mod streams_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::EddyNode;
use eddy::client::{Admin, Consumer, StartOffset};
use eddy::streams::{KafkaStreams, QueryError, StreamsSettings};
use eddy::topologies::{StreamsBuilder, Topology};
use eddy_actors::supervision::ChildState;
use streams_support::{expected_counts, WordCountRun, POLL, WAIT_LIMIT};

const INPUT: &str = "coop-lines";
const OUTPUT: &str = "coop-counts";
const APP: &str = "coop-wordcount";
const STORE: &str = "counts";
const PARTITIONS: i32 = 4;
/// Lines fed in all, in three equal parts: A alone, while B joins, while B leaves.
const LINES: usize = 900;
const COMMIT_INTERVAL: Duration = Duration::from_millis(200);
/// Bound of every wait for counts or tasks.
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
        .named(STORE)
        .to_stream()
        .to(OUTPUT);
    builder.build().expect("topology builds")
}

fn lines() -> Vec<String> {
    streams_support::lines(0x51_7cc1_b727_220a, LINES)
}

/// The changelog of the count's store.
fn changelog() -> String {
    format!("{APP}-{STORE}-changelog")
}

/// The stateful tasks (the count's sub-topology, one per partition) by id, with their
/// partition.
fn stateful_tasks() -> BTreeMap<String, i32> {
    let (subtopology, _) = topology()
        .store_owner(STORE)
        .expect("the count has its store");
    (0..PARTITIONS)
        .map(|p| (format!("{subtopology}_{p}"), p))
        .collect()
}

/// The records in each partition of the count's changelog, read to its end.
async fn changelog_records(bootstrap: &str) -> BTreeMap<i32, u64> {
    let topic = changelog();
    let mut consumer = Consumer::connect(bootstrap)
        .await
        .expect("consumer connects");
    let partitions: Vec<i32> = (0..PARTITIONS).collect();
    consumer
        .assign(&topic, &partitions, StartOffset::Earliest)
        .await
        .expect("assign the changelog");
    let mut counts: BTreeMap<i32, u64> = partitions.iter().map(|p| (*p, 0)).collect();
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        for record in consumer.poll(POLL).await.expect("poll the changelog") {
            *counts.entry(record.partition).or_insert(0) += 1;
        }
        let caught_up = partitions.iter().all(|p| {
            consumer.position(&topic, *p).unwrap_or(0)
                >= consumer.high_watermark(&topic, *p).unwrap_or(i64::MAX)
        });
        if caught_up {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} was not read to its end within {WAIT_LIMIT:?}"
        );
    }
}

/// One standby task as the test looks at it: its state and the changes it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StandbyView {
    state: ChildState,
    applied: u64,
}

/// The instance's standby tasks by id (`1_2`), from its supervisor's report.
async fn standby_views(streams: &KafkaStreams) -> BTreeMap<String, StandbyView> {
    let (_, tasks) = streams.report().await.expect("the supervisor answers");
    tasks
        .into_iter()
        .filter(|t| t.standby)
        .map(|t| {
            let view = StandbyView {
                state: t.supervision.state,
                applied: t.processed_records,
            };
            (t.id.to_string(), view)
        })
        .collect()
}

fn settings(bootstrap: &str, state_dir: &Path) -> StreamsSettings {
    let mut settings = StreamsSettings::new(APP, bootstrap);
    settings.commit_interval = COMMIT_INTERVAL;
    settings.state_dir = state_dir.to_path_buf();
    settings.application_server = Some("127.0.0.1:0".into());
    settings.session_timeout = Duration::from_secs(6);
    settings.heartbeat_interval = Duration::from_millis(300);
    settings
}

/// One task as the test looks at it in an instance's report.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TaskView {
    state: ChildState,
    starts: u64,
    restarts: u64,
    /// Changelog records its current run replayed before processing.
    restored: u64,
}

/// The instance's (active) tasks by id (`0_1`), from its supervisor's report.
async fn task_views(streams: &KafkaStreams) -> BTreeMap<String, TaskView> {
    let (_, tasks) = streams.report().await.expect("the supervisor answers");
    tasks
        .into_iter()
        .filter(|t| !t.standby)
        .map(|t| {
            let id = t
                .supervision
                .name
                .strip_prefix("task ")
                .unwrap_or(&t.supervision.name)
                .to_string();
            let view = TaskView {
                state: t.supervision.state,
                starts: t.starts,
                restarts: t.supervision.restarts,
                restored: t.restored_records,
            };
            (id, view)
        })
        .collect()
}

fn ids(streams: &KafkaStreams) -> BTreeSet<String> {
    streams.tasks().iter().map(ToString::to_string).collect()
}

/// Waits until the instances' assignments are `counts` (tasks per instance), cover every
/// task, and every task runs. Returns each instance's tasks.
async fn wait_for_split(instances: &[&KafkaStreams], counts: &[usize]) -> Vec<BTreeSet<String>> {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let sets: Vec<BTreeSet<String>> = instances.iter().map(|s| ids(s)).collect();
        let sizes: Vec<usize> = sets.iter().map(BTreeSet::len).collect();
        let mut running = true;
        for (streams, set) in instances.iter().zip(&sets) {
            let views = task_views(streams).await;
            let live: BTreeSet<String> = views
                .iter()
                .filter(|(_, v)| v.state == ChildState::Running)
                .map(|(id, _)| id.clone())
                .collect();
            running &= live == *set && views.len() == set.len();
        }
        if sizes == counts && running {
            return sets;
        }
        assert!(
            Instant::now() < deadline,
            "the tasks did not settle to {counts:?} running within {WAIT_LIMIT:?}: {sets:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Asserts every task of `tasks` in `streams` ran without a stop: started `starts` times
/// for assignments, never restarted.
async fn assert_started(streams: &KafkaStreams, tasks: &BTreeSet<String>, starts: u64, what: &str) {
    let views = task_views(streams).await;
    for id in tasks {
        let view = views
            .get(id)
            .unwrap_or_else(|| panic!("{what}: task {id} is not running: {views:?}"));
        assert_eq!(
            (view.starts, view.restarts),
            (starts, 0),
            "{what}: task {id} was started {} time(s), restarted {} (all: {views:?})",
            view.starts,
            view.restarts
        );
    }
}

async fn create_topics(bootstrap: &str) {
    let mut admin = Admin::connect(bootstrap).await.expect("admin connects");
    for topic in [INPUT, OUTPUT] {
        admin
            .create_topic(topic, PARTITIONS, 1, &[])
            .await
            .unwrap_or_else(|err| panic!("create topic {topic}: {err}"));
    }
}

async fn start(bootstrap: &str, state_dir: &Path, name: &str) -> KafkaStreams {
    start_with(bootstrap, state_dir, name, 0).await
}

/// Starts an instance with `standby_replicas` (`num.standby.replicas`).
async fn start_with(
    bootstrap: &str,
    state_dir: &Path,
    name: &str,
    standby_replicas: usize,
) -> KafkaStreams {
    let mut settings = settings(bootstrap, state_dir);
    settings.num_standby_replicas = standby_replicas;
    KafkaStreams::start(topology(), settings)
        .await
        .unwrap_or_else(|err| panic!("{name} starts: {err}"))
}

/// Waits until the standbys are `expected` (id → changes applied) on `streams`, each
/// running; fails fast when one applied more than expected.
async fn wait_for_standbys(streams: &KafkaStreams, expected: &BTreeMap<String, u64>, what: &str) {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let views = standby_views(streams).await;
        let applied: BTreeMap<String, u64> = views
            .iter()
            .map(|(id, v)| (id.clone(), v.applied))
            .collect();
        let running = views.values().all(|v| v.state == ChildState::Running);
        if applied == *expected && running {
            return;
        }
        for (id, view) in &views {
            if let Some(max) = expected.get(id) {
                assert!(
                    view.applied <= *max,
                    "{what}: standby {id} applied {} changes, its changelog has {max}",
                    view.applied
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the standbys did not reach {expected:?} within {WAIT_LIMIT:?}: {views:?}"
        );
        tokio::time::sleep(POLL).await;
    }
}

#[test]
fn only_the_moved_tasks_stop_when_an_instance_joins_and_leaves() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let all = lines();
    let third = LINES / 3;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    actix_rt::System::new().block_on(async {
        create_topics(&bootstrap).await;

        // A alone runs all 8 tasks.
        let a = start(&bootstrap, a_dir.path(), "A").await;
        let every = wait_for_split(&[&a], &[8]).await.remove(0);
        assert_started(&a, &every, 1, "A alone").await;
        RUN.produce(&bootstrap, 0, &all[..third]).await;
        RUN.wait_for_counts(&bootstrap, &expected_counts(&all[..third]), "A alone")
            .await;

        // B joins while A has input to process.
        RUN.produce(&bootstrap, third, &all[third..2 * third]).await;
        let b = start(&bootstrap, b_dir.path(), "B").await;
        let split = wait_for_split(&[&a, &b], &[4, 4]).await;
        let (kept, moved) = (split[0].clone(), split[1].clone());
        assert!(
            kept.is_disjoint(&moved),
            "a task in both: {kept:?} {moved:?}"
        );
        let union: BTreeSet<String> = kept.union(&moved).cloned().collect();
        assert_eq!(union, every, "every task runs somewhere");
        // The tasks A kept were never stopped; B started each of its tasks once.
        assert_started(&a, &kept, 1, "A after B joined").await;
        assert_started(&b, &moved, 1, "B after it joined").await;
        let first_two = expected_counts(&all[..2 * third]);
        RUN.wait_for_counts(&bootstrap, &first_two, "while B joined")
            .await;

        // Queries: each word is answered by the instance that counts it; A names B's
        // application.server for the words B counts.
        let b_server = b
            .application_server()
            .expect("B serves queries")
            .to_string();
        let (mut on_a, mut on_b) = (0, 0);
        for (word, count) in &first_two {
            match a.query_typed::<String, u64>(STORE, word).await {
                Ok(found) => {
                    assert_eq!(found, Some(*count), "A's count of {word}");
                    on_a += 1;
                }
                Err(QueryError::NotLocal { task, host }) => {
                    assert!(moved.contains(&task.to_string()), "{word}: {task} not B's");
                    assert_eq!(host.as_deref(), Some(b_server.as_str()), "{word}");
                    let found = b.query_typed::<String, u64>(STORE, word).await;
                    assert_eq!(
                        found.expect("B answers"),
                        Some(*count),
                        "B's count of {word}"
                    );
                    on_b += 1;
                }
                Err(err) => panic!("query of {word} through A: {err}"),
            }
        }
        assert!(on_a > 0 && on_b > 0, "words on A: {on_a}, on B: {on_b}");

        // B closes (committing, then leaving): its tasks return to A at once, and A's own
        // tasks go on.
        RUN.produce(&bootstrap, 2 * third, &all[2 * third..]).await;
        b.close().await;
        let back = wait_for_split(&[&a], &[8]).await.remove(0);
        assert_eq!(back, every);
        assert_started(&a, &kept, 1, "A after B left").await;
        assert_started(&a, &moved, 2, "A after B left (tasks back from B)").await;
        RUN.wait_for_counts(&bootstrap, &expected_counts(&all), "after B left")
            .await;
        a.close().await;
    });
    let mut node = node;
    node.assert_healthy();
}

#[test]
fn a_crashed_instances_tasks_go_to_the_other_without_stopping_its_own() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let all = lines();
    let half = LINES / 2;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    actix_rt::System::new().block_on(async {
        create_topics(&bootstrap).await;
        let a = start(&bootstrap, a_dir.path(), "A").await;
        let every = wait_for_split(&[&a], &[8]).await.remove(0);

        // B in a thread and actix system of its own, until told to crash.
        let (b_started, b_tasks) = tokio::sync::oneshot::channel();
        let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
        let b_bootstrap = bootstrap.clone();
        let b_state = b_dir.path().to_path_buf();
        let b = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let b = start(&b_bootstrap, &b_state, "B").await;
                let tasks = wait_for_split(&[&b], &[4]).await.remove(0);
                assert_started(&b, &tasks, 1, "B after it joined").await;
                let _ = b_started.send(tasks);
                let _ = crashed.await;
                // Returning ends the system with B's tasks and membership in it.
                std::mem::forget(b);
            })
        });
        let moved = b_tasks.await.expect("B started");
        let kept = wait_for_split(&[&a], &[4]).await.remove(0);
        assert!(
            kept.is_disjoint(&moved),
            "a task in both: {kept:?} {moved:?}"
        );
        assert_eq!(kept.union(&moved).cloned().collect::<BTreeSet<_>>(), every);
        assert_started(&a, &kept, 1, "A after B joined").await;

        RUN.produce(&bootstrap, 0, &all[..half]).await;
        RUN.wait_for_counts(&bootstrap, &expected_counts(&all[..half]), "two instances")
            .await;
        // Everything committed: B's crash loses no progress the test could count twice.
        RUN.wait_for_commits(&bootstrap, half as i64).await;

        let _ = crash.send(());
        b.join().expect("B's thread");
        // Once the group drops B (its session times out), A takes B's tasks in one
        // rebalance and keeps its own running.
        let back = wait_for_split(&[&a], &[8]).await.remove(0);
        assert_eq!(back, every);
        assert_started(&a, &kept, 1, "A after B crashed").await;
        assert_started(&a, &moved, 2, "A after B crashed (tasks back from B)").await;
        // Without standbys, A's stores of B's stateful tasks are as A left them (before
        // any input): the takeover replays their whole changelog partitions.
        let changes = changelog_records(&bootstrap).await;
        let views = task_views(&a).await;
        for (id, partition) in stateful_tasks() {
            if moved.contains(&id) {
                eprintln!(
                    "without standbys: task {id} restored {} of its changelog's {} records",
                    views[&id].restored, changes[&partition]
                );
                assert_eq!(views[&id].restored, changes[&partition], "task {id}");
            }
        }
        RUN.produce(&bootstrap, half, &all[half..]).await;
        RUN.wait_for_counts(&bootstrap, &expected_counts(&all), "after B crashed")
            .await;
        a.close().await;
    });
    let mut node = node;
    node.assert_healthy();
}

/// The same crash with `num.standby.replicas` = 1: each stateful task has one standby, on
/// the other instance, which applies every committed change of its changelog; B crashes
/// once everything is committed and applied, and A's tasks taken over from B start from
/// the standbys' warm stores, replaying nothing, while A's own tasks never stop.
#[test]
fn standbys_make_a_crashed_instances_tasks_start_warm_on_the_other() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let all = lines();
    let half = LINES / 2;
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let stateful = stateful_tasks();

    actix_rt::System::new().block_on(async {
        create_topics(&bootstrap).await;
        let a = start_with(&bootstrap, a_dir.path(), "A", 1).await;
        let every = wait_for_split(&[&a], &[8]).await.remove(0);
        assert!(
            standby_views(&a).await.is_empty(),
            "alone, A has nowhere to keep standbys"
        );

        // B in a thread and actix system of its own, until told to crash; the test reads
        // it from here meanwhile.
        let (b_started, b_ready) = tokio::sync::oneshot::channel::<Arc<KafkaStreams>>();
        let (crash, crashed) = tokio::sync::oneshot::channel::<()>();
        let b_bootstrap = bootstrap.clone();
        let b_state = b_dir.path().to_path_buf();
        let b_thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let b = Arc::new(start_with(&b_bootstrap, &b_state, "B", 1).await);
                let _ = b_started.send(b.clone());
                let _ = crashed.await;
                // Returning ends the system with B's tasks and membership in it.
                std::mem::forget(b);
            })
        });
        let b = b_ready.await.expect("B started");
        let split = wait_for_split(&[&a, &b], &[4, 4]).await;
        let (kept, moved) = (split[0].clone(), split[1].clone());
        assert!(
            kept.is_disjoint(&moved),
            "a task in both: {kept:?} {moved:?}"
        );
        assert_eq!(kept.union(&moved).cloned().collect::<BTreeSet<_>>(), every);
        assert_started(&a, &kept, 1, "A after B joined").await;
        assert_started(&b, &moved, 1, "B after it joined").await;
        assert!(
            moved.iter().any(|t| stateful.contains_key(t)),
            "B runs no stateful task: nothing to take over warm ({moved:?})"
        );

        // Each stateful task has exactly one standby, on the instance that does not run it.
        let standbys_of = |active: &BTreeSet<String>, changes: &BTreeMap<i32, u64>| {
            stateful
                .iter()
                .filter(|(id, _)| active.contains(*id))
                .map(|(id, p)| (id.clone(), changes.get(p).copied().unwrap_or(0)))
                .collect::<BTreeMap<String, u64>>()
        };
        let nothing = BTreeMap::new();
        wait_for_standbys(&a, &standbys_of(&moved, &nothing), "A's standbys").await;
        wait_for_standbys(&b, &standbys_of(&kept, &nothing), "B's standbys").await;

        RUN.produce(&bootstrap, 0, &all[..half]).await;
        RUN.wait_for_counts(&bootstrap, &expected_counts(&all[..half]), "two instances")
            .await;
        RUN.wait_for_commits(&bootstrap, half as i64).await;
        // Every word of the input changed its count once: one changelog record each.
        let changes = changelog_records(&bootstrap).await;
        let words: u64 = expected_counts(&all[..half]).values().sum();
        assert_eq!(
            changes.values().sum::<u64>(),
            words,
            "changelog: {changes:?}"
        );
        // Quiet: everything is committed, so each standby applies its whole partition.
        wait_for_standbys(&a, &standbys_of(&moved, &changes), "A's standbys caught up").await;
        wait_for_standbys(&b, &standbys_of(&kept, &changes), "B's standbys caught up").await;
        assert_started(&a, &kept, 1, "A with standbys caught up").await;
        assert_started(&b, &moved, 1, "B with standbys caught up").await;

        drop(b);
        let _ = crash.send(());
        b_thread.join().expect("B's thread");
        // Once the group drops B, A takes B's tasks in one rebalance and keeps its own.
        let back = wait_for_split(&[&a], &[8]).await.remove(0);
        assert_eq!(back, every);
        assert_started(&a, &kept, 1, "A after B crashed").await;
        assert_started(&a, &moved, 2, "A after B crashed (tasks back from B)").await;
        // The promoted standbys' stores were current: the takeover replays nothing.
        let views = task_views(&a).await;
        for (id, partition) in &stateful {
            if moved.contains(id) {
                eprintln!(
                    "with standbys: task {id} restored {} of its changelog's {} records",
                    views[id].restored, changes[partition]
                );
                assert_eq!(views[id].restored, 0, "task {id} after the takeover");
            }
        }
        assert!(
            standby_views(&a).await.is_empty(),
            "alone again, A keeps no standby"
        );

        RUN.produce(&bootstrap, half, &all[half..]).await;
        RUN.wait_for_counts(&bootstrap, &expected_counts(&all), "after B crashed")
            .await;
        a.close().await;
    });
    let mut node = node;
    node.assert_healthy();
}
