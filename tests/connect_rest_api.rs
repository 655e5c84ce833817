//! The Kafka Connect REST endpoints a node serves on its admin port, each checked for
//! Kafka's exact response shape: `GET /`, `/connectors/<name>/tasks`, `/topics`
//! (KIP-558), `GET|PATCH|DELETE /offsets` with `PUT /stop` (KIP-875: changes only while
//! STOPPED, Kafka's messages), `PUT /connector-plugins/<plugin>/config/validate`
//! (`ConfigInfos`), and Kafka's JSON error body for an unknown connector, an unknown
//! route (the node's own body on its admin port) and a wrong method. A node-hosted file source whose file is replaced by another
//! under the same name refuses to resume into it (its offsets live in `connect-offsets`).

mod common;
mod connect_support;

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use common::EddyNode;
use connect_support::{connector_status, http, wait_for};
use serde_json::{json, Value};

/// How long a connector may take to reach what a wait expects.
const WAIT_TIMEOUT_MS: u64 = 60_000;

fn call(admin: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = http(admin, method, path, body);
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|err| {
            panic!("{method} {path} answered {status} with non-JSON {text:?}: {err}")
        })
    };
    (status, value)
}

fn create_source(admin: SocketAddr, name: &str, file: &Path, topic: &str) {
    let body = json!({"name": name, "config": {
        "connector.class": "FileStreamSource",
        "file": file.display().to_string(),
        "topic": topic,
    }});
    let (status, answer) = call(admin, "POST", "/connectors", &body.to_string());
    assert_eq!(status, 201, "{answer}");
}

/// The stored position of `name`'s file, once its offsets show one (none while
/// `connect-offsets`, just created, has no leader yet: the answer is then an error).
fn position(admin: SocketAddr, name: &str) -> Option<u64> {
    let (status, offsets) = call(admin, "GET", &format!("/connectors/{name}/offsets"), "");
    if status != 200 {
        eprintln!("GET /connectors/{name}/offsets answered {status}: {offsets}");
        return None;
    }
    offsets["offsets"][0]["offset"]["position"].as_u64()
}

