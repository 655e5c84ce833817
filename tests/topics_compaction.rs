//! Log compaction (`cleanup.policy=compact`) on a real node that considers compacting every
//! 200 ms (`--log-cleaner-backoff-ms 200`): 100,000 records over 1,000 keys and tombstones
//! for 100 of them (confluent-kafka), then a marker in a later batch of its own (the log's
//! last batch is never compacted); afterwards exactly the latest value of each of the 900
//! live keys remains at its original offset, plus the marker, and once
//! `delete.retention.ms` has passed the tombstones are gone too. Records without a key are
//! refused on compacted topics (INVALID_RECORD). Also: `message.timestamp.type=LogAppendTime`
//! stamps the broker's time, and `max.message.bytes` refuses larger batches.

mod common;
mod topics_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{run_python, EddyNode, KafkaConn};
use topics_support::{
    compaction_lines, create_topic, encode_batch, kcat_read, log_offsets, metric, now_ms, produce,
    produce_ok, read_log, wait_for, NewRecord, StoredRecord, INVALID_RECORD,
};

const CLEANER_BACKOFF: [&str; 2] = ["--log-cleaner-backoff-ms", "200"];
const RECORDS: i64 = 100_000;
const KEYS: i64 = 1_000;
const TOMBSTONES: i64 = 100;
const DELETE_RETENTION_MS: i64 = 2_000;
/// How long compaction may take to converge after the marker (debug build, 2 cores).
const COMPACTION_WAIT: Duration = Duration::from_secs(90);
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(180);
const MESSAGE_TOO_LARGE: i16 = 10;

fn key(k: i64) -> String {
    format!("key-{k:05}")
}

/// What a fully compacted log holds: offset → (key, value or tombstone).
struct Expected {
    live: BTreeMap<i64, (String, String)>,
    tombstones: BTreeMap<i64, String>,
    marker: i64,
}

impl Expected {
    fn new(marker: i64) -> Self {
        // The latest record of key k is g = RECORDS - KEYS + k; keys below TOMBSTONES were
        // then deleted by the tombstone at RECORDS + k.
        let live = (TOMBSTONES..KEYS)
            .map(|k| {
                let g = RECORDS - KEYS + k;
                (g, (key(k), format!("value-{g}")))
            })
            .collect();
        let tombstones = (0..TOMBSTONES).map(|k| (RECORDS + k, key(k))).collect();
        Expected {
            live,
            tombstones,
            marker,
        }
    }

    /// `Ok(tombstones still kept)` when `records` is fully compacted: every live key once
    /// with its latest value, tombstones only where produced, the marker last, nothing else.
    fn check(&self, records: &[StoredRecord]) -> Result<usize, String> {
        let mut live_seen = 0;
        let mut tombstones_kept = 0;
        for r in records {
            let got = (r.key_str(), r.value_str());
            if let Some((k, v)) = self.live.get(&r.offset) {
                if got != (k.clone(), Some(v.clone())) {
                    return Err(format!("offset {} holds {got:?}, not {k}={v}", r.offset));
                }
                live_seen += 1;
            } else if let Some(k) = self.tombstones.get(&r.offset) {
                if got != (k.clone(), None) {
                    return Err(format!(
                        "offset {} holds {got:?}, not a tombstone",
                        r.offset
                    ));
                }
                tombstones_kept += 1;
            } else if r.offset == self.marker {
                if got != ("marker".to_string(), Some("end".to_string())) {
                    return Err(format!("the marker reads {got:?}"));
                }
            } else {
                return Err(format!(
                    "offset {} ({got:?}) should have been compacted away ({} records left)",
                    r.offset,
                    records.len()
                ));
            }
        }
        if live_seen != self.live.len() {
            return Err(format!(
                "{live_seen} of {} live keys present",
                self.live.len()
            ));
        }
        if records.last().map(|r| r.offset) != Some(self.marker) {
            return Err("the marker is not the last record".into());
        }
        Ok(tombstones_kept)
    }
}

fn field(out: &str, prefix: &str) -> i64 {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix:?} in the producer's output:\n{out}"))
}

