//! What the cluster tests (`tests/cluster_*.rs`) share on top of `tests/common/`: a
//! cluster of `eddy` nodes, each a separate process on loopback ports with its own data
//! directory, that a test can kill (SIGKILL), restart on the same data, pause (SIGSTOP) and
//! resume (SIGCONT), and to which it can add a node that joins through the seeds; the
//! admin endpoint's `/cluster` and `/cluster/moves` views and its POST requests
//! (decommissioning); topic creation through the CLI; and the checker — an idempotent
//! acks=all producer in its own process (`tests/cluster_support/checker.py`) whose
//! acknowledged records are later compared with what the cluster returns.
//!
//! Every wait is bounded by a named limit. Dropping the cluster resumes every paused node
//! and then kills every node, so no process outlives its test, stopped or not; a cluster
//! dropped while its test panics prints the tail of every node's log.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::common::{
    python, repo_root, run_with_timeout, tail, unexpected_error_lines, wait_bounded, PORT_IN_USE,
};

/// Nodes in a test cluster; all of them are controller voters.
pub const CLUSTER_SIZE: usize = 3;
/// `--broker-session-timeout-ms`: a node silent for this long is fenced.
pub const SESSION_TIMEOUT_MS: u64 = 3_000;
/// `--broker-heartbeat-interval-ms`.
pub const HEARTBEAT_INTERVAL_MS: u64 = 300;
/// `--replica-lag-time-max-ms`: a follower this far behind leaves the ISR.
pub const REPLICA_LAG_TIME_MAX_MS: u64 = 3_000;
/// How long a fresh cluster may take until every node reports all members unfenced.
pub const CLUSTER_READY_TIMEOUT_MS: u64 = 60_000;
/// How long a spawned node may take until its Kafka and admin ports accept connections.
pub const NODE_PORTS_TIMEOUT_MS: u64 = 30_000;
/// How many times a cluster (or a restarted node) is started when a port was taken.
pub const START_ATTEMPTS_MAX: u32 = 3;
/// Pause before a node whose port was taken is started again.
pub const START_RETRY_PAUSE_MS: u64 = 500;
/// Pause between two checks of a condition a test waits for.
pub const WAIT_POLL_MS: u64 = 100;
/// Limit for one admin HTTP exchange; a paused node must not stall a wait for long.
pub const ADMIN_HTTP_TIMEOUT_MS: u64 = 2_000;
/// How long a killed node may take to be reaped.
pub const NODE_EXIT_TIMEOUT_MS: u64 = 10_000;
/// How long one `eddy` CLI call may take.
pub const CLI_TIMEOUT_MS: u64 = 60_000;
/// How much of each node's log a failing test prints.
pub const LOG_TAIL_BYTES_MAX: usize = 64 * 1024;
/// How long the checker may take to flush and exit once asked to stop.
pub const CHECKER_STOP_TIMEOUT_MS: u64 = 60_000;
/// How long reading a topic back with the checker may take.
pub const CHECKER_CONSUME_TIMEOUT_MS: u64 = 90_000;

/// The timing flags every node of a cluster starts with; the default is the constants
/// above, what `Cluster::start` uses. A test that needs others (say, a session timeout long
/// enough that a paused node is never fenced) starts its cluster with
/// `Cluster::start_with_timings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeTimings {
    /// `--broker-session-timeout-ms`.
    pub session_timeout_ms: u64,
    /// `--broker-heartbeat-interval-ms`.
    pub heartbeat_interval_ms: u64,
    /// `--replica-lag-time-max-ms`.
    pub replica_lag_time_max_ms: u64,
}

impl Default for NodeTimings {
    fn default() -> NodeTimings {
        NodeTimings {
            session_timeout_ms: SESSION_TIMEOUT_MS,
            heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
            replica_lag_time_max_ms: REPLICA_LAG_TIME_MAX_MS,
        }
    }
}

/// Waits until `probe` returns `Ok`, checking every `WAIT_POLL_MS`; after `timeout` panics
/// with `what` and the last reason `probe` gave for not being done.
pub fn wait_for<T>(what: &str, timeout: Duration, probe: impl FnMut() -> Result<T, String>) -> T {
    crate::common::wait_until_ok(what, timeout, Duration::from_millis(WAIT_POLL_MS), probe)
}

/// A test's whole time limit, shared by its phases; also stamps the test's progress lines
/// with the time since it started.
pub struct Budget {
    started: Instant,
    total: Duration,
}

impl Budget {
    /// Starts the clock on `total`.
    pub fn start(total: Duration) -> Budget {
        Budget {
            started: Instant::now(),
            total,
        }
    }

    /// The time left for the rest of the test, never more than `phase`.
    pub fn limit(&self, phase: Duration) -> Duration {
        phase.min(self.total.saturating_sub(self.started.elapsed()))
    }

    /// Prints `event` with the time since the start.
    pub fn log(&self, event: &str) {
        println!("[{:6.1}s] {event}", self.started.elapsed().as_secs_f64());
    }
}

/// `n` distinct loopback ports that were free a moment ago: all are bound at once, so none
/// repeats, then released for the nodes to bind.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local address").port())
        .collect()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .unwrap_or_else(|err| panic!("cannot run kill {which} {pid}: {err}"));
    assert!(status.success(), "kill {which} {pid} failed: {status}");
}

/// Sends `GET <path>` as HTTP/1.0 (so the body is neither chunked nor kept alive) and
/// returns the body of a 200 answer; any failure, a timeout included, is an `Err`.
pub fn admin_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<String, String> {
    let (status, body) = admin_request(addr, "GET", path, timeout)?;
    if status != 200 {
        return Err(format!("GET {path} from {addr}: status {status}: {body}"));
    }
    Ok(body)
}

/// Sends `POST <path>` with an empty body as HTTP/1.0 and returns the status and body,
/// whatever the status; only a failed exchange is an `Err`.
pub fn admin_post(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    admin_request(addr, "POST", path, timeout)
}

