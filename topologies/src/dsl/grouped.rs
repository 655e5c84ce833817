//! `KGroupedStream`: a stream grouped by key, ready for an aggregation.

use std::sync::Arc;

use super::nodes::{name_repartition_after, processor, repartition_with, store_getter};
use super::windowed::Windows;
use super::{KStream, KTable, SessionWindowedKStream, TimeWindowedKStream};
use crate::dynamic::Data;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::{Graph, LogicalStore, MakeProcessor, NodeId, RepartitionId};
use crate::ops::aggregate::{Aggregate, Aggregator};
use crate::ops::factory;
use crate::serdes::{LongSerde, Serde, SerdeRef};
use crate::store::StoreKind;
use crate::window::{SessionWindows, SlidingWindows, TimeWindows};

/// A stream grouped by key. Aggregations (`count`, `reduce`, `aggregate`) turn it into a
/// table kept in a key-value store, one row per key; `windowed_by`,
/// `windowed_by_sliding` and `windowed_by_session` aggregate per window instead. If the key was changed upstream, the aggregation first repartitions.
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) name: Option<String>,
    key_serde: Option<SerdeRef<K>>,
    value_serde: Option<SerdeRef<V>>,
}

impl<K, V> Clone for KGroupedStream<K, V> {
    fn clone(&self) -> Self {
        KGroupedStream {
            stream: self.stream.clone(),
            name: self.name.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K: Data, V: Data> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>) -> Self {
        KGroupedStream {
            stream,
            name: None,
            key_serde: None,
            value_serde: None,
        }
    }

    /// Names the repartition topic, if the grouping needs one:
    /// `<application.id>-<name>-repartition`. Without a name it is named after the
    /// aggregation's store.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the serde of the grouping key for the repartition topic and the store (like
    /// Kafka's `Grouped.with`); the stream upstream keeps its own.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("words")
    ///     .group_by(|_, w| w.len() as u32) // u32 has no default serde
    ///     .with_key_serde(Serdes::json())
    ///     .named("by-length")
    ///     .count();
    /// let topology = builder.build()?;
    /// assert_eq!(topology.source_topics(1, "app"), vec!["app-by-length-repartition".to_string()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_key_serde(mut self, serde: impl Serde<K> + 'static) -> Self {
        self.key_serde = Some(Arc::new(serde));
        self
    }

    /// Sets the serde of the values for the repartition topic (and the store of `reduce`).
    pub fn with_value_serde(mut self, serde: impl Serde<V> + 'static) -> Self {
        self.value_serde = Some(Arc::new(serde));
        self
    }

    /// The serde spec of the grouping key as read from `node`.
    pub(crate) fn key_spec(&self, node: NodeId) -> SerdeSpec {
        self.key_serde.clone().map_or_else(
            || SerdeSpec::inherit::<K>(node, Side::Key),
            SerdeSpec::explicit,
        )
    }

    pub(crate) fn value_spec(&self, node: NodeId) -> SerdeSpec {
        self.value_serde.clone().map_or_else(
            || SerdeSpec::inherit::<V>(node, Side::Value),
            SerdeSpec::explicit,
        )
    }

    /// The node the aggregation reads: the stream itself, or the source of a new
    /// repartition topic if the key changed upstream.
    pub(crate) fn input(&self, graph: &mut Graph) -> (NodeId, Option<RepartitionId>) {
        let upstream = self.stream.node;
        if !self.stream.repartition_required {
            return (upstream, None);
        }
        let (key, value) = (self.key_spec(upstream), self.value_spec(upstream));
        let (source, id) = repartition_with::<K, V>(graph, upstream, self.name.clone(), key, value);
        (source, Some(id))
    }

