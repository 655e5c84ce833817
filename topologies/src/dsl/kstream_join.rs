//! `KStream` joins: with a table (inner, left) and with another stream (windowed inner).

use std::sync::Arc;

use super::nodes::{pass_through, processor, repartition, same_builder};
use super::{KStream, KTable};
use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::{Graph, LogicalStore, MakeProcessor, NameTarget, NodeId, StoreId};
use crate::ops::stream_stream_join::StreamStreamJoin;
use crate::ops::stream_table_join::{StreamTableJoin, StreamTableJoiner};
use crate::ops::{factory, ValueJoiner};
use crate::store::StoreKind;
use crate::window::JoinWindows;

impl<K: Data, V: Data> KStream<K, V> {
    /// The node a join reads: the stream, or a repartition of it if its key changed.
    fn join_input(&self, graph: &mut Graph) -> NodeId {
        if self.repartition_required {
            repartition::<K, V>(graph, self.node, None).0
        } else {
            self.node
        }
    }

    /// Inner join with a table: each stream record with a key the table has is joined
    /// with the table's current value; others are dropped. Table updates emit nothing.
    /// Stateless itself (reads the table's store); repartitions the stream if its key
    /// changed. Stream and table must be co-partitioned.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table::<String, String>("users");
    /// builder
    ///     .stream::<String, u64>("payments")
    ///     .join(&users, |amount, name| format!("{name} paid {amount}"))
    ///     .to("enriched");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("users", "u1".to_string(), "Alice".to_string(), 0)?;
    /// driver.pipe_input("payments", "u1".to_string(), 200u64, 1)?;
    /// driver.pipe_input("payments", "u2".to_string(), 5u64, 2)?;
    /// let out = driver.read_key_values::<String, String>("enriched")?;
    /// assert_eq!(out, vec![("u1".into(), "Alice paid 200".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, &VT) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner: Arc<StreamTableJoiner<V, VT, VR>> =
            Arc::new(move |v, t| t.map(|t| joiner(v, t)));
        self.table_join("KSTREAM-JOIN", table, joiner)
    }

    /// Left join with a table: every stream record is joined with the table's current
    /// value for its key, if any. Stateless itself; repartitions the stream if its key
    /// changed.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table::<String, String>("users");
    /// builder
    ///     .stream::<String, u64>("payments")
    ///     .left_join(&users, |amount, name| format!("{} paid {amount}", name.map_or("?", |n| n.as_str())))
    ///     .to("enriched");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("payments", "u2".to_string(), 5u64, 2)?;
    /// assert_eq!(driver.read_key_values::<String, String>("enriched")?, vec![("u2".into(), "? paid 5".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn left_join<VT: Data, VR: Data>(
        &self,
        table: &KTable<K, VT>,
        joiner: impl Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    ) -> KStream<K, VR> {
        let joiner: Arc<StreamTableJoiner<V, VT, VR>> = Arc::new(move |v, t| Some(joiner(v, t)));
        self.table_join("KSTREAM-LEFTJOIN", table, joiner)
    }

    fn table_join<VT: Data, VR: Data>(
        &self,
        prefix: &'static str,
        table: &KTable<K, VT>,
        joiner: Arc<StreamTableJoiner<V, VT, VR>>,
    ) -> KStream<K, VR> {
        let getter = same_builder(&self.graph, &table.graph, "join")
            .then(|| table.getter.clone())
            .flatten();
        let stores: Vec<StoreId> = getter.iter().flat_map(|g| g.stores.clone()).collect();
        let make: MakeProcessor = Box::new(move |r, id| {
            let getter = getter.as_ref().ok_or_else(|| TopologyError::InvalidOperation {
                node: r.node_name(id).to_string(),
                reason: "this table cannot be looked up (windowed and suppressed tables cannot be joined)".into(),
            })?;
            let table = (getter.make)(r, id)?;
            let joiner = joiner.clone();
            Ok(factory(move || StreamTableJoin {
                table: table.clone(),
                joiner: joiner.clone(),
            }))
        });
        let mut graph = self.graph.borrow_mut();
        let input = self.join_input(&mut graph);
        let key = SerdeSpec::inherit::<K>(input, Side::Key);
        let node = graph.add_node(processor(
            prefix,
            vec![input],
            key,
            SerdeSpec::default_for::<VR>(),
            make,
        ));
        graph.nodes[node].stores = stores;
        drop(graph);
        KStream::at(self.graph.clone(), node, false)
    }

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
        let joiner: Arc<ValueJoiner<V, VO, VR>> = Arc::new(joiner);
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
        let this_make = join_side::<K, V, VO, VR>(
            (this_in, other_in),
            (this_store, other_store),
            windows,
            joiner.clone(),
        );
        let swapped: Arc<ValueJoiner<VO, V, VR>> = Arc::new(move |o, v| joiner(v, o));
        let other_make = join_side::<K, VO, V, VR>(
            (other_in, this_in),
            (other_store, this_store),
            windows.reversed(),
            swapped,
        );
        let key = |node| SerdeSpec::inherit::<K>(node, Side::Key);
        graph.add_node(processor(
            "KSTREAM-JOINTHIS",
            vec![this_in],
            key(this_in),
            SerdeSpec::default_for::<VR>(),
            this_make,
        ));
        graph.add_node(processor(
            "KSTREAM-JOINOTHER",
            vec![other_in],
            key(other_in),
            SerdeSpec::inherit::<VR>(this, Side::Value),
            other_make,
        ));
        let retention_ms = windows
            .before_ms
            .saturating_add(windows.after_ms)
            .saturating_add(windows.grace_ms);
        let kind = StoreKind::JoinBuffer { retention_ms };
        graph.add_store(join_store::<K, V>(
            this,
            this_in,
            "KSTREAM-JOINTHIS-STORE",
            kind,
        ));
        graph.add_store(join_store::<K, VO>(
            that,
            other_in,
            "KSTREAM-JOINOTHER-STORE",
            kind,
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
        drop(graph);
        let mut stream = KStream::at(self.graph.clone(), merge, false);
        stream.target = NameTarget::Nodes(vec![
            (merge, ""),
            (this, "-this-join"),
            (that, "-other-join"),
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
    joiner: Arc<ValueJoiner<VT, VX, VR>>,
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
        }))
    })
}
