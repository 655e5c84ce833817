//! One way to reach a node (issue 12): every `eddy` command that talks to a node takes
//! `-b/--bootstrap-server` alone; the commands that need the admin HTTP port ask the node
//! for it (the read-only broker config `eddy.admin.address`), and `--admin` still
//! overrides it. The nodes here listen on free ports, never the default 9644, so a command
//! that guessed the admin port instead of asking would fail.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    commit_simple, embedded_node_with_id, free_port, http_get, run_with_timeout, tail,
    wait_bounded, EddyNode,
};
use eddy::client::Admin;
use serde_json::Value;

/// Limit for one `eddy` CLI command.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a standalone Connect worker may take to serve its REST API.
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopped connector may take to report STOPPED.
const CONNECTOR_STOP_TIMEOUT: Duration = Duration::from_secs(30);

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
    let out = eddy_with_input(&["produce", "orders", "-b", b], Some(b"zero\n"));
    assert!(out.status.success(), "produce: {}", tail(&out.stderr));
    let trimmed = eddy_ok(&["topic", "trim", "orders", "--before", "-1", "-b", b]);
    assert!(
        trimmed.contains("orders-0: records below offset 1 deleted"),
        "{trimmed}"
    );
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
    commit_simple(b, "billing", "orders", 1);
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
    // Only an answer read from the node names the application as never reported.
    for args in [
        vec!["topology", "describe", "never-ran", "-b", b],
        vec!["topology", "query", "never-ran", "counts", "k", "-b", b],
    ] {
        let stderr = eddy_err(&args);
        assert!(
            stderr.contains("no streams application 'never-ran' has reported to this cluster"),
            "eddy {args:?}: {stderr}"
        );
    }
    // The node answers a decommission itself: a single node refuses it.
    let stderr = eddy_err(&["cluster", "decommission", "1", "-b", b]);
    assert!(stderr.contains("this node runs alone"), "{stderr}");

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
    let stopped = eddy_ok(&["connect", "stop", "lines", "-b", b]);
    assert!(stopped.contains("stopped connector lines"), "{stopped}");
    let deadline = Instant::now() + CONNECTOR_STOP_TIMEOUT;
    loop {
        let status = eddy_ok(&["connect", "status", "lines", "-b", b]);
        if status.contains("connector lines (source) STOPPED") {
            break;
        }
        assert!(Instant::now() < deadline, "never STOPPED: {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
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

    // A deleted topic leaves the list.
    let deleted = eddy_ok(&["topic", "delete", "orders", "-b", b]);
    assert!(deleted.contains("orders"), "{deleted}");
    let listed = eddy_ok(&["topic", "list", "-b", b]);
    assert!(
        !listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some("orders")),
        "{listed}"
    );
}

/// The id of the cluster whose node listens at `bootstrap`.
fn cluster_id(bootstrap: &str) -> String {
    block_on(async {
        let mut admin = Admin::connect(bootstrap).await.expect("admin");
        let cluster = admin.describe_cluster().await.expect("describe cluster");
        cluster.cluster_id.expect("the node reports its cluster id")
    })
}

#[test]
fn an_admin_endpoint_of_another_node_is_refused() {
    let first = EddyNode::start();
    let (_dir, second) = embedded_node_with_id(2);
    let first_admin = first.admin_addr().to_string();
    let second_b = second.kafka_addr.to_string();
    let (first_cluster, second_cluster) = (cluster_id(&first.bootstrap()), cluster_id(&second_b));
    assert_ne!(first_cluster, second_cluster);

    // -b names node 2 while --admin points at node 1: nothing is sent, both are named.
    for args in [
        vec![
            "cluster",
            "decommission",
            "1",
            "-b",
            &second_b,
            "--admin",
            &first_admin,
        ],
        vec!["supervisors", "-b", &second_b, "--admin", &first_admin],
        vec!["connect", "list", "-b", &second_b, "--admin", &first_admin],
    ] {
        let stderr = eddy_err(&args);
        let expected = format!(
            "--admin {first_admin} is node 1 of cluster {first_cluster}, but the node at -b \
             {second_b} is node 2 of cluster {second_cluster}: the command is not sent to the \
             wrong node"
        );
        assert!(stderr.contains(&expected), "eddy {args:?}: {stderr}");
        assert!(stderr.contains("--admin HOST:PORT"), "{stderr}");
    }
    // So does EDDY_ADMIN_ADDRESS, the CLI's own variable for --admin.
    let out = run_with_timeout(
        eddy_command(&["supervisors", "-b", &second_b]).env("EDDY_ADMIN_ADDRESS", &first_admin),
        None,
        CLI_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("is node 1 of cluster"),
        "{stderr}"
    );

    // EDDY_ADMIN (what `eddy start` binds) is left to `eddy start`: a shell that exported
    // it to start node 1 still reaches node 2 through -b.
    let out = run_with_timeout(
        eddy_command(&["supervisors", "-b", &second_b]).env("EDDY_ADMIN", &first_admin),
        None,
        CLI_TIMEOUT,
    );
    assert!(out.status.success(), "{}", tail(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.starts_with("node 2\n"), "{tree}");
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
    // Nothing listens at -b: --admin alone names the node (a node answering at -b would
    // have to be the same one).
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
