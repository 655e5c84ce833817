//! A streams application whose topics do not exist, against a real node process, says so
//! as Kafka Streams does: a missing source topic fails `KafkaStreams::start` naming every
//! missing one, without the check making an auto-creating node create it; a missing sink
//! topic is created like a producer's would be where the node auto-creates topics (and the
//! output reaches it), and fails the start naming it where it does not.

mod common;

use std::time::{Duration, Instant};

use common::EddyNode;
use eddy::actors::supervision::ChildState;
use eddy::client::{Admin, Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset};
use eddy::streams::{KafkaStreams, StreamsError, StreamsSettings};
use eddy::topologies::{StreamsBuilder, Topology};

/// How long the output may take to reach the sink topic: generous for a loaded machine.
const OUTPUT_WAIT: Duration = Duration::from_secs(60);

/// `sources` merged, upper-cased, to `sink`.
fn shouting(sources: &[&str], sink: &str) -> Topology {
    let builder = StreamsBuilder::new();
    let mut stream = builder.stream::<String, String>(sources[0]);
    for source in &sources[1..] {
        stream = stream.merge(&builder.stream::<String, String>(*source));
    }
    stream.map_values(|v| v.to_uppercase()).to(sink);
    builder.build().expect("topology builds")
}

fn settings(application_id: &str, bootstrap: &str, state: &tempfile::TempDir) -> StreamsSettings {
    let mut settings = StreamsSettings::new(application_id, bootstrap);
    settings.state_dir = state.path().to_path_buf();
    settings.commit_interval = Duration::from_millis(200);
    settings
}

async fn topic_names(bootstrap: &str) -> Vec<String> {
    let mut admin = Admin::connect(bootstrap).await.expect("admin");
    let topics = admin.list_topics().await.expect("list topics");
    topics.into_iter().map(|t| t.name).collect()
}

/// The values of `topic`'s partition 0, read until `count` arrived or `OUTPUT_WAIT` passed.
async fn read_values(bootstrap: &str, topic: &str, count: usize) -> Vec<String> {
    let mut consumer = Consumer::connect(bootstrap).await.expect("consumer");
    consumer
        .assign(topic, &[0], StartOffset::Earliest)
        .await
        .expect("assign");
    let deadline = Instant::now() + OUTPUT_WAIT;
    let mut values = Vec::new();
    while values.len() < count && Instant::now() < deadline {
        for r in consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("poll")
        {
            values.push(String::from_utf8_lossy(&r.value.unwrap_or_default()).into_owned());
        }
    }
    values
}

#[test]
fn a_missing_sink_topic_is_created_on_an_auto_creating_node_and_gets_the_output() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let state = tempfile::tempdir().expect("state dir");
    eddy::run(async move {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin");
        admin
            .create_topic("orders", 1, 1, &[])
            .await
            .expect("source topic");
        assert!(!topic_names(&bootstrap)
            .await
            .contains(&"orders-shouted".to_string()));
        let streams = KafkaStreams::start(
            shouting(&["orders"], "orders-shouted"),
            settings("sink-creator", &bootstrap, &state),
        )
        .await
        .expect("the application starts although its sink topic is missing");
        assert!(
            topic_names(&bootstrap)
                .await
                .contains(&"orders-shouted".to_string()),
            "the start created the sink topic"
        );
        let mut producer = Producer::connect(&bootstrap, ProducerConfig::default())
            .await
            .expect("producer");
        for order in ["two apples", "one pear"] {
            producer
                .send(ProducerRecord::new("orders", order.to_string()))
                .await
                .expect("send");
        }
        producer.flush().await.expect("flush");
        let values = read_values(&bootstrap, "orders-shouted", 2).await;
        assert_eq!(values, ["TWO APPLES", "ONE PEAR"]);
        // Running with no error, not merely never restarted: a task stuck retrying the
        // sink topic (a retriable UnknownTopicOrPartition makes it wait, which no restart
        // counts) would show Waiting or its last error here.
        let (_, tasks) = streams.report().await.expect("report");
        assert!(!tasks.is_empty(), "the application runs tasks");
        assert!(
            tasks
                .iter()
                .all(|t| t.supervision.state == ChildState::Running
                    && t.supervision.last_error.is_none()
                    && t.supervision.restarts == 0),
            "every task runs, without error or restart, over the sink topic: {tasks:?}"
        );
        streams.close().await;
    });
}

#[test]
fn missing_source_topics_fail_the_start_naming_them_and_are_not_created() {
    let node = EddyNode::start();
    let bootstrap = node.bootstrap();
    let state = tempfile::tempdir().expect("state dir");
    eddy::run(async move {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin");
        admin
            .create_topic("refunds", 1, 1, &[])
            .await
            .expect("the one source topic that exists");
        let started = KafkaStreams::start(
            shouting(&["payments", "refunds", "orders"], "ledger"),
            settings("source-checker", &bootstrap, &state),
        )
        .await;
        let Err(err) = started else {
            panic!("the application started without its source topics");
        };
        match &err {
            StreamsError::MissingSourceTopics { topics } => {
                assert_eq!(topics, &["orders", "payments"])
            }
            other => panic!("expected MissingSourceTopics, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.starts_with("source topic(s) orders, payments do not exist"),
            "{message}"
        );
        assert!(
            message.contains("eddy topic create orders --partitions 1"),
            "{message}"
        );
        // The node auto-creates topics, yet the check created none of them, nor the sink.
        let topics = topic_names(&bootstrap).await;
        for topic in ["orders", "payments", "ledger"] {
            assert!(
                !topics.contains(&topic.to_string()),
                "{topic} was created: {topics:?}"
            );
        }
    });
}

#[test]
fn a_missing_sink_topic_fails_the_start_naming_it_where_topics_are_not_auto_created() {
    let node = EddyNode::start_with_args(&["--auto-create-topics-enable", "false"]);
    let bootstrap = node.bootstrap();
    let state = tempfile::tempdir().expect("state dir");
    eddy::run(async move {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin");
        admin
            .create_topic("orders", 1, 1, &[])
            .await
            .expect("source topic");
        let started = KafkaStreams::start(
            shouting(&["orders"], "orders-shouted"),
            settings("strict-sink", &bootstrap, &state),
        )
        .await;
        let Err(err) = started else {
            panic!("the application started without its sink topic");
        };
        match &err {
            StreamsError::MissingSinkTopics { topics } => {
                assert_eq!(topics, &["orders-shouted"])
            }
            other => panic!("expected MissingSinkTopics, got {other:?}"),
        }
        let message = err.to_string();
        assert!(
            message.contains("sink topic(s) orders-shouted do not exist")
                && message.contains("auto.create.topics.enable=false"),
            "{message}"
        );
    });
}
