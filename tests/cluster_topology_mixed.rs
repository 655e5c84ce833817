//! A cluster whose nodes run different binaries (a mixed-version cluster, or a program of
//! one's own beside the stock `eddy`): a topology only some binaries carry is refused,
//! naming the nodes that cannot run it, and one every binary carries deploys.
//!
//! Three node processes; node 3 is restarted as the `own_catalog` example (the stock
//! catalog plus `shout`), so nodes 1 and 2 lack `shout`. Every wait is bounded.

mod cluster_support;
mod common;
mod deploy_support;

use std::time::Duration;

use cluster_support::{wait_for, Cluster};
use deploy_support::{http_ok, HTTP_TIMEOUT};
use serde_json::{json, Value};

/// How long node 3's new catalog may take to reach every node (it is proposed once the
/// restarted node's host runs).
const CATALOG_WAIT: Duration = Duration::from_secs(60);

fn deployment(topology: &str, app: &str) -> Value {
    json!({ "application_id": app, "topology": topology, "configs": {} })
}

#[test]
fn a_topology_some_nodes_lack_is_refused_naming_them() {
    let mut cluster = Cluster::start();
    let node3 = cluster.node_mut(3);
    node3.kill9();
    node3.set_program(common::own_catalog_program());
    node3.restart();
    let admin3 = cluster.node(3).admin_addr();
    let admin1 = cluster.node(1).admin_addr();

    // Node 3's catalog has shout, nodes 1 and 2's do not: once node 3 reported its catalog,
    // a deploy through node 3 (whose own catalog passes the check) names nodes 1 and 2.
    let refusal = wait_for(
        "node 3's catalog is known and shout is refused naming nodes 1 and 2",
        CATALOG_WAIT,
        || {
            let (status, body) = http_ok(
                admin3,
                "POST",
                "/deployments",
                Some(&deployment("shout", "shouter")),
            );
            if status == 409 {
                Ok(body)
            } else {
                Err(format!("{status} {body}"))
            }
        },
    );
    assert!(
        refusal.contains("node(s) 1, 2") && refusal.contains("shout"),
        "the refusal names the nodes and the topology: {refusal}"
    );
    // Through node 1, whose own catalog lacks it: refused with the names it knows.
    let (status, body) = http_ok(
        admin1,
        "POST",
        "/deployments",
        Some(&deployment("shout", "shouter")),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("no topology named") && body.contains("wordcount"),
        "{body}"
    );
    // Nothing was recorded.
    let (status, body) = http_ok(admin1, "GET", "/deployments/shouter", None);
    assert_eq!(status, 404, "{body}");

    // A topology every binary carries deploys, and every node lists it.
    cluster.create_topic(1, "streams-plaintext-input", 3, 3, &[]);
    let (status, body) = http_ok(
        admin3,
        "POST",
        "/deployments",
        Some(&deployment("wordcount", "wc")),
    );
    assert_eq!(status, 201, "{body}");
    for id in [1, 2, 3] {
        let admin = cluster.node(id).admin_addr();
        let listed = wait_for(
            &format!("node {id} lists the deployment"),
            HTTP_TIMEOUT,
            || {
                let (status, body) = http_ok(admin, "GET", "/deployments/wc", None);
                if status == 200 {
                    Ok(body)
                } else {
                    Err(format!("{status} {body}"))
                }
            },
        );
        let record: Value = serde_json::from_str(&listed).expect("JSON");
        assert_eq!(record["topology"], "wordcount", "{listed}");
        assert_eq!(record["unable_nodes"], json!([]), "{listed}");
    }
    cluster.node_mut(3).assert_healthy_except(&[]);
}