#[test]
fn compaction_keeps_the_latest_value_per_key_and_drops_expired_tombstones() {
    const TOPIC: &str = "compacted";
    let node = EddyNode::start_with_args(&CLEANER_BACKOFF);
    let delete_retention = DELETE_RETENTION_MS.to_string();
    create_topic(
        &node,
        TOPIC,
        &[
            ("cleanup.policy", "compact"),
            ("delete.retention.ms", &delete_retention),
        ],
    );

    let bootstrap = node.bootstrap();
    let (records, keys, tombstones) = (
        RECORDS.to_string(),
        KEYS.to_string(),
        TOMBSTONES.to_string(),
    );
    let out = run_python(
        "topics_produce_keyed.py",
        &[
            &bootstrap,
            TOPIC,
            "--count",
            &records,
            "--keys",
            &keys,
            "--tombstones",
            &tombstones,
            "--marker",
            "end",
        ],
        PRODUCE_TIMEOUT,
    );
    assert!(
        out.contains(&format!("DATA first=0 count={}", RECORDS + TOMBSTONES)),
        "producer output:\n{out}"
    );
    let marker = field(&out, "MARKER ");
    assert_eq!(marker, RECORDS + TOMBSTONES, "the marker follows the data");
    let expected = Expected::new(marker);
    // No tombstone may go before this: their timestamps are at or after `TOMBSTONES_AT`.
    let tombstones_due = field(&out, "TOMBSTONES_AT ") + DELETE_RETENTION_MS;
    let read = || {
        let records = read_log(&node, TOPIC, 0);
        let tombstones = records.iter().filter(|r| r.value.is_none()).count() as i64;
        assert!(
            now_ms() >= tombstones_due || tombstones == TOMBSTONES,
            "only {tombstones} tombstones left before delete.retention.ms passed"
        );
        records
    };

    // Converged: every live key once. Tombstones may still be there.
    let started = Instant::now();
    let (records, kept) = wait_for("compaction converges", COMPACTION_WAIT, || {
        let records = read();
        expected.check(&records).map(|kept| (records, kept))
    });
    let converged_ms = started.elapsed().as_millis();
    assert_eq!(records.len(), expected.live.len() + kept + 1);

    // Then the tombstones expire and a later pass removes them.
    let records = wait_for(
        "tombstones removed after delete.retention.ms",
        COMPACTION_WAIT,
        || {
            let records = read();
            match expected.check(&records) {
                Ok(0) => Ok(records),
                other => Err(other),
            }
        },
    );
    assert_eq!(
        records.len() as i64,
        KEYS - TOMBSTONES + 1,
        "900 live keys and the marker"
    );
    assert_eq!(
        log_offsets(&node, TOPIC, 0),
        (0, marker + 1),
        "compaction never moves the log start or end"
    );

    // A real consumer reads the same through the gaps to the end.
    let by_kcat: Vec<(i64, String, Option<String>)> = kcat_read(&node, TOPIC, 0)
        .into_iter()
        .map(|r| (r.offset, r.key, r.value))
        .collect();
    let raw: Vec<(i64, String, Option<String>)> = records
        .iter()
        .map(|r| (r.offset, r.key_str(), r.value_str()))
        .collect();
    assert_eq!(by_kcat, raw, "kcat reads what the raw fetches read");

    let removed = metric(&node, "eddy_compaction_records_removed_total");
    let scanned = metric(&node, "eddy_compaction_records_scanned_total");
    assert_eq!(
        removed as i64,
        RECORDS + TOMBSTONES + 1 - (KEYS - TOMBSTONES + 1),
        "records removed in all"
    );
    assert!(scanned >= removed, "scanned {scanned} < removed {removed}");
    let lines = compaction_lines(&node);
    assert!(!lines.is_empty(), "no \"compacted\" log line");
    assert_eq!(
        lines.iter().map(|l| l.1).sum::<u64>() as f64,
        removed,
        "the log lines account for every removed record"
    );
    eprintln!(
        "converged {converged_ms} ms after the producer finished (tombstones kept then: {kept}); \
         passes that removed records: {}",
        lines.len()
    );
}

