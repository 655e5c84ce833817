//! Topic, group and cluster administration: create, delete, list and describe.
//!
//! Topic creation and deletion go to the controller named in Metadata (kafka-python and the
//! Java admin do the same); group requests go to the group's coordinator (FindCoordinator),
//! ListGroups to every node, end offsets to each partition's leader; other reads go to
//! whichever node the control connection reached.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use serde::{Serialize, Serializer};

use super::cluster::Cluster;
use super::connection::{Connection, ConnectionConfig};
use super::error::{check_code, ClientError};
use super::groups::{self, GroupDescription, GroupListing, GroupPartitionOffset};
use super::list_offsets::{list_offsets, LATEST_TIMESTAMP};
use super::metadata::{ClusterInfo, Metadata, TopicInfo};

/// How long the node may take to create or delete a topic before answering.
const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// Kafka's resource type for a topic in DescribeConfigs.
const RESOURCE_TYPE_TOPIC: i8 = 2;
/// Kafka's resource type for a broker in DescribeConfigs.
const RESOURCE_TYPE_BROKER: i8 = 4;

/// Where a config value comes from (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic,
    /// Set dynamically on this node.
    DynamicBroker,
    /// Set dynamically as a default for all nodes.
    DynamicDefaultBroker,
    /// Set in the node's configuration file.
    StaticBroker,
    /// The built-in default.
    Default,
    /// Any other source code the node sent.
    Other(i8),
}

impl ConfigSource {
    fn from_code(code: i8) -> Self {
        match code {
            1 => Self::DynamicTopic,
            2 => Self::DynamicBroker,
            3 => Self::DynamicDefaultBroker,
            4 => Self::StaticBroker,
            5 => Self::Default,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DynamicTopic => f.write_str("DYNAMIC_TOPIC_CONFIG"),
            Self::DynamicBroker => f.write_str("DYNAMIC_BROKER_CONFIG"),
            Self::DynamicDefaultBroker => f.write_str("DYNAMIC_DEFAULT_BROKER_CONFIG"),
            Self::StaticBroker => f.write_str("STATIC_BROKER_CONFIG"),
            Self::Default => f.write_str("DEFAULT_CONFIG"),
            Self::Other(code) => write!(f, "SOURCE_{code}"),
        }
    }
}

impl Serialize for ConfigSource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One config of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigEntry {
    /// The config name, e.g. `retention.ms`.
    pub name: String,
    /// The value, `None` if unset or sensitive.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the config cannot be changed.
    pub read_only: bool,
    /// Whether the value is hidden because it is sensitive.
    pub sensitive: bool,
}

/// A topic's partitions and configs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicDescription {
    /// The topic and its partitions.
    pub topic: TopicInfo,
    /// Every config of the topic, sorted by name.
    pub configs: Vec<ConfigEntry>,
}

/// An admin client.
#[derive(Debug)]
pub struct Admin {
    cluster: Cluster,
}

impl Admin {
    /// Connects to the first server of `bootstrap` (`HOST:PORT[,HOST:PORT...]`) that answers.
    pub async fn connect(bootstrap: &str) -> Result<Self, ClientError> {
        Self::connect_with(bootstrap, ConnectionConfig::default()).await
    }

    /// Like [`Admin::connect`], with explicit connection settings.
    pub async fn connect_with(
        bootstrap: &str,
        config: ConnectionConfig,
    ) -> Result<Self, ClientError> {
        let cluster = Cluster::connect(bootstrap, config).await?;
        Ok(Self { cluster })
    }

