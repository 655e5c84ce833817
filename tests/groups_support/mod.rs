//! What the consumer-group tests (`tests/groups_*.rs`) share on top of `tests/common/`:
//! group members as separate Python processes (`tests/python/groups_member.py`) whose
//! events the test reads as they happen, bounded waits, producing with Eddy's own client,
//! the `eddy group` CLI, and the client's group administration.
//!
//! A member is its own process so that a test can freeze it whole (SIGSTOP stops
//! kafka-python's background heartbeat thread too) or kill it without a goodbye.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use eddy::client::{
    Admin, GroupDescription, GroupPartitionOffset, Producer, ProducerConfig, ProducerRecord,
};
use serde_json::Value;

use crate::common::{python, python_script, run_with_timeout, tail, wait_bounded, EddyNode};

/// The broker's minimum session timeout, which the members use unless a test asks for
/// another (`Member::spawn_with_session_timeout`).
pub const SESSION_TIMEOUT_MS: u64 = 6_000;
/// How long a member may take to exit after `close`.
pub const MEMBER_CLOSE_TIMEOUT_MS: u64 = 30_000;
/// Pause between two checks of a condition a test waits for.
pub const WAIT_POLL_MS: u64 = 100;
/// How long one `eddy group` CLI call may take.
pub const CLI_TIMEOUT_MS: u64 = 30_000;

/// Member processes started so far by this test binary (names their stderr files).
static MEMBER_STARTS: AtomicUsize = AtomicUsize::new(0);

/// The Python client library a member runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lib {
    KafkaPython,
    Confluent,
}

impl Lib {
    fn arg(self) -> &'static str {
        match self {
            Lib::KafkaPython => "kafka-python",
            Lib::Confluent => "confluent",
        }
    }
}

/// One group member: a `groups_member.py` process and the events it printed so far.
pub struct Member {
    pub name: String,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    events: Arc<Mutex<Vec<Value>>>,
    reader: Option<JoinHandle<()>>,
    stderr_path: std::path::PathBuf,
}

impl Member {
    /// Starts a member of `group` reading `topic`; `name` is its client id, `instance` its
    /// static id (`group.instance.id`) if any.
    pub fn spawn(
        node: &EddyNode,
        lib: Lib,
        topic: &str,
        group: &str,
        name: &str,
        instance: Option<&str>,
    ) -> Member {
        Member::spawn_with_session_timeout(
            node,
            lib,
            topic,
            group,
            name,
            instance,
            SESSION_TIMEOUT_MS,
        )
    }

