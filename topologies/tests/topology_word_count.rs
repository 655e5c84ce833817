//! Word count: lines → lower-case words → count per word, as `Serdes::long()`.

mod common;

use common::{check, long, rec, s, Case};
use eddy_topologies::{
    InternalTopic, InternalTopicKind, Serdes, StreamsBuilder, StreamsConfig, Topology,
    TopologyTestDriver,
};

fn word_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>("text-lines")
        .with_key_serde(Serdes::nullable(Serdes::string()))
        .flat_map_values(|line| {
            line.to_lowercase()
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone())
        .count()
        .named("word-counts")
        .to_stream()
        .to("word-counts-output");
    builder.build().expect("word count builds")
}

fn count(word: &str, n: u64, timestamp: i64) -> common::Rec {
    rec("word-counts-output", s(word), long(n), timestamp)
}

#[test]
fn word_count_golden_output_survives_restarts() {
    check(&Case {
        name: "word count",
        topology: word_count,
        inputs: vec![
            rec("text-lines", None, s("Hello Kafka Streams"), 1_000),
            rec("text-lines", None, s("All streams lead to Kafka"), 2_000),
            rec("text-lines", s("k"), s("Join Kafka Summit"), 3_000),
        ],
        outputs: vec!["word-counts-output"],
        golden: vec![
            count("hello", 1, 1_000),
            count("kafka", 1, 1_000),
            count("streams", 1, 1_000),
            count("all", 1, 2_000),
            count("streams", 2, 2_000),
            count("lead", 1, 2_000),
            count("to", 1, 2_000),
            count("kafka", 2, 2_000),
            count("join", 1, 3_000),
            count("kafka", 3, 3_000),
            count("summit", 1, 3_000),
        ],
        dropped_late: 0,
    });
}

#[test]
fn word_count_store_holds_the_latest_counts() {
    let mut driver =
        TopologyTestDriver::new(word_count(), StreamsConfig::new("wordcount")).unwrap();
    driver
        .pipe_input(
            "text-lines",
            None::<String>,
            "to be or not to be".to_string(),
            0,
        )
        .unwrap();
    let counts = driver
        .key_value_store::<String, u64>("word-counts")
        .unwrap();
    let expected = [("be", 2), ("not", 1), ("or", 1), ("to", 2)];
    assert_eq!(counts, expected.map(|(w, n)| (w.to_string(), n)).to_vec());
    // The repartition topic carried every word to the counting sub-topology.
    assert_eq!(
        driver.read_raw("wordcount-word-counts-repartition").len(),
        6
    );
    let changelog: Vec<_> = driver
        .changelog()
        .iter()
        .map(|r| r.topic.as_str())
        .collect();
    assert_eq!(changelog, vec!["wordcount-word-counts-changelog"; 6]);
}

#[test]
fn word_count_describes_two_subtopologies_split_at_the_repartition() {
    let expected = "\
Topologies:
  Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [text-lines])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> KSTREAM-SINK-0000000003
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Sink: KSTREAM-SINK-0000000003 (topic: word-counts-repartition)
      <-- KSTREAM-KEY-SELECT-0000000002

  Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000004 (topics: [word-counts-repartition])
      --> word-counts
    Processor: word-counts (stores: [word-counts])
      --> KTABLE-TOSTREAM-0000000006
      <-- KSTREAM-SOURCE-0000000004
    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- word-counts
    Sink: KSTREAM-SINK-0000000007 (topic: word-counts-output)
      <-- KTABLE-TOSTREAM-0000000006
";
    let topology = word_count();
    assert_eq!(topology.describe().to_string(), expected);
    assert_eq!(
        topology.source_topics(1, "wc"),
        vec!["wc-word-counts-repartition".to_string()]
    );
    assert_eq!(
        topology.internal_topics("wc"),
        vec![
            InternalTopic {
                name: "wc-word-counts-repartition".into(),
                kind: InternalTopicKind::Repartition
            },
            InternalTopic {
                name: "wc-word-counts-changelog".into(),
                kind: InternalTopicKind::Changelog
            },
        ]
    );
}
