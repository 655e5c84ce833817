//! Connectors created through a node's REST API outlive the node: they are kept in the
//! compacted topic `connect-configs`, as Kafka Connect's distributed mode keeps them, and
//! a restarted node starts them again in their stored state.
//!
//! A FileStreamSource tails a growing file into a topic and a FileStreamSink, paused, waits
//! on that topic. The node is restarted — once after SIGTERM, once after SIGKILL — in the
//! middle of the stream; both connectors must come back (the sink still PAUSED), and the
//! source must go on from its stored offsets: no line skipped, none read twice beyond what
//! its commit interval allows (none after a clean stop, one batch after a kill). The sink
//! then resumes and writes every line. A replaced configuration is kept; a deleted
//! connector stays gone after the next restart.

mod common;
mod connect_support;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{http_get, kcat, run_with_timeout, EddyNode};
use connect_support::{check_lines, connector_status, distinct, file_lines, http};
use serde_json::{json, Value};

/// Lines written while the node runs and restarts.
const LINES: usize = 3_000;
/// Lines appended after the last restart, read from the offsets stored before it.
const MORE_LINES: usize = 200;
/// Lines the writer appends at a time.
const WRITE_CHUNK_LINES: usize = 100;
/// The pause between two chunks: the file grows over ~3 s, so the restart lands
/// mid-stream.
const WRITE_PAUSE_MS: u64 = 100;
/// The node is stopped once the topic holds this many lines.
const STOP_AFTER_LINES: usize = 1_000;
/// `batch.size` of both connectors; with `offset.flush.interval.ms=0` each task commits
/// after every batch, so one kill re-delivers at most one batch.
const BATCH_LINES: usize = 100;
/// More records than the topic can hold: read it all.
const TOPIC_LINES_MAX: usize = 10 * (LINES + MORE_LINES);
/// The topic between the two connectors.
const TOPIC: &str = "lines";
/// How long the connectors may take to reach what a wait expects.
const WAIT_TIMEOUT_MS: u64 = 60_000;
/// The pause between two looks of a wait.
const WAIT_POLL_MS: u64 = 200;
/// How long one kcat run may take.
const KCAT_TIMEOUT_MS: u64 = 30_000;

fn line(i: usize) -> String {
    format!("line {i:05} of the connect-configs test")
}

fn wait_for<T>(what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_millis(WAIT_TIMEOUT_MS);
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT_TIMEOUT_MS} ms waiting for {what}"
        );
        thread::sleep(Duration::from_millis(WAIT_POLL_MS));
    }
}

fn expect(node: &EddyNode, method: &str, path: &str, body: &str, status: u16) {
    let (got, answer) = http(node.admin_addr(), method, path, body);
    assert_eq!(got, status, "{method} {path}: {answer}");
}

fn connectors(node: &EddyNode) -> Vec<String> {
    let response = http_get(node.admin_addr(), "/connectors");
    assert_eq!(response.status, 200, "GET /connectors: {}", response.body);
    serde_json::from_str(&response.body).expect("a JSON list of names")
}

/// The connector's state and its tasks' states.
fn states(node: &EddyNode, name: &str) -> (String, Vec<String>) {
    let status = connector_status(node.admin_addr(), name);
    let tasks = status["tasks"].as_array().expect("tasks").iter();
    let tasks: Vec<String> = tasks.map(|t| t["state"].as_str().unwrap().into()).collect();
    assert!(
        !tasks.iter().any(|t| t == "FAILED"),
        "a task of {name} FAILED: {status}"
    );
    (status["connector"]["state"].as_str().unwrap().into(), tasks)
}

fn wait_for_state(node: &EddyNode, name: &str, state: &str) {
    wait_for(&format!("{name} and its tasks to be {state}"), || {
        let (connector, tasks) = states(node, name);
        (connector == state && !tasks.is_empty() && tasks.iter().all(|t| t == state)).then_some(())
    });
}

/// The connectors a restarted node has read back from `connect-configs`.
fn wait_for_restored(node: &EddyNode) -> Vec<String> {
    wait_for("the stored connectors to be restored", || {
        Some(connectors(node)).filter(|names| !names.is_empty())
    })
}

/// Appends lines `range` to `path`, a chunk at a time, in the background.
fn spawn_writer(path: PathBuf, range: std::ops::Range<usize>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open the input file");
        let all: Vec<usize> = range.collect();
        for chunk in all.chunks(WRITE_CHUNK_LINES) {
            let text: String = chunk.iter().map(|i| line(*i) + "\n").collect();
            file.write_all(text.as_bytes())
                .expect("append to the input file");
            thread::sleep(Duration::from_millis(WRITE_PAUSE_MS));
        }
    })
}

/// The topic's records, one per line, at most `count_max` (kcat reads a growing topic
/// until it has them, not until it sees an end); empty while the topic does not exist.
fn topic_lines(node: &EddyNode, count_max: usize) -> Vec<String> {
    let count_max = count_max.to_string();
    let mut cmd = Command::new(kcat());
    cmd.args(["-b", &node.bootstrap(), "-C", "-t", TOPIC, "-p", "0"])
        .args([
            "-o",
            "beginning",
            "-c",
            &count_max,
            "-e",
            "-q",
            "-f",
            "%s\\n",
        ]);
    let out = run_with_timeout(&mut cmd, None, Duration::from_millis(KCAT_TIMEOUT_MS));
    if !out.status.success() {
        return Vec::new();
    }
    let text = String::from_utf8(out.stdout).expect("kcat printed UTF-8");
    text.lines().map(str::to_owned).collect()
}

