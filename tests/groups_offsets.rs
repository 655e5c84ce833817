//! Committed offsets and lag through the `eddy group` CLI: a group commits, the node is
//! killed (SIGKILL) and started again on the same data directory, the offsets are still
//! there, `eddy group describe --json` and `/metrics` show the lag of records written
//! afterwards, a new member resumes exactly at the committed offsets, and `eddy group
//! delete` refuses a group with members and deletes an empty one with its offsets.

mod common;
mod groups_support;

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::Duration;

use common::{http_get, EddyNode};
use groups_support::{
    create_topic, distinct_records, eddy_group, eddy_group_json, group_offsets, produce,
    wait_until, Lib, Member,
};
use serde_json::Value;

const TOPIC: &str = "ledger";
const GROUP: &str = "ledger-readers";
const PARTITIONS: i32 = 3;
const BACKLOG_PER_PARTITION: usize = 30;
/// Records written after the restart, by partition: the expected lag.
const LATER: [(i32, usize); 2] = [(0, 10), (1, 5)];
const CONSUME_TIMEOUT_S: u64 = 60;
/// The coordinator refreshes `eddy_group_lag` every 5 s; allow a few refreshes.
const METRIC_TIMEOUT_S: u64 = 20;
/// How long a resumed member is watched for records it should not read.
const QUIET_PERIOD_MS: u64 = 2_000;

/// The rows of `describe --json` by partition: (committed, log end, lag, member id).
type Rows = BTreeMap<i64, (Value, Value, Value, Value)>;

fn rows(described: &Value) -> Rows {
    let rows: Rows = described["partitions"]
        .as_array()
        .expect("partitions array")
        .iter()
        .map(|r| {
            assert_eq!(r["topic"], TOPIC, "{r}");
            (
                r["partition"].as_i64().expect("partition"),
                (
                    r["committed_offset"].clone(),
                    r["log_end_offset"].clone(),
                    r["lag"].clone(),
                    r["member_id"].clone(),
                ),
            )
        })
        .collect();
    let partitions: Vec<i64> = rows.keys().copied().collect();
    assert_eq!(partitions, [0, 1, 2], "{described}");
    rows
}

fn lag_metric(node: &EddyNode, partition: i32) -> Option<f64> {
    let metrics = http_get(node.admin_addr(), "/metrics").body;
    let labels = [
        format!("group=\"{GROUP}\""),
        format!("topic=\"{TOPIC}\""),
        format!("partition=\"{partition}\""),
    ];
    metrics
        .lines()
        .filter(|l| l.starts_with("eddy_group_lag{"))
        .find(|l| labels.iter().all(|label| l.contains(label.as_str())))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn offsets_survive_a_restart_and_describe_shows_the_lag() {
    let mut node = EddyNode::start();
    let all: Vec<i32> = (0..PARTITIONS).collect();
    create_topic(&node, TOPIC, PARTITIONS);
    produce(&node, TOPIC, &all, BACKLOG_PER_PARTITION);
    let backlog = BACKLOG_PER_PARTITION as i64;

    let mut first = Member::spawn(&node, Lib::Confluent, TOPIC, GROUP, "first", None);
    wait_until(
        "the first member reads and commits the backlog",
        Duration::from_secs(CONSUME_TIMEOUT_S),
        || {
            let offsets = group_offsets(&node, GROUP);
            offsets.len() == all.len() && offsets.iter().all(|o| o.committed_offset == backlog)
        },
    );
    let described = eddy_group_json(&node, &["describe", GROUP]);
    assert_eq!(described["state"], "Stable", "{described}");
    assert_eq!(described["protocol_type"], "consumer");
    let members = described["members"].as_array().expect("members");
    assert_eq!(members.len(), 1, "{described}");
    assert_eq!(members[0]["client_id"], "first");
    let member_id = members[0]["member_id"].clone();
    let assigned: Vec<i64> = members[0]["assignment"][0]["partitions"]
        .as_array()
        .expect("assigned partitions")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    assert_eq!(assigned, [0, 1, 2]);
    for (p, row) in rows(&described) {
        let expected = (backlog.into(), backlog.into(), 0.into(), member_id.clone());
        assert_eq!(row, expected, "partition {p}");
    }

    // A group with members cannot be deleted.
    let (ok, _, stderr) = eddy_group(&node, &["delete", GROUP]);
    assert!(!ok, "deleting a group with members succeeded");
    assert!(stderr.contains("still has members"), "{stderr}");
    first.close();

    node.restart();
    let listed = eddy_group_json(&node, &["list"]);
    let listed: Vec<&Value> = listed.as_array().expect("groups").iter().collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["group_id"], GROUP);
    assert_eq!(listed[0]["state"], "Empty");
    let described = eddy_group_json(&node, &["describe", GROUP]);
    assert_eq!(described["state"], "Empty", "{described}");
    assert!(described["members"].as_array().expect("members").is_empty());
    for (p, row) in rows(&described) {
        let expected = (backlog.into(), backlog.into(), 0.into(), Value::Null);
        assert_eq!(row, expected, "partition {p} after the restart");
    }

    for (p, count) in LATER {
        produce(&node, TOPIC, &[p], count);
    }
    let lag_of = |p: i32| {
        LATER
            .iter()
            .find(|(q, _)| *q == p)
            .map_or(0, |(_, count)| *count as i64)
    };
    let described = eddy_group_json(&node, &["describe", GROUP]);
    for (p, row) in rows(&described) {
        let lag = lag_of(i32::try_from(p).expect("partition"));
        let expected = (
            backlog.into(),
            (backlog + lag).into(),
            lag.into(),
            Value::Null,
        );
        assert_eq!(row, expected, "partition {p} after more records");
    }
    let (ok, text, stderr) = eddy_group(&node, &["describe", GROUP]);
    assert!(ok, "{stderr}");
    let total: i64 = LATER.iter().map(|(_, c)| *c as i64).sum();
    assert!(text.contains("LOG-END-OFFSET"), "{text}");
    assert!(text.contains(&format!("total lag: {total}")), "{text}");
    wait_until(
        "/metrics shows the group's lag",
        Duration::from_secs(METRIC_TIMEOUT_S),
        || {
            all.iter()
                .all(|&p| lag_metric(&node, p) == Some(lag_of(p) as f64))
        },
    );

    // A new member starts where the group left off: it reads the later records only.
    let mut second = Member::spawn(&node, Lib::KafkaPython, TOPIC, GROUP, "second", None);
    let later: BTreeSet<(i32, i64)> = LATER
        .iter()
        .flat_map(|&(p, count)| (backlog..backlog + count as i64).map(move |o| (p, o)))
        .collect();
    wait_until(
        "the new member reads the later records",
        Duration::from_secs(CONSUME_TIMEOUT_S),
        || distinct_records(&[&second]).is_superset(&later),
    );
    thread::sleep(Duration::from_millis(QUIET_PERIOD_MS));
    assert_eq!(
        second.records().len(),
        later.len(),
        "{:?}",
        second.records()
    );
    second.close();

    let deleted = eddy_group_json(&node, &["delete", GROUP]);
    assert_eq!(deleted["deleted"], true);
    let (ok, _, stderr) = eddy_group(&node, &["describe", GROUP]);
    assert!(!ok && stderr.contains("does not exist"), "{stderr}");
    assert!(group_offsets(&node, GROUP).is_empty());
    let listed = eddy_group_json(&node, &["list"]);
    assert_eq!(listed, Value::Array(Vec::new()));
    node.assert_healthy();
}
