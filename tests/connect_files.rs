//! Kafka Connect's file connectors end to end: `eddy connect run` tails a file into a topic
//! with FileStreamSource and writes the topic back to a file with FileStreamSink, against a
//! real node that is killed with SIGKILL and restarted in the middle (and, in a second
//! test, with the connect process itself killed and restarted). No line may be lost; the
//! duplicates are counted and must stay within what the commit interval allows: with
//! `offset.flush.interval.ms=0` each task commits after every batch, so one failure of a
//! task re-delivers at most one batch of it. Another test checks that a bad configuration
//! is refused with every faulty key listed — from the command line and from the REST API —
//! and the last that a bad record fails a sink at once, or goes to the dead-letter topic
//! with `errors.tolerance=all`.

mod common;
mod connect_support;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{free_port, http_get, EddyNode};
use connect_support::{
    assert_refused_by_connect_run, check_lines, distinct, file_lines, http, restarts, wait_for,
    ConnectProcess, REST_READY_TIMEOUT_MS,
};
use serde_json::Value;

/// Lines of the round trip.
const LINES: usize = 100_000;
/// Lines the writer appends to the input file at a time.
const WRITE_CHUNK_LINES: usize = 1_000;
/// The pause between two chunks: the input grows over ~10 s, so the kill lands mid-stream.
const WRITE_PAUSE_MS: u64 = 100;
/// `batch.size` of both connectors: the most records one task re-delivers per failure.
const BATCH_LINES: usize = 1_000;
/// How long the whole round trip may take.
const ROUND_TRIP_TIMEOUT_MS: u64 = 240_000;

fn line(i: usize) -> String {
    format!(
        "line {i:06} of the connect round trip: Alice paid Bob {} dollars",
        i % 997
    )
}

/// Appends `lines` to `path` in chunks, in the background; `done` is set at the end.
fn spawn_writer(
    path: PathBuf,
    lines: std::ops::Range<usize>,
    done: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .expect("open the input file");
        let all: Vec<usize> = lines.collect();
        for chunk in all.chunks(WRITE_CHUNK_LINES) {
            let text: String = chunk.iter().map(|i| line(*i) + "\n").collect();
            file.write_all(text.as_bytes())
                .expect("append to the input file");
            thread::sleep(Duration::from_millis(WRITE_PAUSE_MS));
        }
        done.store(true, Ordering::SeqCst);
    })
}

fn write_configs(dir: &Path, input: &Path, output: &Path, topic: &str) -> (PathBuf, PathBuf) {
    let source = dir.join("file-source.properties");
    fs::write(
        &source,
        format!(
            "# Kafka's quickstart source, committing after every batch\n\
             name=file-source\n\
             connector.class=FileStreamSource\n\
             tasks.max=1\n\
             file={}\n\
             topic={topic}\n\
             batch.size={BATCH_LINES}\n\
             offset.flush.interval.ms=0\n",
            input.display()
        ),
    )
    .expect("write the source configuration");
    let sink = dir.join("file-sink.json");
    let config = serde_json::json!({
        "name": "file-sink",
        "config": {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": "1",
            "file": output.display().to_string(),
            "topics": topic,
            "batch.size": BATCH_LINES.to_string(),
            "offset.flush.interval.ms": "0",
        }
    });
    fs::write(&sink, config.to_string()).expect("write the sink configuration");
    (source, sink)
}

/// The runs of lines delivered again, as `(first line, last line)` in input numbering, for
/// failure messages: each run should be one uncommitted batch.
fn redelivered_runs(output: &[String]) -> Vec<(String, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut runs: Vec<(String, String)> = Vec::new();
    let mut in_run = false;
    for text in output {
        let again = !seen.insert(text.as_str());
        match (again, in_run) {
            (true, false) => runs.push((text.clone(), text.clone())),
            (true, true) => {
                if let Some(run) = runs.last_mut() {
                    run.1.clone_from(text);
                }
            }
            _ => {}
        }
        in_run = again;
    }
    runs
}

