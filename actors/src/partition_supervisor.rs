//! PartitionSupervisor: starts one PartitionActor per hosted partition, spread over the
//! node's arbiters (one per core) by hash of the partition, and keeps per child the
//! supervision record (state, restarts, last error, mailbox depth, uptime). Strategy
//! one-for-one: a child that panics is restarted alone, up to the restart intensity, then
//! marked failed and escalated to the NodeSupervisor.
//!
//! It publishes the routing table (topic-partition → partition handle) as immutable
//! snapshots through a `watch` channel; connections read the latest snapshot and never
//! share mutable state with it. Started by the NodeSupervisor and not restartable (it holds
//! its children's addresses), so its handlers do no I/O and nothing that can panic on input.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::{oneshot, watch};

use crate::compactor::CompactorActor;
use crate::error::{ActorError, ActorResult};
use crate::node_supervisor::{Escalate, NodeSupervisor};
use crate::partition::{
    Call, Delete, PartitionActor, PartitionDeps, PartitionSettings, PartitionSpec, UpdateSpec,
};
use crate::retention::RetentionPolicy;
use crate::store::Store;
use crate::supervision::{ChildRecord, ChildState, RestartIntensity, SupervisorReport};
use crate::TopicPartition;

/// A partition's address plus its mailbox-depth gauge. Sending through the handle counts
/// the message in; the actor counts it out when it handles it.
#[derive(Clone)]
pub struct PartitionHandle {
    addr: Addr<PartitionActor>,
    mailbox: Arc<AtomicUsize>,
}

impl PartitionHandle {
    /// Sends a message to the partition and awaits its typed reply. Messages from one
    /// caller reach the partition in call order (see [`Call`]).
    pub async fn send<M>(&self, msg: M) -> ActorResult<M::Result>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        PartitionActor: Handler<Call<M>>,
    {
        let (reply, rx) = oneshot::channel();
        self.mailbox.fetch_add(1, Ordering::Relaxed);
        self.addr.do_send(Call::<M> { msg, reply });
        rx.await.map_err(|_| {
            ActorError::Unavailable("the partition actor stopped before answering".into())
        })
    }

    /// Messages waiting in the partition's mailbox.
    pub fn mailbox_depth(&self) -> usize {
        self.mailbox.load(Ordering::Relaxed)
    }
}

/// The routing table snapshot.
pub type Routes = HashMap<TopicPartition, PartitionHandle>;

struct Child {
    record: ChildRecord,
    handle: PartitionHandle,
}

/// What the partition supervisor hands every partition it starts.
#[derive(Clone)]
pub struct PartitionSupervisorConfig {
    /// The node's store.
    pub store: Store,
    /// Restart intensity of partition actors.
    pub intensity: RestartIntensity,
    /// `log.retention.check.interval.ms`.
    pub retention_check: Duration,
    /// `log.cleaner.backoff.ms`.
    pub cleaner_backoff: Duration,
    /// The node's compactor.
    pub compactor: Option<Addr<CompactorActor>>,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_max: Duration,
    /// Where leaders send ISR changes (cluster mode only).
    pub isr_proposals: Option<tokio::sync::mpsc::UnboundedSender<crate::partition::IsrProposal>>,
}

/// The partition supervisor.
pub struct PartitionSupervisor {
    config: PartitionSupervisorConfig,
    arbiters: Vec<ArbiterHandle>,
    children: HashMap<TopicPartition, Child>,
    routes: watch::Sender<Arc<Routes>>,
    node: Option<Addr<NodeSupervisor>>,
}

impl PartitionSupervisor {
    /// A supervisor placing partitions on `arbiters`.
    pub fn new(config: PartitionSupervisorConfig, arbiters: Vec<ArbiterHandle>) -> Self {
        let (routes, _) = watch::channel(Arc::new(Routes::new()));
        PartitionSupervisor {
            config,
            arbiters,
            children: HashMap::new(),
            routes,
            node: None,
        }
    }

    /// A receiver of routing-table snapshots.
    pub fn routes(&self) -> watch::Receiver<Arc<Routes>> {
        self.routes.subscribe()
    }

    fn publish(&self) {
        let routes: Routes = self
            .children
            .iter()
            .map(|(tp, c)| (tp.clone(), c.handle.clone()))
            .collect();
        self.routes.send_replace(Arc::new(routes));
    }

