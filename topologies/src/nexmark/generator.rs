//! The Nexmark event generator, after Apache Beam's `NexmarkGenerator`
//! (`sources/generator/`: `GeneratorConfig`, `Generator`, `model/PersonGenerator`,
//! `AuctionGenerator`, `BidGenerator`, `PriceGenerator`, `StringsGenerator`).
//!
//! Event number `n` has event id `first_event_id + n`, and the id decides its kind: of
//! every 50 consecutive ids, 1 is a person, 3 are auctions and 46 are bids (2% / 6% /
//! 92%). Ids of people and auctions follow from the event id (`last_base0_person_id`,
//! `last_base0_auction_id`); sellers and bidders are mostly "hot" people and bids go
//! mostly to "hot" auctions (the ratios of `GeneratorConfig`), otherwise to a random
//! recent person or in-flight auction, a few of which are not created yet (the
//! "lead"), as in Beam. Event times step by the inter-event delay from the base time,
//! so they never decrease. Each event draws from its own PRNG seeded with the seed and
//! the event id, so event `n` is the same whatever was generated before it.
//!
//! Differences from Beam: one fixed inter-event delay (Beam's rate shapes — square,
//! sine — and `outOfOrderGroupSize` are left out), and the PRNG is SplitMix64 rather
//! than `java.util.Random`, so the events are Nexmark's in shape and proportions but
//! not byte-for-byte Beam's.

use super::model::{Auction, Bid, Event, Person};

/// The first person id (Beam's `FIRST_PERSON_ID`).
pub const FIRST_PERSON_ID: u64 = 1000;
/// The first auction id (Beam's `FIRST_AUCTION_ID`).
pub const FIRST_AUCTION_ID: u64 = 1000;
/// The first category id (Beam's `FIRST_CATEGORY_ID`); there are `CATEGORY_COUNT`.
pub const FIRST_CATEGORY_ID: u64 = 10;
/// How many categories auctions fall into.
pub const CATEGORY_COUNT: u64 = 5;
/// People per `PROPORTION_DENOMINATOR` events.
pub const PERSON_PROPORTION: u64 = 1;
/// Auctions per `PROPORTION_DENOMINATOR` events.
pub const AUCTION_PROPORTION: u64 = 3;
/// Bids per `PROPORTION_DENOMINATOR` events.
pub const BID_PROPORTION: u64 = 46;
/// The length of the repeating person / auction / bid pattern of event ids.
pub const PROPORTION_DENOMINATOR: u64 = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;

/// How many not-yet-created people and auctions a random choice may pick.
const ID_LEAD: u64 = 10;
/// Hot sellers, bidders and auctions are the first of each batch of this many.
const HOT_BATCH: u64 = 100;

const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// What the generator makes: Beam's `NexmarkConfiguration` defaults, with one fixed
/// inter-event delay (Beam's default rate is 10,000 events/s, a delay of 100 µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Seeds every event's PRNG (with the event id).
    pub seed: u64,
    /// The time of the first event (ms since the epoch).
    pub base_time_ms: i64,
    /// The event time between two events, in microseconds.
    pub inter_event_delay_us: u64,
    /// The id of event number 0.
    pub first_event_id: u64,
    /// Sellers and bidders that are not hot are picked among this many recent people.
    pub active_people: u64,
    /// Bids that are not for a hot auction pick among this many recent auctions; also
    /// sets auction lengths (an auction lasts on average until this many more auctions
    /// were created).
    pub in_flight_auctions: u64,
    /// One auction in this many has a random seller; the others a hot seller.
    pub hot_sellers_ratio: u64,
    /// One bid in this many is for a random auction; the others for a hot auction.
    pub hot_auction_ratio: u64,
    /// One bid in this many has a random bidder; the others a hot bidder.
    pub hot_bidders_ratio: u64,
    /// The average encoded size of a person (padding in `extra`).
    pub avg_person_bytes: u64,
    /// The average encoded size of an auction.
    pub avg_auction_bytes: u64,
    /// The average encoded size of a bid.
    pub avg_bid_bytes: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            base_time_ms: 0,
            inter_event_delay_us: 100,
            first_event_id: 0,
            active_people: 1000,
            in_flight_auctions: 100,
            hot_sellers_ratio: 4,
            hot_auction_ratio: 2,
            hot_bidders_ratio: 4,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
        }
    }
}

impl GeneratorConfig {
    /// The default configuration with this seed.
    pub fn with_seed(seed: u64) -> Self {
        GeneratorConfig {
            seed,
            ..GeneratorConfig::default()
        }
    }

