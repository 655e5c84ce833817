//! Topic metadata and node counters, stored with postcard. Written only by the
//! MetadataActor.

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

const NEXT_PARTITION_UID: &str = "next_partition_uid";
const NEXT_PRODUCER_ID: &str = "next_producer_id";
const CLUSTER_ID: &str = "cluster_id";

/// Access to the `topics` and `counters` keyspaces.
#[derive(Clone)]
pub struct MetaStore {
    db: fjall::Database,
    topics: fjall::Keyspace,
    counters: fjall::Keyspace,
}

impl MetaStore {
    pub(crate) fn new(
        db: fjall::Database,
        topics: fjall::Keyspace,
        counters: fjall::Keyspace,
    ) -> Self {
        MetaStore {
            db,
            topics,
            counters,
        }
    }

    /// Every stored topic.
    pub fn load_topics(&self) -> ActorResult<Vec<TopicRecord>> {
        let mut out = Vec::new();
        for item in self.topics.iter() {
            let value = item.value()?;
            out.push(postcard::from_bytes(&value)?);
        }
        Ok(out)
    }

    /// Stores (or replaces) a topic and syncs: metadata changes are rare and must survive.
    pub fn put_topic(&self, topic: &TopicRecord) -> ActorResult<()> {
        self.topics
            .insert(topic.name.as_bytes(), postcard::to_stdvec(topic)?)?;
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }

    /// Removes a topic's record.
    pub fn remove_topic(&self, name: &str) -> ActorResult<()> {
        self.topics.remove(name.as_bytes())?;
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
