//! `eddy topology run NAME` and `eddy topology catalog`: the stock binary runs its
//! catalog's topologies as client-program applications against a real node process, fed
//! and read by kcat and kafka-python.

mod common;
mod streams_support;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::EddyNode;
use eddy::topologies::nexmark::{Event, Generator, GeneratorConfig, QueryConfig, EVENTS_TOPIC};

/// How long an application may take to produce the expected output: generous for a
/// loaded 2-core machine.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);
/// Pause between two reads of an output topic.
const READ_PAUSE: Duration = Duration::from_millis(500);
/// How long a SIGTERMed application may take to close its tasks and leave its group.
const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a command that fails at once may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// kafka-python's produce_bytes.py takes records as arguments: this many per call.
const RECORDS_PER_CALL: usize = 300;

/// `eddy topology run …` as a child process, its output in files (no pipe to fill); killed
/// if the test ends before it exits.
struct App {
    child: Child,
    stdout: std::path::PathBuf,
    stderr: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl App {
    fn run(node: &EddyNode, name: &str, application_id: &str, configs: &[&str]) -> App {
        App::run_program(
            Path::new(env!("CARGO_BIN_EXE_eddy")),
            node,
            name,
            application_id,
            configs,
        )
    }

    /// `program topology run …`: `eddy` or a program of one's own.
    fn run_program(
        program: &Path,
        node: &EddyNode,
        name: &str,
        application_id: &str,
        configs: &[&str],
    ) -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let stdout = dir.path().join("stdout");
        let stderr = dir.path().join("stderr");
        let state_dir = dir.path().join("state");
        let mut cmd = Command::new(program);
        cmd.args(["topology", "run", name, "--application-id", application_id])
            .arg("--state-dir")
            .arg(&state_dir)
            .args(["-b", &node.bootstrap()]);
        for config in configs {
            cmd.args(["--config", config]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("stdout file"))
            .stderr(File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("spawn eddy topology run");
        App {
            child,
            stdout,
            stderr,
            _dir: dir,
        }
    }

    fn output(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            read(&self.stdout),
            read(&self.stderr)
        )
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("the application exited with {status}\n{}", self.output());
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    fn terminate(&mut self) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).expect("pid fits");
        // SAFETY: signals our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
        common::wait_bounded(&mut self.child, EXIT_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "the application did not exit within {EXIT_TIMEOUT:?} of SIGTERM\n{}",
                self.output()
            )
        })
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Every record of `topic` from the start, as `key value` lines with both printed as
/// 8-byte big-endian integers or as text (`formats`: kcat's `-s` arguments).
fn read_topic(node: &EddyNode, topic: &str, formats: &[&str]) -> Vec<(String, String)> {
    let bootstrap = node.bootstrap();
    let mut args = vec!["-b", &bootstrap, "-C", "-t", topic, "-o", "beginning", "-e"];
    for f in formats {
        args.extend(["-s", f]);
    }
    args.extend(["-f", "%k\t%s\n"]);
    common::run_kcat(&args, None, COMMAND_TIMEOUT)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn eddy(args: &[&str]) -> std::process::Output {
    run_program(Path::new(env!("CARGO_BIN_EXE_eddy")), args)
}

fn run_program(program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(program);
    cmd.args(args);
    common::run_with_timeout(&mut cmd, None, COMMAND_TIMEOUT)
}

#[test]
fn wordcount_runs_by_name_until_sigterm() {
    let node = EddyNode::start();
    common::create_topics(
        &node,
        &[
            ("streams-plaintext-input", 2),
            ("streams-wordcount-output", 1),
        ],
    );
    let mut app = App::run(
        &node,
        "wordcount",
        "wc",
        &["commit.interval.ms=200", "session.timeout.ms=10000"],
    );
    let lines = streams_support::lines(13, 300);
    let expected = streams_support::expected_counts(&lines);
    let input = lines.join("\n") + "\n";
    common::run_kcat(
        &[
            "-b",
            &node.bootstrap(),
            "-P",
            "-t",
            "streams-plaintext-input",
        ],
        Some(input.into_bytes()),
        COMMAND_TIMEOUT,
    );
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let mut counts = BTreeMap::new();
    while Instant::now() < deadline {
        app.assert_running();
        counts = read_topic(&node, "streams-wordcount-output", &["value=Q"])
            .into_iter()
            .map(|(word, count)| (word, count.parse::<u64>().expect("a count")))
            .collect();
        if counts == expected {
            break;
        }
        thread::sleep(READ_PAUSE);
    }
    assert_eq!(
        counts,
        expected,
        "the output's latest counts\n{}",
        app.output()
    );
    let status = app.terminate();
    let output = app.output();
    assert!(status.success(), "exit {status} on SIGTERM\n{output}");
    assert!(
        output.contains("closed on SIGTERM"),
        "the application says it closed on SIGTERM\n{output}"
    );
}

/// The Nexmark events of `count`, encoded as `nexmark-events` holds them, written by
/// kafka-python; returns the events.
fn write_nexmark_events(node: &EddyNode, count: usize) -> Vec<Event> {
    let events: Vec<Event> = Generator::new(GeneratorConfig::with_seed(5))
        .take(count)
        .map(|e| e.event)
        .collect();
    let records: Vec<String> = events
        .iter()
        .map(|e| {
            let key = hex(&e.key().to_be_bytes());
            let value = hex(&serde_json::to_vec(e).expect("event to JSON"));
            format!("{key}:{value}")
        })
        .collect();
    let bootstrap = node.bootstrap();
    for chunk in records.chunks(RECORDS_PER_CALL) {
        let mut args = vec![bootstrap.as_str(), EVENTS_TOPIC];
        args.extend(chunk.iter().map(String::as_str));
        let out = common::run_python("produce_bytes.py", &args, COMMAND_TIMEOUT);
        assert!(out.contains(&format!("PRODUCED {}", chunk.len())), "{out}");
    }
    events
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn nexmark_q2_keeps_the_bids_of_every_123rd_auction() {
    let node = EddyNode::start();
    common::create_topics(&node, &[(EVENTS_TOPIC, 1), ("nexmark-q2", 1)]);
    let events = write_nexmark_events(&node, 6_000);
    let skip = QueryConfig::default().auction_skip;
    assert_eq!(skip, 123);
    // The reference: every bid on an auction whose id is a multiple of 123, in order.
    let expected: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Bid(bid) if bid.auction % skip == 0 => {
                Some((bid.auction.to_string(), bid.price.to_string()))
            }
            _ => None,
        })
        .collect();
    assert!(
        !expected.is_empty(),
        "the generated events have bids on an auction multiple of 123"
    );
    let mut app = App::run(&node, "nexmark-q2", "q2", &["commit.interval.ms=200"]);
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let mut output = Vec::new();
    while Instant::now() < deadline {
        app.assert_running();
        output = read_topic(&node, "nexmark-q2", &["key=Q", "value=Q"]);
        if output.len() >= expected.len() {
            break;
        }
        thread::sleep(READ_PAUSE);
    }
    for (auction, _) in &output {
        let auction: u64 = auction.parse().expect("an auction id");
        assert_eq!(auction % 123, 0, "auction {auction} in nexmark-q2");
    }
    assert_eq!(output, expected, "nexmark-q2\n{}", app.output());
    assert!(app.terminate().success(), "{}", app.output());
}

