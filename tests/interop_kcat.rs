//! kcat (librdkafka 2.0.2, as Debian ships it) against a real `eddy` node: metadata,
//! a 10,000-record keyed round trip with headers over three partitions, and every
//! compression codec.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{create_topics, fetch_batch_headers, run_kcat, EddyNode};

/// Limit for one kcat invocation.
const KCAT_TIMEOUT: Duration = Duration::from_secs(120);
/// librdkafka settings that turn a broker that does not answer into a prompt failure
/// instead of the default five-minute delivery timeout.
const KCAT_FAST_FAIL: [&str; 4] = [
    "-X",
    "message.timeout.ms=30000",
    "-X",
    "socket.timeout.ms=10000",
];

/// One record as kcat prints it with `-f '%k|%s|%h|%p|%o\n'`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Consumed {
    key: String,
    value: String,
    headers: String,
    partition: i32,
    offset: i64,
}

/// Consumes a whole topic from the beginning with kcat and groups records by partition,
/// in the order kcat delivered them.
fn consume_all(node: &EddyNode, topic: &str) -> BTreeMap<i32, Vec<Consumed>> {
    let bootstrap = node.bootstrap();
    let mut args = vec![
        "-C",
        "-b",
        &bootstrap,
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%k|%s|%h|%p|%o\\n",
    ];
    args.extend(["-X", "socket.timeout.ms=10000"]);
    let out = run_kcat(&args, None, KCAT_TIMEOUT);
    let mut by_partition: BTreeMap<i32, Vec<Consumed>> = BTreeMap::new();
    for line in out.lines() {
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 5, "unexpected kcat output line: {line:?}");
        let record = Consumed {
            key: fields[0].to_string(),
            value: fields[1].to_string(),
            headers: fields[2].to_string(),
            partition: fields[3].parse().expect("partition is a number"),
            offset: fields[4].parse().expect("offset is a number"),
        };
        by_partition
            .entry(record.partition)
            .or_default()
            .push(record);
    }
    by_partition
}

#[test]
fn kcat_metadata_lists_broker_and_topics() {
    let node = EddyNode::start();
    create_topics(&node, &[("meta-three", 3), ("meta-one", 1)]);
    let bootstrap = node.bootstrap();

    let out = run_kcat(
        &["-L", "-J", "-b", &bootstrap, "-m", "15"],
        None,
        KCAT_TIMEOUT,
    );
    let metadata: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|err| panic!("kcat -L -J printed invalid JSON ({err}): {out}"));

    let brokers = metadata["brokers"].as_array().expect("brokers array");
    assert_eq!(brokers.len(), 1, "expected exactly one broker: {metadata}");
    assert_eq!(brokers[0]["id"], 1, "broker id: {metadata}");
    assert_eq!(
        brokers[0]["name"].as_str(),
        Some(bootstrap.as_str()),
        "the broker must advertise its listen address: {metadata}"
    );
    assert_eq!(metadata["controllerid"], 1, "controller id: {metadata}");

    let topics = metadata["topics"].as_array().expect("topics array");
    for (name, partitions) in [("meta-three", 3), ("meta-one", 1)] {
        let topic = topics
            .iter()
            .find(|t| t["topic"] == name)
            .unwrap_or_else(|| panic!("topic {name} missing from kcat -L: {metadata}"));
        assert!(
            topic.get("error").is_none(),
            "topic {name} has an error: {topic}"
        );
        let parts = topic["partitions"].as_array().expect("partitions array");
        assert_eq!(
            parts.len(),
            partitions,
            "partition count of {name}: {topic}"
        );
        let mut ids: Vec<i64> = parts
            .iter()
            .map(|p| p["partition"].as_i64().expect("partition id"))
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..partitions as i64).collect::<Vec<_>>(), "{topic}");
        for part in parts {
            assert_eq!(part["leader"], 1, "leader of {name}: {part}");
        }
    }

    let text = run_kcat(&["-L", "-b", &bootstrap, "-m", "15"], None, KCAT_TIMEOUT);
    assert!(
        text.contains(&format!("broker 1 at {bootstrap}")),
        "plain kcat -L output lacks the broker line:\n{text}"
    );
    assert!(
        text.contains("topic \"meta-three\" with 3 partitions"),
        "plain kcat -L output lacks meta-three:\n{text}"
    );
}

/// Key and value of record `i`; values vary in length so batches differ in size.
fn keyed_record(i: usize) -> (String, String) {
    (
        format!("key-{i:05}"),
        format!("value-{i}-{}", "abcdefghij".repeat(i % 40)),
    )
}