/// One HTTP/1.0 exchange with an empty request body: the answer's status and body.
fn admin_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    crate::common::http_exchange(addr, method, path, None, timeout)
}

/// One member of `/cluster`'s `members`.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberStatus {
    pub node_id: i32,
    pub kafka: String,
    pub fenced: bool,
    /// Leaving for good: its replicas are moving away.
    #[serde(default)]
    pub decommissioning: bool,
}

/// One partition of a topic in `/cluster`.
#[derive(Debug, Clone, Deserialize)]
pub struct PartitionStatus {
    pub partition: i32,
    /// The leader's node id; null or negative while the partition has none.
    pub leader: Option<i32>,
    pub leader_epoch: i64,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

impl PartitionStatus {
    /// The leader, if the partition has one.
    pub fn leader_id(&self) -> Option<i32> {
        self.leader.filter(|id| *id >= 0)
    }

    /// Whether the ISR holds exactly the replicas (in any order).
    pub fn isr_is_full(&self) -> bool {
        let isr: BTreeSet<i32> = self.isr.iter().copied().collect();
        let replicas: BTreeSet<i32> = self.replicas.iter().copied().collect();
        isr.len() == self.isr.len() && isr == replicas
    }

    /// The replicas as a set.
    pub fn replica_set(&self) -> BTreeSet<i32> {
        self.replicas.iter().copied().collect()
    }
}

/// One topic in `/cluster`.
#[derive(Debug, Clone, Deserialize)]
pub struct TopicStatus {
    pub name: String,
    pub partitions: Vec<PartitionStatus>,
}

/// A node's answer to `GET /cluster`: its view of the cluster metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct ClusterStatus {
    /// The node that answered.
    pub node_id: i32,
    /// The Raft leader as the answering node knows it.
    pub controller: Option<i32>,
    pub members: Vec<MemberStatus>,
    pub topics: Vec<TopicStatus>,
    /// The JSON as served, for failure messages.
    #[serde(skip)]
    pub raw: String,
}

impl ClusterStatus {
    /// Parses a `/cluster` body.
    pub fn parse(body: &str) -> Result<ClusterStatus, String> {
        let mut status: ClusterStatus = serde_json::from_str(body).map_err(|err| {
            format!("/cluster answered JSON this harness cannot read ({err}): {body}")
        })?;
        status.raw = body.to_string();
        Ok(status)
    }

    /// The member with this node id.
    pub fn member(&self, node_id: i32) -> Option<&MemberStatus> {
        self.members.iter().find(|m| m.node_id == node_id)
    }

    /// Whether the cluster has exactly `size` members and none of them is fenced.
    pub fn all_members_live(&self, size: usize) -> bool {
        self.members.len() == size && self.members.iter().all(|m| !m.fenced)
    }

    /// The partitions of `topic`, sorted by partition id.
    pub fn partitions(&self, topic: &str) -> Vec<PartitionStatus> {
        let mut partitions = self
            .topics
            .iter()
            .find(|t| t.name == topic)
            .map(|t| t.partitions.clone())
            .unwrap_or_default();
        partitions.sort_by_key(|p| p.partition);
        partitions
    }

    /// Every partition's replicas (as a set) by partition id.
    pub fn replica_sets(&self, topic: &str) -> BTreeMap<i32, BTreeSet<i32>> {
        self.partitions(topic)
            .iter()
            .map(|p| (p.partition, p.replica_set()))
            .collect()
    }

    /// One partition of `topic`.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<PartitionStatus> {
        self.partitions(topic)
            .into_iter()
            .find(|p| p.partition == partition)
    }

    /// Whether `topic` has partitions `0..count`, each with a leader and its full ISR.
    pub fn topic_is_settled(&self, topic: &str, count: i32) -> bool {
        let partitions = self.partitions(topic);
        partitions.iter().map(|p| p.partition).eq(0..count)
            && partitions
                .iter()
                .all(|p| p.leader_id().is_some() && p.isr_is_full())
    }
}

/// One replica move in `/cluster/moves`: a partition whose replicas are not yet where the
/// placement wants them.
#[derive(Debug, Clone, Deserialize)]
pub struct MoveStatus {
    pub topic: String,
    pub partition: i32,
    /// The replicas now.
    pub from: Vec<i32>,
    /// The replicas once the move is done.
    pub to: Vec<i32>,
}

/// A node's answer to `GET /cluster/moves`: the replica moves pending or in flight.
#[derive(Debug, Clone, Deserialize)]
pub struct MovesStatus {
    pub replicas_total: usize,
    pub replicas_moving: usize,
    pub moves: Vec<MoveStatus>,
    /// The JSON as served, for failure messages.
    #[serde(skip)]
    pub raw: String,
}

impl MovesStatus {
    /// Parses a `/cluster/moves` body.
    pub fn parse(body: &str) -> Result<MovesStatus, String> {
        let mut moves: MovesStatus = serde_json::from_str(body).map_err(|err| {
            format!("/cluster/moves answered JSON this harness cannot read ({err}): {body}")
        })?;
        moves.raw = body.to_string();
        Ok(moves)
    }
}

/// One `eddy start` process of a cluster and everything needed to start it again.
pub struct ClusterNode {
    id: i32,
    kafka_port: u16,
    peer_port: u16,
    admin_port: u16,
    seeds: String,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    paused: bool,
    starts: u32,
    timings: NodeTimings,
    /// The program started in place of the `eddy` binary (`set_program`).
    program: Option<PathBuf>,
    /// Flags added to every start (`Cluster::start_with_racks`).
    extra_args: Vec<String>,
}

