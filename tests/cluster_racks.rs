//! Rack-aware placement (Kafka's `broker.rack`) on three node processes over two racks:
//! nodes 1 and 2 on rack `a`, node 3 on rack `b`. Each node records its rack in the
//! cluster metadata (Metadata then reports it for every broker, as Kafka does), and a topic
//! created afterwards has every partition's replicas on both racks — so each holds a
//! replica on node 3, the only node of rack `b` — with the preferred leaders still spread
//! over all three nodes. (The node that takes the creation places it with the racks it has
//! applied; one a heartbeat behind is corrected by the controller's moves, which the test
//! waits for.)
//!
//! Every wait is bounded; nothing asserts on time.

mod cluster_support;
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cluster_support::{wait_for, Cluster};
use common::KafkaConn;
use kafka_protocol::messages::MetadataRequest;

const TOPIC: &str = "racked";
const PARTITIONS: i32 = 12;
const RACKS_TIMEOUT: Duration = Duration::from_secs(30);
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn replicas_land_on_both_racks() {
    let cluster = Cluster::start_with_racks(["a", "a", "b"]);
    let racks = wait_for(
        "Metadata reports every broker's rack",
        RACKS_TIMEOUT,
        || {
            let mut conn = KafkaConn::connect(cluster.node(1).kafka_addr());
            let metadata = conn.request(9, &MetadataRequest::default().with_topics(Some(vec![])));
            let racks: BTreeMap<i32, String> = metadata
                .brokers
                .iter()
                .filter_map(|b| Some((b.node_id.0, b.rack.as_ref()?.to_string())))
                .collect();
            if racks.len() == 3 {
                Ok(racks)
            } else {
                Err(format!("racks so far: {racks:?}"))
            }
        },
    );
    assert_eq!(
        racks,
        BTreeMap::from([(1, "a".into()), (2, "a".into()), (3, "b".into())])
    );
    cluster.create_topic(1, TOPIC, PARTITIONS, 2, &[]);
    cluster.wait_until_topic_settled(TOPIC, PARTITIONS, SETTLE_TIMEOUT);
    // Placed by the node that took the request, with the racks it had applied; should it
    // lag a rack behind, the controller moves the partition onto both racks, so wait
    // for that (no move left) rather than for the first placement.
    let created = Instant::now();
    let status = wait_for(
        "every partition on both racks, no move left",
        SETTLE_TIMEOUT,
        || {
            let status = cluster.node(1).status()?;
            let moves = cluster.node(1).moves()?;
            if !moves.moves.is_empty() {
                return Err(format!("moves left: {:?}", moves.moves));
            }
            for p in status.partitions(TOPIC) {
                let on: BTreeSet<&str> = p.replicas.iter().map(|n| racks[n].as_str()).collect();
                if on != BTreeSet::from(["a", "b"]) || !p.isr_is_full() {
                    return Err(format!("{TOPIC}-{} on {:?}", p.partition, p.replicas));
                }
            }
            Ok(status)
        },
    );
    println!("on both racks {:?} after the creation", created.elapsed());
    let leaders: BTreeSet<i32> = status
        .partitions(TOPIC)
        .iter()
        .map(|p| p.replicas[0])
        .collect();
    assert_eq!(
        leaders,
        BTreeSet::from([1, 2, 3]),
        "preferred leaders still spread over every node: {}",
        status.raw
    );
}
