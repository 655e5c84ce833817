//! Where each operator's key and value serdes come from, and how `build` resolves them.
//!
//! Every node has a spec for the serde of the keys and of the values it produces:
//! set explicitly (`with_key_serde`), inherited from the node it got them from (an
//! operator that keeps the key type keeps its serde), derived (a windowed key's serde
//! from the key's), or the builder's default for the type. A serde is resolved only
//! where it is needed — sources, sinks, repartitions, stores — so a missing one is an
//! error only there, and the error names the operator.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::{Graph, Names, NodeId};
use crate::error::TopologyError;
use crate::serdes::{BytesSerde, LongSerde, Serde, SerdeRef, StringSerde};

/// A `SerdeRef<T>` with its type erased, and the name of `T` for messages.
#[derive(Clone)]
pub(crate) struct ErasedSerde {
    serde: Arc<dyn Any + Send + Sync>,
    pub(crate) type_name: &'static str,
}

pub(crate) fn erase<T: 'static>(serde: SerdeRef<T>) -> ErasedSerde {
    ErasedSerde {
        serde: Arc::new(serde),
        type_name: std::any::type_name::<T>(),
    }
}

/// The typed serde inside an erased one, if the types agree.
pub(crate) fn unerase<T: 'static>(serde: &ErasedSerde) -> Option<SerdeRef<T>> {
    serde.serde.downcast_ref::<SerdeRef<T>>().cloned()
}

/// Keys or values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Key,
    Value,
}

impl Side {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Side::Key => "key",
            Side::Value => "value",
        }
    }
}

/// Derives a serde from others at build time; gets the node that needs it.
pub(crate) type DeriveSerde =
    Rc<dyn Fn(&Resolver<'_>, NodeId) -> Result<ErasedSerde, TopologyError>>;

#[derive(Clone)]
pub(crate) enum SerdeSource {
    Explicit(ErasedSerde),
    Inherit(NodeId, Side),
    Derived(DeriveSerde),
    Default,
}

/// The serde of one side of one node (or of a store).
#[derive(Clone)]
pub(crate) struct SerdeSpec {
    type_id: TypeId,
    type_name: &'static str,
    pub(crate) source: SerdeSource,
}

impl SerdeSpec {
    fn of<T: 'static>(source: SerdeSource) -> Self {
        SerdeSpec {
            type_id: TypeId::of::<T>(),
            type_name: std::any::type_name::<T>(),
            source,
        }
    }

    pub(crate) fn default_for<T: 'static>() -> Self {
        Self::of::<T>(SerdeSource::Default)
    }

    pub(crate) fn inherit<T: 'static>(node: NodeId, side: Side) -> Self {
        Self::of::<T>(SerdeSource::Inherit(node, side))
    }

    pub(crate) fn explicit<T: 'static>(serde: SerdeRef<T>) -> Self {
        Self::of::<T>(SerdeSource::Explicit(erase(serde)))
    }

    pub(crate) fn derived<T: 'static>(derive: DeriveSerde) -> Self {
        Self::of::<T>(SerdeSource::Derived(derive))
    }
}

/// The builder's default serde per type (Kafka's `default.key.serde`, but per type).
pub(crate) struct SerdeRegistry {
    by_type: HashMap<TypeId, ErasedSerde>,
}

impl Default for SerdeRegistry {
    /// Strings, bytes and longs have defaults, as in Kafka's `Serdes`.
    fn default() -> Self {
        let mut registry = SerdeRegistry {
            by_type: HashMap::new(),
        };
        registry.insert::<String>(Arc::new(StringSerde));
        registry.insert::<Vec<u8>>(Arc::new(BytesSerde));
        registry.insert::<i64>(Arc::new(LongSerde));
        registry.insert::<u64>(Arc::new(LongSerde));
        registry
    }
}

impl SerdeRegistry {
    pub(crate) fn insert<T: 'static>(&mut self, serde: Arc<dyn Serde<T>>) {
        self.by_type.insert(TypeId::of::<T>(), erase(serde));
    }
}

/// Resolves names and serdes while `build` compiles the graph.
pub(crate) struct Resolver<'a> {
    pub(crate) graph: &'a Graph,
    pub(crate) names: &'a Names,
}

/// How many inheritance steps a serde lookup may take; the graph is acyclic, so more
/// means a bug.
const INHERIT_STEPS_MAX: usize = 100_000;

impl Resolver<'_> {
    pub(crate) fn node_name(&self, node: NodeId) -> &str {
        &self.names.nodes[node]
    }

    /// The erased serde of `side` of `node`, for the operator `needed_by`.
    pub(crate) fn erased(
        &self,
        node: NodeId,
        side: Side,
        needed_by: NodeId,
    ) -> Result<ErasedSerde, TopologyError> {
        self.erased_spec(self.spec(node, side), side, needed_by)
    }

    /// The erased serde a spec (of keys or values, as `side` says) resolves to.
    pub(crate) fn erased_spec(
        &self,
        spec: &SerdeSpec,
        side: Side,
        needed_by: NodeId,
    ) -> Result<ErasedSerde, TopologyError> {
        let (mut spec, mut side) = (spec, side);
        for _ in 0..INHERIT_STEPS_MAX {
            match &spec.source {
                SerdeSource::Explicit(serde) => return Ok(serde.clone()),
                SerdeSource::Derived(derive) => return derive(self, needed_by),
                SerdeSource::Inherit(parent, parent_side) => {
                    (spec, side) = (self.spec(*parent, *parent_side), *parent_side)
                }
                SerdeSource::Default => {
                    return self
                        .graph
                        .defaults
                        .by_type
                        .get(&spec.type_id)
                        .cloned()
                        .ok_or_else(|| TopologyError::MissingSerde {
                            node: self.node_name(needed_by).to_string(),
                            side: side.name(),
                            type_name: spec.type_name,
                        })
                }
            }
        }
        Err(self.internal(needed_by, "serde inheritance does not end"))
    }

    /// The typed serde of `side` of `node`, for the operator `needed_by`.
    pub(crate) fn serde<T: 'static>(
        &self,
        node: NodeId,
        side: Side,
        needed_by: NodeId,
    ) -> Result<SerdeRef<T>, TopologyError> {
        let erased = self.erased(node, side, needed_by)?;
        unerase::<T>(&erased).ok_or_else(|| self.internal(needed_by, "serde of the wrong type"))
    }

    /// The typed serde a spec resolves to.
    pub(crate) fn serde_of<T: 'static>(
        &self,
        spec: &SerdeSpec,
        side: Side,
        needed_by: NodeId,
    ) -> Result<SerdeRef<T>, TopologyError> {
        let erased = self.erased_spec(spec, side, needed_by)?;
        unerase::<T>(&erased).ok_or_else(|| self.internal(needed_by, "serde of the wrong type"))
    }

    fn spec(&self, node: NodeId, side: Side) -> &SerdeSpec {
        let node = &self.graph.nodes[node];
        match side {
            Side::Key => &node.key,
            Side::Value => &node.value,
        }
    }

    pub(crate) fn topic(&self, topic: &super::TopicRef) -> crate::topology::TopicName {
        super::compile::topic_name(self.names, topic)
    }

    pub(crate) fn internal(&self, node: NodeId, reason: &str) -> TopologyError {
        TopologyError::InvalidOperation {
            node: self.node_name(node).to_string(),
            reason: format!("internal error: {reason}"),
        }
    }
}
