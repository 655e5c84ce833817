//! `KStream` windowed joins with another stream: inner, left and outer.

use std::sync::Arc;

use super::nodes::{pass_through, processor, same_builder};
use super::KStream;
use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::{LogicalStore, MakeProcessor, NameTarget, NodeId, StoreId};
use crate::ops::stream_stream_join::{OuterSide, StreamStreamJoin};
use crate::ops::{factory, OptionalJoiner};
use crate::store::StoreKind;
use crate::window::JoinWindows;

/// Which records of a stream–stream join get a result without a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinKind {
    Inner,
    /// The left stream's records.
    Left,
    /// Both streams' records.
    Outer,
}

/// How one side's operator and join buffer are named: automatic prefixes (after
/// Kafka Streams' operator names) and the suffix after a named join's name.
struct SideNames {
    operator: &'static str,
    store: &'static str,
    suffix: &'static str,
}

impl JoinKind {
    /// (this side, other side).
    fn names(self) -> [SideNames; 2] {
        let side = |operator, store, suffix| SideNames {
            operator,
            store,
            suffix,
        };
        let join_this = side("KSTREAM-JOINTHIS", "KSTREAM-JOINTHIS-STORE", "-this-join");
        let outer_other = side(
            "KSTREAM-OUTEROTHER",
            "KSTREAM-OUTEROTHER-STORE",
            "-outer-other-join",
        );
        match self {
            JoinKind::Inner => [
                join_this,
                side(
                    "KSTREAM-JOINOTHER",
                    "KSTREAM-JOINOTHER-STORE",
                    "-other-join",
                ),
            ],
            JoinKind::Left => [join_this, outer_other],
            JoinKind::Outer => [
                side(
                    "KSTREAM-OUTERTHIS",
                    "KSTREAM-OUTERTHIS-STORE",
                    "-outer-this-join",
                ),
                outer_other,
            ],
        }
    }
}

