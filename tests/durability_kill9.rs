//! Acknowledged records survive `kill -9` of the node. The node runs with
//! `--log-flush-interval-messages 1`, records are produced with acks=1 by kafka-python
//! (`tests/python/produce_acked.py`), the node is killed with SIGKILL — once after all
//! acknowledgements, once in the middle of a stream — and restarted on the same data
//! directory; every acknowledged record must be read back at its acknowledged offset, with
//! nothing before it missing.
//!
//! What this proves is that a crash of the process loses nothing acknowledged. It cannot
//! see the fsync: SIGKILL leaves the page cache to the kernel, so these tests pass with the
//! default flush policy too (docs/runtime-semantics.md, section 5). That every
//! acknowledgement follows an fsync with `--log-flush-interval-messages 1` is checked by
//! `durability_fsync.rs`; a crash between the write and the acknowledgement by
//! `durability_crash_points.rs`.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    create_topics, kcat, python, python_script, run_kcat, run_python, wait_bounded, EddyNode,
};

const FSYNC_EVERY_APPEND: [&str; 2] = ["--log-flush-interval-messages", "1"];
const KCAT_TIMEOUT: Duration = Duration::from_secs(120);

/// Key and value of record `index`, as `produce_acked.py` writes them.
fn record(index: u64) -> (String, String) {
    (
        format!("dur-{index}"),
        format!(
            "durable-value-{index}-{}",
            "p".repeat((index % 64) as usize)
        ),
    )
}

/// Parses `ACK <index> <partition> <offset>` lines into index → offset.
fn parse_acks(out: &str) -> BTreeMap<u64, i64> {
    let mut acks = BTreeMap::new();
    for line in out.lines() {
        let Some(rest) = line.strip_prefix("ACK ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(' ').collect();
        assert_eq!(fields.len(), 3, "malformed ACK line {line:?}");
        assert_eq!(
            fields[1], "0",
            "record acked on an unexpected partition: {line:?}"
        );
        let index = fields[0].parse().expect("ACK index");
        let offset = fields[2].parse().expect("ACK offset");
        assert!(
            acks.insert(index, offset).is_none(),
            "record acked twice: {line:?}"
        );
    }
    acks
}

/// Reads partition 0 of `topic` from the beginning with kcat: offset → (key, value).
fn read_partition(node: &EddyNode, topic: &str) -> BTreeMap<i64, (String, String)> {
    let bootstrap = node.bootstrap();
    let out = run_kcat(
        &[
            "-C",
            "-b",
            &bootstrap,
            "-t",
            topic,
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%o|%k|%s\\n",
            "-X",
            "socket.timeout.ms=10000",
        ],
        None,
        KCAT_TIMEOUT,
    );
    let mut records = BTreeMap::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.splitn(3, '|').collect();
        assert_eq!(fields.len(), 3, "unexpected kcat line {line:?}");
        let offset: i64 = fields[0].parse().expect("offset");
        let previous = records.insert(offset, (fields[1].to_string(), fields[2].to_string()));
        assert!(previous.is_none(), "offset {offset} delivered twice");
    }
    records
}

/// Asserts that every acknowledged record is stored at its acknowledged offset and that
/// the log has no holes below the highest acknowledged offset.
fn assert_acked_records_present(
    acks: &BTreeMap<u64, i64>,
    stored: &BTreeMap<i64, (String, String)>,
) {
    for (&index, &offset) in acks {
        let (key, value) = record(index);
        match stored.get(&offset) {
            Some((k, v)) if *k == key && *v == value => {}
            Some(other) => {
                panic!("acked record {index} at offset {offset} reads back as {other:?}")
            }
            None => panic!(
                "acked record {index} at offset {offset} is missing after kill -9 \
                 ({} records stored)",
                stored.len()
            ),
        }
    }
    let highest = acks.values().copied().max().unwrap_or(-1);
    let holes: Vec<i64> = (0..=highest).filter(|o| !stored.contains_key(o)).collect();
    assert!(
        holes.is_empty(),
        "offsets missing below {highest}: {holes:?}"
    );
}

