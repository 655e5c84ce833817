//! Table–table joins: inner, left and outer.

use std::rc::Rc;
use std::sync::Arc;

use super::nodes::{pass_through, processor, same_builder};
use super::KTable;
use crate::dynamic::Data;
use crate::error::TopologyError;
use crate::graph::serde_spec::{Resolver, SerdeSpec, Side};
use crate::graph::{LogicalGetter, MakeProcessor, NameTarget, NodeId};
use crate::ops::getter::{self, ValueGetter};
use crate::ops::table_table_join::{Combine, Outcome, TableTableJoin};
use crate::ops::{factory, OptionalJoiner};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinKind {
    Inner,
    Left,
    Outer,
}

/// The user's joiner, widened to optional sides; `None` when the kind does not join.
type Joiner<V, VO, VR> = Arc<OptionalJoiner<V, VO, VR>>;

/// Whether an update with this side and the other side present produces a result,
/// a tombstone, or nothing (as Kafka Streams' table–table join processors decide).
fn outcome(kind: JoinKind, this_is_left: bool, this: bool, other: bool) -> Option<bool> {
    match kind {
        JoinKind::Inner if !other => None,
        JoinKind::Left if !this_is_left && !other => None,
        JoinKind::Inner => Some(this),
        JoinKind::Left if this_is_left => Some(this),
        JoinKind::Left => Some(true),
        JoinKind::Outer => Some(this || other),
    }
}

fn combine<VT: Data, VX: Data, VR: Data>(
    kind: JoinKind,
    this_is_left: bool,
    join: Joiner<VT, VX, VR>,
) -> Arc<Combine<VT, VX, VR>> {
    Arc::new(move |this, other| {
        match outcome(kind, this_is_left, this.is_some(), other.is_some()) {
            None => Outcome::Skip,
            Some(false) => Outcome::Tombstone,
            Some(true) => join(this, other).map_or(Outcome::Tombstone, Outcome::Value),
        }
    })
}

fn need_getter(
    getter: &Option<LogicalGetter>,
    r: &Resolver<'_>,
    id: NodeId,
) -> Result<ValueGetter, TopologyError> {
    let getter = getter
        .as_ref()
        .ok_or_else(|| TopologyError::InvalidOperation {
            node: r.node_name(id).to_string(),
            reason:
                "this table cannot be looked up (windowed and suppressed tables cannot be joined)"
                    .into(),
        })?;
    (getter.make)(r, id)
}