#[test]
fn compacted_topics_refuse_records_without_a_key() {
    const TOPIC: &str = "compacted-keys";
    const PLAIN: &str = "not-compacted";
    let node = EddyNode::start_with_args(&CLEANER_BACKOFF);
    create_topic(&node, TOPIC, &[("cleanup.policy", "compact")]);
    create_topic(&node, PLAIN, &[]);
    let now = now_ms();
    let keyless = NewRecord {
        key: None,
        value: Some("no key".into()),
        timestamp: now,
    };
    let mut conn = KafkaConn::connect(node.kafka_addr());

    let alone = produce(
        &mut conn,
        TOPIC,
        0,
        encode_batch(std::slice::from_ref(&keyless), None),
    );
    assert_eq!(
        alone.error_code, INVALID_RECORD,
        "keyless record: {alone:?}"
    );
    let mixed = encode_batch(&[NewRecord::keyed("k", "v", now), keyless.clone()], None);
    let mixed = produce(&mut conn, TOPIC, 0, mixed);
    assert_eq!(
        mixed.error_code, INVALID_RECORD,
        "batch with one keyless record: {mixed:?}"
    );
    assert_eq!(
        log_offsets(&node, TOPIC, 0),
        (0, 0),
        "nothing of a refused batch is stored"
    );

    let out = run_python(
        "topics_produce_keyed.py",
        &[&node.bootstrap(), TOPIC, "--keyless"],
        PRODUCE_TIMEOUT,
    );
    assert_eq!(
        out.trim(),
        format!("DELIVERY_ERROR {INVALID_RECORD} INVALID_RECORD"),
        "confluent-kafka's view"
    );

    let keyed = encode_batch(&[NewRecord::keyed("k", "v", now)], None);
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, keyed), 0);
    // Topics that are not compacted take keyless records.
    assert_eq!(
        produce_ok(&mut conn, PLAIN, 0, encode_batch(&[keyless], None)),
        0
    );
}

#[test]
fn log_append_time_topics_return_broker_timestamps() {
    const APPEND_TIME: &str = "log-append-time";
    const CREATE_TIME: &str = "create-time";
    let node = EddyNode::start();
    create_topic(
        &node,
        APPEND_TIME,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    create_topic(&node, CREATE_TIME, &[]);
    // Producer timestamps from 1970: unmistakable.
    let records: Vec<NewRecord> = (0..5)
        .map(|i| NewRecord::keyed(&format!("k{i}"), "v", 1_000 + i))
        .collect();
    let mut conn = KafkaConn::connect(node.kafka_addr());

    let before = now_ms();
    let appended = produce(&mut conn, APPEND_TIME, 0, encode_batch(&records, None));
    let after = now_ms();
    assert_eq!(appended.error_code, 0, "{appended:?}");
    let stamped = appended.log_append_time_ms;
    assert!(
        (before..=after).contains(&stamped),
        "log_append_time_ms {stamped} is not the broker's time ({before}..={after})"
    );
    let stored = read_log(&node, APPEND_TIME, 0);
    assert_eq!(stored.len(), 5);
    for r in &stored {
        assert!(
            r.log_append_time,
            "offset {} is not LogAppendTime",
            r.offset
        );
        assert_eq!(r.timestamp, stamped, "offset {} timestamp", r.offset);
    }
    // kcat (librdkafka) sees the broker's timestamp too.
    let kcat = common::run_kcat(
        &[
            "-C",
            "-b",
            &node.bootstrap(),
            "-t",
            APPEND_TIME,
            "-p",
            "0",
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%T\\n",
        ],
        None,
        topics_support::KCAT_TIMEOUT,
    );
    assert_eq!(
        kcat.lines().collect::<Vec<_>>(),
        vec![stamped.to_string().as_str(); 5],
        "kcat timestamps"
    );

    let created = produce(&mut conn, CREATE_TIME, 0, encode_batch(&records, None));
    assert_eq!(created.error_code, 0);
    assert_eq!(
        created.log_append_time_ms, -1,
        "CreateTime topics answer -1"
    );
    let stored = read_log(&node, CREATE_TIME, 0);
    let timestamps: Vec<i64> = stored.iter().map(|r| r.timestamp).collect();
    assert_eq!(timestamps, vec![1_000, 1_001, 1_002, 1_003, 1_004]);
    assert!(stored.iter().all(|r| !r.log_append_time));
}

#[test]
fn max_message_bytes_refuses_larger_batches() {
    const TOPIC: &str = "small-messages";
    let node = EddyNode::start();
    create_topic(&node, TOPIC, &[("max.message.bytes", "1000")]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let small = encode_batch(&[NewRecord::keyed("k", &"s".repeat(100), now_ms())], None);
    let large = encode_batch(&[NewRecord::keyed("k", &"l".repeat(2_000), now_ms())], None);
    assert!(small.len() <= 1000 && large.len() > 1000);
    let refused = produce(&mut conn, TOPIC, 0, large);
    assert_eq!(refused.error_code, MESSAGE_TOO_LARGE, "{refused:?}");
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, small), 0);
    assert_eq!(log_offsets(&node, TOPIC, 0), (0, 1));
}

