//! PartitionActor: owns one replica of a partition's log. As leader it checks and appends
//! produced batches (assigning offsets), serves reads up to the high watermark, serves its
//! followers' replica fetches (which is how it learns their end offsets and moves the high
//! watermark: the minimum end offset over the ISR), answers acks=all once the high
//! watermark passes a batch, and proposes ISR changes when followers lag or catch up. As
//! follower it refuses clients and appends what its ReplicaFetcher brings, offsets as they
//! are. On a single node it is a leader whose ISR is itself.
//!
//! Supervised by the PartitionSupervisor through actix's `Supervisor` (its address stays
//! valid across restarts); restart policy permanent, one-for-one, with the supervisor's
//! restart intensity. A panic inside a handler is caught and turned into a stop; on restart
//! every field of partition state is rebuilt from fjall (log start/end offsets), never
//! reused. Pending fetch waiters are dropped on restart, which wakes their fetches.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use crate::batch;
use crate::compactor::{Compact, CompactionOutcome, CompactorActor};
use crate::error::{ActorError, ActorResult};
use crate::log_validator;
use crate::partition_supervisor::{ChildEvent, PartitionSupervisor};
use crate::producer_state::{self, BatchSequence, ProducerEntry, SequenceCheck};
use crate::retention::{self, RetentionPolicy};
use crate::store::{FjallLog, PartitionLog, Store};
use crate::supervision::{guard, RestartDecision, RestartIntensity, RestartWindow};
use crate::TopicPartition;

/// Bounds on how long a compacted partition waits before re-reading a log in which the
/// last pass found nothing to do (without new appends).
const IDLE_RETRY_MS_MIN: i64 = 1_000;
const IDLE_RETRY_MS_MAX: i64 = 60_000;

/// Batches deleted per step of retention or DeleteRecords, so one step stays short.
pub const TRUNCATE_BATCHES_MAX: usize = 1_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parked fetch waiters per partition; past this a new waiter is woken at once, so a flood
/// of long polls degrades to short polls instead of growing memory.
pub const FETCH_WAITERS_MAX: usize = 10_000;

/// The settings of a partition derived from its topic's effective configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSettings {
    /// `flush.messages`: fsync after this many records (1 = every append).
    pub flush_messages: i64,
    /// `flush.ms`: fsync at least this often when something is unflushed.
    pub flush_ms: i64,
    /// `max.message.bytes`: the largest batch accepted.
    pub max_message_bytes: usize,
    /// `cleanup.policy` includes `delete`: retention applies.
    pub delete_policy: bool,
    /// `retention.ms` and `retention.bytes`.
    pub retention: RetentionPolicy,
    /// `message.timestamp.type=LogAppendTime`: batches are stamped with the append time.
    pub log_append_time: bool,
    /// `cleanup.policy` includes `compact`.
    pub compact_policy: bool,
    /// `delete.retention.ms`: how long tombstones outlive compaction.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`, in thousandths.
    pub min_cleanable_dirty_permille: u32,
    /// `min.insync.replicas`: acks=all needs at least this many in-sync replicas.
    pub min_insync_replicas: usize,
}

/// What every partition actor of a node shares: the store, its supervisor, the compactor,
/// and node-wide intervals.
#[derive(Clone)]
pub struct PartitionDeps {
    /// The node's store.
    pub store: Store,
    /// Where lifecycle events go.
    pub supervisor: Addr<PartitionSupervisor>,
    /// Restart intensity.
    pub intensity: RestartIntensity,
    /// `log.retention.check.interval.ms`.
    pub retention_check: Duration,
    /// `log.cleaner.backoff.ms`: how often a compacted partition considers compacting.
    pub cleaner_backoff: Duration,
    /// The node's compactor (none: compaction off).
    pub compactor: Option<Addr<CompactorActor>>,
    /// `replica.lag.time.max.ms`: a follower that has not caught up for this long leaves
    /// the ISR.
    pub replica_lag_max: Duration,
    /// Where leaders send ISR changes (to the metadata quorum); none on a single node.
    pub isr_proposals: Option<tokio::sync::mpsc::UnboundedSender<IsrProposal>>,
}

/// A leader's request to change the ISR of its partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    /// The partition.
    pub tp: TopicPartition,
    /// The leader's epoch (the quorum refuses a stale one).
    pub leader_epoch: i32,
    /// The leader.
    pub leader: i32,
    /// The wanted ISR.
    pub isr: Vec<i32>,
}

/// What this node's replica does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Leads: appends produced batches and serves followers. The ISR includes the leader.
    Leader {
        /// The replicas (leader included).
        replicas: Vec<i32>,
        /// The in-sync replicas as the quorum last recorded them.
        isr: Vec<i32>,
    },
    /// Follows `leader`: refuses clients, appends what its fetcher brings.
    Follower {
        /// The leader's node id (-1: none).
        leader: i32,
    },
}

/// Everything needed to (re)build a partition actor.
#[derive(Clone)]
pub struct PartitionSpec {
    /// Topic and partition index.
    pub tp: TopicPartition,
    /// Node-unique log id.
    pub uid: u64,
    /// Leader epoch stamped into appended batches.
    pub leader_epoch: i32,
    /// Config-derived settings.
    pub settings: PartitionSettings,
    /// This node's id.
    pub node_id: i32,
    /// Leader or follower.
    pub role: Role,
}

/// Offsets of a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// First offset still stored.
    pub log_start_offset: i64,
    /// Offset up to which records are committed (on every ISR member) and visible to
    /// consumers. On a single node it equals the log end offset.
    pub high_watermark: i64,
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy)]
struct FollowerState {
    /// The follower's log end offset (its last fetch offset).
    end_offset: i64,
    /// When it last fetched from at least the leader's end offset of its previous fetch.
    caught_up_at: Instant,
    /// The leader's end offset when this follower last fetched.
    leader_end_at_last_fetch: i64,
}

/// The partition actor.
pub struct PartitionActor {
    spec: PartitionSpec,
    deps: PartitionDeps,
    mailbox: Arc<AtomicUsize>,
    restart_window: RestartWindow,
    last_panic: Option<String>,
    flush_timer: Option<SpawnHandle>,
    mode: Mode,
    state: Option<LogState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Serving,
    /// Gave up after too many restarts: every request is refused until the node restarts.
    Failed,
    /// Its topic was deleted; the actor ends when the last address is dropped.
    Deleted,
}

/// The state rebuilt from fjall on every (re)start.
struct LogState {
    log: FjallLog,
    log_start_offset: i64,
    log_end_offset: i64,
    unflushed_records: i64,
    /// Consumer fetches parked until the high watermark moves.
    waiters: Vec<oneshot::Sender<()>>,
    /// Replica fetches parked until the log end offset moves.
    replica_waiters: Vec<oneshot::Sender<()>>,
    /// acks=all produces parked until the high watermark reaches their offset.
    commit_waiters: Vec<(i64, oneshot::Sender<ActorResult<()>>)>,
    high_watermark: i64,
    followers: HashMap<i32, FollowerState>,
    /// The ISR change last proposed and when (not re-sent for a while).
    isr_proposed: Option<(Vec<i32>, Instant)>,
    producers: HashMap<i64, ProducerEntry>,
    log_bytes: u64,
    /// Offsets below this were compacted; bytes at or after it are "dirty".
    cleaned_upto: i64,
    dirty_bytes: u64,
    /// Base offset of the last batch (compaction stays below it).
    head_base_offset: i64,
    compacting: bool,
    tombstone_due_ms: Option<i64>,
    /// After a pass that made no progress (e.g. everything dirty is younger than
    /// min.compaction.lag.ms): the log end offset then, and when to look again anyway.
    /// Until the log grows or that time comes, no pass re-reads the whole log for nothing.
    idle_at_end: Option<(i64, i64)>,
}

impl PartitionActor {
    /// A partition actor for `spec`; its state loads in `started`.
    pub fn new(spec: PartitionSpec, deps: PartitionDeps, mailbox: Arc<AtomicUsize>) -> Self {
        PartitionActor {
            spec,
            deps,
            mailbox,
            restart_window: RestartWindow::default(),
            last_panic: None,
            flush_timer: None,
            mode: Mode::Serving,
            state: None,
        }
    }

    fn load(&mut self) -> ActorResult<()> {
        let log = self.deps.store.partition_log(self.spec.uid);
        let (log_start_offset, log_end_offset) = log.recover_offsets()?;
        let log_bytes = log.log_bytes(0)?;
        let cleaned_upto = log.cleaned_upto()?;
        let dirty_bytes = log.log_bytes(cleaned_upto)?;
        let head_base_offset = log.head_base_offset()?.unwrap_or(log_end_offset);
        let mut producers = HashMap::new();
        for (id, bytes) in log.load_producers()? {
            producers.insert(id, postcard::from_bytes::<ProducerEntry>(&bytes)?);
        }
        self.state = Some(LogState {
            log,
            log_start_offset,
            log_end_offset,
            unflushed_records: 0,
            waiters: Vec::new(),
            replica_waiters: Vec::new(),
            commit_waiters: Vec::new(),
            // Unknown until the ISR reports (a single-node leader sets it below).
            high_watermark: log_start_offset,
            followers: HashMap::new(),
            isr_proposed: None,
            log_bytes,
            cleaned_upto,
            dirty_bytes,
            head_base_offset,
            compacting: false,
            // A restart may have lost a tombstone's due time: check once on the first tick.
            tombstone_due_ms: Some(0),
            idle_at_end: None,
            producers,
        });
        self.reset_replication();
        self.publish_offsets();
        Ok(())
    }

