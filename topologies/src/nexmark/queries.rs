//! Nexmark queries q0–q8 in the DSL. Every query reads `EVENTS_TOPIC` (keys and values
//! as the module docs say) and writes `nexmark-q<N>`; what each computes, and where it
//! departs from Beam's or Flink's definition, is on its function.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::generator::{GeneratorConfig, PROPORTION_DENOMINATOR};
use super::model::{Auction, Bid, Event, Person};
use crate::{
    JoinWindows, KStream, Serdes, StreamsBuilder, TimeWindows, Topology, TopologyError, Windowed,
};

/// The topic every query reads: all Nexmark events, keyed by `Event::key`.
pub const EVENTS_TOPIC: &str = "nexmark-events";

/// The names of the queries, in order; `query` builds them by name.
pub const QUERY_NAMES: [&str; 9] = ["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"];

/// The topic query `name` (`"q0"`…) writes: `nexmark-q0`….
pub fn output_topic(name: &str) -> String {
    format!("nexmark-{name}")
}

/// The parameters of the queries (Beam's `NexmarkConfiguration` defaults where it has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryConfig {
    /// q1: the exchange rate, in thousandths (908: Flink's `0.908 * price`).
    pub exchange_rate_milli: u64,
    /// q2: bids on auctions whose id is a multiple of this are kept (Beam's `auctionSkip`).
    pub auction_skip: u64,
    /// q3: states of the local sellers.
    pub states: Vec<String>,
    /// q3: the category of the local items.
    pub category: u64,
    /// q3: how far apart in time a person and their auction may be and still join.
    pub seller_window_ms: i64,
    /// q4, q6: how long after its auction a bid may be and still join it (the longest
    /// auction).
    pub auction_window_ms: i64,
    /// q5, q7, q8: the window size (Beam's `windowSizeSec`, 10 s).
    pub window_ms: i64,
    /// q5: how often a window starts (Beam's `windowPeriodSec`, 5 s).
    pub window_period_ms: i64,
    /// q6: how many of a seller's latest auctions are averaged.
    pub seller_auctions: usize,
    /// q3–q8: how late (behind stream time) a record may arrive and still count, for
    /// the windows and join buffers: with several partitions, records reach an
    /// aggregation or join slightly out of order. 0 for the generator's ordered output.
    pub grace_ms: i64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig::for_generator(&GeneratorConfig::default())
    }
}

impl QueryConfig {
    /// The default parameters, with the join windows that cover every match the
    /// generator with `config` can produce.
    pub fn for_generator(config: &GeneratorConfig) -> Self {
        // A seller is one of the last `active_people` people (or of the last hot batch
        // of 100), or one of the next 10 not yet created: all within this many events.
        let people = config.active_people.max(100) + 11;
        let seller_window_ms =
            config.timestamp_of(people * PROPORTION_DENOMINATOR) - config.base_time_ms + 1;
        QueryConfig {
            exchange_rate_milli: 908,
            auction_skip: 123,
            states: vec!["OR".into(), "ID".into(), "CA".into()],
            category: 10,
            seller_window_ms,
            auction_window_ms: config.max_auction_duration_ms(),
            window_ms: 10_000,
            window_period_ms: 5_000,
            seller_auctions: 10,
            grace_ms: 1_000,
        }
    }
}

/// Builds query `name` (one of `QUERY_NAMES`), or `None` for an unknown name.
pub fn query(name: &str, config: &QueryConfig) -> Option<Result<Topology, TopologyError>> {
    Some(match name {
        "q0" => q0(),
        "q1" => q1(config),
        "q2" => q2(config),
        "q3" => q3(config),
        "q4" => q4(config),
        "q5" => q5(config),
        "q6" => q6(config),
        "q7" => q7(config),
        "q8" => q8(config),
        _ => return None,
    })
}

/// q3's result: a local seller and their auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalItem {
    /// The seller's name.
    pub name: String,
    /// The seller's city.
    pub city: String,
    /// The seller's state.
    pub state: String,
    /// The auction's id.
    pub auction: u64,
}

/// A bid on an auction made while it was open, then (after the per-auction
/// aggregation) the auction's highest bid so far and the highest before this update
/// (q4, q6).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct WinningBid {
    auction: u64,
    seller: u64,
    category: u64,
    price: u64,
    /// The auction's highest price before this update; `None` for its first bid.
    previous: Option<u64>,
}

/// Per category, the sum and number of the auctions' highest bids (q4).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PriceSum {
    sum: u64,
    count: u64,
}

