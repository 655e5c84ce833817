//! confluent-kafka (librdkafka 2.16) against a real `eddy` node: a producer per
//! compression codec and a manually assigned consumer that reads every record back
//! (`tests/python/confluent_compression.py`), then a raw fetch that checks the batches are
//! stored with the codec the producer chose.

mod common;

use std::time::Duration;

use common::{fetch_batch_headers, run_python, EddyNode};

const RECORDS: i64 = 2_000;
/// Codec names as librdkafka spells them, with their record batch attribute ids.
const CODECS: [(&str, i16); 4] = [("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)];

#[test]
fn confluent_kafka_roundtrips_every_compression_codec() {
    let mut node = EddyNode::start();
    let records = RECORDS.to_string();
    let mut args = vec![node.bootstrap(), records];
    args.extend(CODECS.iter().map(|(codec, _)| codec.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python("confluent_compression.py", &args, Duration::from_secs(300));

    // Compression mismatches are collected so that one run reports every codec.
    let mut wrong_codecs = Vec::new();
    for (codec, codec_id) in CODECS {
        let line = format!("OK {codec} records={RECORDS}");
        assert!(
            out.lines().any(|l| l == line),
            "{codec}: expected {line:?} in the script output:\n{out}"
        );
        let topic = format!("cf-{codec}");
        let batches = fetch_batch_headers(&node, &topic, 0, RECORDS);
        let stored: i64 = batches.iter().map(|b| i64::from(b.record_count)).sum();
        assert_eq!(stored, RECORDS, "{topic}: records in the fetched batches");
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
        "records round-tripped, but librdkafka 2.16 did not compress as asked \
         (does the broker's ApiVersions disable a codec?):\n{}",
        wrong_codecs.join("\n")
    );
    node.assert_healthy();
}
