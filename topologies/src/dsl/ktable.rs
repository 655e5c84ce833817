//! `KTable`: a changelog stream seen as a table, one current value per key.

use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::nodes::{pass_through, processor, stateless};
use super::KStream;
use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::{GraphRef, LogicalGetter, LogicalStore, MakeProcessor, NameTarget, NodeId};
use crate::ops::filter::Predicate;
use crate::ops::map_values::MapValues;
use crate::ops::suppress::Suppress;
use crate::ops::table_filter::TableFilter;
use crate::ops::{factory, getter};
use crate::serdes::Serde;
use crate::store::StoreKind;
use crate::window::{Suppressed, Windowed};

/// A table: for each key, its latest value; an update with no value (a tombstone)
/// deletes the key. Tables come from `StreamsBuilder::table` and from aggregations.
///
/// Tables from a topic and from aggregations are materialized in a key-value store;
/// `filter` and `map_values` are computed on the fly from their parent's store when a
/// join looks them up.
pub struct KTable<K, V> {
    pub(crate) graph: GraphRef,
    pub(crate) node: NodeId,
    pub(crate) target: NameTarget,
    /// How joins look keys up; `None` for windowed tables.
    pub(crate) getter: Option<LogicalGetter>,
    /// The grace period of the windowed aggregation that produced the table, if any.
    pub(crate) window_grace_ms: Option<i64>,
    pub(crate) _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            graph: self.graph.clone(),
            node: self.node,
            target: self.target.clone(),
            getter: self.getter.clone(),
            window_grace_ms: self.window_grace_ms,
            _types: PhantomData,
        }
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    pub(crate) fn at(
        graph: GraphRef,
        node: NodeId,
        getter: Option<LogicalGetter>,
        window_grace_ms: Option<i64>,
    ) -> Self {
        KTable {
            graph,
            node,
            target: NameTarget::Nodes(vec![(node, "")]),
            getter,
            window_grace_ms,
            _types: PhantomData,
        }
    }

    fn then<V2: Data>(
        &self,
        prefix: &'static str,
        value: SerdeSpec,
        make: MakeProcessor,
        getter: Option<LogicalGetter>,
    ) -> KTable<K, V2> {
        let key = SerdeSpec::inherit::<K>(self.node, Side::Key);
        let node =
            self.graph
                .borrow_mut()
                .add_node(processor(prefix, vec![self.node], key, value, make));
        KTable::at(self.graph.clone(), node, getter, self.window_grace_ms)
    }

    /// Names the operator that produced the table. For a table from a topic or an
    /// aggregation this also names its store (`<name>`) and changelog topic
    /// (`<application.id>-<name>-changelog`).
    pub fn named(&self, name: impl Into<String>) -> Self {
        self.graph.borrow_mut().set_name(&self.target, &name.into());
        self.clone()
    }

    /// Sets the serde of the table's keys (how a source table reads them, how its store
    /// and downstream sinks write them).
    pub fn with_key_serde(&self, serde: impl Serde<K> + 'static) -> Self {
        self.graph.borrow_mut().nodes[self.node].key = SerdeSpec::explicit::<K>(Arc::new(serde));
        self.clone()
    }

    /// Sets the serde of the table's values (for an aggregation: of its aggregate).
    pub fn with_value_serde(&self, serde: impl Serde<V> + 'static) -> Self {
        self.graph.borrow_mut().nodes[self.node].value = SerdeSpec::explicit::<V>(Arc::new(serde));
        self.clone()
    }

    /// Keeps the rows for which `predicate` is true; other updates become tombstones.
    /// Stateless (computed from the parent's store when looked up); does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.table::<String, u64>("balances").filter(|_, b| *b > 0).to_stream().to("positive");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("balances", "Alice".to_string(), 10u64, 0)?;
    /// driver.pipe_input("balances", "Alice".to_string(), 0u64, 1)?;
    /// let out = driver.read_output::<String, u64>("positive")?;
    /// assert_eq!(out.iter().map(|r| r.value).collect::<Vec<_>>(), vec![Some(10), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KTable<K, V> {
        self.filter_when(Arc::new(predicate), true)
    }

    /// Keeps the rows for which `predicate` is false; other updates become tombstones.
    /// Stateless; does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.table::<String, String>("users").filter_not(|_, name| name.is_empty()).to_stream().to("named");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("users", "u1".to_string(), "".to_string(), 0)?;
    /// assert_eq!(driver.read_output::<String, String>("named")?[0].value, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn filter_not(
        &self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
    ) -> KTable<K, V> {
        self.filter_when(Arc::new(predicate), false)
    }

    fn filter_when(&self, predicate: Arc<Predicate<K, V>>, keep_when: bool) -> KTable<K, V> {
        let getter = self.getter.clone().map(|parent| {
            let predicate = predicate.clone();
            LogicalGetter {
                stores: parent.stores.clone(),
                make: Rc::new(move |r, needed| {
                    Ok(getter::filter(
                        (parent.make)(r, needed)?,
                        predicate.clone(),
                        keep_when,
                    ))
                }),
            }
        });
        let make = stateless(move || TableFilter {
            predicate: predicate.clone(),
            keep_when,
        });
        let value = SerdeSpec::inherit::<V>(self.node, Side::Value);
        self.then("KTABLE-FILTER", value, make, getter)
    }

    /// Replaces each row's value. Stateless (computed from the parent's store when looked
    /// up); does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.table::<String, String>("users").map_values(|name| name.to_uppercase()).to_stream().to("loud");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("users", "alice".to_string(), "Alice".to_string(), 0)?;
    /// assert_eq!(driver.read_key_values::<String, String>("loud")?, vec![("alice".into(), "ALICE".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn map_values<VR: Data>(
        &self,
        mapper: impl Fn(V) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let mapper: Arc<dyn Fn(V) -> VR + Send + Sync> = Arc::new(mapper);
        let getter = self.getter.clone().map(|parent| {
            let mapper = mapper.clone();
            LogicalGetter {
                stores: parent.stores.clone(),
                make: Rc::new(move |r, needed| {
                    Ok(getter::map_values(
                        (parent.make)(r, needed)?,
                        mapper.clone(),
                    ))
                }),
            }
        });
        let make = stateless(move || MapValues {
            mapper: mapper.clone(),
        });
        self.then(
            "KTABLE-MAPVALUES",
            SerdeSpec::default_for::<VR>(),
            make,
            getter,
        )
    }

    /// The table's updates as a stream; deletions are records without a value
    /// (tombstones), which sinks write as null values. Stateless; does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// builder.table::<String, String>("users").to_stream().to("user-updates");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("users", "alice".to_string(), "Alice".to_string(), 0)?;
    /// driver.pipe_tombstone::<String>("users", "alice".to_string(), 1)?;
    /// let values: Vec<_> = driver.read_output::<String, String>("user-updates")?.into_iter().map(|r| r.value).collect();
    /// assert_eq!(values, vec![Some("Alice".to_string()), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_stream(&self) -> KStream<K, V> {
        let key = SerdeSpec::inherit::<K>(self.node, Side::Key);
        let value = SerdeSpec::inherit::<V>(self.node, Side::Value);
        let node = self.graph.borrow_mut().add_node(processor(
            "KTABLE-TOSTREAM",
            vec![self.node],
            key,
            value,
            pass_through(),
        ));
        KStream::at(self.graph.clone(), node, false)
    }
}