/// q5's result for one window: the auctions with the most bids, and how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotItems {
    /// The most bids any auction got in the window.
    pub count: u64,
    /// The auctions that got that many, in id order.
    pub auctions: Vec<u64>,
}

/// q7's result for one window: the highest price, and the bids that offered it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighestBids {
    /// The highest price bid in the window.
    pub price: u64,
    /// The bids at that price, in arrival order.
    pub bids: Vec<Bid>,
}

/// q8's result: a person who opened an auction in the window they were created in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// The person's id.
    pub id: u64,
    /// The person's name.
    pub name: String,
    /// The start of the tumbling window.
    pub window_start: i64,
}

/// An auction's bid count in one hopping window (q5, between its two aggregations).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuctionCount {
    auction: u64,
    count: u64,
}

/// Per seller, the current highest bid of each of their latest `seller_auctions` (q6).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AuctionPrices(BTreeMap<u64, u64>);

impl AuctionPrices {
    /// The integer mean (as Flink's `AVG` of a `BIGINT`).
    fn average(&self) -> u64 {
        let sum: u64 = self.0.values().sum();
        sum / (self.0.len() as u64).max(1)
    }
}

/// A builder with JSON serdes for the Nexmark types, and the events stream.
fn events() -> (StreamsBuilder, KStream<u64, Event>) {
    let builder = StreamsBuilder::new();
    builder
        .default_serde::<Event>(Serdes::json())
        .default_serde::<Person>(Serdes::json())
        .default_serde::<Auction>(Serdes::json())
        .default_serde::<Bid>(Serdes::json())
        .default_serde::<LocalItem>(Serdes::json())
        .default_serde::<WinningBid>(Serdes::json())
        .default_serde::<AuctionPrices>(Serdes::json())
        .default_serde::<PriceSum>(Serdes::json())
        .default_serde::<Option<WinningBid>>(Serdes::json())
        .default_serde::<OpenAuction>(Serdes::json())
        .default_serde::<BidPrice>(Serdes::json())
        .default_serde::<AuctionCount>(Serdes::json())
        .default_serde::<HotItems>(Serdes::json())
        .default_serde::<HighestBids>(Serdes::json())
        .default_serde::<NewUser>(Serdes::json())
        .default_serde::<(u64, i64)>(Serdes::json());
    let events = builder.stream::<u64, Event>(EVENTS_TOPIC);
    (builder, events)
}

fn ms(ms: i64) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// q0, pass-through (Beam's Query0): every event, decoded and encoded again, to
/// `nexmark-q0`. Measures the cost of reading and writing. Stateless.
pub fn q0() -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    events.named("q0-events").to(output_topic("q0"));
    builder.build()
}

/// q1, currency conversion (Flink's q1): every bid with its price in euros,
/// `price * 908 / 1000` in whole cents (integer arithmetic rather than Flink's
/// decimal), to `nexmark-q1`, keyed by auction. Stateless.
pub fn q1(config: &QueryConfig) -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    let rate = config.exchange_rate_milli;
    events
        .flat_map_values(Event::bid)
        .map_values(move |bid| Bid {
            price: bid.price * rate / 1000,
            ..bid
        })
        .to(output_topic("q1"));
    builder.build()
}

/// q2, selection (Beam's Query2 and Flink's q2, which agree): the price of every bid on
/// an auction whose id is a multiple of `auction_skip` (123), to `nexmark-q2`: key the
/// auction id, value the price (`Serdes::long()`). Stateless.
pub fn q2(config: &QueryConfig) -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    let skip = config.auction_skip;
    events
        .flat_map_values(Event::bid)
        .filter(move |_, bid| bid.auction % skip == 0)
        .map_values(|bid| bid.price)
        .to(output_topic("q2"));
    builder.build()
}

/// q3, local item suggestion (Flink's q3, Beam's Query3): people from OR, ID or CA
/// joined with the auctions they sell in category 10, to `nexmark-q3`, keyed by the
/// seller's id, one `LocalItem` per (person, auction) pair, whichever arrives first.
///
/// Variant: Flink's join is unbounded; here it is a stream–stream join within
/// `seller_window_ms`, which `QueryConfig::for_generator` sets so that it holds every
/// pair the generator can make (a seller is always a recent person), so the results are
/// Flink's. Stateful (two join buffers); repartitions the auctions by seller.
pub fn q3(config: &QueryConfig) -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    let states = config.states.clone();
    let category = config.category;
    let people = events
        .flat_map_values(Event::person)
        .filter(move |_, p| states.contains(&p.state));
    let auctions = events
        .flat_map_values(Event::auction)
        .filter(move |_, a| a.category == category)
        .select_key(|_, a| a.seller);
    people
        .join_stream(
            &auctions,
            JoinWindows::of(ms(config.seller_window_ms)).grace(ms(config.grace_ms)),
            |p, a| LocalItem {
                name: p.name.clone(),
                city: p.city.clone(),
                state: p.state.clone(),
                auction: a.id,
            },
        )
        .named("q3-local-items")
        .to(output_topic("q3"));
    builder.build()
}

