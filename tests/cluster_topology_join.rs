//! A stream–table join deployed on two topics created beforehand on different replica sets
//! ends up co-placed, with no record lost during the moves.
//!
//! Three `eddy` processes. `join-payments` and `join-users` (3 partitions, replication
//! factor 2) are created with manual replica assignments (kafka-python's
//! `replica_assignments`, as `kafka-topics --replica-assignment` sends them) that differ
//! on every partition. Half the users are written, then the stock `payments` topology (a
//! payments stream joined with the users table) is deployed as `pj`: the deployment
//! records its co-partition group — the two sources and its stores' changelogs, anchored
//! on `join-payments` — and the controller moves `join-users` onto the replicas of
//! `join-payments`, partition by partition and in the same order, with the usual safe move
//! (add the new replica, let it catch up, then drop the old). The other half of the users
//! is written by kafka-python right after the deploy, while those moves run (the test
//! prints whether moves were still planned then).
//!
//! Then: every partition *i* of `join-users` and of the application's changelogs has the
//! replicas of `join-payments`' partition *i*, in order, and the same leader; no move is
//! left; each join task runs on that leader (`eddy topology describe --json`); every user
//! record is still readable, exactly as written; and a payment of every user — written
//! once the application has committed the whole users topic — comes out enriched with
//! that user's name and country, so the table holds every user, those written during the
//! moves included.
//!
//! Every wait is bounded; nothing asserts on time (the times are printed).

mod cluster_support;
mod common;
mod deploy_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cluster_support::{Budget, Cluster, ClusterStatus};
use deploy_support::{deploy, describe, placement, produce_keyed, read_keyed, wait_until};
use serde_json::{json, Value};

const APP: &str = "pj";
const PAYMENTS: &str = "join-payments";
const USERS: &str = "join-users";
const TOTALS: &str = "join-totals";
const ENRICHED: &str = "join-enriched";
const PARTITIONS: i32 = 3;
const REPLICATION: i32 = 2;
/// Partition i of each topic, as created: every partition on another pair of nodes.
const PAYMENTS_ASSIGNMENT: [&str; 3] = ["0=1,2", "1=2,3", "2=3,1"];
const USERS_ASSIGNMENT: [&str; 3] = ["0=2,3", "1=3,1", "2=1,2"];
/// Users written before the deploy, and again during the moves.
const USERS_PER_HALF: usize = 300;
const CONFIGS: [&str; 6] = [
    "payments.topic=join-payments",
    "users.topic=join-users",
    "totals.topic=join-totals",
    "enriched.topic=join-enriched",
    "commit.interval.ms=500",
    "replication.factor=2",
];
const TEST_BUDGET: Duration = Duration::from_secs(600);
const TOPIC_SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the moves, the internal topics and the preferred leaders may take to settle.
const CO_PLACEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the instances may take to place and run every task.
const PLACEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the application may take to commit the whole users topic.
const TABLE_LOAD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the enriched payments may take to come out.
const OUTPUT_TIMEOUT: Duration = Duration::from_secs(120);
const PYTHON_TIMEOUT: Duration = Duration::from_secs(60);

/// The application's changelogs (Kafka Streams' names: application id, store, suffix).
fn changelogs() -> [String; 2] {
    [
        format!("{APP}-users-changelog"),
        format!("{APP}-payment-totals-changelog"),
    ]
}

fn user_key(i: usize) -> String {
    format!("user-{i:04}")
}

fn user_value(i: usize) -> Value {
    json!({"name": format!("Name {i}"), "country": format!("C{}", i % 7)})
}

fn users(range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range
        .map(|i| (user_key(i), user_value(i).to_string()))
        .collect()
}

/// Creates `topic` with a manual replica assignment through kafka-python.
fn create_assigned(bootstrap: &str, topic: &str, assignment: &[&str]) {
    let mut args = vec!["assign", bootstrap, topic];
    args.extend_from_slice(assignment);
    let out = common::run_python("topics_admin.py", &args, PYTHON_TIMEOUT);
    assert!(
        !out.contains("ERROR"),
        "the manual assignment of {topic} was refused: {out}"
    );
}

/// The offsets the application's group has committed on `topic`, summed over partitions.
fn committed_offsets(bootstrap: &str, topic: &str) -> Result<i64, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut admin = eddy::client::Admin::connect(bootstrap)
            .await
            .map_err(|e| e.to_string())?;
        let offsets = admin.group_offsets(APP).await.map_err(|e| e.to_string())?;
        Ok(offsets
            .iter()
            .filter(|o| o.topic == topic)
            .map(|o| o.committed_offset.max(0))
            .sum())
    })
}

