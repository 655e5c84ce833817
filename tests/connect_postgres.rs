//! The PostgreSQL sink against a real PostgreSQL server (the Debian package that
//! `scripts/test.sh` installs, started by the test on a loopback port in a temporary
//! directory): keyed records where every key is written five times land exactly once per
//! key with their last value, across a kill -9 of the node, an immediate stop of the
//! database and a kill -9 of `eddy connect run`, all in the middle of the run; tombstones
//! delete their rows. Rows the database refuses (a constraint, a value that does not fit
//! its column) go to the dead-letter topic with `errors.tolerance=all` and fail the task
//! otherwise; a bad configuration is refused with every faulty key listed, and a database
//! that cannot be reached makes the task restart with back-off rather than fail.

mod common;
mod connect_support;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use common::{free_port, run_kcat, run_with_timeout, tail, EddyNode};
use connect_support::postgres::PostgresServer;
use connect_support::{
    assert_not_failed, assert_refused_by_connect_run, connector_status, restarts, wait_for,
    ConnectProcess,
};
use serde_json::Value;

/// Distinct keys that end with a row.
const KEYS: usize = 1_000;
/// Keys written and then deleted by a tombstone in the last round.
const DELETED_KEYS: usize = 100;
/// How many times each key is written; the last version is what the table must hold.
const VERSIONS: usize = 5;
/// Partitions of the topic (the sink runs two tasks over them).
const PARTITIONS: u32 = 3;
/// `batch.size` of the sink: a batch is one transaction.
const BATCH_RECORDS: usize = 200;
/// How long the sink may take to bring the table to its final state.
const CONVERGE_TIMEOUT_MS: u64 = 240_000;
/// How long one produce or consume command may take.
const CLIENT_TIMEOUT_MS: u64 = 60_000;
/// How long a node or the database stays down before it is restarted.
const DOWN_MS: u64 = 2_000;

fn key(k: usize) -> String {
    format!("key-{k:05}")
}

fn value(k: usize, version: usize) -> String {
    format!(
        "version {version} of key {k}: Alice paid Bob {} dollars",
        (k * 7 + version) % 997
    )
}

/// Produces `lines` (`KEY:VALUE`, `KEY:` for a tombstone) with kcat, acks=all.
fn produce(node: &EddyNode, topic: &str, lines: &[String]) {
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    run_kcat(
        &["-b", &node.bootstrap(), "-t", topic, "-P", "-K:", "-Z"],
        Some(input.into_bytes()),
        Duration::from_millis(CLIENT_TIMEOUT_MS),
    );
}

/// One round: every key at `version`; the deleted keys get a tombstone in the last round.
fn round(version: usize) -> Vec<String> {
    let last = version == VERSIONS - 1;
    (0..KEYS + DELETED_KEYS)
        .map(|k| match (k >= KEYS, last) {
            (true, true) => format!("{}:", key(k)),
            _ => format!("{}:{}", key(k), value(k, version)),
        })
        .collect()
}

fn create_topic(node: &EddyNode, topic: &str, partitions: u32) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eddy"));
    cmd.args([
        "topic",
        "create",
        topic,
        "--bootstrap-server",
        &node.bootstrap(),
    ])
    .args(["--partitions", &partitions.to_string()]);
    let out = run_with_timeout(&mut cmd, None, Duration::from_millis(CLIENT_TIMEOUT_MS));
    assert!(
        out.status.success(),
        "topic create {topic}: {}",
        tail(&out.stderr)
    );
}

fn write_config(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(format!("{name}.properties"));
    let text: String = std::iter::once(format!("name={name}"))
        .chain(lines.iter().cloned())
        .map(|l| l + "\n")
        .collect();
    fs::write(&path, text).expect("write a connector configuration");
    path
}

/// `(row count, rows at `version`)` of the upsert test's table.
fn table_state(pg: &PostgresServer, table: &str, version: usize) -> (usize, usize) {
    let exists = pg.psql(&format!("SELECT to_regclass('{table}') IS NOT NULL"));
    if exists != "t" {
        return (0, 0);
    }
    let counts = pg.psql(&format!(
        "SELECT count(*), count(*) FILTER (WHERE value LIKE 'version {version} %') FROM {table}"
    ));
    let (rows, current) = counts.split_once('|').expect("two counts");
    (
        rows.parse().expect("a count"),
        current.parse().expect("a count"),
    )
}

