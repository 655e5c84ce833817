//! Local state stores on disk, in fjall, as Kafka Streams keeps its stores in RocksDB under
//! `state.dir`.
//!
//! One fjall database per application instance, at `<state.dir>/<application.id>` (fjall
//! locks it: a second instance on the same directory fails to start with a clear error);
//! one keyspace per (task, store), named `<task>.<store>` (e.g. `1_0.counts`); and a
//! keyspace `checkpoints` mapping the same names to the changelog offset each store's
//! content reflects.
//!
//! Writes wait in memory until the task commits — like Kafka Streams' RocksDB stores, which
//! run with the write-ahead log off because the changelog topic is the log. A checkpoint
//! writes them and the new changelog offset in one atomic fjall batch, so whatever way the
//! process ends, the store on disk is exactly at a checkpoint and restoring replays the
//! changelog from there, not from its start.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use eddy_topologies::{StateStore, StoreEntry, StoreError, StoreSpec, StoreSupplier, TaskId};

/// The keyspace of every store's checkpoint.
const CHECKPOINTS: &str = "checkpoints";

/// Why the state directory could not be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "state.dir {path}: {error} (is another instance of this application running with the \
     same state directory? give each instance its own state.dir)"
)]
pub struct StateDirError {
    /// The application's directory.
    pub path: PathBuf,
    /// fjall's error.
    pub error: fjall::Error,
}

/// The open state directory of one application instance; clones share it.
#[derive(Clone)]
pub struct StateDirectory {
    path: PathBuf,
    db: fjall::Database,
    checkpoints: fjall::Keyspace,
}

impl std::fmt::Debug for StateDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDirectory")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl StateDirectory {
    /// Opens (or creates) `<state_dir>/<application_id>`.
    pub fn open(state_dir: &Path, application_id: &str) -> Result<Self, StateDirError> {
        let path = state_dir.join(application_id);
        let opened = std::fs::create_dir_all(&path)
            .map_err(fjall::Error::from)
            .and_then(|()| fjall::Database::builder(&path).open())
            .and_then(|db| {
                let checkpoints =
                    db.keyspace(CHECKPOINTS, fjall::KeyspaceCreateOptions::default)?;
                Ok((db, checkpoints))
            });
        match opened {
            Ok((db, checkpoints)) => Ok(StateDirectory {
                path,
                db,
                checkpoints,
            }),
            Err(error) => Err(StateDirError { path, error }),
        }
    }
}

impl StoreSupplier for StateDirectory {
    fn open(&mut self, task: TaskId, spec: &StoreSpec) -> Result<Box<dyn StateStore>, StoreError> {
        let name = format!("{task}.{}", spec.name);
        let failed = |err: fjall::Error| store_error(&name, err);
        let data = self
            .db
            .keyspace(&name, fjall::KeyspaceCreateOptions::default)
            .map_err(failed)?;
        let checkpoint = self
            .checkpoints
            .get(name.as_bytes())
            .map_err(failed)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map(i64::from_be_bytes);
        Ok(Box::new(FjallStore {
            name,
            db: self.db.clone(),
            data,
            checkpoints: self.checkpoints.clone(),
            pending: BTreeMap::new(),
            checkpoint,
        }))
    }
}

fn store_error(name: &str, err: fjall::Error) -> StoreError {
    StoreError {
        store: name.to_string(),
        message: err.to_string(),
        retriable: false,
    }
}

/// One store of one task: its keyspace, plus the writes since the last checkpoint
/// (`None`: a deletion).
///
/// The pending writes are held as fjall's own `Slice`s, copied once from the caller's bytes
/// (keys and values of up to 20 bytes without an allocation): the checkpoint hands them to
/// the batch as they are, where converting `Vec`s would allocate and copy each again.
pub struct FjallStore {
    name: String,
    db: fjall::Database,
    data: fjall::Keyspace,
    checkpoints: fjall::Keyspace,
    pending: BTreeMap<fjall::Slice, Option<fjall::Slice>>,
    checkpoint: Option<i64>,
}

impl FjallStore {
    fn failed(&self, err: fjall::Error) -> StoreError {
        store_error(&self.name, err)
    }
}

