//! A partition's log on fjall: one record batch per value, keyed by
//! `partition uid ‖ base offset` (both u64 big-endian), so a prefix scan walks the log in
//! offset order and a reverse range finds the batch holding a given offset.
//!
//! The log sits behind the [`PartitionLog`] trait so its cost can be measured and the
//! backend replaced (e.g. by segment files) without touching the partition actor.

use bytes::{Bytes, BytesMut};

use crate::batch;
use crate::error::ActorResult;

/// One batch replaced by compaction: its old base offset, and the new batch (base offset and
/// bytes) or nothing if no record survived.
pub type BatchReplacement = (i64, Option<(i64, Vec<u8>)>);

/// What a read returns: whole stored batches, concatenated as the client will receive them.
#[derive(Debug, Clone, Default)]
pub struct LogRead {
    /// Concatenated batches (possibly empty).
    pub bytes: Bytes,
    /// Number of batches in `bytes`.
    pub batches: usize,
}

/// The storage a partition actor needs.
pub trait PartitionLog: Send {
    /// Appends one batch whose base offset has already been assigned, together with the
    /// updated state of the producers it carries (one atomic write).
    fn append(
        &mut self,
        base_offset: i64,
        batch: &[u8],
        producers: &[(i64, Vec<u8>)],
    ) -> ActorResult<()>;
    /// The stored producer states (idempotence), by producer id.
    fn load_producers(&self) -> ActorResult<Vec<(i64, Vec<u8>)>>;
    /// Reads whole batches starting with the one that holds `offset`, stopping before
    /// `end_offset` and after `max_bytes` (but always at least one batch, KIP-74).
    fn read(&self, offset: i64, end_offset: i64, max_bytes: usize) -> ActorResult<LogRead>;
    /// `(log start offset, log end offset)` recovered from what is stored.
    fn recover_offsets(&self) -> ActorResult<(i64, i64)>;
    /// The first batch at or after `from_offset` whose max timestamp is at or after
    /// `timestamp`, if any.
    fn find_by_timestamp(&self, timestamp: i64, from_offset: i64) -> ActorResult<Option<Bytes>>;
    /// Headers of the first `max` batches, oldest first.
    fn head(&self, max: usize) -> ActorResult<Vec<batch::BatchHeader>>;
    /// Bytes stored in batches whose base offset is at or after `from` (all: `from` = 0).
    fn log_bytes(&self, from: i64) -> ActorResult<u64>;
    /// Base offset of the last batch, if any.
    fn head_base_offset(&self) -> ActorResult<Option<i64>>;
    /// The header of the last batch that starts before `offset`, if any.
    fn header_before(&self, offset: i64) -> ActorResult<Option<batch::BatchHeader>>;
    /// Whether a batch starts at `base_offset`.
    fn contains(&self, base_offset: i64) -> ActorResult<bool>;
    /// The offset below which the log was last compacted (0 if never).
    fn cleaned_upto(&self) -> ActorResult<i64>;
    /// Replaces compacted batches — `(old base offset, new (base offset, bytes) or none)` —
    /// and records the new cleaned-up-to offset, in one atomic write: a crash leaves either
    /// the old batches or the new ones.
    fn apply_compaction(
        &mut self,
        changes: &[BatchReplacement],
        cleaned_upto: i64,
    ) -> ActorResult<()>;
    /// Deletes the batches with these base offsets and records the new log start offset,
    /// in one write.
    fn truncate_head(&mut self, base_offsets: &[i64], log_start_offset: i64) -> ActorResult<()>;
    /// Deletes every batch that holds an offset at or after `from_offset` (a follower
    /// dropping records its new leader does not have) and writes the given producer states
    /// (`None` removes one), in one write. Answers the new log end offset.
    fn truncate_tail(
        &mut self,
        from_offset: i64,
        producers: &[(i64, Option<Vec<u8>>)],
    ) -> ActorResult<i64>;
    /// Removes every batch and the partition's state (topic deletion).
    fn destroy(&mut self) -> ActorResult<()>;
    /// Forces what was appended to disk.
    fn sync(&self) -> ActorResult<()>;
}

