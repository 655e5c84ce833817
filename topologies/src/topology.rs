//! The compiled topology: what `StreamsBuilder::build` returns and tasks run.

use std::fmt;
use std::sync::Arc;

use crate::describe::{NodeDescription, NodeKind, SubtopologyDescription, TopologyDescription};
use crate::graph::serde_spec::ErasedSerde;
use crate::graph::{NodeId, StoreId};
use crate::ops::source::Decoder;
use crate::ops::ProcessorFactory;
use crate::store::StoreKind;

/// A topic name as the topology knows it: internal topics get the application id prefix
/// only when a task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicName {
    pub(crate) name: String,
    pub(crate) internal: bool,
}

impl TopicName {
    pub(crate) fn full(&self, application_id: &str) -> String {
        if self.internal {
            format!("{application_id}-{}", self.name)
        } else {
            self.name.clone()
        }
    }
}

/// The changelog topic of a store: `<application.id>-<store>-changelog`.
pub(crate) fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

pub(crate) enum CompiledRole {
    Source {
        topics: Vec<TopicName>,
        decoder: Decoder,
        key: ErasedSerde,
        value: ErasedSerde,
    },
    Processor,
    Sink {
        topic: TopicName,
        key: ErasedSerde,
        value: ErasedSerde,
    },
}

pub(crate) struct CompiledNode {
    pub(crate) name: String,
    pub(crate) role: CompiledRole,
    pub(crate) parents: Vec<NodeId>,
    pub(crate) children: Arc<[NodeId]>,
    pub(crate) stores: Vec<StoreId>,
    pub(crate) factory: ProcessorFactory,
    pub(crate) subtopology: usize,
}

pub(crate) struct CompiledStore {
    pub(crate) name: String,
    pub(crate) kind: StoreKind,
    pub(crate) key: ErasedSerde,
    pub(crate) value: ErasedSerde,
    pub(crate) subtopology: usize,
}

pub(crate) struct CompiledSubtopology {
    /// The nodes in description order: by distance from the sources, then by id.
    pub(crate) nodes: Vec<NodeId>,
}

pub(crate) struct Inner {
    pub(crate) nodes: Vec<CompiledNode>,
    pub(crate) stores: Vec<CompiledStore>,
    pub(crate) subtopologies: Vec<CompiledSubtopology>,
}

/// A validated topology, ready to run: split into sub-topologies at repartition topics,
/// each run by one `Task` per input partition. Cheap to clone and shareable across
/// threads.
#[derive(Clone)]
pub struct Topology {
    pub(crate) inner: Arc<Inner>,
}

/// Whether an internal topic carries repartitioned records or a store's changelog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalTopicKind {
    /// `<application.id>-<name>-repartition`: a normal topic.
    Repartition,
    /// `<application.id>-<store>-changelog`: a compacted topic.
    Changelog,
}

/// A topic the topology needs besides its users' topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    /// The full topic name, with the application id prefix.
    pub name: String,
    /// What it carries.
    pub kind: InternalTopicKind,
}

impl Topology {
    /// The topology's sub-topologies, sources, processors, stores and sinks, printable
    /// like Kafka Streams' `Topology#describe()`.
    pub fn describe(&self) -> TopologyDescription {
        let subtopologies = self.inner.subtopologies.iter().enumerate();
        TopologyDescription {
            subtopologies: subtopologies
                .map(|(id, sub)| SubtopologyDescription {
                    id: id as u32,
                    nodes: sub.nodes.iter().map(|n| self.describe_node(*n)).collect(),
                })
                .collect(),
        }
    }

    fn describe_node(&self, id: NodeId) -> NodeDescription {
        let node = &self.inner.nodes[id];
        let names = |ids: &[NodeId]| {
            ids.iter()
                .map(|n| self.inner.nodes[*n].name.clone())
                .collect()
        };
        let kind = match &node.role {
            CompiledRole::Source { topics, .. } => NodeKind::Source {
                topics: topics.iter().map(|t| t.name.clone()).collect(),
            },
            CompiledRole::Processor => NodeKind::Processor {
                stores: node
                    .stores
                    .iter()
                    .map(|s| self.inner.stores[*s].name.clone())
                    .collect(),
            },
            CompiledRole::Sink { topic, .. } => NodeKind::Sink {
                topic: topic.name.clone(),
            },
        };
        NodeDescription {
            name: node.name.clone(),
            kind,
            successors: names(&node.children),
            predecessors: names(&node.parents),
        }
    }

    /// How many sub-topologies the topology has (numbered from 0).
    pub fn subtopology_count(&self) -> usize {
        self.inner.subtopologies.len()
    }

    /// The topics a sub-topology's tasks read, internal ones with the application id
    /// prefix. Every topic of a sub-topology must have the same number of partitions.
    pub fn source_topics(&self, subtopology: u32, application_id: &str) -> Vec<String> {
        let mut topics: Vec<String> = self
            .inner
            .nodes
            .iter()
            .filter(|n| n.subtopology == subtopology as usize)
            .flat_map(|n| match &n.role {
                CompiledRole::Source { topics, .. } => {
                    topics.iter().map(|t| t.full(application_id)).collect()
                }
                _ => Vec::new(),
            })
            .collect();
        topics.sort();
        topics
    }

    /// The repartition and changelog topics to create before running the topology.
    pub fn internal_topics(&self, application_id: &str) -> Vec<InternalTopic> {
        let repartitions = self.inner.nodes.iter().filter_map(|n| match &n.role {
            CompiledRole::Sink { topic, .. } if topic.internal => Some(InternalTopic {
                name: topic.full(application_id),
                kind: InternalTopicKind::Repartition,
            }),
            _ => None,
        });
        let changelogs = self.inner.stores.iter().map(|s| InternalTopic {
            name: changelog_topic(application_id, &s.name),
            kind: InternalTopicKind::Changelog,
        });
        repartitions.chain(changelogs).collect()
    }

    /// The names of the topology's state stores.
    pub fn store_names(&self) -> Vec<String> {
        self.inner.stores.iter().map(|s| s.name.clone()).collect()
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.describe())
    }
}