#[test]
fn an_unknown_name_lists_the_known_ones() {
    let out = eddy(&[
        "topology",
        "run",
        "word-count",
        "--application-id",
        "x",
        "-b",
        "127.0.0.1:1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "an unknown name fails: {stderr}");
    assert!(
        stderr.contains("no topology named \"word-count\""),
        "{stderr}"
    );
    for name in [
        "wordcount",
        "payments",
        "sessions",
        "nexmark-q0",
        "nexmark-q8",
    ] {
        assert!(stderr.contains(name), "{name} is listed: {stderr}");
    }
}

#[test]
fn a_config_neither_streams_nor_a_parameter_is_refused() {
    let out = eddy(&[
        "topology",
        "run",
        "wordcount",
        "--application-id",
        "x",
        "--config",
        "input.topc=lines",
        "-b",
        "127.0.0.1:1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a misspelled config fails: {stderr}");
    assert!(
        stderr.contains(
            "topology \"wordcount\" takes no config input.topc: its parameters are \
             input.topic, output.topic"
        ),
        "{stderr}"
    );
}

#[test]
fn a_missing_source_topic_fails_with_the_libraries_error() {
    let node = EddyNode::start();
    let mut app = App::run(
        &node,
        "wordcount",
        "wc-missing",
        &["input.topic=no-such-lines"],
    );
    let status = common::wait_bounded(&mut app.child, EXIT_TIMEOUT)
        .unwrap_or_else(|| panic!("the application did not fail\n{}", app.output()));
    let output = app.output();
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("source topic(s) no-such-lines do not exist"),
        "{output}"
    );
}

#[test]
fn the_catalog_lists_the_stock_names() {
    let out = eddy(&["topology", "catalog", "--json"]);
    assert!(out.status.success(), "{}", common::tail(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["name"].as_str().expect("a name"))
        .collect();
    let mut expected = vec!["wordcount", "payments", "sessions"];
    let queries: Vec<String> = (0..=8).map(|q| format!("nexmark-q{q}")).collect();
    expected.extend(queries.iter().map(String::as_str));
    expected.sort_unstable();
    assert_eq!(names, expected);
    for row in &rows {
        assert!(
            !row["description"].as_str().unwrap_or_default().is_empty(),
            "{row}"
        );
    }
    let wordcount = rows
        .iter()
        .find(|r| r["name"] == "wordcount")
        .expect("wordcount");
    assert_eq!(
        wordcount["parameters"],
        serde_json::json!([
            {"name": "input.topic", "default": "streams-plaintext-input", "description": "the lines"},
            {"name": "output.topic", "default": "streams-wordcount-output", "description": "the counts"},
        ])
    );
}

#[test]
fn a_program_of_ones_own_gets_the_cli_with_its_topologies() {
    let program = common::own_catalog_program();
    let out = run_program(&program, &["topology", "catalog", "--json"]);
    assert!(out.status.success(), "{}", common::tail(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(names.contains(&"shout"), "{names:?}");
    assert!(names.contains(&"wordcount"), "{names:?}");

    let node = EddyNode::start();
    common::create_topics(&node, &[("orders", 1), ("orders-shouted", 1)]);
    // Another subcommand of the same program: the full CLI.
    let listed = run_program(&program, &["topic", "list", "-b", &node.bootstrap()]);
    assert!(listed.status.success(), "{}", common::tail(&listed.stderr));
    assert!(String::from_utf8_lossy(&listed.stdout).contains("orders-shouted"));

    let mut app = App::run_program(
        &program,
        &node,
        "shout",
        "shouter",
        &["commit.interval.ms=200"],
    );
    common::run_kcat(
        &["-b", &node.bootstrap(), "-P", "-t", "orders"],
        Some(b"two apples\none pear\n".to_vec()),
        COMMAND_TIMEOUT,
    );
    let expected = ["TWO APPLES", "ONE PEAR"];
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let mut values = Vec::new();
    while Instant::now() < deadline {
        app.assert_running();
        values = read_topic(&node, "orders-shouted", &[])
            .into_iter()
            .map(|(_, value)| value)
            .collect();
        if values.len() >= expected.len() {
            break;
        }
        thread::sleep(READ_PAUSE);
    }
    assert_eq!(values, expected, "{}", app.output());
    assert!(app.terminate().success(), "{}", app.output());
}