    /// After a (re)load or a role change: forget what was known of followers (each gets a
    /// fresh lag allowance) and recompute the high watermark.
    fn reset_replication(&mut self) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let now = Instant::now();
        state.followers.clear();
        state.isr_proposed = None;
        if let Role::Leader { replicas, .. } = &self.spec.role {
            for r in replicas.iter().filter(|r| **r != self.spec.node_id) {
                state.followers.insert(
                    *r,
                    FollowerState {
                        end_offset: -1,
                        caught_up_at: now,
                        leader_end_at_last_fetch: state.log_end_offset,
                    },
                );
            }
        } else {
            // A follower answers no producer; whoever waited gets NOT_LEADER_OR_FOLLOWER.
            state.commit_waiters.clear();
        }
        state.high_watermark = state.high_watermark.min(state.log_end_offset);
        self.advance_high_watermark();
    }

    /// Recomputes the leader's high watermark — the least end offset over the ISR — and
    /// wakes whoever waited for it. It never goes down.
    fn advance_high_watermark(&mut self) {
        let Role::Leader { isr, .. } = &self.spec.role else {
            return;
        };
        let me = self.spec.node_id;
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let mut hw = state.log_end_offset;
        for r in isr.iter().filter(|r| **r != me) {
            let end = state.followers.get(r).map_or(-1, |f| f.end_offset);
            hw = hw.min(end);
        }
        if hw <= state.high_watermark {
            return;
        }
        state.high_watermark = hw;
        for waiter in state.waiters.drain(..) {
            let _ = waiter.send(());
        }
        // acks=all promised min.insync.replicas copies: an ISR that shrank below it since
        // the append answers NOT_ENOUGH_REPLICAS_AFTER_APPEND (retriable) instead.
        let short = isr.len() < self.spec.settings.min_insync_replicas;
        let mut pending = Vec::with_capacity(state.commit_waiters.len());
        for (offset, waiter) in state.commit_waiters.drain(..) {
            if offset <= hw {
                let _ = waiter.send(if short {
                    Err(ActorError::NotEnoughReplicasAfterAppend {
                        tp: self.spec.tp.to_string(),
                    })
                } else {
                    Ok(())
                });
            } else {
                pending.push((offset, waiter));
            }
        }
        state.commit_waiters = pending;
    }

    /// A fetcher's write is taken only by a follower of the epoch it follows: a fetch loop
    /// of an older leadership must never cut or extend the log of a newer one.
    fn require_follower(&self, leader_epoch: i32) -> ActorResult<()> {
        if matches!(self.spec.role, Role::Follower { .. }) && leader_epoch == self.spec.leader_epoch
        {
            return Ok(());
        }
        Err(ActorError::FencedLeaderEpoch {
            tp: self.spec.tp.to_string(),
            got: leader_epoch,
            current: self.spec.leader_epoch,
        })
    }

    fn require_leader(&self) -> ActorResult<()> {
        match self.spec.role {
            Role::Leader { .. } => Ok(()),
            Role::Follower { .. } => Err(ActorError::NotLeader(self.spec.tp.to_string())),
        }
    }

    /// The leader's ISR check (every few hundred ms): followers that have not caught up
    /// within `replica.lag.time.max.ms` leave, followers at the high watermark rejoin.
    fn check_isr(&mut self) {
        let Role::Leader { replicas, isr } = self.spec.role.clone() else {
            return;
        };
        let Some(proposals) = self.deps.isr_proposals.clone() else {
            return;
        };
        let lag_max = self.deps.replica_lag_max;
        let me = self.spec.node_id;
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let now = Instant::now();
        let mut wanted: Vec<i32> = Vec::with_capacity(replicas.len());
        for r in &replicas {
            if *r == me {
                wanted.push(me);
                continue;
            }
            let Some(f) = state.followers.get(r) else {
                continue;
            };
            let in_sync = if isr.contains(r) {
                now.duration_since(f.caught_up_at) <= lag_max
            } else {
                f.end_offset >= state.high_watermark
                    && f.end_offset >= state.log_end_offset.min(f.leader_end_at_last_fetch)
                    && now.duration_since(f.caught_up_at) <= lag_max
            };
            if in_sync {
                wanted.push(*r);
            }
        }
        let mut current = isr.clone();
        current.sort_unstable();
        let mut sorted = wanted.clone();
        sorted.sort_unstable();
        if sorted == current {
            state.isr_proposed = None;
            return;
        }
        let recently = state.isr_proposed.as_ref().is_some_and(|(isr, at)| {
            *isr == wanted && now.duration_since(*at) < Duration::from_secs(2)
        });
        if recently {
            return;
        }
        tracing::info!(partition = %self.spec.tp, from = ?isr, to = ?wanted, "proposing an ISR change");
        state.isr_proposed = Some((wanted.clone(), now));
        let _ = proposals.send(IsrProposal {
            tp: self.spec.tp.clone(),
            leader_epoch: self.spec.leader_epoch,
            leader: me,
            isr: wanted,
        });
    }

    fn publish_offsets(&self) {
        if let Some(s) = &self.state {
            let labels = [
                ("topic", self.spec.tp.topic.clone()),
                ("partition", self.spec.tp.partition.to_string()),
            ];
            metrics::gauge!("eddy_partition_log_end_offset", &labels).set(s.log_end_offset as f64);
            metrics::gauge!("eddy_partition_log_start_offset", &labels)
                .set(s.log_start_offset as f64);
        }
    }

    fn state(&mut self) -> ActorResult<&mut LogState> {
        match self.mode {
            Mode::Serving => {}
            Mode::Failed => return Err(ActorError::PartitionFailed(self.spec.tp.to_string())),
            Mode::Deleted => {
                return Err(ActorError::UnknownPartition {
                    topic: self.spec.tp.topic.clone(),
                    partition: self.spec.tp.partition,
                })
            }
        }
        if self.state.is_none() {
            self.load()?;
        }
        self.state.as_mut().ok_or_else(|| {
            ActorError::Unavailable(format!("partition {} has no state", self.spec.tp))
        })
    }

    /// Runs one handler's work with the panic guard: a panic stops the actor so that its
    /// supervisor restarts it from durable state.
    fn supervised<T>(
        &mut self,
        ctx: &mut Context<Self>,
        work: impl FnOnce(&mut Self) -> ActorResult<T>,
    ) -> ActorResult<T> {
        self.mailbox.fetch_sub(1, Ordering::Relaxed);
        match guard(|| work(self)) {
            Ok(result) => result,
            Err(panic) => {
                tracing::error!(partition = %self.spec.tp, error = %panic, "partition actor panicked; restarting");
                self.last_panic = Some(panic.clone());
                ctx.stop();
                Err(ActorError::Unavailable(format!(
                    "partition {} is restarting after a panic: {panic}",
                    self.spec.tp
                )))
            }
        }
    }

    fn append(&mut self, records: &[u8]) -> ActorResult<AppendOutcome> {
        let max = self.spec.settings.max_message_bytes;
        let leader_epoch = self.spec.leader_epoch;
        let flush_messages = self.spec.settings.flush_messages;
        // A failed or deleted partition, or a follower, refuses before looking at the batch.
        self.state()?;
        self.require_leader()?;
        let batches = batch::split_and_validate(records)?;
        if let Some((_, h)) = batches.iter().find(|(_, h)| h.size > max) {
            return Err(ActorError::BatchTooLarge { size: h.size, max });
        }
        // Every record is walked before anything is written: one bad batch refuses the
        // whole request, as Kafka's LogValidator does.
        let rules = log_validator::Rules::for_client(self.spec.settings.compact_policy, max);
        let valid = batches
            .iter()
            .map(|(at, h)| log_validator::validate(&records[*at..*at + h.size], h, &rules))
            .collect::<ActorResult<Vec<_>>>()?;
        let append_time = self.spec.settings.log_append_time.then(now_ms);
        let state = self.state()?;
        let plan = plan_append(state, &batches)?;
        let mut buf = BytesMut::from(records);
        let mut first_offset = None;
        let mut appended_records = 0i64;
        for step in &plan.steps {
            let (at, header) = &batches[step.batch];
            let offset = match step.duplicate_of {
                Some(original) => {
                    first_offset.get_or_insert(original);
                    continue;
                }
                None => state.log_end_offset,
            };
            let bytes = &mut buf[*at..*at + header.size];
            batch::assign_offset(bytes, offset, leader_epoch);
            if let Some(now) = append_time {
                batch::stamp_log_append_time(bytes, now);
            } else if valid[step.batch].max_timestamp != header.max_timestamp {
                batch::set_max_timestamp(bytes, valid[step.batch].max_timestamp);
            }
            let producer = match plan.producers.get(&header.producer_id) {
                Some(entry) => vec![(header.producer_id, postcard::to_stdvec(entry)?)],
                None => Vec::new(),
            };
            state.log.append(offset, bytes, &producer)?;
            first_offset.get_or_insert(offset);
            let next = offset + i64::from(header.last_offset_delta) + 1;
            assert!(next > state.log_end_offset, "offsets strictly increase");
            state.log_end_offset = next;
            state.head_base_offset = offset;
            state.log_bytes += header.size as u64;
            state.dirty_bytes += header.size as u64;
            appended_records += i64::from(header.records_count);
        }
        state.producers.extend(plan.producers);
        state.unflushed_records += appended_records;
        if state.unflushed_records >= flush_messages {
            if let Err(err) = state.log.sync() {
                // Durability is lost: refuse further writes rather than pretend (the appended
                // batches stay readable but were not acknowledged).
                self.poison(&err);
                return Err(err);
            }
            state.unflushed_records = 0;
        }
        if appended_records > 0 {
            for waiter in state.replica_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
        let base_offset = first_offset.unwrap_or(state.log_end_offset);
        let log_start_offset = state.log_start_offset;
        let end_offset = state.log_end_offset;
        self.advance_high_watermark();
        metrics::counter!("eddy_partition_records_in_total").increment(appended_records as u64);
        metrics::counter!("eddy_bytes_in_total").increment(records.len() as u64);
        self.publish_offsets();
        // Written (and fsynced if the flush policy asked for it), not yet acknowledged.
        crate::fault::point(crate::fault::APPEND_BEFORE_ACK);
        Ok(AppendOutcome {
            base_offset,
            log_start_offset,
            log_append_time_ms: append_time.unwrap_or(-1),
            end_offset,
        })
    }

    fn read(&mut self, offset: i64, max_bytes: usize) -> ActorResult<ReadOutcome> {
        self.state()?;
        self.require_leader()?;
        let state = self.state()?;
        let offsets = PartitionOffsets {
            log_start_offset: state.log_start_offset,
            high_watermark: state.high_watermark,
        };
        if offset < state.log_start_offset || offset > state.log_end_offset {
            return Err(ActorError::OffsetOutOfRange {
                offset,
                log_start_offset: state.log_start_offset,
                log_end_offset: state.log_end_offset,
            });
        }
        let read = state.log.read(offset, offsets.high_watermark, max_bytes)?;
        Ok(ReadOutcome {
            records: read.bytes,
            offsets,
        })
    }

    fn check_min_insync(&self) -> ActorResult<()> {
        if let Role::Leader { isr, .. } = &self.spec.role {
            let min = self.spec.settings.min_insync_replicas;
            if isr.len() < min {
                return Err(ActorError::NotEnoughReplicas {
                    tp: self.spec.tp.to_string(),
                    isr: isr.len(),
                    min,
                });
            }
        }
        Ok(())
    }

    /// The header of the batch holding `offset`, if stored.
    fn batch_at(&mut self, offset: i64) -> ActorResult<Option<batch::BatchHeader>> {
        let state = self.state()?;
        let read = state.log.read(offset, state.log_end_offset, 1)?;
        if read.bytes.is_empty() {
            return Ok(None);
        }
        batch::read_header(&read.bytes).map(Some)
    }

    /// Kafka's OffsetForLeaderEpoch over this log: the largest epoch at or below `epoch`
    /// that the log holds, and where it ends (the base offset of the first batch of a later
    /// epoch, or the log end offset); `(-1, log start)` when the log holds none.
    fn epoch_end_offset(&mut self, epoch: i32) -> ActorResult<(i32, i64)> {
        let end = self.first_offset_after_epoch(epoch)?;
        let state = self.state()?;
        if end <= state.log_start_offset {
            return Ok((-1, state.log_start_offset));
        }
        let found = state.log.header_before(end)?.map_or(-1, |h| h.leader_epoch);
        Ok((found, end))
    }

    /// The base offset of the first batch whose epoch is above `epoch` (or the log end).
    fn first_offset_after_epoch(&mut self, epoch: i32) -> ActorResult<i64> {
        let (start, end) = {
            let s = self.state()?;
            (s.log_start_offset, s.log_end_offset)
        };
        // Epochs only grow along the log: bisect over offsets (a handful of single-batch
        // reads).
        let (mut lo, mut hi) = (start, end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.batch_at(mid)? {
                Some(h) if h.leader_epoch > epoch => hi = h.base_offset.min(mid),
                Some(h) => lo = h.last_offset().max(mid) + 1,
                None => hi = mid,
            }
        }
        Ok(lo)
    }

    fn replica_fetch(&mut self, msg: ReplicaFetch) -> ActorResult<ReplicaFetchOutcome> {
        self.state()?;
        self.require_leader()?;
        if msg.leader_epoch != self.spec.leader_epoch {
            return Err(ActorError::FencedLeaderEpoch {
                tp: self.spec.tp.to_string(),
                got: msg.leader_epoch,
                current: self.spec.leader_epoch,
            });
        }
        let state = self.state()?;
        if msg.offset < state.log_start_offset {
            // The follower is behind this log's start (retention, DeleteRecords): it starts
            // over at the log start, which the answer carries.
            return Ok(ReplicaFetchOutcome {
                records: Bytes::new(),
                high_watermark: state.high_watermark,
                log_start_offset: state.log_start_offset,
                log_end_offset: state.log_end_offset,
            });
        }
        if msg.offset > state.log_end_offset {
            return Err(ActorError::OffsetOutOfRange {
                offset: msg.offset,
                log_start_offset: state.log_start_offset,
                log_end_offset: state.log_end_offset,
            });
        }
        let now = Instant::now();
        let leo = state.log_end_offset;
        let f = state.followers.entry(msg.replica).or_insert(FollowerState {
            end_offset: -1,
            caught_up_at: now,
            leader_end_at_last_fetch: leo,
        });
        if msg.offset >= f.leader_end_at_last_fetch || msg.offset >= leo {
            f.caught_up_at = now;
        }
        f.end_offset = msg.offset;
        f.leader_end_at_last_fetch = leo;
        self.advance_high_watermark();
        let state = self.state()?;
        let read = state
            .log
            .read(msg.offset, state.log_end_offset, msg.max_bytes)?;
        Ok(ReplicaFetchOutcome {
            records: read.bytes,
            high_watermark: state.high_watermark,
            log_start_offset: state.log_start_offset,
            log_end_offset: state.log_end_offset,
        })
    }

    fn append_replica(
        &mut self,
        records: &[u8],
        leader_hw: i64,
        leader_log_start: i64,
    ) -> ActorResult<i64> {
        self.state()?;
        if matches!(self.spec.role, Role::Leader { .. }) {
            return Err(ActorError::FencedLeaderEpoch {
                tp: self.spec.tp.to_string(),
                got: -1,
                current: self.spec.leader_epoch,
            });
        }
        if leader_log_start > self.state()?.log_end_offset {
            // Everything this replica holds is below the leader's log start: start over
            // there, empty.
            self.truncate_head(leader_log_start)?;
            self.state = None;
            self.load()?;
            tracing::info!(partition = %self.spec.tp, log_start_offset = leader_log_start, "replica restarts at the leader's log start");
            return Ok(self.state()?.log_end_offset);
        }
        let batches = if records.is_empty() {
            Vec::new()
        } else {
            batch::split_and_validate(records)?
        };
        // A leader's batches are checked like a client's (less what only a client may not
        // send), so a buggy or forged peer cannot poison this replica.
        let rules = log_validator::Rules::for_replica(self.spec.settings.max_message_bytes);
        for (at, h) in &batches {
            log_validator::validate(&records[*at..*at + h.size], h, &rules)?;
        }
        let flush_messages = self.spec.settings.flush_messages;
        let state = self.state()?;
        let mut appended = 0i64;
        for (at, h) in &batches {
            if h.last_offset() < state.log_end_offset {
                continue; // already have it
            }
            if h.base_offset != state.log_end_offset {
                return Err(ActorError::CorruptBatch(format!(
                    "replicated batch starts at {} but the log ends at {}",
                    h.base_offset, state.log_end_offset
                )));
            }
            let bytes = &records[*at..*at + h.size];
            let mut producer = Vec::new();
            if h.producer_id >= 0 {
                let mut entry = state
                    .producers
                    .get(&h.producer_id)
                    .cloned()
                    .unwrap_or_default();
                let seq = BatchSequence {
                    first_seq: h.base_sequence,
                    last_seq: producer_state::last_sequence(h.base_sequence, h.last_offset_delta),
                    base_offset: h.base_offset,
                };
                producer_state::record(&mut entry, h.producer_epoch, seq);
                producer.push((h.producer_id, postcard::to_stdvec(&entry)?));
                state.producers.insert(h.producer_id, entry);
            }
            state.log.append(h.base_offset, bytes, &producer)?;
            state.log_end_offset = h.last_offset() + 1;
            state.head_base_offset = h.base_offset;
            state.log_bytes += h.size as u64;
            state.dirty_bytes += h.size as u64;
            appended += i64::from(h.records_count);
        }
        state.unflushed_records += appended;
        if state.unflushed_records >= flush_messages {
            if let Err(err) = state.log.sync() {
                self.poison(&err);
                return Err(err);
            }
            state.unflushed_records = 0;
        }
        let state = self.state()?;
        state.high_watermark = leader_hw
            .min(state.log_end_offset)
            .max(state.high_watermark);
        let end = state.log_end_offset;
        // The log start follows the leader's (retention, DeleteRecords), never past what is
        // committed here.
        let start = leader_log_start.min(state.high_watermark);
        if start > state.log_start_offset {
            self.truncate_head(start)?;
        }
        self.publish_offsets();
        Ok(end)
    }

    /// Drops every batch holding an offset at or after `offset`, and the producer
    /// sequences they carried, then reloads the partition from what is left.
    fn truncate_tail(&mut self, offset: i64) -> ActorResult<i64> {
        if offset >= self.state()?.log_end_offset {
            return Ok(self.state()?.log_end_offset);
        }
        // Batches are kept whole: the one holding `offset` goes too, from its base.
        let cut = self
            .batch_at(offset)?
            .map_or(offset, |h| h.base_offset.min(offset));
        let state = self.state()?;
        let mut producers = Vec::new();
        for (id, entry) in &state.producers {
            if entry.batches.iter().any(|b| b.base_offset >= cut) {
                let mut kept = entry.clone();
                kept.batches.retain(|b| b.base_offset < cut);
                let bytes = if kept.batches.is_empty() {
                    None
                } else {
                    Some(postcard::to_stdvec(&kept)?)
                };
                producers.push((*id, bytes));
            }
        }
        let end = state.log.truncate_tail(offset, &producers)?;
        state.log.sync()?;
        let hw = state.high_watermark.min(end);
        tracing::warn!(partition = %self.spec.tp, offset, log_end_offset = end, "truncated divergent records");
        self.state = None;
        self.load()?;
        if let Some(state) = self.state.as_mut() {
            state.high_watermark = hw;
        }
        Ok(end)
    }

    /// Deletes whole batches from the head up to `before_offset` (exclusive) and moves the
    /// log start offset there. Used by retention and DeleteRecords.
    fn truncate_head(&mut self, before_offset: i64) -> ActorResult<i64> {
        let state = self.state()?;
        let mut deleted_any = true;
        while deleted_any {
            let head = state.log.head(TRUNCATE_BATCHES_MAX)?;
            let doomed: Vec<&batch::BatchHeader> = head
                .iter()
                .take_while(|h| h.last_offset() < before_offset)
                .collect();
            deleted_any = !doomed.is_empty() && doomed.len() == head.len();
            let bases: Vec<i64> = doomed.iter().map(|h| h.base_offset).collect();
            let bytes: u64 = doomed.iter().map(|h| h.size as u64).sum();
            let new_start = state.log_start_offset.max(before_offset);
            state.log.truncate_head(&bases, new_start)?;
            state.log_bytes = state.log_bytes.saturating_sub(bytes);
            state.log_start_offset = new_start;
        }
        let start = state.log_start_offset;
        self.publish_offsets();
        Ok(start)
    }

    fn enforce_retention(&mut self) {
        if !self.spec.settings.delete_policy {
            return;
        }
        let policy = self.spec.settings.retention;
        let now = now_ms();
        let Ok(state) = self.state() else { return };
        let head = match state.log.head(TRUNCATE_BATCHES_MAX) {
            Ok(head) => head,
            Err(err) => {
                tracing::error!(partition = %self.spec.tp, error = %err, "retention check failed");
                return;
            }
        };
        let count = retention::expired_head(&head, state.log_bytes, now, policy);
        if let Some(last) = count.checked_sub(1).and_then(|i| head.get(i)) {
            let before = last.last_offset() + 1;
            match self.truncate_head(before) {
                Ok(start) => {
                    tracing::info!(partition = %self.spec.tp, batches = count, log_start_offset = start, "retention deleted batches")
                }
                Err(err) => {
                    tracing::error!(partition = %self.spec.tp, error = %err, "retention delete failed")
                }
            }
        }
    }

    /// Starts a compaction pass on the compactor when the dirty ratio is reached or a kept
    /// tombstone is due; the partition keeps serving meanwhile.
    fn maybe_compact(&mut self, ctx: &mut Context<Self>) {
        let settings = self.spec.settings;
        let Some(compactor) = self.deps.compactor.clone() else {
            return;
        };
        if !settings.compact_policy {
            return;
        }
        let uid = self.spec.uid;
        let now = now_ms();
        let Ok(state) = self.state() else { return };
        let dirty_permille = (state.dirty_bytes * 1000)
            .checked_div(state.log_bytes)
            .unwrap_or(0);
        let tombstone_due = state.tombstone_due_ms.is_some_and(|t| t <= now);
        // Dirty records below the last batch, or a kept tombstone now due, make a pass worth it.
        let grew = state
            .idle_at_end
            .is_none_or(|(end, retry_at)| state.log_end_offset > end || now >= retry_at);
        let dirty = grew
            && state.head_base_offset > state.cleaned_upto
            && dirty_permille >= u64::from(settings.min_cleanable_dirty_permille);
        if state.compacting
            || state.head_base_offset <= state.log_start_offset
            || !(dirty || tombstone_due)
        {
            return;
        }
        state.compacting = true;
        let msg = Compact {
            uid,
            log_start_offset: state.log_start_offset,
            head_base_offset: state.head_base_offset,
            high_watermark: state.log_end_offset,
            now_ms: now,
            delete_retention_ms: settings.delete_retention_ms,
            min_compaction_lag_ms: settings.min_compaction_lag_ms,
        };
        ctx.spawn(compactor.send(msg).into_actor(self).map(|result, act, _ctx| {
            let result = result.map_err(ActorError::from).and_then(|r| r);
            if let Err(err) = act.finish_compaction(result) {
                tracing::error!(partition = %act.spec.tp, error = %err, "compaction not applied");
            }
        }));
    }

    fn finish_compaction(&mut self, result: ActorResult<CompactionOutcome>) -> ActorResult<()> {
        let tp = self.spec.tp.clone();
        let lag_ms = self.spec.settings.min_compaction_lag_ms;
        let state = self.state()?;
        state.compacting = false;
        let outcome = result?;
        // Retention may have deleted batches meanwhile: never bring one back.
        let mut changes = Vec::with_capacity(outcome.changes.len());
        for change in outcome.changes {
            if state.log.contains(change.0)? {
                changes.push(change);
            }
        }
        let previous_cleaned_upto = state.cleaned_upto;
        let cleaned_upto = outcome.cleaned_upto.max(state.cleaned_upto);
        state.log.apply_compaction(&changes, cleaned_upto)?;
        state.cleaned_upto = cleaned_upto;
        state.log_bytes = state.log.log_bytes(0)?;
        state.dirty_bytes = state.log.log_bytes(cleaned_upto)?;
        state.tombstone_due_ms = outcome.next_tombstone_expiry_ms;
        let progressed = outcome.records_removed > 0 || cleaned_upto > previous_cleaned_upto;
        let retry_in = lag_ms.clamp(IDLE_RETRY_MS_MIN, IDLE_RETRY_MS_MAX);
        state.idle_at_end = (!progressed).then_some((state.log_end_offset, now_ms() + retry_in));
        if outcome.records_removed == 0 {
            return Ok(());
        }
        tracing::info!(
            partition = %tp,
            scanned = outcome.records_scanned,
            removed = outcome.records_removed,
            batches_changed = changes.len(),
            cleaned_upto,
            elapsed_ms = outcome.elapsed_ms,
            "compacted"
        );
        Ok(())
    }

    fn flush_if_due(&mut self) {
        let Ok(state) = self.state() else { return };
        if state.unflushed_records == 0 {
            return;
        }
        match state.log.sync() {
            Ok(()) => state.unflushed_records = 0,
            Err(err) => self.poison(&err),
        }
    }

    /// After a failed fsync the partition is failed: it refuses every request until the node
    /// is restarted, and its supervisor escalates.
    fn poison(&mut self, err: &ActorError) {
        tracing::error!(partition = %self.spec.tp, error = %err, "fsync failed; partition refuses writes");
        self.mode = Mode::Failed;
        self.deps.supervisor.do_send(ChildEvent::Failed {
            tp: self.spec.tp.clone(),
            error: format!("fsync failed: {err}"),
        });
    }

    /// (Re)arms the `flush.ms` timer for the current settings.
    fn arm_flush_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.flush_timer.take() {
            ctx.cancel_future(handle);
        }
        let flush_ms = self.spec.settings.flush_ms;
        if flush_ms > 0 && flush_ms < i64::from(u32::MAX) {
            let every = Duration::from_millis(flush_ms as u64);
            self.flush_timer = Some(ctx.run_interval(every, |act, _| act.flush_if_due()));
        }
    }
}