impl ClusterNode {
    /// A node not yet started: `ports` are its Kafka, peer and admin ports; its data
    /// directory and log are in `dir`.
    fn new(id: i32, ports: &[u16], seeds: &str, dir: &Path) -> ClusterNode {
        ClusterNode {
            id,
            kafka_port: ports[0],
            peer_port: ports[1],
            admin_port: ports[2],
            seeds: seeds.to_string(),
            data_dir: dir.join(format!("node-{id}")),
            log_path: dir.join(format!("node-{id}.log")),
            child: None,
            paused: false,
            starts: 0,
            timings: NodeTimings::default(),
            program: None,
            extra_args: Vec::new(),
        }
    }

    /// From its next start on, runs `program` (an Eddy binary of one's own, such as the
    /// `own_catalog` example: the same CLI with another catalog) in place of `eddy`.
    pub fn set_program(&mut self, program: PathBuf) {
        self.program = Some(program);
    }

    /// The same node started with `timings` instead of the default ones.
    fn with_timings(mut self, timings: NodeTimings) -> ClusterNode {
        self.timings = timings;
        self
    }

    /// The node id.
    pub fn id(&self) -> i32 {
        self.id
    }

    /// The Kafka address, `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.kafka_port)
    }

    /// The Kafka listener.
    pub fn kafka_addr(&self) -> SocketAddr {
        loopback(self.kafka_port)
    }

    /// The peer (node-to-node) address, `127.0.0.1:<port>`.
    pub fn peer(&self) -> String {
        format!("127.0.0.1:{}", self.peer_port)
    }

    /// The admin HTTP listener.
    pub fn admin_addr(&self) -> SocketAddr {
        loopback(self.admin_port)
    }

    /// The node's data directory (kept across restarts).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The process id of the running node.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the node is not running").id()
    }

    /// Whether the process runs (paused counts as running) and has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// Whether the node is stopped with SIGSTOP.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Everything the node printed so far (all starts).
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|err| format!("<no log: {err}>"))
    }

    /// What the node printed since its latest start began, so a start is judged by its
    /// own output only.
    pub fn start_log(&self) -> String {
        let log = self.log();
        let banner = format!("===== eddy start #{} of node {} ", self.starts, self.id);
        match log.rfind(&banner) {
            Some(at) => log[at..].to_string(),
            None => log,
        }
    }

    /// Whether the latest start failed because a port was taken (see `PORT_IN_USE`).
    fn port_was_taken(&self) -> bool {
        self.start_log().contains(PORT_IN_USE)
    }

    /// Panics unless the node's log (all starts) shows no panic and no ERROR line of its
    /// own other than those containing one of `expected` (see `unexpected_error_lines`),
    /// and — if the test did not kill it — its process still runs (a node that exited on
    /// its own is reported with its status).
    pub fn assert_healthy_except(&mut self, expected: &[&str]) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!("node {} exited on its own with {status}", self.id);
        }
        let log = self.log();
        assert!(!log.contains("panicked"), "node {} panicked", self.id);
        let unexpected = unexpected_error_lines(&log, expected);
        assert!(
            unexpected.is_empty(),
            "node {} logged {} unexpected ERROR line(s) (allowed: {expected:?}):\n{}",
            self.id,
            unexpected.len(),
            unexpected.join("\n")
        );
    }

    /// This node's `/cluster` view; `Err` if it is down, paused or does not answer.
    pub fn status(&self) -> Result<ClusterStatus, String> {
        if self.child.is_none() || self.paused {
            return Err(format!("node {} is down or paused", self.id));
        }
        let timeout = Duration::from_millis(ADMIN_HTTP_TIMEOUT_MS);
        ClusterStatus::parse(&admin_get(self.admin_addr(), "/cluster", timeout)?)
    }

    /// This node's `/cluster/moves` view; `Err` if it is down, paused or does not answer.
    pub fn moves(&self) -> Result<MovesStatus, String> {
        if self.child.is_none() || self.paused {
            return Err(format!("node {} is down or paused", self.id));
        }
        let timeout = Duration::from_millis(ADMIN_HTTP_TIMEOUT_MS);
        MovesStatus::parse(&admin_get(self.admin_addr(), "/cluster/moves", timeout)?)
    }

    /// Sends `POST <path>` to this node's admin endpoint: the answer's status and body.
    pub fn admin_post(&self, path: &str) -> Result<(u16, String), String> {
        admin_post(
            self.admin_addr(),
            path,
            Duration::from_millis(ADMIN_HTTP_TIMEOUT_MS),
        )
    }

    /// Kills the node with SIGKILL (no shutdown code runs) and reaps it.
    pub fn kill9(&mut self) {
        let mut child = self
            .child
            .take()
            .expect("kill9 on a node that is not running");
        // A node that died by itself before the kill crashed unnoticed: a kill and restart
        // must not hide that.
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "kill9 of node {}, which had already exited on its own with {status}",
                self.id
            );
        }
        let _ = child.kill();
        self.paused = false;
        let status = wait_bounded(&mut child, Duration::from_millis(NODE_EXIT_TIMEOUT_MS));
        assert!(
            status.is_some(),
            "killed node {} was not reaped in time",
            self.id
        );
    }

    /// Starts the killed node again with the same arguments, ports and data directory, and
    /// waits until its ports accept connections (joining the cluster is the caller's wait).
    /// The first start-up failure fails the test — a recovery that only works on a second
    /// try is a failed recovery — except a taken port.
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "restart of node {} while it runs",
            self.id
        );
        for attempt in 1..=START_ATTEMPTS_MAX {
            match self.spawn().and_then(|()| self.wait_for_ports()) {
                Ok(()) => return,
                // The one expected failure: another process holds one of the node's ports
                // for a moment. The ports stay the same, as peers and clients know them, so
                // it waits and tries again.
                Err(err) if attempt < START_ATTEMPTS_MAX && self.port_was_taken() => {
                    eprintln!(
                        "restart attempt {attempt} of node {} found a port taken, retrying: {err}",
                        self.id
                    );
                    self.stop_quietly();
                    thread::sleep(Duration::from_millis(START_RETRY_PAUSE_MS));
                }
                Err(err) => panic!("node {} start #{} failed: {err}", self.id, self.starts),
            }
        }
        unreachable!("the last restart attempt either returns or panics")
    }

    /// Freezes the whole process (every thread) with SIGSTOP.
    pub fn pause(&mut self) {
        signal(self.pid(), "-STOP");
        self.paused = true;
    }

    /// Lets a paused process run again with SIGCONT.
    pub fn resume(&mut self) {
        signal(self.pid(), "-CONT");
        self.paused = false;
    }

    fn spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|err| format!("open {}: {err}", self.log_path.display()))?;
        writeln!(
            log,
            "===== eddy start #{} of node {} =====",
            self.starts, self.id
        )
        .map_err(|err| format!("write {}: {err}", self.log_path.display()))?;
        let stderr = log
            .try_clone()
            .map_err(|err| format!("clone log handle: {err}"))?;
        let program = self
            .program
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_eddy")));
        let mut cmd = Command::new(&program);
        // Settings come from the arguments only, never from the caller's `EDDY_*` variables.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("EDDY_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .arg("start")
            .args(["--node-id", &self.id.to_string()])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen", &self.bootstrap()])
            .args(["--peer-listen", &self.peer()])
            .args(["--admin", &self.admin_addr().to_string()])
            .args(["--seeds", &self.seeds])
            .args([
                "--broker-session-timeout-ms",
                &self.timings.session_timeout_ms.to_string(),
            ])
            .args([
                "--broker-heartbeat-interval-ms",
                &self.timings.heartbeat_interval_ms.to_string(),
            ])
            .args([
                "--replica-lag-time-max-ms",
                &self.timings.replica_lag_time_max_ms.to_string(),
            ])
            .args(["--controller-voters", &CLUSTER_SIZE.to_string()])
            .args(&self.extra_args)
            .env("RUST_BACKTRACE", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            .spawn()
            .map_err(|err| format!("cannot spawn {}: {err}", program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the Kafka and admin ports accept TCP connections.
    fn wait_for_ports(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_millis(NODE_PORTS_TIMEOUT_MS);
        let probe = Duration::from_millis(200);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!(
                    "node {} exited during start-up with {status}",
                    self.id
                ));
            }
            if TcpStream::connect_timeout(&loopback(self.kafka_port), probe).is_ok()
                && TcpStream::connect_timeout(&self.admin_addr(), probe).is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "node {} did not accept connections on {} and {} within \
                     {NODE_PORTS_TIMEOUT_MS} ms",
                    self.id,
                    self.bootstrap(),
                    self.admin_addr()
                ));
            }
            thread::sleep(Duration::from_millis(WAIT_POLL_MS));
        }
    }

    /// Resumes (a SIGKILL does not need it, but no stopped process is left behind even if
    /// the kill fails) and kills the process, if any.
    fn stop_quietly(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    fn log_tail_banner(&self) -> String {
        let log = fs::read(&self.log_path).unwrap_or_default();
        let start = log.len().saturating_sub(LOG_TAIL_BYTES_MAX);
        format!(
            "----- node {} log, last {} bytes ({}) -----\n{}\n----- end of node {} log -----",
            self.id,
            log.len() - start,
            self.log_path.display(),
            String::from_utf8_lossy(&log[start..]),
            self.id
        )
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        self.stop_quietly();
    }
}

