//! StreamTask: runs one task of a topology — one sub-topology for one input partition —
//! against a Kafka cluster: restores its stores from their changelog topics, reads its
//! input from the committed offsets of the application's consumer group, runs each record
//! through the pure [`Task`], writes outputs and changelog records, and commits input
//! offsets only after those writes are acknowledged (at-least-once).
//!
//! Interactive queries (`QueryStore`) reach the actor and go on to its running loop, which
//! owns the stores and answers between two batches of input: a read never sees a record
//! half applied. While the task restores its stores, restarts or waits for the cluster,
//! queries are refused as not running rather than answered from a partial store.
//!
//! Stores live on disk (see [`state_store`](super::state_store)), checkpointed after each
//! commit; a task starts by replaying its changelogs from the checkpoints (the whole
//! changelog for a store without one).
//!
//! Supervised by the TopologySupervisor through actix's `Supervisor`; restart policy
//! permanent with the supervisor's restart intensity. A panic in user code is caught around
//! `Task::process`; the actor stops and is restarted, reopening its stores at their last
//! checkpoint (writes since then are dropped with the old run), catching up from the
//! changelog and resuming from the committed offsets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use eddy_actors::supervision::{guard, Backoff, RestartDecision, RestartIntensity, RestartWindow};
use eddy_topologies::{ChangelogRecord, InputRecord, StoreLookup, Task, TaskId, Topology};
use tokio::sync::{mpsc, oneshot};

use super::changelog::{from_uncommitted_input, input_header};
use super::membership::Membership;
use super::state_store::StateDirectory;
use super::topology_supervisor::{TaskEvent, TopologySupervisor};
use super::{QueryError, StreamsSettings, TASK_FAILED};
use eddy_client::{
    Consumer, DeliveryReceipt, GroupOffsets, Header, Producer, ProducerConfig, ProducerRecord,
    ResponseError, StartOffset,
};

/// How long one poll of the input waits for records.
pub const POLL_WAIT_MS: u64 = 100;
/// Polls of an empty changelog before restoration gives up waiting for more.
const RESTORE_IDLE_POLLS_MAX: u32 = 3;

/// The first wait before the task loop runs again after the cluster was unreachable; it
/// doubles up to [`RETRY_BACKOFF_MS_MAX`].
const RETRY_BACKOFF_MS_MIN: u64 = 500;
const RETRY_BACKOFF_MS_MAX: u64 = 10_000;
/// A loop that ran this long before failing starts the back-off afresh.
const RETRY_RESET_AFTER: Duration = Duration::from_secs(30);

/// Changelog batches grow up to this size between commits before they are sent anyway:
/// well under a topic's default `max.message.bytes` (1 MiB), which refuses a larger batch
/// (MESSAGE_TOO_LARGE) — as it did when this was 8 MiB and one commit interval changed
/// more than 1 MB of store entries.
const CHANGELOG_BATCH_BYTES_MAX: usize = 512 * 1024;

/// Interactive queries waiting for the task loop; more are refused as busy.
pub const QUERIES_PENDING_MAX: usize = 64;

/// Why the task loop ended.
#[derive(Debug)]
pub enum TaskEnd {
    /// The cluster could not be reached or answered a retriable error: the loop runs again
    /// after a back-off, in the same actor, without counting as a crash.
    Retry(String),
    /// User code panicked or failed, or something a retry cannot fix: the actor stops and
    /// its supervisor restarts it (counted against the restart intensity).
    Crash(String),
    /// The group revoked the task (`RevokeTask`): it committed what it processed and ends.
    Revoked,
}

impl TaskEnd {
    pub(crate) fn client(err: eddy_client::ClientError) -> TaskEnd {
        if err.is_unreachable() || err.is_retriable() {
            TaskEnd::Retry(err.to_string())
        } else {
            TaskEnd::Crash(err.to_string())
        }
    }

    pub(crate) fn crash(err: impl std::fmt::Display) -> TaskEnd {
        TaskEnd::Crash(err.to_string())
    }
}

