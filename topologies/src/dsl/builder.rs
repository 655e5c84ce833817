//! `StreamsBuilder`: where a topology starts.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::nodes::{processor, source, store_getter};
use super::{KStream, KTable};
use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::{compile, Graph, GraphRef, LogicalStore, Naming, TopicRef};
use crate::ops::factory;
use crate::ops::table_source::TableSource;
use crate::serdes::Serde;
use crate::store::StoreKind;
use crate::topology::Topology;

/// Builds a topology: add sources with `stream` and `table`, chain operators on the
/// handles they return, then call `build`.
///
/// Serdes: strings, `Vec<u8>`, `i64` and `u64` have default serdes; register others with
/// `default_serde`, or set them where they flow with `with_key_serde`/`with_value_serde`.
///
/// ```
/// use eddy_topologies::{Serdes, StreamsBuilder};
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Payment { amount: u64 }
///
/// let builder = StreamsBuilder::new();
/// builder.default_serde::<Payment>(Serdes::json());
/// builder
///     .stream::<String, Payment>("payments")
///     .filter(|_, p| p.amount > 0)
///     .to("valid-payments");
/// let topology = builder.build()?;
/// assert_eq!(topology.subtopology_count(), 1);
/// # Ok::<(), eddy_topologies::TopologyError>(())
/// ```
#[derive(Default)]
pub struct StreamsBuilder {
    graph: GraphRef,
}

impl StreamsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        StreamsBuilder {
            graph: Rc::new(RefCell::new(Graph::default())),
        }
    }

    /// Uses `serde` for every `T` whose serde is not set explicitly (like Kafka's
    /// `default.key.serde` / `default.value.serde`, but per type).
    pub fn default_serde<T: 'static>(&self, serde: impl Serde<T> + 'static) -> &Self {
        self.graph
            .borrow_mut()
            .defaults
            .insert::<T>(Arc::new(serde));
        self
    }

    /// A stream of the records of `topic`. Stateless. Records whose key or value does
    /// not deserialize (null included, unless the serde is `Serdes::nullable`) are skipped
    /// and counted by the task.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, String>("in").named("read-in").to("out");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("in", "k".to_string(), "v".to_string(), 5)?;
    /// assert_eq!(driver.read_key_values::<String, String>("out")?, vec![("k".into(), "v".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stream<K: Data, V: Data>(&self, topic: impl Into<String>) -> KStream<K, V> {
        let topic = TopicRef::User(topic.into());
        let node = source::<K, V>(
            topic,
            Naming::Auto,
            SerdeSpec::default_for::<K>(),
            SerdeSpec::default_for::<V>(),
            false,
        );
        let id = self.graph.borrow_mut().add_node(node);
        KStream::at(self.graph.clone(), id, false)
    }

    /// A table of the latest value per key of `topic`; a null value deletes the key.
    /// Stateful: materialized in a key-value store (named after the table, see
    /// `KTable::named`) with a changelog.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.table::<String, String>("users").named("users");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("users", "alice".to_string(), "Alice A.".to_string(), 1)?;
    /// driver.pipe_input("users", "bob".to_string(), "Bob B.".to_string(), 2)?;
    /// driver.pipe_tombstone::<String>("users", "bob".to_string(), 3)?;
    /// let rows = driver.key_value_store::<String, String>("users")?;
    /// assert_eq!(rows, vec![("alice".to_string(), "Alice A.".to_string())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn table<K: Data, V: Data>(&self, topic: impl Into<String>) -> KTable<K, V> {
        let mut graph = self.graph.borrow_mut();
        let source_id = graph.next_node();
        let table = source_id + 1;
        let store = graph.next_store();
        // The source decodes with the table's serdes, so that `with_*_serde` on the
        // table sets how the topic is read.
        let key = SerdeSpec::inherit::<K>(table, Side::Key);
        let value = SerdeSpec::inherit::<V>(table, Side::Value);
        graph.add_node(source::<K, V>(
            TopicRef::User(topic.into()),
            Naming::Auto,
            key,
            value,
            true,
        ));
        let make = Box::new(move |r: &crate::graph::serde_spec::Resolver<'_>, id| {
            let key = r.serde::<K>(id, Side::Key, id)?;
            let value = r.serde::<V>(id, Side::Value, id)?;
            Ok(factory(move || TableSource {
                store,
                key: key.clone(),
                value: value.clone(),
            }))
        });
        graph.add_node(processor(
            "KTABLE-SOURCE",
            vec![source_id],
            SerdeSpec::default_for::<K>(),
            SerdeSpec::default_for::<V>(),
            make,
        ));
        graph.add_store(LogicalStore {
            owner: table,
            auto_prefix: "KTABLE-SOURCE-STATE-STORE",
            named_suffix: "",
            kind: StoreKind::KeyValue,
            key: SerdeSpec::inherit::<K>(table, Side::Key),
            value: SerdeSpec::inherit::<V>(table, Side::Value),
        });
        drop(graph);
        KTable::at(
            self.graph.clone(),
            table,
            Some(store_getter::<K, V>(table, store)),
            None,
        )
    }

    /// Checks the topology and compiles it: every source reads a distinct topic, the
    /// topology writes or stores something, names are unique and valid, and every
    /// source, sink, repartition and store has its serdes.
    pub fn build(&self) -> Result<Topology, TopologyError> {
        compile::compile(&self.graph.borrow())
    }
}