    /// Like `spawn`, with a session timeout of `session_timeout_ms` instead of
    /// `SESSION_TIMEOUT_MS`.
    pub fn spawn_with_session_timeout(
        node: &EddyNode,
        lib: Lib,
        topic: &str,
        group: &str,
        name: &str,
        instance: Option<&str>,
        session_timeout_ms: u64,
    ) -> Member {
        // A member may be started again under the same name: number every start.
        let start = MEMBER_STARTS.fetch_add(1, Ordering::Relaxed);
        let stderr_path = node
            .scratch_dir()
            .join(format!("member-{name}-{start}.err"));
        let stderr = File::create(&stderr_path).expect("create the member's stderr file");
        let mut cmd = Command::new(python());
        cmd.arg(python_script("groups_member.py"))
            .args([lib.arg(), &node.bootstrap(), topic, group, name])
            .args(instance)
            .env(
                "GROUPS_MEMBER_SESSION_TIMEOUT_MS",
                session_timeout_ms.to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|err| panic!("cannot spawn member {name}: {err}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let who = name.to_owned();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                match serde_json::from_str::<Value>(&line) {
                    Ok(event) => sink.lock().expect("events lock").push(event),
                    Err(_) => eprintln!("member {who} printed a non-event line: {line}"),
                }
            }
        });
        Member {
            name: name.to_owned(),
            child: Some(child),
            stdin,
            events,
            reader: Some(reader),
            stderr_path,
        }
    }

    /// The process id (for SIGSTOP and SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("member process").id()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Value> {
        self.events.lock().expect("events lock").clone()
    }

    /// How many events so far (to look only at later ones with `events_since`).
    pub fn event_count(&self) -> usize {
        self.events.lock().expect("events lock").len()
    }

    /// The events after the first `start` ones.
    pub fn events_since(&self, start: usize) -> Vec<Value> {
        self.events()[start..].to_vec()
    }

    /// The partitions the member holds now: those of its last `assigned` event, unless a
    /// `revoked` event came after it (eager rebalancing revokes everything first).
    pub fn assignment(&self) -> BTreeSet<i32> {
        let mut current = BTreeSet::new();
        for event in self.events() {
            match event["ev"].as_str() {
                Some("assigned") => current = partitions_of(&event),
                Some("revoked") => current.clear(),
                _ => {}
            }
        }
        current
    }

    /// The last generation the member reported (kafka-python members only), with whether
    /// it was the leader of that generation.
    pub fn generation(&self) -> Option<(i64, bool)> {
        self.events()
            .iter()
            .rev()
            .find(|e| e["ev"] == "generation")
            .map(|e| {
                let generation = e["generation"].as_i64().expect("generation number");
                (generation, e["leader"].as_bool().unwrap_or(false))
            })
    }

    /// Every record the member read, as (partition, offset), in order, repeats included.
    pub fn records(&self) -> Vec<(i32, i64)> {
        records_of(&self.events())
    }

    /// How many records the member read that no successful commit covered: those of a
    /// batch followed by `commit_failed`, or by nothing at all.
    pub fn uncommitted(&self) -> usize {
        let mut pending = 0;
        let mut uncommitted = 0;
        for event in self.events() {
            match event["ev"].as_str() {
                Some("records") => {
                    uncommitted += pending;
                    pending = event["records"].as_array().map_or(0, Vec::len);
                }
                Some("committed") => pending = 0,
                Some("commit_failed") => {
                    uncommitted += pending;
                    pending = 0;
                }
                _ => {}
            }
        }
        uncommitted + pending
    }

    /// Whether the member printed an event named `ev`.
    pub fn saw(&self, ev: &str) -> bool {
        self.events().iter().any(|e| e["ev"] == ev)
    }

    /// Asks the member to close its consumer (a dynamic member leaves the group) and waits
    /// for the process to exit successfully.
    pub fn close(&mut self) {
        if let Some(stdin) = self.stdin.as_mut() {
            // A write error means the process already exited; its status tells why.
            let _ = stdin.write_all(b"close\n");
            let _ = stdin.flush();
        }
        let mut child = self.child.take().expect("close a running member");
        let status = wait_bounded(&mut child, Duration::from_millis(MEMBER_CLOSE_TIMEOUT_MS));
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.join_reader();
        assert!(
            status.is_some_and(|s| s.success()),
            "member {} did not close cleanly within {MEMBER_CLOSE_TIMEOUT_MS} ms (status \
             {status:?})\nstderr:\n{}",
            self.name,
            self.stderr()
        );
        assert!(
            self.saw("closed"),
            "member {} exited without closing",
            self.name
        );
    }

    /// Kills the member with SIGKILL: it leaves no goodbye (no LeaveGroup, no commit).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.join_reader();
    }

    /// Freezes the whole process (all its threads) with SIGSTOP.
    pub fn stop(&self) {
        signal(self.pid(), "-STOP");
    }

    /// Lets a frozen process run again with SIGCONT.
    pub fn cont(&self) {
        signal(self.pid(), "-CONT");
    }

    /// What the member printed on stderr (its last few KiB).
    pub fn stderr(&self) -> String {
        tail(&std::fs::read(&self.stderr_path).unwrap_or_default())
    }

    fn join_reader(&mut self) {
        self.stdin = None;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A stopped process still dies of SIGKILL; SIGCONT first keeps no zombie state.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!(
                "----- member {} events -----\n{}\n----- member {} stderr -----\n{}",
                self.name,
                self.events()
                    .iter()
                    .map(Value::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
                self.name,
                self.stderr()
            );
        }
    }
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap_or_else(|err| panic!("cannot run kill {which} {pid}: {err}"));
    assert!(status.success(), "kill {which} {pid} failed: {status}");
}