/// `CLUSTER_SIZE` nodes with ids 1, 2, 3, all given the same seed list (node 1's peer
/// address first, so node 1 bootstraps the Raft cluster).
pub struct Cluster {
    nodes: Vec<ClusterNode>,
    dir: tempfile::TempDir,
    /// The timing flags of every node, added ones included.
    timings: NodeTimings,
}

impl Cluster {
    /// Starts the nodes and waits until every node reports all members unfenced.
    pub fn start() -> Cluster {
        Cluster::start_with_timings(NodeTimings::default())
    }

    /// Starts the nodes, node `i + 1` with `--rack racks[i]`, and waits until every node
    /// reports all members unfenced (each node records its rack at its next heartbeats).
    pub fn start_with_racks(racks: [&str; CLUSTER_SIZE]) -> Cluster {
        let args = |id: i32| vec!["--rack".to_string(), racks[(id - 1) as usize].to_string()];
        Cluster::start_with(NodeTimings::default(), &args)
    }

    /// Starts the nodes with `timings` instead of the default timing flags (nodes added
    /// later get them too) and waits until every node reports all members unfenced.
    pub fn start_with_timings(timings: NodeTimings) -> Cluster {
        Cluster::start_with(timings, &|_| Vec::new())
    }

    fn start_with(timings: NodeTimings, args: &dyn Fn(i32) -> Vec<String>) -> Cluster {
        for attempt in 1..=START_ATTEMPTS_MAX {
            let mut cluster = Cluster::spawn_all(timings, args);
            match cluster.wait_for_ports() {
                Ok(()) => {
                    cluster.wait_until_ready();
                    return cluster;
                }
                // The one expected failure: `free_ports` releases its ports before the nodes
                // bind them, so another process may take one in between. It is retried on
                // fresh ports; any other start-up failure fails the test at once.
                Err(err)
                    if attempt < START_ATTEMPTS_MAX
                        && cluster.nodes.iter().any(ClusterNode::port_was_taken) =>
                {
                    // Dropping the cluster kills the nodes of this attempt.
                    eprintln!("cluster start attempt {attempt} lost a port, retrying: {err}");
                }
                Err(err) => panic!("{err}"),
            }
        }
        unreachable!("the last start attempt either returns or panics")
    }

