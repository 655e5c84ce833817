//! The compiled topology: what `StreamsBuilder::build` returns and tasks run.

use std::fmt;
use std::sync::Arc;

use crate::describe::{NodeDescription, NodeKind, SubtopologyDescription, TopologyDescription};
use crate::dynamic::Data;
use crate::error::StoreSerdeError;
use crate::graph::serde_spec::{unerase, ErasedSerde};
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

    /// The groups of topics whose partition *i* one task reads or keeps its state in: per
    /// sub-topology, its sources (both sides of a join, its repartition topics) and its
    /// stores' changelogs — Kafka Streams' co-partition groups, with the changelogs — merged
    /// where they share a topic. Each group lists the topics the application does not
    /// create first (sorted), then its internal ones (sorted): the first is the one whose
    /// replicas the others should share. Groups of a single topic are left out.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table::<String, String>("users").named("users");
    /// builder.stream::<String, String>("clicks").join(&users, |c, u| format!("{u}:{c}")).to("out");
    /// let groups = builder.build()?.copartition_groups("app");
    /// assert_eq!(groups, vec![vec!["clicks", "users", "app-users-changelog"]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn copartition_groups(&self, application_id: &str) -> Vec<Vec<String>> {
        use std::collections::BTreeSet;
        let internal: BTreeSet<String> = self
            .internal_topics(application_id)
            .into_iter()
            .map(|t| t.name)
            .collect();
        let mut groups: Vec<BTreeSet<String>> = Vec::new();
        for s in 0..self.subtopology_count() {
            let mut group: BTreeSet<String> = self
                .source_topics(s as u32, application_id)
                .into_iter()
                .collect();
            group.extend(
                self.inner
                    .stores
                    .iter()
                    .filter(|store| store.subtopology == s)
                    .map(|store| changelog_topic(application_id, &store.name)),
            );
            let (shared, apart): (Vec<_>, Vec<_>) =
                groups.into_iter().partition(|g| !g.is_disjoint(&group));
            for g in shared {
                group.extend(g);
            }
            groups = apart;
            groups.push(group);
        }
        groups
            .into_iter()
            .filter(|g| g.len() > 1)
            .map(|g| {
                let (inside, outside): (Vec<String>, Vec<String>) =
                    g.into_iter().partition(|t| internal.contains(t));
                outside.into_iter().chain(inside).collect()
            })
            .collect()
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

    /// The sub-topology whose tasks own the store `name`, and the store's kind. Each task
    /// of that sub-topology owns the keys of its partition.
    pub fn store_owner(&self, name: &str) -> Option<(u32, StoreKind)> {
        self.store(name).map(|s| (s.subtopology as u32, s.kind))
    }

    /// `key` as the store `name` keeps it (its key serde's bytes), to look it up with
    /// `Task::lookup`; these are also the bytes the store's input is partitioned by.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, String>("words").group_by(|_, w| w.clone()).count().named("counts");
    /// let topology = builder.build()?;
    /// assert_eq!(topology.serialize_store_key("counts", &"kafka".to_string())?, b"kafka");
    /// assert_eq!(topology.deserialize_store_value::<u64>("counts", &[0, 0, 0, 0, 0, 0, 0, 3])?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn serialize_store_key<K: Data>(
        &self,
        name: &str,
        key: &K,
    ) -> Result<Vec<u8>, StoreSerdeError> {
        let store = self
            .store(name)
            .ok_or_else(|| StoreSerdeError::UnknownStore(name.to_string()))?;
        typed_store_serde::<K>(name, "key", &store.key)?
            .serialize(key)
            .map_err(|source| StoreSerdeError::Serde {
                store: name.to_string(),
                side: "key",
                source,
            })
    }

    /// A value `Task::lookup` read from the store `name`, decoded with the store's value
    /// serde.
    pub fn deserialize_store_value<V: Data>(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<V, StoreSerdeError> {
        let store = self
            .store(name)
            .ok_or_else(|| StoreSerdeError::UnknownStore(name.to_string()))?;
        typed_store_serde::<V>(name, "value", &store.value)?
            .deserialize(bytes)
            .map_err(|source| StoreSerdeError::Serde {
                store: name.to_string(),
                side: "value",
                source,
            })
    }

    fn store(&self, name: &str) -> Option<&CompiledStore> {
        self.inner.stores.iter().find(|s| s.name == name)
    }
}

/// The typed serde of one side of a store, if `T` is the type the store holds.
fn typed_store_serde<T: 'static>(
    store: &str,
    side: &'static str,
    serde: &ErasedSerde,
) -> Result<crate::serdes::SerdeRef<T>, StoreSerdeError> {
    unerase::<T>(serde).ok_or_else(|| StoreSerdeError::TypeMismatch {
        store: store.to_string(),
        side,
        asked: std::any::type_name::<T>(),
        actual: serde.type_name,
    })
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.describe())
    }
}
