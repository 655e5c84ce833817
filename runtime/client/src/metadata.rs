//! Cluster metadata as the client sees it: brokers, controller, topics, partition leaders.
//!
//! Plain data read out of a Metadata response, with no I/O: `Cluster` fetches, this module
//! interprets. Kafka's words are kept (leader, leader epoch, ISR, replicas).

use kafka_protocol::messages::metadata_response::MetadataResponsePartition;
use kafka_protocol::messages::MetadataResponse;
use serde::Serialize;

use super::error::ClientError;

/// A node of the cluster, as it advertises itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokerInfo {
    /// The node id.
    pub node_id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised Kafka port.
    pub port: i32,
    /// The rack, if the node has one.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// The `HOST:PORT` to connect to.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The cluster as a whole: id, controller and nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    /// The cluster id, if the node reports one.
    pub cluster_id: Option<String>,
    /// The controller's node id (-1 if unknown).
    pub controller_id: i32,
    /// Every node, sorted by node id.
    pub brokers: Vec<BrokerInfo>,
}

/// One partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// The leader's node id, -1 when the partition has no leader.
    pub leader: i32,
    /// The leader epoch, -1 if the node does not report one.
    pub leader_epoch: i32,
    /// The replicas' node ids.
    pub replicas: Vec<i32>,
    /// The in-sync replicas' node ids.
    pub isr: Vec<i32>,
    /// The Kafka error code reported for this partition (0 when healthy).
    pub error_code: i16,
}

/// One topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicInfo {
    /// The topic name.
    pub name: String,
    /// Whether the topic is internal (such as `__consumer_offsets`).
    pub internal: bool,
    /// The partitions, sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

impl TopicInfo {
    /// The number of partitions.
    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.partitions.len()).unwrap_or(i32::MAX)
    }

    /// The partition with index `partition`.
    pub fn partition(&self, partition: i32) -> Option<&PartitionInfo> {
        self.partitions.iter().find(|p| p.partition == partition)
    }
}

/// A whole Metadata answer: the cluster and every topic named (or all of them).
#[derive(Debug)]
pub(crate) struct Metadata {
    pub(crate) cluster: ClusterInfo,
    /// Topics the node described without error.
    pub(crate) topics: Vec<TopicInfo>,
    /// Topics the node answered with an error, such as UNKNOWN_TOPIC_OR_PARTITION.
    pub(crate) topic_errors: Vec<(String, ClientError)>,
}

impl Metadata {
    /// Reads a Metadata response into plain data.
    pub(crate) fn from_response(response: MetadataResponse) -> Self {
        let mut brokers: Vec<BrokerInfo> = response
            .brokers
            .into_iter()
            .map(|b| BrokerInfo {
                node_id: b.node_id.0,
                host: b.host.to_string(),
                port: b.port,
                rack: b.rack.map(|r| r.to_string()),
            })
            .collect();
        brokers.sort_by_key(|b| b.node_id);
        let mut topics = Vec::new();
        let mut topic_errors = Vec::new();
        for topic in response.topics {
            let name = topic.name.map(|n| n.0.to_string()).unwrap_or_default();
            if topic.error_code != 0 {
                let context = format!("metadata for topic {name}");
                let error = ClientError::kafka(context, topic.error_code, None);
                topic_errors.push((name, error));
                continue;
            }
            let mut partitions: Vec<PartitionInfo> =
                topic.partitions.into_iter().map(partition_info).collect();
            partitions.sort_by_key(|p| p.partition);
            topics.push(TopicInfo {
                name,
                internal: topic.is_internal,
                partitions,
            });
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        let cluster = ClusterInfo {
            cluster_id: response.cluster_id.map(|id| id.to_string()),
            controller_id: response.controller_id.0,
            brokers,
        };
        Self {
            cluster,
            topics,
            topic_errors,
        }
    }

    /// The topic named `name`, or the error the node gave for it.
    pub(crate) fn topic(&self, name: &str) -> Result<&TopicInfo, ClientError> {
        if let Some(topic) = self.topics.iter().find(|t| t.name == name) {
            return Ok(topic);
        }
        if let Some((_, err)) = self.topic_errors.iter().find(|(n, _)| n == name) {
            let code = err.kafka_error().map_or(-1, |e| e.code());
            return Err(ClientError::kafka(format!("topic {name}"), code, None));
        }
        // UNKNOWN_TOPIC_OR_PARTITION: the node did not mention the topic at all.
        Err(ClientError::kafka(format!("topic {name}"), 3, None))
    }

    /// The node with id `node_id`.
    pub(crate) fn broker(&self, node_id: i32) -> Result<&BrokerInfo, ClientError> {
        self.cluster
            .brokers
            .iter()
            .find(|b| b.node_id == node_id)
            .ok_or(ClientError::UnknownNode { node_id })
    }
}

fn partition_info(partition: MetadataResponsePartition) -> PartitionInfo {
    PartitionInfo {
        partition: partition.partition_index,
        leader: partition.leader_id.0,
        leader_epoch: partition.leader_epoch,
        replicas: partition.replica_nodes.iter().map(|id| id.0).collect(),
        isr: partition.isr_nodes.iter().map(|id| id.0).collect(),
        error_code: partition.error_code,
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponseTopic,
    };
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    use super::*;

    fn topic(name: &'static str, error_code: i16, partitions: i32) -> MetadataResponseTopic {
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str(name))))
            .with_error_code(error_code)
            .with_partitions(
                (0..partitions)
                    .rev()
                    .map(|p| {
                        MetadataResponsePartition::default()
                            .with_partition_index(p)
                            .with_leader_id(1.into())
                    })
                    .collect(),
            )
    }

    #[test]
    fn reads_brokers_topics_and_errors() {
        let response = MetadataResponse::default()
            .with_controller_id(1.into())
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(1.into())
                .with_host(StrBytes::from_static_str("localhost"))
                .with_port(9092)])
            .with_topics(vec![
                topic("b", 0, 3),
                topic("a", 0, 1),
                topic("gone", 3, 0),
            ]);
        let metadata = Metadata::from_response(response);
        assert_eq!(metadata.cluster.controller_id, 1);
        assert_eq!(metadata.broker(1).unwrap().addr(), "localhost:9092");
        assert!(metadata.broker(2).is_err());
        let names: Vec<_> = metadata.topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        let b = metadata.topic("b").unwrap();
        assert_eq!(b.partition_count(), 3);
        assert_eq!(b.partitions[0].partition, 0);
        let gone = metadata.topic("gone").unwrap_err();
        assert_eq!(gone.kafka_error().map(|e| e.code()), Some(3));
        assert!(metadata.topic("never-mentioned").is_err());
    }
}