/// The fields of an auction that q4 and q6 use: the join buffers keep only these (a
/// whole auction is ~500 bytes of JSON; this is ~80).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OpenAuction {
    id: u64,
    seller: u64,
    category: u64,
    date_time: i64,
    expires: i64,
}

/// The fields of a bid that q4 and q6 use.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BidPrice {
    price: u64,
    date_time: i64,
}

/// The highest bid on each auction among the bids made while it was open
/// (`date_time <= bid time <= expires`, Flink's q4 condition): a stream of updates
/// keyed by auction, each the auction's highest bid so far with the one before.
fn winning_bids(events: &KStream<u64, Event>, config: &QueryConfig) -> KStream<u64, WinningBid> {
    let auctions = events.flat_map_values(|e: Event| {
        e.auction().map(|a| OpenAuction {
            id: a.id,
            seller: a.seller,
            category: a.category,
            date_time: a.date_time,
            expires: a.expires,
        })
    });
    let bids = events.flat_map_values(|e: Event| {
        e.bid().map(|b| BidPrice {
            price: b.price,
            date_time: b.date_time,
        })
    });
    // A bid joins only an auction opened before it: nothing to look for after it.
    let windows = JoinWindows::of(ms(config.auction_window_ms))
        .before(Duration::ZERO)
        .grace(ms(config.grace_ms));
    auctions
        .join_stream(&bids, windows, |a, b| {
            (a.date_time <= b.date_time && b.date_time <= a.expires).then_some(WinningBid {
                auction: a.id,
                seller: a.seller,
                category: a.category,
                price: b.price,
                previous: None,
            })
        })
        .named("auction-bids")
        .flat_map_values(|w| w)
        .group_by_key()
        .aggregate(
            || None,
            |_, w, best: Option<WinningBid>| {
                Some(match best {
                    None => w,
                    Some(best) => WinningBid {
                        price: best.price.max(w.price),
                        previous: Some(best.price),
                        ..best
                    },
                })
            },
        )
        .named("highest-bids")
        .to_stream()
        .flat_map_values(|w| w)
}

/// q4, average price per category (Flink's q4): per category, the integer mean over its
/// auctions of the highest bid each got while open, to `nexmark-q4` (key the category,
/// value the mean, `Serdes::long()`), updated as bids arrive; the last value per
/// category is Flink's final result.
///
/// Variant of Beam's Query4, which averages only closed auctions' winning bids (at or
/// above the reserve) in sliding windows: the DSL cannot close an auction at its own
/// `expires` time. Stateful: join buffers, the highest bid per auction, and per
/// category a sum and a count. The DSL has no table re-aggregation with a subtractor
/// (Kafka's `KTable.groupBy().aggregate(adder, subtractor)`), so each per-auction update
/// carries the auction's previous highest bid and the category adds the difference.
/// Repartitions by category.
pub fn q4(config: &QueryConfig) -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    winning_bids(&events, config)
        .group_by(|_, w| w.category)
        .aggregate(PriceSum::default, |_, w, mut total| {
            match w.previous {
                None => {
                    total.sum += w.price;
                    total.count += 1;
                }
                Some(previous) => total.sum += w.price - previous,
            }
            total
        })
        .named("q4-category-prices")
        .map_values(|total| total.sum / total.count.max(1))
        .to_stream()
        .to(output_topic("q4"));
    builder.build()
}

