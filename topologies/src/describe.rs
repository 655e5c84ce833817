//! `Topology::describe()`: the shape of a topology as data, printed like Kafka Streams'
//! `TopologyDescription`.

use std::fmt;

/// A topology's sub-topologies. `Display` prints it as Kafka Streams does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyDescription {
    /// The sub-topologies, by id.
    pub subtopologies: Vec<SubtopologyDescription>,
}

/// One sub-topology: the operators one task runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubtopologyDescription {
    /// The sub-topology id (the first half of a task id).
    pub id: u32,
    /// Its nodes, sources first, then by distance from the sources.
    pub nodes: Vec<NodeDescription>,
}

/// One node of a sub-topology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDescription {
    /// The node's name.
    pub name: String,
    /// What the node is.
    pub kind: NodeKind,
    /// The nodes it forwards to.
    pub successors: Vec<String>,
    /// The nodes it receives from.
    pub predecessors: Vec<String>,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Reads topics (internal ones named without the application id prefix).
    Source {
        /// The topics.
        topics: Vec<String>,
    },
    /// Transforms records, possibly with state stores.
    Processor {
        /// The stores it reads or writes.
        stores: Vec<String>,
    },
    /// Writes a topic.
    Sink {
        /// The topic.
        topic: String,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Topologies:")?;
        for (i, sub) in self.subtopologies.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for SubtopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  Sub-topology: {}", self.id)?;
        for node in &self.nodes {
            write!(f, "{node}")?;
        }
        Ok(())
    }
}

impl fmt::Display for NodeDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeKind::Source { topics } => {
                writeln!(
                    f,
                    "    Source: {} (topics: [{}])",
                    self.name,
                    topics.join(", ")
                )?;
                writeln!(f, "      --> {}", list(&self.successors))
            }
            NodeKind::Processor { stores } => {
                writeln!(
                    f,
                    "    Processor: {} (stores: [{}])",
                    self.name,
                    stores.join(", ")
                )?;
                writeln!(f, "      --> {}", list(&self.successors))?;
                writeln!(f, "      <-- {}", list(&self.predecessors))
            }
            NodeKind::Sink { topic } => {
                writeln!(f, "    Sink: {} (topic: {})", self.name, topic)?;
                writeln!(f, "      <-- {}", list(&self.predecessors))
            }
        }
    }
}
