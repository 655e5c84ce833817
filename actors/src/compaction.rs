//! Log compaction (`cleanup.policy=compact`) as pure decisions: given the records of the
//! cleanable part of a log and the latest offset of every key up to the high watermark,
//! decide per batch whether it stays, goes, or is rewritten with fewer records. Offsets never
//! change (a rewritten batch keeps its records' offsets; gaps are fine); a tombstone (null
//! value) outlives `delete.retention.ms` past its batch's timestamp and is then dropped.
//!
//! Record bodies are decoded and re-encoded through the [`RecordCodec`] trait, which the
//! runtime implements with the Kafka protocol crate: this crate stays free of it.

use std::collections::HashMap;

use bytes::Bytes;

use crate::batch::BatchHeader;

/// One record as compaction sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Absolute offset.
    pub offset: i64,
    /// Timestamp.
    pub timestamp: i64,
    /// Key (compacted topics refuse records without one).
    pub key: Option<Bytes>,
    /// Value; `None` is a tombstone.
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Producer sequence of the record (-1 when not idempotent).
    pub sequence: i32,
}

/// Decodes and re-encodes record batches (implemented by the runtime).
pub trait RecordCodec: Send + Sync {
    /// The records of one stored batch.
    fn decode(&self, batch: &[u8]) -> Result<Vec<LogRecord>, String>;
    /// A batch holding `records`, with the compression, timestamp type and producer of
    /// `template` (the batch they came from).
    fn encode(&self, template: &BatchHeader, records: &[LogRecord]) -> Result<Vec<u8>, String>;
}

/// What happens to one batch of the cleanable range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchAction {
    /// Every record stays.
    Keep,
    /// No record stays.
    Delete,
    /// Only these records stay.
    Rewrite(Vec<LogRecord>),
}

/// Records the latest offset of each key.
pub fn note_latest(latest: &mut HashMap<Bytes, i64>, records: &[LogRecord]) {
    for r in records {
        if let Some(key) = &r.key {
            let slot = latest.entry(key.clone()).or_insert(r.offset);
            *slot = (*slot).max(r.offset);
        }
    }
}

/// The decision for one batch, and the earliest time one of its kept tombstones may go.
pub fn plan_batch(
    header: &BatchHeader,
    records: &[LogRecord],
    latest: &HashMap<Bytes, i64>,
    now_ms: i64,
    delete_retention_ms: i64,
) -> (BatchAction, Option<i64>) {
    let tombstone_expiry = header.max_timestamp.saturating_add(delete_retention_ms);
    let mut next_tombstone_expiry = None;
    let kept: Vec<LogRecord> = records
        .iter()
        .filter(|r| {
            let Some(key) = &r.key else { return true };
            if latest.get(key).is_some_and(|&l| l > r.offset) {
                return false;
            }
            if r.value.is_none() {
                if now_ms >= tombstone_expiry {
                    return false;
                }
                next_tombstone_expiry = Some(tombstone_expiry);
            }
            true
        })
        .cloned()
        .collect();
    let action = if kept.len() == records.len() {
        BatchAction::Keep
    } else if kept.is_empty() {
        BatchAction::Delete
    } else {
        BatchAction::Rewrite(kept)
    };
    (action, next_tombstone_expiry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn header(base: i64, max_timestamp: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            size: 100,
            last_offset_delta: 0,
            base_timestamp: max_timestamp,
            max_timestamp,
            records_count: 1,
            attributes: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            leader_epoch: 0,
        }
    }

    fn record(offset: i64, key: u8, value: Option<u8>) -> LogRecord {
        LogRecord {
            offset,
            timestamp: 0,
            key: Some(Bytes::from(vec![key])),
            value: value.map(|v| Bytes::from(vec![v])),
            headers: Vec::new(),
            sequence: -1,
        }
    }

    #[test]
    fn superseded_records_go_and_latest_stay() {
        let batch = vec![
            record(0, 1, Some(1)),
            record(1, 2, Some(1)),
            record(2, 1, Some(2)),
        ];
        let mut latest = HashMap::new();
        note_latest(&mut latest, &batch);
        let (action, _) = plan_batch(&header(0, 0), &batch, &latest, 0, 1000);
        assert_eq!(
            action,
            BatchAction::Rewrite(vec![record(1, 2, Some(1)), record(2, 1, Some(2))])
        );
    }

    #[test]
    fn tombstones_live_until_delete_retention_passes() {
        let batch = vec![record(5, 1, None)];
        let mut latest = HashMap::new();
        note_latest(&mut latest, &batch);
        assert_eq!(
            plan_batch(&header(5, 100), &batch, &latest, 500, 1000),
            (BatchAction::Keep, Some(1100))
        );
        assert_eq!(
            plan_batch(&header(5, 100), &batch, &latest, 1100, 1000),
            (BatchAction::Delete, None)
        );
    }

    proptest! {
        /// Against a model (a map of key → last value): after compacting a random history,
        /// what remains is exactly the latest value of every live key, offsets ascending;
        /// expired tombstones are gone.
        #[test]
        fn compaction_matches_a_last_value_model(
            history in proptest::collection::vec((0u8..8, proptest::option::weighted(0.8, any::<u8>())), 1..200),
            batch_len in 1usize..7,
        ) {
            let records: Vec<LogRecord> = history.iter().enumerate()
                .map(|(i, (k, v))| record(i as i64, *k, *v)).collect();
            let mut model: BTreeMap<u8, Option<u8>> = BTreeMap::new();
            for (k, v) in &history {
                model.insert(*k, *v);
            }
            let mut latest = HashMap::new();
            note_latest(&mut latest, &records);
            let mut remaining = Vec::new();
            for chunk in records.chunks(batch_len) {
                let h = header(chunk[0].offset, 0);
                match plan_batch(&h, chunk, &latest, 10, 5).0 {
                    BatchAction::Keep => remaining.extend(chunk.iter().cloned()),
                    BatchAction::Delete => {}
                    BatchAction::Rewrite(kept) => remaining.extend(kept),
                }
            }
            prop_assert!(remaining.windows(2).all(|w| w[0].offset < w[1].offset));
            let got: BTreeMap<u8, Option<u8>> = remaining.iter()
                .map(|r| (r.key.as_ref().map(|k| k[0]).unwrap_or(0), r.value.as_ref().map(|v| v[0])))
                .collect();
            prop_assert_eq!(got.len(), remaining.len(), "one record per key");
            let live: BTreeMap<u8, Option<u8>> = model.into_iter().filter(|(_, v)| v.is_some()).collect();
            prop_assert_eq!(got, live);
        }
    }
}