/// Partition i of every topic of `followers` has the replicas of `anchor`'s partition i,
/// in order, all in sync, and the same leader: `Ok` with each partition's leader.
fn co_placed(status: &ClusterStatus, anchor: &str, followers: &[&str]) -> Result<Vec<i32>, String> {
    let anchored = status.partitions(anchor);
    if anchored.len() != PARTITIONS as usize {
        return Err(format!("{anchor} has {} partitions", anchored.len()));
    }
    let mut leaders = Vec::new();
    for a in &anchored {
        let leader = a
            .leader_id()
            .ok_or_else(|| format!("{anchor}-{} has no leader", a.partition))?;
        for topic in followers {
            let f = status
                .partition(topic, a.partition)
                .ok_or_else(|| format!("{topic}-{} does not exist yet", a.partition))?;
            if f.replicas != a.replicas || f.leader_id() != Some(leader) || !f.isr_is_full() {
                return Err(format!(
                    "{topic}-{p} has replicas {:?} (isr {:?}) led by {:?}; {anchor}-{p} has {:?} led by {leader}",
                    f.replicas,
                    f.isr,
                    f.leader_id(),
                    a.replicas,
                    p = a.partition
                ));
            }
        }
        if !a.isr_is_full() {
            return Err(format!("{anchor}-{} is not fully in sync", a.partition));
        }
        leaders.push(leader);
    }
    Ok(leaders)
}