#[test]
fn kcat_roundtrips_10000_keyed_records_with_headers_over_3_partitions() {
    const RECORDS: usize = 10_000;
    const PARTITIONS: usize = 3;
    const TOPIC: &str = "kcat-roundtrip";

    let node = EddyNode::start();
    create_topics(&node, &[(TOPIC, PARTITIONS as u32)]);
    let bootstrap = node.bootstrap();

    let mut expected: BTreeMap<i32, Vec<Consumed>> = BTreeMap::new();
    for partition in 0..PARTITIONS {
        let p = partition.to_string();
        let part_header = format!("part={partition}");
        let mut input = String::new();
        let mut records = Vec::new();
        for i in (partition..RECORDS).step_by(PARTITIONS) {
            let (key, value) = keyed_record(i);
            input.push_str(&format!("{key}:{value}\n"));
            records.push(Consumed {
                key,
                value,
                headers: format!("src=kcat,part={partition},dup=a,dup=b"),
                partition: partition as i32,
                offset: records.len() as i64,
            });
        }
        expected.insert(partition as i32, records);

        // The duplicate `dup` key checks that headers are kept as sent, not collapsed.
        let mut args = vec![
            "-P",
            "-b",
            &bootstrap,
            "-t",
            TOPIC,
            "-p",
            &p,
            "-K:",
            "-H",
            "src=kcat",
            "-H",
            &part_header,
            "-H",
            "dup=a",
            "-H",
            "dup=b",
        ];
        args.extend(KCAT_FAST_FAIL);
        run_kcat(&args, Some(input.into_bytes()), KCAT_TIMEOUT);
    }

    let consumed = consume_all(&node, TOPIC);
    let total: usize = consumed.values().map(Vec::len).sum();
    assert_eq!(
        total, RECORDS,
        "kcat consumed {total} records, produced {RECORDS}"
    );
    for (partition, want) in &expected {
        let got = consumed
            .get(partition)
            .unwrap_or_else(|| panic!("nothing consumed from partition {partition}"));
        assert_eq!(
            got.len(),
            want.len(),
            "record count of partition {partition}"
        );
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                g, w,
                "partition {partition}: record differs (order or content)"
            );
        }
    }
}

#[test]
fn kcat_roundtrips_every_compression_codec() {
    const RECORDS: usize = 2_000;
    // Codec ids as stored in the record batch attributes.
    const CODECS: [(&str, i16); 4] = [("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)];

    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    // Compression mismatches are collected so that one run reports every codec.
    let mut wrong_codecs = Vec::new();
    for (codec, codec_id) in CODECS {
        let topic = format!("kcat-{codec}");
        let codec_setting = format!("compression.codec={codec}");
        // Repetitive values so that compression pays off and librdkafka keeps it.
        let input: String = (0..RECORDS)
            .map(|i| format!("k{i}:{codec} value {i} {}\n", "compressible ".repeat(8)))
            .collect();
        let mut args = vec![
            "-P",
            "-b",
            &bootstrap,
            "-t",
            &topic,
            "-p",
            "0",
            "-K:",
            "-H",
            "codec=yes",
            "-X",
            &codec_setting,
            "-X",
            "linger.ms=20",
        ];
        args.extend(KCAT_FAST_FAIL);
        run_kcat(&args, Some(input.into_bytes()), KCAT_TIMEOUT);

        let consumed = consume_all(&node, &topic);
        let records = consumed
            .get(&0)
            .unwrap_or_else(|| panic!("{codec}: nothing consumed"));
        assert_eq!(records.len(), RECORDS, "{codec}: consumed record count");
        for (i, record) in records.iter().enumerate() {
            let want = Consumed {
                key: format!("k{i}"),
                value: format!("{codec} value {i} {}", "compressible ".repeat(8)),
                headers: "codec=yes".to_string(),
                partition: 0,
                offset: i as i64,
            };
            assert_eq!(record, &want, "{codec}: record {i} differs");
        }

        let batches = fetch_batch_headers(&node, &topic, 0, RECORDS as i64);
        assert!(!batches.is_empty(), "{codec}: no batches fetched");
        for batch in &batches {
            assert_eq!(
                batch.magic, 2,
                "{codec}: batch at {} magic",
                batch.base_offset
            );
        }
        let mut stored_codecs: Vec<i16> = batches.iter().map(|b| b.compression).collect();
        stored_codecs.dedup();
        if stored_codecs != [codec_id] {
            wrong_codecs.push(format!(
                "{topic}: batches stored with codecs {stored_codecs:?}, expected [{codec_id}]"
            ));
        }
    }
    assert!(
        wrong_codecs.is_empty(),
        "records round-tripped, but kcat (librdkafka 2.0.2) did not compress as asked \
         (does the broker's ApiVersions disable a codec?):\n{}",
        wrong_codecs.join("\n")
    );
}
