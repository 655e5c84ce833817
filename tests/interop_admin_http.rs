//! The admin HTTP endpoint of a real `eddy` node: `/health`, the supervision tree at
//! `/supervisors` (partition actors appear under it once a topic exists), and Prometheus
//! text at `/metrics`.

mod common;

use std::time::Duration;

use serde_json::Value;

use common::{create_topics, http_get, run_kcat, EddyNode};

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