#[test]
fn rest_endpoints_answer_in_kafkas_shapes() {
    let node = EddyNode::start();
    let admin = node.admin_addr();
    let dir = node.scratch_dir().to_path_buf();

    let (status, info) = call(admin, "GET", "/", "");
    assert_eq!(status, 200, "{info}");
    let keys: Vec<&String> = info.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["commit", "kafka_cluster_id", "version"], "{info}");
    assert!(
        !info["kafka_cluster_id"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{info}"
    );
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));

    // Kafka's error bodies.
    let (status, body) = call(admin, "GET", "/connectors/missing/topics", "");
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_code": 404, "message": "Connector missing not found"})
        )
    );
    // An unknown route and a wrong method answer JSON errors (the node's admin port may
    // word them its own way; `eddy connect run --admin` answers Jersey's words exactly,
    // connect_quickstart.rs checks them).
    let (status, body) = call(admin, "GET", "/no/such/route", "");
    assert_eq!((status, &body["error_code"]), (404, &json!(404)), "{body}");
    assert!(body["message"].is_string(), "{body}");
    let (status, body) = call(admin, "POST", "/connectors/missing/status", "");
    assert_eq!((status, &body["error_code"]), (405, &json!(405)), "{body}");
    assert!(body["message"].is_string(), "{body}");

    // A running source: its tasks, topics and offsets.
    let input = dir.join("in.txt");
    let text = "one\ntwo\nthree\n";
    fs::write(&input, text).expect("write the input");
    create_source(admin, "src", &input, "rest-lines");
    wait_for(WAIT_TIMEOUT_MS, "the offsets of every line", || {
        position(admin, "src") == Some(text.len() as u64)
    });
    let (status, tasks) = call(admin, "GET", "/connectors/src/tasks", "");
    assert_eq!(status, 200, "{tasks}");
    assert_eq!(
        tasks,
        json!([{"id": {"connector": "src", "task": 0}, "config": {
            "connector.class": "FileStreamSource",
            "file": input.display().to_string(),
            "name": "src",
            "topic": "rest-lines",
            "task.class": "org.apache.kafka.connect.file.FileStreamSourceTask",
        }}])
    );
    let (status, topics) = call(admin, "GET", "/connectors/src/topics", "");
    assert_eq!(
        (status, topics),
        (200, json!({"src": {"topics": ["rest-lines"]}}))
    );
    let (_, offsets) = call(admin, "GET", "/connectors/src/offsets", "");
    let entry = &offsets["offsets"][0];
    assert_eq!(
        offsets["offsets"].as_array().map(Vec::len),
        Some(1),
        "{offsets}"
    );
    assert_eq!(
        entry["partition"],
        json!({"filename": input.display().to_string()})
    );
    assert_eq!(entry["offset"]["position"], text.len());

    // Offsets change only while STOPPED.
    let rewind = json!({"offsets": [{"partition": {"filename": input.display().to_string()}, "offset": {"position": 0}}]}).to_string();
    let (status, refused) = call(admin, "PATCH", "/connectors/src/offsets", &rewind);
    assert_eq!(status, 400, "{refused}");
    assert_eq!(
        refused["message"],
        "Connectors must be in the STOPPED state before their offsets can be modified. This can \
         be done for the specified connector by issuing a 'PUT' request to the \
         '/connectors/src/stop' endpoint"
    );
    let (status, _) = call(admin, "PUT", "/connectors/src/stop", "");
    assert_eq!(status, 202);
    let stopped = connector_status(admin, "src");
    assert_eq!(stopped["connector"]["state"], "STOPPED", "{stopped}");
    assert_eq!(stopped["tasks"], json!([]), "{stopped}");
    assert_eq!(
        call(admin, "GET", "/connectors/src/tasks", ""),
        (200, json!([]))
    );
    let (status, altered) = call(admin, "PATCH", "/connectors/src/offsets", &rewind);
    assert_eq!(status, 200, "{altered}");
    assert_eq!(
        altered,
        json!({"message": "The Connect framework-managed offsets for this connector have been \
            altered successfully. However, if this connector manages offsets externally, they \
            will need to be manually altered in the system that the connector uses."})
    );
    assert_eq!(position(admin, "src"), Some(0));
    let (status, reset) = call(admin, "DELETE", "/connectors/src/offsets", "");
    assert_eq!(status, 200, "{reset}");
    assert!(
        reset["message"]
            .as_str()
            .unwrap_or_default()
            .contains("have been reset successfully"),
        "{reset}"
    );
    assert_eq!(
        call(admin, "GET", "/connectors/src/offsets", ""),
        (200, json!({"offsets": []}))
    );
    // Resumed without offsets, it reads the file again from its start.
    let (status, _) = call(admin, "PUT", "/connectors/src/resume", "");
    assert_eq!(status, 202);
    wait_for(WAIT_TIMEOUT_MS, "the file read again", || {
        position(admin, "src") == Some(text.len() as u64)
    });
    assert_eq!(
        connector_status(admin, "src")["tasks"][0]["state"],
        "RUNNING"
    );

    // A sink's offsets are its group's committed offsets, in Kafka's sink shape.
    let output = dir.join("out.txt");
    let sink = json!({"name": "snk", "config": {
        "connector.class": "FileStreamSink",
        "file": output.display().to_string(),
        "topics": "rest-lines",
    }});
    let (status, answer) = call(admin, "POST", "/connectors", &sink.to_string());
    assert_eq!(status, 201, "{answer}");
    // The topic holds the file twice: read before the reset and after it.
    wait_for(WAIT_TIMEOUT_MS, "the sink's committed offsets", || {
        let (_, offsets) = call(admin, "GET", "/connectors/snk/offsets", "");
        offsets["offsets"][0]["offset"]["kafka_offset"] == 6
    });
    let (_, offsets) = call(admin, "GET", "/connectors/snk/offsets", "");
    assert_eq!(
        offsets,
        json!({"offsets": [{"partition": {"kafka_topic": "rest-lines", "kafka_partition": 0},
                            "offset": {"kafka_offset": 6}}]})
    );
    let (_, topics) = call(admin, "GET", "/connectors/snk/topics", "");
    assert_eq!(topics, json!({"snk": {"topics": ["rest-lines"]}}));

    // Validation without creating: Kafka's ConfigInfos.
    let body = json!({"connector.class": "FileStreamSource", "name": "v", "tasks.max": "0"});
    let (status, infos) = call(
        admin,
        "PUT",
        "/connector-plugins/FileStreamSource/config/validate",
        &body.to_string(),
    );
    assert_eq!(status, 200, "{infos}");
    assert_eq!(
        infos["name"],
        "org.apache.kafka.connect.file.FileStreamSourceConnector"
    );
    assert_eq!(
        infos["error_count"], 3,
        "tasks.max, file and topic: {infos}"
    );
    let tasks_max = infos["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .find(|c| c["definition"]["name"] == "tasks.max")
        .expect("tasks.max listed");
    let definition: Vec<&String> = tasks_max["definition"]
        .as_object()
        .expect("definition")
        .keys()
        .collect();
    assert_eq!(
        definition,
        [
            "default_value",
            "dependents",
            "display_name",
            "documentation",
            "group",
            "importance",
            "name",
            "order",
            "required",
            "type",
            "width"
        ]
    );
    assert_eq!(tasks_max["value"]["name"], "tasks.max");
    assert_eq!(tasks_max["value"]["value"], "0");
    assert_eq!(tasks_max["value"]["visible"], true);
    assert_eq!(tasks_max["value"]["recommended_values"], json!([]));
    assert_eq!(
        tasks_max["value"]["errors"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(infos["groups"]
        .as_array()
        .expect("groups")
        .contains(&json!("Common")));
    let (status, mismatch) = call(
        admin,
        "PUT",
        "/connector-plugins/FileStreamSink/config/validate",
        &body.to_string(),
    );
    assert_eq!(status, 400, "{mismatch}");
    assert_eq!(mismatch["error_code"], 400);
}

#[test]
fn a_node_hosted_file_source_refuses_to_resume_into_another_file() {
    let node = EddyNode::start();
    let admin = node.admin_addr();
    let input = node.scratch_dir().join("guarded.txt");
    let first = "first file line one\nfirst file line two\n";
    fs::write(&input, first).expect("write the first file");
    create_source(admin, "guard", &input, "guarded");
    wait_for(WAIT_TIMEOUT_MS, "the offsets of the first file", || {
        position(admin, "guard") == Some(first.len() as u64)
    });
    let (status, _) = call(admin, "DELETE", "/connectors/guard", "");
    assert_eq!(status, 204);
    // Another file at the same path, longer than the stored position.
    fs::write(
        &input,
        "a different file with other bytes in its head\nand more\n",
    )
    .expect("replace the file");
    create_source(admin, "guard", &input, "guarded");
    let mut trace = String::new();
    wait_for(WAIT_TIMEOUT_MS, "the source task to fail", || {
        let status = connector_status(admin, "guard");
        trace = status["tasks"][0]["trace"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        status["tasks"][0]["state"] == "FAILED"
    });
    assert!(trace.contains("refusing to resume"), "{trace}");
    assert!(trace.contains(&input.display().to_string()), "{trace}");
    assert!(trace.contains(&format!("byte {}", first.len())), "{trace}");
}
