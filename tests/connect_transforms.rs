//! Kafka Connect's single message transforms end to end, on connectors a real node runs
//! (created through its REST API), configured with Kafka Connect's own keys; what they
//! wrote is read back with kcat and compared exactly.
//!
//! - Sources: FileStreamSource lines routed by TimestampRouter to `<topic>-<yyyyMMdd>`,
//!   a second file source whose topic a Filter's TopicNameMatches predicate selects (its
//!   lines are read, their offsets committed, nothing written), the payments generator
//!   with InsertField before a router, and InsertField on a file's text lines, which fails
//!   the task at once naming the transform.
//! - Sink: FileStreamSink reading JSON objects with JsonConverter (schemas off) through
//!   three Filters (topic name, header key, tombstone), ReplaceField, InsertField with the
//!   record's coordinates, and an InsertField guarded by a negated predicate; a text value
//!   goes to the dead-letter topic with stage TRANSFORMATION.
//! - A bad transform configuration is refused with every faulty key listed.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::{http_get, kcat, run_kcat, run_with_timeout, EddyNode};
use serde_json::{json, Value};

/// How long connectors may take to write what the test waits for.
const OUTPUT_TIMEOUT_MS: u64 = 60_000;
/// How long one kcat or eddy command may take.
const COMMAND_TIMEOUT_MS: u64 = 30_000;
/// How long a REST request may take.
const HTTP_TIMEOUT_MS: u64 = 30_000;

fn wait_for<T>(what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_millis(OUTPUT_TIMEOUT_MS);
    loop {
        if let Some(value) = done() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {OUTPUT_TIMEOUT_MS} ms waiting for {what}"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

/// Creates a connector through the node's REST API (Kafka Connect's JSON form).
fn create_connector(node: &EddyNode, name: &str, config: Value) {
    let body = json!({ "name": name, "config": config }).to_string();
    let addr = node.admin_addr();
    let timeout = Duration::from_millis(HTTP_TIMEOUT_MS);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).expect("connect to the admin port");
    stream
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    write!(
        stream,
        "POST /connectors HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "creating {name} failed: {answer}"
    );
}

/// The connector's status from the REST API.
fn status(node: &EddyNode, name: &str) -> Value {
    let response = http_get(node.admin_addr(), &format!("/connectors/{name}/status"));
    assert_eq!(response.status, 200, "status of {name}: {}", response.body);
    serde_json::from_str(&response.body).expect("the status is JSON")
}

/// Every record of partition 0 of `topic` in kcat's `format`, one per line; `None` while
/// the topic does not exist.
fn consume(node: &EddyNode, topic: &str, format: &str) -> Option<Vec<String>> {
    consume_partitions(node, topic, format, &["-p", "0"])
}

/// As `consume`, over the partitions `partition_args` name (all of them without any).
fn consume_partitions(
    node: &EddyNode,
    topic: &str,
    format: &str,
    partition_args: &[&str],
) -> Option<Vec<String>> {
    let mut cmd = Command::new(kcat());
    cmd.args(["-b", &node.bootstrap(), "-C", "-t", topic])
        .args(partition_args)
        .args(["-o", "beginning", "-e", "-q", "-f", format]);
    let out = run_with_timeout(&mut cmd, None, Duration::from_millis(COMMAND_TIMEOUT_MS));
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).expect("kcat printed UTF-8");
    Some(text.lines().map(str::to_owned).collect())
}

/// Waits until partition 0 of `topic` holds `count` records; returns them.
fn wait_for_records(node: &EddyNode, topic: &str, format: &str, count: usize) -> Vec<String> {
    wait_for(&format!("{count} records in {topic}"), || {
        consume(node, topic, format).filter(|records| records.len() >= count)
    })
}

/// Produces `lines` (`key|value`; an empty value is a tombstone) to partition 0 of `topic`,
/// each with `headers` (`name=value`).
fn produce(node: &EddyNode, topic: &str, headers: &[&str], lines: &[&str]) {
    let bootstrap = node.bootstrap();
    let mut args = vec![
        "-b", &bootstrap, "-P", "-t", topic, "-p", "0", "-K", "|", "-Z",
    ];
    for header in headers {
        args.extend(["-H", header]);
    }
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    run_kcat(
        &args,
        Some(input.into_bytes()),
        Duration::from_millis(COMMAND_TIMEOUT_MS),
    );
}