    fn arbiter_for(&self, tp: &TopicPartition) -> ArbiterHandle {
        let mut h = DefaultHasher::new();
        tp.hash(&mut h);
        let i = (h.finish() % self.arbiters.len().max(1) as u64) as usize;
        self.arbiters
            .get(i)
            .cloned()
            .unwrap_or_else(Arbiter::current)
    }
}

impl Actor for PartitionSupervisor {
    type Context = Context<Self>;
}

/// Registers the node supervisor to escalate to.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetParent(pub Addr<NodeSupervisor>);

impl Handler<SetParent> for PartitionSupervisor {
    type Result = ();

    fn handle(&mut self, msg: SetParent, _ctx: &mut Self::Context) {
        self.node = Some(msg.0);
    }
}

impl PartitionSupervisor {
    /// Starts the partition of `spec` if it is not running (true), or sends it the new
    /// spec (false). Does not publish the routing table: the caller publishes once per
    /// change, and only when a partition was started.
    fn ensure(&mut self, spec: PartitionSpec, ctx: &mut Context<Self>) -> (PartitionHandle, bool) {
        if let Some(child) = self.children.get(&spec.tp) {
            child.handle.mailbox.fetch_add(1, Ordering::Relaxed);
            child.handle.addr.do_send(UpdateSpec(spec));
            return (child.handle.clone(), false);
        }
        let mailbox = Arc::new(AtomicUsize::new(0));
        let c = &self.config;
        let deps = PartitionDeps {
            store: c.store.clone(),
            supervisor: ctx.address(),
            intensity: c.intensity,
            retention_check: c.retention_check,
            cleaner_backoff: c.cleaner_backoff,
            compactor: c.compactor.clone(),
            replica_lag_max: c.replica_lag_max,
            isr_proposals: c.isr_proposals.clone(),
        };
        let gauge = mailbox.clone();
        let tp = spec.tp.clone();
        let addr = Supervisor::start_in_arbiter(&self.arbiter_for(&tp), move |_| {
            PartitionActor::new(spec, deps, gauge)
        });
        let handle = PartitionHandle { addr, mailbox };
        let record = ChildRecord::starting(format!("partition {tp}"));
        self.children.insert(
            tp,
            Child {
                record,
                handle: handle.clone(),
            },
        );
        (handle, true)
    }
}

/// Start the partition if it is not running, or update its settings.
#[derive(Message)]
#[rtype(result = "PartitionHandle")]
pub struct EnsurePartition(pub PartitionSpec);

impl Handler<EnsurePartition> for PartitionSupervisor {
    type Result = MessageResult<EnsurePartition>;

    fn handle(&mut self, msg: EnsurePartition, ctx: &mut Self::Context) -> Self::Result {
        let (handle, started) = self.ensure(msg.0, ctx);
        if started {
            self.publish();
        }
        MessageResult(handle)
    }
}

/// Start (or update) many partitions at once, e.g. every partition of a new topic: the
/// routing table is published once for the whole change, not once per partition (which
/// made creating 10,000 partitions quadratic: 5·10^7 entries cloned). Answers how many
/// partitions were started.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct EnsurePartitions(pub Vec<PartitionSpec>);

impl Handler<EnsurePartitions> for PartitionSupervisor {
    type Result = usize;

    fn handle(&mut self, msg: EnsurePartitions, ctx: &mut Self::Context) -> usize {
        let mut started = 0;
        for spec in msg.0 {
            started += usize::from(self.ensure(spec, ctx).1);
        }
        if started > 0 {
            self.publish();
        }
        started
    }
}

/// Delete partitions' data and stop serving them (topic deletion, or replicas moved away):
/// the routing table is published once, then each partition deletes its log.
#[derive(Message)]
#[rtype(result = "ActorResult<()>")]
pub struct RemovePartitions(pub Vec<TopicPartition>);

impl Handler<RemovePartitions> for PartitionSupervisor {
    type Result = ResponseFuture<ActorResult<()>>;

    fn handle(&mut self, msg: RemovePartitions, _ctx: &mut Self::Context) -> Self::Result {
        let removed: Vec<Child> = msg
            .0
            .iter()
            .filter_map(|tp| self.children.remove(tp))
            .collect();
        if !removed.is_empty() {
            self.publish();
        }
        Box::pin(async move {
            let deletes = removed.iter().map(|child| child.handle.send(Delete));
            let mut first_error = Ok(());
            for result in futures::future::join_all(deletes).await {
                if let (Ok(()), Err(err)) = (&first_error, result.and_then(|r| r)) {
                    first_error = Err(err);
                }
            }
            first_error
        })
    }
}

