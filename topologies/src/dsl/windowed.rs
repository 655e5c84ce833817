//! `TimeWindowedKStream`: a grouped stream aggregated per time window (tumbling,
//! hopping or sliding).

use std::rc::Rc;
use std::sync::Arc;

use super::nodes::{name_repartition_after, processor};
use super::{KGroupedStream, KTable};
use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{erase, SerdeSpec, Side};
use crate::graph::{LogicalStore, MakeProcessor, NodeId};
use crate::ops::aggregate::Aggregator;
use crate::ops::factory;
use crate::ops::sliding_aggregate::SlidingAggregate;
use crate::ops::window_aggregate::WindowAggregate;
use crate::ops::ProcessorFactory;
use crate::serdes::{LongSerde, SerdeRef, WindowedSerde};
use crate::store::StoreKind;
use crate::window::{SlidingWindows, TimeWindows, Windowed};

/// The windows of a `TimeWindowedKStream`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Windows {
    Time(TimeWindows),
    Sliding(SlidingWindows),
}

impl Windows {
    /// The length of a window: its size, or the time difference of sliding windows.
    fn size_ms(&self) -> i64 {
        match self {
            Windows::Time(w) => w.size_ms,
            Windows::Sliding(w) => w.difference_ms,
        }
    }

    fn grace_ms(&self) -> i64 {
        match self {
            Windows::Time(w) => w.grace_ms,
            Windows::Sliding(w) => w.grace_ms,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match self {
            Windows::Time(w) => w.validate(),
            Windows::Sliding(w) => w.validate(),
        }
    }
}

/// A grouped stream with time windows: tumbling or hopping (`windowed_by`) or sliding
/// (`windowed_by_sliding`), with a grace period. Aggregations give a table keyed by
/// `Windowed<K>`, kept in a window store; records arriving after their window's end plus
/// grace are dropped and counted. Windowed keys are written as Kafka's time-windowed
/// serde writes them (see `Serdes::windowed`; for sliding windows the window size is the
/// time difference).
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: Windows,
}