/// q5, hot items (Beam's Query5, Flink's q5): per hopping window (10 s, a new one every
/// 5 s), the auctions with the most bids, to `nexmark-q5`: key the window start, value
/// `HotItems`. Updated as bids arrive (bid counts only grow, so the last value per
/// window is the final result). Stateful (a window store of counts per auction, then a
/// store per window); repartitions by window.
pub fn q5(config: &QueryConfig) -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    let windows = TimeWindows::of(ms(config.window_ms))
        .advance_by(ms(config.window_period_ms))
        .grace(ms(config.grace_ms));
    events
        .flat_map_values(Event::bid)
        .group_by_key()
        .windowed_by(windows)
        .count()
        .named("q5-bids-per-auction")
        .to_stream()
        .map(|w: Windowed<u64>, count| {
            let auction = w.key;
            (w.window.start_ms, AuctionCount { auction, count })
        })
        .group_by_key()
        .aggregate(HotItems::default, |_, c, mut hot| {
            if c.count > hot.count {
                hot.count = c.count;
                hot.auctions = vec![c.auction];
            } else if c.count == hot.count && !hot.auctions.contains(&c.auction) {
                hot.auctions.push(c.auction);
                hot.auctions.sort_unstable();
            }
            hot
        })
        .named("q5-hot-items")
        .to_stream()
        .to(output_topic("q5"));
    builder.build()
}

/// q6, average selling price by seller: per seller, the integer mean of the highest
/// bids of their latest `seller_auctions` (10) auctions that got a bid while open (the
/// 10 highest auction ids), to `nexmark-q6` (key the seller, value the mean,
/// `Serdes::long()`), updated as bids arrive.
///
/// Variant of Beam's Query6, which averages the winning bids of a seller's last 10
/// closed auctions: as in q4, the DSL cannot close an auction at its `expires` time, so
/// the highest bid so far stands for the winning bid. Flink has no q6. Stateful;
/// repartitions by seller.
pub fn q6(config: &QueryConfig) -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    let keep = config.seller_auctions.max(1);
    winning_bids(&events, config)
        .group_by(|_, w| w.seller)
        .aggregate(AuctionPrices::default, move |_, w, mut prices| {
            prices.0.insert(w.auction, w.price);
            while prices.0.len() > keep {
                prices.0.pop_first();
            }
            prices
        })
        .named("q6-seller-prices")
        .map_values(|prices| prices.average())
        .to_stream()
        .to(output_topic("q6"));
    builder.build()
}

/// q7, highest bid (Beam's Query7, Flink's q7): per tumbling window (10 s), the highest
/// price and every bid at that price, to `nexmark-q7`: key the window start, value
/// `HighestBids`, updated as bids arrive (the last value per window is the final
/// result). Stateful (a window store); all bids go to one key, so one partition does
/// the work, as in Beam without fan-out.
pub fn q7(config: &QueryConfig) -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    events
        .flat_map_values(Event::bid)
        .group_by(|_, _| 0u64)
        .windowed_by(TimeWindows::of(ms(config.window_ms)).grace(ms(config.grace_ms)))
        .aggregate(HighestBids::default, |_, bid, mut best| {
            if best.bids.is_empty() || bid.price > best.price {
                best.price = bid.price;
                best.bids = vec![bid];
            } else if bid.price == best.price {
                best.bids.push(bid);
            }
            best
        })
        .named("q7-highest-bids")
        .to_stream()
        .map(|w: Windowed<u64>, best| (w.window.start_ms, best))
        .to(output_topic("q7"));
    builder.build()
}

/// q8, monitor new users (Beam's Query8, Flink's q8): people who opened an auction in
/// the tumbling window (10 s) they were created in, to `nexmark-q8`: key the person's
/// id, value `NewUser`.
///
/// Both sides are keyed by (person id, window start) and joined within the window size,
/// so only records of the same window meet. Flink's query deduplicates both sides per
/// window; here each auction of the person in the window gives a record (all equal),
/// so the set of records is Flink's result. Stateful (two join buffers); repartitions
/// both sides.
pub fn q8(config: &QueryConfig) -> Result<Topology, TopologyError> {
    let (builder, events) = events();
    let size = config.window_ms.max(1);
    let start = move |t: i64| t - t.rem_euclid(size);
    let people = events
        .flat_map(move |_, e: Event| e.person().map(|p| ((p.id, start(p.date_time)), p.name)));
    let auctions = events
        .flat_map(move |_, e: Event| e.auction().map(|a| ((a.seller, start(a.date_time)), a.id)));
    people
        .join_stream(
            &auctions,
            JoinWindows::of(ms(size)).grace(ms(config.grace_ms)),
            |name, _| name.clone(),
        )
        .named("q8-new-sellers")
        .map(|(id, window_start), name| {
            let user = NewUser {
                id,
                name,
                window_start,
            };
            (id, user)
        })
        .to(output_topic("q8"));
    builder.build()
}
