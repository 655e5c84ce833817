//! Helpers that build logical nodes: plain processors, sinks, and repartitions.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::{
    Graph, GraphRef, LogicalGetter, LogicalNode, MakeDecoder, MakeProcessor, Naming, NodeId,
    RepartitionId, RepartitionNaming, Role, StoreId, TopicRef,
};
use crate::ops::pass_through::PassThrough;
use crate::ops::sink::Sink;
use crate::ops::source::decoder;
use crate::ops::{factory, getter, Processor, ProcessorFactory, TaskEnv};

/// Whether `other` comes from the same builder as `graph`; if not, records an error for
/// `build` (node ids of another builder mean nothing here) and the caller must not use
/// `other`'s nodes.
pub(crate) fn same_builder(graph: &GraphRef, other: &GraphRef, operation: &str) -> bool {
    if std::rc::Rc::ptr_eq(graph, other) {
        return true;
    }
    graph
        .borrow_mut()
        .errors
        .push(TopologyError::InvalidOperation {
            node: operation.to_string(),
            reason: "its inputs come from different `StreamsBuilder`s".into(),
        });
    false
}

/// An operator that needs nothing resolved at build time.
pub(crate) fn stateless<P, F>(make: F) -> MakeProcessor
where
    P: Processor + 'static,
    F: Fn() -> P + Send + Sync + 'static,
{
    let make = Arc::new(make);
    Box::new(move |_resolver, _id| {
        let make = make.clone();
        Ok(factory(move || make()))
    })
}

pub(crate) fn pass_through() -> MakeProcessor {
    stateless(|| PassThrough)
}

/// A processor node with automatic naming.
pub(crate) fn processor(
    prefix: &'static str,
    parents: Vec<NodeId>,
    key: SerdeSpec,
    value: SerdeSpec,
    make: MakeProcessor,
) -> LogicalNode {
    LogicalNode {
        prefix,
        naming: Naming::Auto,
        role: Role::Processor,
        parents,
        stores: Vec::new(),
        key,
        value,
        make,
    }
}

/// A source node decoding `K` and `V` with its own serdes.
pub(crate) fn source<K: Data, V: Data>(
    topic: TopicRef,
    naming: Naming,
    key: SerdeSpec,
    value: SerdeSpec,
    table: bool,
) -> LogicalNode {
    let decode: MakeDecoder = Box::new(move |r, id| {
        Ok(decoder::<K, V>(
            r.serde::<K>(id, Side::Key, id)?,
            r.serde::<V>(id, Side::Value, id)?,
            table,
        ))
    });
    LogicalNode {
        prefix: "KSTREAM-SOURCE",
        naming,
        role: Role::Source {
            topics: vec![topic],
            decoder: decode,
        },
        parents: Vec::new(),
        stores: Vec::new(),
        key,
        value,
        make: pass_through(),
    }
}

/// A sink node writing `parent`'s records to `topic` with `parent`'s serdes.
pub(crate) fn sink<K: Data, V: Data>(
    parent: NodeId,
    topic: TopicRef,
    naming: Naming,
) -> LogicalNode {
    let key = SerdeSpec::inherit::<K>(parent, Side::Key);
    let value = SerdeSpec::inherit::<V>(parent, Side::Value);
    sink_with::<K, V>(parent, topic, naming, key, value)
}

/// A sink node writing `parent`'s records to `topic` with the serdes given.
fn sink_with<K: Data, V: Data>(
    parent: NodeId,
    topic: TopicRef,
    naming: Naming,
    key: SerdeSpec,
    value: SerdeSpec,
) -> LogicalNode {
    let target = topic.clone();
    let make: MakeProcessor = Box::new(move |r, id| {
        let key = r.serde::<K>(id, Side::Key, id)?;
        let value = r.serde::<V>(id, Side::Value, id)?;
        let topic = r.topic(&target);
        let make: ProcessorFactory = Arc::new(move |env: &TaskEnv| {
            Box::new(Sink {
                topic: topic.full(&env.application_id),
                key: key.clone(),
                value: value.clone(),
                _types: PhantomData,
            }) as Box<dyn Processor>
        });
        Ok(make)
    });
    LogicalNode {
        prefix: "KSTREAM-SINK",
        naming,
        role: Role::Sink { topic },
        parents: vec![parent],
        stores: Vec::new(),
        key,
        value,
        make,
    }
}

/// Writes `upstream`'s records to a new repartition topic with `upstream`'s serdes and
/// reads them back: returns the source node reading it.
pub(crate) fn repartition<K: Data, V: Data>(
    graph: &mut Graph,
    upstream: NodeId,
    naming: Option<String>,
) -> (NodeId, RepartitionId) {
    let key = SerdeSpec::inherit::<K>(upstream, Side::Key);
    let value = SerdeSpec::inherit::<V>(upstream, Side::Value);
    repartition_with::<K, V>(graph, upstream, naming, key, value)
}

/// `repartition` with the serdes given.
pub(crate) fn repartition_with<K: Data, V: Data>(
    graph: &mut Graph,
    upstream: NodeId,
    naming: Option<String>,
    key: SerdeSpec,
    value: SerdeSpec,
) -> (NodeId, RepartitionId) {
    let naming = naming.map_or(
        RepartitionNaming::Auto(graph.next_node()),
        RepartitionNaming::User,
    );
    let id = graph.add_repartition(naming);
    let topic = TopicRef::Repartition(id);
    graph.add_node(sink_with::<K, V>(
        upstream,
        topic.clone(),
        Naming::RepartitionSink(id),
        key.clone(),
        value.clone(),
    ));
    let source = graph.add_node(source::<K, V>(
        topic,
        Naming::RepartitionSource(id),
        key,
        value,
        false,
    ));
    (source, id)
}

/// An unnamed repartition before a store is named after the store.
pub(crate) fn name_repartition_after(
    graph: &mut Graph,
    repartition: Option<RepartitionId>,
    store: StoreId,
) {
    if let Some(id) = repartition {
        if matches!(graph.repartitions[id], RepartitionNaming::Auto(_)) {
            graph.repartitions[id] = RepartitionNaming::Store(store);
        }
    }
}

/// The lookup of a key-value store owned by `node`, which produces `K` and `V`.
pub(crate) fn store_getter<K: Data, V: Data>(node: NodeId, store: StoreId) -> LogicalGetter {
    LogicalGetter {
        stores: vec![store],
        make: std::rc::Rc::new(move |r, needed| {
            Ok(getter::store::<K, V>(
                store,
                r.serde::<K>(node, Side::Key, needed)?,
                r.serde::<V>(node, Side::Value, needed)?,
            ))
        }),
    }
}
