//! Standby tasks (Kafka Streams' `num.standby.replicas`): a copy of an active task's stores
//! kept current from their changelogs on another instance, so that when the task moves
//! there (its instance died, or its input's leader moved) it resumes from a warm store and
//! replays only what the standby had not applied yet.
//!
//! A standby applies a changelog record only once the input record it came from is
//! committed (the record's input header, see [`changelog`](super::changelog)), in
//! changelog order: its checkpoint then never covers a change that restoration would leave
//! out, so the store it hands over is exactly what the active task's committed input made.
//! A change whose input was never committed and was processed again by a later run (a
//! later change names the same input partition at an offset no higher) is abandoned.
//! Changes wait in memory, up to [`PENDING_MAX`], for their commits.
//!
//! A standby runs as a loop of the TopologySupervisor (`StandbyHandle`), not as an actor:
//! it answers no message but "stop", after which it checkpoints and closes its stores, so
//! an active task of the same id can open them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eddy_actors::supervision::{Backoff, ChildRecord, ChildState};
use eddy_client::{ConsumedRecord, Consumer, GroupOffsets, StartOffset};
use eddy_topologies::{ChangelogRecord, Task, TaskId, Topology};
use tokio::sync::{oneshot, watch};

use super::changelog::input_of;
use super::state_store::StateDirectory;
use super::stream_task::{restore_start, TaskEnd};
use super::topology_supervisor::TaskReport;
use super::StreamsSettings;

/// Changes read but not applied yet (waiting for their input's commit) past which the
/// standby stops reading until they drain.
pub const PENDING_MAX: usize = 100_000;
/// How often the standby re-reads the group's committed offsets.
const COMMITTED_REFRESH: Duration = Duration::from_millis(500);
/// How often it checkpoints its stores while it applies changes.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// How long one poll of the changelogs waits.
const POLL_WAIT: Duration = Duration::from_millis(200);

/// What a standby has done, for reports.
#[derive(Debug, Clone, Default)]
pub struct StandbyProgress {
    /// Changes applied to its stores.
    pub applied: u64,
    /// Changes waiting for their input's commit.
    pub pending: usize,
    /// The last error, while it retries.
    pub last_error: Option<String>,
    /// Ended for good (its stores failed).
    pub failed: bool,
}

/// A running standby, owned by the TopologySupervisor.
pub struct StandbyHandle {
    stop: watch::Sender<bool>,
    done: Option<oneshot::Receiver<()>>,
    /// Shared with the loop.
    pub progress: Arc<Mutex<StandbyProgress>>,
    /// When it started.
    pub since: Instant,
}

impl StandbyHandle {
    /// Whether it ended for good (its stores failed): a new assignment starts it afresh.
    pub fn failed(&self) -> bool {
        self.progress.lock().map(|p| p.failed).unwrap_or(true)
    }

    /// Its row in the application's report (`standby <id>`).
    pub fn report(&self, id: TaskId) -> TaskReport {
        let progress = self.progress.lock().map(|p| p.clone()).unwrap_or_default();
        let mut record = ChildRecord::starting(format!("standby {id}"));
        record.since = self.since;
        record.state = if progress.failed {
            ChildState::Failed
        } else if progress.last_error.is_some() {
            ChildState::Restarting
        } else {
            ChildState::Running
        };
        record.last_error = progress.last_error;
        TaskReport {
            id,
            standby: true,
            supervision: record.report(0, Vec::new()),
            committed: BTreeMap::new(),
            processed_records: progress.applied,
            dropped_late_records: 0,
            restored_records: 0,
            starts: 1,
        }
    }

    /// Starts the standby of `id` on the current arbiter.
    pub fn start(
        id: TaskId,
        topology: Topology,
        settings: Arc<StreamsSettings>,
        state: StateDirectory,
    ) -> StandbyHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, done_rx) = oneshot::channel();
        let progress = Arc::new(Mutex::new(StandbyProgress::default()));
        let shared = progress.clone();
        actix_rt::spawn(async move {
            run(id, topology, settings, state, stop_rx, shared).await;
            let _ = done_tx.send(());
        });
        StandbyHandle {
            stop: stop_tx,
            done: Some(done_rx),
            progress,
            since: Instant::now(),
        }
    }

    /// Asks the standby to stop; the future ends once it checkpointed and closed its stores.
    pub fn stop(mut self) -> impl std::future::Future<Output = ()> {
        self.stop.send_replace(true);
        let done = self.done.take();
        async move {
            if let Some(done) = done {
                let _ = done.await;
            }
        }
    }
}