/// The actor of one stream task.
pub struct StreamTask {
    id: TaskId,
    topology: Topology,
    settings: Arc<StreamsSettings>,
    state: StateDirectory,
    membership: Membership,
    supervisor: Addr<TopologySupervisor>,
    intensity: RestartIntensity,
    restart_window: RestartWindow,
    last_error: Option<String>,
    failed: bool,
    retry_backoff: Backoff,
    /// Where queries go to the running loop; a new channel per run, `None` once failed.
    queries: Option<mpsc::Sender<PendingQuery>>,
    /// Asks the running loop to commit and end (`RevokeTask`); a new channel per run.
    revoke: Option<oneshot::Sender<oneshot::Sender<()>>>,
}

impl StreamTask {
    /// A task actor; it starts running in `started`.
    pub fn new(
        id: TaskId,
        topology: Topology,
        settings: Arc<StreamsSettings>,
        state: StateDirectory,
        membership: Membership,
        supervisor: Addr<TopologySupervisor>,
        intensity: RestartIntensity,
    ) -> Self {
        StreamTask {
            id,
            topology,
            settings,
            state,
            membership,
            supervisor,
            intensity,
            restart_window: RestartWindow::default(),
            last_error: None,
            failed: false,
            retry_backoff: Backoff::new(
                Duration::from_millis(RETRY_BACKOFF_MS_MIN),
                Duration::from_millis(RETRY_BACKOFF_MS_MAX),
            ),
            queries: None,
            revoke: None,
        }
    }
}

impl Actor for StreamTask {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if self.failed {
            return;
        }
        self.run(ctx);
    }
}

impl StreamTask {
    fn run(&mut self, ctx: &mut Context<Self>) {
        let began = Instant::now();
        let (queries, pending) = mpsc::channel(QUERIES_PENDING_MAX);
        self.queries = Some(queries);
        let (revoke, revoked) = oneshot::channel();
        self.revoke = Some(revoke);
        let run = run_task(
            self.id,
            self.topology.clone(),
            self.settings.clone(),
            self.state.clone(),
            self.membership.clone(),
            self.supervisor.clone(),
            (pending, revoked),
        );
        ctx.spawn(run.into_actor(self).map(move |ended, act, ctx| match ended {
            TaskEnd::Retry(error) => {
                if began.elapsed() >= RETRY_RESET_AFTER {
                    act.retry_backoff.reset();
                }
                let wait = act.retry_backoff.next_pause();
                tracing::warn!(task = %act.id, %error, ?wait, "cluster unavailable; stream task retries");
                act.supervisor.do_send(TaskEvent::Waiting { id: act.id, error });
                ctx.run_later(wait, |act, ctx| act.run(ctx));
            }
            TaskEnd::Crash(error) => {
                tracing::error!(task = %act.id, %error, "stream task stopped; restarting");
                act.last_error = Some(error);
                ctx.stop();
            }
            // The supervisor stops the actor (`StopTask`) once the revocation answered.
            TaskEnd::Revoked => act.queries = None,
        }));
    }
}

impl Supervised for StreamTask {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        let error = self.last_error.take().unwrap_or_else(|| "stopped".into());
        let decision = self
            .restart_window
            .on_abnormal_stop(Instant::now(), self.intensity);
        self.failed = decision == RestartDecision::GiveUp;
        self.queries = None;
        self.supervisor.do_send(TaskEvent::Restarting {
            id: self.id,
            error,
            failed: self.failed,
        });
    }
}

/// Stops the task for good (its supervisor drops its address, so it is not restarted):
/// the group revoked it. Writes since the last commit are dropped with the run; the next
/// owner reprocesses their input.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopTask;

impl Handler<StopTask> for StreamTask {
    type Result = ();

    fn handle(&mut self, _msg: StopTask, ctx: &mut Self::Context) {
        self.queries = None;
        ctx.stop();
    }
}