    fn spawn_all(timings: NodeTimings, args: &dyn Fn(i32) -> Vec<String>) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("eddy-cluster-test-")
            .tempdir()
            .expect("create a temporary directory for the cluster");
        let ports = free_ports(3 * CLUSTER_SIZE);
        let seeds: Vec<String> = (0..CLUSTER_SIZE)
            .map(|i| format!("127.0.0.1:{}", ports[3 * i + 1]))
            .collect();
        let seeds = seeds.join(",");
        let mut nodes: Vec<ClusterNode> = (0..CLUSTER_SIZE)
            .map(|i| {
                let id = i32::try_from(i + 1).expect("node id fits i32");
                let mut node = ClusterNode::new(id, &ports[3 * i..3 * i + 3], &seeds, dir.path())
                    .with_timings(timings);
                node.extra_args = args(id);
                node
            })
            .collect();
        // Node 1 (the first seed) goes first: it is the one that bootstraps the quorum.
        for node in &mut nodes {
            node.spawn().unwrap_or_else(|err| panic!("{err}"));
        }
        Cluster {
            nodes,
            dir,
            timings,
        }
    }

    fn wait_for_ports(&mut self) -> Result<(), String> {
        self.nodes
            .iter_mut()
            .try_for_each(ClusterNode::wait_for_ports)
    }

    fn wait_until_ready(&mut self) {
        wait_for(
            "every node reports all members unfenced",
            Duration::from_millis(CLUSTER_READY_TIMEOUT_MS),
            || {
                for node in &mut self.nodes {
                    assert!(node.is_running(), "node {} exited while joining", node.id);
                    let status = node.status()?;
                    if !status.all_members_live(CLUSTER_SIZE) {
                        return Err(format!("node {} sees {}", node.id, status.raw));
                    }
                }
                Ok(())
            },
        );
    }

    /// Starts one more node with the next free id, its own ports and data directory, the
    /// same seed list (which does not name it, so it joins through the seeds) and the same
    /// timing flags; waits until its ports accept connections and returns its id. Joining
    /// the cluster is the caller's wait.
    pub fn add_node(&mut self) -> i32 {
        let id = self.nodes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
        let seeds = self
            .nodes
            .first()
            .map(|n| n.seeds.clone())
            .expect("a cluster to join");
        for attempt in 1..=START_ATTEMPTS_MAX {
            let mut node = ClusterNode::new(id, &free_ports(3), &seeds, self.dir.path())
                .with_timings(self.timings);
            match node.spawn().and_then(|()| node.wait_for_ports()) {
                Ok(()) => {
                    self.nodes.push(node);
                    return id;
                }
                // The one expected failure: a port `free_ports` released was taken before the
                // node bound it. The next attempt starts afresh, on other ports.
                Err(err) if attempt < START_ATTEMPTS_MAX && node.port_was_taken() => {
                    eprintln!("start attempt {attempt} of node {id} lost a port, retrying: {err}");
                    let data_dir = node.data_dir.clone();
                    drop(node);
                    let _ = fs::remove_dir_all(&data_dir);
                }
                Err(err) => {
                    eprintln!("{}", node.log_tail_banner());
                    panic!("node {id} start failed: {err}");
                }
            }
        }
        unreachable!("the last start attempt either returns or panics")
    }

    /// Takes a node out of the cluster's list (views, waits and `bootstrap_all` no longer
    /// include it); the process runs until the returned node is dropped.
    pub fn remove_node(&mut self, id: i32) -> ClusterNode {
        let index = self
            .nodes
            .iter()
            .position(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id} in the cluster"));
        self.nodes.remove(index)
    }

    /// Starts the killed nodes `order` again, each with its arguments, ports and data
    /// directory, one right after the other in that order without waiting in between (as
    /// after a power cut), then waits until all their ports accept connections. Joining the
    /// cluster is the caller's wait. The first start-up failure of any node fails the test,
    /// except a taken port.
    pub fn restart_all(&mut self, order: &[i32]) {
        for id in order {
            assert!(
                self.node(*id).child.is_none(),
                "restart of node {id} while it runs"
            );
        }
        for attempt in 1..=START_ATTEMPTS_MAX {
            // A node whose port was taken in the previous attempt is started again; the
            // others keep running.
            for id in order {
                let node = self.node_mut(*id);
                if node.child.is_none() {
                    node.spawn().unwrap_or_else(|err| panic!("{err}"));
                }
            }
            let mut taken = Vec::new();
            for id in order {
                let node = self.node_mut(*id);
                if node.child.is_none() {
                    continue;
                }
                match node.wait_for_ports() {
                    Ok(()) => {}
                    // The one expected failure: another process holds one of the node's
                    // ports for a moment; the ports stay the same, as peers know them.
                    Err(err) if attempt < START_ATTEMPTS_MAX && node.port_was_taken() => {
                        node.stop_quietly();
                        taken.push(err);
                    }
                    Err(err) => panic!("node {id} start #{} failed: {err}", node.starts),
                }
            }
            if taken.is_empty() {
                return;
            }
            eprintln!(
                "restart attempt {attempt} of nodes {order:?} found ports taken, retrying: {}",
                taken.join("; ")
            );
            thread::sleep(Duration::from_millis(START_RETRY_PAUSE_MS));
        }
        unreachable!("the last restart attempt either returns or panics")
    }

    /// The node with this id.
    pub fn node(&self, id: i32) -> &ClusterNode {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id} in the cluster"))
    }

    /// The node with this id, to kill, restart, pause or resume it.
    pub fn node_mut(&mut self, id: i32) -> &mut ClusterNode {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id} in the cluster"))
    }

    /// All nodes, by id.
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }

    /// The node ids.
    pub fn ids(&self) -> Vec<i32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Every node's Kafka address, comma-separated (a client bootstrap list).
    pub fn bootstrap_all(&self) -> String {
        let all: Vec<String> = self.nodes.iter().map(ClusterNode::bootstrap).collect();
        all.join(",")
    }

    /// The Kafka addresses of the nodes not in `excluded`, comma-separated.
    pub fn bootstrap_excluding(&self, excluded: &[i32]) -> String {
        let some: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !excluded.contains(&n.id))
            .map(ClusterNode::bootstrap)
            .collect();
        some.join(",")
    }

    /// A directory for the test's own files, removed with the cluster.
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `/cluster` view of the first node, in id order, that answers and is not in
    /// `excluded` (a restarted or resumed node may serve a stale view until it catches up,
    /// so conditions about a node are checked from the others).
    pub fn status_excluding(&self, excluded: &[i32]) -> Result<ClusterStatus, String> {
        let mut reasons = Vec::new();
        for node in self.nodes.iter().filter(|n| !excluded.contains(&n.id)) {
            match node.status() {
                Ok(status) => return Ok(status),
                Err(err) => reasons.push(err),
            }
        }
        Err(format!("no node answered /cluster: {reasons:?}"))
    }

    /// Waits until a node outside `excluded` serves a view for which `done` holds, and
    /// returns that view.
    pub fn wait_for_status(
        &self,
        what: &str,
        timeout: Duration,
        excluded: &[i32],
        mut done: impl FnMut(&ClusterStatus) -> bool,
    ) -> ClusterStatus {
        wait_for(what, timeout, || {
            let status = self.status_excluding(excluded)?;
            if done(&status) {
                Ok(status)
            } else {
                Err(format!("node {} sees {}", status.node_id, status.raw))
            }
        })
    }

    /// Creates a topic with `eddy topic create` through node `via`; `configs` are
    /// `KEY=VALUE` topic configs.
    pub fn create_topic(
        &self,
        via: i32,
        topic: &str,
        partitions: i32,
        replication: i32,
        configs: &[&str],
    ) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
        cmd.args(["topic", "create", topic])
            .args(["--partitions", &partitions.to_string()])
            .args(["--replication-factor", &replication.to_string()])
            .args(["--bootstrap-server", &self.node(via).bootstrap()])
            .env_remove("EDDY_BOOTSTRAP_SERVER");
        for config in configs {
            cmd.args(["--config", config]);
        }
        let output = run_with_timeout(&mut cmd, None, Duration::from_millis(CLI_TIMEOUT_MS));
        assert!(
            output.status.success(),
            "eddy topic create {topic} through node {via} failed with {}\nstdout:\n{}\nstderr:\n{}",
            output.status,
            tail(&output.stdout),
            tail(&output.stderr)
        );
    }

    /// Waits until every node's view has `topic` with partitions `0..partitions`, each
    /// with a leader and its full ISR, and returns node 1's view.
    pub fn wait_until_topic_settled(
        &self,
        topic: &str,
        partitions: i32,
        timeout: Duration,
    ) -> ClusterStatus {
        wait_for(
            &format!("every node sees {topic} with leaders and full ISRs"),
            timeout,
            || {
                let mut first = None;
                for node in &self.nodes {
                    let status = node.status()?;
                    if !status.topic_is_settled(topic, partitions) {
                        return Err(format!("node {} sees {}", node.id, status.raw));
                    }
                    first.get_or_insert(status);
                }
                first.ok_or_else(|| "the cluster has no nodes".to_string())
            },
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking() {
            for node in &self.nodes {
                eprintln!("{}", node.log_tail_banner());
            }
        }
        // Each node's own drop resumes and kills it.
    }
}