#[test]
fn postgres_upserts_land_exactly_once_per_key_across_kills() {
    let mut pg = PostgresServer::start();
    let mut node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let topic = "pg_payments";
    let table = "kafka_pg_payments";
    create_topic(&node, topic, PARTITIONS);
    let sink = write_config(
        &dir,
        "pg-sink",
        &[
            "connector.class=PostgresSink".into(),
            "tasks.max=2".into(),
            format!("connection.url={}", pg.url()),
            format!("topics={topic}"),
            "table.name.format=kafka_${topic}".into(),
            "insert.mode=upsert".into(),
            "pk.mode=record_key".into(),
            format!("batch.size={BATCH_RECORDS}"),
        ],
    );
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let log = dir.join("connect.log");
    let mut connect = ConnectProcess::start(&node, admin, &[&sink], log.clone());

    // Versions 0 and 1, then a kill -9 of the node while version 2 is being written.
    produce(&node, topic, &round(0));
    produce(&node, topic, &round(1));
    wait_for(CONVERGE_TIMEOUT_MS, "the first rows in the table", || {
        assert_not_failed(admin, "pg-sink");
        table_state(&pg, table, 0).0 > 0
    });
    produce(&node, topic, &round(2));
    node.kill9();
    thread::sleep(Duration::from_millis(DOWN_MS));
    connect.assert_running();
    node.restart();

    // The database crashes (an immediate stop) and version 3 arrives while it is down: the
    // tasks fail, back off, and write it once the database is back.
    wait_for(
        CONVERGE_TIMEOUT_MS,
        "every key at version 2, the tasks running",
        || {
            assert_not_failed(admin, "pg-sink");
            let tasks = connector_status(admin, "pg-sink")["tasks"].clone();
            let running = tasks
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["state"] == "RUNNING"));
            running && table_state(&pg, table, 2) == (KEYS + DELETED_KEYS, KEYS + DELETED_KEYS)
        },
    );
    pg.stop_immediate();
    produce(&node, topic, &round(3));
    thread::sleep(Duration::from_millis(DOWN_MS));
    pg.restart();
    wait_for(CONVERGE_TIMEOUT_MS, "every key at version 3", || {
        connect.assert_running();
        assert_not_failed(admin, "pg-sink");
        table_state(&pg, table, 3) == (KEYS + DELETED_KEYS, KEYS + DELETED_KEYS)
    });
    let first_restarts = restarts(admin, "pg-sink");
    assert!(
        first_restarts >= 2,
        "the node was killed and the database crashed under the tasks, yet they were \
         restarted {first_restarts} times"
    );

    // The last version and the tombstones, then `eddy connect run` is killed while it
    // writes them: what it wrote but did not commit is written again after the restart.
    produce(&node, topic, &round(VERSIONS - 1));
    connect.kill9();
    let mut connect = ConnectProcess::start(&node, admin, &[&sink], log);
    wait_for(CONVERGE_TIMEOUT_MS, "every key at its last version", || {
        connect.assert_running();
        assert_not_failed(admin, "pg-sink");
        table_state(&pg, table, VERSIONS - 1) == (KEYS, KEYS)
    });
    let restarted = restarts(admin, "pg-sink");
    connect.stop();

    // Exactly one row per key, each with its last value; the deleted keys are gone.
    let rows = pg.psql(&format!("SELECT key, value FROM {table} ORDER BY key"));
    let expected: Vec<String> = (0..KEYS)
        .map(|k| format!("{}|{}", key(k), value(k, VERSIONS - 1)))
        .collect();
    let rows: Vec<&str> = rows.lines().collect();
    assert_eq!(rows.len(), KEYS, "rows: {rows:?}");
    for (row, expected) in rows.iter().zip(&expected) {
        assert_eq!(row, expected);
    }
    eprintln!(
        "{} records over {KEYS} keys (+{DELETED_KEYS} deleted) upserted into PostgreSQL across a \
         node kill -9, a database crash and a connect kill -9: {KEYS} rows, each key's last \
         value ({first_restarts} task restarts before the connect kill, {restarted} after)",
        (KEYS + DELETED_KEYS) * VERSIONS
    );
    node.assert_healthy();
}

