//! Kafka's Connect quickstart, as a newcomer follows it, against a real node: Kafka's own
//! `config/connect-standalone.properties`, `connect-file-source.properties` and
//! `connect-file-sink.properties` (copied verbatim into `tests/fixtures/connect/`) run with
//! `eddy connect run worker source sink` from the directory that holds `test.txt`, as
//! `bin/connect-standalone.sh config/connect-standalone.properties …` runs from Kafka's.
//!
//! The test rewrites only what must point at its node and temporary directory — the
//! worker's `bootstrap.servers` and `offset.storage.file.filename` — and leaves the
//! connector files untouched (their relative `file=test.txt` and `file=test.sink.txt`
//! resolve in the worker's working directory, the test's temporary directory).
//!
//! 1. Lines move file → topic → file; the topic holds Kafka's JsonConverter envelope,
//!    byte for byte (read back with kcat), the sink file the payload lines.
//! 2. The worker is stopped and started again, lines are appended while it is down and
//!    while it runs: the sink file ends with every line exactly once.
//! 3. The source offsets are in the worker's offsets file, and the cluster has no
//!    `connect-offsets` topic (the issue's bug: a standalone run stored them there).
//! 4. The same connector run from another directory, where `test.txt` is another file,
//!    refuses to resume into it: its task is FAILED with an error naming both files, and
//!    no record of the other file reaches the topic. (Its REST API answers an unknown
//!    route and a wrong method with Kafka's JSON 404 and 405.)
//! 5. A worker killed with SIGKILL mid-stream resumes from its offsets file (rewritten
//!    atomically at every commit): no line lost, duplicates within one batch per task.

mod common;
mod connect_support;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{free_port, http_get, run_kcat, EddyNode};
use connect_support::{
    check_lines, connector_status, distinct, file_lines, http, wait_for, ConnectProcess,
};
use serde_json::Value;

/// How long the connectors may take to reach what a wait expects.
const WAIT_TIMEOUT_MS: u64 = 60_000;
/// How long one kcat run may take.
const KCAT_TIMEOUT_MS: u64 = 30_000;
/// Kafka's quickstart topic (`topic=connect-test`).
const TOPIC: &str = "connect-test";

/// Kafka's three quickstart files, the worker's rewritten to point at `node` and `dir`.
struct Quickstart {
    worker: PathBuf,
    source: PathBuf,
    sink: PathBuf,
    offsets: PathBuf,
}

fn fixture(name: &str) -> PathBuf {
    common::repo_root()
        .join("tests/fixtures/connect")
        .join(name)
}