/// How long a revoked task may take to commit before it is stopped anyway (its successor
/// then reprocesses from the last commit): one commit's flush and round trips.
const REVOKE_COMMIT_WAIT_MS: u64 = 10_000;

/// The group revoked the task (cooperative rebalancing): the running loop commits what it
/// processed and ends, then this answers; the supervisor stops the actor next
/// (`StopTask`). Without a running loop (waiting for the cluster, failed) it answers at
/// once: nothing of the current run is left to commit.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RevokeTask;

impl Handler<RevokeTask> for StreamTask {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _msg: RevokeTask, _ctx: &mut Self::Context) -> Self::Result {
        let (done, committed) = oneshot::channel();
        let asked = self.revoke.take().is_some_and(|r| r.send(done).is_ok());
        let task = self.id;
        Box::pin(async move {
            if !asked {
                return;
            }
            let wait = Duration::from_millis(REVOKE_COMMIT_WAIT_MS);
            if tokio::time::timeout(wait, committed).await.is_err() {
                tracing::warn!(%task, ?wait, "revoked stream task did not commit in time; stopping it anyway");
            }
        })
    }
}

/// The task's group membership and the application's settings.
struct Group {
    membership: Membership,
    settings: Arc<StreamsSettings>,
}

/// An interactive query of the store `store` for `key` (its key serde's bytes), sent to the
/// task that owns the key (`task`, checked on arrival).
#[derive(Message)]
#[rtype(result = "Result<StoreLookup, QueryError>")]
pub struct QueryStore {
    /// The task owning the key.
    pub task: TaskId,
    /// The store.
    pub store: String,
    /// The key.
    pub key: Vec<u8>,
}

/// A query on its way to the task loop, with where its answer goes.
struct PendingQuery {
    store: String,
    key: Vec<u8>,
    answer: oneshot::Sender<Result<StoreLookup, QueryError>>,
}

impl Handler<QueryStore> for StreamTask {
    type Result = ResponseFuture<Result<StoreLookup, QueryError>>;

    fn handle(&mut self, msg: QueryStore, _ctx: &mut Self::Context) -> Self::Result {
        assert_eq!(msg.task, self.id, "a query routed to the wrong task");
        let id = self.id;
        let not_running = move |state| QueryError::NotRunning { task: id, state };
        let Some(queries) = self.queries.as_ref() else {
            let state = if self.failed { TASK_FAILED } else { "starting" };
            return Box::pin(std::future::ready(Err(not_running(state))));
        };
        let (answer, answered) = oneshot::channel();
        let query = PendingQuery {
            store: msg.store,
            key: msg.key,
            answer,
        };
        if let Err(err) = queries.try_send(query) {
            let refusal = match err {
                mpsc::error::TrySendError::Full(_) => QueryError::Busy {
                    task: id,
                    pending: QUERIES_PENDING_MAX,
                },
                mpsc::error::TrySendError::Closed(_) => {
                    not_running("restarting or waiting for the cluster")
                }
            };
            return Box::pin(std::future::ready(Err(refusal)));
        }
        // A loop that ends before answering drops the query, and with it `answer`.
        Box::pin(async move {
            answered
                .await
                .unwrap_or_else(|_| Err(not_running("restarting or waiting for the cluster")))
        })
    }
}

/// Answers the queries waiting for the loop from the task's stores, as they are between
/// two records.
fn answer_queries(task: &Task, pending: &mut mpsc::Receiver<PendingQuery>) {
    while let Ok(query) = pending.try_recv() {
        let answer = task
            .lookup(&query.store, &query.key)
            .map_err(|err| QueryError::from_task(task.id(), &query.store, err));
        // The asker may have given up waiting; nothing to do then.
        let _ = query.answer.send(answer);
    }
}