impl<K: Data, V: Data> KTable<Windowed<K>, V> {
    /// Holds back the updates of a windowed aggregation and emits only each window's
    /// final result, once stream time passes the window's end plus grace. Stateful: a
    /// buffer store (`<name>-store`) with a changelog; does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, u64>("payments")
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of(Duration::from_secs(60)))
    ///     .reduce(|a, b| a + b)
    ///     .suppress(Suppressed::until_window_closes())
    ///     .to_stream()
    ///     .to("final-totals");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("payments", "Alice".to_string(), 200u64, 1_000)?;
    /// driver.pipe_input("payments", "Alice".to_string(), 50u64, 2_000)?;
    /// assert!(driver.read_output::<Windowed<String>, u64>("final-totals")?.is_empty());
    /// driver.pipe_input("payments", "Bob".to_string(), 1u64, 60_000)?; // closes [0, 60s)
    /// let out = driver.read_key_values::<Windowed<String>, u64>("final-totals")?;
    /// assert_eq!(out.len(), 1);
    /// assert_eq!((out[0].0.key.as_str(), out[0].1), ("Alice", 250));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn suppress(&self, _suppressed: Suppressed) -> KTable<Windowed<K>, V> {
        let mut graph = self.graph.borrow_mut();
        let node = graph.next_node();
        let store = graph.next_store();
        let grace = self.window_grace_ms;
        let make: MakeProcessor = Box::new(move |r, id| {
            let grace_ms = grace.ok_or_else(|| TopologyError::InvalidOperation {
                node: r.node_name(id).to_string(),
                reason: "suppress(until_window_closes) needs a table from a windowed aggregation"
                    .into(),
            })?;
            let key = r.serde::<Windowed<K>>(id, Side::Key, id)?;
            let value = r.serde::<V>(id, Side::Value, id)?;
            Ok(factory(move || Suppress {
                store,
                key: key.clone(),
                value: value.clone(),
                grace_ms,
            }))
        });
        let key = SerdeSpec::inherit::<Windowed<K>>(self.node, Side::Key);
        let value = SerdeSpec::inherit::<V>(self.node, Side::Value);
        graph.add_node(processor(
            "KTABLE-SUPPRESS",
            vec![self.node],
            key,
            value,
            make,
        ));
        graph.add_store(LogicalStore {
            owner: node,
            auto_prefix: "KTABLE-SUPPRESS-STATE-STORE",
            named_suffix: "-store",
            kind: StoreKind::SuppressionBuffer,
            key: SerdeSpec::inherit::<Windowed<K>>(node, Side::Key),
            value: SerdeSpec::inherit::<V>(node, Side::Value),
        });
        drop(graph);
        KTable::at(self.graph.clone(), node, None, grace)
    }
}