/// Today's date in UTC in `date`'s `format`.
fn utc_today(format: &str) -> String {
    let out = Command::new("date")
        .args(["-u", &format!("+{format}")])
        .output()
        .expect("run date");
    String::from_utf8(out.stdout)
        .expect("date printed UTF-8")
        .trim()
        .to_owned()
}

/// The records of the topics `prefix` + each date (the test may run across midnight UTC).
fn routed(
    node: &EddyNode,
    prefix: &str,
    dates: &[String],
    format: &str,
    count: usize,
) -> Vec<String> {
    wait_for(&format!("{count} records in {prefix}<date>"), || {
        let mut records = Vec::new();
        for date in dates {
            records.extend(consume(node, &format!("{prefix}{date}"), format).unwrap_or_default());
        }
        (records.len() >= count).then_some(records)
    })
}

#[test]
fn source_transforms_route_filter_and_insert() {
    let node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let (lines, tests) = (dir.join("lines.txt"), dir.join("test.txt"));
    fs::write(&lines, "alpha\nbeta\ngamma\n").expect("write lines.txt");
    fs::write(&tests, "one\ntwo\n").expect("write test.txt");
    let day_before = utc_today("%Y%m%d");
    let month_before = utc_today("%Y%m");

    // The same chain on two file sources: the one whose topic matches `test-.*` is
    // filtered out whole, the other is routed to a topic per day.
    let file_source = |file: &std::path::Path, topic: &str| {
        json!({
            "connector.class": "FileStreamSource",
            "file": file.display().to_string(),
            "topic": topic,
            "offset.flush.interval.ms": "0",
            "transforms": "dropTest,route",
            "transforms.dropTest.type": "org.apache.kafka.connect.transforms.Filter",
            "transforms.dropTest.predicate": "isTest",
            "predicates": "isTest",
            "predicates.isTest.type":
                "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
            "predicates.isTest.pattern": "test-.*",
            "transforms.route.type": "org.apache.kafka.connect.transforms.TimestampRouter",
            "transforms.route.topic.format": "${topic}-${timestamp}",
            "transforms.route.timestamp.format": "yyyyMMdd",
        })
    };
    create_connector(&node, "lines", file_source(&lines, "lines"));
    create_connector(&node, "test-lines", file_source(&tests, "test-lines"));
    // The generator writes JSON objects, which InsertField takes; it runs before the
    // router, so the inserted topic is the original one.
    create_connector(
        &node,
        "payments",
        json!({
            "connector.class": "generator",
            "topic": "payments",
            "quickstart": "payments",
            "iterations": "4",
            "records.per.second": "100",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "transforms": "addSource,route",
            "transforms.addSource.type": "InsertField$Value",
            "transforms.addSource.static.field": "source",
            "transforms.addSource.static.value": "eddy",
            "transforms.addSource.topic.field": "topic",
            "transforms.route.type": "TimestampRouter",
            "transforms.route.topic.format": "${topic}_${timestamp}",
            "transforms.route.timestamp.format": "yyyyMM",
        }),
    );
    // A file source's values are text: InsertField refuses them and the task fails.
    create_connector(
        &node,
        "insert-text",
        json!({
            "connector.class": "FileStreamSource",
            "file": lines.display().to_string(),
            "topic": "insert-text",
            "transforms": "addSource",
            "transforms.addSource.type": "InsertField$Value",
            "transforms.addSource.static.field": "source",
            "transforms.addSource.static.value": "eddy",
        }),
    );

    let days = dates(day_before, utc_today("%Y%m%d"));
    assert_eq!(
        routed(&node, "lines-", &days, "%s\n", 3),
        ["alpha", "beta", "gamma"]
    );

    let months = dates(month_before, utc_today("%Y%m"));
    let payments = routed(&node, "payments_", &months, "%k|%s\n", 4);
    assert_eq!(
        payments,
        [
            r#"Heidi|{"amount":206,"from":"Heidi","seq":0,"source":"eddy","to":"Erin","topic":"payments"}"#,
            r#"Bob|{"amount":271,"from":"Bob","seq":1,"source":"eddy","to":"Frank","topic":"payments"}"#,
            r#"Grace|{"amount":484,"from":"Grace","seq":2,"source":"eddy","to":"Bob","topic":"payments"}"#,
            r#"Frank|{"amount":354,"from":"Frank","seq":3,"source":"eddy","to":"Erin","topic":"payments"}"#,
        ]
    );

    // The filtered source read its whole file (its committed position is the file's
    // length; the offset also records the file's identity) and wrote nothing, to its own
    // topic or a routed one.
    let key = format!("[\"test-lines\",{{\"filename\":\"{}\"}}]", tests.display());
    wait_for("the filtered source's offset", || {
        let offsets = consume_partitions(&node, "connect-offsets", "%k|%s\n", &[])?;
        let at_end = |line: &String| {
            line.split_once('|').is_some_and(|(k, v)| {
                k == key && serde_json::from_str::<Value>(v).is_ok_and(|v| v["position"] == 8)
            })
        };
        offsets.iter().any(at_end).then_some(())
    });
    assert_eq!(consume(&node, "test-lines", "%s\n"), Some(Vec::new()));
    for day in &days {
        let topic = format!("test-lines-{day}");
        let records = consume(&node, &topic, "%s\n").unwrap_or_default();
        assert!(records.is_empty(), "{topic} holds {records:?}");
    }

    let failed = wait_for("insert-text to fail", || {
        let status = status(&node, "insert-text");
        (status["tasks"][0]["state"] == "FAILED").then_some(status)
    });
    let trace = failed["tasks"][0]["trace"].as_str().expect("a trace");
    assert!(
        trace
            .contains("transform `addSource` (InsertField$Value): the value must be a JSON object")
            && trace.contains("found text"),
        "{trace}"
    );
    assert_eq!(failed["tasks"][0]["restarts"], 0, "{failed}");
    assert_eq!(consume(&node, "insert-text", "%s\n"), Some(Vec::new()));
}