impl<K: Data, V: Data> KStream<K, V> {
    /// Windowed inner join with another stream: records with the same key whose
    /// timestamps are within `windows` of each other are joined (in both directions, as
    /// records arrive); the result has the later timestamp. Stateful: each side keeps its
    /// recent records in a join buffer store; records later than the window plus grace
    /// are dropped and counted. Repartitions a side whose key changed; the two streams
    /// must be co-partitioned.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream::<String, String>("orders");
    /// let payments = builder.stream::<String, u64>("payments");
    /// orders
    ///     .join_stream(&payments, JoinWindows::of(Duration::from_secs(60)), |item, amount| format!("{item}: {amount}"))
    ///     .to("paid-orders");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("orders", "o1".to_string(), "book".to_string(), 1_000)?;
    /// driver.pipe_input("payments", "o1".to_string(), 12u64, 30_000)?;
    /// driver.pipe_input("payments", "o1".to_string(), 13u64, 200_000)?; // too late to join
    /// let out = driver.read_output::<String, String>("paid-orders")?;
    /// assert_eq!((out.len(), out[0].value.as_deref(), out[0].timestamp), (1, Some("book: 12"), 30_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join_stream<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        windows: JoinWindows,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner: Arc<OptionalJoiner<V, VO, VR>> = Arc::new(move |v, o| Some(joiner(v?, o?)));
        self.stream_join(other, windows, JoinKind::Inner, joiner)
    }

    /// Windowed left join with another stream: joins like `join_stream`, and each record
    /// of this stream that joins nothing gets one result with `None` for the other side
    /// — only once no record still accepted could join it (stream time past its time +
    /// before + after + grace), never while a match may still come (Kafka ≥ 3.1's
    /// semantics, without spurious results). Such results carry the record's own time.
    /// Stateful: the join buffers, plus an outer-join buffer of the records not joined
    /// yet; repartitions a side whose key changed.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream::<String, String>("orders");
    /// let payments = builder.stream::<String, u64>("payments");
    /// orders
    ///     .left_join_stream(&payments, JoinWindows::of(Duration::from_secs(60)), |item, amount| {
    ///         format!("{item}: {}", amount.map_or("unpaid".to_string(), |a| a.to_string()))
    ///     })
    ///     .to("orders-and-payments");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("orders", "o1".to_string(), "book".to_string(), 1_000)?;
    /// driver.pipe_input("orders", "o2".to_string(), "pen".to_string(), 2_000)?;
    /// driver.pipe_input("payments", "o1".to_string(), 12u64, 30_000)?;
    /// assert_eq!(driver.read_output::<String, String>("orders-and-payments")?.len(), 1);
    /// // Stream time passes 2 s + 60 s + 60 s: o2 can no longer be paid.
    /// driver.pipe_input("orders", "o3".to_string(), "ink".to_string(), 123_000)?;
    /// let out = driver.read_key_values::<String, String>("orders-and-payments")?;
    /// assert_eq!(out, vec![("o2".to_string(), "pen: unpaid".to_string())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn left_join_stream<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        windows: JoinWindows,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner: Arc<OptionalJoiner<V, VO, VR>> = Arc::new(move |v, o| Some(joiner(v?, o)));
        self.stream_join(other, windows, JoinKind::Left, joiner)
    }

    /// Windowed outer join with another stream: like `left_join_stream`, for the records
    /// of both streams: a record of either side that joins nothing gets one result with
    /// `None` for the other side once it can no longer join. Stateful; repartitions a
    /// side whose key changed.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// use std::time::Duration;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream::<String, String>("orders");
    /// let payments = builder.stream::<String, u64>("payments");
    /// let show = |item: Option<&String>, amount: Option<&u64>| format!("{item:?} {amount:?}");
    /// orders
    ///     .outer_join_stream(&payments, JoinWindows::of(Duration::from_secs(60)), show)
    ///     .to("reconciliation");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("payments", "o9".to_string(), 5u64, 1_000)?;
    /// driver.pipe_input("orders", "o1".to_string(), "book".to_string(), 122_000)?;
    /// let out = driver.read_key_values::<String, String>("reconciliation")?;
    /// assert_eq!(out, vec![("o9".to_string(), "None Some(5)".to_string())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn outer_join_stream<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        windows: JoinWindows,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner: Arc<OptionalJoiner<V, VO, VR>> = Arc::new(move |v, o| Some(joiner(v, o)));
        self.stream_join(other, windows, JoinKind::Outer, joiner)
    }

    fn stream_join<VO: Data, VR: Data>(
        &self,
        other: &KStream<K, VO>,
        windows: JoinWindows,
        kind: JoinKind,
        joiner: Arc<OptionalJoiner<V, VO, VR>>,
    ) -> KStream<K, VR> {
        let mut graph = self.graph.borrow_mut();
        let this_in = self.join_input(&mut graph);
        drop(graph);
        let same = same_builder(&self.graph, &other.graph, "join_stream");
        let mut graph = self.graph.borrow_mut();
        // With another builder's stream `build` fails; until then, use this side twice.
        let other_in = if same {
            other.join_input(&mut graph)
        } else {
            this_in
        };
        let this = graph.next_node();
        let that = this + 1;
        let (this_store, other_store) = (graph.next_store(), graph.next_store() + 1);
        let outer_store = (kind != JoinKind::Inner).then_some(graph.next_store() + 2);
        // The left side emits the results of both sides' unjoined records, in time order.
        let outer_side = |side: u8, keeps_unmatched: bool| {
            outer_store.map(|store| OuterSide {
                store,
                side,
                keeps_unmatched,
                emits: side == 0,
            })
        };
        let this_make = join_side::<K, V, VO, VR>(
            (this_in, other_in),
            (this_store, other_store),
            windows,
            joiner.clone(),
            outer_side(0, kind != JoinKind::Inner),
        );
        let swapped: Arc<OptionalJoiner<VO, V, VR>> = Arc::new(move |o, v| joiner(v, o));
        let other_make = join_side::<K, VO, V, VR>(
            (other_in, this_in),
            (other_store, this_store),
            windows.reversed(),
            swapped,
            outer_side(1, kind == JoinKind::Outer),
        );
        let key = |node| SerdeSpec::inherit::<K>(node, Side::Key);
        let [this_names, that_names] = kind.names();
        graph.add_node(processor(
            this_names.operator,
            vec![this_in],
            key(this_in),
            SerdeSpec::default_for::<VR>(),
            this_make,
        ));
        graph.add_node(processor(
            that_names.operator,
            vec![other_in],
            key(other_in),
            SerdeSpec::inherit::<VR>(this, Side::Value),
            other_make,
        ));
        let kind_of_buffer = StoreKind::JoinBuffer {
            retention_ms: windows.retention_ms(),
        };
        graph.add_store(join_store::<K, V>(
            this,
            this_in,
            this_names.store,
            kind_of_buffer,
        ));
        graph.add_store(join_store::<K, VO>(
            that,
            other_in,
            that_names.store,
            kind_of_buffer,
        ));
        graph.nodes[this].stores.push(other_store);
        graph.nodes[that].stores.push(this_store);
        let merge = graph.add_node(processor(
            "KSTREAM-MERGE",
            vec![this, that],
            key(this),
            SerdeSpec::inherit::<VR>(this, Side::Value),
            pass_through(),
        ));
        if outer_store.is_some() {
            // Named after the join as a whole (the merge), but used by both sides only.
            let store = graph.add_store(LogicalStore {
                owner: merge,
                auto_prefix: "KSTREAM-OUTERSHARED-STORE",
                named_suffix: "-outer-shared-join-store",
                kind: StoreKind::OuterJoinBuffer {
                    retention_ms: windows.retention_ms(),
                },
                key: SerdeSpec::inherit::<K>(this_in, Side::Key),
                value: SerdeSpec::inherit::<V>(this_in, Side::Value),
            });
            graph.nodes[merge].stores.clear();
            graph.nodes[this].stores.push(store);
            graph.nodes[that].stores.push(store);
        }
        drop(graph);
        let mut stream = KStream::at(self.graph.clone(), merge, false);
        stream.target = NameTarget::Nodes(vec![
            (merge, ""),
            (this, this_names.suffix),
            (that, that_names.suffix),
        ]);
        stream
    }
}

