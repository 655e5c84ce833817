//! `Task`: runs one sub-topology for one input partition. Synchronous and deterministic:
//! the same records in the same order give the same outputs, changelog and stores.
//!
//! The runtime feeds it raw records from the partitions of the sub-topology's source
//! topics, writes the returned output records and changelog records, and commits the
//! input offsets once those writes are acknowledged (at-least-once). After a crash it
//! opens a new task, replays each store's changelog with `restore`, restores stream time
//! (kept with the committed offsets, as Kafka keeps partition time in the offset
//! metadata) and resumes from the committed offsets.

mod run;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use crate::config::StreamsConfig;
use crate::error::TaskError;
use crate::graph::NodeId;
use crate::ops::{Processor, TaskEnv};
use crate::record::{ChangelogRecord, InputRecord, OutputRecord};
use crate::store::{
    lookup, StoreEntry, StoreKind, StoreLookup, StoreSlot, StoreSlots, StoreSpec, StoreSupplier,
    SCAN_PAGE_ENTRIES,
};
use crate::topology::{changelog_topic, CompiledRole, Topology};

/// Which task: a sub-topology and a partition of its input topics.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TaskId {
    /// The sub-topology, as numbered by `Topology::describe`.
    pub subtopology: u32,
    /// The partition of the sub-topology's input topics.
    pub partition: i32,
}

impl fmt::Display for TaskId {
    /// Kafka's form: `<sub-topology>_<partition>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// Counters of a task since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskMetrics {
    /// Records that went through the operators.
    pub processed_records: u64,
    /// Records skipped before processing: undecodable key or value, negative timestamp.
    pub skipped_records: u64,
    /// Records (per window) dropped because they arrived after their window closed.
    pub dropped_late_records: u64,
}

impl TaskMetrics {
    pub(crate) fn add(&mut self, other: TaskMetrics) {
        self.processed_records += other.processed_records;
        self.skipped_records += other.skipped_records;
        self.dropped_late_records += other.dropped_late_records;
    }
}

/// A record the task skipped, and why (for the runtime's log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRecord {
    /// The record's topic.
    pub topic: String,
    /// The record's partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Why it was skipped.
    pub reason: String,
}

/// What processing one record produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskOutput {
    /// Records to write to sink and repartition topics, in order.
    pub records: Vec<OutputRecord>,
    /// Store changes to write to changelog topics, in order.
    pub changelog: Vec<ChangelogRecord>,
    /// The input record, if it was skipped.
    pub skipped: Option<SkippedRecord>,
}

struct RuntimeNode {
    name: String,
    processor: Box<dyn Processor>,
    children: Arc<[NodeId]>,
}

/// One sub-topology running for one partition (see the module docs).
pub struct Task {
    id: TaskId,
    /// The task's operators, by node id; `None` for nodes of other sub-topologies.
    nodes: Vec<Option<RuntimeNode>>,
    /// Source node by full topic name.
    sources: HashMap<String, NodeId>,
    topology: Topology,
    stores: StoreSlots,
    /// The largest record timestamp seen; `i64::MIN` before the first record.
    stream_time: i64,
    metrics: TaskMetrics,
    /// Operators to notify after each record (windows, buffers), in node order.
    listeners: Vec<NodeId>,
}

impl Task {
    /// Creates the task `id` of `topology`, opening its stores with `stores` (empty or
    /// not: restore them with `restore` before processing).
    pub fn new(
        topology: &Topology,
        config: &StreamsConfig,
        id: TaskId,
        stores: &mut dyn StoreSupplier,
    ) -> Result<Task, TaskError> {
        config.validate()?;
        let inner = &topology.inner;
        let sub = id.subtopology as usize;
        if sub >= inner.subtopologies.len() {
            return Err(TaskError::UnknownSubtopology {
                task: id.to_string(),
                count: inner.subtopologies.len(),
            });
        }
        let app = &config.application_id;
        let env = TaskEnv {
            application_id: app.clone(),
        };
        let mut nodes = Vec::with_capacity(inner.nodes.len());
        let mut sources = HashMap::new();
        for (node_id, node) in inner.nodes.iter().enumerate() {
            if node.subtopology != sub {
                nodes.push(None);
                continue;
            }
            if let CompiledRole::Source { topics, .. } = &node.role {
                sources.extend(topics.iter().map(|t| (t.full(app), node_id)));
            }
            nodes.push(Some(RuntimeNode {
                name: node.name.clone(),
                processor: (node.factory)(&env),
                children: node.children.clone(),
            }));
        }
        let slots = open_stores(topology, app, id, stores)?;
        let listeners = (0..nodes.len())
            .filter(|n| {
                nodes[*n]
                    .as_ref()
                    .is_some_and(|rt| rt.processor.wants_stream_time())
            })
            .collect();
        Ok(Task {
            id,
            nodes,
            sources,
            topology: topology.clone(),
            stores: StoreSlots::new(slots, id.to_string()),
            stream_time: i64::MIN,
            metrics: TaskMetrics::default(),
            listeners,
        })
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The topics the task reads (full names), sorted.
    pub fn source_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.sources.keys().cloned().collect();
        topics.sort();
        topics
    }