#[test]
fn file_round_trip_survives_a_node_kill9() {
    let mut node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let (input, output) = (dir.join("in.txt"), dir.join("out.txt"));
    let (source, sink) = write_configs(&dir, &input, &output, "connect-lines");
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut connect =
        ConnectProcess::start(&node, admin, &[&source, &sink], dir.join("connect.log"));

    let written = Arc::new(AtomicBool::new(false));
    let writer = spawn_writer(input.clone(), 0..LINES, written.clone());
    wait_for(
        ROUND_TRIP_TIMEOUT_MS,
        "a third of the lines in the output",
        || file_lines(&output).len() >= LINES / 3,
    );
    node.kill9();
    // The writer goes on while the node is down; the tasks fail and back off meanwhile.
    thread::sleep(Duration::from_secs(2));
    connect.assert_running();
    node.restart();
    wait_for(ROUND_TRIP_TIMEOUT_MS, "every line in the output", || {
        connect.assert_running();
        written.load(Ordering::SeqCst) && distinct(&file_lines(&output)) >= LINES
    });
    writer.join().expect("writer thread");
    let (source_restarts, sink_restarts) =
        (restarts(admin, "file-source"), restarts(admin, "file-sink"));
    connect.stop();

    let duplicates = check_lines(&file_lines(&output), LINES, line);
    let bound = (source_restarts + sink_restarts) as usize * BATCH_LINES;
    eprintln!(
        "{LINES} lines round-tripped across a kill -9 of the node: {duplicates} duplicates \
         ({source_restarts} source and {sink_restarts} sink task restarts, bound {bound})"
    );
    assert!(
        source_restarts + sink_restarts >= 1,
        "the node was killed under the tasks, yet no task was restarted"
    );
    let final_output = file_lines(&output);
    assert!(
        duplicates <= bound,
        "{duplicates} duplicates exceed the bound of {bound}; runs delivered again: {:?}",
        redelivered_runs(&final_output)
    );
    node.assert_healthy();
}

#[test]
fn file_round_trip_resumes_after_the_connect_process_is_killed() {
    const HALF: usize = LINES / 2;
    let node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let (input, output) = (dir.join("in.txt"), dir.join("out.txt"));
    let (source, sink) = write_configs(&dir, &input, &output, "connect-resume");
    let text: String = (0..HALF).map(|i| line(i) + "\n").collect();
    fs::write(&input, text).expect("write the input");
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = dir.join("connect.log");
    let mut connect = ConnectProcess::start(&node, admin, &[&source, &sink], log.clone());
    wait_for(
        ROUND_TRIP_TIMEOUT_MS,
        "the first lines in the output",
        || file_lines(&output).len() >= HALF / 10,
    );
    // SIGKILL: nothing is committed on the way out; the stored offsets are all there is.
    connect.kill9();
    let before = file_lines(&output).len();
    let mut file = OpenOptions::new()
        .append(true)
        .open(&input)
        .expect("open the input");
    let text: String = (HALF..LINES).map(|i| line(i) + "\n").collect();
    file.write_all(text.as_bytes())
        .expect("append the second half");
    let mut connect = ConnectProcess::start(&node, admin, &[&source, &sink], log);
    wait_for(ROUND_TRIP_TIMEOUT_MS, "every line in the output", || {
        connect.assert_running();
        distinct(&file_lines(&output)) >= LINES
    });
    connect.stop();
    let duplicates = check_lines(&file_lines(&output), LINES, line);
    eprintln!(
        "{LINES} lines round-tripped across a kill -9 of `eddy connect run` (at {before} lines \
         out): {duplicates} duplicates"
    );
    // One failure of each task: at most one uncommitted batch of each is delivered again.
    assert!(
        duplicates <= 2 * BATCH_LINES,
        "{duplicates} duplicates exceed two batches"
    );
}