/// Path of a script in `tests/cluster_support/`.
pub fn cluster_script(name: &str) -> PathBuf {
    let path = repo_root().join("tests").join("cluster_support").join(name);
    assert!(path.is_file(), "missing test script {}", path.display());
    path
}

/// Runs a script from `tests/cluster_support/` with the test interpreter, asserts it
/// succeeds and returns its standard output.
pub fn run_cluster_python(script: &str, args: &[&str], timeout: Duration) -> String {
    let mut cmd = Command::new(python());
    cmd.arg(cluster_script(script)).args(args);
    let output = run_with_timeout(&mut cmd, None, timeout);
    assert!(
        output.status.success(),
        "{script} {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        tail(&output.stdout),
        tail(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// One acknowledged record: the checker's sequence number and where the cluster put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub seq: u64,
    pub partition: i32,
    pub offset: i64,
}

/// Parses `<partition> <offset> <seq>` lines (the checker's acks file, and the records
/// its `consume` mode prints after `R `); an incomplete last line is ignored.
pub fn parse_placed(text: &str, prefix: &str) -> Vec<Placed> {
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    complete
        .lines()
        .filter_map(|line| line.strip_prefix(prefix))
        .map(|fields| {
            let mut it = fields.split(' ');
            let mut next = |what: &str| {
                it.next()
                    .unwrap_or_else(|| panic!("{what} missing in checker line {fields:?}"))
            };
            let partition = next("partition").parse().expect("checker partition");
            let offset = next("offset").parse().expect("checker offset");
            let seq = next("seq").parse().expect("checker sequence number");
            Placed {
                seq,
                partition,
                offset,
            }
        })
        .collect()
}

/// The checker's producer: `checker.py produce` running in its own process, writing each
/// acknowledged record to its acks file as soon as the delivery report arrives.
pub struct CheckerProducer {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    acks_path: PathBuf,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl CheckerProducer {
    /// Starts producing to `topic` through `bootstrap` (idempotent, acks=all).
    pub fn start(bootstrap: &str, topic: &str, dir: &Path) -> CheckerProducer {
        let acks_path = dir.join("checker-acks.txt");
        let stdout_path = dir.join("checker.out");
        let stderr_path = dir.join("checker.err");
        let stdout = File::create(&stdout_path).expect("create the checker's stdout file");
        let stderr = File::create(&stderr_path).expect("create the checker's stderr file");
        let mut child = Command::new(python())
            .arg(cluster_script("checker.py"))
            .args(["produce", bootstrap, topic])
            .arg(&acks_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot spawn checker.py: {err}"));
        let stdin = child.stdin.take();
        CheckerProducer {
            child: Some(child),
            stdin,
            acks_path,
            stdout_path,
            stderr_path,
        }
    }

    /// Path of the acks file (`<partition> <offset> <seq>` per acknowledged record).
    pub fn acks_path(&self) -> &Path {
        &self.acks_path
    }

    /// The records acknowledged so far.
    pub fn acked(&self) -> Vec<Placed> {
        parse_placed(&fs::read_to_string(&self.acks_path).unwrap_or_default(), "")
    }

    /// How many records were acknowledged so far, per partition.
    pub fn acked_per_partition(&self) -> BTreeMap<i32, usize> {
        let mut counts = BTreeMap::new();
        for placed in self.acked() {
            *counts.entry(placed.partition).or_insert(0) += 1;
        }
        counts
    }

    /// Waits until each of partitions `0..partitions` has at least `more` acknowledgements
    /// beyond the counts in `since`; panics if the checker died or the time ran out.
    pub fn wait_for_progress(
        &mut self,
        what: &str,
        since: &BTreeMap<i32, usize>,
        partitions: i32,
        more: usize,
        timeout: Duration,
    ) {
        wait_for(what, timeout, || {
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().ok().flatten()) {
                panic!("the checker exited early with {status}:\n{}", self.output());
            }
            let now = self.acked_per_partition();
            let behind: Vec<i32> = (0..partitions)
                .filter(|p| {
                    now.get(p).copied().unwrap_or(0) < since.get(p).copied().unwrap_or(0) + more
                })
                .collect();
            if behind.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "partitions {behind:?} lack {more} new acks; acks were {since:?}, now {now:?}"
                ))
            }
        });
    }

    /// Asks the checker to stop, waits for it to flush and exit successfully, and returns
    /// every acknowledged record.
    pub fn stop(&mut self) -> Vec<Placed> {
        if let Some(stdin) = self.stdin.as_mut() {
            // A write error means the checker already exited; its status tells why.
            let _ = stdin.write_all(b"stop\n");
            let _ = stdin.flush();
        }
        self.stdin = None;
        let mut child = self.child.take().expect("stop a running checker");
        let status = wait_bounded(&mut child, Duration::from_millis(CHECKER_STOP_TIMEOUT_MS));
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(
            status.is_some_and(|s| s.success()),
            "the checker did not stop cleanly within {CHECKER_STOP_TIMEOUT_MS} ms (status \
             {status:?}):\n{}",
            self.output()
        );
        self.acked()
    }

    /// The summary line the checker printed when it stopped (`DONE ...`), if any.
    pub fn summary(&self) -> Option<String> {
        fs::read_to_string(&self.stdout_path)
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("DONE "))
            .map(str::to_string)
    }

    /// The checker's stdout and the tail of its stderr, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "checker stdout:\n{}\nchecker stderr:\n{}",
            fs::read_to_string(&self.stdout_path).unwrap_or_default(),
            tail(&fs::read(&self.stderr_path).unwrap_or_default())
        )
    }
}

