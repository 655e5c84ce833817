//! CompactorActor: compacts partitions of `cleanup.policy=compact` topics on an arbiter
//! (thread) of its own, so produce and fetch never wait for it. A partition actor asks it to
//! compact; it reads the partition's log through its own fjall handle (reads do not block
//! the partition), decides per batch with the pure rules of [`crate::compaction`], re-encodes
//! shortened batches through the runtime's [`RecordCodec`], and answers the changes. The
//! partition applies them in one atomic write, after checking that the batches are still
//! there (retention may have removed some meanwhile).
//!
//! Started by the NodeSupervisor; restart policy permanent; it keeps no state between
//! requests, so a restart loses only the compaction in progress, which the partition retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use bytes::Bytes;

use crate::batch::{self, BatchHeader};
use crate::compaction::{note_latest, plan_batch, BatchAction, LogRecord, RecordCodec};
use crate::error::{ActorError, ActorResult};
use crate::store::{BatchReplacement, PartitionLog, Store};
use crate::supervision::guard;

/// Bytes read from the log per step of a compaction pass.
pub const READ_CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Bytes of decoded cleanable batches held in memory by one pass; the rest waits for the
/// next pass.
pub const PASS_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Decoded records held in memory by one pass (decoded records can be much larger than
/// their compressed batches); the rest waits for the next pass.
pub const PASS_RECORDS_MAX: usize = 1_000_000;

/// The compactor.
pub struct CompactorActor {
    store: Store,
    codec: Arc<dyn RecordCodec>,
}

impl CompactorActor {
    /// A compactor over the node's store.
    pub fn new(store: Store, codec: Arc<dyn RecordCodec>) -> Self {
        CompactorActor { store, codec }
    }
}

impl Actor for CompactorActor {
    type Context = Context<Self>;
}

impl Supervised for CompactorActor {}

/// Compact one partition's log below its last batch.
#[derive(Message, Debug, Clone)]
#[rtype(result = "ActorResult<CompactionOutcome>")]
pub struct Compact {
    /// The partition's log id.
    pub uid: u64,
    /// First offset stored.
    pub log_start_offset: i64,
    /// Base offset of the last batch: compaction stays below it (consumers advance by the
    /// last batch, so it is always kept).
    pub head_base_offset: i64,
    /// High watermark: the latest offsets per key are taken up to here.
    pub high_watermark: i64,
    /// Wall clock, for tombstones and the compaction lag.
    pub now_ms: i64,
    /// `delete.retention.ms`.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: batches younger than this stay untouched.
    pub min_compaction_lag_ms: i64,
}

/// What a compaction pass decided.
#[derive(Debug, Clone, Default)]
pub struct CompactionOutcome {
    /// `(old base offset, new (base offset, bytes) or none)` per changed batch.
    pub changes: Vec<BatchReplacement>,
    /// Offsets below this have been cleaned.
    pub cleaned_upto: i64,
    /// When the earliest kept tombstone may be removed, if any was kept.
    pub next_tombstone_expiry_ms: Option<i64>,
    /// Records read in the cleanable range.
    pub records_scanned: u64,
    /// Records removed.
    pub records_removed: u64,
    /// How long the pass took.
    pub elapsed_ms: u64,
}

/// Calls `f` with each whole batch in `[from, end)`.
fn for_each_batch(
    log: &dyn PartitionLog,
    from: i64,
    end: i64,
    mut f: impl FnMut(BatchHeader, &[u8]) -> ActorResult<bool>,
) -> ActorResult<()> {
    let mut offset = from;
    while offset < end {
        let read = log.read(offset, end, READ_CHUNK_BYTES)?;
        if read.batches == 0 {
            break;
        }
        let mut at = 0;
        while at < read.bytes.len() {
            let header = batch::read_header(&read.bytes[at..])?;
            let bytes = &read.bytes[at..at + header.size];
            at += header.size;
            offset = header.last_offset() + 1;
            if header.last_offset() < from {
                continue;
            }
            if !f(header, bytes)? {
                return Ok(());
            }
        }
    }
    Ok(())
}

impl CompactorActor {
    fn compact(&self, msg: &Compact) -> ActorResult<CompactionOutcome> {
        let started = Instant::now();
        let log = self.store.partition_log(msg.uid);
        let codec = |e: String| {
            ActorError::Storage(format!("compaction cannot decode a stored batch: {e}"))
        };
        let lag_cutoff = msg.now_ms.saturating_sub(msg.min_compaction_lag_ms);
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        let mut cleanable: Vec<(BatchHeader, Vec<LogRecord>)> = Vec::new();
        let mut cleanable_bytes = 0usize;
        let mut cleanable_records = 0usize;
        let mut clean_end = msg.log_start_offset;
        let mut collecting = true;
        for_each_batch(
            &log,
            msg.log_start_offset,
            msg.high_watermark,
            |header, bytes| {
                let records = self.codec.decode(bytes).map_err(codec)?;
                note_latest(&mut latest, &records);
                collecting = collecting
                    && header.base_offset < msg.head_base_offset
                    && header.max_timestamp <= lag_cutoff
                    && cleanable_bytes + bytes.len() <= PASS_BYTES_MAX
                    && cleanable_records + records.len() <= PASS_RECORDS_MAX;
                if collecting {
                    cleanable_bytes += bytes.len();
                    cleanable_records += records.len();
                    clean_end = header.last_offset() + 1;
                    cleanable.push((header, records));
                }
                Ok(true)
            },
        )?;
        let mut outcome = CompactionOutcome {
            cleaned_upto: clean_end,
            ..CompactionOutcome::default()
        };
        for (header, records) in &cleanable {
            outcome.records_scanned += records.len() as u64;
            let (action, expiry) = plan_batch(
                header,
                records,
                &latest,
                msg.now_ms,
                msg.delete_retention_ms,
            );
            if let Some(expiry) = expiry {
                outcome.next_tombstone_expiry_ms = Some(
                    outcome
                        .next_tombstone_expiry_ms
                        .map_or(expiry, |e| e.min(expiry)),
                );
            }
            match action {
                BatchAction::Keep => {}
                BatchAction::Delete => {
                    outcome.records_removed += records.len() as u64;
                    outcome.changes.push((header.base_offset, None));
                }
                BatchAction::Rewrite(kept) => {
                    outcome.records_removed += (records.len() - kept.len()) as u64;
                    let bytes = self.codec.encode(header, &kept).map_err(codec)?;
                    let new_base = kept.first().map(|r| r.offset).unwrap_or(header.base_offset);
                    outcome
                        .changes
                        .push((header.base_offset, Some((new_base, bytes))));
                }
            }
        }
        outcome.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(outcome)
    }
}

impl Handler<Compact> for CompactorActor {
    type Result = ActorResult<CompactionOutcome>;

    fn handle(&mut self, msg: Compact, ctx: &mut Self::Context) -> Self::Result {
        match guard(|| self.compact(&msg)) {
            Ok(result) => {
                if let Ok(outcome) = &result {
                    metrics::counter!("eddy_compaction_records_removed_total")
                        .increment(outcome.records_removed);
                    metrics::counter!("eddy_compaction_records_scanned_total")
                        .increment(outcome.records_scanned);
                }
                result
            }
            Err(panic) => {
                tracing::error!(error = %panic, "compactor panicked; restarting");
                ctx.stop();
                Err(ActorError::Unavailable(format!(
                    "compactor restarting after a panic: {panic}"
                )))
            }
        }
    }
}