#[test]
fn refused_rows_go_to_the_dead_letter_topic_or_fail_the_task() {
    let pg = PostgresServer::start();
    let node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    for table in ["guarded", "guarded_strict"] {
        pg.psql(&format!(
            "CREATE TABLE {table} (key integer PRIMARY KEY, \
             value varchar(8) NOT NULL CHECK (value <> 'poison'))"
        ));
    }
    create_topic(&node, "guarded", 1);
    let lines: Vec<String> = [
        "1:ok",
        "2:poison",
        "3:fine",
        "x:bad-key",
        "4:far too long for eight",
        "5:last",
    ]
    .map(str::to_owned)
    .to_vec();
    produce(&node, "guarded", &lines);
    let config = |name: &str, table: &str, extra: &[&str]| {
        let mut lines = vec![
            "connector.class=PostgresSink".to_owned(),
            format!("connection.url={}", pg.url()),
            "topics=guarded".to_owned(),
            format!("table.name.format={table}"),
            "auto.create=false".to_owned(),
        ];
        lines.extend(extra.iter().map(|l| l.to_string()));
        write_config(&dir, name, &lines)
    };
    let tolerant = config(
        "tolerant",
        "guarded",
        &[
            "errors.tolerance=all",
            "errors.deadletterqueue.topic.name=guarded-dlq",
            "errors.deadletterqueue.context.headers.enable=true",
        ],
    );
    let strict = config("strict", "guarded_strict", &[]);
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _connect =
        ConnectProcess::start(&node, admin, &[&tolerant, &strict], dir.join("connect.log"));

    // With tolerance: the rows that fit are written, the others are in the dead-letter
    // topic with the database's reason; the task keeps running.
    wait_for(CONVERGE_TIMEOUT_MS, "the tolerant sink's rows", || {
        assert_not_failed(admin, "tolerant");
        pg.psql("SELECT count(*) FROM guarded") == "3"
    });
    assert_eq!(
        pg.psql("SELECT key, value FROM guarded ORDER BY key"),
        "1|ok\n3|fine\n5|last"
    );
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args([
                "consume",
                "guarded-dlq",
                "--bootstrap-server",
                &node.bootstrap(),
            ])
            .args(["--json", "--max-messages", "3", "--timeout-ms", "20000"]),
        None,
        Duration::from_millis(CLIENT_TIMEOUT_MS),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let dead: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    let values: Vec<&str> = dead
        .iter()
        .map(|r| r["value"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        values,
        ["poison", "bad-key", "far too long for eight"],
        "{stdout}"
    );
    let headers: Vec<String> = dead.iter().map(|r| r["headers"].to_string()).collect();
    for (header, sqlstate) in headers.iter().zip(["23514", "22P02", "22001"]) {
        assert!(
            header.contains("TASK_PUT") && header.contains(sqlstate),
            "expected stage TASK_PUT and SQLSTATE {sqlstate} in {header}"
        );
    }
    let status = connector_status(admin, "tolerant");
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");

    // Without tolerance: the row before the refused one is written, then the task is
    // FAILED at once, naming the record and the constraint.
    wait_for(CONVERGE_TIMEOUT_MS, "the strict sink to fail", || {
        connector_status(admin, "strict")["tasks"][0]["state"] == "FAILED"
    });
    let status = connector_status(admin, "strict");
    let trace = status["tasks"][0]["trace"].as_str().expect("a trace");
    assert!(
        trace.contains("guarded/0 offset 1") && trace.contains("23514"),
        "{trace}"
    );
    assert_eq!(status["tasks"][0]["restarts"], 0, "{status}");
    assert_eq!(pg.psql("SELECT key, value FROM guarded_strict"), "1|ok");
    // What was written is committed, up to the refused record: a restart begins there.
    let out = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_eddy"))
            .args(["group", "describe", "connect-strict", "--json"])
            .args(["--bootstrap-server", &node.bootstrap()]),
        None,
        Duration::from_millis(CLIENT_TIMEOUT_MS),
    );
    let group: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "group describe printed no JSON ({err}): {}",
            tail(&out.stderr)
        )
    });
    assert_eq!(group["partitions"][0]["committed_offset"], 1, "{group}");
}

#[test]
fn a_bad_postgres_sink_configuration_lists_every_faulty_key() {
    let node = EddyNode::start();
    let dir = node.scratch_dir().to_path_buf();
    let bad = write_config(
        &dir,
        "bad-pg",
        &[
            "connector.class=PostgresSink".into(),
            "topics=orders".into(),
            "insert.mode=merge".into(),
            "pk.mode=kafka".into(),
            "auto.create=sometimes".into(),
        ],
    );
    let stderr = assert_refused_by_connect_run(
        &node,
        &bad,
        &["connection.url", "insert.mode", "pk.mode", "auto.create"],
    );
    assert!(
        stderr.contains("connection.url (missing): required"),
        "{stderr}"
    );

    // A valid configuration whose database cannot be reached: the task is restarted with
    // back-off (a database may come back), not failed, and says why.
    let closed_port = free_port();
    let unreachable = write_config(
        &dir,
        "unreachable",
        &[
            "connector.class=PostgresSink".into(),
            format!("connection.url=postgresql://eddy:secret@127.0.0.1:{closed_port}/db"),
            "topics=orders".into(),
        ],
    );
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _connect = ConnectProcess::start(&node, admin, &[&unreachable], dir.join("connect.log"));
    wait_for(CONVERGE_TIMEOUT_MS, "the task to be restarted", || {
        restarts(admin, "unreachable") >= 2
    });
    let status = connector_status(admin, "unreachable");
    let task = &status["tasks"][0];
    assert_ne!(task["state"], "FAILED", "{status}");
    let trace = task["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains("error connecting to server") && trace.contains("eddy:****@"),
        "{status}"
    );
    assert!(!trace.contains("secret"), "{trace}");
}
