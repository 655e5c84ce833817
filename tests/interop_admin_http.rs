//! The admin HTTP endpoint of a real `eddy` node: `/health`, the supervision tree at
//! `/supervisors` (partition actors appear under it once a topic exists, a consumer group's
//! coordinator until the group is deleted), Prometheus text at `/metrics` (every metric
//! with its `# HELP`), lists of objects at `/topics` and `/topologies`, and JSON error
//! bodies `{"error_code", "message"}` on every error.

mod common;

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{commit_simple, create_topics, http_get, run_kcat, EddyNode};
use eddy::client::Admin;
use eddy::streams::{KafkaStreams, StreamsSettings};
use eddy::topologies::StreamsBuilder;

/// Limit for one raw HTTP exchange.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a streams application may take to appear at `/topologies` (it reports every
/// few seconds once it runs): generous for a loaded machine.
const REPORT_WAIT: Duration = Duration::from_secs(60);

/// Checks that `node` has the shape of a supervisor report, recursively; returns the
/// names of every node in the tree.
fn check_report(node: &Value, path: &str, names: &mut Vec<String>) {
    let name = node["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{path}: `name` is not a string: {node}"));
    let here = format!("{path}/{name}");
    assert!(!name.is_empty(), "{here}: empty name");
    assert!(
        node["state"].as_str().is_some_and(|s| !s.is_empty()),
        "{here}: `state` is not a non-empty string: {node}"
    );
    for field in ["restarts", "mailbox_depth", "uptime_ms"] {
        assert!(
            node[field].is_u64(),
            "{here}: `{field}` is not a non-negative integer: {node}"
        );
    }
    assert!(
        node["last_error"].is_null() || node["last_error"].is_string(),
        "{here}: `last_error` is neither null nor a string: {node}"
    );
    names.push(name.to_string());
    let children = node["children"]
        .as_array()
        .unwrap_or_else(|| panic!("{here}: `children` is not an array: {node}"));
    for child in children {
        check_report(child, &here, names);
    }
}

fn supervisor_names(node: &EddyNode) -> (Value, Vec<String>) {
    let response = http_get(node.admin_addr(), "/supervisors");
    assert_eq!(response.status, 200, "GET /supervisors: {response:?}");
    let tree: Value = serde_json::from_str(&response.body)
        .unwrap_or_else(|err| panic!("GET /supervisors is not JSON ({err}): {}", response.body));
    assert_eq!(tree["node_id"], 1, "GET /supervisors node_id: {tree}");
    let mut names = Vec::new();
    check_report(&tree["root"], "", &mut names);
    (tree, names)
}

#[test]
fn admin_http_health_supervisors_and_metrics() {
    let mut node = EddyNode::start();

    let health = http_get(node.admin_addr(), "/health");
    assert_eq!(health.status, 200, "GET /health: {health:?}");
    assert_eq!(health.body.trim(), "ok", "GET /health body");

    let (before, _) = supervisor_names(&node);
    create_topics(&node, &[("admin-http", 3)]);
    let (after, names) = supervisor_names(&node);
    for partition in 0..3 {
        let want = format!("partition admin-http-{partition}");
        assert!(
            names.contains(&want),
            "no supervised {want:?} after creating the topic; tree names: {names:?}"
        );
    }
    let uptime = |tree: &Value| tree["root"]["uptime_ms"].as_u64().expect("root uptime_ms");
    assert!(
        uptime(&after) >= uptime(&before),
        "root uptime went backwards: {before} then {after}"
    );

    // Traffic first, so that request and log metrics have been recorded.
    let bootstrap = node.bootstrap();
    let input: String = (0..10).map(|i| format!("record {i}\n")).collect();
    run_kcat(
        &[
            "-P",
            "-b",
            &bootstrap,
            "-t",
            "admin-http",
            "-p",
            "0",
            "-X",
            "message.timeout.ms=30000",
        ],
        Some(input.into_bytes()),
        Duration::from_secs(60),
    );

    let metrics = http_get(node.admin_addr(), "/metrics");
    assert_eq!(metrics.status, 200, "GET /metrics: {metrics:?}");
    assert!(
        metrics
            .headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/plain")),
        "GET /metrics content type: {:?}",
        metrics.headers
    );
    let samples: Vec<&str> = metrics
        .body
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(
        !samples.is_empty(),
        "GET /metrics has no samples:\n{}",
        metrics.body
    );
    for line in samples {
        let value = line
            .rsplit(' ')
            .next()
            .unwrap_or_else(|| panic!("metric line without a value: {line:?}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "metric line with a bad value: {line:?}"
        );
    }

    let missing = http_get(node.admin_addr(), "/no-such-page");
    assert_eq!(missing.status, 404, "GET /no-such-page: {missing:?}");
    node.assert_healthy();
}

/// Sends `METHOD path` (no body) over HTTP/1.1 and returns the status and the body (the
/// answers here are small and not chunked).
fn http_request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).expect("connect");
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("end of headers");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