/// Replaces the line `from` of `text` with `to`; panics if Kafka's file lacks it.
fn rewrite(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.lines().any(|l| l == from),
        "Kafka's file no longer has the line {from:?}"
    );
    text.lines()
        .map(|l| if l == from { to } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

fn quickstart(node: &EddyNode, dir: &Path) -> Quickstart {
    let worker_text = fs::read_to_string(fixture("connect-standalone.properties"))
        .expect("Kafka's connect-standalone.properties");
    let offsets = dir.join("connect.offsets");
    let worker_text = rewrite(
        &worker_text,
        "bootstrap.servers=localhost:9092",
        &format!("bootstrap.servers={}", node.bootstrap()),
    );
    let worker_text = rewrite(
        &worker_text,
        "offset.storage.file.filename=/tmp/connect.offsets",
        &format!("offset.storage.file.filename={}", offsets.display()),
    );
    let worker = dir.join("connect-standalone.properties");
    fs::write(&worker, worker_text).expect("write the worker file");
    Quickstart {
        worker,
        source: fixture("connect-file-source.properties"),
        sink: fixture("connect-file-sink.properties"),
        offsets,
    }
}

/// Kafka's JsonConverter envelope of a FileStreamSource line.
fn envelope(line: &str) -> String {
    format!(r#"{{"schema":{{"type":"string","optional":false}},"payload":"{line}"}}"#)
}

/// Every value of the topic, as kcat prints them.
fn topic_values(node: &EddyNode) -> Vec<String> {
    let out = run_kcat(
        &[
            "-b",
            &node.bootstrap(),
            "-C",
            "-t",
            TOPIC,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%s\n",
        ],
        None,
        Duration::from_millis(KCAT_TIMEOUT_MS),
    );
    out.lines().map(str::to_owned).collect()
}

fn append(path: &Path, text: &str) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the input file");
    file.write_all(text.as_bytes())
        .expect("append to the input file");
}

fn topic_names(node: &EddyNode) -> Vec<String> {
    let response = http_get(node.admin_addr(), "/topics");
    assert_eq!(response.status, 200, "GET /topics: {}", response.body);
    let topics: Vec<Value> = serde_json::from_str(&response.body).expect("topics as JSON");
    topics
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

fn start_worker(
    dir: &Path,
    files: &Quickstart,
    connectors: &[&Path],
    log: &str,
) -> (ConnectProcess, SocketAddr) {
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut all = vec![files.worker.as_path()];
    all.extend_from_slice(connectors);
    let process = ConnectProcess::start_in(Some(dir), &[], admin, &all, dir.join(log));
    (process, admin)
}

#[test]
fn kafkas_quickstart_moves_lines_exactly_once_across_a_worker_restart() {
    let node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let files = quickstart(&node, &dir);
    let (input, output) = (dir.join("test.txt"), dir.join("test.sink.txt"));
    // Kafka's quickstart: echo -e "foo\nbar" > test.txt
    fs::write(&input, "foo\nbar\n").expect("write test.txt");
    let connectors = [files.source.as_path(), files.sink.as_path()];
    let (mut worker, _admin) = start_worker(&dir, &files, &connectors, "connect-1.log");
    wait_for(WAIT_TIMEOUT_MS, "foo and bar in test.sink.txt", || {
        worker.assert_running();
        file_lines(&output).len() >= 2
    });
    assert_eq!(file_lines(&output), ["foo", "bar"]);
    assert_eq!(
        topic_values(&node),
        [envelope("foo"), envelope("bar")],
        "the topic holds Kafka's JsonConverter envelope"
    );
    let log = worker.log();
    assert!(
        !log.contains("unknown worker configs"),
        "Kafka's worker file holds only keys Eddy knows: {log}"
    );
    worker.stop();

    // Offsets are the worker's own, in its file; the cluster never saw them.
    let stored: Value =
        serde_json::from_slice(&fs::read(&files.offsets).expect("the offsets file"))
            .expect("the offsets file is JSON");
    let entry = &stored["offsets"][0];
    assert_eq!(entry["connector"], "local-file-source", "{stored}");
    assert_eq!(entry["partition"]["filename"], "test.txt", "{stored}");
    assert_eq!(entry["offset"]["position"], 8, "{stored}");
    assert!(
        !topic_names(&node).iter().any(|t| t == "connect-offsets"),
        "a standalone worker with an offsets file wrote to the cluster's connect-offsets"
    );

    append(&input, "baz\nqux\n");
    let (mut worker, _admin) = start_worker(&dir, &files, &connectors, "connect-2.log");
    wait_for(WAIT_TIMEOUT_MS, "baz and qux in test.sink.txt", || {
        worker.assert_running();
        file_lines(&output).len() >= 4
    });
    append(&input, "quux\n");
    wait_for(WAIT_TIMEOUT_MS, "quux in test.sink.txt", || {
        worker.assert_running();
        file_lines(&output).len() >= 5
    });
    worker.stop();
    assert_eq!(
        file_lines(&output),
        ["foo", "bar", "baz", "qux", "quux"],
        "every line exactly once, in order"
    );
    let values = topic_values(&node);
    let expected: Vec<String> = ["foo", "bar", "baz", "qux", "quux"]
        .iter()
        .map(|l| envelope(l))
        .collect();
    assert_eq!(values, expected);
}

#[test]
fn a_file_source_refuses_to_resume_into_another_file() {
    let node = EddyNode::start();
    let root = node.scratch_dir().to_path_buf();
    let files = quickstart(&node, &root);
    let (first_dir, second_dir) = (root.join("first"), root.join("second"));
    fs::create_dir_all(&first_dir).expect("mkdir first");
    fs::create_dir_all(&second_dir).expect("mkdir second");
    // The second file is longer than the first, so only its content tells them apart.
    let first = "the first file, line one\nline two\n";
    let second = "another file entirely: its bytes differ from the first\nmore\n";
    fs::write(first_dir.join("test.txt"), first).expect("write the first test.txt");
    fs::write(second_dir.join("test.txt"), second).expect("write the second test.txt");
    let source = [files.source.as_path()];

    let (mut worker, admin) = start_worker(&first_dir, &files, &source, "connect-first.log");
    wait_for(
        WAIT_TIMEOUT_MS,
        "the first file's lines on the topic",
        || {
            worker.assert_running();
            topic_values(&node).len() >= 2
        },
    );
    let status = connector_status(admin, "local-file-source");
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
    // The worker's REST API answers an unknown route as Kafka's does.
    let (code, body) = http(admin, "GET", "/no/such/route", "");
    assert_eq!(code, 404);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("a JSON error body"),
        serde_json::json!({"error_code": 404, "message": "HTTP 404 Not Found"})
    );
    let (code, body) = http(admin, "DELETE", "/connectors/local-file-source/status", "");
    assert_eq!(code, 405);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("a JSON error body"),
        serde_json::json!({"error_code": 405, "message": "HTTP 405 Method Not Allowed"})
    );
    worker.stop();

    // The same connector, the same offsets file, another directory: test.txt is another
    // file now.
    let (mut worker, admin) = start_worker(&second_dir, &files, &source, "connect-second.log");
    let mut trace = String::new();
    wait_for(WAIT_TIMEOUT_MS, "the source task to fail", || {
        worker.assert_running();
        let status = connector_status(admin, "local-file-source");
        trace = status["tasks"][0]["trace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        status["tasks"][0]["state"] == "FAILED"
    });
    let first_path = first_dir.join("test.txt").display().to_string();
    let second_path = second_dir.join("test.txt").display().to_string();
    assert!(trace.contains("refusing to resume"), "{trace}");
    assert!(
        trace.contains(&first_path),
        "the recorded file is not named: {trace}"
    );
    assert!(
        trace.contains(&second_path),
        "the file found is not named: {trace}"
    );
    assert!(trace.contains(&format!("byte {}", first.len())), "{trace}");
    assert!(
        worker.log().contains("refusing to resume"),
        "the error is not logged"
    );
    worker.stop();
    let values = topic_values(&node);
    assert_eq!(
        values,
        [envelope("the first file, line one"), envelope("line two")],
        "a record of the other file reached the topic"
    );
}

/// Lines of the crash test: written before the kill, and after it.
const CRASH_LINES: usize = 20_000;
/// `batch.size` of the crash test's connectors: the most one task delivers again.
const CRASH_BATCH_LINES: usize = 1_000;

fn crash_line(i: usize) -> String {
    format!("line {i:05} of the standalone crash test")
}

#[test]
fn a_killed_standalone_worker_resumes_from_its_offsets_file() {
    let node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let (input, output) = (dir.join("in.txt"), dir.join("out.txt"));
    let worker = dir.join("worker.properties");
    fs::write(
        &worker,
        format!(
            "bootstrap.servers={}\n\
             key.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter=org.apache.kafka.connect.json.JsonConverter\n\
             offset.storage.file.filename={}\n\
             offset.flush.interval.ms=0\n",
            node.bootstrap(),
            dir.join("connect.offsets").display()
        ),
    )
    .expect("write the worker file");
    let source = dir.join("source.properties");
    fs::write(
        &source,
        format!(
            "name=crash-source\nconnector.class=FileStreamSource\nfile={}\ntopic=crash\n\
             batch.size={CRASH_BATCH_LINES}\n",
            input.display()
        ),
    )
    .expect("write the source");
    let sink = dir.join("sink.properties");
    fs::write(
        &sink,
        format!(
            "name=crash-sink\nconnector.class=FileStreamSink\nfile={}\ntopics=crash\n\
             batch.size={CRASH_BATCH_LINES}\n",
            output.display()
        ),
    )
    .expect("write the sink");
    let half = CRASH_LINES / 2;
    let text: String = (0..half).map(|i| crash_line(i) + "\n").collect();
    fs::write(&input, text).expect("write the input");
    let files = [worker.as_path(), source.as_path(), sink.as_path()];
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut connect = ConnectProcess::start_in(None, &[], admin, &files, dir.join("crash-1.log"));
    wait_for(
        WAIT_TIMEOUT_MS,
        "a quarter of the lines in the output",
        || {
            connect.assert_running();
            file_lines(&output).len() >= CRASH_LINES / 4
        },
    );
    // SIGKILL: the offsets file is all the next worker has.
    connect.kill9();
    let more: String = (half..CRASH_LINES).map(|i| crash_line(i) + "\n").collect();
    append(&input, &more);
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut connect = ConnectProcess::start_in(None, &[], admin, &files, dir.join("crash-2.log"));
    wait_for(WAIT_TIMEOUT_MS, "every line in the output", || {
        connect.assert_running();
        distinct(&file_lines(&output)) >= CRASH_LINES
    });
    connect.stop();
    let duplicates = check_lines(&file_lines(&output), CRASH_LINES, crash_line);
    eprintln!("{CRASH_LINES} lines across a SIGKILL of the worker: {duplicates} duplicates");
    assert!(
        duplicates <= 2 * CRASH_BATCH_LINES,
        "{duplicates} duplicates: more than one batch per task delivered again"
    );
    assert!(
        !topic_names(&node).iter().any(|t| t == "connect-offsets"),
        "a standalone worker with an offsets file wrote to the cluster's connect-offsets"
    );
}