#[test]
fn a_bad_configuration_lists_every_faulty_key() {
    let node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let bad = dir.join("bad.properties");
    fs::write(
        &bad,
        "name=bad-sink\n\
         connector.class=FileStreamSink\n\
         tasks.max=zero\n\
         topics=good,not a topic\n\
         errors.tolerance=all\n\
         value.converter=AvroConverter\n\
         fiel=/tmp/out.txt\n",
    )
    .expect("write the bad configuration");
    let faulty = [
        "tasks.max",
        "topics",
        "errors.tolerance",
        "value.converter",
        "fiel",
        "file",
    ];

    // Standalone: refused before anything runs, every faulty key named.
    let stderr = assert_refused_by_connect_run(&node, &bad, &faulty);
    assert!(stderr.contains("did you mean `file`?"), "{stderr}");

    // Through the REST API of a running `eddy connect run`: 400 with the same list.
    let good = dir.join("generator.properties");
    fs::write(
        &good,
        "name=payments\nconnector.class=generator\ntopic=payments\nrecords.per.second=100\n",
    )
    .expect("write the generator configuration");
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _connect = ConnectProcess::start(&node, admin, &[&good], dir.join("connect.log"));
    let body = serde_json::json!({
        "name": "bad-sink",
        "config": {
            "connector.class": "FileStreamSink",
            "tasks.max": "zero",
            "topics": "good,not a topic",
            "errors.tolerance": "all",
            "value.converter": "AvroConverter",
            "fiel": "/tmp/out.txt",
        }
    });
    let (status, answer) = http(admin, "POST", "/connectors", &body.to_string());
    assert_eq!(status, 400, "{answer}");
    let answer: Value = serde_json::from_str(&answer).expect("the error is JSON");
    let message = answer["message"].as_str().expect("an error message");
    assert_eq!(answer["error_code"], 400);
    for key in faulty {
        assert!(
            message.contains(&format!("\n  - {key} ")),
            "{key} not listed in:\n{message}"
        );
    }
    // The bad connector was not created; the good one runs.
    let list = http_get(admin, "/connectors");
    assert_eq!(list.body, r#"["payments"]"#);
    wait_for(REST_READY_TIMEOUT_MS, "the generator to run", || {
        let status = http_get(admin, "/connectors/payments/status");
        status.body.contains(r#""state":"RUNNING","worker_id""#)
            && !status.body.contains("UNASSIGNED")
    });

    // `eddy connect create` validates the file the same way before sending it.
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args(["connect", "create", "--admin", &admin.to_string()])
        .arg(&bad)
        .output()
        .expect("run eddy connect create");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for key in faulty {
        assert!(
            stderr.contains(&format!("\n  - {key} ")),
            "{key} not listed in:\n{stderr}"
        );
    }
}

#[test]
fn bad_records_go_to_the_dead_letter_topic_or_fail_the_task() {
    let node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let input = dir.join("mixed.txt");
    fs::write(
        &input,
        "{\"n\":1}\nnot json\n{\"n\":2}\n\"text\"\nbroken {\n",
    )
    .expect("input");
    let source = dir.join("source.properties");
    fs::write(
        &source,
        format!(
            "name=mixed\nconnector.class=FileStreamSource\nfile={}\ntopic=mixed\n",
            input.display()
        ),
    )
    .expect("source configuration");
    let sink = |name: &str, extra: &str| {
        let path = dir.join(format!("{name}.properties"));
        let text = format!(
            "name={name}\nconnector.class=FileStreamSink\nfile={}\ntopics=mixed\n\
             value.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter.schemas.enable=false\n{extra}",
            dir.join(format!("{name}.txt")).display()
        );
        fs::write(&path, text).expect("sink configuration");
        path
    };
    let strict = sink("strict", "");
    let tolerant = sink(
        "tolerant",
        "errors.tolerance=all\nerrors.deadletterqueue.topic.name=mixed-dlq\n\
         errors.deadletterqueue.context.headers.enable=true\n",
    );
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _connect = ConnectProcess::start(
        &node,
        admin,
        &[&source, &strict, &tolerant],
        dir.join("connect.log"),
    );

    // Without tolerance: the record before the bad one is written, then the task is FAILED
    // at once (a restart would meet the same record), naming the record and the cause.
    wait_for(ROUND_TRIP_TIMEOUT_MS, "the strict sink to fail", || {
        http_get(admin, "/connectors/strict/status")
            .body
            .contains("\"FAILED\"")
    });
    let status: Value =
        serde_json::from_str(&http_get(admin, "/connectors/strict/status").body).expect("JSON");
    let trace = status["tasks"][0]["trace"].as_str().expect("a trace");
    assert!(
        trace.contains("mixed/0 offset 1") && trace.contains("not JSON"),
        "{trace}"
    );
    assert_eq!(status["tasks"][0]["restarts"], 0, "{status}");
    assert_eq!(file_lines(&dir.join("strict.txt")), ["{\"n\":1}"]);

    // With tolerance: good records are written, bad ones go to the dead-letter topic with
    // Kafka's context headers; nothing is dropped.
    wait_for(ROUND_TRIP_TIMEOUT_MS, "the tolerant sink's output", || {
        file_lines(&dir.join("tolerant.txt")).len() >= 3
    });
    assert_eq!(
        file_lines(&dir.join("tolerant.txt")),
        ["{\"n\":1}", "{\"n\":2}", "text"]
    );
    let out = Command::new(env!("CARGO_BIN_EXE_eddy"))
        .args([
            "consume",
            "mixed-dlq",
            "--bootstrap-server",
            &node.bootstrap(),
        ])
        .args(["--json", "--max-messages", "2", "--timeout-ms", "10000"])
        .output()
        .expect("run eddy consume");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dead: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON record"))
        .collect();
    let values: Vec<&str> = dead
        .iter()
        .map(|r| r["value"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(values, ["not json", "broken {"], "{stdout}");
    let headers = dead[1]["headers"].to_string();
    assert!(
        headers.contains("__connect.errors.offset") && headers.contains("VALUE_CONVERTER"),
        "{headers}"
    );
    let status = http_get(admin, "/connectors/tolerant/status").body;
    assert!(
        status.contains("\"RUNNING\"") && !status.contains("FAILED"),
        "{status}"
    );
}