/// Asserts that `METHOD path` answers `status` with `{"error_code": status, "message": …}`
/// whose message contains `words`.
fn assert_json_error(node: &EddyNode, method: &str, path: &str, status: u16, words: &str) {
    let (got, body) = http_request(node.admin_addr(), method, path);
    assert_eq!(got, status, "{method} {path}: {body}");
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|err| panic!("{method} {path} answered no JSON ({err}): {body}"));
    assert_eq!(json["error_code"], status, "{method} {path}: {body}");
    let message = json["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{method} {path}: {body}");
}

#[test]
fn every_error_is_a_json_body() {
    let node = EddyNode::start();
    assert_json_error(
        &node,
        "GET",
        "/no-such-page",
        404,
        "GET /no-such-page: no such route",
    );
    assert_json_error(
        &node,
        "POST",
        "/health",
        405,
        "POST /health: method not allowed",
    );
    assert_json_error(
        &node,
        "DELETE",
        "/topics",
        405,
        "DELETE /topics: method not allowed",
    );
    assert_json_error(
        &node,
        "POST",
        "/cluster/decommission/seven",
        400,
        "the node id must be an integer",
    );
    assert_json_error(
        &node,
        "POST",
        "/cluster/decommission/1",
        400,
        "this node runs alone",
    );
    assert_json_error(
        &node,
        "GET",
        "/topologies/never-ran",
        404,
        "no streams application 'never-ran'",
    );
    assert_json_error(&node, "GET", "/connectors/nothing/status", 404, "nothing");
}

/// `GET path` as a JSON list, every item of which is an object with the string `key`;
/// the raw body with the list.
fn list_of_objects(admin: SocketAddr, path: &str, key: &str) -> (String, Vec<Value>) {
    let response = http_get(admin, path);
    assert_eq!(response.status, 200, "GET {path}: {response:?}");
    let list: Vec<Value> = serde_json::from_str(&response.body)
        .unwrap_or_else(|err| panic!("GET {path} is no JSON list ({err}): {}", response.body));
    assert!(
        list.iter().all(|item| item[key].is_string()),
        "GET {path}: every item is an object with `{key}`: {}",
        response.body
    );
    (response.body, list)
}