    /// Counts the records per key. Stateful: a key-value store (named after the table,
    /// see `KTable::named`); repartitions if the key changed upstream. Counts use
    /// `Serdes::long()`. Records without a value are not counted.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, String>("logins").group_by_key().count().named("logins-per-user");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("logins", "Alice".to_string(), "web".to_string(), 0)?;
    /// driver.pipe_input("logins", "Alice".to_string(), "app".to_string(), 1)?;
    /// let rows = driver.key_value_store::<String, u64>("logins-per-user")?;
    /// assert_eq!(rows, vec![("Alice".to_string(), 2)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count(&self) -> KTable<K, u64> {
        let long: SerdeRef<u64> = Arc::new(LongSerde);
        self.aggregate_with(
            Arc::new(|_, _, old: Option<u64>| old.unwrap_or(0) + 1),
            SerdeSpec::explicit(long),
        )
    }

    /// Combines the values per key with `reducer(aggregate, value)`; the first value of
    /// a key is its first aggregate. Stateful (a key-value store); repartitions if the key
    /// changed upstream.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, u64>("amounts").group_by_key().reduce(|a, b| a.max(b)).to_stream().to("max");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("amounts", "Alice".to_string(), 200u64, 0)?;
    /// driver.pipe_input("amounts", "Alice".to_string(), 50u64, 1)?;
    /// let out = driver.read_key_values::<String, u64>("max")?;
    /// assert_eq!(out, vec![("Alice".into(), 200), ("Alice".into(), 200)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reduce(&self, reducer: impl Fn(V, V) -> V + Send + Sync + 'static) -> KTable<K, V> {
        let aggregator: Arc<Aggregator<K, V, V>> = Arc::new(move |_, v, old| match old {
            Some(aggregate) => reducer(aggregate, v),
            None => v,
        });
        self.aggregate_with(aggregator, self.value_spec(self.stream.node))
    }

    /// Folds the values per key into an aggregate: `initializer()` starts it and
    /// `aggregator(key, value, aggregate)` updates it. Stateful (a key-value store);
    /// repartitions if the key changed upstream. The aggregate type needs a serde (set
    /// it on the resulting table with `with_value_serde` unless it has a default).
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("words")
    ///     .group_by_key()
    ///     .aggregate(String::new, |_, word, acc| acc + &word)
    ///     .to_stream()
    ///     .to("joined");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("words", "k".to_string(), "ab".to_string(), 0)?;
    /// driver.pipe_input("words", "k".to_string(), "cd".to_string(), 1)?;
    /// let out = driver.read_key_values::<String, String>("joined")?;
    /// assert_eq!(out.last(), Some(&("k".to_string(), "abcd".to_string())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    ) -> KTable<K, VA> {
        let aggregator: Arc<Aggregator<K, V, VA>> =
            Arc::new(move |k, v, old| aggregator(k, v, old.unwrap_or_else(&initializer)));
        self.aggregate_with(aggregator, SerdeSpec::default_for::<VA>())
    }

    /// Aggregates per time window instead of per key only.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("clicks")
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of(Duration::from_secs(60)))
    ///     .count()
    ///     .to_stream()
    ///     .to("clicks-per-minute");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("clicks", "Alice".to_string(), "/".to_string(), 61_000)?;
    /// let out = driver.read_key_values::<Windowed<String>, u64>("clicks-per-minute")?;
    /// assert_eq!(out[0].0.window, Window::new(60_000, 120_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn windowed_by(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream::new(self.clone(), Windows::Time(windows))
    }

    /// Aggregates per sliding window: for each record, over the records of its key at
    /// most the time difference before it (see `SlidingWindows`). Each update of a
    /// window is a row of the resulting windowed table.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("clicks")
    ///     .group_by_key()
    ///     .windowed_by_sliding(SlidingWindows::of_time_difference_without_grace(Duration::from_secs(10)))
    ///     .count()
    ///     .to_stream()
    ///     .to("clicks-in-ten-seconds");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("clicks", "a".to_string(), "/".to_string(), 20_000)?;
    /// driver.pipe_input("clicks", "a".to_string(), "/".to_string(), 25_000)?;
    /// let out: Vec<(Window, u64)> = driver
    ///     .read_key_values::<Windowed<String>, u64>("clicks-in-ten-seconds")?
    ///     .into_iter()
    ///     .map(|(w, n)| (w.window, n))
    ///     .collect();
    /// assert_eq!(out, vec![
    ///     (Window::new(10_000, 20_000), 1), // the first click's window
    ///     (Window::new(20_001, 30_001), 1), // the window after it, holding the second
    ///     (Window::new(15_000, 25_000), 2), // the second click's window
    /// ]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn windowed_by_sliding(&self, windows: SlidingWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream::new(self.clone(), Windows::Sliding(windows))
    }

    /// Aggregates per session: records of a key at most `windows`' inactivity gap apart
    /// share a session (see `SessionWindowedKStream`).
    pub fn windowed_by_session(&self, windows: SessionWindows) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream::new(self.clone(), windows)
    }

    fn aggregate_with<VA: Data>(
        &self,
        aggregator: Arc<Aggregator<K, V, VA>>,
        value: SerdeSpec,
    ) -> KTable<K, VA> {
        let mut graph = self.stream.graph.borrow_mut();
        let (input, repartition) = self.input(&mut graph);
        let node = graph.next_node();
        let store = graph.next_store();
        let make: MakeProcessor = Box::new(move |r, id| {
            let key = r.serde::<K>(id, Side::Key, id)?;
            let value = r.serde::<VA>(id, Side::Value, id)?;
            let aggregator = aggregator.clone();
            Ok(factory(move || Aggregate {
                store,
                key: key.clone(),
                value: value.clone(),
                aggregator: aggregator.clone(),
            }))
        });
        graph.add_node(processor(
            "KSTREAM-AGGREGATE",
            vec![input],
            self.key_spec(input),
            value,
            make,
        ));
        graph.add_store(LogicalStore {
            owner: node,
            auto_prefix: "KSTREAM-AGGREGATE-STATE-STORE",
            named_suffix: "",
            kind: StoreKind::KeyValue,
            key: SerdeSpec::inherit::<K>(node, Side::Key),
            value: SerdeSpec::inherit::<VA>(node, Side::Value),
        });
        name_repartition_after(&mut graph, repartition, store);
        drop(graph);
        KTable::at(
            self.stream.graph.clone(),
            node,
            Some(store_getter::<K, VA>(node, store)),
            None,
        )
    }
}