/// Refuses the queries waiting while the stores are restored: a partial store would
/// answer with old values.
fn refuse_queries(id: TaskId, pending: &mut mpsc::Receiver<PendingQuery>) {
    while let Ok(query) = pending.try_recv() {
        let _ = query.answer.send(Err(QueryError::NotRunning {
            task: id,
            state: "restoring its stores",
        }));
    }
}

fn to_client_headers(headers: Vec<eddy_topologies::Header>) -> Vec<Header> {
    headers
        .into_iter()
        .map(|h| Header {
            key: h.key,
            value: h.value.map(Into::into),
        })
        .collect()
}

/// Where restoring one store's changelog partition starts: at the store's checkpoint if the
/// changelog still holds it, else (no checkpoint, or the changelog was deleted, recreated
/// or truncated past it) at the changelog's start, with the store wiped first.
pub(crate) async fn restore_start(
    task: &mut Task,
    consumer: &mut Consumer,
    topic: &str,
    partition: i32,
    checkpoint: Option<i64>,
) -> Result<i64, TaskEnd> {
    consumer
        .assign(topic, &[partition], StartOffset::Earliest)
        .await
        .map_err(TaskEnd::client)?;
    let start = consumer.position(topic, partition).unwrap_or(0);
    consumer
        .assign(topic, &[partition], StartOffset::Latest)
        .await
        .map_err(TaskEnd::client)?;
    let end = consumer.position(topic, partition).unwrap_or(0);
    match checkpoint {
        Some(c) if (start..=end).contains(&c) => Ok(c),
        Some(c) => {
            tracing::warn!(
                task = %task.id(), changelog = topic, checkpoint = c, start, end,
                "the local store's checkpoint is outside its changelog; rebuilding it from the changelog"
            );
            task.wipe_store(topic).map_err(TaskEnd::crash)?;
            Ok(start)
        }
        None => {
            // A store without a checkpoint may still hold entries of a run that never
            // committed: start from nothing.
            task.wipe_store(topic).map_err(TaskEnd::crash)?;
            Ok(start)
        }
    }
}

/// Brings the task's stores up to date from their changelog partitions — from each store's
/// checkpoint, or the whole changelog when it has none — refusing queries meanwhile, then
/// checkpoints them at the changelog's end.
async fn restore(
    task: &mut Task,
    bootstrap: &str,
    partition: i32,
    committed: &BTreeMap<(String, i32), i64>,
    pending: &mut mpsc::Receiver<PendingQuery>,
) -> Result<u64, TaskEnd> {
    let mut restored = 0u64;
    let mut ends = BTreeMap::new();
    for (spec, checkpoint) in task.store_checkpoints() {
        let mut consumer = Consumer::connect(bootstrap)
            .await
            .map_err(TaskEnd::client)?;
        let from = restore_start(
            task,
            &mut consumer,
            &spec.changelog_topic,
            partition,
            checkpoint,
        )
        .await?;
        consumer
            .assign(
                &spec.changelog_topic,
                &[partition],
                StartOffset::Offset(from),
            )
            .await
            .map_err(TaskEnd::client)?;
        let mut idle = 0;
        while idle < RESTORE_IDLE_POLLS_MAX {
            let records = consumer
                .poll(Duration::from_millis(POLL_WAIT_MS))
                .await
                .map_err(TaskEnd::client)?;
            refuse_queries(task.id(), pending);
            if records.is_empty() {
                let position = consumer
                    .position(&spec.changelog_topic, partition)
                    .unwrap_or(0);
                let end = consumer
                    .high_watermark(&spec.changelog_topic, partition)
                    .unwrap_or(0);
                idle = if position >= end {
                    RESTORE_IDLE_POLLS_MAX
                } else {
                    idle + 1
                };
                continue;
            }
            for r in records {
                let Some(key) = r.key else { continue };
                if from_uncommitted_input(&r.headers, committed) {
                    continue;
                }
                let record = ChangelogRecord {
                    topic: r.topic,
                    partition,
                    key: key.to_vec(),
                    value: r.value.map(|v| v.to_vec()),
                    timestamp: r.timestamp,
                };
                task.restore(&record).map_err(TaskEnd::crash)?;
                restored += 1;
            }
        }
        if let Some(position) = consumer.position(&spec.changelog_topic, partition) {
            ends.insert(spec.changelog_topic.clone(), position);
        }
    }
    task.checkpoint(&ends).map_err(TaskEnd::crash)?;
    Ok(restored)
}