/// One batch of an append: its index, and the offset it already has if it is a retry.
struct AppendStep {
    batch: usize,
    duplicate_of: Option<i64>,
}

/// The decisions for an append, taken before anything is written so that a refused batch
/// stores nothing: per batch append or duplicate, and the producers' new states.
struct AppendPlan {
    steps: Vec<AppendStep>,
    producers: HashMap<i64, ProducerEntry>,
}

fn plan_append(
    state: &LogState,
    batches: &[(usize, batch::BatchHeader)],
) -> ActorResult<AppendPlan> {
    let mut producers: HashMap<i64, ProducerEntry> = HashMap::new();
    let mut steps = Vec::with_capacity(batches.len());
    let mut next = state.log_end_offset;
    for (i, (_, h)) in batches.iter().enumerate() {
        if h.producer_id < 0 {
            steps.push(AppendStep {
                batch: i,
                duplicate_of: None,
            });
            next += i64::from(h.last_offset_delta) + 1;
            continue;
        }
        let known = producers
            .get(&h.producer_id)
            .or_else(|| state.producers.get(&h.producer_id))
            .cloned();
        let last_seq = producer_state::last_sequence(h.base_sequence, h.last_offset_delta);
        match producer_state::check(known.as_ref(), h.producer_epoch, h.base_sequence, last_seq) {
            SequenceCheck::Append => {
                let mut entry = known.unwrap_or_default();
                let seq = BatchSequence {
                    first_seq: h.base_sequence,
                    last_seq,
                    base_offset: next,
                };
                producer_state::record(&mut entry, h.producer_epoch, seq);
                producers.insert(h.producer_id, entry);
                steps.push(AppendStep {
                    batch: i,
                    duplicate_of: None,
                });
                next += i64::from(h.last_offset_delta) + 1;
            }
            SequenceCheck::Duplicate { base_offset } => {
                steps.push(AppendStep {
                    batch: i,
                    duplicate_of: Some(base_offset),
                });
            }
            SequenceCheck::OutOfOrder { expected } => {
                return Err(ActorError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected,
                    got: h.base_sequence,
                });
            }
            SequenceCheck::Fenced { current } => {
                return Err(ActorError::ProducerFenced {
                    producer_id: h.producer_id,
                    epoch: h.producer_epoch,
                    current,
                });
            }
        }
    }
    Ok(AppendPlan { steps, producers })
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.mode == Mode::Failed {
            return;
        }
        if tokio::runtime::Handle::try_current().is_err() {
            // The node stopped this arbiter before the actor ever ran (a partition created
            // just before shutdown): actix starts it while dropping it, outside any
            // runtime, where arming timers would panic. There is nothing to serve.
            return;
        }
        if let Err(err) = self.load() {
            // A store that cannot be read is an operating error, not a bug: report it and
            // serve errors rather than crash-looping.
            tracing::error!(partition = %self.spec.tp, error = %err, "cannot load partition");
            self.mode = Mode::Failed;
            self.deps.supervisor.do_send(ChildEvent::Failed {
                tp: self.spec.tp.clone(),
                error: err.to_string(),
            });
            return;
        }
        self.flush_timer = None;
        self.arm_flush_timer(ctx);
        ctx.run_interval(self.deps.retention_check, |act, _| act.enforce_retention());
        ctx.run_interval(self.deps.cleaner_backoff, |act, ctx| act.maybe_compact(ctx));
        if self.deps.isr_proposals.is_some() {
            // Only cluster mode has ISRs to change; a single node's 10,000 idle partitions
            // would otherwise wake 20,000 times a second for nothing.
            let isr_check = (self.deps.replica_lag_max / 4)
                .clamp(Duration::from_millis(50), Duration::from_millis(500));
            ctx.run_interval(isr_check, |act, _| act.check_isr());
        }
        self.deps.supervisor.do_send(ChildEvent::Running {
            tp: self.spec.tp.clone(),
        });
    }
}