/// Regression test: rewriting a batch during compaction must keep its LogAppendTime type
/// and the broker's append time, which consumers read from the batch header.
#[test]
fn compaction_keeps_log_append_time_of_rewritten_batches() {
    const TOPIC: &str = "compacted-append-time";
    let node = EddyNode::start_with_args(&CLEANER_BACKOFF);
    create_topic(
        &node,
        TOPIC,
        &[
            ("cleanup.policy", "compact"),
            ("message.timestamp.type", "LogAppendTime"),
        ],
    );
    let mut conn = KafkaConn::connect(node.kafka_addr());
    // a, b, a, b: the first two are superseded, so this batch is rewritten to offsets 2, 3.
    let records: Vec<NewRecord> = ["a", "b", "a", "b"]
        .iter()
        .enumerate()
        .map(|(i, k)| NewRecord::keyed(k, &format!("v{i}"), 1_000 + i as i64))
        .collect();
    let appended = produce(&mut conn, TOPIC, 0, encode_batch(&records, None));
    assert_eq!(appended.error_code, 0, "{appended:?}");
    let stamped = appended.log_append_time_ms;
    // The marker batch keeps the first one from being the log's last batch.
    let marker = encode_batch(&[NewRecord::keyed("marker", "end", 1_000)], None);
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, marker), 4);

    let survivors = wait_for("the first batch is compacted", COMPACTION_WAIT, || {
        let records = read_log(&node, TOPIC, 0);
        match records.iter().map(|r| r.offset).collect::<Vec<_>>() {
            offsets if offsets == [2, 3, 4] => Ok(records),
            offsets => Err(offsets),
        }
    });
    for r in &survivors[..2] {
        assert!(
            r.log_append_time && r.timestamp == stamped,
            "offset {} reads as {} (LogAppendTime: {}) after compaction; it was appended \
             at {stamped} as LogAppendTime",
            r.offset,
            r.timestamp,
            r.log_append_time
        );
    }
}

/// Regression test: compaction deletes whole batches at the head of the log, but the log
/// start offset is not moved by compaction (Kafka keeps it), so it must not move when the
/// node restarts either — consumers positioned in the compacted range would get
/// OFFSET_OUT_OF_RANGE and reset.
#[test]
fn compaction_then_restart_keeps_the_log_start_offset() {
    const TOPIC: &str = "compacted-log-start";
    let mut node = EddyNode::start_with_args(&CLEANER_BACKOFF);
    create_topic(&node, TOPIC, &[("cleanup.policy", "compact")]);
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let now = now_ms();
    let pair = |v: &str| {
        encode_batch(
            &[NewRecord::keyed("a", v, now), NewRecord::keyed("b", v, now)],
            None,
        )
    };
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, pair("old")), 0);
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, pair("new")), 2);
    let marker = encode_batch(&[NewRecord::keyed("marker", "end", now)], None);
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, marker), 4);
    wait_for(
        "the first batch is compacted away",
        COMPACTION_WAIT,
        || match read_log(&node, TOPIC, 0).first().map(|r| r.offset) {
            Some(2) => Ok(()),
            other => Err(other),
        },
    );
    assert_eq!(log_offsets(&node, TOPIC, 0), (0, 5), "before the restart");

    node.kill9();
    node.restart();
    assert_eq!(
        log_offsets(&node, TOPIC, 0),
        (0, 5),
        "after a restart the log start offset must still be 0"
    );
}

