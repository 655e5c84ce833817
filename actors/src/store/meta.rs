//! Topic metadata, topology deployments and node counters, stored with postcard. Written
//! only by the MetadataActor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::ActorResult;
use crate::topic_config::TopicConfig;

/// One partition of a topic, as placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    /// Partition index.
    pub index: i32,
    /// Node-unique id of the partition's log (never reused, so a re-created topic never
    /// sees the old one's batches).
    pub uid: u64,
    /// Replica node ids, leader first.
    pub replicas: Vec<i32>,
    /// Leader node id.
    pub leader: i32,
    /// Leader epoch; only goes up.
    pub leader_epoch: i32,
    /// In-sync replicas (the leader included).
    pub isr: Vec<i32>,
}

/// A topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Topic name.
    pub name: String,
    /// Kafka topic id (UUID bytes).
    pub id: [u8; 16],
    /// Partitions by index.
    pub partitions: Vec<PartitionRecord>,
    /// Replication factor.
    pub replication_factor: i16,
    /// Config overrides.
    pub config: TopicConfig,
}

/// Stored topic records start with `0, version` (a legacy record starts with its name's
/// length, never 0); records without it are the first format, before ISRs were kept.
const TOPIC_FORMAT_MARKER: u8 = 0;
const TOPIC_FORMAT_VERSION: u8 = 2;

/// The first stored format: partitions without an ISR.
#[derive(Deserialize)]
struct LegacyTopicRecord {
    name: String,
    id: [u8; 16],
    partitions: Vec<LegacyPartitionRecord>,
    replication_factor: i16,
    config: TopicConfig,
}

#[derive(Deserialize)]
struct LegacyPartitionRecord {
    index: i32,
    uid: u64,
    replicas: Vec<i32>,
    leader: i32,
    leader_epoch: i32,
}

fn encode_topic(topic: &TopicRecord) -> ActorResult<Vec<u8>> {
    let mut out = vec![TOPIC_FORMAT_MARKER, TOPIC_FORMAT_VERSION];
    out.extend(postcard::to_stdvec(topic)?);
    Ok(out)
}

fn decode_topic(bytes: &[u8]) -> ActorResult<TopicRecord> {
    match bytes {
        [TOPIC_FORMAT_MARKER, TOPIC_FORMAT_VERSION, rest @ ..] => Ok(postcard::from_bytes(rest)?),
        [TOPIC_FORMAT_MARKER, version, ..] => Err(crate::error::ActorError::Storage(format!(
            "topic metadata format {version} is newer than this Eddy understands; run a newer Eddy on this data dir"
        ))),
        _ => {
            // A data dir written before ISRs were kept: a single node is its own ISR.
            let old: LegacyTopicRecord = postcard::from_bytes(bytes)?;
            Ok(TopicRecord {
                name: old.name,
                id: old.id,
                partitions: old
                    .partitions
                    .into_iter()
                    .map(|p| PartitionRecord {
                        index: p.index,
                        uid: p.uid,
                        isr: p.replicas.clone(),
                        replicas: p.replicas,
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                    })
                    .collect(),
                replication_factor: old.replication_factor,
                config: old.config,
            })
        }
    }
}

/// A topology deployed to the cluster: every node runs its tasks under `application_id`.
/// Kept in the `deployments` keyspace on a single node and in the quorum's state in cluster
/// mode, so it survives restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Kafka Streams `application.id`; the key: one deployment per application id.
    pub application_id: String,
    /// The catalog name of the topology, e.g. `wordcount`.
    pub topology: String,
    /// Kafka Streams config names and values, as given.
    pub configs: BTreeMap<String, String>,
    /// When it was deployed (ms since the epoch).
    pub deployed_at_ms: i64,
}

/// Stored deployment records start with this version byte, so a later format can be told
/// apart (and an older Eddy refuses it rather than misreads it).
const DEPLOYMENT_FORMAT_VERSION: u8 = 1;

fn encode_deployment(deployment: &DeploymentRecord) -> ActorResult<Vec<u8>> {
    let mut out = vec![DEPLOYMENT_FORMAT_VERSION];
    out.extend(postcard::to_stdvec(deployment)?);
    Ok(out)
}

fn decode_deployment(bytes: &[u8]) -> ActorResult<DeploymentRecord> {
    match bytes {
        [DEPLOYMENT_FORMAT_VERSION, rest @ ..] => Ok(postcard::from_bytes(rest)?),
        [version, ..] => Err(crate::error::ActorError::Storage(format!(
            "deployment metadata format {version} is not one this Eddy understands \
             ({DEPLOYMENT_FORMAT_VERSION}); run a newer Eddy on this data dir"
        ))),
        [] => Err(crate::error::ActorError::Storage(
            "an empty deployment record is stored".into(),
        )),
    }
}

const NEXT_PARTITION_UID: &str = "next_partition_uid";
const NEXT_PRODUCER_ID: &str = "next_producer_id";
const CLUSTER_ID: &str = "cluster_id";