impl Supervised for PartitionActor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // Never reuse state after a panic: drop it (waking parked fetches) and reload.
        self.state = None;
        let error = self
            .last_panic
            .take()
            .unwrap_or_else(|| "stopped".to_string());
        match self
            .restart_window
            .on_abnormal_stop(Instant::now(), self.deps.intensity)
        {
            RestartDecision::Restart => {
                self.deps.supervisor.do_send(ChildEvent::Restarting {
                    tp: self.spec.tp.clone(),
                    error,
                });
            }
            RestartDecision::GiveUp => {
                tracing::error!(partition = %self.spec.tp, "restart intensity exceeded; partition marked failed");
                self.mode = Mode::Failed;
                self.deps.supervisor.do_send(ChildEvent::Failed {
                    tp: self.spec.tp.clone(),
                    error,
                });
            }
        }
    }
}

/// Any partition message with its reply channel, sent with `do_send`: actix's `send` parks
/// a sender whose target mailbox is full and retries later, which can reorder pipelined
/// produce requests to one partition; `do_send` enqueues at once, in call order. The queue
/// is bounded by the callers instead (each connection caps its requests in flight).
pub struct Call<M: Message> {
    /// The message.
    pub msg: M,
    /// Where the typed reply goes.
    pub reply: oneshot::Sender<M::Result>,
}