#[test]
fn lists_are_lists_of_objects() {
    let node = EddyNode::start();
    create_topics(&node, &[("listed", 2), ("listed-copy", 2)]);
    let admin = node.admin_addr();
    let (body, topics) = list_of_objects(admin, "/topics", "name");
    assert!(topics.iter().any(|t| t["name"] == "listed"), "{body}");

    // A tiny streams application, so that `/topologies` has an item to check.
    let bootstrap = node.bootstrap();
    let state = tempfile::tempdir().expect("state dir");
    eddy::run(async move {
        let builder = StreamsBuilder::new();
        builder.stream::<String, String>("listed").to("listed-copy");
        let topology = builder.build().expect("topology builds");
        let mut settings = StreamsSettings::new("listed-app", &bootstrap);
        settings.state_dir = state.path().to_path_buf();
        let streams = KafkaStreams::start(topology, settings)
            .await
            .expect("streams start");
        let deadline = Instant::now() + REPORT_WAIT;
        loop {
            let (body, apps) = list_of_objects(admin, "/topologies", "application_id");
            // Its first report may come before its tasks are assigned: wait for them.
            let listed = apps.iter().any(|a| {
                a["application_id"] == "listed-app"
                    && a["tasks"].as_array().is_some_and(|t| !t.is_empty())
            });
            if listed {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "listed-app never appeared at /topologies with its tasks: {body}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        streams.close().await;
    });
}

#[test]
fn a_deleted_group_leaves_the_supervision_tree() {
    let node = EddyNode::start();
    create_topics(&node, &[("grouped", 1)]);
    let bootstrap = node.bootstrap();
    let commit = |group: &str| commit_simple(&bootstrap, group, "grouped", 0);
    let delete = |group: &str| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        runtime.block_on(async {
            let mut admin = Admin::connect(&bootstrap).await.expect("admin");
            admin.delete_group(group).await.expect("delete group");
        });
    };
    commit("short-lived");
    commit("kept");
    let (_, names) = supervisor_names(&node);
    assert!(names.contains(&"group short-lived".to_owned()), "{names:?}");

    delete("short-lived");
    // The coordinator told its supervisor before DeleteGroups was answered.
    let (_, names) = supervisor_names(&node);
    assert!(
        !names.contains(&"group short-lived".to_owned()),
        "deleted group still in the tree: {names:?}"
    );
    assert!(names.contains(&"group kept".to_owned()), "{names:?}");

    // The group used again gets a new coordinator, which starts afresh.
    commit("short-lived");
    let (tree, names) = supervisor_names(&node);
    assert!(names.contains(&"group short-lived".to_owned()), "{tree}");
    node_has_one_row_per_group(&tree);
}

/// No group appears twice under the group supervisor (a deleted coordinator and its
/// successor both running would).
fn node_has_one_row_per_group(tree: &Value) {
    let mut seen = BTreeSet::new();
    let mut stack = vec![&tree["root"]];
    while let Some(node) = stack.pop() {
        let name = node["name"].as_str().unwrap_or_default();
        if name.starts_with("group ") {
            assert!(seen.insert(name.to_owned()), "{name} twice: {tree}");
        }
        stack.extend(node["children"].as_array().into_iter().flatten());
    }
}

#[test]
fn every_metric_has_help() {
    let node = EddyNode::start();
    create_topics(&node, &[("helped", 1)]);
    let bootstrap = node.bootstrap();
    run_kcat(
        &[
            "-P",
            "-b",
            &bootstrap,
            "-t",
            "helped",
            "-X",
            "message.timeout.ms=30000",
        ],
        Some(b"a\nb\n".to_vec()),
        Duration::from_secs(60),
    );
    run_kcat(
        &["-C", "-b", &bootstrap, "-t", "helped", "-e", "-q"],
        None,
        Duration::from_secs(60),
    );
    let metrics = http_get(node.admin_addr(), "/metrics");
    assert_eq!(metrics.status, 200, "GET /metrics: {metrics:?}");
    let names_after = |prefix: &str| -> BTreeSet<String> {
        metrics
            .body
            .lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .filter_map(|rest| rest.split(' ').next())
            .map(str::to_owned)
            .collect()
    };
    let typed = names_after("# TYPE ");
    let helped = names_after("# HELP ");
    for name in [
        "eddy_requests_total",
        "eddy_bytes_in_total",
        "eddy_connections_active",
    ] {
        assert!(
            typed.contains(name),
            "{name} not rendered:\n{}",
            metrics.body
        );
    }
    let missing: Vec<&String> = typed.difference(&helped).collect();
    assert!(
        missing.is_empty(),
        "metrics without # HELP: {missing:?}\n{}",
        metrics.body
    );
}
