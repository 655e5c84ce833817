//! `KStream`: an unbounded stream of records, and its stateless record-by-record
//! operators. Routing (merge, split, to, repartition, grouping) is in `kstream_flow.rs`,
//! joins in `kstream_join.rs` (with tables) and `kstream_stream_join.rs` (with streams).

use std::marker::PhantomData;
use std::sync::Arc;

use super::nodes::{processor, stateless};
use crate::dynamic::Data;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::{GraphRef, MakeProcessor, NameTarget, NodeId};
use crate::ops::filter::Filter;
use crate::ops::flat_map::FlatMap;
use crate::ops::flat_map_values::FlatMapValues;
use crate::ops::map::Map;
use crate::ops::map_values::MapValues;
use crate::ops::peek::Peek;
use crate::ops::select_key::SelectKey;
use crate::ops::{FlatMapper, KeyValueFn};
use crate::serdes::Serde;

/// A stream of records with keys `K` and values `V`.
///
/// Handles are cheap to clone and may be used more than once: each use adds a branch to
/// the topology. Operators that change the key (`map`, `flat_map`, `select_key`) mark
/// the stream so that the next stateful operator (grouping, join) first repartitions it
/// through an internal topic, so that equal keys meet in the same task.
pub struct KStream<K, V> {
    pub(crate) graph: GraphRef,
    pub(crate) node: NodeId,
    pub(crate) target: NameTarget,
    pub(crate) repartition_required: bool,
    pub(crate) _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            graph: self.graph.clone(),
            node: self.node,
            target: self.target.clone(),
            repartition_required: self.repartition_required,
            _types: PhantomData,
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    pub(crate) fn at(graph: GraphRef, node: NodeId, repartition_required: bool) -> Self {
        KStream {
            graph,
            node,
            target: NameTarget::Nodes(vec![(node, "")]),
            repartition_required,
            _types: PhantomData,
        }
    }

    pub(crate) fn then<K2: Data, V2: Data>(
        &self,
        prefix: &'static str,
        key: SerdeSpec,
        value: SerdeSpec,
        make: MakeProcessor,
        repartition_required: bool,
    ) -> KStream<K2, V2> {
        let node =
            self.graph
                .borrow_mut()
                .add_node(processor(prefix, vec![self.node], key, value, make));
        KStream::at(self.graph.clone(), node, repartition_required)
    }

    pub(crate) fn keep_key(&self) -> SerdeSpec {
        SerdeSpec::inherit::<K>(self.node, Side::Key)
    }

    pub(crate) fn keep_value(&self) -> SerdeSpec {
        SerdeSpec::inherit::<V>(self.node, Side::Value)
    }

    /// Names the operator that produced this stream (instead of Kafka's
    /// `KSTREAM-FILTER-0000000001` style). After `repartition()`, names the repartition
    /// topic: `<application.id>-<name>-repartition`. Names may use `[a-zA-Z0-9._-]`.
    pub fn named(&self, name: impl Into<String>) -> Self {
        self.graph.borrow_mut().set_name(&self.target, &name.into());
        self.clone()
    }

    /// Sets the serde of this stream's keys: how a source reads them, and how sinks,
    /// repartitions and stores downstream write them while the key type stays `K`.
    pub fn with_key_serde(&self, serde: impl Serde<K> + 'static) -> Self {
        self.graph.borrow_mut().nodes[self.node].key = SerdeSpec::explicit::<K>(Arc::new(serde));
        self.clone()
    }

    /// Sets the serde of this stream's values (see `with_key_serde`).
    pub fn with_value_serde(&self, serde: impl Serde<V> + 'static) -> Self {
        self.graph.borrow_mut().nodes[self.node].value = SerdeSpec::explicit::<V>(Arc::new(serde));
        self.clone()
    }

