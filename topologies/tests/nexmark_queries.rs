//! Nexmark q0–q8: each query runs in the test driver over seeded generated events, and
//! its output is compared with the same query computed here with plain loops and maps.

use std::collections::{BTreeMap, BTreeSet};

use eddy_topologies::nexmark::{
    self, Auction, Bid, Event, Generator, GeneratorConfig, HighestBids, HotItems, LocalItem,
    NewUser, Person, QueryConfig, TimestampedEvent, EVENTS_TOPIC,
};
use eddy_topologies::{Data, StreamsConfig, Topology, TopologyTestDriver};

const EVENTS: usize = 4_000;

/// 100 events per second: 4,000 events span 40 s, several 10 s windows. The seed is 42,
/// or `SEED` (printed, so that a failure shows how to replay it).
fn generator_config() -> GeneratorConfig {
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(42);
    eprintln!("nexmark events from SEED={seed}");
    GeneratorConfig::with_seed(seed).at_rate(100)
}

fn query_config() -> QueryConfig {
    QueryConfig::for_generator(&generator_config())
}

fn input() -> Vec<TimestampedEvent> {
    Generator::new(generator_config()).take(EVENTS).collect()
}

fn people(events: &[TimestampedEvent]) -> Vec<Person> {
    events
        .iter()
        .filter_map(|e| e.event.clone().person())
        .collect()
}

fn auctions(events: &[TimestampedEvent]) -> Vec<Auction> {
    events
        .iter()
        .filter_map(|e| e.event.clone().auction())
        .collect()
}

fn bids(events: &[TimestampedEvent]) -> Vec<Bid> {
    events
        .iter()
        .filter_map(|e| e.event.clone().bid())
        .collect()
}

/// Runs `topology` over `events` and reads `topic`: straight through, and again with a
/// restart (stores rebuilt from their changelogs) halfway; both runs must agree.
fn run<K: Data + PartialEq + std::fmt::Debug, V: Data + PartialEq + std::fmt::Debug>(
    topology: impl Fn() -> Topology,
    events: &[TimestampedEvent],
    topic: &str,
) -> Vec<(K, V)> {
    let once = |restart_at: Option<usize>| {
        let config = StreamsConfig::new("nexmark");
        let mut driver = TopologyTestDriver::new(topology(), config).unwrap();
        for (i, e) in events.iter().enumerate() {
            if restart_at == Some(i) {
                driver.restart().unwrap();
            }
            let (key, value) = (e.event.key(), e.event.clone());
            driver
                .pipe_input(EVENTS_TOPIC, key, value, e.timestamp_ms)
                .unwrap();
        }
        assert_eq!(driver.dropped_late_records(), 0);
        driver.read_key_values::<K, V>(topic).unwrap()
    };
    let straight = once(None);
    assert_eq!(
        once(Some(events.len() / 2)),
        straight,
        "{topic} after a restart"
    );
    straight
}

/// The last value written per key.
fn last_per_key<K: Ord, V>(records: Vec<(K, V)>) -> BTreeMap<K, V> {
    records.into_iter().collect()
}

fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

#[test]
fn q0_passes_every_event_through() {
    let events = input();
    let out = run::<u64, Event>(|| nexmark::q0().unwrap(), &events, "nexmark-q0");
    let expected: Vec<(u64, Event)> = events
        .iter()
        .map(|e| (e.event.key(), e.event.clone()))
        .collect();
    assert_eq!(out, expected);
}

#[test]
fn q1_converts_every_bid_price() {
    let events = input();
    let out = run::<u64, Bid>(
        || nexmark::q1(&query_config()).unwrap(),
        &events,
        "nexmark-q1",
    );
    let expected: Vec<(u64, Bid)> = bids(&events)
        .into_iter()
        .map(|b| {
            let euros = Bid {
                price: b.price * 908 / 1000,
                ..b.clone()
            };
            (b.auction, euros)
        })
        .collect();
    assert_eq!(out.len(), EVENTS / 50 * 46);
    assert_eq!(out, expected);
}

#[test]
fn q2_selects_the_bids_on_every_123rd_auction() {
    let events = input();
    let out = run::<u64, u64>(
        || nexmark::q2(&query_config()).unwrap(),
        &events,
        "nexmark-q2",
    );
    let expected: Vec<(u64, u64)> = bids(&events)
        .into_iter()
        .filter(|b| b.auction % 123 == 0)
        .map(|b| (b.auction, b.price))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(out, expected);
}

#[test]
fn q3_joins_local_sellers_with_their_category_10_auctions() {
    let events = input();
    let out = run::<u64, LocalItem>(
        || nexmark::q3(&query_config()).unwrap(),
        &events,
        "nexmark-q3",
    );
    // Flink's q3: an unbounded inner join, whatever the order of person and auction.
    let mut expected = Vec::new();
    for p in people(&events) {
        if !["OR", "ID", "CA"].contains(&p.state.as_str()) {
            continue;
        }
        for a in auctions(&events) {
            if a.category == 10 && a.seller == p.id {
                let item = LocalItem {
                    name: p.name.clone(),
                    city: p.city.clone(),
                    state: p.state.clone(),
                    auction: a.id,
                };
                expected.push((p.id, item));
            }
        }
    }
    assert!(
        expected.len() >= 5,
        "too few results to test: {}",
        expected.len()
    );
    let by_key = |r: &(u64, LocalItem)| {
        (
            r.0,
            r.1.auction,
            r.1.name.clone(),
            r.1.city.clone(),
            r.1.state.clone(),
        )
    };
    assert_eq!(
        sorted(out.iter().map(by_key).collect()),
        sorted(expected.iter().map(by_key).collect())
    );
}

