//! The node's one fjall database and its keyspaces: partition logs, partition state, topic
//! metadata, topology deployments and counters, consumer-group offsets. Opened once by the
//! node and shared by handle (fjall handles are thread-safe; each partition writes only its
//! own keys).

mod groups;
pub mod journal_guard;
mod log;
mod meta;
mod raft;

use std::path::Path;

pub use groups::{CommittedOffset, GroupRecord, GroupStore};
pub use log::{BatchReplacement, FjallLog, LogRead, PartitionLog};
pub use meta::{DeploymentRecord, MetaStore, PartitionRecord, TopicRecord};
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

/// fjall's own default for the files it keeps open (its descriptor table) on Linux.
pub const CACHED_FILES_DEFAULT: usize = 900;
/// The fewest cached files fjall accepts (it panics below 10); a little above that.
pub const CACHED_FILES_MIN: usize = 16;

/// The block cache: 16 MiB, half of fjall's default. After a burst of large records the
/// 32 MiB cache kept the node 75–220 MiB above its idle size (its accounting of large
/// blocks is loose), 16 MiB kept 75–90 MiB (`scripts/bench-memory.sh`, PERFORMANCE.md).
pub const CACHE_BYTES_DEFAULT: u64 = 16 * 1024 * 1024;
/// The partition logs' memtable: 16 MiB, a quarter of fjall's default. After a burst of
/// writes a full memtable stays in memory until the next writes rotate it; with fjall's
/// 64 MiB a node kept ~170 MiB more than before a burst, with 16 MiB ~50 MiB
/// (`scripts/bench-memory.sh`, docs/PERFORMANCE.md).
pub const LOG_MEMTABLE_BYTES_DEFAULT: u64 = 16 * 1024 * 1024;
/// The smallest memtable accepted for the logs (smaller ones flush tiny tables).
pub const LOG_MEMTABLE_BYTES_MIN: u64 = 1024 * 1024;

/// What bounds the store's memory and file descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Table and blob files kept open (at least `CACHED_FILES_MIN`).
    pub cached_files: usize,
    /// fjall's block cache, in bytes.
    pub cache_bytes: u64,
    /// The partition logs' memtable: written batches stay in memory up to this size
    /// before they are flushed to a table (at least `LOG_MEMTABLE_BYTES_MIN`).
    pub log_memtable_bytes: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cached_files: CACHED_FILES_DEFAULT,
            cache_bytes: CACHE_BYTES_DEFAULT,
            log_memtable_bytes: LOG_MEMTABLE_BYTES_DEFAULT,
        }
    }
}

/// The file in the data dir that names the process holding it (its pid, a bare number).
pub const PID_FILE: &str = "eddy.pid";

/// The process holding `dir`, as the lock holder wrote it: `process (pid 1234)`, or
/// `process` when its pid file cannot be read.
fn holder(dir: &Path) -> String {
    std::fs::read_to_string(dir.join(PID_FILE))
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
        .map_or_else(
            || "process".to_owned(),
            |pid| format!("process (pid {pid})"),
        )
}

impl Store {
    /// Opens (or creates) the database in `dir`, with fjall's default file cache.
    pub fn open(dir: &Path) -> ActorResult<Self> {
        Self::open_with_cached_files(dir, CACHED_FILES_DEFAULT)
    }

    /// Opens (or creates) the database in `dir`, keeping at most `cached_files` table and
    /// blob files open (at least `CACHED_FILES_MIN`). The node sizes it from its fd limit,
    /// so that storage and client connections cannot starve each other of descriptors.
    pub fn open_with_cached_files(dir: &Path, cached_files: usize) -> ActorResult<Self> {
        Self::open_with(
            dir,
            StoreOptions {
                cached_files,
                ..StoreOptions::default()
            },
        )
    }

