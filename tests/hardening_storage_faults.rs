//! Storage faults (issue #11, failures 5 and 6) against a real `eddy` process.
//!
//! - A full disk: the data directory is a 64 MiB tmpfs; once a filler file takes the rest
//!   of it, fjall fails a journal write and poisons its database, which it never clears in
//!   the process. The node must then answer writes at once with KAFKA_STORAGE_ERROR, say
//!   so in `/health` (503, with the cause), `/supervisors`, `eddy supervisors` and
//!   `/metrics`, and exit non-zero for its service manager to restart it. Restarted after
//!   the space came back, it must serve every acknowledged record and take writes again.
//! - The open-file limit: the node starts with a soft limit of 256 and a hard limit of 1,024,
//!   raises the soft one, and 1,100 idle client connections are opened. It must refuse the
//!   connections that would eat into storage's descriptors, keep taking writes (enough to
//!   make fjall flush a memtable, which opens new files, while the connections are held),
//!   stay healthy, accept clients again once they close, and keep every acknowledged record.
//!
//! Mounting needs root; without it the full-disk test prints why and does nothing.

mod common;
mod topics_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{
    create_topics, encode_request, http_get, read_frame, run_with_timeout, EddyNode, FrameRead,
    KafkaConn,
};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::ApiVersionsRequest;
use topics_support::{encode_batch, kcat_read, metric, now_ms, produce, wait_for, NewRecord};

/// KAFKA_STORAGE_ERROR.
const KAFKA_STORAGE_ERROR: i16 = 56;
/// Size of the tmpfs the full-disk test runs on.
const TMPFS_SIZE: &str = "64m";
/// The most 1 MiB chunks the filler file may take (more than the tmpfs holds).
const FILLER_CHUNKS_MAX: usize = 128;
/// The most batches the full-disk test sends after the disk is full.
const FULL_DISK_BATCHES_MAX: usize = 5_000;
/// Records per batch in the full-disk test, and the size of each value.
const SMALL_BATCH_RECORDS: usize = 10;
const SMALL_VALUE_BYTES: usize = 1_000;
/// How long a node whose storage failed may take to exit (3 s of reporting, then a bounded
/// shutdown).
const FAILED_NODE_EXIT_TIMEOUT: Duration = Duration::from_secs(40);
/// How long the node may take to notice the failure.
const DETECTION_TIMEOUT: Duration = Duration::from_secs(20);
/// The fd-limit test: the limits the node starts with, the idle clients it gets.
const NOFILE_SOFT: u64 = 256;
const NOFILE_HARD: u64 = 1_024;
const IDLE_CLIENTS: usize = 1_100;
/// Produced while the idle clients are held: more than one fjall memtable (64 MiB), so a
/// flush opens new table files at the limit.
const FD_TEST_BATCHES: usize = 80;
const BIG_BATCH_RECORDS: usize = 60;
const BIG_VALUE_BYTES: usize = 16_000;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A tmpfs mounted on a directory for the life of the guard; unmounted on drop, also when
/// the test fails.
struct TmpfsMount {
    dir: PathBuf,
}

impl TmpfsMount {
    fn mount(dir: &Path, size: &str) -> TmpfsMount {
        std::fs::create_dir_all(dir).expect("create the mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount -t tmpfs on {} failed",
            dir.display()
        );
        TmpfsMount {
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        // The node is gone by now (it is dropped first); a lazy unmount covers a process
        // that still holds a file open.
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        // The node's temporary directory could not remove its data directory while it was
        // a mount point; what is left of it goes now.
        if let Some(node_dir) = self.dir.parent().filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("eddy-test-"))
        }) {
            let _ = std::fs::remove_dir_all(node_dir);
        }
    }
}

/// One batch of records `first..first + count`, keyed `k<i>`, valued `v<i>-` plus filler.
fn batch(first: usize, count: usize, value_bytes: usize) -> (Bytes, Vec<(String, String)>) {
    let records: Vec<(String, String)> = (first..first + count)
        .map(|i| {
            let head = format!("v{i}-");
            let fill = "x".repeat(value_bytes.saturating_sub(head.len()));
            (format!("k{i}"), head + &fill)
        })
        .collect();
    let ts = now_ms();
    let encoded: Vec<NewRecord> = records
        .iter()
        .map(|(k, v)| NewRecord::keyed(k, v, ts))
        .collect();
    (encode_batch(&encoded, None), records)
}