/// The task's two producers: outputs go out after every batch of input; changelog records
/// wait for the commit. Each changelog record names its input record in a header, and
/// restoration skips changes from input past the committed offsets, so the restored store
/// matches exactly the committed input.
struct Writers {
    outputs: Producer,
    changelog: Producer,
}

/// Receipts of the writes not yet acknowledged: outputs, and changelog records (whose
/// offsets become the stores' checkpoints), with the changelog ends acknowledged but not
/// yet checkpointed (a refused commit keeps them for the next).
#[derive(Default)]
struct Receipts {
    outputs: Vec<DeliveryReceipt>,
    changelog: Vec<DeliveryReceipt>,
    changelog_ends: BTreeMap<String, i64>,
}

/// Writes a task's outputs and changelog records; keeps their receipts.
async fn write_output(
    writers: &mut Writers,
    input: (&str, i32, i64),
    output: eddy_topologies::TaskOutput,
    receipts: &mut Receipts,
) -> Result<(), TaskEnd> {
    for o in output.records {
        let record = ProducerRecord {
            topic: o.topic,
            partition: None,
            key: o.key.map(Into::into),
            value: o.value.map(Into::into),
            headers: to_client_headers(o.headers),
            timestamp_ms: Some(o.timestamp),
        };
        receipts.outputs.push(
            writers
                .outputs
                .send(record)
                .await
                .map_err(TaskEnd::client)?,
        );
    }
    // One header per input record, shared by its changes (its value is reference-counted).
    let header = (!output.changelog.is_empty()).then(|| input_header(input.0, input.1, input.2));
    for c in output.changelog {
        let record = ProducerRecord {
            topic: c.topic,
            partition: Some(c.partition),
            key: Some(c.key.into()),
            value: c.value.map(Into::into),
            headers: header.iter().cloned().collect(),
            timestamp_ms: Some(c.timestamp),
        };
        receipts.changelog.push(
            writers
                .changelog
                .send(record)
                .await
                .map_err(TaskEnd::client)?,
        );
    }
    Ok(())
}

/// How a commit's metadata carries the task's stream time.
const STREAM_TIME_PREFIX: &str = "eddy.stream-time=";

fn stream_time_metadata(stream_time: i64) -> String {
    format!("{STREAM_TIME_PREFIX}{stream_time}")
}

/// The largest stream time committed with the task's input partitions, if any.
fn committed_stream_time(
    committed: &BTreeMap<(String, i32), (i64, String)>,
    topics: &[String],
    partition: i32,
) -> Option<i64> {
    topics
        .iter()
        .filter_map(|t| committed.get(&(t.clone(), partition)))
        .filter_map(|(_, metadata)| metadata.strip_prefix(STREAM_TIME_PREFIX)?.parse().ok())
        .max()
}