    /// This configuration at `events_per_second` (of event time; at least 1): sets
    /// the inter-event delay, as Beam's `firstEventRate` does.
    pub fn at_rate(self, events_per_second: u64) -> Self {
        GeneratorConfig {
            inter_event_delay_us: (1_000_000 / events_per_second.max(1)).max(1),
            ..self
        }
    }

    /// The event time of event number `n`.
    pub fn timestamp_of(&self, n: u64) -> i64 {
        let offset_ms = (u128::from(n) * u128::from(self.inter_event_delay_us) / 1000) as i64;
        self.base_time_ms.saturating_add(offset_ms)
    }

    /// How many events pass while `in_flight_auctions` auctions are created.
    fn events_for_in_flight_auctions(&self) -> u64 {
        self.in_flight_auctions * PROPORTION_DENOMINATOR / AUCTION_PROPORTION
    }

    /// The longest an auction lasts (`expires - date_time`): queries joining bids with
    /// their auction use it as their join window.
    pub fn max_auction_duration_ms(&self) -> i64 {
        let events = self.events_for_in_flight_auctions();
        2 * (self.timestamp_of(events) - self.base_time_ms + 1)
    }
}

/// A generated event and its event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampedEvent {
    /// The event time (ms since the epoch), the record timestamp to write it with.
    pub timestamp_ms: i64,
    /// The event.
    pub event: Event,
}

/// An endless, deterministic stream of Nexmark events: `Generator::new(config).take(n)`.
#[derive(Debug, Clone)]
pub struct Generator {
    config: GeneratorConfig,
    /// The number of the next event (0 for the first).
    next_number: u64,
}

impl Generator {
    /// A generator at event number 0.
    pub fn new(config: GeneratorConfig) -> Self {
        Generator {
            config,
            next_number: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.config
    }

    /// Event number `n`, whatever was generated before.
    pub fn event(&self, n: u64) -> TimestampedEvent {
        let config = &self.config;
        let timestamp_ms = config.timestamp_of(n);
        let event_id = config.first_event_id + n;
        let mut rng = Rng::for_event(config.seed, event_id);
        let rem = event_id % PROPORTION_DENOMINATOR;
        let event = if rem < PERSON_PROPORTION {
            Event::Person(next_person(event_id, &mut rng, timestamp_ms, config))
        } else if rem < PERSON_PROPORTION + AUCTION_PROPORTION {
            Event::Auction(next_auction(n, event_id, &mut rng, timestamp_ms, config))
        } else {
            Event::Bid(next_bid(event_id, &mut rng, timestamp_ms, config))
        };
        TimestampedEvent {
            timestamp_ms,
            event,
        }
    }
}

impl Iterator for Generator {
    type Item = TimestampedEvent;

