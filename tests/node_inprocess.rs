//! In-process integration tests: a node on a thread of this test process (ephemeral ports,
//! a temp data dir), driven with the project's own async client. They cover the node's
//! lifecycle in one process: start, serve, shut down cleanly, start again on the same data.

use std::time::Duration;

use eddy::client::{Admin, Consumer, Producer, ProducerConfig, ProducerRecord, StartOffset};
use eddy::node::{NodeConfig, NodeThread};

fn config(dir: &std::path::Path) -> NodeConfig {
    NodeConfig {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        admin: "127.0.0.1:0".into(),
        ..NodeConfig::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: &[i32],
    expected: usize,
) -> Vec<(i32, i64, String)> {
    let mut consumer = Consumer::connect(bootstrap).await.expect("consumer");
    consumer
        .assign(topic, partitions, StartOffset::Earliest)
        .await
        .expect("assign");
    let mut out = Vec::new();
    for _ in 0..200 {
        if out.len() >= expected {
            break;
        }
        for r in consumer
            .poll(Duration::from_millis(100))
            .await
            .expect("poll")
        {
            let value =
                String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned();
            out.push((r.partition, r.offset, value));
        }
    }
    out
}

#[test]
fn node_serves_restarts_and_serves_the_same_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = NodeThread::spawn(config(dir.path())).expect("node starts");
    let bootstrap = node.kafka_addr.to_string();
    let rt = runtime();
    let acked = rt.block_on(async {
        let mut admin = Admin::connect(&bootstrap).await.expect("admin");
        admin
            .create_topic("inproc", 3, 1, &[])
            .await
            .expect("create topic");
        let mut producer = Producer::connect(&bootstrap, ProducerConfig::default())
            .await
            .expect("producer");
        let mut receipts = Vec::new();
        for i in 0..300 {
            let record = ProducerRecord::new("inproc", format!("value-{i}"))
                .with_key(format!("key-{}", i % 17));
            receipts.push(producer.send(record).await.expect("send"));
        }
        producer.flush().await.expect("flush");
        let mut acked = 0;
        for r in receipts {
            r.wait().await.expect("acknowledged");
            acked += 1;
        }
        acked
    });
    assert_eq!(acked, 300);
    node.shutdown();

    // Same data dir, new node: every acknowledged record is served again.
    let node = NodeThread::spawn(config(dir.path())).expect("node restarts");
    let bootstrap = node.kafka_addr.to_string();
    let records = rt.block_on(read_all(&bootstrap, "inproc", &[0, 1, 2], 300));
    assert_eq!(
        records.len(),
        300,
        "all acknowledged records survive a clean restart"
    );
    let mut values: Vec<&str> = records.iter().map(|(_, _, v)| v.as_str()).collect();
    values.sort_unstable();
    values.dedup();
    assert_eq!(values.len(), 300, "no duplicates");
    for p in 0..3 {
        let offsets: Vec<i64> = records
            .iter()
            .filter(|(q, _, _)| *q == p)
            .map(|(_, o, _)| *o)
            .collect();
        assert!(
            offsets.windows(2).all(|w| w[1] == w[0] + 1),
            "partition {p} offsets are contiguous"
        );
    }
    node.shutdown();
}

#[test]
fn a_bad_config_is_refused_with_the_flag_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = NodeConfig {
        listen: "not-an-address".into(),
        ..config(dir.path())
    };
    let err = NodeThread::spawn(bad).err().expect("refused");
    assert!(err.to_string().contains("--listen"), "{err}");
}
