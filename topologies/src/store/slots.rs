//! The stores of one task, and the changelog records their writes produce.

use std::collections::BTreeMap;

use super::{layout, StateStore, StoreEntry, StoreSpec};
use crate::error::{StoreError, TaskError};
use crate::record::ChangelogRecord;

/// Which store an operator uses: the store's index in the topology.
pub(crate) type StoreHandle = usize;

/// One open store of a task.
pub(crate) struct StoreSlot {
    pub(crate) spec: StoreSpec,
    pub(crate) partition: i32,
    pub(crate) store: Box<dyn StateStore>,
    /// Time-keyed stores: every entry at or before this time has been expired (see
    /// `ops::stored::expire_through`), so the next expiry scans from after it. Operators
    /// never write at or before their expiry cutoff, which only grows.
    pub(crate) expired_through: Option<i64>,
}

/// All stores of a task, indexed by handle (only the task's own sub-topology's stores are
/// open), plus the changelog records written since the last `take_changelog`.
pub(crate) struct StoreSlots {
    slots: Vec<Option<StoreSlot>>,
    changelog: Vec<ChangelogRecord>,
    task: String,
}

impl StoreSlots {
    pub(crate) fn new(slots: Vec<Option<StoreSlot>>, task: String) -> Self {
        StoreSlots {
            slots,
            changelog: Vec::new(),
            task,
        }
    }

    pub(crate) fn slot(&self, handle: StoreHandle) -> Result<&StoreSlot, TaskError> {
        self.slots
            .get(handle)
            .and_then(Option::as_ref)
            .ok_or_else(|| self.unknown(format!("#{handle}")))
    }

    fn slot_mut(&mut self, handle: StoreHandle) -> Result<&mut StoreSlot, TaskError> {
        // The error is built only when there is no slot: this runs for every write.
        let task = &self.task;
        self.slots
            .get_mut(handle)
            .and_then(Option::as_mut)
            .ok_or_else(|| TaskError::UnknownStore {
                task: task.clone(),
                store: format!("#{handle}"),
            })
    }

    fn unknown(&self, store: String) -> TaskError {
        TaskError::UnknownStore {
            task: self.task.clone(),
            store,
        }
    }

    /// The handle of the store named `name`.
    pub(crate) fn find(&self, name: &str) -> Result<StoreHandle, TaskError> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.spec.name == name))
            .ok_or_else(|| self.unknown(name.to_string()))
    }

    /// The handle of the store whose changelog topic is `topic`.
    pub(crate) fn find_by_changelog(&self, topic: &str) -> Result<StoreHandle, TaskError> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.spec.changelog_topic == topic))
            .ok_or_else(|| self.unknown(topic.to_string()))
    }

    /// Whether the task has a store named `name`.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    pub(crate) fn get(
        &self,
        handle: StoreHandle,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, TaskError> {
        Ok(self.slot(handle)?.store.get(key)?)
    }

    pub(crate) fn range(
        &self,
        handle: StoreHandle,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StoreEntry>, TaskError> {
        Ok(self.slot(handle)?.store.range(from, to, limit)?)
    }

    /// Writes (or, with `None`, deletes) a key and records the change for the changelog.
    pub(crate) fn write(
        &mut self,
        handle: StoreHandle,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), TaskError> {
        let slot = self.slot_mut(handle)?;
        apply(slot, key, value)?;
        let record = ChangelogRecord {
            topic: slot.spec.changelog_topic.clone(),
            partition: slot.partition,
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
            timestamp,
        };
        self.changelog.push(record);
        Ok(())
    }

    /// Removes a key without a changelog record: expiry of closed windows, which a
    /// restored store repeats on its own since the same windows are closed again.
    pub(crate) fn expire(&mut self, handle: StoreHandle, key: &[u8]) -> Result<(), TaskError> {
        apply(self.slot_mut(handle)?, key, None)
    }

    /// The time through which the time-keyed store `handle` has been expired, if any.
    pub(crate) fn expired_through(&self, handle: StoreHandle) -> Result<Option<i64>, TaskError> {
        Ok(self.slot(handle)?.expired_through)
    }

    /// Records that every entry of `handle` at or before `cutoff` has been expired.
    pub(crate) fn set_expired_through(
        &mut self,
        handle: StoreHandle,
        cutoff: i64,
    ) -> Result<(), TaskError> {
        self.slot_mut(handle)?.expired_through = Some(cutoff);
        Ok(())
    }

    /// Applies one changelog record without logging it again.
    pub(crate) fn restore(
        &mut self,
        handle: StoreHandle,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), TaskError> {
        apply(self.slot_mut(handle)?, key, value)
    }

    pub(crate) fn take_changelog(&mut self) -> Vec<ChangelogRecord> {
        std::mem::take(&mut self.changelog)
    }

    /// Checkpoints every store: `changelog_ends` maps changelog topics to the offset after
    /// their last acknowledged record; a store missing from it keeps its checkpoint.
    pub(crate) fn checkpoint(
        &mut self,
        changelog_ends: &BTreeMap<String, i64>,
    ) -> Result<(), TaskError> {
        for slot in self.slots.iter_mut().flatten() {
            let end = changelog_ends.get(&slot.spec.changelog_topic).copied();
            slot.store.checkpoint(end)?;
        }
        Ok(())
    }

    /// Every store with its checkpoint.
    pub(crate) fn checkpoints(&self) -> Vec<(StoreSpec, Option<i64>)> {
        self.slots
            .iter()
            .flatten()
            .map(|s| (s.spec.clone(), s.store.checkpointed()))
            .collect()
    }

    /// Empties the store whose changelog topic is `topic`, checkpoint included.
    pub(crate) fn wipe(&mut self, topic: &str) -> Result<(), TaskError> {
        let handle = self.find_by_changelog(topic)?;
        Ok(self.slot_mut(handle)?.store.wipe()?)
    }

    pub(crate) fn specs(&self) -> impl Iterator<Item = &StoreSpec> {
        self.slots.iter().flatten().map(|s| &s.spec)
    }
}

/// Writes or deletes `key`; in a time-indexed store (`StoreKind::time_indexed`), its index
/// entry too, which is derived from the key and so never logged: writes, restores and
/// expiry all keep it. A key that is not a primary key of such a store is refused (a
/// changelog in another layout cannot be restored into it).
fn apply(slot: &mut StoreSlot, key: &[u8], value: Option<&[u8]>) -> Result<(), TaskError> {
    let index = if slot.spec.kind.time_indexed() {
        let index = layout::time_index_key(key)
            .ok_or_else(|| crate::ops::bad_layout("store", &slot.spec.name))?;
        Some(index)
    } else {
        None
    };
    let result: Result<(), StoreError> = match value {
        Some(value) => slot.store.put(key, value),
        None => slot.store.delete(key),
    };
    result?;
    if let Some(index) = index {
        match value {
            Some(_) => slot.store.put(&index, &[])?,
            None => slot.store.delete(&index)?,
        }
    }
    Ok(())
}
