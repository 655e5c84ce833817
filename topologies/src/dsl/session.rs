//! `SessionWindowedKStream`: a grouped stream aggregated per session.

use std::rc::Rc;
use std::sync::Arc;

use super::nodes::{name_repartition_after, processor};
use super::{KGroupedStream, KTable};
use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{erase, SerdeSpec, Side};
use crate::graph::{LogicalStore, MakeProcessor};
use crate::ops::aggregate::Aggregator;
use crate::ops::factory;
use crate::ops::session_aggregate::{Merger, SessionAggregate};
use crate::serdes::{LongSerde, SerdeRef, SessionWindowedSerde};
use crate::store::StoreKind;
use crate::window::{SessionWindows, Windowed};

/// A grouped stream with session windows. Aggregations give a table keyed by
/// `Windowed<K>` (the session), kept in a session store: when a record merges sessions,
/// the old sessions are deleted from the table (tombstones downstream) and the merged
/// one is the new row. Session keys are written as Kafka's session-windowed serde
/// writes them (see `Serdes::session_windowed`).
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
}

impl<K: Data, V: Data> SessionWindowedKStream<K, V> {
    pub(crate) fn new(grouped: KGroupedStream<K, V>, windows: SessionWindows) -> Self {
        SessionWindowedKStream { grouped, windows }
    }

    /// Counts the records per key and session. Stateful (a session store); repartitions
    /// if the key changed upstream.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream::<String, String>("clicks")
    ///     .group_by_key()
    ///     .windowed_by_session(SessionWindows::with_inactivity_gap(Duration::from_secs(5)).grace(Duration::from_secs(10)))
    ///     .count()
    ///     .to_stream()
    ///     .to("clicks-per-session");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("clicks", "a".to_string(), "/".to_string(), 1_000)?;
    /// driver.pipe_input("clicks", "a".to_string(), "/".to_string(), 9_000)?; // a second session
    /// driver.pipe_input("clicks", "a".to_string(), "/".to_string(), 5_000)?; // bridges both
    /// let out = driver.read_output::<Windowed<String>, u64>("clicks-per-session")?;
    /// let last = out.last().unwrap();
    /// assert_eq!((last.key.window, last.value), (Window::new(1_000, 9_000), Some(3)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count(&self) -> KTable<Windowed<K>, u64> {
        let long: SerdeRef<u64> = Arc::new(LongSerde);
        let aggregator: Arc<Aggregator<K, V, u64>> = Arc::new(|_, _, old| old.unwrap_or(0) + 1);
        self.aggregate_with(
            aggregator,
            Arc::new(|_, a, b| a + b),
            SerdeSpec::explicit(long),
        )
    }

    /// Combines the values per key and session with `reducer(aggregate, value)`; merging
    /// sessions combines their aggregates with it too. Stateful (a session store).
    pub fn reduce(
        &self,
        reducer: impl Fn(V, V) -> V + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, V> {
        let reducer = Arc::new(reducer);
        let merge = reducer.clone();
        let aggregator: Arc<Aggregator<K, V, V>> = Arc::new(move |_, v, old| match old {
            Some(aggregate) => reducer(aggregate, v),
            None => v,
        });
        let value = self.grouped.value_spec(self.grouped.stream.node);
        self.aggregate_with(aggregator, Arc::new(move |_, a, b| merge(a, b)), value)
    }

    /// Folds the values per key and session into an aggregate; `merger(key, a, b)`
    /// combines the aggregates of sessions that merge. Stateful (a session store).
    pub fn aggregate<VA: Data>(
        &self,
        initializer: impl Fn() -> VA + Send + Sync + 'static,
        aggregator: impl Fn(&K, V, VA) -> VA + Send + Sync + 'static,
        merger: impl Fn(&K, VA, VA) -> VA + Send + Sync + 'static,
    ) -> KTable<Windowed<K>, VA> {
        let aggregator: Arc<Aggregator<K, V, VA>> =
            Arc::new(move |k, v, old| aggregator(k, v, old.unwrap_or_else(&initializer)));
        self.aggregate_with(aggregator, Arc::new(merger), SerdeSpec::default_for::<VA>())
    }

    fn aggregate_with<VA: Data>(
        &self,
        aggregator: Arc<Aggregator<K, V, VA>>,
        merger: Arc<Merger<K, VA>>,
        value: SerdeSpec,
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
            let (aggregator, merger) = (aggregator.clone(), merger.clone());
            Ok(factory(move || SessionAggregate {
                store,
                key: key.clone(),
                value: value.clone(),
                windows,
                aggregator: aggregator.clone(),
                merger: merger.clone(),
                swept_at: i64::MIN,
            }))
        });
        let derive_key = key_spec.clone();
        let session_key = SerdeSpec::derived::<Windowed<K>>(Rc::new(move |r, needed| {
            let key = r.serde_of::<K>(&derive_key, Side::Key, needed)?;
            let windowed: SerdeRef<Windowed<K>> = Arc::new(SessionWindowedSerde::new(key));
            Ok(erase(windowed))
        }));
        graph.add_node(processor(
            "KSTREAM-SESSION-AGGREGATE",
            vec![input],
            session_key,
            value,
            make,
        ));
        graph.add_store(LogicalStore {
            owner: node,
            auto_prefix: "KSTREAM-SESSION-AGGREGATE-STATE-STORE",
            named_suffix: "",
            kind: StoreKind::Session {
                gap_ms: windows.gap_ms,
                grace_ms: windows.grace_ms,
            },
            key: key_spec,
            value: SerdeSpec::inherit::<VA>(node, Side::Value),
        });
        name_repartition_after(&mut graph, repartition, store);
        drop(graph);
        // A session can still grow until stream time passes its end + gap (a record within
        // the gap merges into it), so suppression waits gap + grace, as Kafka does.
        KTable::at(graph_ref, node, None, Some(windows.close_delay_ms()))
    }
}
