//! The execution core as the runtime will use it: raw records in, output and changelog
//! records out, stores rebuilt from the changelog.

use eddy_topologies::{
    ChangelogRecord, InMemoryStoreSupplier, InputRecord, Serdes, StreamsBuilder, StreamsConfig,
    Task, TaskError, TaskId, Topology,
};

fn word_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, String>("lines")
        .with_key_serde(Serdes::nullable(Serdes::string()))
        .flat_map_values(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .group_by(|_, w| w.clone())
        .count()
        .named("counts")
        .to_stream()
        .to("counts-out");
    builder.build().unwrap()
}

fn input(
    topic: &str,
    offset: i64,
    key: Option<&[u8]>,
    value: &[u8],
    timestamp: i64,
) -> InputRecord {
    InputRecord {
        topic: topic.to_string(),
        partition: 3,
        offset,
        key: key.map(<[u8]>::to_vec),
        value: Some(value.to_vec()),
        timestamp,
        headers: Vec::new(),
    }
}

fn task(topology: &Topology, subtopology: u32) -> Task {
    let id = TaskId {
        subtopology,
        partition: 3,
    };
    Task::new(
        topology,
        &StreamsConfig::new("wc"),
        id,
        &mut InMemoryStoreSupplier,
    )
    .unwrap()
}

#[test]
fn tasks_pass_records_through_the_repartition_topic_and_log_their_stores() {
    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<Task>();
    assert_send_sync::<Topology>();

    let topology = word_count();
    let mut split = task(&topology, 0);
    let mut count = task(&topology, 1);
    assert_eq!(count.id().to_string(), "1_3");
    assert_eq!(split.source_topics(), vec!["lines".to_string()]);
    assert_eq!(
        count.source_topics(),
        vec!["wc-counts-repartition".to_string()]
    );
    assert_eq!(count.stores()[0].changelog_topic, "wc-counts-changelog");

    let out = split.process(input("lines", 0, None, b"a b a", 5)).unwrap();
    assert!(out.changelog.is_empty());
    let topics: Vec<&str> = out.records.iter().map(|r| r.topic.as_str()).collect();
    assert_eq!(topics, vec!["wc-counts-repartition"; 3]);
    assert_eq!(out.records[0].key.as_deref(), Some(&b"a"[..]));

    let mut changelog: Vec<ChangelogRecord> = Vec::new();
    let mut counts = Vec::new();
    for (offset, r) in out.records.iter().enumerate() {
        let raw = InputRecord {
            topic: r.topic.clone(),
            partition: 3,
            offset: offset as i64,
            key: r.key.clone(),
            value: r.value.clone(),
            timestamp: r.timestamp,
            headers: r.headers.clone(),
        };
        let out = count.process(raw).unwrap();
        changelog.extend(out.changelog);
        counts.extend(out.records.into_iter().map(|r| (r.key, r.value)));
    }
    let long = |n: u64| Some(n.to_be_bytes().to_vec());
    assert_eq!(counts[2], (Some(b"a".to_vec()), long(2)));
    assert_eq!(changelog.len(), 3);
    assert!(changelog
        .iter()
        .all(|c| c.topic == "wc-counts-changelog" && c.partition == 3));

    // A new task restored from the changelog continues where the old one stopped.
    let mut restored = task(&topology, 1);
    for record in &changelog {
        restored.restore(record).unwrap();
    }
    restored.restore_stream_time(count.stream_time().unwrap());
    let out = restored
        .process(input("wc-counts-repartition", 3, Some(b"a"), b"a", 6))
        .unwrap();
    assert_eq!(out.records[0].value, long(3));
}

#[test]
fn bad_records_are_skipped_and_bad_calls_are_errors() {
    let topology = word_count();
    let mut split = task(&topology, 0);
    let out = split
        .process(input("lines", 7, None, &[0xff, 0xfe], 1))
        .unwrap();
    let skipped = out.skipped.unwrap();
    assert_eq!(
        (
            skipped.offset,
            skipped.reason.starts_with("cannot deserialize")
        ),
        (7, true)
    );
    assert_eq!(split.metrics().skipped_records, 1);
    assert!(matches!(
        split.process(input("other", 0, None, b"x", 1)),
        Err(TaskError::UnknownTopic { .. })
    ));
    let id = TaskId {
        subtopology: 9,
        partition: 0,
    };
    let err = Task::new(
        &topology,
        &StreamsConfig::new("wc"),
        id,
        &mut InMemoryStoreSupplier,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TaskError::UnknownSubtopology { count: 2, .. }
    ));
    assert!(!err.is_retriable());
}