/// Flushes both producers, waits for every write, commits the input positions, then
/// checkpoints the stores at the changelog offsets just acknowledged. A crash before the
/// checkpoint leaves the stores at the previous one, and restoration replays the changelog
/// records in between. `false` if the coordinator refused the commit because the group is
/// between generations: the task goes on and commits the positions next time, as the
/// generation it is then in (cooperative rebalancing keeps tasks running meanwhile).
async fn commit(
    task: &mut Task,
    writers: &mut Writers,
    receipts: &mut Receipts,
    (group, membership): (&mut GroupOffsets, &Membership),
    positions: &BTreeMap<(String, i32), i64>,
) -> Result<bool, TaskEnd> {
    writers.outputs.flush().await.map_err(TaskEnd::client)?;
    writers.changelog.flush().await.map_err(TaskEnd::client)?;
    for receipt in receipts.outputs.drain(..) {
        receipt.wait().await.map_err(TaskEnd::client)?;
    }
    // Stream time goes with the offsets, as Kafka Streams keeps partition time in the
    // commit metadata: a restarted task closes windows where this one left off.
    let metadata: BTreeMap<(String, i32), String> = match task.stream_time() {
        Some(t) => positions
            .keys()
            .map(|tp| (tp.clone(), stream_time_metadata(t)))
            .collect(),
        None => BTreeMap::new(),
    };
    for receipt in receipts.changelog.drain(..) {
        let written = receipt.wait().await.map_err(TaskEnd::client)?;
        let end = receipts.changelog_ends.entry(written.topic).or_insert(0);
        *end = (*end).max(written.offset + 1);
    }
    // Outputs and changelog records are acknowledged; the input is not committed yet.
    eddy_actors::fault::point(eddy_actors::fault::STREAMS_AFTER_CHANGELOG);
    let (member_id, generation_id) = membership.current();
    let committed = group
        .commit_offsets_with_metadata_as(positions, &metadata, &member_id, generation_id)
        .await;
    if let Err(err) = committed {
        return match err.kafka_error() {
            // The group is between generations, or moved on without this instance (whose
            // membership loop then stops the task): nothing is committed, the task goes on.
            Some(
                ResponseError::RebalanceInProgress
                | ResponseError::IllegalGeneration
                | ResponseError::UnknownMemberId,
            ) => {
                tracing::debug!(task = %task.id(), error = %err, "commit refused while the group rebalances; retrying at the next commit");
                Ok(false)
            }
            _ => Err(TaskEnd::client(err)),
        };
    }
    eddy_actors::fault::point(eddy_actors::fault::STREAMS_BEFORE_CHECKPOINT);
    let ends = std::mem::take(&mut receipts.changelog_ends);
    task.checkpoint(&ends).map_err(TaskEnd::crash)?;
    Ok(true)
}

/// Runs the task until it ends (a panic in user code included), saying how it ended.
async fn run_task(
    id: TaskId,
    topology: Topology,
    settings: Arc<StreamsSettings>,
    state: StateDirectory,
    membership: Membership,
    supervisor: Addr<TopologySupervisor>,
    (mut pending, mut revoke): (mpsc::Receiver<PendingQuery>, Revocation),
) -> TaskEnd {
    let group = Group {
        membership,
        settings,
    };
    let asks = (&mut pending, &mut revoke);
    match task_loop(id, topology, group, state, supervisor, asks).await {
        Ok(never) => match never {},
        Err(end) => end,
    }
}

/// Where a `RevokeTask` reaches the loop, with where it answers.
type Revocation = oneshot::Receiver<oneshot::Sender<()>>;

