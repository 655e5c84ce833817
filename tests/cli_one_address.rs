//! One way to reach a node (issue 12): every `eddy` command that talks to a node takes
//! `-b/--bootstrap-server` alone; the commands that need the admin HTTP port ask the node
//! for it (the read-only broker config `eddy.admin.address`), and `--admin` still
//! overrides it. The nodes here listen on free ports, never the default 9644, so a command
//! that guessed the admin port instead of asking would fail.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, http_get, run_with_timeout, tail, wait_bounded, EddyNode};
use eddy::client::{Admin, GroupOffsets};
use serde_json::Value;

/// Limit for one `eddy` CLI command.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a standalone Connect worker may take to serve its REST API.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// `eddy ARGS` with none of the caller's `EDDY_*` variables (so no `EDDY_ADMIN` either).
fn eddy_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("EDDY_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args);
    cmd
}

/// Runs `eddy ARGS` (stdin from `input`) to completion.
fn eddy_with_input(args: &[&str], input: Option<&[u8]>) -> Output {
    run_with_timeout(
        &mut eddy_command(args),
        input.map(<[u8]>::to_vec),
        CLI_TIMEOUT,
    )
}

/// Runs `eddy ARGS`, asserts it succeeded; its stdout.
fn eddy_ok(args: &[&str]) -> String {
    let out = eddy_with_input(args, None);
    assert!(
        out.status.success(),
        "eddy {args:?} failed: {}\n{}",
        out.status,
        tail(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs `eddy ARGS`, asserts it failed; its stderr.
fn eddy_err(args: &[&str]) -> String {
    let out = eddy_with_input(args, None);
    assert!(
        !out.status.success(),
        "eddy {args:?} succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// Commits `offset` for `topic`-0 as a simple consumer of `group`, which creates the group.
fn commit(bootstrap: &str, group: &str, topic: &str, offset: i64) {
    block_on(async {
        let mut offsets = GroupOffsets::connect(bootstrap, group)
            .await
            .expect("group offsets client");
        let commit = BTreeMap::from([((topic.to_owned(), 0), offset)]);
        offsets.commit_offsets(&commit).await.expect("commit");
    });
}

/// The names of every row of the `/supervisors` tree the node at `-b` shows through
/// `eddy supervisors --json`.
fn supervisor_names(bootstrap: &str) -> Vec<String> {
    let out = eddy_ok(&["supervisors", "-b", bootstrap, "--json"]);
    let tree: Value = serde_json::from_str(&out).expect("supervisors JSON");
    let mut names = Vec::new();
    let mut stack = vec![&tree["root"]];
    while let Some(node) = stack.pop() {
        names.push(node["name"].as_str().unwrap_or_default().to_owned());
        stack.extend(node["children"].as_array().into_iter().flatten());
    }
    names
}

#[test]
fn node_advertises_its_admin_address() {
    let node = EddyNode::start();
    let configs = block_on(async {
        let mut admin = Admin::connect(&node.bootstrap()).await.expect("admin");
        admin
            .describe_node_configs()
            .await
            .expect("describe configs")
    });
    let entry = configs
        .iter()
        .find(|c| c.name == "eddy.admin.address")
        .unwrap_or_else(|| panic!("no eddy.admin.address in {configs:?}"));
    assert_eq!(
        entry.value.as_deref(),
        Some(node.admin_addr().to_string().as_str())
    );
    assert!(entry.read_only, "{entry:?}");
}

#[test]
fn every_command_reaches_the_node_with_only_bootstrap() {
    let node = EddyNode::start();
    let b = node.bootstrap();
    let b = b.as_str();

    // Topics, produce and consume: the Kafka port itself.
    eddy_ok(&["topic", "create", "orders", "-b", b]);
    assert!(eddy_ok(&["topic", "list", "-b", b]).contains("orders"));
    assert!(eddy_ok(&["topic", "describe", "orders", "-b", b]).contains("orders"));
    let out = eddy_with_input(&["produce", "orders", "-b", b], Some(b"one\ntwo\n"));
    assert!(out.status.success(), "produce: {}", tail(&out.stderr));
    let consumed = eddy_ok(&[
        "consume",
        "orders",
        "-b",
        b,
        "--max-messages",
        "2",
        "--timeout-ms",
        "20000",
    ]);
    let values: Vec<&str> = consumed
        .lines()
        .filter_map(|l| l.split_once("value=").map(|(_, v)| v))
        .collect();
    assert_eq!(values, ["one", "two"], "{consumed}");

    // Groups.
    commit(b, "billing", "orders", 1);
    assert!(eddy_ok(&["group", "list", "-b", b]).contains("billing"));
    let described = eddy_ok(&["group", "describe", "billing", "-b", b]);
    assert!(described.contains("orders"), "{described}");

    // The admin-port commands find the port from the node.
    let tree = eddy_ok(&["supervisors", "-b", b]);
    assert!(tree.contains("partition orders-0"), "{tree}");
    assert!(tree.contains("group billing"), "{tree}");
    let status = eddy_ok(&["cluster", "status", "-b", b]);
    assert!(status.contains("(as node 1 sees it)"), "{status}");
    let moves = eddy_ok(&["cluster", "rebalance", "--dry-run", "-b", b, "--json"]);
    serde_json::from_str::<Value>(&moves).expect("moves JSON");
    let topologies = eddy_ok(&["topology", "list", "-b", b]);
    assert!(
        topologies.contains("no streams application has reported"),
        "{topologies}"
    );

    // Connect, on the node's Connect REST API.
    let scratch = tempfile::tempdir().expect("tempdir");
    let source = scratch.path().join("lines.txt");
    std::fs::write(&source, "a\nb\n").expect("source file");
    let config = scratch.path().join("lines.properties");
    std::fs::write(
        &config,
        format!(
            "name=lines\nconnector.class=FileStreamSource\nfile={}\ntopic=lines\n",
            source.display()
        ),
    )
    .expect("connector config");
    let created = eddy_ok(&["connect", "create", config.to_str().expect("path"), "-b", b]);
    assert!(created.contains("created connector lines"), "{created}");
    assert!(eddy_ok(&["connect", "list", "-b", b]).contains("lines"));
    let status = eddy_ok(&["connect", "status", "lines", "-b", b]);
    assert!(status.contains("connector lines"), "{status}");
    eddy_ok(&["connect", "pause", "lines", "-b", b]);
    eddy_ok(&["connect", "resume", "lines", "-b", b]);
    eddy_ok(&["connect", "restart", "lines", "-b", b]);
    eddy_ok(&["connect", "delete", "lines", "-b", b]);
    assert!(!eddy_ok(&["connect", "list", "-b", b]).contains("lines"));

    // A deleted group leaves the tree.
    eddy_ok(&["group", "delete", "billing", "-b", b]);
    let names = supervisor_names(b);
    assert!(
        !names.iter().any(|n| n == "group billing"),
        "deleted group still supervised: {names:?}"
    );
    assert!(names.iter().any(|n| n == "partition orders-0"), "{names:?}");
}

/// A standalone `eddy connect run --admin` worker, stopped (SIGKILL, reaped) when dropped.
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = wait_bounded(&mut self.0, Duration::from_secs(10));
    }
}

/// Starts `eddy connect run` for one file-source connector against `bootstrap`, serving
/// the Connect REST API on a free port; returns once that API answers.
fn start_worker(bootstrap: &str, scratch: &std::path::Path) -> (Worker, String) {
    let source = scratch.join("worker.txt");
    std::fs::write(&source, "x\n").expect("source file");
    let config = scratch.join("worker.properties");
    std::fs::write(
        &config,
        format!(
            "name=standalone\nconnector.class=FileStreamSource\nfile={}\ntopic=standalone\n",
            source.display()
        ),
    )
    .expect("connector config");
    let admin = format!("127.0.0.1:{}", free_port());
    let log = std::fs::File::create(scratch.join("worker.log")).expect("worker log");
    let child = eddy_command(&["connect", "run", config.to_str().expect("path")])
        .args(["-b", bootstrap, "--admin", &admin])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn eddy connect run");
    let worker = Worker(child);
    let addr = admin.parse().expect("socket address");
    let deadline = Instant::now() + WORKER_START_TIMEOUT;
    loop {
        let up = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            && http_get(addr, "/connectors").status == 200;
        if up {
            return (worker, admin);
        }
        assert!(
            Instant::now() < deadline,
            "the worker never served {admin}/connectors: {}",
            std::fs::read_to_string(scratch.join("worker.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn admin_overrides_the_advertised_address() {
    let node = EddyNode::start();
    let admin = node.admin_addr().to_string();
    // Nothing listens at -b: with --admin, the node is never asked for its address.
    let unreachable = format!("127.0.0.1:{}", free_port());
    let tree = eddy_ok(&["supervisors", "-b", &unreachable, "--admin", &admin]);
    assert!(tree.contains("node 1"), "{tree}");
    let status = eddy_ok(&["cluster", "status", "-b", &unreachable, "--admin", &admin]);
    assert!(status.contains("(as node 1 sees it)"), "{status}");
    eddy_ok(&["connect", "list", "-b", &unreachable, "--admin", &admin]);
    // Without --admin, the unreachable -b is the error, named with what to do.
    let stderr = eddy_err(&["supervisors", "-b", &unreachable]);
    assert!(
        stderr.contains(&format!("could not connect to {unreachable}"))
            && stderr.contains("eddy start"),
        "{stderr}"
    );

    // A standalone Connect worker's REST address is reached with --admin only, and
    // `eddy supervisors` there says what that address is.
    let scratch = tempfile::tempdir().expect("tempdir");
    let (_worker, worker_admin) = start_worker(&node.bootstrap(), scratch.path());
    let listed = eddy_ok(&["connect", "list", "--admin", &worker_admin]);
    assert!(listed.contains("standalone"), "{listed}");
    let stderr = eddy_err(&["supervisors", "--admin", &worker_admin]);
    let expected = format!(
        "{worker_admin} serves the Connect REST API only (an `eddy connect run --admin` worker?), \
         not a node's admin endpoint"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("-b HOST:PORT"), "{stderr}");
}

#[test]
fn bootstrap_at_the_admin_port_names_the_kafka_port() {
    let node = EddyNode::start();
    let admin = node.admin_addr().to_string();
    let expected = format!(
        "{admin} answered HTTP: that is probably the admin port; the Kafka port is {}",
        node.kafka_addr()
    );
    for args in [
        vec!["supervisors", "-b", &admin],
        vec!["topic", "list", "-b", &admin],
        vec!["connect", "list", "-b", &admin],
    ] {
        let stderr = eddy_err(&args);
        assert!(stderr.contains(&expected), "eddy {args:?}: {stderr}");
    }
}