impl StateStore for FjallStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(pending) = self.pending.get(key) {
            return Ok(pending.as_deref().map(<[u8]>::to_vec));
        }
        let value = self.data.get(key).map_err(|e| self.failed(e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.pending
            .insert(fjall::Slice::from(key), Some(fjall::Slice::from(value)));
        Ok(())
    }

    /// A key written since the last checkpoint and absent from the keyspace needs no
    /// tombstone: dropping its pending write leaves it absent, as deleted. Expired window
    /// entries are mostly such keys; their tombstones would cost the batch, the journal
    /// and every later range scan over them.
    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        match self.pending.get_mut(key) {
            Some(None) => {}
            Some(pending) => match self.data.contains_key(key) {
                Ok(true) => *pending = None,
                Ok(false) => {
                    self.pending.remove(key);
                }
                Err(err) => return Err(self.failed(err)),
            },
            None => {
                self.pending.insert(fjall::Slice::from(key), None);
            }
        }
        Ok(())
    }

    /// Merges the keyspace's entries with the pending writes (which win), in key order.
    /// Entries are copied out only when returned: a stored entry that a pending write
    /// shadows (a deletion, most often) is skipped as fjall's `Slice`.
    fn range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StoreEntry>, StoreError> {
        if to.is_some_and(|to| to <= from) || limit == 0 {
            return Ok(Vec::new());
        }
        let upper = to.map_or(Bound::Unbounded, Bound::Excluded);
        let bounds = (Bound::Included(from), upper);
        let mut pending = self.pending.range::<[u8], _>(bounds).peekable();
        let mut stored = self.data.range::<&[u8], _>(bounds);
        let mut next_stored = || -> Result<Option<(fjall::Slice, fjall::Slice)>, StoreError> {
            match stored.next() {
                None => Ok(None),
                Some(guard) => Ok(Some(guard.into_inner().map_err(|e| self.failed(e))?)),
            }
        };
        let mut entries = Vec::new();
        let mut disk = next_stored()?;
        while entries.len() < limit {
            let take_pending = match (&disk, pending.peek()) {
                (None, None) => break,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some((dk, _)), Some((pk, _))) => pk[..] <= dk[..],
            };
            if take_pending {
                let Some((key, value)) = pending.next() else {
                    break;
                };
                if disk.as_ref().is_some_and(|(dk, _)| dk[..] == key[..]) {
                    disk = next_stored()?;
                }
                if let Some(value) = value {
                    entries.push((key.to_vec(), value.to_vec()));
                }
            } else if let Some((key, value)) = disk.take() {
                entries.push((key.to_vec(), value.to_vec()));
                disk = next_stored()?;
            }
        }
        Ok(entries)
    }

    fn checkpoint(&mut self, changelog_end: Option<i64>) -> Result<(), StoreError> {
        if self.pending.is_empty() && changelog_end.is_none_or(|e| Some(e) == self.checkpoint) {
            return Ok(());
        }
        let mut batch = self.db.batch();
        for (key, value) in std::mem::take(&mut self.pending) {
            match value {
                Some(value) => batch.insert(&self.data, key, value),
                None => batch.remove(&self.data, key),
            }
        }
        if let Some(end) = changelog_end {
            batch.insert(&self.checkpoints, self.name.as_bytes(), end.to_be_bytes());
            self.checkpoint = Some(end);
        }
        batch.commit().map_err(|e| self.failed(e))
    }

    fn checkpointed(&self) -> Option<i64> {
        self.checkpoint
    }

    fn wipe(&mut self) -> Result<(), StoreError> {
        self.pending.clear();
        self.checkpoint = None;
        self.checkpoints
            .remove(self.name.as_bytes())
            .map_err(|e| self.failed(e))?;
        self.data.clear().map_err(|e| self.failed(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eddy_topologies::StoreKind;

    fn spec(name: &str) -> StoreSpec {
        StoreSpec {
            name: name.to_string(),
            kind: StoreKind::KeyValue,
            changelog_topic: format!("app-{name}-changelog"),
        }
    }

    const TASK: TaskId = TaskId {
        subtopology: 1,
        partition: 0,
    };

    fn keys(entries: Vec<StoreEntry>) -> Vec<Vec<u8>> {
        entries.into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn writes_reach_disk_only_with_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut state = StateDirectory::open(dir.path(), "app").unwrap();
            let mut store = state.open(TASK, &spec("counts")).unwrap();
            assert_eq!(store.checkpointed(), None);
            store.put(b"a", b"1").unwrap();
            store.checkpoint(Some(5)).unwrap();
            store.put(b"b", b"2").unwrap(); // never checkpointed: lost with the process
            store.delete(b"a").unwrap();
            assert_eq!(store.get(b"a").unwrap(), None);
            assert_eq!(store.get(b"b").unwrap(), Some(b"2".to_vec()));
        }
        let mut state = StateDirectory::open(dir.path(), "app").unwrap();
        let mut store = state.open(TASK, &spec("counts")).unwrap();
        assert_eq!(store.checkpointed(), Some(5));
        assert_eq!(store.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(store.get(b"b").unwrap(), None);
        // Another task's store of the same name is its own.
        let other = TaskId {
            subtopology: 1,
            partition: 1,
        };
        let other = state.open(other, &spec("counts")).unwrap();
        assert_eq!(other.get(b"a").unwrap(), None);
        assert_eq!(other.checkpointed(), None);
        store.wipe().unwrap();
        assert_eq!(store.get(b"a").unwrap(), None);
        assert_eq!(store.checkpointed(), None);
    }

    #[test]
    fn range_merges_pending_writes_over_stored_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = StateDirectory::open(dir.path(), "app").unwrap();
        let mut store = state.open(TASK, &spec("s")).unwrap();
        for k in [b"a", b"c", b"e", b"g"] {
            store.put(k, b"disk").unwrap();
        }
        store.checkpoint(Some(1)).unwrap();
        store.put(b"b", b"new").unwrap();
        store.put(b"c", b"new").unwrap();
        store.delete(b"e").unwrap();
        store.delete(b"z").unwrap();
        let all = store.range(b"", None, 100).unwrap();
        assert_eq!(
            all,
            vec![
                (b"a".to_vec(), b"disk".to_vec()),
                (b"b".to_vec(), b"new".to_vec()),
                (b"c".to_vec(), b"new".to_vec()),
                (b"g".to_vec(), b"disk".to_vec()),
            ]
        );
        assert_eq!(
            keys(store.range(b"b", Some(b"g"), 100).unwrap()),
            vec![b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            keys(store.range(b"a", None, 2).unwrap()),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
        assert!(store.range(b"g", Some(b"a"), 10).unwrap().is_empty());
    }

    #[test]
    fn deleting_a_key_written_since_the_checkpoint_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = StateDirectory::open(dir.path(), "app").unwrap();
        let mut store = state.open(TASK, &spec("s")).unwrap();
        store.put(b"kept", b"disk").unwrap();
        store.put(b"gone", b"disk").unwrap();
        store.checkpoint(Some(1)).unwrap();
        // Written and deleted in one interval: on disk before (needs a tombstone) or not.
        store.put(b"gone", b"new").unwrap();
        store.delete(b"gone").unwrap();
        store.put(b"fresh", b"new").unwrap();
        store.delete(b"fresh").unwrap();
        store.delete(b"fresh").unwrap();
        store.put(b"again", b"1").unwrap();
        store.delete(b"again").unwrap();
        store.put(b"again", b"2").unwrap();
        assert_eq!(store.get(b"gone").unwrap(), None);
        assert_eq!(store.get(b"fresh").unwrap(), None);
        let all = store.range(b"", None, 100).unwrap();
        assert_eq!(keys(all), vec![b"again".to_vec(), b"kept".to_vec()]);
        store.checkpoint(Some(2)).unwrap();
        drop(store);
        drop(state);
        let mut state = StateDirectory::open(dir.path(), "app").unwrap();
        let store = state.open(TASK, &spec("s")).unwrap();
        assert_eq!(store.checkpointed(), Some(2));
        assert_eq!(store.get(b"gone").unwrap(), None);
        assert_eq!(store.get(b"fresh").unwrap(), None);
        assert_eq!(store.get(b"again").unwrap(), Some(b"2".to_vec()));
        assert_eq!(
            keys(store.range(b"", None, 100).unwrap()),
            vec![b"again".to_vec(), b"kept".to_vec()]
        );
    }

    #[test]
    fn a_second_instance_on_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = StateDirectory::open(dir.path(), "app").unwrap();
        let err = StateDirectory::open(dir.path(), "app").unwrap_err();
        assert!(err.to_string().contains("own state.dir"), "{err}");
    }
}