/// Records acknowledged so far: offset → (key, value).
type Acked = BTreeMap<i64, (String, String)>;

/// Produces the next batch of `count` records (keys from `*next` on); on success records
/// them in `acked` at their offsets and moves `*next` past them. Returns the response.
fn produce_next(
    conn: &mut KafkaConn,
    topic: &str,
    next: &mut usize,
    count: usize,
    value_bytes: usize,
    acked: &mut Acked,
) -> PartitionProduceResponse {
    let (bytes, records) = batch(*next, count, value_bytes);
    let response = produce(conn, topic, 0, bytes);
    if response.error_code == 0 {
        for (i, r) in records.into_iter().enumerate() {
            acked.insert(response.base_offset + i as i64, r);
        }
        *next += count;
    }
    response
}

/// Every acknowledged record must be at its acknowledged offset, with its value.
fn assert_all_acked_present(node: &EddyNode, topic: &str, acked: &Acked) {
    let started = Instant::now();
    let stored: BTreeMap<i64, (String, Option<String>)> = kcat_read(node, topic, 0)
        .into_iter()
        .map(|r| (r.offset, (r.key, r.value)))
        .collect();
    eprintln!(
        "read back {} records with kcat in {:?}",
        stored.len(),
        started.elapsed()
    );
    for (offset, (key, value)) in acked {
        match stored.get(offset) {
            Some((k, Some(v))) if k == key && v == value => {}
            other => panic!(
                "acknowledged record {key} at offset {offset} is missing or changed: {:?}",
                other.map(|(k, v)| (k, v.as_ref().map(|v| v.len())))
            ),
        }
    }
}