/// The distinct dates seen at the start and the end of a test.
fn dates(before: String, after: String) -> Vec<String> {
    if before == after {
        vec![before]
    } else {
        vec![before, after]
    }
}

#[test]
fn sink_transforms_filter_rename_and_insert() {
    let node = EddyNode::start();
    let output = node.scratch_dir().join("orders.txt");
    // offsets 0…4 of orders/0: kept, skipped by header, tombstone, text, kept with a header.
    produce(
        &node,
        "orders",
        &[],
        &[r#"k1|{"old":1,"a":"x","keep":true}"#],
    );
    produce(&node, "orders", &["skip=yes"], &[r#"k2|{"old":2}"#]);
    produce(&node, "orders", &[], &["k3|", r#"k4|"just text""#]);
    produce(
        &node,
        "orders",
        &["priority=high"],
        &[r#"k5|{"old":3,"b":"y"}"#],
    );
    produce(&node, "test-orders", &[], &[r#"k9|{"old":9}"#]);

    create_connector(
        &node,
        "orders-sink",
        json!({
            "connector.class": "FileStreamSink",
            "file": output.display().to_string(),
            "topics": "orders,test-orders",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "offset.flush.interval.ms": "0",
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "orders-dlq",
            "errors.deadletterqueue.context.headers.enable": "true",
            "transforms": "dropTest,dropSkipped,dropTombstones,rename,addMeta,mark",
            "transforms.dropTest.type": "Filter",
            "transforms.dropTest.predicate": "isTest",
            "transforms.dropSkipped.type": "Filter",
            "transforms.dropSkipped.predicate": "hasSkip",
            "transforms.dropTombstones.type": "Filter",
            "transforms.dropTombstones.predicate": "isTombstone",
            "transforms.rename.type":
                "org.apache.kafka.connect.transforms.ReplaceField$Value",
            "transforms.rename.renames": "old:new,a:b",
            "transforms.addMeta.type": "InsertField$Value",
            "transforms.addMeta.static.field": "source",
            "transforms.addMeta.static.value": "eddy",
            "transforms.addMeta.topic.field": "topic",
            "transforms.addMeta.partition.field": "partition",
            "transforms.addMeta.offset.field": "offset",
            "transforms.mark.type": "InsertField$Value",
            "transforms.mark.static.field": "priority",
            "transforms.mark.static.value": "normal",
            "transforms.mark.predicate": "hasPriority",
            "transforms.mark.negate": "true",
            "predicates": "isTest,hasSkip,isTombstone,hasPriority",
            "predicates.isTest.type": "TopicNameMatches",
            "predicates.isTest.pattern": "test-.*",
            "predicates.hasSkip.type": "HasHeaderKey",
            "predicates.hasSkip.name": "skip",
            "predicates.isTombstone.type": "RecordIsTombstone",
            "predicates.hasPriority.type": "HasHeaderKey",
            "predicates.hasPriority.name": "priority",
        }),
    );

    // Every record handled: the group committed past the end of both topics.
    wait_for("the sink to commit both topics", || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
        cmd.args(["group", "describe", "connect-orders-sink", "--json"])
            .args(["--bootstrap-server", &node.bootstrap()]);
        let out = run_with_timeout(&mut cmd, None, Duration::from_millis(COMMAND_TIMEOUT_MS));
        let description: Value = serde_json::from_slice(&out.stdout).ok()?;
        let committed = |topic: &str| {
            description["partitions"]
                .as_array()?
                .iter()
                .find(|row| row["topic"] == topic)?["committed_offset"]
                .as_i64()
        };
        (committed("orders") == Some(5) && committed("test-orders") == Some(1)).then_some(())
    });
    let written = fs::read_to_string(&output).expect("read the sink's file");
    assert_eq!(
        written.lines().collect::<Vec<_>>(),
        [
            r#"{"b":"x","keep":true,"new":1,"offset":0,"partition":0,"priority":"normal","source":"eddy","topic":"orders"}"#,
            r#"{"b":"y","new":3,"offset":4,"partition":0,"source":"eddy","topic":"orders"}"#,
        ]
    );

    // The text value reached ReplaceField, which refused it: dead-letter topic, unchanged.
    let dead = wait_for_records(&node, "orders-dlq", "%k|%s|%h\n", 1);
    assert_eq!(dead.len(), 1, "{dead:?}");
    let (record, headers) = dead[0].split_at(dead[0].find("|__connect").expect("headers"));
    assert_eq!(record, r#"k4|"just text""#);
    for expected in [
        "__connect.errors.stage=TRANSFORMATION",
        "__connect.errors.offset=3",
        "transform `rename` (ReplaceField$Value): the value must be a JSON object",
    ] {
        assert!(headers.contains(expected), "{expected} not in {headers}");
    }
    let status = status(&node, "orders-sink");
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
}

#[test]
fn a_bad_transform_configuration_lists_every_faulty_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bad = dir.path().join("bad.properties");
    fs::write(
        &bad,
        "name=bad-transforms\nconnector.class=FileStreamSource\nfile=/tmp/in.txt\ntopic=t\n\
         transforms=add,drop,route,mystery\n\
         transforms.add.type=org.apache.kafka.connect.transforms.InsertField$Value\n\
         transforms.add.static.feild=source\n\
         transforms.drop.type=Filter\ntransforms.drop.predicate=isTest\n\
         transforms.route.type=TimestampRouter\ntransforms.route.timestamp.format=yyyy/MM\n\
         transforms.mystery.type=org.apache.kafka.connect.transforms.Flatten$Value\n\
         transforms.typo.type=Filter\n",
    )
    .expect("write the bad configuration");
    let faulty = [
        "transforms.add.static.feild",
        "transforms.add.static.field",
        "transforms.drop.predicate",
        "transforms.route.timestamp.format",
        "transforms.mystery.type",
        "transforms.typo.type",
    ];
    // Refused before anything connects: nothing listens on port 1.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    cmd.args(["connect", "run", "--bootstrap-server", "127.0.0.1:1"])
        .arg(&bad);
    let out = run_with_timeout(&mut cmd, None, Duration::from_millis(COMMAND_TIMEOUT_MS));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert!(
        stderr.contains(&format!("contains the following {} error(s)", faulty.len())),
        "{stderr}"
    );
    for key in faulty {
        assert!(
            stderr.contains(&format!("\n  - {key} ")),
            "{key} not listed in:\n{stderr}"
        );
    }
    for reason in [
        "did you mean `static.field`?",
        "unknown predicate `isTest`",
        "would put `/` in topic names",
        "unknown transform: expected one of InsertField$Key",
        "`transforms` does not list",
    ] {
        assert!(stderr.contains(reason), "{reason} not in:\n{stderr}");
    }
}
