//! The producer's buffer: one open batch per partition, sealed when full or lingered.
//!
//! No I/O here: the producer appends records, and ships whatever this module hands back.
//! A batch is sealed when the next record would push it past `batch_bytes_max` (a record
//! bigger than that still gets a batch of its own) or when it reaches that size; it is
//! ready to ship once sealed or once it has waited `linger`. The total buffered is tracked
//! so the producer can bound it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::error::ClientError;
use super::producer::RecordMetadata;
use super::records::{PendingRecord, BATCH_HEADER_BYTES};

/// Where a record's outcome is delivered.
pub(crate) type DeliverySender = oneshot::Sender<Result<RecordMetadata, ClientError>>;

/// Records bound for one partition, shipped together as one record batch.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) records: Vec<PendingRecord>,
    pub(crate) senders: Vec<DeliverySender>,
    /// Upper bound of the encoded size, batch header included.
    pub(crate) bytes: usize,
    pub(crate) created: Instant,
}

impl Batch {
    fn new(topic: String, partition: i32, now: Instant) -> Self {
        Self {
            topic,
            partition,
            records: Vec::new(),
            senders: Vec::new(),
            bytes: BATCH_HEADER_BYTES,
            created: now,
        }
    }

    /// Delivers `outcome(index)` to every record of the batch.
    pub(crate) fn complete(
        self,
        mut outcome: impl FnMut(usize, &PendingRecord) -> Result<RecordMetadata, ClientError>,
    ) {
        for (index, (sender, record)) in self.senders.into_iter().zip(&self.records).enumerate() {
            // A dropped receipt means nobody waits for this record: nothing to tell.
            let _ = sender.send(outcome(index, record));
        }
    }
}

/// The open batches of a producer.
#[derive(Debug)]
pub(crate) struct Accumulator {
    open: BTreeMap<(String, i32), Batch>,
    buffered_bytes: usize,
    batch_bytes_max: usize,
    linger: Duration,
}

impl Accumulator {
    pub(crate) fn new(batch_bytes_max: usize, linger: Duration) -> Self {
        Self {
            open: BTreeMap::new(),
            buffered_bytes: 0,
            batch_bytes_max,
            linger,
        }
    }

    /// Bytes held in open batches.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    /// Appends a record to its partition's batch; returns the batches this sealed.
    pub(crate) fn append(
        &mut self,
        topic: &str,
        partition: i32,
        record: PendingRecord,
        sender: DeliverySender,
        now: Instant,
    ) -> Vec<Batch> {
        let size = record.size_bound();
        let key = (topic.to_owned(), partition);
        let mut sealed = Vec::new();
        let overflows = self
            .open
            .get(&key)
            .is_some_and(|b| !b.records.is_empty() && b.bytes + size > self.batch_bytes_max);
        if overflows {
            sealed.extend(self.remove(&key));
        }
        let batch = self
            .open
            .entry(key.clone())
            .or_insert_with(|| Batch::new(topic.to_owned(), partition, now));
        batch.records.push(record);
        batch.senders.push(sender);
        batch.bytes += size;
        self.buffered_bytes += size;
        if batch.bytes >= self.batch_bytes_max {
            sealed.extend(self.remove(&key));
        }
        sealed
    }

    /// Removes and returns every batch that has waited at least `linger`.
    pub(crate) fn drain_lingered(&mut self, now: Instant) -> Vec<Batch> {
        let lingered: Vec<(String, i32)> = self
            .open
            .iter()
            .filter(|(_, b)| now.saturating_duration_since(b.created) >= self.linger)
            .map(|(key, _)| key.clone())
            .collect();
        lingered.iter().filter_map(|key| self.remove(key)).collect()
    }

    /// Removes and returns every open batch.
    pub(crate) fn drain_all(&mut self) -> Vec<Batch> {
        self.buffered_bytes = 0;
        std::mem::take(&mut self.open).into_values().collect()
    }

    fn remove(&mut self, key: &(String, i32)) -> Option<Batch> {
        let batch = self.open.remove(key)?;
        let records_bytes = batch.bytes - BATCH_HEADER_BYTES;
        self.buffered_bytes -= records_bytes;
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn record(value_len: usize) -> PendingRecord {
        PendingRecord {
            key: None,
            value: Some(Bytes::from(vec![b'x'; value_len])),
            headers: Vec::new(),
            timestamp_ms: 0,
        }
    }

    fn append(acc: &mut Accumulator, partition: i32, len: usize, now: Instant) -> Vec<Batch> {
        let (sender, _receiver) = oneshot::channel();
        acc.append("t", partition, record(len), sender, now)
    }

    #[test]
    fn seals_a_batch_before_it_overflows() {
        let now = Instant::now();
        let size = record(100).size_bound();
        let max = BATCH_HEADER_BYTES + 3 * size + size / 2;
        let mut acc = Accumulator::new(max, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(append(&mut acc, 0, 100, now).is_empty());
        }
        assert_eq!(acc.buffered_bytes(), 3 * size);
        let sealed = append(&mut acc, 0, 100, now);
        assert_eq!(sealed.len(), 1);
        assert_eq!(sealed[0].records.len(), 3);
        assert_eq!(acc.buffered_bytes(), size);
    }

    #[test]
    fn a_record_bigger_than_a_batch_ships_alone() {
        let now = Instant::now();
        let mut acc = Accumulator::new(200, Duration::from_secs(60));
        assert!(append(&mut acc, 0, 10, now).is_empty());
        let sealed = append(&mut acc, 0, 1000, now);
        let counts: Vec<usize> = sealed.iter().map(|b| b.records.len()).collect();
        assert_eq!(counts, [1, 1]);
        assert_eq!(acc.buffered_bytes(), 0);
    }

    #[test]
    fn lingered_batches_drain_and_others_stay() {
        let start = Instant::now();
        let mut acc = Accumulator::new(1 << 20, Duration::from_millis(5));
        append(&mut acc, 0, 10, start);
        append(&mut acc, 1, 10, start + Duration::from_millis(4));
        let lingered = acc.drain_lingered(start + Duration::from_millis(6));
        assert_eq!(lingered.len(), 1);
        assert_eq!(lingered[0].partition, 0);
        let rest = acc.drain_all();
        assert_eq!(rest.len(), 1);
        assert_eq!(acc.buffered_bytes(), 0);
    }
}