impl Drop for CheckerProducer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.output());
        }
    }
}

/// What `checker.py consume` read back.
#[derive(Debug)]
pub struct ReadBack {
    /// Every record, once per offset, in the order read.
    pub records: Vec<Placed>,
    /// Whether every acknowledged offset and every partition's end was reached in time.
    pub complete: bool,
    /// Offsets that were read twice with different records (`CONFLICT` lines).
    pub conflicts: Vec<String>,
}

/// Reads `topic` (partitions `0..partitions`) from the beginning with `checker.py
/// consume` until every acknowledged offset in `acks_path` and each partition's end have
/// been reached, or the checker's own deadline passes.
pub fn checker_consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    acks_path: &Path,
) -> ReadBack {
    let acks = acks_path.to_string_lossy();
    let out = run_cluster_python(
        "checker.py",
        &["consume", bootstrap, topic, &partitions.to_string(), &acks],
        Duration::from_millis(CHECKER_CONSUME_TIMEOUT_MS),
    );
    ReadBack {
        records: parse_placed(&out, "R "),
        complete: out.lines().any(|l| l == "END complete=true"),
        conflicts: out
            .lines()
            .filter(|l| l.starts_with("CONFLICT "))
            .map(str::to_string)
            .collect(),
    }
}

/// How many lost, duplicated or misplaced records a failure message lists.
pub const SHOWN_MAX: usize = 20;

/// Lists at most `SHOWN_MAX` items.
pub fn first<T: std::fmt::Debug>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    items.into_iter().take(SHOWN_MAX).collect()
}

/// The comparison of the acknowledged records with the records read back.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Distinct acknowledged records.
    pub acked: usize,
    /// Acknowledged records that were not read back.
    pub lost: Vec<u64>,
    /// Records (acknowledged or not) read back more than once, with their extra copies.
    pub duplicated: BTreeMap<u64, usize>,
    /// Acknowledged records read back at another partition or offset than acknowledged.
    pub misplaced: Vec<(Placed, Placed)>,
    /// Pairs of consecutive records of a partition whose sequence numbers do not increase.
    pub out_of_order: Vec<(Placed, Placed)>,
}

impl Verdict {
    /// Compares what the producer had acknowledged with what a consumer read back.
    pub fn compare(acked: &[Placed], consumed: &[Placed]) -> Verdict {
        let mut verdict = Verdict::default();
        let mut acked_by_seq = BTreeMap::new();
        for placed in acked {
            let previous = acked_by_seq.insert(placed.seq, *placed);
            assert!(
                previous.is_none(),
                "the checker acknowledged seq {} twice",
                placed.seq
            );
        }
        verdict.acked = acked_by_seq.len();

        let mut read_by_seq: BTreeMap<u64, Vec<Placed>> = BTreeMap::new();
        for placed in consumed {
            read_by_seq.entry(placed.seq).or_default().push(*placed);
        }
        for (seq, copies) in &read_by_seq {
            if copies.len() > 1 {
                verdict.duplicated.insert(*seq, copies.len() - 1);
            }
        }
        for (seq, ack) in &acked_by_seq {
            match read_by_seq.get(seq) {
                None => verdict.lost.push(*seq),
                Some(copies) if !copies.contains(ack) => verdict.misplaced.push((*ack, copies[0])),
                Some(_) => {}
            }
        }

        let mut by_partition: BTreeMap<i32, Vec<Placed>> = BTreeMap::new();
        for placed in consumed {
            by_partition
                .entry(placed.partition)
                .or_default()
                .push(*placed);
        }
        for records in by_partition.values_mut() {
            records.sort_by_key(|p| p.offset);
            for pair in records.windows(2) {
                if pair[1].seq <= pair[0].seq {
                    verdict.out_of_order.push((pair[0], pair[1]));
                }
            }
        }
        verdict
    }

