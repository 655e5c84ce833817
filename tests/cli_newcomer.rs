//! The CLI as a newcomer meets it (issue 12, item 4): `eddy consume` shows binary keys and
//! values in the format asked for and keeps their bytes under `--json`, and errors name
//! their cause and the next step.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::{run_kcat, run_python, run_with_timeout, tail, EddyNode};
use eddy::client::{Producer, ProducerConfig, ProducerRecord};

/// Limit for one `eddy` CLI command.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `topic` with one partition and writes `records` (key, value) to it through the
/// Eddy client.
fn produce(bootstrap: &str, topic: &str, records: &[(Vec<u8>, Vec<u8>)]) {
    let out = eddy(&["topic", "create", topic, "-b", bootstrap]);
    assert!(out.status.success(), "topic create: {}", tail(&out.stderr));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let mut producer = Producer::connect(bootstrap, ProducerConfig::default())
            .await
            .expect("producer");
        for (key, value) in records {
            let record = ProducerRecord::new(topic, value.clone()).with_key(key.clone());
            producer.send(record).await.expect("send");
        }
        producer.flush().await.expect("flush");
    });
}

/// Runs `eddy ARGS` to completion.
fn eddy(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    cmd.args(args);
    run_with_timeout(&mut cmd, None, CLI_TIMEOUT)
}

/// Consumes the whole single-partition `topic` with the given extra flags; the lines.
fn consume(node: &EddyNode, topic: &str, count: usize, flags: &[&str]) -> Vec<String> {
    let bootstrap = node.bootstrap();
    let max = count.to_string();
    let mut args = vec!["consume", topic, "-b", &bootstrap, "--max-messages", &max];
    args.extend(["--timeout-ms", "20000"]);
    args.extend(flags);
    let out = eddy(&args);
    assert!(
        out.status.success(),
        "eddy {args:?} failed: {}\n{}",
        out.status,
        tail(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines: Vec<String> = stdout.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), count, "{stdout}");
    lines
}