    /// Opens (or creates) the database in `dir` with `options`.
    pub fn open_with(dir: &Path, options: StoreOptions) -> ActorResult<Self> {
        let cached_files = options.cached_files;
        std::fs::create_dir_all(dir).map_err(|e| {
            crate::error::ActorError::Storage(format!(
                "cannot create data dir {}: {e}; choose another with --data-dir",
                dir.display()
            ))
        })?;
        let fjall_dir = dir.join("fjall");
        let journals = journal_guard::before_open(&fjall_dir).map_err(|e| {
            crate::error::ActorError::Storage(format!(
                "cannot read the storage journals in {}: {e}",
                fjall_dir.display()
            ))
        })?;
        let db = fjall::Database::builder(&fjall_dir)
            .max_cached_files(Some(cached_files.max(CACHED_FILES_MIN)))
            .cache_size(options.cache_bytes)
            .open()
            .map_err(|err| match err {
                fjall::Error::JournalRecovery(cause) => crate::error::ActorError::Storage(format!(
                    "a storage journal in {dir} fails its check at start ({cause:?}) and fjall will \
                     not read past it. The way back (docs/runtime-semantics.md, \"A journal that \
                     cannot be read\"): in a cluster, replace this node (eddy cluster decommission, then a new node); on a single \
                     node, move the journals aside and start again, losing the writes not yet in \
                     fjall's tables: mkdir -p {recovery} && mv {dir}/*.jnl {recovery}/",
                    dir = fjall_dir.display(),
                    recovery = dir.join(journal_guard::RECOVERY_DIR).display()
                )),
                // fjall holds a lock file for as long as a database is open.
                fjall::Error::Locked => crate::error::ActorError::Storage(format!(
                    "data dir {} is in use by another eddy {}; stop it or choose another \
                     --data-dir",
                    dir.display(),
                    holder(dir)
                )),
                other => other.into(),
            })?;
        journal_guard::after_open(journals, dir);
        // Who holds the lock, for the message of the next process that tries (`holder`).
        // Written after the lock is taken, so a process that finds it locked reads the
        // holder's pid; a failure to write costs only that message its pid.
        if let Err(err) = std::fs::write(dir.join(PID_FILE), std::process::id().to_string()) {
            tracing::warn!(error = %err, "cannot write {PID_FILE} in the data dir");
        }
        let memtable = options.log_memtable_bytes.max(LOG_MEMTABLE_BYTES_MIN);
        let logs = db.keyspace("logs", || {
            fjall::KeyspaceCreateOptions::default().max_memtable_size(memtable)
        })?;
        let partition_state =
            db.keyspace("partition_state", fjall::KeyspaceCreateOptions::default)?;
        let producers = db.keyspace("producer_state", fjall::KeyspaceCreateOptions::default)?;
        let topics = db.keyspace("topics", fjall::KeyspaceCreateOptions::default)?;
        let counters = db.keyspace("counters", fjall::KeyspaceCreateOptions::default)?;
        // Created empty on a data dir of an earlier version, which had no deployments.
        let deployments = db.keyspace("deployments", fjall::KeyspaceCreateOptions::default)?;
        let meta = MetaStore::new(db.clone(), topics, deployments, counters);
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

    /// Whether the database still takes writes. fjall poisons its database for good when a
    /// journal write, a flush or a compaction fails (ENOSPC, EMFILE, EIO): every later write
    /// returns `Poisoned`, and the background worker that failed is not restarted, so the
    /// only way back is to reopen the database, which means restarting the node. This asks
    /// fjall to hand the journal's buffer to the OS (`PersistMode::Buffer`: no fsync, and no
    /// write at all when every commit has already done so, which is eddy's case), which
    /// answers `Poisoned` once the database is. Blocks on the journal lock: call it off the
    /// arbiters.
    pub fn check_writable(&self) -> ActorResult<()> {
        self.db.persist(fjall::PersistMode::Buffer)?;
        Ok(())
    }

    /// Syncs everything written so far to disk (fsync).
    pub fn sync(&self) -> ActorResult<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        Ok(())
    }
}