    /// Creates a topic with `configs` given as `(name, value)` pairs.
    pub async fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> Result<(), ClientError> {
        let topic = CreatableTopic::default()
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor);
        self.create(name, topic, configs).await
    }

    /// Creates a topic whose partition `i` is on the nodes `assignment[i]`, the first its
    /// preferred leader (Kafka's manual replica assignment), with `configs`.
    pub async fn create_topic_assigned(
        &mut self,
        name: &str,
        assignment: &[Vec<i32>],
        configs: &[(String, String)],
    ) -> Result<(), ClientError> {
        let assignments = assignment
            .iter()
            .enumerate()
            .map(|(i, replicas)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(i as i32)
                    .with_broker_ids(replicas.iter().map(|r| BrokerId(*r)).collect())
            })
            .collect();
        let topic = CreatableTopic::default()
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(assignments);
        self.create(name, topic, configs).await
    }

    async fn create(
        &mut self,
        name: &str,
        topic: CreatableTopic,
        configs: &[(String, String)],
    ) -> Result<(), ClientError> {
        let configs = configs
            .iter()
            .map(|(key, value)| {
                CreatableTopicConfig::default()
                    .with_name(StrBytes::from_string(key.clone()))
                    .with_value(Some(StrBytes::from_string(value.clone())))
            })
            .collect();
        let topic = topic.with_name(topic_name(name)).with_configs(configs);
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(ADMIN_TIMEOUT_MS);
        let response = self.send_to_controller(&request).await?;
        let result = response
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == name)
            .ok_or_else(|| missing_result("CreateTopics", name))?;
        let message = result.error_message.as_deref();
        check_code(
            result.error_code,
            || format!("create topic {name}"),
            message,
        )
    }

    /// Deletes a topic.
    pub async fn delete_topic(&mut self, name: &str) -> Result<(), ClientError> {
        let version = self.cluster.control_version(ApiKey::DeleteTopics).await?;
        let mut request = DeleteTopicsRequest::default().with_timeout_ms(ADMIN_TIMEOUT_MS);
        // The topic list moved from `topic_names` to `topics[].name` in v6.
        if version >= 6 {
            request.topics = vec![DeleteTopicState::default().with_name(Some(topic_name(name)))];
        } else {
            request.topic_names = vec![topic_name(name)];
        }
        let response = self.send_to_controller(&request).await?;
        let result = response
            .responses
            .iter()
            .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == name))
            .ok_or_else(|| missing_result("DeleteTopics", name))?;
        let message = result.error_message.as_deref();
        check_code(
            result.error_code,
            || format!("delete topic {name}"),
            message,
        )
    }

    /// Every topic with its partitions and their leaders, sorted by name.
    pub async fn list_topics(&mut self) -> Result<Vec<TopicInfo>, ClientError> {
        let metadata = self.cluster.metadata(None).await?;
        Ok(metadata.topics)
    }

    /// The partitions and leaders of the named topics that exist (one Metadata request, no
    /// configs; a topic the cluster does not know is left out, never auto-created).
    pub async fn describe_topics(&mut self, names: &[&str]) -> Result<Vec<TopicInfo>, ClientError> {
        let metadata = self.cluster.metadata(Some(names)).await?;
        Ok(metadata.topics)
    }

    /// One topic's partitions and configs.
    pub async fn describe_topic(&mut self, name: &str) -> Result<TopicDescription, ClientError> {
        let metadata = self.cluster.metadata(Some(&[name])).await?;
        let topic = metadata.topic(name)?.clone();
        let configs = self.describe_configs(RESOURCE_TYPE_TOPIC, name).await?;
        Ok(TopicDescription { topic, configs })
    }

    /// The settings of the node the control connection reached (DescribeConfigs of the
    /// broker resource named "", which a node answers for itself), sorted by name.
    pub async fn describe_node_configs(&mut self) -> Result<Vec<ConfigEntry>, ClientError> {
        self.describe_configs(RESOURCE_TYPE_BROKER, "").await
    }

    /// Every config of one resource, sorted by name.
    async fn describe_configs(
        &mut self,
        resource_type: i8,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let resource = DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_owned()))
            .with_configuration_keys(None);
        let request = DescribeConfigsRequest::default().with_resources(vec![resource]);
        let (response, _) = self.cluster.send_control(&request).await?;
        let result = response
            .results
            .into_iter()
            .find(|r| r.resource_name.as_str() == name)
            .ok_or_else(|| missing_result("DescribeConfigs", name))?;
        let message = result.error_message.as_deref();
        check_code(
            result.error_code,
            || format!("describe configs of {name}"),
            message,
        )?;
        let mut configs: Vec<ConfigEntry> = result
            .configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: ConfigSource::from_code(c.config_source),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
            })
            .collect();
        configs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(configs)
    }

    /// The cluster id, controller and nodes.
    pub async fn describe_cluster(&mut self) -> Result<ClusterInfo, ClientError> {
        let metadata = self.cluster.metadata(Some(&[])).await?;
        Ok(metadata.cluster)
    }

    /// Every group the nodes of the cluster coordinate, sorted by group id.
    pub async fn list_groups(&mut self) -> Result<Vec<GroupListing>, ClientError> {
        let metadata = self.cluster.metadata(Some(&[])).await?;
        let mut listed = Vec::new();
        if metadata.cluster.brokers.is_empty() {
            listed.extend(groups::list_groups(self.cluster.control().await?).await?);
        }
        // Each node answers for the groups it coordinates only.
        for broker in &metadata.cluster.brokers {
            let connection = self.connection_to(&metadata, broker.node_id).await?;
            listed.extend(groups::list_groups(connection).await?);
        }
        listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        listed.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(listed)
    }

    /// A group's state, protocol and members with their assigned partitions; fails with
    /// GROUP_ID_NOT_FOUND for a group the coordinator does not know.
    pub async fn describe_group(
        &mut self,
        group_id: &str,
    ) -> Result<GroupDescription, ClientError> {
        let connection = self.coordinator(group_id).await?;
        groups::describe_group(connection, group_id).await
    }

    /// A group's committed offsets with each partition's log end offset and the lag, sorted
    /// by topic and partition. Partitions without a committed offset are not listed.
    pub async fn group_offsets(
        &mut self,
        group_id: &str,
    ) -> Result<Vec<GroupPartitionOffset>, ClientError> {
        let connection = self.coordinator(group_id).await?;
        let committed = groups::offset_fetch(connection, group_id).await?;
        let partitions: Vec<(String, i32)> = committed.iter().map(|(tp, _)| tp.clone()).collect();
        let ends = self.log_end_offsets(&partitions).await?;
        Ok(committed
            .into_iter()
            .map(|((topic, partition), (committed_offset, _))| {
                let log_end_offset = ends.get(&(topic.clone(), partition)).copied();
                GroupPartitionOffset {
                    lag: log_end_offset.map(|end| groups::lag(committed_offset, end)),
                    topic,
                    partition,
                    committed_offset,
                    log_end_offset,
                }
            })
            .collect())
    }

    /// The log end offset (ListOffsets latest: the high watermark) of each partition, asked
    /// of its leader. Partitions that do not exist or have no leader are left out.
    pub async fn log_end_offsets(
        &mut self,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, ClientError> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let topics: BTreeSet<&str> = partitions.iter().map(|(t, _)| t.as_str()).collect();
        let topics: Vec<&str> = topics.into_iter().collect();
        let metadata = self.cluster.metadata(Some(&topics)).await?;
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        for (topic, partition) in partitions {
            let leader = metadata
                .topic(topic)
                .ok()
                .and_then(|t| t.partition(*partition))
                .map_or(-1, |p| p.leader);
            if leader >= 0 {
                by_leader
                    .entry(leader)
                    .or_default()
                    .push((topic.clone(), *partition));
            }
        }
        let mut ends = BTreeMap::new();
        for (leader, targets) in by_leader {
            let connection = self.connection_to(&metadata, leader).await?;
            ends.extend(list_offsets(connection, &targets, LATEST_TIMESTAMP, false).await?);
        }
        Ok(ends)
    }

    /// Deletes a group and its committed offsets; fails with NON_EMPTY_GROUP while it has
    /// members and GROUP_ID_NOT_FOUND if it does not exist.
    pub async fn delete_group(&mut self, group_id: &str) -> Result<(), ClientError> {
        let connection = self.coordinator(group_id).await?;
        groups::delete_group(connection, group_id).await
    }

    /// The connection to the coordinator of `group_id`.
    async fn coordinator(&mut self, group_id: &str) -> Result<&mut Connection, ClientError> {
        let info = groups::find_coordinator(self.cluster.control().await?, group_id).await?;
        let metadata = self.cluster.metadata(Some(&[])).await?;
        self.connection_to(&metadata, info.node_id).await
    }

    /// The connection to node `node_id`: the control connection when it reaches that node.
    async fn connection_to(
        &mut self,
        metadata: &Metadata,
        node_id: i32,
    ) -> Result<&mut Connection, ClientError> {
        let control_addr = self.cluster.control().await?.addr().to_owned();
        let node_addr = metadata.broker(node_id)?.addr();
        if node_addr == control_addr {
            self.cluster.control().await
        } else {
            self.cluster.node(node_id).await
        }
    }

    /// Sends `request` to the controller, or to the control connection's node when the
    /// metadata names no reachable controller.
    /// The cluster view, for admin requests kept in files of their own.
    pub(crate) fn cluster_mut(&mut self) -> &mut Cluster {
        &mut self.cluster
    }

    /// The leader node of a partition.
    pub(crate) async fn partition_leader(
        &mut self,
        topic: &str,
        partition: i32,
    ) -> Result<i32, ClientError> {
        let metadata = self.cluster.metadata(Some(&[topic])).await?;
        let info = metadata.topic(topic)?;
        info.partition(partition)
            .map(|p| p.leader)
            .ok_or_else(|| ClientError::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions: info.partition_count(),
            })
    }

    async fn send_to_controller<R: Request>(
        &mut self,
        request: &R,
    ) -> Result<R::Response, ClientError> {
        let metadata = self.cluster.metadata(Some(&[])).await?;
        let controller = metadata.cluster.controller_id;
        let control_addr = self.cluster.control().await?.addr().to_owned();
        let controller_addr = metadata.broker(controller).map(|b| b.addr()).ok();
        let connection = match controller_addr {
            Some(addr) if addr != control_addr => self.cluster.node(controller).await?,
            _ => self.cluster.control().await?,
        };
        let (response, _) = connection.send(request).await?;
        Ok(response)
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

fn missing_result(api: &str, topic: &str) -> ClientError {
    // The node answered but left the topic out: treat it as an unknown server error.
    ClientError::kafka(
        format!("{api} answer for topic {topic}"),
        -1,
        Some("no result for the topic".into()),
    )
}