#[test]
fn full_disk_fails_writes_at_once_then_exits_for_a_restart_keeping_acked_records() {
    if !is_root() {
        eprintln!("SKIPPED: mounting a tmpfs as the data directory needs root");
        return;
    }
    let mut mount = None;
    let mut node = EddyNode::start_prepared(&[], None, |data| {
        mount = Some(TmpfsMount::mount(data, TMPFS_SIZE));
    });
    let topic = "full-disk";
    create_topics(&node, &[(topic, 1)]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let mut acked = Acked::new();
    let mut next = 0;
    for _ in 0..50 {
        let response = produce_next(
            &mut conn,
            topic,
            &mut next,
            SMALL_BATCH_RECORDS,
            SMALL_VALUE_BYTES,
            &mut acked,
        );
        assert_eq!(
            response.error_code, 0,
            "produce before the disk filled: {response:?}"
        );
    }

    // Take the rest of the tmpfs.
    let filler_path = node.data_dir().join("filler");
    let mut filler = std::fs::File::create(&filler_path).expect("create the filler file");
    let chunk = vec![0u8; 1024 * 1024];
    let mut filled = 0;
    for _ in 0..FILLER_CHUNKS_MAX {
        match filler.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    drop(filler);
    eprintln!("filler took {filled} bytes; the disk is full");

    // Writes continue until fjall runs out of space; the first refusal must be
    // KAFKA_STORAGE_ERROR, answered without waiting for a timeout.
    let mut refusal = None;
    for _ in 0..FULL_DISK_BATCHES_MAX {
        let sent = Instant::now();
        let response = produce_next(
            &mut conn,
            topic,
            &mut next,
            SMALL_BATCH_RECORDS,
            SMALL_VALUE_BYTES,
            &mut acked,
        );
        if response.error_code != 0 {
            refusal = Some((response.error_code, sent.elapsed()));
            break;
        }
    }
    let (code, took) = refusal.expect("a write is refused once the disk is full");
    eprintln!(
        "first refused produce: error {code} after {took:?}; {} records acknowledged",
        acked.len()
    );
    assert_eq!(code, KAFKA_STORAGE_ERROR, "a full disk is a storage error");

    // The node says so: /health, /supervisors, eddy supervisors, /metrics.
    let detected = Instant::now();
    let health = wait_for(
        "/health reports the storage failure",
        DETECTION_TIMEOUT,
        || {
            let h = http_get(node.admin_addr(), "/health");
            if h.status == 503 {
                Ok(h)
            } else {
                Err(h.status)
            }
        },
    );
    eprintln!(
        "/health 503 after {:?}: {}",
        detected.elapsed(),
        health.body
    );
    assert!(
        health.body.contains("is full") && health.body.contains("Poisoned"),
        "/health names the cause: {}",
        health.body
    );
    let tree = http_get(node.admin_addr(), "/supervisors");
    let tree: serde_json::Value = serde_json::from_str(&tree.body).expect("/supervisors is JSON");
    let storage = tree["root"]["children"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "storage"))
        .unwrap_or_else(|| panic!("/supervisors lists the storage service: {tree}"));
    assert_eq!(storage["state"], "failed", "storage service: {storage}");
    assert!(
        storage["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("is full"),
        "the storage record carries the cause: {storage}"
    );
    assert_eq!(metric(&node, "eddy_storage_healthy"), 0.0);
    assert!(metric(&node, "eddy_storage_errors_total") >= 1.0);
    let sent = Instant::now();
    let (bytes, _) = batch(next, 1, 10);
    let response = produce(&mut conn, topic, 0, bytes);
    eprintln!(
        "produce after detection: error {} in {:?}",
        response.error_code,
        sent.elapsed()
    );
    assert_eq!(response.error_code, KAFKA_STORAGE_ERROR);
    let cli = run_with_timeout(
        Command::new(env!("CARGO_BIN_EXE_eddy")).args([
            "supervisors",
            "--admin",
            &node.admin_addr().to_string(),
        ]),
        None,
        Duration::from_secs(20),
    );
    let cli_out = String::from_utf8_lossy(&cli.stdout);
    eprintln!("eddy supervisors:\n{cli_out}");
    assert!(
        cli_out
            .lines()
            .any(|l| l.contains("storage") && l.contains("failed")),
        "eddy supervisors shows the failed storage: {cli_out}"
    );
    drop(conn);

    // Then it exits non-zero, for its service manager to restart it.
    let status = node
        .wait_exit(FAILED_NODE_EXIT_TIMEOUT)
        .expect("a node whose storage failed exits on its own");
    eprintln!(
        "node exited with {status} {:?} after the failure",
        detected.elapsed()
    );
    assert!(
        !status.success(),
        "the exit status asks for a restart: {status}"
    );
    assert!(
        node.log().contains("exiting non-zero for a restart"),
        "the log says why it exits"
    );

    // The operator frees the space; the restarted node has every acknowledged record.
    std::fs::remove_file(&filler_path).expect("remove the filler");
    node.restart();
    assert_eq!(http_get(node.admin_addr(), "/health").body, "ok");
    assert_all_acked_present(&node, topic, &acked);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let (bytes, _) = batch(next, SMALL_BATCH_RECORDS, SMALL_VALUE_BYTES);
    let response = produce(&mut conn, topic, 0, bytes);
    assert_eq!(
        response.error_code, 0,
        "writes work after the restart: {response:?}"
    );
    // The full disk made fjall and the node log ERROR lines naming the full disk or the
    // poisoned database before the restart: those are the fault under test; any other
    // ERROR line fails the test.
    node.assert_healthy_except(&["No space left on device", "FjallError: Poisoned"]);
}

/// Files of fjall's trees (tables, blobs) under the data directory.
fn table_files(data: &Path) -> usize {
    fn walk(dir: &Path, depth: usize) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| {
                let path = e.path();
                if path.is_dir() && depth < 6 {
                    walk(&path, depth + 1)
                } else if path.parent().and_then(|p| p.file_name()) == Some("tables".as_ref()) {
                    1
                } else {
                    0
                }
            })
            .sum()
    }
    walk(data, 0)
}

