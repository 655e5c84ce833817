//! Windowed stream–stream left and outer joins: matched records join as in the inner
//! join; a record that joins nothing gets its result with no other side only once no
//! record still accepted could join it (never eagerly, so never a spurious result);
//! late records are dropped.
//!
//! Orders (the left stream) and payments (the right), joined within 10 s either way with
//! a 2 s grace period. So:
//! - a record at `t` is late (dropped) once stream time passes `t + 10 s + 2 s`;
//! - a record that has not joined gets its null-side result once stream time passes
//!   `t + 10 s + 10 s + 2 s` (after that, every record that could join it is late) —
//!   emitted after the record that moved stream time, in time order, stamped `t`.

mod common;

use std::time::Duration;

use common::{check, rec, s, Case, Rec};
use eddy_topologies::{JoinWindows, StreamsBuilder, Topology};

fn windows() -> JoinWindows {
    JoinWindows::of(Duration::from_secs(10)).grace(Duration::from_secs(2))
}

fn show(item: Option<&String>, amount: Option<&u64>) -> String {
    format!(
        "{}/{}",
        item.map_or("-", String::as_str),
        amount.map_or("-".to_string(), u64::to_string)
    )
}

fn left_join() -> Topology {
    let builder = StreamsBuilder::new();
    let orders = builder.stream::<String, String>("orders");
    let payments = builder.stream::<String, u64>("payments");
    orders
        .left_join_stream(&payments, windows(), |item, amount| {
            show(Some(item), amount)
        })
        .to("out");
    builder.build().expect("left join builds")
}

fn outer_join() -> Topology {
    let builder = StreamsBuilder::new();
    let orders = builder.stream::<String, String>("orders");
    let payments = builder.stream::<String, u64>("payments");
    orders
        .outer_join_stream(&payments, windows(), show)
        .named("reconcile")
        .to("out");
    builder.build().expect("outer join builds")
}

fn order(id: &str, item: &str, at_s: i64) -> Rec {
    rec("orders", s(id), s(item), at_s * 1_000)
}

fn payment(id: &str, amount: u64, at_s: i64) -> Rec {
    rec(
        "payments",
        s(id),
        Some(amount.to_be_bytes().to_vec()),
        at_s * 1_000,
    )
}

fn out(id: &str, joined: &str, at_s: i64) -> Rec {
    rec("out", s(id), s(joined), at_s * 1_000)
}

/// The same input for both joins (times in seconds; stream time after each in brackets).
fn inputs() -> Vec<Rec> {
    vec![
        order("o1", "book", 1),  // [1] no payment yet: waits
        payment("o1", 12, 5),    // [5] joins book
        order("o2", "pen", 6),   // [6] waits
        order("o3", "ink", 9),   // [9] waits
        payment("o3", 3, 2),     // [9] out of order, within 10 s of ink: joins it
        order("o4", "cup", 20),  // [20] waits
        payment("o5", 1, 21),    // [21] no order yet: waits (outer join only)
        payment("o8", 2, 22),    // [22] waits (outer join only); never joins
        order("o6", "mug", 29),  // [29] pen (6 + 22 < 29) can no longer join: emitted
        payment("o2", 7, 15),    // [29] late (15 + 12 < 29): dropped, pen stays unpaid
        payment("o4", 4, 18),    // [29] out of order but not late (18 + 12 >= 29): joins cup
        order("o5", "box", 30),  // [30] joins the waiting payment o5@21
        order("o6", "mug2", 45), // [45] waits; o8's payment (22 + 22 < 45) is emitted
        payment("x", 0, 52),     // [52] waits (outer join only); mug (29) is emitted
        order("o7", "a", 53),    // [53] waits
        order("o7", "b", 70),    // [70] waits; mug2 (45) is emitted
        // [76] Joins b@70 only: a@53 is more than 10 s away; then x@52 and a@53 can no
        // longer join and are emitted.
        payment("o7", 9, 76),
    ]
}

#[test]
fn left_join_emits_unjoined_orders_only_when_they_can_no_longer_join() {
    check(&Case {
        name: "left join",
        topology: left_join,
        inputs: inputs(),
        outputs: vec!["out"],
        golden: vec![
            out("o1", "book/12", 5),
            // The later of the two times.
            out("o3", "ink/3", 9),
            out("o2", "pen/-", 6),
            out("o4", "cup/4", 20),
            out("o5", "box/1", 30),
            out("o6", "mug/-", 29),
            out("o6", "mug2/-", 45),
            out("o7", "b/9", 76),
            out("o7", "a/-", 53),
        ],
        dropped_late: 1,
    });
}

#[test]
fn outer_join_emits_unjoined_records_of_both_sides() {
    check(&Case {
        name: "outer join",
        topology: outer_join,
        inputs: inputs(),
        outputs: vec!["out"],
        golden: vec![
            out("o1", "book/12", 5),
            out("o3", "ink/3", 9),
            out("o2", "pen/-", 6),
            out("o4", "cup/4", 20),
            // The payment waited in the outer-join buffer; the order removes it.
            out("o5", "box/1", 30),
            out("o8", "-/2", 22),
            out("o6", "mug/-", 29),
            out("o6", "mug2/-", 45),
            out("o7", "b/9", 76),
            // In time order: x@52, then a@53.
            out("x", "-/0", 52),
            out("o7", "a/-", 53),
        ],
        dropped_late: 1,
    });
}

#[test]
fn outer_joins_name_their_operators_and_stores_like_kafka() {
    assert_eq!(
        outer_join().store_names(),
        vec![
            "reconcile-outer-this-join-store",
            "reconcile-outer-other-join-store",
            "reconcile-outer-shared-join-store",
        ]
    );
    let described = left_join().describe().to_string();
    for name in [
        "Processor: KSTREAM-JOINTHIS-0000000002 (stores: [KSTREAM-JOINTHIS-STORE-0000000002, KSTREAM-OUTEROTHER-STORE-0000000003, KSTREAM-OUTERSHARED-STORE-0000000004])",
        "Processor: KSTREAM-OUTEROTHER-0000000003 (stores: [KSTREAM-OUTEROTHER-STORE-0000000003, KSTREAM-JOINTHIS-STORE-0000000002, KSTREAM-OUTERSHARED-STORE-0000000004])",
        "Processor: KSTREAM-MERGE-0000000004 (stores: [])",
    ] {
        assert!(described.contains(name), "{name} in:\n{described}");
    }
}