/// Access to the `topics`, `deployments` and `counters` keyspaces.
#[derive(Clone)]
pub struct MetaStore {
    db: fjall::Database,
    topics: fjall::Keyspace,
    deployments: fjall::Keyspace,
    counters: fjall::Keyspace,
}

impl MetaStore {
    pub(crate) fn new(
        db: fjall::Database,
        topics: fjall::Keyspace,
        deployments: fjall::Keyspace,
        counters: fjall::Keyspace,
    ) -> Self {
        MetaStore {
            db,
            topics,
            deployments,
            counters,
        }
    }

    /// Every stored topic.
    pub fn load_topics(&self) -> ActorResult<Vec<TopicRecord>> {
        let mut out = Vec::new();
        for item in self.topics.iter() {
            let value = item.value()?;
            out.push(decode_topic(&value)?);
        }
        Ok(out)
    }

    /// Stores (or replaces) a topic and syncs: metadata changes are rare and must survive.
    pub fn put_topic(&self, topic: &TopicRecord) -> ActorResult<()> {
        self.topics
            .insert(topic.name.as_bytes(), encode_topic(topic)?)?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Removes a topic's record.
    pub fn remove_topic(&self, name: &str) -> ActorResult<()> {
        self.topics.remove(name.as_bytes())?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Every stored deployment (single-node mode).
    pub fn load_deployments(&self) -> ActorResult<Vec<DeploymentRecord>> {
        let mut out = Vec::new();
        for item in self.deployments.iter() {
            let value = item.value()?;
            out.push(decode_deployment(&value)?);
        }
        Ok(out)
    }

    /// Stores (or replaces) a deployment and syncs, as topics are: a deployment that was
    /// acknowledged must survive a crash.
    pub fn put_deployment(&self, deployment: &DeploymentRecord) -> ActorResult<()> {
        self.deployments.insert(
            deployment.application_id.as_bytes(),
            encode_deployment(deployment)?,
        )?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Removes a deployment's record and syncs.
    pub fn remove_deployment(&self, application_id: &str) -> ActorResult<()> {
        self.deployments.remove(application_id.as_bytes())?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    fn next(&self, name: &str, count: u64) -> ActorResult<u64> {
        let current = self
            .counters
            .get(name)?
            .map(|v| postcard::from_bytes::<u64>(&v))
            .transpose()?
            .unwrap_or(1);
        self.counters
            .insert(name, postcard::to_stdvec(&(current + count))?)?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(current)
    }

    /// Reserves `count` fresh partition uids and returns the first.
    pub fn allocate_partition_uids(&self, count: u64) -> ActorResult<u64> {
        self.next(NEXT_PARTITION_UID, count)
    }

    /// The cluster id, created on first start and kept for the life of the data dir.
    pub fn cluster_id(&self) -> ActorResult<String> {
        if let Some(v) = self.counters.get(CLUSTER_ID)? {
            return Ok(postcard::from_bytes::<String>(&v)?);
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.counters
            .insert(CLUSTER_ID, postcard::to_stdvec(&id)?)?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(id)
    }

    /// Reserves a fresh producer id.
    pub fn allocate_producer_id(&self) -> ActorResult<i64> {
        Ok(self.next(NEXT_PRODUCER_ID, 1)? as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct OldPartition {
        index: i32,
        uid: u64,
        replicas: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
    }

    #[derive(Serialize)]
    struct OldTopic {
        name: String,
        id: [u8; 16],
        partitions: Vec<OldPartition>,
        replication_factor: i16,
        config: TopicConfig,
    }

    #[test]
    fn topics_written_before_isrs_were_kept_still_load() {
        let old = OldTopic {
            name: "orders".into(),
            id: [3; 16],
            partitions: vec![OldPartition {
                index: 0,
                uid: 7,
                replicas: vec![1],
                leader: 1,
                leader_epoch: 0,
            }],
            replication_factor: 1,
            config: TopicConfig::default(),
        };
        let topic = decode_topic(&postcard::to_stdvec(&old).expect("encode")).expect("decode");
        assert_eq!(topic.partitions[0].isr, vec![1]);
        assert_eq!(topic.partitions[0].uid, 7);
        let again = decode_topic(&encode_topic(&topic).expect("encode")).expect("decode");
        assert_eq!(again, topic);
        assert!(
            decode_topic(&[0, 9, 1]).is_err(),
            "a newer format is refused, not misread"
        );
    }

    #[test]
    fn deployments_round_trip_and_refuse_unknown_formats() {
        let deployment = DeploymentRecord {
            application_id: "wc-1".into(),
            topology: "wordcount".into(),
            configs: BTreeMap::from([("num.stream.threads".into(), "2".into())]),
            deployed_at_ms: 1_700_000_000_000,
        };
        let bytes = encode_deployment(&deployment).expect("encode");
        assert_eq!(bytes[0], DEPLOYMENT_FORMAT_VERSION);
        assert_eq!(decode_deployment(&bytes).expect("decode"), deployment);
        let mut newer = bytes.clone();
        newer[0] = DEPLOYMENT_FORMAT_VERSION + 1;
        assert!(decode_deployment(&newer).is_err());
        assert!(decode_deployment(&[]).is_err());
    }
}