#[test]
fn a_deployed_join_co_places_its_topics_without_losing_a_record() {
    let cluster = Cluster::start();
    let budget = Budget::start(TEST_BUDGET);
    let via = cluster.node(1).bootstrap();
    create_assigned(&via, PAYMENTS, &PAYMENTS_ASSIGNMENT);
    create_assigned(&via, USERS, &USERS_ASSIGNMENT);
    for topic in [TOTALS, ENRICHED] {
        cluster.create_topic(1, topic, PARTITIONS, REPLICATION, &[]);
    }
    for topic in [PAYMENTS, USERS, TOTALS, ENRICHED] {
        cluster.wait_until_topic_settled(topic, PARTITIONS, budget.limit(TOPIC_SETTLE_TIMEOUT));
    }
    let before = cluster.status_excluding(&[]).expect("a /cluster view");
    for p in 0..PARTITIONS {
        assert_ne!(
            before.partition(PAYMENTS, p).map(|p| p.replica_set()),
            before.partition(USERS, p).map(|p| p.replica_set()),
            "the topics start on different replica sets: {}",
            before.raw
        );
    }
    produce_keyed(&via, USERS, &users(0..USERS_PER_HALF));
    budget.log("first half of the users written");

    let record = deploy(&via, "payments", APP, &CONFIGS);
    assert_eq!(record["topology"], "payments", "{record}");
    let deployed = Instant::now();
    let planned = cluster
        .node(1)
        .moves()
        .map(|m| m.moves.len())
        .unwrap_or_default();
    println!("moves planned right after the deploy: {planned}");
    produce_keyed(
        &cluster.node(2).bootstrap(),
        USERS,
        &users(USERS_PER_HALF..2 * USERS_PER_HALF),
    );
    let still = cluster
        .node(1)
        .moves()
        .map(|m| m.moves.len())
        .unwrap_or_default();
    println!(
        "second half of the users written {:?} after the deploy; moves still planned then: {still}",
        deployed.elapsed()
    );

    // Co-placed: the users topic and the changelogs on the payments topic's replicas.
    let changelogs = changelogs();
    let mut followers = vec![USERS];
    followers.extend(changelogs.iter().map(String::as_str));
    let leaders = wait_until(
        "the join's topics co-placed on every node's view",
        budget.limit(CO_PLACEMENT_TIMEOUT),
        || {
            let mut seen = None;
            for id in cluster.ids() {
                let status = cluster.node(id).status()?;
                let leaders = co_placed(&status, PAYMENTS, &followers)?;
                let moves = cluster.node(id).moves()?;
                if !moves.moves.is_empty() {
                    return Err(format!("node {id} still plans {:?}", moves.moves));
                }
                if seen.get_or_insert_with(|| leaders.clone()) != &leaders {
                    return Err(format!("node {id} sees leaders {leaders:?}"));
                }
            }
            seen.ok_or_else(|| "no node".to_string())
        },
    );
    println!(
        "co-placed {:?} after the deploy; leaders by partition {leaders:?}",
        deployed.elapsed()
    );
    let after = cluster.status_excluding(&[]).expect("a /cluster view");
    let json: serde_json::Value = serde_json::from_str(&after.raw).expect("/cluster JSON");
    let placement_of = |topic: &str| {
        json["topics"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == topic)
            .and_then(|t| t["placement"].as_str())
            .map(str::to_string)
    };
    assert_eq!(
        placement_of(USERS).as_deref(),
        Some("follows join-payments"),
        "/cluster says why the users topic sits where it does: {}",
        after.raw
    );
    for (i, spec) in PAYMENTS_ASSIGNMENT.iter().enumerate() {
        let nodes: BTreeSet<i32> = spec[2..].split(',').map(|n| n.parse().unwrap()).collect();
        assert_eq!(
            after.partition(PAYMENTS, i as i32).map(|p| p.replica_set()),
            Some(nodes),
            "the anchor (pinned by its manual assignment) stays where it was put: {}",
            after.raw
        );
    }

    // Each join task beside the leader of its partitions.
    let expected: BTreeSet<String> = (0..PARTITIONS).map(|p| format!("0_{p}")).collect();
    let tasks = wait_until(
        "every join task running beside its partitions' leader",
        budget.limit(PLACEMENT_TIMEOUT),
        || {
            let described = describe(&via, APP)?;
            let nodes = placement(&described, &expected, &cluster.ids())?;
            for task in described.tasks.iter().filter(|t| !t.standby) {
                let inputs: BTreeSet<&str> = task.inputs.iter().map(String::as_str).collect();
                let p = task.task.trim_start_matches("0_");
                let wanted: BTreeSet<String> = [PAYMENTS, USERS]
                    .iter()
                    .map(|t| format!("{t}-{p}"))
                    .collect();
                if inputs != wanted.iter().map(String::as_str).collect() {
                    return Err(format!("{} reads {inputs:?}", task.task));
                }
            }
            Ok(nodes)
        },
    );
    for (task, node) in &tasks {
        let p: usize = task.trim_start_matches("0_").parse().expect("a partition");
        assert_eq!(
            *node, leaders[p],
            "{task} runs beside the leader of both its inputs"
        );
    }
    println!("tasks by node: {tasks:?}");

    // No user record lost or changed by the moves.
    let read = read_keyed(&via, USERS).expect("read the users topic");
    let got: BTreeMap<String, String> = read
        .iter()
        .map(|(_, k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(read.len(), 2 * USERS_PER_HALF, "every user record once");
    assert_eq!(
        got,
        users(0..2 * USERS_PER_HALF)
            .into_iter()
            .collect::<BTreeMap<_, _>>(),
        "the users topic holds what was written"
    );

    // The table has every user: a payment of each comes out enriched with its user.
    wait_until(
        "the application commits the whole users topic",
        budget.limit(TABLE_LOAD_TIMEOUT),
        || {
            let committed = committed_offsets(&via, USERS)?;
            if committed == 2 * USERS_PER_HALF as i64 {
                Ok(())
            } else {
                Err(format!("committed {committed} of the users"))
            }
        },
    );
    let payments: Vec<(String, String)> = (0..2 * USERS_PER_HALF)
        .map(|i| {
            (
                user_key(i),
                format!("made a payment of {} dollars to Bob", 1_000 + i),
            )
        })
        .collect();
    produce_keyed(&via, PAYMENTS, &payments);
    let written = Instant::now();
    let enriched = wait_until(
        "every payment enriched with its user",
        budget.limit(OUTPUT_TIMEOUT),
        || {
            let out = read_keyed(&via, ENRICHED)?;
            let mut amounts: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
            for (_, key, value) in &out {
                let v: Value = serde_json::from_str(value)
                    .map_err(|e| format!("enriched value {value:?}: {e}"))?;
                let i: usize = key
                    .trim_start_matches("user-")
                    .parse()
                    .map_err(|_| format!("unexpected key {key:?}"))?;
                let user = user_value(i);
                assert_eq!(
                    (&v["user"], &v["country"]),
                    (&user["name"], &user["country"]),
                    "{key} enriched with its own user: {value}"
                );
                amounts
                    .entry(key.clone())
                    .or_default()
                    .insert(v["amount"].as_u64().unwrap_or_default());
            }
            let missing: Vec<&String> = payments
                .iter()
                .enumerate()
                .filter(|(i, (k, _))| {
                    !amounts
                        .get(k)
                        .is_some_and(|a| a.contains(&(1_000 + *i as u64)))
                })
                .map(|(_, (k, _))| k)
                .collect();
            if missing.is_empty() {
                Ok(out.len())
            } else {
                Err(format!(
                    "{} payments not enriched yet, e.g. {:?}",
                    missing.len(),
                    &missing[..missing.len().min(5)]
                ))
            }
        },
    );
    println!(
        "{} payments enriched ({enriched} output records) {:?} after they were written",
        payments.len(),
        written.elapsed()
    );
}