/// Per auction, the highest price bid while it was open (Flink's q4 inner query).
fn highest_bids(events: &[TimestampedEvent]) -> BTreeMap<u64, (Auction, u64)> {
    let mut best: BTreeMap<u64, (Auction, u64)> = BTreeMap::new();
    let all_bids = bids(events);
    for a in auctions(events) {
        for b in &all_bids {
            if b.auction == a.id && a.date_time <= b.date_time && b.date_time <= a.expires {
                let entry = best.entry(a.id).or_insert((a.clone(), b.price));
                entry.1 = entry.1.max(b.price);
            }
        }
    }
    best
}

#[test]
fn q4_averages_the_highest_bid_per_auction_by_category() {
    let events = input();
    let out = run::<u64, u64>(
        || nexmark::q4(&query_config()).unwrap(),
        &events,
        "nexmark-q4",
    );
    let mut per_category: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (a, price) in highest_bids(&events).into_values() {
        per_category.entry(a.category).or_default().push(price);
    }
    let expected: BTreeMap<u64, u64> = per_category
        .into_iter()
        .map(|(c, prices)| (c, prices.iter().sum::<u64>() / prices.len() as u64))
        .collect();
    assert_eq!(expected.len(), 5);
    assert_eq!(last_per_key(out), expected);
}

#[test]
fn q5_finds_the_auctions_with_most_bids_per_hopping_window() {
    let events = input();
    let config = query_config();
    let out = run::<i64, HotItems>(|| nexmark::q5(&config).unwrap(), &events, "nexmark-q5");
    let mut counts: BTreeMap<(i64, u64), u64> = BTreeMap::new();
    for b in bids(&events) {
        let mut start = b.date_time - b.date_time % config.window_period_ms;
        while start > b.date_time - config.window_ms && start >= 0 {
            *counts.entry((start, b.auction)).or_default() += 1;
            start -= config.window_period_ms;
        }
    }
    let mut expected: BTreeMap<i64, HotItems> = BTreeMap::new();
    for ((start, auction), count) in counts {
        let hot = expected.entry(start).or_default();
        if count > hot.count {
            *hot = HotItems {
                count,
                auctions: vec![auction],
            };
        } else if count == hot.count {
            hot.auctions.push(auction);
        }
    }
    assert!(expected.len() >= 8);
    assert_eq!(last_per_key(out), expected);
}

#[test]
fn q6_averages_the_latest_ten_auctions_per_seller() {
    let events = input();
    let out = run::<u64, u64>(
        || nexmark::q6(&query_config()).unwrap(),
        &events,
        "nexmark-q6",
    );
    let mut per_seller: BTreeMap<u64, BTreeMap<u64, u64>> = BTreeMap::new();
    for (auction, (a, price)) in highest_bids(&events) {
        per_seller
            .entry(a.seller)
            .or_default()
            .insert(auction, price);
    }
    let expected: BTreeMap<u64, u64> = per_seller
        .into_iter()
        .map(|(seller, prices)| {
            let latest: Vec<u64> = prices.values().rev().take(10).copied().collect();
            (seller, latest.iter().sum::<u64>() / latest.len() as u64)
        })
        .collect();
    // The hot seller has more than 10 auctions: the "latest 10" rule is exercised.
    assert!(
        highest_bids(&events)
            .values()
            .filter(|(a, _)| a.seller == 1000)
            .count()
            > 10
    );
    assert_eq!(last_per_key(out), expected);
}

#[test]
fn q7_finds_the_highest_bid_per_tumbling_window() {
    let events = input();
    let config = query_config();
    let out = run::<i64, HighestBids>(|| nexmark::q7(&config).unwrap(), &events, "nexmark-q7");
    let mut expected: BTreeMap<i64, HighestBids> = BTreeMap::new();
    for b in bids(&events) {
        let start = b.date_time - b.date_time % config.window_ms;
        let best = expected.entry(start).or_default();
        if best.bids.is_empty() || b.price > best.price {
            *best = HighestBids {
                price: b.price,
                bids: vec![b],
            };
        } else if b.price == best.price {
            best.bids.push(b);
        }
    }
    assert_eq!(expected.len(), 4);
    assert_eq!(last_per_key(out), expected);
}

#[test]
fn q8_finds_people_who_sell_in_the_window_they_joined() {
    let events = input();
    let config = query_config();
    let out = run::<u64, NewUser>(|| nexmark::q8(&config).unwrap(), &events, "nexmark-q8");
    let start = |t: i64| t - t % config.window_ms;
    let sellers: BTreeSet<(u64, i64)> = auctions(&events)
        .iter()
        .map(|a| (a.seller, start(a.date_time)))
        .collect();
    let expected: BTreeSet<(u64, String, i64)> = people(&events)
        .into_iter()
        .filter(|p| sellers.contains(&(p.id, start(p.date_time))))
        .map(|p| (p.id, p.name, start(p.date_time)))
        .collect();
    assert!(expected.len() >= 2, "too few results to test: {expected:?}");
    let got: BTreeSet<(u64, String, i64)> = out
        .into_iter()
        .map(|(id, u)| {
            assert_eq!(id, u.id);
            (u.id, u.name, u.window_start)
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn every_query_builds_by_name() {
    let config = QueryConfig::default();
    for name in nexmark::QUERY_NAMES {
        let topology = nexmark::query(name, &config).expect("a known query");
        assert!(topology.is_ok(), "{name}: {:?}", topology.err());
    }
    assert!(nexmark::query("q9", &config).is_none());
}