/// What to do with the oldest change waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Its input is committed (or it names none): apply it.
    Apply,
    /// Its input was processed again by a later run: drop it.
    Abandon,
}

/// How the waiting changes (`inputs`: the input each names, oldest first) settle given
/// the committed offsets: one decision per change of the prefix that can be settled now,
/// ending before the first that must wait (its input is not committed yet).
pub fn settle(
    inputs: &[Option<(String, i32, i64)>],
    committed: &BTreeMap<(String, i32), i64>,
) -> Vec<Settle> {
    let mut out = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let Some((topic, partition, offset)) = input else {
            out.push(Settle::Apply);
            continue;
        };
        let key = (topic.clone(), *partition);
        if committed.get(&key).is_some_and(|c| offset < c) {
            out.push(Settle::Apply);
            continue;
        }
        let redone = inputs[i + 1..]
            .iter()
            .flatten()
            .any(|(t, p, o)| t == topic && p == partition && o <= offset);
        if redone {
            out.push(Settle::Abandon);
            continue;
        }
        break;
    }
    out
}

async fn run(
    id: TaskId,
    topology: Topology,
    settings: Arc<StreamsSettings>,
    state: StateDirectory,
    mut stop: watch::Receiver<bool>,
    progress: Arc<Mutex<StandbyProgress>>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    loop {
        let ended = standby_loop(id, &topology, &settings, &state, &progress, &mut stop).await;
        match ended {
            Ok(()) => return,
            Err(TaskEnd::Retry(error)) => {
                tracing::debug!(task = %id, %error, "standby waits for the cluster");
                if let Ok(mut p) = progress.lock() {
                    p.last_error = Some(error);
                }
                let pause = backoff.next_pause();
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            Err(TaskEnd::Revoked) => return,
            Err(TaskEnd::Crash(error)) => {
                tracing::warn!(task = %id, %error, "standby task failed; the active task will restore from the changelog");
                if let Ok(mut p) = progress.lock() {
                    p.last_error = Some(error);
                    p.failed = true;
                }
                return;
            }
        }
    }
}

/// Opens the stores, catches them up from their checkpoints, then applies committed
/// changes as they come until `stop`; checkpoints before it returns.
async fn standby_loop(
    id: TaskId,
    topology: &Topology,
    settings: &StreamsSettings,
    state: &StateDirectory,
    progress: &Mutex<StandbyProgress>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), TaskEnd> {
    // Setting up writes nothing but a wiped store: a stop meanwhile just drops it.
    let mut stop_setup = stop.clone();
    let set_up = tokio::select! {
        _ = stop_setup.wait_for(|s| *s) => return Ok(()),
        set_up = set_up(id, topology, settings, state) => set_up?,
    };
    let (mut task, mut group, mut consumer, mut positions) = set_up;
    if positions.is_empty() {
        // A stateless task has nothing to keep warm.
        let _ = stop.wait_for(|s| *s).await;
        return Ok(());
    }
    let mut pending: VecDeque<ConsumedRecord> = VecDeque::new();
    let mut committed = BTreeMap::new();
    let mut refreshed = Instant::now() - COMMITTED_REFRESH;
    let mut checkpointed = Instant::now();
    let mut dirty = false;
    let result = 'reading: loop {
        if refreshed.elapsed() >= COMMITTED_REFRESH {
            match group.fetch_offsets().await {
                Ok(offsets) => committed = offsets,
                Err(err) => break Err(TaskEnd::client(err)),
            }
            refreshed = Instant::now();
        }
        if pending.len() < PENDING_MAX {
            let polled = tokio::select! {
                _ = stop.wait_for(|s| *s) => break Ok(()),
                polled = consumer.poll(POLL_WAIT) => polled,
            };
            match polled {
                Ok(records) => pending.extend(records),
                Err(err) => break Err(TaskEnd::client(err)),
            }
        } else {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break Ok(()),
                _ = tokio::time::sleep(POLL_WAIT) => {}
            }
        }
        let inputs: Vec<Option<(String, i32, i64)>> =
            pending.iter().map(|r| input_of(&r.headers)).collect();
        let mut applied = 0u64;
        for decision in settle(&inputs, &committed) {
            let Some(record) = pending.pop_front() else {
                break;
            };
            positions.insert(record.topic.clone(), record.offset + 1);
            dirty = true;
            if decision == Settle::Abandon {
                continue;
            }
            let Some(key) = record.key else { continue };
            let change = ChangelogRecord {
                topic: record.topic,
                partition: id.partition,
                key: key.to_vec(),
                value: record.value.map(|v| v.to_vec()),
                timestamp: record.timestamp,
            };
            if let Err(err) = task.restore(&change) {
                break 'reading Err(TaskEnd::crash(err));
            }
            applied += 1;
        }
        if let Ok(mut p) = progress.lock() {
            p.applied += applied;
            p.pending = pending.len();
            p.last_error = None;
        }
        if dirty && checkpointed.elapsed() >= CHECKPOINT_INTERVAL {
            task.checkpoint(&positions).map_err(TaskEnd::crash)?;
            checkpointed = Instant::now();
            dirty = false;
        }
    };
    if dirty {
        task.checkpoint(&positions).map_err(TaskEnd::crash)?;
    }
    result
}

