//! The in-memory state store: a `BTreeMap`, for tests and the `TopologyTestDriver`.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{StateStore, StoreEntry, StoreSpec, StoreSupplier};
use crate::error::StoreError;
use crate::task::TaskId;

/// A state store in memory; lost when dropped (its changelog rebuilds it).
#[derive(Debug, Clone, Default)]
pub struct InMemoryStore {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many entries the store holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl StateStore for InMemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.entries.insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.entries.remove(key);
        Ok(())
    }

    fn wipe(&mut self) -> Result<(), StoreError> {
        self.entries.clear();
        Ok(())
    }

    fn range(
        &self,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<StoreEntry>, StoreError> {
        let upper = to.map_or(Bound::Unbounded, Bound::Excluded);
        if to.is_some_and(|to| to <= from) {
            return Ok(Vec::new());
        }
        Ok(self
            .entries
            .range::<[u8], _>((Bound::Included(from), upper))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

/// Opens a fresh, empty `InMemoryStore` for every store of every task.
#[derive(Debug, Clone, Copy, Default)]
pub struct InMemoryStoreSupplier;

impl StoreSupplier for InMemoryStoreSupplier {
    fn open(
        &mut self,
        _task: TaskId,
        _spec: &StoreSpec,
    ) -> Result<Box<dyn StateStore>, StoreError> {
        Ok(Box::new(InMemoryStore::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_ordered_bounded_and_limited() {
        let mut s = InMemoryStore::new();
        for k in [b"a", b"b", b"c", b"d"] {
            s.put(k, k).unwrap();
        }
        let keys = |v: Vec<StoreEntry>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(s.range(b"b", Some(b"d"), 10).unwrap()),
            vec![b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(keys(s.range(b"a", None, 1).unwrap()), vec![b"a".to_vec()]);
        assert!(s.range(b"c", Some(b"a"), 10).unwrap().is_empty());
        s.delete(b"a").unwrap();
        assert_eq!(s.len(), 3);
    }
}