/// The fjall-backed [`PartitionLog`].
pub struct FjallLog {
    db: fjall::Database,
    logs: fjall::Keyspace,
    state: fjall::Keyspace,
    producers: fjall::Keyspace,
    uid: u64,
}

fn key(uid: u64, offset: i64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&uid.to_be_bytes());
    // Offsets are never negative in the log; clamp so the key order is the offset order.
    k[8..].copy_from_slice(&(offset.max(0) as u64).to_be_bytes());
    k
}

/// Where a partition's cleaned-up-to offset is kept in the state keyspace.
fn cleaned_key(uid: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[..8].copy_from_slice(&uid.to_be_bytes());
    k[8] = b'c';
    k
}

/// Deletes are written in bounded batches so one topic deletion cannot build an unbounded
/// write batch in memory.
const DELETE_BATCH_KEYS_MAX: usize = 10_000;

impl FjallLog {
    pub(crate) fn new(
        db: fjall::Database,
        logs: fjall::Keyspace,
        state: fjall::Keyspace,
        producers: fjall::Keyspace,
        uid: u64,
    ) -> Self {
        FjallLog {
            db,
            logs,
            state,
            producers,
            uid,
        }
    }

    fn prefix(&self) -> [u8; 8] {
        self.uid.to_be_bytes()
    }

    fn remove_prefix(&self, keyspace: &fjall::Keyspace) -> ActorResult<()> {
        loop {
            let keys: Vec<_> = keyspace
                .prefix(self.prefix())
                .take(DELETE_BATCH_KEYS_MAX)
                .map(|g| g.key())
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                return Ok(());
            }
            let mut wb = self.db.batch();
            for k in keys {
                wb.remove(keyspace, k);
            }
            wb.commit()?;
        }
    }
}

impl PartitionLog for FjallLog {
    fn append(
        &mut self,
        base_offset: i64,
        batch: &[u8],
        producers: &[(i64, Vec<u8>)],
    ) -> ActorResult<()> {
        if producers.is_empty() {
            self.logs.insert(key(self.uid, base_offset), batch)?;
            return Ok(());
        }
        let mut wb = self.db.batch();
        wb.insert(&self.logs, key(self.uid, base_offset), batch);
        for (producer_id, state) in producers {
            wb.insert(
                &self.producers,
                key(self.uid, *producer_id),
                state.as_slice(),
            );
        }
        wb.commit()?;
        Ok(())
    }

    fn load_producers(&self) -> ActorResult<Vec<(i64, Vec<u8>)>> {
        let mut out = Vec::new();
        for item in self.producers.prefix(self.prefix()) {
            let (k, v) = item.into_inner()?;
            if k.len() == 16 {
                let mut id = [0u8; 8];
                id.copy_from_slice(&k[8..]);
                out.push((i64::from_be_bytes(id), v.to_vec()));
            }
        }
        Ok(out)
    }

    fn read(&self, offset: i64, end_offset: i64, max_bytes: usize) -> ActorResult<LogRead> {
        if offset >= end_offset {
            return Ok(LogRead::default());
        }
        // The batch holding `offset` is the one with the greatest base offset ≤ offset.
        let start = self
            .logs
            .range(key(self.uid, 0)..=key(self.uid, offset))
            .next_back()
            .map(|g| g.key())
            .transpose()?
            .map(|k| k.to_vec())
            .unwrap_or_else(|| key(self.uid, offset).to_vec());
        let mut out = BytesMut::new();
        let mut batches = 0;
        for item in self.logs.range(start..key(self.uid, end_offset).to_vec()) {
            let value = item.value()?;
            let header = batch::read_header(&value)?;
            if header.last_offset() < offset {
                continue;
            }
            if batches > 0 && out.len() + value.len() > max_bytes {
                break;
            }
            out.extend_from_slice(&value);
            batches += 1;
            if out.len() >= max_bytes {
                break;
            }
        }
        Ok(LogRead {
            bytes: out.freeze(),
            batches,
        })
    }

