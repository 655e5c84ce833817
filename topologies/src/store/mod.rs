//! State stores: where stateful operators keep their state, as ordered bytes.
//!
//! One trait, `StateStore`, serves every store kind: an ordered map from bytes to bytes.
//! The operators lay their data out in it (see `StoreKind`), so a backend — the in-memory
//! one here, the runtime's fjall one — only has to store and scan bytes. Every write an
//! operator makes is also returned as a `ChangelogRecord`, so a store can be rebuilt
//! from its changelog topic (a join buffer's index by time is not logged: the task
//! derives it from each entry's key, on writes and on restores alike).

pub(crate) mod layout;
mod memory;
mod query;
mod slots;

pub use memory::{InMemoryStore, InMemoryStoreSupplier};
pub(crate) use query::lookup;
pub use query::{StoreLookup, WindowedValue};
pub(crate) use slots::{StoreHandle, StoreSlot, StoreSlots};

use crate::error::StoreError;
use crate::task::TaskId;

/// How many entries one `StateStore::range` call returns at most when operators scan.
pub(crate) const SCAN_PAGE_ENTRIES: usize = 1024;

/// One key and value of a store, as bytes.
pub type StoreEntry = (Vec<u8>, Vec<u8>);

/// An ordered byte map: the storage behind every state store.
///
/// Keys order as bytes (lexicographically). Implementations need no knowledge of what
/// the bytes mean; `StoreKind` documents the layouts the operators use.
pub trait StateStore: Send {
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` under `key`, replacing any previous value.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key`; removing a missing key is not an error.
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError>;

    /// Up to `limit` entries with `from <= key < to` (no upper bound if `to` is `None`),
    /// in key order.
    fn range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StoreEntry>, StoreError>;

    /// Makes the writes so far durable, together with the changelog position they
    /// reflect: `changelog_end` is the offset after the store's last changelog record
    /// (`None`: unchanged since the last checkpoint). A store that keeps a checkpoint
    /// writes both at once, so after a crash it is either at its previous checkpoint or at
    /// this one, never in between. The in-memory store has nothing to do.
    fn checkpoint(&mut self, changelog_end: Option<i64>) -> Result<(), StoreError> {
        let _ = changelog_end;
        Ok(())
    }

    /// The changelog offset the store's durable content reflects (exclusive), if it has
    /// one: restoration replays the changelog from there instead of from its start. The
    /// in-memory store has none.
    fn checkpointed(&self) -> Option<i64> {
        None
    }

    /// Removes every entry and the checkpoint: what a store whose checkpoint cannot be
    /// trusted (its changelog was deleted or truncated) needs before a full restore.
    fn wipe(&mut self) -> Result<(), StoreError>;
}

/// What a store holds and how its keys and values are laid out.
///
/// `i64` times below are written as 8 big-endian bytes with the sign bit flipped, so that
/// byte order is time order. "Timestamped" values are the record timestamp (8 big-endian
/// bytes) followed by the value serde's bytes, as in Kafka's timestamped stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Key serde bytes → timestamped value. Aggregations and table sources.
    KeyValue,
    /// Window start (flipped) ‖ key serde bytes → timestamped aggregate. Windowed
    /// aggregations; time windows are removed once closed, sliding windows once no
    /// accepted record can read them.
    Window {
        /// The window size (of sliding windows: the time difference), in milliseconds.
        size_ms: i64,
        /// The grace period, in milliseconds.
        grace_ms: i64,
    },
    /// Key length (4 big-endian bytes) ‖ key serde bytes ‖ session end (flipped) ‖
    /// session start (flipped) → timestamped aggregate. Session aggregations; sessions
    /// are removed once they can no longer change.
    Session {
        /// The inactivity gap, in milliseconds.
        gap_ms: i64,
        /// The grace period, in milliseconds.
        grace_ms: i64,
    },
    /// Window end (flipped) ‖ windowed key bytes → timestamped value: a suppression
    /// buffer, emptied as windows close.
    SuppressionBuffer,
    /// One side of a stream–stream join, key first with a time index (as Kafka's window
    /// key schema, so a lookup of one key over a time range reads only that key's
    /// entries):
    /// - `0 ‖ key length (4 big-endian bytes) ‖ key serde bytes ‖ record time (flipped)` →
    ///   a list of values, each as a 4-byte big-endian length and the value bytes;
    /// - `1 ‖ record time (flipped) ‖ key serde bytes` → nothing: the index by time that
    ///   expiry reads. The task keeps it with every write and restore of an entry; it is
    ///   not in the changelog.
    JoinBuffer {
        /// How long records are kept after their time, in milliseconds.
        retention_ms: i64,
    },
    /// Record time (flipped) ‖ side (0: the left stream, 1: the right) ‖ key serde
    /// bytes → a list of values as in `JoinBuffer`: the records of a left or outer
    /// stream–stream join that have not joined yet, shared by both sides. Each is removed
    /// when it joins, or emitted with no other side once its window has closed.
    OuterJoinBuffer {
        /// How long a record waits for a match after its time, in milliseconds.
        retention_ms: i64,
    },
}

impl StoreKind {
    /// Whether the store's entries are key first with an index by time that the task
    /// maintains (see `JoinBuffer`).
    pub(crate) fn time_indexed(&self) -> bool {
        matches!(self, StoreKind::JoinBuffer { .. })
    }
}

/// A store a task needs, as given to `StoreSupplier::open`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    /// The store's name, unique in the topology.
    pub name: String,
    /// The layout of its data.
    pub kind: StoreKind,
    /// The changelog topic: `<application.id>-<store>-changelog` (compacted in Kafka).
    pub changelog_topic: String,
}

/// Opens the stores of a task: the runtime supplies fjall-backed ones, tests the
/// in-memory ones.
pub trait StoreSupplier {
    /// Opens (or creates) the store `spec` for `task`. Each task has its own stores.
    fn open(&mut self, task: TaskId, spec: &StoreSpec) -> Result<Box<dyn StateStore>, StoreError>;
}
