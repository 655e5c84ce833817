//! Resolves the names of operators, stores and internal topics, and checks them.

use std::collections::HashSet;

use super::{Graph, Naming, RepartitionNaming};
use crate::error::TopologyError;

/// Kafka's limit on topic names; user names become parts of internal topic names.
const NAME_BYTES_MAX: usize = 249;

/// Every name in the graph, by id. Repartition names are topic names without the
/// application id prefix (`<base>-repartition`).
pub(crate) struct Names {
    pub(crate) nodes: Vec<String>,
    pub(crate) stores: Vec<String>,
    pub(crate) repartitions: Vec<String>,
}

pub(crate) fn resolve(graph: &Graph) -> Result<Names, TopologyError> {
    check_user_names(graph)?;
    let repartitions: Vec<String> = (0..graph.repartitions.len())
        .map(|id| repartition_topic(graph, id))
        .collect();
    let nodes: Vec<String> = (0..graph.nodes.len())
        .map(|id| node_name(graph, id))
        .collect();
    let stores: Vec<String> = (0..graph.stores.len())
        .map(|id| store_name(graph, id))
        .collect();
    unique("processor", &nodes)?;
    unique("store", &stores)?;
    unique("internal topic", &repartitions)?;
    Ok(Names {
        nodes,
        stores,
        repartitions,
    })
}

fn auto(prefix: &str, id: usize) -> String {
    format!("{prefix}-{id:010}")
}

fn repartition_base(graph: &Graph, id: usize) -> Option<String> {
    match &graph.repartitions[id] {
        RepartitionNaming::User(name) => Some(name.clone()),
        RepartitionNaming::Store(store) => Some(store_name(graph, *store)),
        RepartitionNaming::Auto(_) => None,
    }
}

fn repartition_topic(graph: &Graph, id: usize) -> String {
    match (&graph.repartitions[id], repartition_base(graph, id)) {
        (RepartitionNaming::Auto(node), _) => {
            format!("{}-repartition", auto("KSTREAM-REPARTITION", *node))
        }
        (_, base) => format!("{}-repartition", base.unwrap_or_default()),
    }
}

fn node_name(graph: &Graph, id: usize) -> String {
    let node = &graph.nodes[id];
    let named_repartition = |r: usize| match &graph.repartitions[r] {
        RepartitionNaming::User(name) => Some(name.clone()),
        _ => None,
    };
    match &node.naming {
        Naming::User(name) => name.clone(),
        Naming::RepartitionSink(r) => named_repartition(*r).map_or_else(
            || auto(node.prefix, id),
            |n| format!("{n}-repartition-sink"),
        ),
        Naming::RepartitionSource(r) => named_repartition(*r).map_or_else(
            || auto(node.prefix, id),
            |n| format!("{n}-repartition-source"),
        ),
        Naming::Auto => auto(node.prefix, id),
    }
}

fn store_name(graph: &Graph, id: usize) -> String {
    let store = &graph.stores[id];
    match &graph.nodes[store.owner].naming {
        Naming::User(name) => format!("{name}{}", store.named_suffix),
        _ => auto(store.auto_prefix, store.owner),
    }
}

fn unique(kind: &'static str, names: &[String]) -> Result<(), TopologyError> {
    let mut seen = HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(TopologyError::DuplicateName {
                kind,
                name: name.clone(),
            });
        }
    }
    Ok(())
}

fn check_user_names(graph: &Graph) -> Result<(), TopologyError> {
    let node_names = graph.nodes.iter().filter_map(|n| match &n.naming {
        Naming::User(name) => Some(name),
        _ => None,
    });
    let repartition_names = graph.repartitions.iter().filter_map(|r| match r {
        RepartitionNaming::User(name) => Some(name),
        _ => None,
    });
    node_names
        .chain(repartition_names)
        .try_for_each(|name| check_name(name))
}

/// A name must be usable inside a Kafka topic name: `[a-zA-Z0-9._-]`, not empty, short.
pub(crate) fn check_name(name: &str) -> Result<(), TopologyError> {
    let invalid = |reason| {
        Err(TopologyError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("a name must not be empty");
    }
    if name.len() > NAME_BYTES_MAX {
        return invalid("a name must be at most 249 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return invalid("a name may only contain ASCII letters, digits, '.', '_' and '-'");
    }
    Ok(())
}