impl<K: Data, V: Data> KTable<K, V> {
    /// Inner join with another table on the key: a row exists where both tables have the
    /// key. Stateless itself (looks both tables up); does not repartition — both tables
    /// must be co-partitioned (same key, same number of partitions).
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table::<String, String>("names");
    /// let cities = builder.table::<String, String>("cities");
    /// names.join(&cities, |n, c| format!("{n} ({c})")).to_stream().to("profiles");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("names", "u1".to_string(), "Alice".to_string(), 0)?;
    /// driver.pipe_input("cities", "u1".to_string(), "Paris".to_string(), 1)?;
    /// let out = driver.read_key_values::<String, String>("profiles")?;
    /// assert_eq!(out, vec![("u1".into(), "Alice (Paris)".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, &VO) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let joiner: Joiner<V, VO, VR> = Arc::new(move |l, r| l.zip(r).map(|(l, r)| joiner(l, r)));
        self.table_join(other, JoinKind::Inner, joiner)
    }

    /// Left join with another table: a row for every key of this table, with the other
    /// table's value if it has one. Stateless itself; does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table::<String, String>("names");
    /// let cities = builder.table::<String, String>("cities");
    /// names.left_join(&cities, |n, c| format!("{n} ({})", c.map_or("?", |c| c.as_str()))).to_stream().to("profiles");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("names", "u1".to_string(), "Alice".to_string(), 0)?;
    /// assert_eq!(driver.read_key_values::<String, String>("profiles")?, vec![("u1".into(), "Alice (?)".into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn left_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let joiner: Joiner<V, VO, VR> = Arc::new(move |l, r| l.map(|l| joiner(l, r)));
        self.table_join(other, JoinKind::Left, joiner)
    }

    /// Outer join with another table: a row for every key of either table. Stateless
    /// itself; does not repartition.
    ///
    /// ```
    /// # use eddy_topologies::*;
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table::<String, String>("names");
    /// let cities = builder.table::<String, String>("cities");
    /// names.outer_join(&cities, |n, c| format!("{n:?} {c:?}")).to_stream().to("profiles");
    /// let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("doc"))?;
    /// driver.pipe_input("cities", "u1".to_string(), "Paris".to_string(), 0)?;
    /// let out = driver.read_key_values::<String, String>("profiles")?;
    /// assert_eq!(out, vec![("u1".into(), r#"None Some("Paris")"#.into())]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn outer_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        joiner: impl Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    ) -> KTable<K, VR> {
        let joiner: Joiner<V, VO, VR> =
            Arc::new(move |l, r| (l.is_some() || r.is_some()).then(|| joiner(l, r)));
        self.table_join(other, JoinKind::Outer, joiner)
    }

    fn table_join<VO: Data, VR: Data>(
        &self,
        other: &KTable<K, VO>,
        kind: JoinKind,
        joiner: Joiner<V, VO, VR>,
    ) -> KTable<K, VR> {
        let same = same_builder(&self.graph, &other.graph, "table join");
        // With another builder's table `build` fails; until then, use this table twice.
        let (other_node, right_getter) = if same {
            (other.node, other.getter.clone())
        } else {
            (self.node, None)
        };
        let left_getter = self.getter.clone();
        let this_make = {
            let (other_getter, joiner) = (right_getter.clone(), joiner.clone());
            let make: MakeProcessor = Box::new(move |r, id| {
                let other = need_getter(&other_getter, r, id)?;
                let combine = combine::<V, VO, VR>(kind, true, joiner.clone());
                Ok(factory(move || TableTableJoin {
                    other: other.clone(),
                    combine: combine.clone(),
                }))
            });
            make
        };
        let other_make = {
            let (this_getter, joiner) = (left_getter.clone(), joiner.clone());
            let swapped: Joiner<VO, V, VR> = Arc::new(move |r, l| joiner(l, r));
            let make: MakeProcessor = Box::new(move |r, id| {
                let other = need_getter(&this_getter, r, id)?;
                let combine = combine::<VO, V, VR>(kind, false, swapped.clone());
                Ok(factory(move || TableTableJoin {
                    other: other.clone(),
                    combine: combine.clone(),
                }))
            });
            make
        };
        let mut graph = self.graph.borrow_mut();
        let key = |node| SerdeSpec::inherit::<K>(node, Side::Key);
        let this = graph.add_node(processor(
            "KTABLE-JOINTHIS",
            vec![self.node],
            key(self.node),
            SerdeSpec::default_for::<VR>(),
            this_make,
        ));
        let that = graph.add_node(processor(
            "KTABLE-JOINOTHER",
            vec![other_node],
            key(other_node),
            SerdeSpec::inherit::<VR>(this, Side::Value),
            other_make,
        ));
        let merge = graph.add_node(processor(
            "KTABLE-MERGE",
            vec![this, that],
            key(this),
            SerdeSpec::inherit::<VR>(this, Side::Value),
            pass_through(),
        ));
        graph.nodes[this].stores = right_getter.iter().flat_map(|g| g.stores.clone()).collect();
        graph.nodes[that].stores = left_getter.iter().flat_map(|g| g.stores.clone()).collect();
        drop(graph);
        let getter = left_getter.zip(right_getter).map(|(l, r)| LogicalGetter {
            stores: l.stores.iter().chain(r.stores.iter()).copied().collect(),
            make: Rc::new(move |res, needed| {
                let lookup = outcome_lookup(kind, joiner.clone());
                Ok(getter::join::<V, VO, VR>(
                    (l.make)(res, needed)?,
                    (r.make)(res, needed)?,
                    lookup,
                ))
            }),
        });
        let mut table = KTable::at(self.graph.clone(), merge, getter, None);
        table.target = NameTarget::Nodes(vec![
            (merge, ""),
            (this, "-join-this"),
            (that, "-join-other"),
        ]);
        table
    }
}

/// The join result as a lookup sees it: which keys the join has, and their values.
fn outcome_lookup<V: Data, VO: Data, VR: Data>(
    kind: JoinKind,
    joiner: Joiner<V, VO, VR>,
) -> Joiner<V, VO, VR> {
    Arc::new(move |l, r| {
        let present = match kind {
            JoinKind::Inner => l.is_some() && r.is_some(),
            JoinKind::Left => l.is_some(),
            JoinKind::Outer => l.is_some() || r.is_some(),
        };
        if present {
            joiner(l, r)
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_outcomes_follow_kafka() {
        use JoinKind::*;
        // (kind, this is left, this present, other present) → outcome
        assert_eq!(outcome(Inner, true, true, false), None);
        assert_eq!(outcome(Inner, true, false, true), Some(false));
        assert_eq!(outcome(Inner, false, true, true), Some(true));
        assert_eq!(outcome(Left, true, true, false), Some(true));
        assert_eq!(outcome(Left, true, false, true), Some(false));
        assert_eq!(outcome(Left, false, true, false), None);
        assert_eq!(outcome(Left, false, false, true), Some(true));
        assert_eq!(outcome(Outer, false, false, false), Some(false));
        assert_eq!(outcome(Outer, true, false, true), Some(true));
    }
}