impl<K: Data, V: Data> TimeWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: Windows) -> Self {
        TimeWindowedKStream { grouped, windows }
    }

    /// Counts the records per key and window. Stateful (a window store); repartitions if
    /// the key changed upstream.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("clicks")
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of(Duration::from_secs(10)).advance_by(Duration::from_secs(5)))
    ///     .count()
    ///     .to_stream()
    ///     .to("counts");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("clicks", "a".to_string(), "/".to_string(), 7_000)?;
    /// let windows: Vec<i64> = driver
    ///     .read_key_values::<Windowed<String>, u64>("counts")?
    ///     .iter()
    ///     .map(|(w, _)| w.window.start_ms)
    ///     .collect();
    /// assert_eq!(windows, vec![0, 5_000]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count(&self) -> KTable<Windowed<K>, u64> {
        let long: SerdeRef<u64> = Arc::new(LongSerde);
        self.aggregate_with(
            Arc::new(|_, _, old: Option<u64>| old.unwrap_or(0) + 1),
            |_, _| SerdeSpec::explicit(long),
        )
    }

    /// Combines the values per key and window with `reducer(aggregate, value)`.
    /// Stateful (a window store); repartitions if the key changed upstream.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, u64>("temperatures")
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of(Duration::from_secs(60)))
    ///     .reduce(|a, b| a.max(b))
    ///     .named("max-per-minute");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("temperatures", "lab".to_string(), 21u64, 1_000)?;
    /// driver.pipe_input("temperatures", "lab".to_string(), 19u64, 2_000)?;
    /// let rows = driver.window_store::<String, u64>("max-per-minute")?;
    /// assert_eq!(rows[0].1, 21);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, V> {
        let aggregator: Arc<Aggregator<K, V, V>> = Arc::new(move |_, v, old| match old {
            Some(aggregate) => reducer(aggregate, v),
            None => v,
        });
        self.aggregate_with(aggregator, |grouped, _| {
            grouped.value_spec(grouped.stream.node)
        })
    }

    /// Folds the values per key and window into an aggregate. Stateful (a window store);
    /// repartitions if the key changed upstream.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, u64>("payments")
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(5)))
    ///     .aggregate(|| 0u64, |_, amount, total| total + amount)
    ///     .to_stream()
    ///     .to("totals");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("payments", "Alice".to_string(), 200u64, 1_000)?;
    /// driver.pipe_input("payments", "Alice".to_string(), 50u64, 2_000)?;
    /// let totals = driver.read_key_values::<Windowed<String>, u64>("totals")?;
    /// assert_eq!(totals.last().map(|(_, t)| *t), Some(250));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, VA> {
        let aggregator: Arc<Aggregator<K, V, VA>> =
            Arc::new(move |k, v, old| aggregator(k, v, old.unwrap_or_else(&initializer)));
        self.aggregate_with(aggregator, |_, _| SerdeSpec::default_for::<VA>())
    }

    fn aggregate_with<VA: Data>(
        &self,
        aggregator: Arc<Aggregator<K, V, VA>>,
        value: impl FnOnce(&KGroupedStream<K, V>, NodeId) -> SerdeSpec,
    ) -> KTable<Windowed<K>, VA> {
        let graph_ref = self.grouped.stream.graph.clone();
        let mut graph = graph_ref.borrow_mut();
        let (input, repartition) = self.grouped.input(&mut graph);
        let node = graph.next_node();
        let store = graph.next_store();
        let windows = self.windows;
        let key_spec = self.grouped.key_spec(input);
        let processor_key = key_spec.clone();
        let make: MakeProcessor = Box::new(move |r, id| {
            windows
                .validate()
                .map_err(|reason| TopologyError::InvalidWindow {
                    node: r.node_name(id).to_string(),
                    reason,
                })?;
            let key = r.serde_of::<K>(&processor_key, Side::Key, id)?;
            let value = r.serde::<VA>(id, Side::Value, id)?;
            Ok(window_operator(
                windows,
                store,
                key,
                value,
                aggregator.clone(),
            ))
        });
        let derive_key = key_spec.clone();
        let size_ms = windows.size_ms();
        let windowed_key = SerdeSpec::derived::<Windowed<K>>(Rc::new(move |r, needed| {
            let key = r.serde_of::<K>(&derive_key, Side::Key, needed)?;
            let windowed: SerdeRef<Windowed<K>> = Arc::new(WindowedSerde::new(key, size_ms));
            Ok(erase(windowed))
        }));
        let value_spec = value(&self.grouped, input);
        graph.add_node(processor(
            "KSTREAM-AGGREGATE",
            vec![input],
            windowed_key,
            value_spec,
            make,
        ));
        graph.add_store(LogicalStore {
            owner: node,
            auto_prefix: "KSTREAM-AGGREGATE-STATE-STORE",
            named_suffix: "",
            kind: StoreKind::Window {
                size_ms,
                grace_ms: windows.grace_ms(),
            },
            key: key_spec,
            value: SerdeSpec::inherit::<VA>(node, Side::Value),
        });
        name_repartition_after(&mut graph, repartition, store);
        drop(graph);
        KTable::at(graph_ref, node, None, Some(windows.grace_ms()))
    }
}

/// The physical operator of a windowed aggregation.
fn window_operator<K: Data, V: Data, VA: Data>(
    windows: Windows,
    store: usize,
    key: SerdeRef<K>,
    value: SerdeRef<VA>,
    aggregator: Arc<Aggregator<K, V, VA>>,
) -> ProcessorFactory {
    match windows {
        Windows::Time(windows) => factory(move || WindowAggregate {
            store,
            key: key.clone(),
            value: value.clone(),
            windows,
            aggregator: aggregator.clone(),
        }),
        Windows::Sliding(windows) => factory(move || SlidingAggregate {
            store,
            key: key.clone(),
            value: value.clone(),
            windows,
            aggregator: aggregator.clone(),
        }),
    }
}
