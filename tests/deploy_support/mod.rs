//! What the deployment tests (`tests/topology_deploy.rs`, `tests/cluster_topology_deploy.rs`)
//! share: the `eddy topology deploy|undeploy|describe` and `eddy supervisors` commands as a
//! user runs them, read back as data; the admin endpoint's `/deployments` with a request
//! body; lines and keyed records produced (and read) by kafka-python
//! (`tests/deploy_support/produce_lines.py`, `keyed.py`); and the
//! placement check — every task of a deployed application runs once, on the node leading
//! its first input partition.
//!
//! Every wait is bounded by a named limit and says, when it runs out, what it last saw.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::common::{python, repo_root, run_with_timeout, tail};

/// How long one `eddy` CLI call may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// How long producing one batch of lines through kafka-python may take.
pub const PRODUCE_TIMEOUT: Duration = Duration::from_secs(120);
/// Limit for one admin HTTP exchange.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two checks of a condition a test waits for.
pub const POLL: Duration = Duration::from_millis(500);

/// Runs `eddy ARGS` (none of the caller's `EDDY_*` variables) and returns what it did.
pub fn eddy(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("EDDY_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args).env("NO_COLOR", "1");
    run_with_timeout(&mut cmd, None, CLI_TIMEOUT)
}

/// Runs `eddy ARGS`, asserts it succeeds and returns its standard output.
pub fn eddy_ok(args: &[&str]) -> String {
    let out = eddy(args);
    assert!(
        out.status.success(),
        "eddy {args:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        tail(&out.stdout),
        tail(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `eddy ARGS`, asserts it fails and returns its standard error.
pub fn eddy_fails(args: &[&str]) -> String {
    let out = eddy(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "eddy {args:?} was to fail; it succeeded\nstdout:\n{}\nstderr:\n{stderr}",
        tail(&out.stdout)
    );
    stderr
}

/// The arguments of `eddy topology deploy NAME --application-id APP [--config K=V]... -b
/// BOOTSTRAP --json`.
pub fn deploy_args<'a>(
    bootstrap: &'a str,
    name: &'a str,
    app: &'a str,
    configs: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["topology", "deploy", name, "--application-id", app];
    for config in configs {
        args.extend(["--config", config]);
    }
    args.extend(["-b", bootstrap, "--json"]);
    args
}

/// Deploys through the CLI, asserts it succeeds, and returns the record it printed.
pub fn deploy(bootstrap: &str, name: &str, app: &str, configs: &[&str]) -> Value {
    let out = eddy_ok(&deploy_args(bootstrap, name, app, configs));
    serde_json::from_str(&out)
        .unwrap_or_else(|err| panic!("deploy --json printed no JSON ({err}): {out}"))
}

/// One `METHOD PATH` exchange with the admin endpoint (HTTP/1.0, a JSON body if given):
/// the answer's status and body; only a failed exchange is an `Err`.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, String), String> {
    let body = body.map(Value::to_string);
    crate::common::http_exchange(addr, method, path, body.as_deref(), HTTP_TIMEOUT)
}

/// `http`, panicking when the exchange itself fails.
pub fn http_ok(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    http(addr, method, path, body).unwrap_or_else(|err| panic!("{err}"))
}

/// Produces `lines` to `topic` with kafka-python, keyed `line-<first_index + i>` so they
/// spread over the partitions; returns how many records each partition received.
pub fn produce_lines(
    bootstrap: &str,
    topic: &str,
    first_index: usize,
    lines: &[String],
) -> BTreeMap<i32, usize> {
    let script = repo_root()
        .join("tests")
        .join("deploy_support")
        .join("produce_lines.py");
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .args([bootstrap, topic, &first_index.to_string()]);
    let input = lines.join("\n") + "\n";
    let out = run_with_timeout(&mut cmd, Some(input.into_bytes()), PRODUCE_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(&format!("PRODUCED {}", lines.len())),
        "produce_lines.py to {topic} failed with {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        tail(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("PARTITION "))
        .filter_map(|l| l.split_once(' '))
        .map(|(p, n)| (p.parse().expect("a partition"), n.parse().expect("a count")))
        .collect()
}

fn keyed_script() -> std::path::PathBuf {
    repo_root()
        .join("tests")
        .join("deploy_support")
        .join("keyed.py")
}

/// Produces `(key, value)` records to `topic` with kafka-python (idempotent, acks=all,
/// Kafka's murmur2 partitioner, so topics written by it are co-partitioned).
pub fn produce_keyed(bootstrap: &str, topic: &str, records: &[(String, String)]) {
    let mut cmd = Command::new(python());
    cmd.arg(keyed_script()).args(["produce", bootstrap, topic]);
    let input: String = records.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
    let out = run_with_timeout(&mut cmd, Some(input.into_bytes()), PRODUCE_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains(&format!("PRODUCED {}", records.len())),
        "keyed.py produce to {topic} failed with {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        tail(&out.stderr)
    );
}

/// Every record of `topic` (each partition from the beginning to its end offset when
/// read), as kafka-python reads them: `(partition, key, value)`.
pub fn read_keyed(bootstrap: &str, topic: &str) -> Result<Vec<(i32, String, String)>, String> {
    let mut cmd = Command::new(python());
    cmd.arg(keyed_script()).args(["read", bootstrap, topic]);
    let out = run_with_timeout(&mut cmd, None, PRODUCE_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !stdout.contains("READ ") {
        return Err(format!(
            "keyed.py read {topic} failed with {}: {}",
            out.status,
            tail(&out.stderr)
        ));
    }
    Ok(stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RECORD "))
        .filter_map(|l| {
            let (partition, rest) = l.split_once(' ')?;
            let (key, value) = rest.split_once('\t')?;
            Some((partition.parse().ok()?, key.to_string(), value.to_string()))
        })
        .collect())
}

/// Waits until `probe` returns `Ok`, checking every `POLL`; after `timeout` panics with
/// `what` and the last reason `probe` gave for not being done.
pub fn wait_until<T>(what: &str, timeout: Duration, probe: impl FnMut() -> Result<T, String>) -> T {
    crate::common::wait_until_ok(what, timeout, POLL, probe)
}

/// One task of `eddy topology describe --json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    /// `0_1`: sub-topology 0, partition 1.
    pub task: String,
    /// `running`, `restoring`, …
    pub state: String,
    /// The node whose instance runs it.
    pub node_id: Option<i32>,
    /// Its input partitions, `topic-partition`.
    pub inputs: Vec<String>,
    /// The instance (`host:pid`) whose report shows it.
    pub instance: String,
    /// A standby (a warm copy of the task's stores on another node), not the active task.
    pub standby: bool,
    /// Changelog records its current run replayed before processing.
    pub restored_records: u64,
    /// Records its current run processed (a standby: changelog changes it applied).
    pub processed_records: u64,
    /// How many times its instance started it for an assignment (1: kept through every
    /// rebalance since the instance started).
    pub starts: u64,
    /// Restarts after failures so far, in its instance.
    pub restarts: u64,
}

/// What `eddy topology describe APP --json` says about a deployed application.
#[derive(Debug, Clone)]
pub struct Described {
    /// Every reported task, once per instance that reports it.
    pub tasks: Vec<TaskView>,
    /// The node leading each task input partition now.
    pub leaders: BTreeMap<String, i32>,
    /// The application's internal topics (repartition, changelog).
    pub internal_topics: Vec<String>,
    /// The JSON as printed, for failure messages.
    pub raw: String,
}

/// Runs `eddy topology describe APP -b BOOTSTRAP --json`; `Err` while the application has
/// not reported (or the command fails for another reason), with what it said.
pub fn describe(bootstrap: &str, app: &str) -> Result<Described, String> {
    let out = eddy(&["topology", "describe", app, "-b", bootstrap, "--json"]);
    if !out.status.success() {
        return Err(format!(
            "describe failed with {}: {}",
            out.status,
            tail(&out.stderr)
        ));
    }
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: Value = serde_json::from_str(&raw)
        .map_err(|err| format!("describe printed no JSON ({err}): {raw}"))?;
    let tasks = json["application"]["tasks"]
        .as_array()
        .ok_or_else(|| format!("no application.tasks in {raw}"))?
        .iter()
        .map(|t| TaskView {
            task: t["task"].as_str().unwrap_or_default().to_string(),
            state: t["state"].as_str().unwrap_or_default().to_string(),
            node_id: t["node_id"].as_i64().map(|n| n as i32),
            inputs: t["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            instance: t["instance"].as_str().unwrap_or_default().to_string(),
            standby: t["standby"].as_bool().unwrap_or(false),
            restored_records: t["restored_records"].as_u64().unwrap_or(0),
            processed_records: t["processed_records"].as_u64().unwrap_or(0),
            starts: t["starts"].as_u64().unwrap_or(0),
            restarts: t["restarts"].as_u64().unwrap_or(0),
        })
        .collect();
    let leaders = json["leaders"]
        .as_object()
        .ok_or_else(|| format!("no leaders in {raw}"))?
        .iter()
        .filter_map(|(tp, node)| Some((tp.clone(), node.as_i64()? as i32)))
        .collect();
    let internal_topics = json["application"]["internal_topics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    Ok(Described {
        tasks,
        leaders,
        internal_topics,
        raw,
    })
}

/// The task ids of a two-sub-topology application over `partitions` partitions: `0_0` …
/// `1_<partitions-1>`.
pub fn task_ids(subtopologies: u32, partitions: i32) -> BTreeSet<String> {
    (0..subtopologies)
        .flat_map(|s| (0..partitions).map(move |p| format!("{s}_{p}")))
        .collect()
}

/// Why `described` is not yet the placement a deployment promises — each of `expected`
/// reported exactly once as an active task, running, by a node in `live`, and that node
/// the leader of the task's first input partition; no standby beside its active task —
/// or `Ok` with each task's node.
pub fn placement(
    described: &Described,
    expected: &BTreeSet<String>,
    live: &[i32],
) -> Result<BTreeMap<String, i32>, String> {
    let mut problems = Vec::new();
    let mut nodes = BTreeMap::new();
    let active: Vec<&TaskView> = described.tasks.iter().filter(|t| !t.standby).collect();
    let reported: BTreeSet<String> = active.iter().map(|t| t.task.clone()).collect();
    if &reported != expected {
        problems.push(format!("active tasks {reported:?}, expected {expected:?}"));
    }
    for id in expected {
        let rows: Vec<&&TaskView> = active.iter().filter(|t| &t.task == id).collect();
        let [task] = rows.as_slice() else {
            if rows.len() > 1 {
                problems.push(format!("{id} reported {} times: {rows:?}", rows.len()));
            }
            continue;
        };
        let leader = task
            .inputs
            .first()
            .and_then(|input| described.leaders.get(input));
        if task.state != "running" {
            problems.push(format!("{id} is {}", task.state));
        }
        match (task.node_id, leader) {
            (Some(node), _) if !live.contains(&node) => {
                problems.push(format!("{id} is reported by node {node}, not a live node"))
            }
            (Some(node), Some(leader)) if node == *leader => {
                nodes.insert(id.clone(), node);
            }
            (node, leader) => problems.push(format!(
                "{id} runs on node {node:?}, its input {:?} is led by {leader:?}",
                task.inputs.first()
            )),
        }
    }
    for standby in described.tasks.iter().filter(|t| t.standby) {
        if standby.node_id.is_some() && standby.node_id == nodes.get(&standby.task).copied() {
            problems.push(format!(
                "standby {} beside its active task: {standby:?}",
                standby.task
            ));
        }
    }
    if problems.is_empty() {
        Ok(nodes)
    } else {
        Err(format!("{}\n{}", problems.join("; "), described.raw))
    }
}

/// A node's supervision tree as `eddy supervisors -b BOOTSTRAP --json` prints it; `Err`
/// if the command fails.
pub fn supervisors(bootstrap: &str) -> Result<Value, String> {
    let out = eddy(&["supervisors", "-b", bootstrap, "--json"]);
    if !out.status.success() {
        return Err(format!(
            "supervisors failed with {}: {}",
            out.status,
            tail(&out.stderr)
        ));
    }
    let raw = String::from_utf8_lossy(&out.stdout).into_owned();
    serde_json::from_str(&raw).map_err(|err| format!("supervisors printed no JSON ({err}): {raw}"))
}

/// The `topology APP` row under the root's `topologies` child of a supervision tree.
pub fn hosted_row<'a>(tree: &'a Value, app: &str) -> Option<&'a Value> {
    let name = format!("topology {app}");
    tree["root"]["children"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "topologies")?["children"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name.as_str())
}

/// The tasks (`0_1` → state) a supervision tree shows under `topology APP`; `None` if the
/// node hosts no such row.
pub fn hosted_tasks(tree: &Value, app: &str) -> Option<BTreeMap<String, String>> {
    Some(
        hosted_task_rows(tree, app)?
            .into_iter()
            .map(|(task, row)| (task, row.state))
            .collect(),
    )
}

/// One task row of a node's own tree under `topology APP`, live from its supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedTask {
    /// `running`, `starting`, …
    pub state: String,
    /// Restarts after failures in this run of the node's instance.
    pub restarts: u64,
    /// Time since the task last became running (a restart or a new start resets it).
    pub uptime_ms: u64,
}

/// The task rows (`0_1` → row) a supervision tree shows under `topology APP`; `None` if
/// the node hosts no such row.
pub fn hosted_task_rows(tree: &Value, app: &str) -> Option<BTreeMap<String, HostedTask>> {
    let row = hosted_row(tree, app)?;
    Some(
        row["children"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let task = c["name"].as_str()?.strip_prefix("task ")?;
                let row = HostedTask {
                    state: c["state"].as_str()?.to_string(),
                    restarts: c["restarts"].as_u64()?,
                    uptime_ms: c["uptime_ms"].as_u64()?,
                };
                Some((task.to_string(), row))
            })
            .collect(),
    )
}

/// The name of the tree's root (`node 2`).
pub fn root_name(tree: &Value) -> String {
    tree["root"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