fn wait_for_lines(what: &str, count: usize, mut read: impl FnMut() -> Vec<String>) -> Vec<String> {
    wait_for(&format!("{count} lines in {what}"), || {
        let lines = read();
        (distinct(&lines) >= count).then_some(lines)
    })
}

fn source_config(input: &Path, batch: usize) -> Value {
    json!({
        "connector.class": "FileStreamSource",
        "file": input.display().to_string(),
        "topic": TOPIC,
        "batch.size": batch.to_string(),
        "offset.flush.interval.ms": "0",
    })
}

/// Runs the whole story, restarting the node with `restart` (SIGTERM or SIGKILL, then a
/// start); `duplicates_max` is what one such restart may re-deliver.
fn connectors_outlive_restarts(restart: fn(&mut EddyNode), duplicates_max: usize) {
    let mut node = EddyNode::start();
    let input = node.scratch_dir().join("in.txt");
    let output = node.scratch_dir().join("out.txt");
    fs::write(&input, "").expect("create the input file");
    spawn_writer(input.clone(), 0..WRITE_CHUNK_LINES)
        .join()
        .expect("the writer");

    let source = json!({"name": "file-source", "config": source_config(&input, BATCH_LINES)});
    expect(&node, "POST", "/connectors", &source.to_string(), 201);
    wait_for_lines("the topic", 1, || topic_lines(&node, 1));
    let sink = json!({"name": "file-sink", "config": {
        "connector.class": "FileStreamSink",
        "file": output.display().to_string(),
        "topics": TOPIC,
        "batch.size": BATCH_LINES.to_string(),
        "offset.flush.interval.ms": "0",
    }});
    expect(&node, "POST", "/connectors", &sink.to_string(), 201);
    expect(&node, "PUT", "/connectors/file-sink/pause", "", 202);
    wait_for_state(&node, "file-sink", "PAUSED");
    let writer = spawn_writer(input.clone(), WRITE_CHUNK_LINES..LINES);
    let before = wait_for_lines("the topic", STOP_AFTER_LINES, || {
        topic_lines(&node, STOP_AFTER_LINES)
    })
    .len();
    assert!(
        !writer.is_finished(),
        "the input stopped growing before the restart"
    );

    // Restart mid-stream: both come back, each in its stored state.
    restart(&mut node);
    assert_eq!(wait_for_restored(&node), ["file-sink", "file-source"]);
    wait_for_state(&node, "file-sink", "PAUSED");
    wait_for_state(&node, "file-source", "RUNNING");
    writer.join().expect("the writer");
    let topic = wait_for_lines("the topic", LINES, || topic_lines(&node, TOPIC_LINES_MAX));
    let duplicates = check_lines(&topic, LINES, line);
    eprintln!(
        "restarted mid-stream (at least {before} of {LINES} lines in the topic): \
         {duplicates} read twice (at most {duplicates_max})"
    );
    assert!(
        duplicates <= duplicates_max,
        "the source read {duplicates} lines twice; at most {duplicates_max} allowed"
    );
    let paused_output = file_lines(&output).len();
    assert!(
        paused_output < LINES,
        "the paused sink wrote {paused_output} lines"
    );

    // Resumed, the sink writes every line; then the source gets a new configuration and
    // the sink is deleted.
    expect(&node, "PUT", "/connectors/file-sink/resume", "", 202);
    let written = wait_for_lines("the sink's file", LINES, || file_lines(&output));
    let sink_duplicates = check_lines(&written, LINES, line);
    assert!(
        sink_duplicates <= BATCH_LINES,
        "the sink wrote {sink_duplicates} lines twice"
    );
    let replaced = source_config(&input, BATCH_LINES / 2).to_string();
    expect(
        &node,
        "PUT",
        "/connectors/file-source/config",
        &replaced,
        200,
    );
    expect(&node, "DELETE", "/connectors/file-sink", "", 204);
    let settled = topic_lines(&node, TOPIC_LINES_MAX).len();

    restart(&mut node);
    assert_eq!(wait_for_restored(&node), ["file-source"]);
    let (gone, _) = http(node.admin_addr(), "GET", "/connectors/file-sink/status", "");
    assert_eq!(gone, 404, "the deleted sink came back");
    let config = http_get(node.admin_addr(), "/connectors/file-source/config");
    let config: Value = serde_json::from_str(&config.body).expect("the config is JSON");
    assert_eq!(config["batch.size"], (BATCH_LINES / 2).to_string());
    wait_for_state(&node, "file-source", "RUNNING");
    spawn_writer(input, LINES..LINES + MORE_LINES)
        .join()
        .expect("the writer");
    let topic = wait_for_lines("the topic", LINES + MORE_LINES, || {
        topic_lines(&node, TOPIC_LINES_MAX)
    });
    let duplicates_after = check_lines(&topic, LINES + MORE_LINES, line) - (settled - LINES);
    assert!(
        duplicates_after <= duplicates_max,
        "the source read {duplicates_after} lines twice after the last restart"
    );
    node.assert_healthy();
}

fn stop_and_start(node: &mut EddyNode) {
    node.stop();
    node.restart();
}

fn kill9_and_start(node: &mut EddyNode) {
    node.kill9();
    node.restart();
}

#[test]
fn connectors_outlive_a_clean_restart() {
    // A clean stop commits every task's progress: nothing is read twice.
    connectors_outlive_restarts(stop_and_start, 0);
}

#[test]
fn connectors_outlive_a_kill9() {
    connectors_outlive_restarts(kill9_and_start, BATCH_LINES);
}