/// The join buffer of one side, owned by that side's operator.
fn join_store<K: Data, V: Data>(
    owner: NodeId,
    input: NodeId,
    auto_prefix: &'static str,
    kind: StoreKind,
) -> LogicalStore {
    LogicalStore {
        owner,
        auto_prefix,
        named_suffix: "-store",
        kind,
        key: SerdeSpec::inherit::<K>(input, Side::Key),
        value: SerdeSpec::inherit::<V>(input, Side::Value),
    }
}

/// One side of a stream–stream join: `inputs` and `stores` are (this side, other side).
fn join_side<K: Data, VT: Data, VX: Data, VR: Data>(
    inputs: (NodeId, NodeId),
    stores: (StoreId, StoreId),
    windows: JoinWindows,
    joiner: Arc<OptionalJoiner<VT, VX, VR>>,
    outer: Option<OuterSide>,
) -> MakeProcessor {
    Box::new(move |r, id| {
        windows
            .validate()
            .map_err(|reason| TopologyError::InvalidWindow {
                node: r.node_name(id).to_string(),
                reason,
            })?;
        let key = r.serde::<K>(inputs.0, Side::Key, id)?;
        let this_value = r.serde::<VT>(inputs.0, Side::Value, id)?;
        let other_value = r.serde::<VX>(inputs.1, Side::Value, id)?;
        let joiner = joiner.clone();
        Ok(factory(move || StreamStreamJoin {
            this_store: stores.0,
            other_store: stores.1,
            key: key.clone(),
            this_value: this_value.clone(),
            other_value: other_value.clone(),
            windows,
            joiner: joiner.clone(),
            outer,
        }))
    })
}
