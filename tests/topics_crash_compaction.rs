//! kill -9 while compaction runs leaves a consistent log, and a later compaction converges.
//!
//! The node considers compacting every 100 ms (`--log-cleaner-backoff-ms 100`) and fsyncs
//! every append (`--log-flush-interval-messages 1`; a kill -9 keeps the page cache, so the
//! acknowledged records would survive it without). Each round writes keyed records (confluent-kafka) while the topic's
//! `cleanup.policy` is `delete`, then switches it to `compact` — a pass over everything new
//! starts within one backoff — and kills the node with SIGKILL a few milliseconds later
//! (50, 150, 300, 450, 1,000 ms: before, during or after the pass), then restarts it on the same
//! data directory. After every restart: offsets strictly ascend, every record is the one
//! produced at its offset (offsets never change in compaction), every key's latest value is
//! present, and every pass the node logged as done before the read (before the kill or
//! after the restart) is still applied: at most the records it did not remove are left.
//! Where exactly a kill lands is left to timing here; `durability_crash_points.rs` kills
//! at the compaction's commit on purpose. Finally a marker batch lets a pass cover the whole log, which must
//! then hold exactly one record per key — its latest value — and the marker.

mod common;
mod topics_support;

use std::thread;
use std::time::Duration;

use common::{run_python, EddyNode};
use topics_support::{
    alter_topic, compaction_lines, create_topic, kcat_read, log_offsets, read_log, wait_for,
    StoredRecord,
};

const NODE_ARGS: [&str; 4] = [
    "--log-cleaner-backoff-ms",
    "100",
    "--log-flush-interval-messages",
    "1",
];
const TOPIC: &str = "crash-compaction";
const KEYS: i64 = 2_000;
/// Records produced per round, and how long after enabling compaction the node is killed.
/// A pass over 200,000 records takes about 600 ms in a debug build, and starts within one
/// backoff (100 ms) of the switch: the kills land before, during and after passes.
const ROUNDS: [(i64, u64); 5] = [
    (200_000, 50),
    (200_000, 150),
    (200_000, 300),
    (200_000, 450),
    (100_000, 1_000),
];
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the final compaction may take to converge (debug build, 2 cores).
const CONVERGE_WAIT: Duration = Duration::from_secs(120);

fn key(g: i64) -> String {
    format!("key-{:05}", g % KEYS)
}

fn value(g: i64) -> String {
    format!("value-{g}")
}

/// Produces records `first..first + count` (record g at offset g) and checks the offsets.
fn produce_round(node: &EddyNode, first: i64, count: i64) {
    let (first_arg, count_arg, keys_arg) = (first.to_string(), count.to_string(), KEYS.to_string());
    let out = run_python(
        "topics_produce_keyed.py",
        &[
            &node.bootstrap(),
            TOPIC,
            "--first",
            &first_arg,
            "--count",
            &count_arg,
            "--keys",
            &keys_arg,
        ],
        PRODUCE_TIMEOUT,
    );
    assert!(
        out.contains(&format!("DATA first={first} count={count}")),
        "producer output:\n{out}"
    );
}

/// Checks a log holding records produced at offsets `0..end` (and possibly a marker at
/// `end`): each record is the one produced at its offset and each key's latest is present.
fn assert_consistent(records: &[StoredRecord], end: i64, context: &str) {
    for r in records {
        let expected = if r.offset == end {
            ("marker".to_string(), Some("end".to_string()))
        } else {
            (key(r.offset), Some(value(r.offset)))
        };
        assert!(
            r.offset <= end,
            "{context}: offset {} beyond what was produced",
            r.offset
        );
        assert_eq!(
            (r.key_str(), r.value_str()),
            expected,
            "{context}: offset {} holds a record that was never produced there",
            r.offset
        );
    }
    let present: std::collections::HashSet<i64> = records.iter().map(|r| r.offset).collect();
    let missing: Vec<i64> = (end - KEYS..end).filter(|g| !present.contains(g)).collect();
    assert!(
        missing.is_empty(),
        "{context}: the latest values of {} keys are missing, e.g. offsets {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn kill9_during_compaction_leaves_a_consistent_log_that_converges() {
    let mut node = EddyNode::start_with_args(&NODE_ARGS);
    create_topic(&node, TOPIC, &[("cleanup.policy", "delete")]);
    let mut end = 0;
    for (round, (count, kill_after_ms)) in ROUNDS.into_iter().enumerate() {
        if round > 0 {
            alter_topic(&node, TOPIC, &[("cleanup.policy", "delete")]);
        }
        produce_round(&node, end, count);
        end += count;
        let passes_before = compaction_lines(&node).len();
        alter_topic(&node, TOPIC, &[("cleanup.policy", "compact")]);
        thread::sleep(Duration::from_millis(kill_after_ms));
        node.kill9();
        let applied = compaction_lines(&node).len() > passes_before;
        node.restart();

        let context =
            format!("round {round} (killed {kill_after_ms} ms after enabling compaction)");
        // Only the high watermark is checked here: that the log start offset survives a
        // restart after compaction is `topics_compaction`'s regression test.
        assert_eq!(
            log_offsets(&node, TOPIC, 0).1,
            end,
            "{context}: high watermark"
        );
        // Every logged pass was committed before its line was written; reading the lines
        // before the log means each of them was applied before the read.
        let removed_logged: u64 = compaction_lines(&node).iter().map(|(_, r, _)| r).sum();
        let records = read_log(&node, TOPIC, 0);
        assert_consistent(&records, end, &context);
        assert!(
            records.len() as i64 <= end - removed_logged as i64,
            "{context}: the passes logged as done removed {removed_logged} of {end} records, \
             yet {} are left: a completed pass did not survive the kill",
            records.len()
        );
        eprintln!(
            "{context}: {} records after restart; a pass had been applied before the kill: {applied}",
            records.len()
        );
    }

    // A marker in a batch of its own lets the next pass cover every record before it.
    alter_topic(&node, TOPIC, &[("cleanup.policy", "compact")]);
    let out = run_python(
        "topics_produce_keyed.py",
        &[&node.bootstrap(), TOPIC, "--marker", "end"],
        PRODUCE_TIMEOUT,
    );
    assert!(
        out.contains(&format!("MARKER {end}")),
        "marker output:\n{out}"
    );
    let records = wait_for(
        "compaction converges after the crashes",
        CONVERGE_WAIT,
        || {
            let records = read_log(&node, TOPIC, 0);
            match records.len() as i64 {
                n if n == KEYS + 1 => Ok(records),
                n => Err(n),
            }
        },
    );
    assert_consistent(&records, end, "converged");
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    let mut expected: Vec<i64> = (end - KEYS..end).collect();
    expected.push(end);
    assert_eq!(
        offsets, expected,
        "exactly the latest record of each key, then the marker"
    );
    assert_eq!(
        kcat_read(&node, TOPIC, 0).len() as i64,
        KEYS + 1,
        "kcat reads the compacted log to its end"
    );
    node.assert_healthy();
}
