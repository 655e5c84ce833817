//! The Raft log and the Raft metadata (vote, committed and purged log ids, the applied state
//! machine) in two fjall keyspaces. Plain bytes in and out: the openraft adapters in
//! `cluster/` encode and decode them with postcard.

use crate::error::ActorResult;

/// Keys of the `raft_meta` keyspace.
pub mod keys {
    /// The last vote.
    pub const VOTE: &str = "vote";
    /// The last committed log id.
    pub const COMMITTED: &str = "committed";
    /// The last purged log id.
    pub const PURGED: &str = "purged";
    /// The applied state machine (last applied id, membership, cluster state).
    pub const STATE_MACHINE: &str = "state_machine";
}

/// Access to the `raft_log` and `raft_meta` keyspaces.
#[derive(Clone)]
pub struct RaftStore {
    db: fjall::Database,
    log: fjall::Keyspace,
    meta: fjall::Keyspace,
}

impl RaftStore {
    pub(crate) fn new(db: fjall::Database, log: fjall::Keyspace, meta: fjall::Keyspace) -> Self {
        RaftStore { db, log, meta }
    }

    /// Appends entries (index, bytes) atomically and syncs them to disk.
    pub fn append(&self, entries: &[(u64, Vec<u8>)]) -> ActorResult<()> {
        let mut wb = self.db.batch();
        for (index, bytes) in entries {
            wb.insert(&self.log, index.to_be_bytes(), bytes.as_slice());
        }
        wb.commit()?;
        self.sync()
    }

    /// Entries with index in `from..to`.
    pub fn range(&self, from: u64, to: u64) -> ActorResult<Vec<(u64, Vec<u8>)>> {
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for item in self.log.range(from.to_be_bytes()..to.to_be_bytes()) {
            let (k, v) = item.into_inner()?;
            let mut index = [0u8; 8];
            index.copy_from_slice(&k[..8]);
            out.push((u64::from_be_bytes(index), v.to_vec()));
        }
        Ok(out)
    }

    /// The last entry.
    pub fn last(&self) -> ActorResult<Option<Vec<u8>>> {
        match self.log.iter().next_back() {
            Some(item) => Ok(Some(item.value()?.to_vec())),
            None => Ok(None),
        }
    }

    /// Deletes entries with index ≥ `from` (a conflict) and syncs.
    pub fn truncate_from(&self, from: u64) -> ActorResult<()> {
        self.remove_range(from, u64::MAX)?;
        self.sync()
    }

    /// Deletes entries with index ≤ `upto` (compacted into the state machine).
    pub fn purge_upto(&self, upto: u64) -> ActorResult<()> {
        self.remove_range(0, upto.saturating_add(1))
    }

    fn remove_range(&self, from: u64, to: u64) -> ActorResult<()> {
        let keys: Vec<_> = self
            .log
            .range(from.to_be_bytes()..to.to_be_bytes())
            .map(|g| g.key())
            .collect::<Result<_, _>>()?;
        let mut wb = self.db.batch();
        for k in keys {
            wb.remove(&self.log, k);
        }
        wb.commit()?;
        Ok(())
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> ActorResult<Option<Vec<u8>>> {
        Ok(self.meta.get(key)?.map(|v| v.to_vec()))
    }

    /// Stores a metadata value and syncs it (votes must survive a crash).
    pub fn put(&self, key: &str, value: &[u8]) -> ActorResult<()> {
        self.meta.insert(key, value)?;
        self.sync()
    }

    /// Stores a metadata value without syncing (state that the log can rebuild).
    pub fn put_lazy(&self, key: &str, value: &[u8]) -> ActorResult<()> {
        self.meta.insert(key, value)?;
        Ok(())
    }

    fn sync(&self) -> ActorResult<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
}
