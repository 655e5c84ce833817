//! `KStream` joins with a table (inner, left). Joins with another stream are in
//! `kstream_stream_join.rs`.

use std::sync::Arc;

use super::nodes::{processor, repartition, same_builder};
use super::{KStream, KTable};
use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{SerdeSpec, Side};
use crate::graph::{Graph, MakeProcessor, NodeId, StoreId};
use crate::ops::factory;
use crate::ops::stream_table_join::{StreamTableJoin, StreamTableJoiner};

impl<K: Data, V: Data> KStream<K, V> {
    /// The node a join reads: the stream, or a repartition of it if its key changed.
    pub(super) fn join_input(&self, graph: &mut Graph) -> NodeId {
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
}
