//! Idempotent producers: per producer id, its epoch and the sequence ranges and offsets of
//! its last five batches, so a retried batch is answered with its original offset instead of
//! being appended twice, and a gap in sequences is refused. Pure data and decisions; the
//! partition actor persists the entries with the batches they describe.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Batches remembered per producer (Kafka's `max.in.flight.requests.per.connection` bound
/// for idempotence).
pub const BATCHES_PER_PRODUCER_MAX: usize = 5;

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSequence {
    /// First sequence in the batch.
    pub first_seq: i32,
    /// Last sequence in the batch.
    pub last_seq: i32,
    /// Offset the batch was given.
    pub base_offset: i64,
}

/// What the partition knows of one producer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    /// Current epoch.
    pub epoch: i16,
    /// Last batches, oldest first.
    pub batches: VecDeque<BatchSequence>,
}

/// The verdict on an incoming idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New and in order: append it.
    Append,
    /// Already appended: answer with its original base offset.
    Duplicate {
        /// Where it was stored.
        base_offset: i64,
    },
    /// A gap or a reordering: refuse (OUT_OF_ORDER_SEQUENCE_NUMBER).
    OutOfOrder {
        /// The sequence the partition expected.
        expected: i32,
    },
    /// An older epoch than the partition has seen: a zombie producer (INVALID_PRODUCER_EPOCH).
    Fenced {
        /// The current epoch.
        current: i16,
    },
}

/// The last sequence of a batch starting at `first` with `delta` more records; sequences
/// wrap from i32::MAX back to 0.
pub fn last_sequence(first: i32, delta: i32) -> i32 {
    ((i64::from(first) + i64::from(delta)) % (i64::from(i32::MAX) + 1)) as i32
}

fn next_sequence(last: i32) -> i32 {
    if last == i32::MAX {
        0
    } else {
        last + 1
    }
}

/// Decides on a batch of `epoch` covering `first_seq..=last_seq`.
pub fn check(
    entry: Option<&ProducerEntry>,
    epoch: i16,
    first_seq: i32,
    last_seq: i32,
) -> SequenceCheck {
    let Some(entry) = entry else {
        // Unknown producer (new, or its state aged out): accept from any sequence.
        return SequenceCheck::Append;
    };
    if epoch < entry.epoch {
        return SequenceCheck::Fenced {
            current: entry.epoch,
        };
    }
    if epoch > entry.epoch {
        // A bumped epoch restarts sequences at 0 (KIP-360).
        return if first_seq == 0 {
            SequenceCheck::Append
        } else {
            SequenceCheck::OutOfOrder { expected: 0 }
        };
    }
    if let Some(b) = entry
        .batches
        .iter()
        .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
    {
        return SequenceCheck::Duplicate {
            base_offset: b.base_offset,
        };
    }
    match entry.batches.back() {
        Some(last) if first_seq != next_sequence(last.last_seq) => SequenceCheck::OutOfOrder {
            expected: next_sequence(last.last_seq),
        },
        _ => SequenceCheck::Append,
    }
}

/// Records an appended batch.
pub fn record(entry: &mut ProducerEntry, epoch: i16, batch: BatchSequence) {
    if epoch != entry.epoch {
        entry.epoch = epoch;
        entry.batches.clear();
    }
    entry.batches.push_back(batch);
    while entry.batches.len() > BATCHES_PER_PRODUCER_MAX {
        entry.batches.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(first: i32, last: i32, base: i64) -> BatchSequence {
        BatchSequence {
            first_seq: first,
            last_seq: last,
            base_offset: base,
        }
    }

    #[test]
    fn retries_are_duplicates_and_gaps_are_refused() {
        let mut e = ProducerEntry::default();
        assert_eq!(check(None, 0, 0, 4), SequenceCheck::Append);
        record(&mut e, 0, seq(0, 4, 100));
        assert_eq!(
            check(Some(&e), 0, 0, 4),
            SequenceCheck::Duplicate { base_offset: 100 }
        );
        assert_eq!(check(Some(&e), 0, 5, 9), SequenceCheck::Append);
        assert_eq!(
            check(Some(&e), 0, 7, 9),
            SequenceCheck::OutOfOrder { expected: 5 }
        );
        record(&mut e, 0, seq(5, 9, 105));
        assert_eq!(
            check(Some(&e), 0, 0, 4),
            SequenceCheck::Duplicate { base_offset: 100 }
        );
    }

    #[test]
    fn epochs_fence_and_restart_sequences() {
        let mut e = ProducerEntry::default();
        record(&mut e, 1, seq(0, 0, 0));
        assert_eq!(
            check(Some(&e), 0, 1, 1),
            SequenceCheck::Fenced { current: 1 }
        );
        assert_eq!(check(Some(&e), 2, 0, 3), SequenceCheck::Append);
        assert_eq!(
            check(Some(&e), 2, 5, 6),
            SequenceCheck::OutOfOrder { expected: 0 }
        );
    }

    #[test]
    fn sequences_wrap_at_i32_max_and_only_five_batches_are_kept() {
        assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
        let mut e = ProducerEntry::default();
        record(&mut e, 0, seq(i32::MAX - 1, i32::MAX, 0));
        assert_eq!(check(Some(&e), 0, 0, 1), SequenceCheck::Append);
        for i in 0..7 {
            record(&mut e, 0, seq(i * 2, i * 2 + 1, i64::from(i)));
        }
        assert_eq!(e.batches.len(), BATCHES_PER_PRODUCER_MAX);
        assert_eq!(e.batches.front().map(|b| b.first_seq), Some(4));
    }
}