impl<M> Message for Call<M>
where
    M: Message,
{
    type Result = ();
}

/// Makes a message callable through [`Call`]. (A blanket impl over every `Handler<M>`
/// sends the trait solver into a loop through `Call<Call<…>>`.)
macro_rules! callable {
    ($($msg:ty),*) => {$(
        impl Handler<Call<$msg>> for PartitionActor {
            type Result = ();

            fn handle(&mut self, call: Call<$msg>, ctx: &mut Self::Context) {
                let result = <Self as Handler<$msg>>::handle(self, call.msg, ctx);
                let _ = call.reply.send(result);
            }
        }
    )*};
}

callable!(
    Append,
    Read,
    WaitForAppend,
    GetOffsets,
    FindByTimestamp,
    Delete,
    DeleteRecords,
    WaitForCommit,
    ReplicaFetch,
    WaitForReplicaData,
    AppendReplica,
    TruncateTo,
    EpochEndOffset,
    LastEpoch,
    GetLogBytes
);
#[cfg(test)]
callable!(InjectPanic);

/// Append produced record batches (the `records` field of one partition of a produce
/// request). All batches are checked before any is stored.
#[derive(Message)]
#[rtype(result = "ActorResult<AppendOutcome>")]
pub struct Append {
    /// One or more magic-2 record batches.
    pub records: Bytes,
    /// acks=all: refused (NOT_ENOUGH_REPLICAS) while the ISR is below min.insync.replicas.
    pub acks_all: bool,
}

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// The append time stamped into the batches, or -1 for CreateTime topics.
    pub log_append_time_ms: i64,
    /// The log end offset after the append: acks=all waits until the high watermark
    /// reaches it.
    pub end_offset: i64,
}

impl Handler<Append> for PartitionActor {
    type Result = ActorResult<AppendOutcome>;

    fn handle(&mut self, msg: Append, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            if msg.acks_all {
                act.check_min_insync()?;
            }
            act.append(&msg.records)
        })
    }
}

/// Read stored batches from `offset`, up to the high watermark and about `max_bytes`.
#[derive(Message)]
#[rtype(result = "ActorResult<ReadOutcome>")]
pub struct Read {
    /// First offset wanted.
    pub offset: i64,
    /// Soft byte limit (at least one batch is returned).
    pub max_bytes: usize,
}

/// The result of a read.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// Whole batches, as stored.
    pub records: Bytes,
    /// The partition's offsets at the time of the read.
    pub offsets: PartitionOffsets,
}

impl Handler<Read> for PartitionActor {
    type Result = ActorResult<ReadOutcome>;

    fn handle(&mut self, msg: Read, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| act.read(msg.offset, msg.max_bytes))
    }
}

/// Park until the log end offset passes `offset`; answers at once if it already has.
#[derive(Message)]
#[rtype(result = "ActorResult<oneshot::Receiver<()>>")]
pub struct WaitForAppend {
    /// The fetcher's next offset.
    pub offset: i64,
}

impl Handler<WaitForAppend> for PartitionActor {
    type Result = ActorResult<oneshot::Receiver<()>>;

    fn handle(&mut self, msg: WaitForAppend, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            let state = act.state()?;
            let ready = state.high_watermark > msg.offset;
            Ok(park(&mut state.waiters, ready))
        })
    }
}

/// Parks a fetch until woken, or answers at once when `ready` — or when `waiters` is full
/// (after dropping the fetches that already gave up), so a flood of long polls degrades to
/// short polls instead of growing memory.
fn park(waiters: &mut Vec<oneshot::Sender<()>>, ready: bool) -> oneshot::Receiver<()> {
    let (tx, rx) = oneshot::channel();
    if waiters.len() >= FETCH_WAITERS_MAX {
        waiters.retain(|w| !w.is_closed());
    }
    if ready || waiters.len() >= FETCH_WAITERS_MAX {
        let _ = tx.send(());
    } else {
        waiters.push(tx);
    }
    rx
}

/// The partition's current offsets.
#[derive(Message)]
#[rtype(result = "ActorResult<PartitionOffsets>")]
pub struct GetOffsets;

impl Handler<GetOffsets> for PartitionActor {
    type Result = ActorResult<PartitionOffsets>;

    fn handle(&mut self, _msg: GetOffsets, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            act.state()?;
            act.require_leader()?;
            let s = act.state()?;
            Ok(PartitionOffsets {
                log_start_offset: s.log_start_offset,
                high_watermark: s.high_watermark,
            })
        })
    }
}

/// The bytes this replica's log holds (leader or follower), as DescribeLogDirs reports
/// them: the stored batches from the log start on.
#[derive(Message)]
#[rtype(result = "ActorResult<u64>")]
pub struct GetLogBytes;

impl Handler<GetLogBytes> for PartitionActor {
    type Result = ActorResult<u64>;

    fn handle(&mut self, _msg: GetLogBytes, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| Ok(act.state()?.log_bytes))
    }
}

/// The first batch at or after the log start whose max timestamp is at or after
/// `timestamp` (ListOffsets by time), with the log start offset: records below it no
/// longer count even if their batch is still stored.
#[derive(Message)]
#[rtype(result = "ActorResult<Option<(Bytes, i64)>>")]
pub struct FindByTimestamp {
    /// Target timestamp in ms.
    pub timestamp: i64,
}

impl Handler<FindByTimestamp> for PartitionActor {
    type Result = ActorResult<Option<(Bytes, i64)>>;