    /// Total extra copies over all duplicated records.
    pub fn duplicated_count(&self) -> usize {
        self.duplicated.values().sum()
    }

    /// Asserts that at least `acked_min` records were acknowledged and that every one of
    /// them was read back exactly once, where it was acknowledged, in production order.
    pub fn assert_clean(&self, acked_min: usize) {
        assert!(
            self.acked >= acked_min,
            "only {} records acknowledged, fewer than {acked_min}",
            self.acked
        );
        assert!(
            self.lost.is_empty(),
            "acknowledged records lost, first: {:?}",
            first(&self.lost)
        );
        assert!(
            self.duplicated.is_empty(),
            "records read back more than once (seq -> extra copies), first: {:?}",
            first(&self.duplicated)
        );
        assert!(
            self.misplaced.is_empty(),
            "acknowledged records read back elsewhere (acked, read), first: {:?}",
            first(&self.misplaced)
        );
        assert!(
            self.out_of_order.is_empty(),
            "records out of production order within a partition, first: {:?}",
            first(&self.out_of_order)
        );
    }

    /// The one-line summary the failover tests print.
    pub fn summary(&self) -> String {
        format!(
            "acked={} lost={} duplicated={} misplaced={} out_of_order={}",
            self.acked,
            self.lost.len(),
            self.duplicated_count(),
            self.misplaced.len(),
            self.out_of_order.len()
        )
    }
}

/// Starts the checker on `topic` through every node and waits until each of its
/// `partitions` has `warmup_acks` acknowledgements, within `budget.limit(timeout)`.
pub fn start_checker(
    cluster: &Cluster,
    budget: &Budget,
    topic: &str,
    partitions: i32,
    warmup_acks: usize,
    timeout: Duration,
) -> CheckerProducer {
    let mut checker =
        CheckerProducer::start(&cluster.bootstrap_all(), topic, cluster.scratch_dir());
    checker.wait_for_progress(
        "the checker's first acknowledgements",
        &BTreeMap::new(),
        partitions,
        warmup_acks,
        budget.limit(timeout),
    );
    budget.log("checker producing");
    checker
}

/// Waits until each of `partitions` got `acks` more acknowledgements than it has now,
/// within `budget.limit(timeout)`; `after` names the disruption.
pub fn wait_for_more_acks(
    checker: &mut CheckerProducer,
    budget: &Budget,
    after: &str,
    partitions: i32,
    acks: usize,
    timeout: Duration,
) {
    let since = checker.acked_per_partition();
    checker.wait_for_progress(
        &format!("producing goes on after {after}"),
        &since,
        partitions,
        acks,
        budget.limit(timeout),
    );
}

/// Stops the checker and logs its summary; returns every acknowledged record.
pub fn stop_checker(checker: &mut CheckerProducer, budget: &Budget) -> Vec<Placed> {
    let acked = checker.stop();
    budget.log(&format!(
        "checker stopped: {}",
        checker.summary().unwrap_or_default()
    ));
    acked
}

/// Reads `topic` back through every node and compares it with `acked`; logs the count
/// and prints the verdict's summary line.
pub fn read_back(
    cluster: &Cluster,
    budget: &Budget,
    checker: &CheckerProducer,
    topic: &str,
    partitions: i32,
    acked: &[Placed],
) -> (ReadBack, Verdict) {
    let read = checker_consume(
        &cluster.bootstrap_all(),
        topic,
        partitions,
        checker.acks_path(),
    );
    let verdict = Verdict::compare(acked, &read.records);
    budget.log(&format!("read back {} records", read.records.len()));
    println!("{}", verdict.summary());
    (read, verdict)
}

/// Asserts that the read-back met no conflicting offsets, reached every partition's end,
/// and that the verdict is clean with at least `acked_min` acknowledged records.
pub fn assert_read_back_clean(read: &ReadBack, verdict: &Verdict, acked_min: usize) {
    assert!(
        read.conflicts.is_empty(),
        "offsets read twice with different records: {:?}",
        first(&read.conflicts)
    );
    verdict.assert_clean(acked_min);
    assert!(
        read.complete,
        "the read-back did not reach every partition's end"
    );
}

/// Asserts that records were acknowledged on each of `partitions`.
pub fn assert_every_partition_used(acked: &[Placed], partitions: i32) {
    let used: BTreeSet<i32> = acked.iter().map(|a| a.partition).collect();
    assert_eq!(
        used.len(),
        partitions as usize,
        "partitions with acknowledged records"
    );
}

/// Asserts that every node of `cluster` is healthy: no panic and no ERROR line of its own
/// in its log, and no process that exited on its own (see
/// `ClusterNode::assert_healthy_except`).
pub fn assert_nodes_healthy(cluster: &mut Cluster) {
    assert_nodes_healthy_except(cluster, &[]);
}

/// Like `assert_nodes_healthy`, allowing ERROR lines that contain one of `expected`.
pub fn assert_nodes_healthy_except(cluster: &mut Cluster, expected: &[&str]) {
    for node in &mut cluster.nodes {
        node.assert_healthy_except(expected);
    }
}