    fn recover_offsets(&self) -> ActorResult<(i64, i64)> {
        let stored_start = self
            .state
            .get(self.prefix())?
            .map(|v| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&v[..8.min(v.len())]);
                i64::from_be_bytes(a)
            })
            .unwrap_or(0);
        // The log start is only ever what retention or DeleteRecords stored: compaction may
        // have removed the first batches, but their offsets still belong to the log.
        let last = self
            .logs
            .prefix(self.prefix())
            .next_back()
            .map(|g| g.value())
            .transpose()?;
        match last {
            Some(last) => {
                let last = batch::read_header(&last)?;
                Ok((stored_start, (last.last_offset() + 1).max(stored_start)))
            }
            None => Ok((stored_start, stored_start)),
        }
    }

    fn head(&self, max: usize) -> ActorResult<Vec<batch::BatchHeader>> {
        let mut out = Vec::new();
        for item in self.logs.prefix(self.prefix()).take(max) {
            out.push(batch::read_header(&item.value()?)?);
        }
        Ok(out)
    }

    fn log_bytes(&self, from: i64) -> ActorResult<u64> {
        let mut total = 0u64;
        for item in self
            .logs
            .range(key(self.uid, from)..key(self.uid, i64::MAX))
        {
            total += u64::from(item.size()?);
        }
        Ok(total)
    }

    fn head_base_offset(&self) -> ActorResult<Option<i64>> {
        match self.logs.prefix(self.prefix()).next_back() {
            Some(item) => {
                let k = item.key()?;
                let mut a = [0u8; 8];
                a.copy_from_slice(&k[8..16.min(k.len())]);
                Ok(Some(u64::from_be_bytes(a) as i64))
            }
            None => Ok(None),
        }
    }

    fn contains(&self, base_offset: i64) -> ActorResult<bool> {
        Ok(self.logs.contains_key(key(self.uid, base_offset))?)
    }

    fn cleaned_upto(&self) -> ActorResult<i64> {
        Ok(self
            .state
            .get(cleaned_key(self.uid))?
            .map(|v| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&v[..8.min(v.len())]);
                i64::from_be_bytes(a)
            })
            .unwrap_or(0))
    }

    fn apply_compaction(
        &mut self,
        changes: &[BatchReplacement],
        cleaned_upto: i64,
    ) -> ActorResult<()> {
        let mut wb = self.db.batch();
        for (old, new) in changes {
            wb.remove(&self.logs, key(self.uid, *old));
            if let Some((base, bytes)) = new {
                wb.insert(&self.logs, key(self.uid, *base), bytes.as_slice());
            }
        }
        wb.insert(
            &self.state,
            cleaned_key(self.uid),
            cleaned_upto.to_be_bytes(),
        );
        crate::fault::point(crate::fault::COMPACTION_BEFORE_COMMIT);
        wb.commit()?;
        crate::fault::point(crate::fault::COMPACTION_AFTER_COMMIT);
        Ok(())
    }

    fn truncate_head(&mut self, base_offsets: &[i64], log_start_offset: i64) -> ActorResult<()> {
        let mut wb = self.db.batch();
        for base in base_offsets {
            wb.remove(&self.logs, key(self.uid, *base));
        }
        wb.insert(&self.state, self.prefix(), log_start_offset.to_be_bytes());
        wb.commit()?;
        Ok(())
    }

    fn find_by_timestamp(&self, timestamp: i64, from_offset: i64) -> ActorResult<Option<Bytes>> {
        for item in self.logs.range(key(self.uid, 0)..key(self.uid, i64::MAX)) {
            let value = item.value()?;
            let header = batch::read_header(&value)?;
            if header.last_offset() >= from_offset && header.max_timestamp >= timestamp {
                return Ok(Some(Bytes::copy_from_slice(&value)));
            }
        }
        Ok(None)
    }

    fn header_before(&self, offset: i64) -> ActorResult<Option<batch::BatchHeader>> {
        match self
            .logs
            .range(key(self.uid, 0)..key(self.uid, offset))
            .next_back()
        {
            Some(item) => Ok(Some(batch::read_header(&item.value()?)?)),
            None => Ok(None),
        }
    }

    fn truncate_tail(
        &mut self,
        from_offset: i64,
        producers: &[(i64, Option<Vec<u8>>)],
    ) -> ActorResult<i64> {
        // The batch holding `from_offset` goes too: batches are kept whole.
        let first = self
            .logs
            .range(key(self.uid, 0)..=key(self.uid, from_offset))
            .next_back()
            .map(|g| g.into_inner())
            .transpose()?
            .and_then(|(k, v)| {
                let h = batch::read_header(&v).ok()?;
                (h.last_offset() >= from_offset).then(|| k.to_vec())
            })
            .unwrap_or_else(|| key(self.uid, from_offset).to_vec());
        let doomed: Vec<_> = self
            .logs
            .range(first..key(self.uid, i64::MAX).to_vec())
            .map(|g| g.key())
            .collect::<Result<_, _>>()?;
        let mut wb = self.db.batch();
        for k in doomed {
            wb.remove(&self.logs, k);
        }
        for (producer_id, state) in producers {
            match state {
                Some(bytes) => wb.insert(
                    &self.producers,
                    key(self.uid, *producer_id),
                    bytes.as_slice(),
                ),
                None => wb.remove(&self.producers, key(self.uid, *producer_id)),
            }
        }
        wb.commit()?;
        Ok(self.recover_offsets()?.1)
    }

    fn destroy(&mut self) -> ActorResult<()> {
        self.remove_prefix(&self.logs)?;
        self.remove_prefix(&self.producers)?;
        self.state.remove(self.prefix())?;
        self.state.remove(cleaned_key(self.uid))?;
        Ok(())
    }

    fn sync(&self) -> ActorResult<()> {
        self.db.persist(fjall::PersistMode::SyncAll)?;
        // Counted after the fsync returned, so a test that reads it after an
        // acknowledgement knows the fsync came before (`tests/durability_fsync.rs`).
        metrics::counter!("eddy_log_flushes_total").increment(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{assign_offset, tests::make_batch};
    use crate::store::Store;

    fn appended(log: &mut FjallLog, base: i64, count: i32) {
        let mut b = make_batch(count, b"body");
        assign_offset(&mut b, base, 0);
        log.append(base, &b, &[]).expect("append");
    }

    #[test]
    fn read_finds_batch_holding_offset_and_recovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("open");
        let mut log = store.partition_log(7);
        appended(&mut log, 0, 3);
        appended(&mut log, 3, 2);
        appended(&mut log, 5, 4);
        let other = store.partition_log(8);
        assert_eq!(other.recover_offsets().expect("recover"), (0, 0));
        assert_eq!(log.recover_offsets().expect("recover"), (0, 9));
        let r = log.read(4, 9, 1).expect("read");
        assert_eq!(r.batches, 1, "at least one batch even above max_bytes");
        assert_eq!(batch::read_header(&r.bytes).expect("header").base_offset, 3);
        let r = log.read(0, 9, 1 << 20).expect("read");
        assert_eq!(r.batches, 3);
        let r = log.read(0, 5, 1 << 20).expect("read");
        assert_eq!(r.batches, 2, "stops at the end offset");
        log.destroy().expect("destroy");
        assert_eq!(log.recover_offsets().expect("recover"), (0, 0));
    }
}