/// Whether the node has closed this connection (it was refused): EOF, or a reset.
fn closed_by_node(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .expect("set read timeout");
    let mut buf = [0u8; 1];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// Whether a new client connection gets an answer to ApiVersions (it was not refused).
fn served(node: &EddyNode) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&node.kafka_addr(), Duration::from_secs(10))
    else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set read timeout");
    let frame = encode_request(1, 0, &ApiVersionsRequest::default());
    if stream.write_all(&frame).is_err() {
        return false;
    }
    matches!(read_frame(&mut stream), FrameRead::Frame(_))
}

#[test]
fn fd_limit_refuses_clients_before_storage_runs_out_of_descriptors() {
    let mut node = EddyNode::start_prepared(&[], Some((NOFILE_SOFT, NOFILE_HARD)), |_| {});
    assert!(
        node.log()
            .contains(&format!("from={NOFILE_SOFT} to={NOFILE_HARD}")),
        "the node raised its soft fd limit to the hard one:\n{}",
        node.log()
    );
    let topic = "fd-limit";
    create_topics(&node, &[(topic, 1)]);
    let mut producer = KafkaConn::connect(node.kafka_addr());

    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..IDLE_CLIENTS)
        .map(|i| {
            TcpStream::connect_timeout(&node.kafka_addr(), Duration::from_secs(10))
                .unwrap_or_else(|e| panic!("connect idle client {i}: {e}"))
        })
        .collect();
    let refused = wait_for(
        "the node refuses the connections past its client budget",
        Duration::from_secs(30),
        || {
            let n = metric(&node, "eddy_connections_refused_total{reason=\"fd_limit\"}");
            if n > 0.0 {
                Ok(n)
            } else {
                Err(n)
            }
        },
    );
    eprintln!(
        "{IDLE_CLIENTS} idle clients connected in {:?}; {refused} refused so far",
        started.elapsed()
    );

    // Writes keep working at the limit, enough of them for fjall to flush a memtable.
    let tables_before = table_files(&node.data_dir());
    let mut acked = Acked::new();
    let mut next = 0;
    let produce_started = Instant::now();
    for _ in 0..FD_TEST_BATCHES {
        let response = produce_next(
            &mut producer,
            topic,
            &mut next,
            BIG_BATCH_RECORDS,
            BIG_VALUE_BYTES,
            &mut acked,
        );
        assert_eq!(
            response.error_code, 0,
            "produce at the fd limit: {response:?}"
        );
    }
    let tables = wait_for(
        "fjall flushes a memtable (opens new files) at the fd limit",
        Duration::from_secs(30),
        || {
            let n = table_files(&node.data_dir());
            if n > tables_before {
                Ok(n)
            } else {
                Err(n)
            }
        },
    );
    eprintln!(
        "produced {} records ({} MiB) at the limit in {:?}; table files {tables_before} -> {tables}",
        acked.len(),
        acked.len() * BIG_VALUE_BYTES / (1024 * 1024),
        produce_started.elapsed()
    );
    let closed = idle.iter_mut().map(closed_by_node).filter(|c| *c).count();
    eprintln!(
        "of {IDLE_CLIENTS} idle clients the node kept {} and refused {closed}",
        IDLE_CLIENTS - closed
    );
    assert!(
        closed > 0 && closed < IDLE_CLIENTS,
        "some kept, some refused"
    );
    assert_eq!(http_get(node.admin_addr(), "/health").body, "ok");
    assert_eq!(metric(&node, "eddy_storage_healthy"), 1.0);
    assert!(
        !node.log().contains("Too many open files"),
        "fjall never hit EMFILE"
    );

    // The clients go; new ones are served again, without a restart.
    drop(idle);
    wait_for(
        "a new client is served again",
        Duration::from_secs(30),
        || {
            if served(&node) {
                Ok(())
            } else {
                Err("refused")
            }
        },
    );
    let (bytes, records) = batch(next, 1, 10);
    let response = produce(&mut producer, topic, 0, bytes);
    assert_eq!(
        response.error_code, 0,
        "produce after the clients left: {response:?}"
    );
    acked.insert(response.base_offset, records[0].clone());

    node.stop();
    node.restart();
    assert_all_acked_present(&node, topic, &acked);
    node.assert_healthy();
}