#[test]
fn compact_delete_topics_get_both_retention_and_compaction() {
    const TOPIC: &str = "compact-and-delete";
    let node = EddyNode::start_with_args(&[
        CLEANER_BACKOFF[0],
        CLEANER_BACKOFF[1],
        "--log-retention-check-interval-ms",
        "200",
    ]);
    create_topic(
        &node,
        TOPIC,
        &[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "60000"),
        ],
    );
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let now = now_ms();
    let old = now - 600_000;
    let batches = [
        vec![
            NewRecord::keyed("a", "a0", old),
            NewRecord::keyed("b", "b0", old),
        ],
        vec![
            NewRecord::keyed("a", "a1", now),
            NewRecord::keyed("b", "b1", now),
        ],
        vec![NewRecord::keyed("a", "a2", now)],
        vec![NewRecord::keyed("marker", "end", now)],
    ];
    for (i, records) in batches.iter().enumerate() {
        let base = produce_ok(&mut conn, TOPIC, 0, encode_batch(records, None));
        assert_eq!(base, [0, 2, 4, 5][i], "base offset of batch {i}");
    }
    // Retention drops the expired first batch (log start 2) unless compaction got there
    // first (then the log start stays 0, as in Kafka: only retention and DeleteRecords move
    // it); compaction drops a1 either way.
    let records = wait_for("retention and compaction both ran", COMPACTION_WAIT, || {
        let records = read_log(&node, TOPIC, 0);
        let got: Vec<(i64, String)> = records
            .iter()
            .map(|r| (r.offset, r.value_str().unwrap_or_default()))
            .collect();
        match (log_offsets(&node, TOPIC, 0), got.as_slice()) {
            ((0 | 2, 6), [(3, _), (4, _), (5, _)]) => Ok(got),
            other => Err(format!("{other:?}")),
        }
    });
    assert_eq!(
        records,
        vec![
            (3, "b1".to_string()),
            (4, "a2".to_string()),
            (5, "end".to_string())
        ]
    );
}

#[test]
fn min_compaction_lag_keeps_young_records_uncompacted() {
    const TOPIC: &str = "compaction-lag";
    const LAG_MS: i64 = 8_000;
    /// The batch must be seen whole at least this long after it was written: ten cleaner
    /// backoffs (`CLEANER_BACKOFF`), well inside the lag so slow reads still get there.
    const WHOLE_SEEN_MS_MIN: i64 = 2_000;
    let node = EddyNode::start_with_args(&CLEANER_BACKOFF);
    let lag = LAG_MS.to_string();
    create_topic(
        &node,
        TOPIC,
        &[
            ("cleanup.policy", "compact"),
            ("min.compaction.lag.ms", &lag),
        ],
    );
    let mut conn = KafkaConn::connect(node.kafka_addr());
    let now = now_ms();
    let twice = [
        NewRecord::keyed("a", "a0", now),
        NewRecord::keyed("a", "a1", now),
    ];
    assert_eq!(
        produce_ok(&mut conn, TOPIC, 0, encode_batch(&twice, None)),
        0
    );
    let marker = encode_batch(&[NewRecord::keyed("marker", "end", now)], None);
    assert_eq!(produce_ok(&mut conn, TOPIC, 0, marker), 2);
    // Many backoffs pass while the batch is younger than the lag: it stays whole. Only a
    // read that finished before the lag passed must see it whole — the node answered it
    // while the records were young — so a slow read cannot fail the test.
    let (mut checks, mut whole_seen_at) = (0, now);
    loop {
        let offsets: Vec<i64> = read_log(&node, TOPIC, 0).iter().map(|r| r.offset).collect();
        let read_at = now_ms();
        if read_at >= now + LAG_MS {
            break;
        }
        assert_eq!(offsets, [0, 1, 2], "compacted before min.compaction.lag.ms");
        checks += 1;
        whole_seen_at = read_at;
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "{checks} reads saw the batch whole, the last {} ms after it was written",
        whole_seen_at - now
    );
    assert!(
        whole_seen_at - now >= WHOLE_SEEN_MS_MIN,
        "no read finished between {WHOLE_SEEN_MS_MIN} and {LAG_MS} ms after the write \
         ({checks} reads)"
    );
    wait_for(
        "compaction once the lag has passed",
        COMPACTION_WAIT,
        || match read_log(&node, TOPIC, 0)
            .iter()
            .map(|r| r.offset)
            .collect::<Vec<_>>()
        {
            offsets if offsets == [1, 2] => Ok(()),
            offsets => Err(offsets),
        },
    );
}