    fn handle(&mut self, msg: FindByTimestamp, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            act.state()?;
            act.require_leader()?;
            let state = act.state()?;
            let start = state.log_start_offset;
            let hw = state.high_watermark;
            // Only committed batches: one at or past the high watermark may still be
            // truncated.
            Ok(state
                .log
                .find_by_timestamp(msg.timestamp, start)?
                .filter(|b| batch::read_header(b).is_ok_and(|h| h.base_offset < hw))
                .map(|b| (b, start)))
        })
    }
}

/// DeleteRecords: delete everything below `before_offset` (-1 = the high watermark) and
/// answer the new log start offset (the low watermark).
#[derive(Message)]
#[rtype(result = "ActorResult<i64>")]
pub struct DeleteRecords {
    /// First offset to keep.
    pub before_offset: i64,
}

impl Handler<DeleteRecords> for PartitionActor {
    type Result = ActorResult<i64>;

    fn handle(&mut self, msg: DeleteRecords, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            act.state()?;
            act.require_leader()?;
            let state = act.state()?;
            let end = state.high_watermark;
            let before = if msg.before_offset == -1 {
                end
            } else {
                msg.before_offset
            };
            if before < 0 || before > end {
                return Err(ActorError::OffsetOutOfRange {
                    offset: before,
                    log_start_offset: state.log_start_offset,
                    log_end_offset: end,
                });
            }
            act.truncate_head(before)
        })
    }
}

/// A new spec: settings after a config change, or a new role, leader epoch or ISR.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateSpec(pub PartitionSpec);

impl Handler<UpdateSpec> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: UpdateSpec, ctx: &mut Self::Context) {
        self.mailbox.fetch_sub(1, Ordering::Relaxed);
        let new = msg.0;
        let rearm = self.spec.settings.flush_ms != new.settings.flush_ms;
        let isr_changed = self.spec.role != new.role;
        let role_changed = self.spec.leader_epoch != new.leader_epoch
            || std::mem::discriminant(&self.spec.role) != std::mem::discriminant(&new.role);
        if role_changed {
            tracing::info!(partition = %new.tp, epoch = new.leader_epoch, role = ?new.role, "partition role changed");
        }
        self.spec = new;
        if rearm {
            self.arm_flush_timer(ctx);
        }
        if role_changed {
            self.reset_replication();
        } else {
            // Same leadership, maybe a new ISR: the high watermark may move, and a pending
            // proposal was answered (an unchanged ISR keeps the re-proposal throttle).
            if let Some(state) = self.state.as_mut().filter(|_| isr_changed) {
                state.isr_proposed = None;
            }
            self.advance_high_watermark();
        }
    }
}

/// acks=all: a receiver that answers once the high watermark reaches `offset` (or with an
/// error if this replica stops leading or the ISR falls below min.insync.replicas).
#[derive(Message)]
#[rtype(result = "ActorResult<oneshot::Receiver<ActorResult<()>>>")]
pub struct WaitForCommit {
    /// The end offset the produce needs committed.
    pub offset: i64,
}

impl Handler<WaitForCommit> for PartitionActor {
    type Result = ActorResult<oneshot::Receiver<ActorResult<()>>>;

    fn handle(&mut self, msg: WaitForCommit, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            act.state()?;
            act.require_leader()?;
            let state = act.state()?;
            let (tx, rx) = oneshot::channel();
            if state.high_watermark >= msg.offset {
                let _ = tx.send(Ok(()));
            } else {
                state.commit_waiters.push((msg.offset, tx));
            }
            Ok(rx)
        })
    }
}

/// A follower's fetch: records from `offset` up to the log end, and the leader's high
/// watermark. The offset is the follower's log end offset, which moves the high watermark.
#[derive(Message)]
#[rtype(result = "ActorResult<ReplicaFetchOutcome>")]
pub struct ReplicaFetch {
    /// The follower's node id.
    pub replica: i32,
    /// The follower's leader epoch (must be this leader's).
    pub leader_epoch: i32,
    /// The follower's log end offset.
    pub offset: i64,
    /// Soft byte limit (at least one batch).
    pub max_bytes: usize,
}

/// The answer to a replica fetch.
#[derive(Debug, Clone)]
pub struct ReplicaFetchOutcome {
    /// Whole batches, offsets as assigned by the leader.
    pub records: Bytes,
    /// The leader's high watermark.
    pub high_watermark: i64,
    /// The leader's log start offset.
    pub log_start_offset: i64,
    /// The leader's log end offset.
    pub log_end_offset: i64,
}

impl Handler<ReplicaFetch> for PartitionActor {
    type Result = ActorResult<ReplicaFetchOutcome>;

    fn handle(&mut self, msg: ReplicaFetch, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| act.replica_fetch(msg))
    }
}

/// Park a replica fetch until the log end offset passes `offset` (answers at once if it has).
#[derive(Message)]
#[rtype(result = "ActorResult<oneshot::Receiver<()>>")]
pub struct WaitForReplicaData {
    /// The follower's next offset.
    pub offset: i64,
}

impl Handler<WaitForReplicaData> for PartitionActor {
    type Result = ActorResult<oneshot::Receiver<()>>;

    fn handle(&mut self, msg: WaitForReplicaData, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            let state = act.state()?;
            let ready = state.log_end_offset > msg.offset;
            Ok(park(&mut state.replica_waiters, ready))
        })
    }
}

/// A follower appends batches fetched from its leader, offsets unchanged.
#[derive(Message)]
#[rtype(result = "ActorResult<i64>")]
pub struct AppendReplica {
    /// The leader epoch the fetcher follows (must be this replica's).
    pub leader_epoch: i32,
    /// Whole batches as the leader stored them.
    pub records: Bytes,
    /// The leader's high watermark.
    pub leader_high_watermark: i64,
    /// The leader's log start offset (the follower's follows it).
    pub leader_log_start_offset: i64,
}

impl Handler<AppendReplica> for PartitionActor {
    type Result = ActorResult<i64>;

    fn handle(&mut self, msg: AppendReplica, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            act.require_follower(msg.leader_epoch)?;
            act.append_replica(
                &msg.records,
                msg.leader_high_watermark,
                msg.leader_log_start_offset,
            )
        })
    }
}

/// A follower drops every record at or after `offset` (its leader does not have them).
/// Answers the new log end offset.
#[derive(Message)]
#[rtype(result = "ActorResult<i64>")]
pub struct TruncateTo {
    /// The leader epoch the fetcher follows (must be this replica's).
    pub leader_epoch: i32,
    /// First offset to drop.
    pub offset: i64,
}

impl Handler<TruncateTo> for PartitionActor {
    type Result = ActorResult<i64>;

    fn handle(&mut self, msg: TruncateTo, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            act.require_follower(msg.leader_epoch)?;
            act.truncate_tail(msg.offset)
        })
    }
}

/// Kafka's OffsetForLeaderEpoch: `(the largest epoch at or below `epoch` in this log,
/// where it ends)`, `(-1, log start)` if none. Asked of the leader by a follower (`leader`
/// set: refused elsewhere), and of the follower's own log to compare.
#[derive(Message)]
#[rtype(result = "ActorResult<(i32, i64)>")]
pub struct EpochEndOffset {
    /// The epoch asked about.
    pub epoch: i32,
    /// Only a leader answers.
    pub leader: bool,
}

impl Handler<EpochEndOffset> for PartitionActor {
    type Result = ActorResult<(i32, i64)>;

    fn handle(&mut self, msg: EpochEndOffset, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            act.state()?;
            if msg.leader {
                act.require_leader()?;
            }
            act.epoch_end_offset(msg.epoch)
        })
    }
}

/// `(epoch of the last batch, log end offset)`: where a new follower starts its
/// truncation check. The epoch is -1 for an empty log.
#[derive(Message)]
#[rtype(result = "ActorResult<(i32, i64)>")]
pub struct LastEpoch;

impl Handler<LastEpoch> for PartitionActor {
    type Result = ActorResult<(i32, i64)>;

    fn handle(&mut self, _msg: LastEpoch, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            let state = act.state()?;
            let end = state.log_end_offset;
            if end <= state.log_start_offset {
                return Ok((-1, end));
            }
            let last = state.log.head_base_offset()?.unwrap_or(end);
            let epoch = act.batch_at(last)?.map_or(-1, |h| h.leader_epoch);
            Ok((epoch, end))
        })
    }
}

/// Delete the partition's data (topic deletion). The actor refuses everything afterwards
/// and ends when its last address is dropped.
#[derive(Message)]
#[rtype(result = "ActorResult<()>")]
pub struct Delete;

impl Handler<Delete> for PartitionActor {
    type Result = ActorResult<()>;

    fn handle(&mut self, _msg: Delete, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |act| {
            act.state()?.log.destroy()?;
            act.state = None;
            act.mode = Mode::Deleted;
            Ok(())
        })
    }
}

/// Test-only: panic inside a handler, to prove the supervisor restarts the actor.
#[cfg(test)]
#[derive(Message)]
#[rtype(result = "ActorResult<()>")]
pub struct InjectPanic;

#[cfg(test)]
impl Handler<InjectPanic> for PartitionActor {
    type Result = ActorResult<()>;