    /// Keeps the records for which `predicate` is true. Stateless; does not repartition;
    /// records keep their key and partition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, u64>("amounts").filter(|_, amount| *amount >= 100).to("big");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("amounts", "Alice".to_string(), 200u64, 0)?;
    /// driver.pipe_input("amounts", "Bob".to_string(), 50u64, 0)?;
    /// assert_eq!(driver.read_key_values::<String, u64>("big")?, vec![("Alice".into(), 200)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KStream<K, V> {
        self.filter_when(predicate, true)
    }

    /// Keeps the records for which `predicate` is false. Stateless; does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, u64>("amounts").filter_not(|_, amount| *amount == 0).to("non-zero");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("amounts", "Alice".to_string(), 0u64, 0)?;
    /// driver.pipe_input("amounts", "Bob".to_string(), 5u64, 0)?;
    /// assert_eq!(driver.read_key_values::<String, u64>("non-zero")?, vec![("Bob".into(), 5)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter_not(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KStream<K, V> {
        self.filter_when(predicate, false)
    }

    fn filter_when(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        keep_when: bool,
    ) -> KStream<K, V> {
        let predicate: Arc<crate::ops::filter::Predicate<K, V>> = Arc::new(predicate);
        let make = stateless(move || Filter {
            predicate: predicate.clone(),
            keep_when,
        });
        self.then(
            "KSTREAM-FILTER",
            self.keep_key(),
            self.keep_value(),
            make,
            self.repartition_required,
        )
    }

    /// Replaces each record's key and value. Stateless; the key may change, so the next
    /// stateful operator repartitions.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("payments")
    ///     .map(|from, to| (to, from))
    ///     .to("received");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("payments", "Alice".to_string(), "Bob".to_string(), 0)?;
    /// assert_eq!(driver.read_key_values::<String, String>("received")?, vec![("Bob".into(), "Alice".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map<KR: Data, VR: Data>(
        &self,
        mapper: impl Fn(K, V) -> (KR, VR) + Send + Sync + 'static,
    ) -> KStream<KR, VR> {
        let mapper: Arc<dyn Fn(K, V) -> (KR, VR) + Send + Sync> = Arc::new(mapper);
        let make = stateless(move || Map {
            mapper: mapper.clone(),
        });
        self.then(
            "KSTREAM-MAP",
            SerdeSpec::default_for::<KR>(),
            SerdeSpec::default_for::<VR>(),
            make,
            true,
        )
    }

    /// Replaces each record's value, keeping the key. Stateless; does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.stream::<String, String>("lines").map_values(|line| line.len() as u64).to("lengths");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("lines", "k".to_string(), "hello".to_string(), 0)?;
    /// assert_eq!(driver.read_key_values::<String, u64>("lengths")?, vec![("k".into(), 5)]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_values<VR: Data>(
        &self,
        mapper: impl Fn(V) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let mapper: Arc<dyn Fn(V) -> VR + Send + Sync> = Arc::new(mapper);
        let make = stateless(move || MapValues {
            mapper: mapper.clone(),
        });
        self.then(
            "KSTREAM-MAPVALUES",
            self.keep_key(),
            SerdeSpec::default_for::<VR>(),
            make,
            self.repartition_required,
        )
    }

    /// Turns each record into zero or more records with new keys and values. Stateless;
    /// the next stateful operator repartitions.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("pairs")
    ///     .flat_map(|k, v| vec![(k.clone(), v.clone()), (v, k)])
    ///     .to("both-ways");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("pairs", "a".to_string(), "b".to_string(), 0)?;
    /// let out = driver.read_key_values::<String, String>("both-ways")?;
    /// assert_eq!(out, vec![("a".into(), "b".into()), ("b".into(), "a".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flat_map<KR: Data, VR: Data, I>(
        &self,
        mapper: impl Fn(K, V) -> I + Send + Sync + 'static,
    ) -> KStream<KR, VR>
    where
        I: IntoIterator<Item = (KR, VR)>,
    {
        let mapper: Arc<FlatMapper<K, V, KR, VR>> =
            Arc::new(move |k, v| mapper(k, v).into_iter().collect());
        let make = stateless(move || FlatMap {
            mapper: mapper.clone(),
        });
        self.then(
            "KSTREAM-FLATMAP",
            SerdeSpec::default_for::<KR>(),
            SerdeSpec::default_for::<VR>(),
            make,
            true,
        )
    }

    /// Turns each value into zero or more values under the same key. Stateless; does not
    /// repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("lines")
    ///     .flat_map_values(|line| line.split(' ').map(str::to_string).collect::<Vec<_>>())
    ///     .to("words");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("lines", "k".to_string(), "to be".to_string(), 0)?;
    /// let out = driver.read_key_values::<String, String>("words")?;
    /// assert_eq!(out, vec![("k".into(), "to".into()), ("k".into(), "be".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flat_map_values<VR: Data, I>(
        &self,
        mapper: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> KStream<K, VR>
    where
        I: IntoIterator<Item = VR>,
    {
        let mapper: Arc<dyn Fn(V) -> Vec<VR> + Send + Sync> =
            Arc::new(move |v| mapper(v).into_iter().collect());
        let make = stateless(move || FlatMapValues {
            mapper: mapper.clone(),
        });
        self.then(
            "KSTREAM-FLATMAPVALUES",
            self.keep_key(),
            SerdeSpec::default_for::<VR>(),
            make,
            self.repartition_required,
        )
    }

    /// Gives each record a new key computed from its key and value, keeping the value.
    /// Stateless; the next stateful operator repartitions.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("payments")
    ///     .select_key(|_, text| text.split(' ').last().unwrap_or_default().to_string())
    ///     .to("by-recipient");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("payments", "Alice".to_string(), "200 to Bob".to_string(), 0)?;
    /// let out = driver.read_key_values::<String, String>("by-recipient")?;
    /// assert_eq!(out, vec![("Bob".into(), "200 to Bob".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn select_key<KR: Data>(
        &self,
        selector: impl Fn(&K, &V) -> KR + Send + Sync + 'static,
    ) -> KStream<KR, V> {
        let selector: Arc<KeyValueFn<K, V, KR>> = Arc::new(selector);
        let make = stateless(move || SelectKey {
            selector: selector.clone(),
        });
        self.then(
            "KSTREAM-KEY-SELECT",
            SerdeSpec::default_for::<KR>(),
            self.keep_value(),
            make,
            true,
        )
    }

    /// Calls `action` on each record and passes it on unchanged. Stateless; does not
    /// repartition. For logging and tests: the action must not expect exactly-once calls.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("in")
    ///     .peek(move |k, _| log.lock().unwrap().push(k.clone()))
    ///     .to("out");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("in", "a".to_string(), "x".to_string(), 0)?;
    /// assert_eq!(*seen.lock().unwrap(), vec!["a".to_string()]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peek(&self, action: impl Fn(&K, &V) + Send + Sync + 'static) -> KStream<K, V> {
        let action: Arc<KeyValueFn<K, V, ()>> = Arc::new(action);
        let make = stateless(move || Peek {
            action: action.clone(),
        });
        self.then(
            "KSTREAM-PEEK",
            self.keep_key(),
            self.keep_value(),
            make,
            self.repartition_required,
        )
    }
}