fn partitions_of(event: &Value) -> BTreeSet<i32> {
    event["partitions"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .filter_map(Value::as_i64)
                .map(|p| i32::try_from(p).expect("partition fits i32"))
                .collect()
        })
        .unwrap_or_default()
}

fn records_of(events: &[Value]) -> Vec<(i32, i64)> {
    let mut records = Vec::new();
    for event in events.iter().filter(|e| e["ev"] == "records") {
        for record in event["records"].as_array().into_iter().flatten() {
            let partition = record[0].as_i64().expect("record partition");
            let offset = record[1].as_i64().expect("record offset");
            records.push((
                i32::try_from(partition).expect("partition fits i32"),
                offset,
            ));
        }
    }
    records
}

/// Waits until `done` holds, checking every `WAIT_POLL_MS`; panics with `what` after
/// `timeout`. Returns how long it took.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if done() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting until {what}"
        );
        thread::sleep(Duration::from_millis(WAIT_POLL_MS));
    }
}

/// Whether the members' current assignments are non-empty, pairwise disjoint and together
/// exactly partitions `0..partitions`.
pub fn disjoint_cover(members: &[&Member], partitions: i32) -> bool {
    let mut seen = BTreeSet::new();
    for member in members {
        let assignment = member.assignment();
        if assignment.is_empty() {
            return false;
        }
        for p in assignment {
            if !seen.insert(p) {
                return false;
            }
        }
    }
    seen == (0..partitions).collect()
}

/// Runs `future` on a fresh single-threaded tokio runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a tokio runtime")
        .block_on(future)
}

/// Creates `topic` with `partitions` partitions through Eddy's admin client.
pub fn create_topic(node: &EddyNode, topic: &str, partitions: i32) {
    block_on(async {
        let mut admin = Admin::connect(&node.bootstrap())
            .await
            .expect("connect admin");
        admin
            .create_topic(topic, partitions, 1, &[])
            .await
            .unwrap_or_else(|err| panic!("create topic {topic}: {err}"));
    });
}

/// Produces `per_partition` records to each of `partitions` (acks=all) and returns the
/// log end offset of every partition afterwards.
pub fn produce(
    node: &EddyNode,
    topic: &str,
    partitions: &[i32],
    per_partition: usize,
) -> BTreeMap<i32, i64> {
    block_on(async {
        let mut producer = Producer::connect(&node.bootstrap(), ProducerConfig::default())
            .await
            .expect("connect producer");
        let mut receipts = Vec::new();
        for i in 0..per_partition {
            for &p in partitions {
                let record = ProducerRecord::new(topic, format!("p{p}-r{i}")).with_partition(p);
                receipts.push(producer.send(record).await.expect("queue a record"));
            }
        }
        producer.flush().await.expect("flush the producer");
        let mut ends = BTreeMap::new();
        for receipt in receipts {
            let written = receipt.wait().await.expect("record acknowledged");
            let end = ends.entry(written.partition).or_insert(0);
            *end = (*end).max(written.offset + 1);
        }
        ends
    })
}

/// The log end offset of partitions `0..partitions` of `topic`.
pub fn log_end_offsets(node: &EddyNode, topic: &str, partitions: i32) -> BTreeMap<i32, i64> {
    block_on(async {
        let mut admin = Admin::connect(&node.bootstrap())
            .await
            .expect("connect admin");
        let wanted: Vec<(String, i32)> = (0..partitions).map(|p| (topic.to_owned(), p)).collect();
        admin
            .log_end_offsets(&wanted)
            .await
            .expect("list offsets")
            .into_iter()
            .map(|((_, p), end)| (p, end))
            .collect()
    })
}

