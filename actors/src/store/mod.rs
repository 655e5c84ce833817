//! The node's one fjall database and its keyspaces: partition logs, partition state, topic
//! metadata and counters, consumer-group offsets. Opened once by the node and shared by handle (fjall handles are
//! thread-safe; each partition writes only its own keys).

mod groups;
mod log;
mod meta;
mod raft;

use std::path::Path;

pub use groups::{CommittedOffset, GroupRecord, GroupStore};
pub use log::{BatchReplacement, FjallLog, LogRead, PartitionLog};
pub use meta::{MetaStore, PartitionRecord, TopicRecord};
pub use raft::{keys as raft_keys, RaftStore};

use crate::error::ActorResult;

/// Handles to the keyspaces of one node's database.
#[derive(Clone)]
pub struct Store {
    db: fjall::Database,
    logs: fjall::Keyspace,
    partition_state: fjall::Keyspace,
    producers: fjall::Keyspace,
    meta: MetaStore,
    groups: GroupStore,
    raft: RaftStore,
}

impl Store {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> ActorResult<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            crate::error::ActorError::Storage(format!(
                "cannot create data dir {}: {e}; choose another with --data-dir",
                dir.display()
            ))
        })?;
        let db = fjall::Database::builder(dir.join("fjall")).open()?;
        let logs = db.keyspace("logs", fjall::KeyspaceCreateOptions::default)?;
        let partition_state =
            db.keyspace("partition_state", fjall::KeyspaceCreateOptions::default)?;
        let producers = db.keyspace("producer_state", fjall::KeyspaceCreateOptions::default)?;
        let topics = db.keyspace("topics", fjall::KeyspaceCreateOptions::default)?;
        let counters = db.keyspace("counters", fjall::KeyspaceCreateOptions::default)?;
        let meta = MetaStore::new(db.clone(), topics, counters);
        let offsets = db.keyspace("group_offsets", fjall::KeyspaceCreateOptions::default)?;
        let records = db.keyspace("groups", fjall::KeyspaceCreateOptions::default)?;
        let groups = GroupStore::new(db.clone(), offsets, records);
        let raft_log = db.keyspace("raft_log", fjall::KeyspaceCreateOptions::default)?;
        let raft_meta = db.keyspace("raft_meta", fjall::KeyspaceCreateOptions::default)?;
        let raft = RaftStore::new(db.clone(), raft_log, raft_meta);
        Ok(Store {
            db,
            logs,
            partition_state,
            producers,
            meta,
            groups,
            raft,
        })
    }

    /// The log of the partition with this uid.
    pub fn partition_log(&self, uid: u64) -> FjallLog {
        FjallLog::new(
            self.db.clone(),
            self.logs.clone(),
            self.partition_state.clone(),
            self.producers.clone(),
            uid,
        )
    }

    /// Topic metadata and counters.
    pub fn meta(&self) -> &MetaStore {
        &self.meta
    }

    /// Consumer-group offsets and records.
    pub fn groups(&self) -> &GroupStore {
        &self.groups
    }

    /// The Raft log and metadata (cluster mode).
    pub fn raft(&self) -> &RaftStore {
        &self.raft
    }

    /// Syncs everything written so far to disk (fsync).
    pub fn sync(&self) -> ActorResult<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
}