/// The `key=` and `value=` tokens of a text line (keys here contain no spaces).
fn key_and_value(line: &str) -> (String, String) {
    let key = line
        .split(' ')
        .find_map(|t| t.strip_prefix("key="))
        .expect("key token");
    let value = line.split_once(" value=").expect("value token").1;
    (key.to_owned(), value.to_owned())
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn consume_round_trips_binary_keys_and_values_in_each_format() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    // Bytes that are not UTF-8, a NUL, and a big-endian long as a windowed store writes.
    let binary: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (
            vec![0xff, 0x00, 0xfe, 0x80],
            vec![0xc3, 0x28, 0x00, 0x0a, 0x7f],
        ),
        (b"plain".to_vec(), (0..=255u8).collect()),
    ];
    produce(&bootstrap, "binary", &binary);

    for format in ["hex", "base64"] {
        let flags = ["--key-format", format, "--value-format", format];
        let lines = consume(&node, "binary", binary.len(), &flags);
        for (line, (key, value)) in lines.iter().zip(&binary) {
            let (shown_key, shown_value) = key_and_value(line);
            let decode = |text: &str| match format {
                "hex" => unhex(text),
                _ => BASE64.decode(text).expect("base64"),
            };
            assert_eq!(&decode(&shown_key), key, "{format}: {line}");
            assert_eq!(&decode(&shown_value), value, "{format}: {line}");
        }
        // The same formats under --json carry the same text.
        let lines = consume(
            &node,
            "binary",
            binary.len(),
            &[&flags[..], &["--json"]].concat(),
        );
        for (line, (key, value)) in lines.iter().zip(&binary) {
            let json: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let decode = |v: &serde_json::Value| match format {
                "hex" => unhex(v.as_str().expect("string")),
                _ => BASE64.decode(v.as_str().expect("string")).expect("base64"),
            };
            assert_eq!(&decode(&json["key"]), key, "{line}");
            assert_eq!(&decode(&json["value"]), value, "{line}");
        }
    }

    // The default string format under --json: exact bytes, base64 where not UTF-8.
    let lines = consume(&node, "binary", binary.len(), &["--json"]);
    for (line, (key, value)) in lines.iter().zip(&binary) {
        let json: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let exact = |field: &str| match json.get(field) {
            Some(text) => text.as_str().expect("string").as_bytes().to_vec(),
            None => BASE64
                .decode(
                    json[format!("{field}_base64")]
                        .as_str()
                        .expect("base64 field"),
                )
                .expect("base64"),
        };
        assert_eq!(&exact("key"), key, "{line}");
        assert_eq!(&exact("value"), value, "{line}");
    }
    let first: serde_json::Value = serde_json::from_str(&lines[1]).expect("JSON line");
    assert_eq!(first["key"], "plain", "UTF-8 stays text: {}", lines[1]);

    // That output read back by `eddy produce --json-input` copies the records exactly.
    let out = eddy(&["topic", "create", "copy", "-b", &bootstrap]);
    assert!(out.status.success(), "topic create: {}", tail(&out.stderr));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    cmd.args(["produce", "copy", "--json-input", "-b", &bootstrap]);
    let input = lines.join("\n").into_bytes();
    let out = run_with_timeout(&mut cmd, Some(input), CLI_TIMEOUT);
    assert!(out.status.success(), "produce: {}", tail(&out.stderr));
    let flags = ["--key-format", "hex", "--value-format", "hex"];
    let original = consume(&node, "binary", binary.len(), &flags);
    let copied = consume(&node, "copy", binary.len(), &flags);
    let shown = |lines: &[String]| -> Vec<(String, String)> {
        lines.iter().map(|l| key_and_value(l)).collect()
    };
    assert_eq!(shown(&copied), shown(&original));

    // Longs (8 bytes big-endian) and JSON documents.
    let typed: Vec<(Vec<u8>, Vec<u8>)> = vec![
        ((-5i64).to_be_bytes().to_vec(), br#"{"n":[1,2]}"#.to_vec()),
        (i64::MAX.to_be_bytes().to_vec(), b"\"text\"".to_vec()),
    ];
    produce(&bootstrap, "typed", &typed);
    let flags = ["--key-format", "long", "--value-format", "json"];
    let lines = consume(&node, "typed", typed.len(), &flags);
    let shown: Vec<(String, String)> = lines.iter().map(|l| key_and_value(l)).collect();
    assert_eq!(shown[0], ("-5".to_owned(), r#"{"n":[1,2]}"#.to_owned()));
    assert_eq!(shown[1], (i64::MAX.to_string(), "\"text\"".to_owned()));
    let lines = consume(
        &node,
        "typed",
        typed.len(),
        &[&flags[..], &["--json"]].concat(),
    );
    for (line, (key, value)) in lines.iter().zip(&typed) {
        let json: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let key_back = json["key"].as_i64().expect("long").to_be_bytes().to_vec();
        assert_eq!(&key_back, key, "{line}");
        let value_back: serde_json::Value = serde_json::from_slice(value).expect("JSON value");
        assert_eq!(json["value"], value_back, "{line}");
    }

    // A value that is not 8 bytes is no long: the error names the record and a way out.
    let bootstrap = node.bootstrap();
    let out = eddy(&[
        "consume",
        "binary",
        "-b",
        &bootstrap,
        "--max-messages",
        "1",
        "--timeout-ms",
        "20000",
        "--value-format",
        "long",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("offset 0") && stderr.contains("not the 8 of a long"),
        "{stderr}"
    );
}

/// A record's key and value, `None` for null.
type Record = (Option<Vec<u8>>, Option<Vec<u8>>);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `records` (`None` for a null key or value) to partition 0 of a new `topic`
/// through kafka-python, a client that is not Eddy's.
fn produce_with_kafka_python(bootstrap: &str, topic: &str, records: &[Record]) {
    let out = eddy(&["topic", "create", topic, "-b", bootstrap]);
    assert!(out.status.success(), "topic create: {}", tail(&out.stderr));
    let side = |bytes: &Option<Vec<u8>>| bytes.as_deref().map_or("-".to_owned(), hex);
    let mut args = vec![bootstrap.to_owned(), topic.to_owned()];
    args.extend(
        records
            .iter()
            .map(|(k, v)| format!("{}:{}", side(k), side(v))),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python("produce_bytes.py", &args, CLI_TIMEOUT);
    assert_eq!(out.trim(), format!("PRODUCED {}", records.len()));
}

/// Bytes kafka-python wrote come back exactly in every format: the text line shows each
/// key and value as the format writes it (`null` for none), and `--json` carries the same.
#[test]
fn consume_shows_what_kafka_python_wrote_exactly_in_each_format() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let binary = vec![
        (
            Some(vec![0x00, 0xff, 0x80, 0x0a]),
            Some(vec![0xc3, 0x28, 0x00, 0x20, 0x7f]),
        ),
        (None, Some(Vec::new())),
        (Some(b"k".to_vec()), None),
    ];
    let utf8 = vec![(
        Some("clé ✓".as_bytes().to_vec()),
        Some("héllo wörld".as_bytes().to_vec()),
    )];
    let longs = vec![
        (
            Some(i64::MIN.to_be_bytes().to_vec()),
            Some((-1i64).to_be_bytes().to_vec()),
        ),
        (
            Some(0i64.to_be_bytes().to_vec()),
            Some(42i64.to_be_bytes().to_vec()),
        ),
    ];
    let documents = vec![(
        Some(br#""id-1""#.to_vec()),
        Some(br#"{"b":[1,2.5,null],"a":"\u00e9"}"#.to_vec()),
    )];
    let long = |b: &[u8]| i64::from_be_bytes(b.try_into().expect("8 bytes")).to_string();
    let document = |b: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(b)
            .expect("JSON")
            .to_string()
    };
    type Show = Box<dyn Fn(&[u8]) -> String>;
    let cases: Vec<(&str, &[Record], Show)> = vec![
        ("hex", &binary, Box::new(hex)),
        ("base64", &binary, Box::new(|b| BASE64.encode(b))),
        (
            "string",
            &utf8,
            Box::new(|b| String::from_utf8(b.to_vec()).expect("UTF-8")),
        ),
        ("long", &longs, Box::new(long)),
        ("json", &documents, Box::new(document)),
    ];
    for (format, records, show) in cases {
        let topic = format!("py-{format}");
        produce_with_kafka_python(&bootstrap, &topic, records);
        let flags = ["--key-format", format, "--value-format", format];
        let lines = consume(&node, &topic, records.len(), &flags);
        for (line, (key, value)) in lines.iter().zip(records) {
            let token = |bytes: &Option<Vec<u8>>| bytes.as_deref().map_or("null".to_owned(), &show);
            let expected_key = format!(" key={} ", token(key));
            let expected_value = format!(" value={}", token(value));
            assert!(
                line.contains(&expected_key),
                "{format}: {line}, want{expected_key}"
            );
            assert!(
                line.ends_with(&expected_value),
                "{format}: {line}, want{expected_value}"
            );
        }
        let json_flags = [&flags[..], &["--json"]].concat();
        let lines = consume(&node, &topic, records.len(), &json_flags);
        for (line, (key, value)) in lines.iter().zip(records) {
            let json: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            let field = |bytes: &Option<Vec<u8>>| match (bytes, format) {
                (None, _) => serde_json::Value::Null,
                (Some(b), "long") => serde_json::json!(i64::from_be_bytes(
                    b.as_slice().try_into().expect("8 bytes")
                )),
                (Some(b), "json") => serde_json::from_slice(b).expect("JSON"),
                (Some(b), _) => serde_json::Value::String(show(b)),
            };
            assert_eq!(json["key"], field(key), "{format}: {line}");
            assert_eq!(json["value"], field(value), "{format}: {line}");
        }
    }
}

#[test]
fn node_log_file_has_no_colour_codes() {
    let mut node = EddyNode::start();
    // A warning or two of its own are not needed: every line has a coloured level on a
    // terminal, so any line shows the codes.
    node.stop();
    let log = std::fs::read(node.log_path()).expect("node log");
    assert!(!log.is_empty());
    assert!(
        !log.contains(&0x1b),
        "ESC in the log file:\n{}",
        String::from_utf8_lossy(&log)
    );
}

#[test]
fn consume_at_the_admin_port_names_the_kafka_port() {
    let node = EddyNode::start();
    let admin = node.admin_addr().to_string();
    let out = eddy(&["consume", "t", "-b", &admin, "--timeout-ms", "5000"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "{admin} answered HTTP: that is probably the admin port; the Kafka port is {}",
        node.kafka_addr()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("1213486160"), "{stderr}");
}

#[test]
fn second_start_on_a_data_dir_in_use_says_so() {
    let mut node = EddyNode::start();
    let data_dir = node.data_dir();
    let data = data_dir.to_str().expect("UTF-8 path");
    let out = eddy(&[
        "start",
        "--data-dir",
        data,
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let pid = node.pid().expect("the first node's pid");
    let expected = format!(
        "data dir {data} is in use by another eddy process (pid {pid}); stop it or choose \
         another --data-dir"
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("Locked"), "{stderr}");
    // The first node is untouched.
    node.assert_healthy();
}

/// `eddy produce` to a missing topic follows the node's `auto.create.topics.enable`, as
/// kcat and Kafka's producers do: created with the node's defaults when it is on, refused
/// with the topic's name (and how to create it) when it is off.
#[test]
fn produce_follows_the_nodes_auto_create_like_kcat() {
    let node = EddyNode::start();
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_eddy")).args([
            "produce",
            "auto-created",
            "-b",
            &node.bootstrap(),
        ]),
        Some(b"one\ntwo\n".to_vec()),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "produce failed: {}",
        tail(&out.stderr)
    );
    let read = run_kcat(
        &[
            "-C",
            "-b",
            &node.bootstrap(),
            "-t",
            "auto-created",
            "-e",
            "-q",
        ],
        None,
        Duration::from_secs(60),
    );
    assert_eq!(read.lines().collect::<Vec<_>>(), vec!["one", "two"]);

    let strict = EddyNode::start_with_args(&["--auto-create-topics-enable", "false"]);
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_eddy")).args([
            "produce",
            "not-created",
            "-b",
            &strict.bootstrap(),
        ]),
        Some(b"one\n".to_vec()),
        Duration::from_secs(60),
    );
    assert!(
        !out.status.success(),
        "a missing topic is refused without auto-create"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not-created"),
        "the error names the topic: {stderr}"
    );
}