/// What a partition actor reports about itself.
#[derive(Message)]
#[rtype(result = "()")]
pub enum ChildEvent {
    /// Started (or restarted) and serving.
    Running {
        /// Which partition.
        tp: TopicPartition,
    },
    /// Stopped abnormally and is being restarted.
    Restarting {
        /// Which partition.
        tp: TopicPartition,
        /// Why it stopped.
        error: String,
    },
    /// Gave up: too many restarts, or its store cannot be read.
    Failed {
        /// Which partition.
        tp: TopicPartition,
        /// The last error.
        error: String,
    },
}

impl Handler<ChildEvent> for PartitionSupervisor {
    type Result = ();

    fn handle(&mut self, msg: ChildEvent, _ctx: &mut Self::Context) {
        let (tp, state, error) = match msg {
            ChildEvent::Running { tp } => (tp, ChildState::Running, None),
            ChildEvent::Restarting { tp, error } => (tp, ChildState::Restarting, Some(error)),
            ChildEvent::Failed { tp, error } => (tp, ChildState::Failed, Some(error)),
        };
        let Some(child) = self.children.get_mut(&tp) else {
            return;
        };
        let record = &mut child.record;
        match state {
            ChildState::Running => record.since = std::time::Instant::now(),
            ChildState::Restarting => {
                record.restarts += 1;
                metrics::counter!("eddy_actor_restarts_total", "supervisor" => "partitions")
                    .increment(1);
            }
            ChildState::Failed => {
                if let Some(node) = &self.node {
                    node.do_send(Escalate {
                        from: "partitions".into(),
                        error: format!("{}: {}", record.name, error.clone().unwrap_or_default()),
                    });
                }
            }
            _ => {}
        }
        record.state = state;
        if error.is_some() {
            record.last_error = error;
        }
    }
}

/// The supervisor's children as report rows.
#[derive(Message)]
#[rtype(result = "Vec<SupervisorReport>")]
pub struct ReportChildren;

impl Handler<ReportChildren> for PartitionSupervisor {
    type Result = MessageResult<ReportChildren>;

    fn handle(&mut self, _msg: ReportChildren, _ctx: &mut Self::Context) -> Self::Result {
        let mut rows: Vec<_> = self
            .children
            .values()
            .map(|c| c.record.report(c.handle.mailbox_depth(), Vec::new()))
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        MessageResult(rows)
    }
}

/// The routing-table receiver (for connections).
#[derive(Message)]
#[rtype(result = "watch::Receiver<Arc<Routes>>")]
pub struct SubscribeRoutes;

impl Handler<SubscribeRoutes> for PartitionSupervisor {
    type Result = MessageResult<SubscribeRoutes>;

    fn handle(&mut self, _msg: SubscribeRoutes, _ctx: &mut Self::Context) -> Self::Result {
        MessageResult(self.routes())
    }
}

/// Settings for a partition from its topic's configs and the broker defaults.
pub fn settings_for(
    config: &crate::topic_config::TopicConfig,
    broker: &crate::topic_config::BrokerDefaults,
) -> PartitionSettings {
    let effective = |name: &str| {
        crate::topic_config::find(name)
            .map(|def| config.effective(def, broker).0)
            .unwrap_or_default()
    };
    PartitionSettings {
        flush_messages: config.effective_i64("flush.messages", broker).max(1),
        flush_ms: config.effective_i64("flush.ms", broker),
        max_message_bytes: config
            .effective_i64("max.message.bytes", broker)
            .clamp(0, i64::from(i32::MAX)) as usize,
        delete_policy: effective("cleanup.policy")
            .split(',')
            .any(|p| p.trim() == "delete"),
        retention: RetentionPolicy {
            retention_ms: config.effective_i64("retention.ms", broker),
            retention_bytes: config.effective_i64("retention.bytes", broker),
        },
        log_append_time: effective("message.timestamp.type") == "LogAppendTime",
        compact_policy: effective("cleanup.policy")
            .split(',')
            .any(|p| p.trim() == "compact"),
        delete_retention_ms: config.effective_i64("delete.retention.ms", broker),
        min_compaction_lag_ms: config.effective_i64("min.compaction.lag.ms", broker),
        min_cleanable_dirty_permille: (effective("min.cleanable.dirty.ratio")
            .parse::<f64>()
            .unwrap_or(0.5)
            .clamp(0.0, 1.0)
            * 1000.0) as u32,
        min_insync_replicas: config
            .effective_i64("min.insync.replicas", broker)
            .clamp(1, i64::from(i16::MAX)) as usize,
    }
}