/// The task loop proper: it never returns but with an error (or `TaskEnd::Revoked`).
async fn task_loop(
    id: TaskId,
    topology: Topology,
    group: Group,
    state: StateDirectory,
    supervisor: Addr<TopologySupervisor>,
    (pending, revoke): (&mut mpsc::Receiver<PendingQuery>, &mut Revocation),
) -> Result<std::convert::Infallible, TaskEnd> {
    let Group {
        membership,
        settings,
    } = group;
    let bootstrap = settings.bootstrap.as_str();
    let mut task =
        Task::new(&topology, &settings.config, id, &mut state.clone()).map_err(TaskEnd::crash)?;
    let mut group = GroupOffsets::connect(bootstrap, &settings.config.application_id)
        .await
        .map_err(TaskEnd::client)?;
    let fetched = group
        .fetch_offsets_with_metadata()
        .await
        .map_err(TaskEnd::client)?;
    if let Some(stream_time) = committed_stream_time(&fetched, &task.source_topics(), id.partition)
    {
        task.restore_stream_time(stream_time);
    }
    let committed: BTreeMap<(String, i32), i64> = fetched
        .into_iter()
        .map(|(tp, (offset, _))| (tp, offset))
        .collect();
    let restored = restore(&mut task, bootstrap, id.partition, &committed, pending).await?;
    let mut consumer = Consumer::connect(bootstrap)
        .await
        .map_err(TaskEnd::client)?;
    for topic in task.source_topics() {
        let start = committed
            .get(&(topic.clone(), id.partition))
            .filter(|o| **o >= 0)
            .map_or(StartOffset::Earliest, |o| StartOffset::Offset(*o));
        consumer
            .assign(&topic, &[id.partition], start)
            .await
            .map_err(TaskEnd::client)?;
    }
    let outputs = Producer::connect(bootstrap, ProducerConfig::default())
        .await
        .map_err(TaskEnd::client)?;
    let changelog_config = ProducerConfig {
        linger_ms: settings.commit_interval.as_millis() as u64,
        batch_bytes_max: CHANGELOG_BATCH_BYTES_MAX,
        ..ProducerConfig::default()
    };
    let changelog = Producer::connect(bootstrap, changelog_config)
        .await
        .map_err(TaskEnd::client)?;
    let mut writers = Writers { outputs, changelog };
    supervisor.do_send(TaskEvent::Running { id, restored });
    let mut positions: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut receipts = Receipts::default();
    let mut last_commit = Instant::now();
    loop {
        let records = consumer
            .poll(Duration::from_millis(POLL_WAIT_MS))
            .await
            .map_err(TaskEnd::client)?;
        let count = records.len();
        for r in records {
            let input = InputRecord {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
                key: r.key.map(|k| k.to_vec()),
                value: r.value.map(|v| v.to_vec()),
                timestamp: r.timestamp,
                headers: r
                    .headers
                    .into_iter()
                    .map(|h| eddy_topologies::Header {
                        key: h.key,
                        value: h.value.map(|v| v.to_vec()),
                    })
                    .collect(),
            };
            let output = match guard(|| task.process(input)) {
                Ok(Ok(output)) => output,
                Ok(Err(err)) => {
                    return Err(TaskEnd::Crash(format!(
                        "processing {}@{}: {err}",
                        r.topic, r.offset
                    )))
                }
                Err(panic) => {
                    return Err(TaskEnd::Crash(format!(
                        "panic processing {}@{}: {panic}",
                        r.topic, r.offset
                    )))
                }
            };
            if output.skipped.is_some() {
                metrics::counter!("eddy_streams_skipped_records_total", "task" => id.to_string())
                    .increment(1);
            }
            write_output(
                &mut writers,
                (&r.topic, r.partition, r.offset),
                output,
                &mut receipts,
            )
            .await?;
            positions.insert((r.topic, r.partition), r.offset + 1);
        }
        if count > 0 {
            // Send what this batch produced now (the client lingers only while sending), so
            // results do not wait for the next commit; acknowledgements are awaited there.
            writers.outputs.flush().await.map_err(TaskEnd::client)?;
            metrics::counter!("eddy_streams_records_processed_total", "task" => id.to_string())
                .increment(count as u64);
        }
        answer_queries(&task, pending);
        let revoked = revoke.try_recv().ok();
        let due = last_commit.elapsed() >= settings.commit_interval || revoked.is_some();
        if !positions.is_empty() && due {
            let member = (&mut group, &membership);
            let committed = commit(&mut task, &mut writers, &mut receipts, member, &positions);
            if committed.await? {
                let late = task.metrics();
                supervisor.do_send(TaskEvent::Progress {
                    id,
                    committed: positions.clone(),
                    metrics: late,
                });
                positions.clear();
            }
            last_commit = Instant::now();
        }
        if let Some(done) = revoked {
            if !positions.is_empty() {
                tracing::warn!(task = %id, "revoked stream task could not commit; its next owner reprocesses from the last commit");
            }
            let _ = done.send(());
            return Err(TaskEnd::Revoked);
        }
    }
}