    fn next(&mut self) -> Option<TimestampedEvent> {
        let event = self.event(self.next_number);
        self.next_number += 1;
        Some(event)
    }
}

/// The id (from 0) of the last person created at or before `event_id`: the person
/// `event_id` creates if it is a person event.
pub fn last_base0_person_id(event_id: u64) -> u64 {
    let epoch = event_id / PROPORTION_DENOMINATOR;
    let mut offset = event_id % PROPORTION_DENOMINATOR;
    if offset >= PERSON_PROPORTION {
        // An auction or bid event: the last person is the last of this epoch.
        offset = PERSON_PROPORTION - 1;
    }
    epoch * PERSON_PROPORTION + offset
}

/// The id (from 0) of the last auction created at or before `event_id`, or -1 before
/// the first: the auction `event_id` creates if it is an auction event.
pub fn last_base0_auction_id(event_id: u64) -> i64 {
    let mut epoch = (event_id / PROPORTION_DENOMINATOR) as i64;
    let mut offset = (event_id % PROPORTION_DENOMINATOR) as i64;
    let (person, auction) = (PERSON_PROPORTION as i64, AUCTION_PROPORTION as i64);
    if offset < person {
        // A person event: the last auction is the last of the previous epoch.
        epoch -= 1;
        offset = auction - 1;
    } else if offset >= person + auction {
        // A bid event: the last auction is the last of this epoch.
        offset = auction - 1;
    } else {
        offset -= person;
    }
    epoch * auction + offset
}

/// A random person id (from 0) among the active people, or a few ahead of the last.
fn next_base0_person_id(event_id: u64, rng: &mut Rng, config: &GeneratorConfig) -> u64 {
    let people = last_base0_person_id(event_id) + 1;
    let active = people.min(config.active_people);
    people - active + rng.below(active + ID_LEAD)
}

/// A random auction id (from 0) among those likely in flight, or a few ahead.
fn next_base0_auction_id(event_id: u64, rng: &mut Rng, config: &GeneratorConfig) -> u64 {
    let max = last_base0_auction_id(event_id).max(0) as u64;
    let min = max.saturating_sub(config.in_flight_auctions);
    min + rng.below(max - min + 1 + ID_LEAD)
}

fn next_person(event_id: u64, rng: &mut Rng, timestamp: i64, config: &GeneratorConfig) -> Person {
    let id = last_base0_person_id(event_id) + FIRST_PERSON_ID;
    let name = format!("{} {}", rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
    let email_address = format!("{}@{}.com", rng.string(7), rng.string(5));
    let credit_card = (0..4)
        .map(|_| format!("{:04}", rng.below(10_000)))
        .collect::<Vec<_>>()
        .join(" ");
    let city = rng.pick(&US_CITIES).to_string();
    let state = rng.pick(&US_STATES).to_string();
    let size = 8 + name.len() + email_address.len() + credit_card.len() + city.len() + state.len();
    let extra = rng.extra(size as u64, config.avg_person_bytes);
    Person {
        id,
        name,
        email_address,
        credit_card,
        city,
        state,
        date_time: timestamp,
        extra,
    }
}

fn next_auction(
    number: u64,
    event_id: u64,
    rng: &mut Rng,
    timestamp: i64,
    config: &GeneratorConfig,
) -> Auction {
    let id = last_base0_auction_id(event_id).max(0) as u64 + FIRST_AUCTION_ID;
    let seller = if rng.below(config.hot_sellers_ratio) > 0 {
        // The first person of the latest batch of HOT_BATCH people.
        last_base0_person_id(event_id) / HOT_BATCH * HOT_BATCH
    } else {
        next_base0_person_id(event_id, rng, config)
    } + FIRST_PERSON_ID;
    let category = FIRST_CATEGORY_ID + rng.below(CATEGORY_COUNT);
    let initial_bid = rng.price();
    // On average, the auction lasts until `in_flight_auctions` more auctions exist.
    let horizon = config.timestamp_of(number + config.events_for_in_flight_auctions()) - timestamp;
    let expires = timestamp + 1 + rng.below((horizon * 2).max(1) as u64) as i64;
    let item_name = rng.string(20);
    let description = rng.string(100);
    let reserve = initial_bid + rng.price();
    let size = 8 + item_name.len() + description.len() + 40;
    let extra = rng.extra(size as u64, config.avg_auction_bytes);
    Auction {
        id,
        item_name,
        description,
        initial_bid,
        reserve,
        date_time: timestamp,
        expires,
        seller,
        category,
        extra,
    }
}

fn next_bid(event_id: u64, rng: &mut Rng, timestamp: i64, config: &GeneratorConfig) -> Bid {
    let auction = if rng.below(config.hot_auction_ratio) > 0 {
        // The first auction of the latest batch of HOT_BATCH auctions.
        last_base0_auction_id(event_id).max(0) as u64 / HOT_BATCH * HOT_BATCH
    } else {
        next_base0_auction_id(event_id, rng, config)
    } + FIRST_AUCTION_ID;
    let bidder = if rng.below(config.hot_bidders_ratio) > 0 {
        // The second person of the latest batch, so that hot bidders are not hot sellers.
        last_base0_person_id(event_id) / HOT_BATCH * HOT_BATCH + 1
    } else {
        next_base0_person_id(event_id, rng, config)
    } + FIRST_PERSON_ID;
    let price = rng.price();
    let extra = rng.extra(32, config.avg_bid_bytes);
    Bid {
        auction,
        bidder,
        price,
        date_time: timestamp,
        extra,
    }
}

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn for_event(seed: u64, event_id: u64) -> Self {
        let mut rng = Rng(seed ^ event_id.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[self.below(choices.len() as u64) as usize]
    }

    /// Beam's `PriceGenerator`: cents, log-uniform from $1 to $1,000,000.
    fn price(&mut self) -> u64 {
        (10f64.powf(self.unit() * 6.0) * 100.0).round() as u64
    }

    /// Beam's `nextString`: 3 to `max_len - 1` letters and spaces, trimmed.
    fn string(&mut self, max_len: u64) -> String {
        let len = 3 + self.below(max_len - 3);
        let text: String = (0..len)
            .map(|_| {
                if self.below(13) == 0 {
                    ' '
                } else {
                    char::from(b'a' + self.below(26) as u8)
                }
            })
            .collect();
        text.trim().to_string()
    }

    /// Beam's `nextExtra`: padding so that `current + padding` averages `average`.
    fn extra(&mut self, current: u64, average: u64) -> String {
        if current > average {
            return String::new();
        }
        let wanted = average - current;
        let delta = (wanted as f64 * 0.2).round() as u64;
        let len = wanted - delta + if delta == 0 { 0 } else { self.below(2 * delta) };
        (0..len)
            .map(|_| char::from(b'a' + self.below(26) as u8))
            .collect()
    }
}
