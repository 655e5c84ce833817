//! `KStream` routing: merge, split, sinks, repartitioning and grouping.

use std::sync::Arc;

use super::nodes::{pass_through, processor, repartition, same_builder, sink, stateless};
use super::{BranchedKStream, KGroupedStream, KStream};
use crate::dynamic::Data;
use crate::graph::serde_spec::SerdeSpec;
use crate::graph::{NameTarget, Naming, TopicRef};
use crate::ops::select_key::SelectKey;
use crate::ops::KeyValueFn;

impl<K: Data, V: Data> KStream<K, V> {
    /// One stream with the records of both. Stateless; does not repartition (but a
    /// stateful operator after it repartitions if either input needed it).
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let a = builder.stream::<String, String>("a");
    /// let b = builder.stream::<String, String>("b");
    /// a.merge(&b).to("both");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("b", "k".to_string(), "from b".to_string(), 0)?;
    /// driver.pipe_input("a", "k".to_string(), "from a".to_string(), 0)?;
    /// assert_eq!(driver.read_output::<String, String>("both")?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        if !same_builder(&self.graph, &other.graph, "merge") {
            return self.clone();
        }
        let node = processor(
            "KSTREAM-MERGE",
            vec![self.node, other.node],
            self.keep_key(),
            self.keep_value(),
            pass_through(),
        );
        let id = self.graph.borrow_mut().add_node(node);
        KStream::at(
            self.graph.clone(),
            id,
            self.repartition_required || other.repartition_required,
        )
    }

    /// Splits the stream into branches: each record goes to the first branch whose
    /// predicate is true (see `BranchedKStream`). Stateless; does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let branches = builder
    ///     .stream::<String, u64>("amounts")
    ///     .split()
    ///     .branch(|_, a| *a >= 1000)
    ///     .branch(|_, a| *a >= 100)
    ///     .default_branch();
    /// branches[0].to("large");
    /// branches[1].to("medium");
    /// branches[2].to("small");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("amounts", "Alice".to_string(), 200u64, 0)?;
    /// assert_eq!(driver.read_key_values::<String, u64>("medium")?, vec![("Alice".into(), 200)]);
    /// assert!(driver.read_output::<String, u64>("large")?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn split(&self) -> BranchedKStream<K, V> {
        BranchedKStream::new(self.clone())
    }

    /// Writes the stream to `topic` with the stream's serdes. Stateless.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, String>("in").to("out");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("in", "k".to_string(), "v".to_string(), 7)?;
    /// let out = driver.read_output::<String, String>("out")?;
    /// assert_eq!((out[0].value.as_deref(), out[0].timestamp), (Some("v"), 7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to(&self, topic: impl Into<String>) {
        let node = sink::<K, V>(self.node, TopicRef::User(topic.into()), Naming::Auto);
        self.graph.borrow_mut().add_node(node);
    }

    /// `to`, with a name for the sink operator. Stateless.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, String>("in").to_named("out", "write-out");
    /// assert!(builder.build()?.describe().to_string().contains("Sink: write-out (topic: out)"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_named(&self, topic: impl Into<String>, name: impl Into<String>) {
        let node = sink::<K, V>(
            self.node,
            TopicRef::User(topic.into()),
            Naming::User(name.into()),
        );
        self.graph.borrow_mut().add_node(node);
    }

    /// Writes the stream through an internal topic and reads it back, so that records
    /// are partitioned by their current key. Stateless; always repartitions. The topic is
    /// `<application.id>-KSTREAM-REPARTITION-<n>-repartition`, or
    /// `<application.id>-<name>-repartition` after `.named(name)`.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in")
    ///     .select_key(|_, v| v.clone())
    ///     .repartition()
    ///     .named("by-value")
    ///     .to("out");
    /// let topology = builder.build()?;
    /// assert_eq!(topology.subtopology_count(), 2);
    /// let mut driver = TopologyTestDriver::new(topology, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("in", "k".to_string(), "v".to_string(), 0)?;
    /// assert_eq!(driver.read_key_values::<String, String>("out")?, vec![("v".into(), "v".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn repartition(&self) -> KStream<K, V> {
        let (source, id) = repartition::<K, V>(&mut self.graph.borrow_mut(), self.node, None);
        let mut stream = KStream::at(self.graph.clone(), source, false);
        stream.target = NameTarget::Repartition(id);
        stream
    }

    /// Groups the records by their key, for an aggregation. Repartitions first only if
    /// the key was changed upstream.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, String>("clicks").group_by_key().count().to_stream().to("clicks-per-user");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("clicks", "Alice".to_string(), "/home".to_string(), 0)?;
    /// driver.pipe_input("clicks", "Alice".to_string(), "/pay".to_string(), 1)?;
    /// let counts = driver.read_key_values::<String, u64>("clicks-per-user")?;
    /// assert_eq!(counts, vec![("Alice".into(), 1), ("Alice".into(), 2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone())
    }

    /// Groups the records by a new key computed from key and value, for an aggregation.
    /// Always repartitions (through `<application.id>-<store>-repartition`, or the
    /// grouped stream's name, see `KGroupedStream::named`).
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("words")
    ///     .group_by(|_, word| word.clone())
    ///     .count()
    ///     .named("word-counts")
    ///     .to_stream()
    ///     .to("counts");
    /// let topology = builder.build()?;
    /// assert_eq!(topology.subtopology_count(), 2);
    /// # Ok::<(), eddy_topologies::TopologyError>(())
    /// ```
    pub fn group_by<KR: Data>(
        &self,
        selector: impl Fn(&K, &V) -> KR + Send + Sync + 'static,
    ) -> KGroupedStream<KR, V> {
        let selector: Arc<KeyValueFn<K, V, KR>> = Arc::new(selector);
        let make = stateless(move || SelectKey {
            selector: selector.clone(),
        });
        let keyed = self.then::<KR, V>(
            "KSTREAM-KEY-SELECT",
            SerdeSpec::default_for::<KR>(),
            self.keep_value(),
            make,
            true,
        );
        KGroupedStream::new(keyed)
    }
}