    /// The stores the task owns: their changelogs are what `restore` replays.
    pub fn stores(&self) -> Vec<StoreSpec> {
        self.stores.specs().cloned().collect()
    }

    /// The largest timestamp the task has seen, if any.
    pub fn stream_time(&self) -> Option<i64> {
        (self.stream_time != i64::MIN).then_some(self.stream_time)
    }

    /// Restores stream time after a restart (it only ever moves forward).
    pub fn restore_stream_time(&mut self, stream_time: i64) {
        self.stream_time = self.stream_time.max(stream_time);
    }

    /// The task's counters.
    pub fn metrics(&self) -> TaskMetrics {
        self.metrics
    }

    /// Applies one changelog record to the store whose changelog topic it came from.
    pub fn restore(&mut self, record: &ChangelogRecord) -> Result<(), TaskError> {
        let handle = self.stores.find_by_changelog(&record.topic)?;
        self.stores
            .restore(handle, &record.key, record.value.as_deref())
    }

    /// Makes the stores' writes durable with the changelog position they reflect; call
    /// after the changelog records (`TaskOutput::changelog`) and the input offsets are
    /// committed. `changelog_ends` maps changelog topics to the offset after their last
    /// acknowledged record; stores without new records keep their checkpoint.
    pub fn checkpoint(&mut self, changelog_ends: &BTreeMap<String, i64>) -> Result<(), TaskError> {
        self.stores.checkpoint(changelog_ends)
    }

    /// The task's stores with their checkpoints: where restoring each one's changelog
    /// starts (`None`: from the beginning).
    pub fn store_checkpoints(&self) -> Vec<(StoreSpec, Option<i64>)> {
        self.stores.checkpoints()
    }

    /// Empties the store whose changelog topic is `changelog_topic`, checkpoint included,
    /// so that it is restored from the whole changelog.
    pub fn wipe_store(&mut self, changelog_topic: &str) -> Result<(), TaskError> {
        self.stores.wipe(changelog_topic)
    }

    /// Runs one input record through the sub-topology.
    ///
    /// A record that cannot be decoded (or has a negative timestamp) is skipped: counted,
    /// reported in `TaskOutput::skipped`, and not an error. An error means the task's
    /// state may be partly updated: the runtime must drop the task and rebuild it from
    /// the changelogs and committed offsets.
    pub fn process(&mut self, input: InputRecord) -> Result<TaskOutput, TaskError> {
        run::process(self, input)
    }

    /// What the store `name` holds for `key` (its key serde's bytes): an interactive
    /// query. Key-value stores give the value, window and session stores every window of
    /// the key; buffers cannot be queried (`TaskError::NotQueryable`).
    pub fn lookup(&self, name: &str, key: &[u8]) -> Result<StoreLookup, TaskError> {
        lookup(&self.stores, self.stores.find(name)?, key)
    }

    /// Every entry of the store `name`, in key order, with the store's kind.
    pub(crate) fn store_entries(
        &self,
        name: &str,
    ) -> Result<(StoreKind, Vec<StoreEntry>), TaskError> {
        let handle = self.stores.find(name)?;
        let kind = self.stores.slot(handle)?.spec.kind;
        let mut entries: Vec<StoreEntry> = Vec::new();
        loop {
            let from = entries.last().map_or_else(Vec::new, |(k, _)| {
                let mut next = k.clone();
                next.push(0);
                next
            });
            let page = self.stores.range(handle, &from, None, SCAN_PAGE_ENTRIES)?;
            let done = page.len() < SCAN_PAGE_ENTRIES;
            entries.extend(page);
            if done {
                return Ok((kind, entries));
            }
        }
    }

    pub(crate) fn has_store(&self, name: &str) -> bool {
        self.stores.has(name)
    }

    pub(crate) fn reads(&self, topic: &str) -> bool {
        self.sources.contains_key(topic)
    }
}

/// Opens the stores of task `id`'s sub-topology; other sub-topologies' slots stay empty.
fn open_stores(
    topology: &Topology,
    app: &str,
    id: TaskId,
    stores: &mut dyn StoreSupplier,
) -> Result<Vec<Option<StoreSlot>>, TaskError> {
    let sub = id.subtopology as usize;
    topology
        .inner
        .stores
        .iter()
        .map(|s| {
            if s.subtopology != sub {
                return Ok(None);
            }
            let spec = StoreSpec {
                name: s.name.clone(),
                kind: s.kind,
                changelog_topic: changelog_topic(app, &s.name),
            };
            let store = stores.open(id, &spec)?;
            Ok(Some(StoreSlot {
                spec,
                partition: id.partition,
                store,
                expired_through: None,
            }))
        })
        .collect()
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("source_topics", &self.source_topics())
            .field("stream_time", &self.stream_time())
            .field("metrics", &self.metrics)
            .finish()
    }
}