    fn handle(&mut self, _msg: InjectPanic, ctx: &mut Self::Context) -> Self::Result {
        self.supervised(ctx, |_| panic!("injected panic"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::tests::{make_batch, make_idempotent_batch};
    use crate::partition_supervisor::{EnsurePartition, PartitionHandle, ReportChildren};
    use crate::supervision::ChildState;

    fn spec() -> PartitionSpec {
        PartitionSpec {
            tp: TopicPartition::new("orders", 0),
            uid: 1,
            leader_epoch: 0,
            settings: PartitionSettings {
                flush_messages: i64::MAX,
                flush_ms: i64::MAX,
                max_message_bytes: 1 << 20,
                delete_policy: true,
                retention: RetentionPolicy {
                    retention_ms: -1,
                    retention_bytes: -1,
                },
                log_append_time: false,
                compact_policy: false,
                delete_retention_ms: 86_400_000,
                min_compaction_lag_ms: 0,
                min_cleanable_dirty_permille: 500,
                min_insync_replicas: 1,
            },
            node_id: 1,
            role: Role::Leader {
                replicas: vec![1],
                isr: vec![1],
            },
        }
    }

    async fn start(
        dir: &std::path::Path,
        restarts_max: usize,
    ) -> (Addr<PartitionSupervisor>, PartitionHandle) {
        let store = Store::open(dir).expect("open store");
        let intensity = RestartIntensity {
            restarts_max,
            window: Duration::from_secs(60),
        };
        let config = crate::partition_supervisor::PartitionSupervisorConfig {
            store,
            intensity,
            retention_check: Duration::from_secs(3600),
            cleaner_backoff: Duration::from_secs(3600),
            compactor: None,
            replica_lag_max: Duration::from_secs(30),
            isr_proposals: None,
        };
        let sup = PartitionSupervisor::new(config, vec![Arbiter::current()]).start();
        let handle = sup.send(EnsurePartition(spec())).await.expect("ensure");
        (sup, handle)
    }

    async fn settle(
        sup: &Addr<PartitionSupervisor>,
        state: ChildState,
    ) -> crate::supervision::SupervisorReport {
        for _ in 0..100 {
            let rows = sup.send(ReportChildren).await.expect("report");
            if rows[0].state == state {
                return rows[0].clone();
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("partition never reached {state:?}");
    }

    #[actix_rt::test]
    async fn panicking_partition_restarts_and_reloads_from_fjall() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (sup, p) = start(dir.path(), 3).await;
        let first = p
            .send(Append {
                records: make_batch(3, b"abc").into(),
                acks_all: false,
            })
            .await
            .expect("send")
            .expect("append");
        assert_eq!(first.base_offset, 0);
        assert!(
            p.send(InjectPanic).await.expect("send").is_err(),
            "the panic is reported as an error"
        );
        let report = settle(&sup, ChildState::Running).await;
        assert_eq!(report.restarts, 1);
        assert_eq!(report.last_error.as_deref(), Some("injected panic"));
        // State was reloaded from fjall: the next append continues after offset 2.
        let next = p
            .send(Append {
                records: make_batch(2, b"de").into(),
                acks_all: false,
            })
            .await
            .expect("send")
            .expect("append");
        assert_eq!(next.base_offset, 3);
        let read = p
            .send(Read {
                offset: 0,
                max_bytes: 1 << 20,
            })
            .await
            .expect("send")
            .expect("read");
        assert_eq!(read.offsets.high_watermark, 5);
        assert_eq!(p.mailbox_depth(), 0);
    }

    #[actix_rt::test]
    async fn restart_intensity_exceeded_marks_partition_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (sup, p) = start(dir.path(), 2).await;
        for _ in 0..3 {
            let _ = p.send(InjectPanic).await.expect("send");
        }
        let report = settle(&sup, ChildState::Failed).await;
        assert_eq!(report.restarts, 2);
        let refused = p.send(GetOffsets).await.expect("send");
        assert!(
            matches!(refused, Err(ActorError::PartitionFailed(_))),
            "got {refused:?}"
        );
    }

    #[actix_rt::test]
    async fn corrupt_batch_is_refused_and_nothing_stored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_sup, p) = start(dir.path(), 3).await;
        let mut bad = make_batch(1, b"x");
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let mut both = make_batch(1, b"ok");
        both.extend(bad);
        let res = p
            .send(Append {
                records: both.into(),
                acks_all: false,
            })
            .await
            .expect("send");
        assert!(
            matches!(res, Err(ActorError::CorruptBatch(_))),
            "got {res:?}"
        );
        let offsets = p.send(GetOffsets).await.expect("send").expect("offsets");
        assert_eq!(
            offsets.high_watermark, 0,
            "the valid first batch was not stored either"
        );
    }

    #[actix_rt::test]
    async fn fetch_waiter_is_woken_by_append() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_sup, p) = start(dir.path(), 3).await;
        let waiter = p
            .send(WaitForAppend { offset: 0 })
            .await
            .expect("send")
            .expect("wait");
        p.send(Append {
            records: make_batch(1, b"x").into(),
            acks_all: false,
        })
        .await
        .expect("send")
        .expect("append");
        actix_rt::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken")
            .expect("sent");
    }

    #[actix_rt::test]
    async fn retried_idempotent_batch_is_stored_once_even_after_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (sup, p) = start(dir.path(), 3).await;
        let first = make_idempotent_batch(3, b"abc", 42, 0, 0);
        let a = p
            .send(Append {
                records: first.clone().into(),
                acks_all: false,
            })
            .await
            .expect("send")
            .expect("append");
        let retry = p
            .send(Append {
                records: first.clone().into(),
                acks_all: false,
            })
            .await
            .expect("send")
            .expect("retry");
        assert_eq!(
            retry.base_offset, a.base_offset,
            "a retry gets its original offset"
        );
        let gap = p
            .send(Append {
                records: make_idempotent_batch(1, b"x", 42, 0, 7).into(),
                acks_all: false,
            })
            .await
            .expect("send");
        assert!(
            matches!(
                gap,
                Err(ActorError::OutOfOrderSequence {
                    expected: 3,
                    got: 7,
                    ..
                })
            ),
            "got {gap:?}"
        );
        let zombie = p
            .send(Append {
                records: make_idempotent_batch(1, b"x", 42, -1, 3).into(),
                acks_all: false,
            })
            .await
            .expect("send");
        assert!(
            matches!(zombie, Err(ActorError::ProducerFenced { .. })),
            "got {zombie:?}"
        );
        // Producer state is rebuilt from fjall on restart: the retry is still recognised.
        let _ = p.send(InjectPanic).await.expect("send");
        settle(&sup, ChildState::Running).await;
        let again = p
            .send(Append {
                records: first.into(),
                acks_all: false,
            })
            .await
            .expect("send")
            .expect("retry after restart");
        assert_eq!(again.base_offset, 0);
        let offsets = p.send(GetOffsets).await.expect("send").expect("offsets");
        assert_eq!(offsets.high_watermark, 3, "stored once");
    }

    #[actix_rt::test]
    async fn delete_records_moves_log_start_and_survives_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (sup, p) = start(dir.path(), 3).await;
        for _ in 0..3 {
            p.send(Append {
                records: make_batch(2, b"ab").into(),
                acks_all: false,
            })
            .await
            .expect("send")
            .expect("append");
        }
        let low = p
            .send(DeleteRecords { before_offset: 3 })
            .await
            .expect("send")
            .expect("delete");
        assert_eq!(low, 3);
        let below = p
            .send(Read {
                offset: 1,
                max_bytes: 1 << 20,
            })
            .await
            .expect("send");
        assert!(
            matches!(
                below,
                Err(ActorError::OffsetOutOfRange {
                    log_start_offset: 3,
                    ..
                })
            ),
            "got {below:?}"
        );
        let read = p
            .send(Read {
                offset: 3,
                max_bytes: 1 << 20,
            })
            .await
            .expect("send")
            .expect("read");
        assert_eq!(
            crate::batch::read_header(&read.records)
                .expect("header")
                .base_offset,
            2,
            "the batch holding 3 stays"
        );
        let beyond = p
            .send(DeleteRecords { before_offset: 99 })
            .await
            .expect("send");
        assert!(beyond.is_err());
        let _ = p.send(InjectPanic).await.expect("send");
        settle(&sup, ChildState::Running).await;
        let offsets = p.send(GetOffsets).await.expect("send").expect("offsets");
        assert_eq!((offsets.log_start_offset, offsets.high_watermark), (3, 6));
        let all = p
            .send(DeleteRecords { before_offset: -1 })
            .await
            .expect("send")
            .expect("delete all");
        assert_eq!(all, 6);
        let _ = p.send(InjectPanic).await.expect("send");
        settle(&sup, ChildState::Running).await;
        let offsets = p.send(GetOffsets).await.expect("send").expect("offsets");
        assert_eq!(
            (offsets.log_start_offset, offsets.high_watermark),
            (6, 6),
            "an emptied log keeps its end offset"
        );
    }

    /// Appends `count` records of `body` and expects success.
    async fn append(p: &PartitionHandle, count: i32, body: &[u8], acks_all: bool) -> AppendOutcome {
        p.send(Append {
            records: make_batch(count, body).into(),
            acks_all,
        })
        .await
        .expect("send")
        .expect("append")
    }

    /// One replica of `orders-0` on its own store, with the given role and epoch.
    async fn replica(
        dir: &std::path::Path,
        node_id: i32,
        role: Role,
        epoch: i32,
    ) -> (Addr<PartitionSupervisor>, PartitionHandle) {
        let config = crate::partition_supervisor::PartitionSupervisorConfig {
            store: Store::open(dir).expect("open store"),
            intensity: RestartIntensity::default(),
            retention_check: Duration::from_secs(3600),
            cleaner_backoff: Duration::from_secs(3600),
            compactor: None,
            replica_lag_max: Duration::from_secs(30),
            isr_proposals: None,
        };
        let sup = PartitionSupervisor::new(config, vec![Arbiter::current()]).start();
        let mut s = spec();
        s.node_id = node_id;
        s.role = role;
        s.leader_epoch = epoch;
        let handle = sup.send(EnsurePartition(s)).await.expect("ensure");
        (sup, handle)
    }

    /// Pulls once from `leader` into `follower`, as a ReplicaFetcher does.
    async fn pull(leader: &PartitionHandle, follower: &PartitionHandle, epoch: i32) -> i64 {
        let (_, offset) = follower
            .send(LastEpoch)
            .await
            .expect("send")
            .expect("epoch");
        let data = leader
            .send(ReplicaFetch {
                replica: 2,
                leader_epoch: epoch,
                offset,
                max_bytes: 1 << 20,
            })
            .await
            .expect("send")
            .expect("fetch");
        follower
            .send(AppendReplica {
                leader_epoch: epoch,
                records: data.records,
                leader_high_watermark: data.high_watermark,
                leader_log_start_offset: data.log_start_offset,
            })
            .await
            .expect("send")
            .expect("append")
    }

    fn leader_of_two() -> Role {
        Role::Leader {
            replicas: vec![1, 2],
            isr: vec![1, 2],
        }
    }

    #[actix_rt::test]
    async fn the_high_watermark_waits_for_the_isr_and_acks_all_with_it() {
        let (dl, df) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (_ls, leader) = replica(dl.path(), 1, leader_of_two(), 0).await;
        let (_fs, follower) = replica(df.path(), 2, Role::Follower { leader: 1 }, 0).await;
        let appended = append(&leader, 3, b"abc", true).await;
        assert_eq!(appended.end_offset, 3);
        let committed = leader
            .send(WaitForCommit { offset: 3 })
            .await
            .expect("send")
            .expect("wait");
        let offsets = leader
            .send(GetOffsets)
            .await
            .expect("send")
            .expect("offsets");
        assert_eq!(
            offsets.high_watermark, 0,
            "the follower has not fetched yet"
        );
        // A consumer sees nothing above the high watermark.
        let read = leader
            .send(Read {
                offset: 0,
                max_bytes: 1 << 20,
            })
            .await
            .expect("send")
            .expect("read");
        assert!(read.records.is_empty());
        assert_eq!(pull(&leader, &follower, 0).await, 3);
        // The next fetch reports offset 3: now both replicas have the batch.
        assert_eq!(pull(&leader, &follower, 0).await, 3);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), committed)
                .await
                .expect("acks=all answered")
                .expect("sender kept"),
            Ok(())
        );
        let offsets = leader
            .send(GetOffsets)
            .await
            .expect("send")
            .expect("offsets");
        assert_eq!(offsets.high_watermark, 3);
        // A follower refuses clients, and a stale epoch is fenced.
        assert!(matches!(
            follower.send(GetOffsets).await.expect("send"),
            Err(ActorError::NotLeader(_))
        ));
        let stale = leader
            .send(ReplicaFetch {
                replica: 2,
                leader_epoch: 7,
                offset: 3,
                max_bytes: 1,
            })
            .await
            .expect("send");
        assert!(matches!(stale, Err(ActorError::FencedLeaderEpoch { .. })));
    }

    #[actix_rt::test]
    async fn acks_all_is_refused_below_min_insync_replicas() {
        let dl = tempfile::tempdir().expect("dir");
        let role = Role::Leader {
            replicas: vec![1, 2],
            isr: vec![1],
        };
        let (sup, _) = replica(dl.path(), 1, role.clone(), 0).await;
        let mut s = spec();
        s.settings.min_insync_replicas = 2;
        s.role = role;
        let leader = sup.send(EnsurePartition(s)).await.expect("ensure");
        let refused = leader
            .send(Append {
                records: make_batch(1, b"a").into(),
                acks_all: true,
            })
            .await
            .expect("send");
        assert!(matches!(
            refused,
            Err(ActorError::NotEnoughReplicas { isr: 1, min: 2, .. })
        ));
        let acks_one = leader
            .send(Append {
                records: make_batch(1, b"a").into(),
                acks_all: false,
            })
            .await
            .expect("send");
        assert!(acks_one.is_ok(), "acks=1 does not need the ISR");
    }

    #[actix_rt::test]
    async fn a_former_leader_truncates_what_the_new_leader_does_not_have() {
        let (dl, df) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        // Node 2 leads epoch 0 and writes 5 records that node 1 copies, then 4 more
        // that nobody copies.
        let (sup2, old) = replica(df.path(), 2, leader_of_two(), 0).await;
        let (sup1, new) = replica(dl.path(), 1, Role::Follower { leader: 2 }, 0).await;
        for _ in 0..5 {
            append(&old, 1, b"x", false).await;
        }
        assert_eq!(pull(&old, &new, 0).await, 5);
        append(&old, 4, b"lost", false).await;
        // Node 1 becomes leader in epoch 1 and writes 2 records of its own.
        let mut s = spec();
        s.node_id = 1;
        s.leader_epoch = 1;
        s.role = Role::Leader {
            replicas: vec![1, 2],
            isr: vec![1],
        };
        let new = sup1.send(EnsurePartition(s)).await.expect("ensure");
        append(&new, 2, b"new", false).await;
        // Node 2 follows in epoch 1: its last epoch (0) ends at 5 in the new leader's log.
        let mut s = spec();
        s.node_id = 2;
        s.leader_epoch = 1;
        s.role = Role::Follower { leader: 1 };
        let old = sup2.send(EnsurePartition(s)).await.expect("ensure");
        let (last_epoch, end) = old.send(LastEpoch).await.expect("send").expect("epoch");
        assert_eq!((last_epoch, end), (0, 9));
        let (epoch, epoch_end) = new
            .send(EpochEndOffset {
                epoch: last_epoch,
                leader: true,
            })
            .await
            .expect("send")
            .expect("epoch end");
        assert_eq!((epoch, epoch_end), (0, 5));
        // A later epoch than the log holds: its own last epoch, ending at the log end.
        let later = new
            .send(EpochEndOffset {
                epoch: 5,
                leader: true,
            })
            .await
            .expect("send")
            .expect("epoch end");
        assert_eq!(later, (1, 7));
        // An epoch older than anything held: none, at the log start.
        let none = new
            .send(EpochEndOffset {
                epoch: -1,
                leader: true,
            })
            .await
            .expect("send")
            .expect("epoch end");
        assert_eq!(none, (-1, 0));
        let end = old
            .send(TruncateTo {
                leader_epoch: 1,
                offset: epoch_end,
            })
            .await
            .expect("send")
            .expect("truncate");
        assert_eq!(end, 5, "the four uncommitted records are gone");
        assert_eq!(pull(&new, &old, 1).await, 7);
        let (epoch, end) = old.send(LastEpoch).await.expect("send").expect("epoch");
        assert_eq!(
            (epoch, end),
            (1, 7),
            "the follower now holds the new leader's records"
        );
    }

    #[actix_rt::test]
    async fn a_follower_behind_the_leaders_log_start_starts_over_there() {
        let (dl, df) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let single = Role::Leader {
            replicas: vec![1, 2],
            isr: vec![1],
        };
        let (_ls, leader) = replica(dl.path(), 1, single, 0).await;
        let (_fs, follower) = replica(df.path(), 2, Role::Follower { leader: 1 }, 0).await;
        for _ in 0..4 {
            append(&leader, 2, b"yy", false).await;
        }
        let start = leader
            .send(DeleteRecords { before_offset: 6 })
            .await
            .expect("send")
            .expect("delete");
        assert_eq!(start, 6);
        assert_eq!(
            pull(&leader, &follower, 0).await,
            6,
            "restarted at the log start"
        );
        assert_eq!(pull(&leader, &follower, 0).await, 8);
    }

    #[actix_rt::test]
    async fn acks_all_waiting_when_the_isr_shrinks_below_the_minimum_is_refused() {
        let dl = tempfile::tempdir().expect("dir");
        let (sup, _) = replica(dl.path(), 1, leader_of_two(), 0).await;
        let mut s = spec();
        s.settings.min_insync_replicas = 2;
        s.role = leader_of_two();
        let leader = sup.send(EnsurePartition(s.clone())).await.expect("ensure");
        append(&leader, 1, b"a", true).await;
        let waiting = leader
            .send(WaitForCommit { offset: 1 })
            .await
            .expect("send")
            .expect("wait");
        // The follower is dropped from the ISR: the high watermark moves to the leader's
        // end, but only one copy exists, below min.insync.replicas=2.
        s.role = Role::Leader {
            replicas: vec![1, 2],
            isr: vec![1],
        };
        sup.send(EnsurePartition(s)).await.expect("ensure");
        let answer = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("answered")
            .expect("sender kept");
        assert!(matches!(
            answer,
            Err(ActorError::NotEnoughReplicasAfterAppend { .. })
        ));
    }
}
