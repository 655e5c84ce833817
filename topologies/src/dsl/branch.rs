//! `BranchedKStream`: the branches of `KStream::split`.

use std::sync::Arc;

use super::nodes::{pass_through, processor, stateless};
use super::KStream;
use crate::dynamic::Data;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::Naming;
use crate::ops::branch::Branch;
use crate::ops::filter::Predicate;

/// A stream being split into branches: add branches with `branch`, then finish with
/// `default_branch` (records no predicate accepts get a branch of their own) or
/// `no_default_branch` (they are dropped). Each record goes to the first branch whose
/// predicate is true. Stateless; does not repartition.
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    predicates: Vec<Arc<Predicate<K, V>>>,
    name: Option<String>,
}

impl<K: Data, V: Data> BranchedKStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>) -> Self {
        BranchedKStream {
            stream,
            predicates: Vec::new(),
            name: None,
        }
    }

    /// Names the split operator `<name>` and its branches `<name>-<n>` (from 0), as
    /// Kafka's `split(Named.as(..))` does.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let branches = builder.stream::<String, u64>("in").split().named("by-size").branch(|_, n| *n > 9).no_default_branch();
    /// branches[0].to("big");
    /// let described = builder.build()?.describe().to_string();
    /// assert!(described.contains("Processor: by-size (stores: [])") && described.contains("by-size-0"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds a branch for the records `predicate` accepts (and no earlier branch did).
    pub fn branch(mut self, predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static) -> Self {
        self.predicates.push(Arc::new(predicate));
        self
    }

    /// The branches, in order, plus a last one with the records no predicate accepts.
    pub fn default_branch(self) -> Vec<KStream<K, V>> {
        self.finish(true)
    }

    /// The branches, in order; records no predicate accepts are dropped.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let only = builder.stream::<String, u64>("in").split().branch(|_, n| *n % 2 == 0).no_default_branch();
    /// only[0].to("even");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("in", "a".to_string(), 3u64, 0)?;
    /// driver.pipe_input("in", "b".to_string(), 4u64, 0)?;
    /// assert_eq!(driver.read_key_values::<String, u64>("even")?, vec![("b".into(), 4)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn no_default_branch(self) -> Vec<KStream<K, V>> {
        self.finish(false)
    }

    fn finish(self, with_default: bool) -> Vec<KStream<K, V>> {
        let predicates = self.predicates;
        let branch_count = predicates.len() + usize::from(with_default);
        let default_child = with_default.then_some(predicates.len());
        let make = stateless(move || Branch {
            predicates: predicates.clone(),
            default_child,
        });
        let stream = &self.stream;
        let branch = stream.then::<K, V>(
            "KSTREAM-BRANCH",
            stream.keep_key(),
            stream.keep_value(),
            make,
            stream.repartition_required,
        );
        let mut graph = branch.graph.borrow_mut();
        let children: Vec<_> = (0..branch_count)
            .map(|_| {
                let key = SerdeSpec::inherit::<K>(branch.node, Side::Key);
                let value = SerdeSpec::inherit::<V>(branch.node, Side::Value);
                graph.add_node(processor(
                    "KSTREAM-BRANCHCHILD",
                    vec![branch.node],
                    key,
                    value,
                    pass_through(),
                ))
            })
            .collect();
        if let Some(name) = &self.name {
            let mut nodes = vec![(branch.node, String::new())];
            nodes.extend(
                children
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (*c, format!("-{i}"))),
            );
            for (node, suffix) in nodes {
                graph.nodes[node].naming = Naming::User(format!("{name}{suffix}"));
            }
        }
        drop(graph);
        children
            .into_iter()
            .map(|node| KStream::at(branch.graph.clone(), node, branch.repartition_required))
            .collect()
    }
}