#[test]
fn durability_kill9_after_acks_keeps_every_acknowledged_record() {
    const RECORDS: u64 = 2_000;
    const TOPIC: &str = "durable-pipelined";

    let mut node = EddyNode::start_with_args(&FSYNC_EVERY_APPEND);
    create_topics(&node, &[(TOPIC, 1)]);
    let count = RECORDS.to_string();
    let out = run_python(
        "produce_acked.py",
        &[&node.bootstrap(), TOPIC, &count, "pipelined"],
        Duration::from_secs(180),
    );
    assert!(
        out.lines().any(|l| l == format!("DONE acked={RECORDS}")),
        "not every record was acknowledged:\n{out}"
    );
    let acks = parse_acks(&out);
    assert_eq!(acks.len() as u64, RECORDS, "ACK lines");
    let offsets: Vec<i64> = acks.values().copied().collect();
    assert_eq!(
        offsets,
        (0..RECORDS as i64).collect::<Vec<_>>(),
        "acks=1 records from one producer must get offsets 0..{RECORDS} in order"
    );

    node.kill9();
    node.restart();

    let stored = read_partition(&node, TOPIC);
    assert_acked_records_present(&acks, &stored);
    assert_eq!(
        stored.len() as u64,
        RECORDS,
        "the log holds records that were never produced"
    );

    // The recovered log end offset must be where appends continue.
    let bootstrap = node.bootstrap();
    run_kcat(
        &[
            "-P",
            "-b",
            &bootstrap,
            "-t",
            TOPIC,
            "-p",
            "0",
            "-K:",
            "-X",
            "message.timeout.ms=30000",
        ],
        Some(b"after-restart:first-new-record\n".to_vec()),
        KCAT_TIMEOUT,
    );
    let stored = read_partition(&node, TOPIC);
    assert_eq!(
        stored.get(&(RECORDS as i64)),
        Some(&("after-restart".to_string(), "first-new-record".to_string())),
        "the first append after restart must land at offset {RECORDS}"
    );
    node.assert_healthy();
}

#[test]
fn durability_kill9_mid_stream_keeps_every_acknowledged_record() {
    /// Acknowledgements to see before the node is killed.
    const ACKS_BEFORE_KILL: usize = 300;
    /// Upper bound on the records the producer would send if never interrupted.
    const RECORDS_MAX: u64 = 1_000_000;
    const ACK_WAIT: Duration = Duration::from_secs(90);
    const PRODUCER_EXIT_WAIT: Duration = Duration::from_secs(60);
    const TOPIC: &str = "durable-stream";

    let mut node = EddyNode::start_with_args(&FSYNC_EVERY_APPEND);
    create_topics(&node, &[(TOPIC, 1)]);
    // Make sure kcat is there before anything is killed, so a missing tool fails early.
    kcat();

    // stderr goes to a file: kafka-python logs every failed reconnect, which could fill a
    // pipe nobody reads and stall the producer.
    let stderr_path = node.scratch_dir().join("producer.stderr");
    let stderr = File::create(&stderr_path).expect("create the producer's stderr file");
    let mut producer = Command::new(python())
        .arg(python_script("produce_acked.py"))
        .args([&node.bootstrap(), TOPIC, &RECORDS_MAX.to_string(), "sync"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .spawn()
        .expect("spawn produce_acked.py");
    let stdout = producer.stdout.take().expect("piped stdout");
    let (lines_tx, lines_rx) = mpsc::channel::<String>();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut out = String::new();
    let mut acked = 0;
    let deadline = Instant::now() + ACK_WAIT;
    while acked < ACKS_BEFORE_KILL {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                acked += usize::from(line.starts_with("ACK "));
                out.push_str(&line);
                out.push('\n');
            }
            Err(err) => {
                let _ = producer.kill();
                panic!(
                    "only {acked} acks within {ACK_WAIT:?} ({err}); producer output:\n{out}\n\
                     producer stderr:\n{}",
                    fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
        }
    }

    node.kill9();

    // The producer notices the dead broker and stops; acknowledgements it printed after the
    // kill were still sent by the broker before it died, so they count too.
    let status = wait_bounded(&mut producer, PRODUCER_EXIT_WAIT);
    if status.is_none() {
        let _ = producer.kill();
        let _ = producer.wait();
    }
    reader.join().expect("stdout reader thread");
    out.extend(lines_rx.try_iter().map(|l| l + "\n"));
    assert!(
        status.is_some(),
        "producer did not stop within {PRODUCER_EXIT_WAIT:?} after the kill:\n{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("STOPPED ")),
        "producer did not report the dead broker:\n{out}"
    );
    let acks = parse_acks(&out);
    assert!(
        acks.len() >= ACKS_BEFORE_KILL,
        "acks parsed: {}",
        acks.len()
    );
    for (&index, &offset) in &acks {
        assert_eq!(
            offset, index as i64,
            "sync producer: record {index} acked at {offset}"
        );
    }

    node.restart();
    let stored = read_partition(&node, TOPIC);
    println!(
        "{} records acknowledged before the kill completed; {} stored after restart",
        acks.len(),
        stored.len()
    );
    assert_acked_records_present(&acks, &stored);
    // At most the one in-flight, unacknowledged record may follow the acknowledged ones,
    // and only if it is intact.
    let unacked: Vec<_> = stored.keys().filter(|o| **o >= acks.len() as i64).collect();
    assert!(
        unacked.len() <= 1,
        "records beyond the acked ones: {unacked:?}"
    );
    for &&offset in &unacked {
        assert_eq!(
            stored[&offset],
            record(offset as u64),
            "the unacknowledged tail record at {offset} is corrupt"
        );
    }
    node.assert_healthy();
}