/// DescribeGroups through Eddy's admin client.
pub fn describe_group(node: &EddyNode, group: &str) -> GroupDescription {
    block_on(async {
        let mut admin = Admin::connect(&node.bootstrap())
            .await
            .expect("connect admin");
        admin
            .describe_group(group)
            .await
            .unwrap_or_else(|err| panic!("describe group {group}: {err}"))
    })
}

/// The group's committed offsets with lag, through Eddy's admin client.
pub fn group_offsets(node: &EddyNode, group: &str) -> Vec<GroupPartitionOffset> {
    block_on(async {
        let mut admin = Admin::connect(&node.bootstrap())
            .await
            .expect("connect admin");
        admin
            .group_offsets(group)
            .await
            .unwrap_or_else(|err| panic!("offsets of group {group}: {err}"))
    })
}

/// The partitions each member holds according to DescribeGroups, by client id.
pub fn described_assignments(description: &GroupDescription) -> BTreeMap<String, BTreeSet<i32>> {
    description
        .members
        .iter()
        .map(|m| {
            let partitions = m
                .assignment
                .iter()
                .flat_map(|a| a.partitions.iter().copied())
                .collect();
            (m.client_id.clone(), partitions)
        })
        .collect()
}

/// Runs `eddy group ARGS --bootstrap-server NODE`; returns (success, stdout, stderr).
pub fn eddy_group(node: &EddyNode, args: &[&str]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    cmd.arg("group")
        .args(args)
        .args(["--bootstrap-server", &node.bootstrap()])
        .env_remove("EDDY_BOOTSTRAP_SERVER");
    let output = run_with_timeout(&mut cmd, None, Duration::from_millis(CLI_TIMEOUT_MS));
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `eddy group ARGS --json`, asserts it succeeds and parses its output.
pub fn eddy_group_json(node: &EddyNode, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (ok, stdout, stderr) = eddy_group(node, &all);
    assert!(ok, "eddy group {all:?} failed:\n{stderr}");
    serde_json::from_str(&stdout)
        .unwrap_or_else(|err| panic!("eddy group {all:?} printed no JSON ({err}):\n{stdout}"))
}

/// Produces one record to each of `partitions` per round, `rounds` times, pausing `pause`
/// between rounds (a steady stream while a test changes the group); returns how many
/// records were acknowledged.
pub fn produce_paced(
    bootstrap: &str,
    topic: &str,
    partitions: &[i32],
    rounds: usize,
    pause: Duration,
) -> usize {
    block_on(async {
        let mut producer = Producer::connect(bootstrap, ProducerConfig::default())
            .await
            .expect("connect producer");
        let mut acknowledged = 0;
        for round in 0..rounds {
            let mut receipts = Vec::new();
            for &p in partitions {
                let record =
                    ProducerRecord::new(topic, format!("p{p}-paced{round}")).with_partition(p);
                receipts.push(producer.send(record).await.expect("queue a record"));
            }
            producer.flush().await.expect("flush the producer");
            for receipt in receipts {
                receipt.wait().await.expect("record acknowledged");
                acknowledged += 1;
            }
            tokio::time::sleep(pause).await;
        }
        acknowledged
    })
}

/// Every (partition, offset) below the given log end offsets.
pub fn expected_records(ends: &BTreeMap<i32, i64>) -> BTreeSet<(i32, i64)> {
    ends.iter()
        .flat_map(|(&p, &end)| (0..end).map(move |o| (p, o)))
        .collect()
}

/// The distinct records the members read together.
pub fn distinct_records(members: &[&Member]) -> BTreeSet<(i32, i64)> {
    members.iter().flat_map(|m| m.records()).collect()
}
