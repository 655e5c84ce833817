//! `StreamsBuilder::build`: checks the logical graph, resolves names and serdes, splits
//! it into sub-topologies and compiles every node into an operator factory.

use std::collections::HashSet;
use std::sync::Arc;

use super::naming::{self, check_name, Names};
use super::serde_spec::{Resolver, Side};
use super::{Graph, LogicalNode, NodeId, Role, TopicRef};
use crate::error::TopologyError;
use crate::topology::{
    CompiledNode, CompiledRole, CompiledStore, CompiledSubtopology, Inner, TopicName, Topology,
};

pub(crate) fn compile(graph: &Graph) -> Result<Topology, TopologyError> {
    if let Some(error) = graph.errors.first() {
        return Err(error.clone());
    }
    let names = naming::resolve(graph)?;
    check_shape(graph, &names)?;
    let children = children(graph);
    let (subtopology_of, subtopologies) = split(graph);
    let resolver = Resolver {
        graph,
        names: &names,
    };
    let nodes = graph
        .nodes
        .iter()
        .enumerate()
        .map(|(id, node)| {
            let role = compile_role(&resolver, id, node)?;
            Ok(CompiledNode {
                name: names.nodes[id].clone(),
                role,
                parents: node.parents.clone(),
                children: children[id].clone().into(),
                stores: node.stores.clone(),
                factory: (node.make)(&resolver, id)?,
                subtopology: subtopology_of[id],
            })
        })
        .collect::<Result<Vec<_>, TopologyError>>()?;
    let stores = graph
        .stores
        .iter()
        .enumerate()
        .map(|(id, store)| {
            Ok(CompiledStore {
                name: names.stores[id].clone(),
                kind: store.kind,
                key: resolver.erased_spec(&store.key, Side::Key, store.owner)?,
                value: resolver.erased_spec(&store.value, Side::Value, store.owner)?,
                subtopology: subtopology_of[store.owner],
            })
        })
        .collect::<Result<Vec<_>, TopologyError>>()?;
    Ok(Topology {
        inner: Arc::new(Inner {
            nodes,
            stores,
            subtopologies,
        }),
    })
}

pub(crate) fn topic_name(names: &Names, topic: &TopicRef) -> TopicName {
    match topic {
        TopicRef::User(name) => TopicName {
            name: name.clone(),
            internal: false,
        },
        TopicRef::Repartition(id) => TopicName {
            name: names.repartitions[*id].clone(),
            internal: true,
        },
    }
}

fn compile_role(
    resolver: &Resolver<'_>,
    id: NodeId,
    node: &LogicalNode,
) -> Result<CompiledRole, TopologyError> {
    Ok(match &node.role {
        Role::Source { topics, decoder } => CompiledRole::Source {
            topics: topics
                .iter()
                .map(|t| topic_name(resolver.names, t))
                .collect(),
            decoder: decoder(resolver, id)?,
            key: resolver.erased(id, Side::Key, id)?,
            value: resolver.erased(id, Side::Value, id)?,
        },
        Role::Processor => CompiledRole::Processor,
        Role::Sink { topic } => CompiledRole::Sink {
            topic: topic_name(resolver.names, topic),
            key: resolver.erased(id, Side::Key, id)?,
            value: resolver.erased(id, Side::Value, id)?,
        },
    })
}

/// Sources exist, something is written or stored, no topic is read twice, and user
/// topic names are valid.
fn check_shape(graph: &Graph, names: &Names) -> Result<(), TopologyError> {
    let mut source_topics = HashSet::new();
    let mut has_source = false;
    let mut has_sink = false;
    for node in &graph.nodes {
        match &node.role {
            Role::Source { topics, .. } => {
                has_source = true;
                for topic in topics {
                    let name = topic_name(names, topic);
                    if !name.internal {
                        check_name(&name.name)?;
                    }
                    if !source_topics.insert(name.name.clone()) {
                        return Err(TopologyError::DuplicateSourceTopic { topic: name.name });
                    }
                }
            }
            Role::Sink {
                topic: TopicRef::User(name),
            } => {
                check_name(name)?;
                has_sink = true;
            }
            Role::Sink { .. } | Role::Processor => {}
        }
    }
    if !has_source {
        return Err(TopologyError::NoSource);
    }
    if !has_sink && graph.stores.is_empty() {
        return Err(TopologyError::NoSink);
    }
    Ok(())
}

/// Each node's children, in creation order (which is also the order of a split's branches).
fn children(graph: &Graph) -> Vec<Vec<NodeId>> {
    let mut children = vec![Vec::new(); graph.nodes.len()];
    for (id, node) in graph.nodes.iter().enumerate() {
        for parent in &node.parents {
            children[*parent].push(id);
        }
    }
    children
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Splits the graph into sub-topologies: the connected parts once repartition topics are
/// cut, where operators that share a store belong together. Sub-topologies are numbered
/// by their first node.
fn split(graph: &Graph) -> (Vec<usize>, Vec<CompiledSubtopology>) {
    let count = graph.nodes.len();
    let mut parent: Vec<usize> = (0..count).collect();
    for (id, node) in graph.nodes.iter().enumerate() {
        let linked = node
            .parents
            .iter()
            .copied()
            .chain(node.stores.iter().map(|s| graph.stores[*s].owner));
        for other in linked.collect::<Vec<_>>() {
            let (a, b) = (find(&mut parent, id), find(&mut parent, other));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut roots: Vec<usize> = Vec::new();
    let subtopology_of: Vec<usize> = (0..count)
        .map(|id| {
            let root = find(&mut parent, id);
            roots.iter().position(|r| *r == root).unwrap_or_else(|| {
                roots.push(root);
                roots.len() - 1
            })
        })
        .collect();
    // Parents always have smaller ids than their children, so one pass gives depths.
    let mut depth = vec![0usize; count];
    for (id, node) in graph.nodes.iter().enumerate() {
        depth[id] = node
            .parents
            .iter()
            .map(|p| depth[*p] + 1)
            .max()
            .unwrap_or(0);
    }
    let subtopologies = (0..roots.len())
        .map(|sub| {
            let mut nodes: Vec<NodeId> = (0..count).filter(|n| subtopology_of[*n] == sub).collect();
            nodes.sort_by_key(|n| (depth[*n], *n));
            CompiledSubtopology { nodes }
        })
        .collect();
    (subtopology_of, subtopologies)
}
