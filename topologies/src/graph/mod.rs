//! The logical graph the DSL builds: nodes (sources, processors, sinks), the stores they
//! use and the repartition topics between them. `compile` turns it into a `Topology`.
//!
//! Names are resolved only at build time, so `.named(..)` can rename an operator after
//! it was added and the names of its store, changelog and repartition topic follow.

pub(crate) mod compile;
mod naming;
pub(crate) mod serde_spec;

use std::cell::RefCell;
use std::rc::Rc;

pub(crate) use naming::check_name as naming_check;
pub(crate) use naming::Names;
use serde_spec::{Resolver, SerdeRegistry, SerdeSpec};

use crate::error::TopologyError;
use crate::ops::getter::ValueGetter;
use crate::ops::source::Decoder;
use crate::ops::ProcessorFactory;
use crate::store::StoreKind;

pub(crate) type NodeId = usize;
pub(crate) type StoreId = usize;
pub(crate) type RepartitionId = usize;

/// The graph, shared by the builder and every stream and table handle.
pub(crate) type GraphRef = Rc<RefCell<Graph>>;

/// A topic a source reads or a sink writes.
#[derive(Debug, Clone)]
pub(crate) enum TopicRef {
    User(String),
    Repartition(RepartitionId),
}

/// Makes a node's operator factory at build time (`Resolver` gives serdes and names;
/// the `NodeId` is the node's own).
pub(crate) type MakeProcessor =
    Box<dyn Fn(&Resolver<'_>, NodeId) -> Result<ProcessorFactory, TopologyError>>;

/// Makes a source's decoder at build time.
pub(crate) type MakeDecoder = Box<dyn Fn(&Resolver<'_>, NodeId) -> Result<Decoder, TopologyError>>;

/// Makes a table's value getter at build time, for the operator given.
pub(crate) type MakeGetter =
    Rc<dyn Fn(&Resolver<'_>, NodeId) -> Result<ValueGetter, TopologyError>>;

pub(crate) enum Role {
    Source {
        topics: Vec<TopicRef>,
        decoder: MakeDecoder,
    },
    Processor,
    Sink {
        topic: TopicRef,
    },
}

/// How a node is named when the user did not name it.
#[derive(Debug, Clone)]
pub(crate) enum Naming {
    /// `<prefix>-<10-digit node id>`, as Kafka Streams names operators.
    Auto,
    User(String),
    /// The sink or source of a repartition: `<name>-repartition-sink|source` if the
    /// repartition is named, else automatic.
    RepartitionSink(RepartitionId),
    RepartitionSource(RepartitionId),
}

pub(crate) struct LogicalNode {
    pub(crate) prefix: &'static str,
    pub(crate) naming: Naming,
    pub(crate) role: Role,
    pub(crate) parents: Vec<NodeId>,
    pub(crate) stores: Vec<StoreId>,
    pub(crate) key: SerdeSpec,
    pub(crate) value: SerdeSpec,
    pub(crate) make: MakeProcessor,
}

pub(crate) struct LogicalStore {
    /// The operator that owns the store; the store's name derives from its name.
    pub(crate) owner: NodeId,
    /// Automatic name: `<auto_prefix>-<owner id>`.
    pub(crate) auto_prefix: &'static str,
    /// Appended to the owner's name when the owner is named.
    pub(crate) named_suffix: &'static str,
    pub(crate) kind: StoreKind,
    /// The serdes of the store's keys and values (for inspection in tests).
    pub(crate) key: SerdeSpec,
    pub(crate) value: SerdeSpec,
}

#[derive(Debug, Clone)]
pub(crate) enum RepartitionNaming {
    User(String),
    /// `<store>-repartition`, for the repartition before an aggregation.
    Store(StoreId),
    /// `KSTREAM-REPARTITION-<id>-repartition`.
    Auto(NodeId),
}

/// A table handle's lookup: its getter and the stores the getter reads.
#[derive(Clone)]
pub(crate) struct LogicalGetter {
    pub(crate) stores: Vec<StoreId>,
    pub(crate) make: MakeGetter,
}

/// What `.named(..)` renames: some nodes (each with a suffix) or a repartition.
#[derive(Debug, Clone)]
pub(crate) enum NameTarget {
    Nodes(Vec<(NodeId, &'static str)>),
    Repartition(RepartitionId),
}

#[derive(Default)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<LogicalNode>,
    pub(crate) stores: Vec<LogicalStore>,
    pub(crate) repartitions: Vec<RepartitionNaming>,
    pub(crate) defaults: SerdeRegistry,
    /// Mistakes the DSL could not refuse when they were made; `build` reports the first.
    pub(crate) errors: Vec<TopologyError>,
}

impl Graph {
    pub(crate) fn add_node(&mut self, node: LogicalNode) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub(crate) fn add_store(&mut self, store: LogicalStore) -> StoreId {
        let id = self.stores.len();
        let owner = store.owner;
        self.stores.push(store);
        self.nodes[owner].stores.push(id);
        id
    }

    /// The id the next node will get.
    pub(crate) fn next_node(&self) -> NodeId {
        self.nodes.len()
    }

    /// The id the next store will get.
    pub(crate) fn next_store(&self) -> StoreId {
        self.stores.len()
    }

    pub(crate) fn add_repartition(&mut self, naming: RepartitionNaming) -> RepartitionId {
        self.repartitions.push(naming);
        self.repartitions.len() - 1
    }

    pub(crate) fn set_name(&mut self, target: &NameTarget, name: &str) {
        match target {
            NameTarget::Nodes(nodes) => {
                for (node, suffix) in nodes {
                    self.nodes[*node].naming = Naming::User(format!("{name}{suffix}"));
                }
            }
            NameTarget::Repartition(id) => {
                self.repartitions[*id] = RepartitionNaming::User(name.to_string())
            }
        }
    }
}