/// What the standby reads with: its stores, the group's offsets, its changelog consumer
/// (assigned from the stores' checkpoints) and those positions.
type SetUp = (Task, GroupOffsets, Consumer, BTreeMap<String, i64>);

/// Opens the stores and assigns their changelogs from the checkpoints.
async fn set_up(
    id: TaskId,
    topology: &Topology,
    settings: &StreamsSettings,
    state: &StateDirectory,
) -> Result<SetUp, TaskEnd> {
    let bootstrap = settings.bootstrap.as_str();
    let mut task =
        Task::new(topology, &settings.config, id, &mut state.clone()).map_err(TaskEnd::crash)?;
    let group = GroupOffsets::connect(bootstrap, &settings.config.application_id)
        .await
        .map_err(TaskEnd::client)?;
    let mut consumer = Consumer::connect(bootstrap)
        .await
        .map_err(TaskEnd::client)?;
    let mut positions: BTreeMap<String, i64> = BTreeMap::new();
    for (spec, checkpoint) in task.store_checkpoints() {
        let topic = spec.changelog_topic.clone();
        let mut probe = Consumer::connect(bootstrap)
            .await
            .map_err(TaskEnd::client)?;
        let from = restore_start(&mut task, &mut probe, &topic, id.partition, checkpoint).await?;
        consumer
            .assign(&topic, &[id.partition], StartOffset::Offset(from))
            .await
            .map_err(TaskEnd::client)?;
        positions.insert(topic, from);
    }
    Ok((task, group, consumer, positions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(offset: i64) -> Option<(String, i32, i64)> {
        Some(("in".to_string(), 0, offset))
    }

    #[test]
    fn committed_changes_apply_in_order_and_the_rest_wait() {
        let committed: BTreeMap<(String, i32), i64> = [(("in".to_string(), 0), 5)].into();
        let inputs = [input(3), None, input(4), input(5), input(6)];
        assert_eq!(
            settle(&inputs, &committed),
            vec![Settle::Apply, Settle::Apply, Settle::Apply]
        );
        assert!(
            settle(&inputs, &BTreeMap::new()).is_empty(),
            "nothing committed: the first change waits, and those after it"
        );
    }

    #[test]
    fn a_change_whose_input_was_processed_again_is_abandoned() {
        // A run changed the store for input 5 and 6, crashed before committing; the next
        // run processed 5 again.
        let committed: BTreeMap<(String, i32), i64> = [(("in".to_string(), 0), 5)].into();
        let inputs = [input(5), input(6), input(5), input(6)];
        assert_eq!(
            settle(&inputs, &committed),
            vec![Settle::Abandon, Settle::Abandon],
            "the new run's changes wait for its commit"
        );
        let committed: BTreeMap<(String, i32), i64> = [(("in".to_string(), 0), 7)].into();
        assert_eq!(
            settle(&inputs, &committed),
            vec![Settle::Apply, Settle::Apply, Settle::Apply, Settle::Apply],
            "once committed past both runs, even the abandoned ones had committed input"
        );
    }
}
