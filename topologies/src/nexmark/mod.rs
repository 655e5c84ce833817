//! Nexmark, the online-auction benchmark (Beam's and Flink's Nexmark suites): a
//! deterministic event generator and queries q0–q8 written in the DSL.
//!
//! - `Generator::new(GeneratorConfig::with_seed(7)).take(n)` gives `n` events with
//!   their event times: 1 person, 3 auctions and 46 bids in every 50 (see
//!   `generator.rs` for the rules it follows and where it departs from Beam's).
//! - `q0()` … `q8(&QueryConfig)` (or `query("q5", &config)`) build the queries.
//!
//! Topics: every query reads the one topic `nexmark-events` (`EVENTS_TOPIC`), which
//! holds all events in generation order, and writes `nexmark-q<N>` (`output_topic`).
//! Each query splits the events itself (`flat_map_values(Event::bid)`, …).
//!
//! Encoding of `nexmark-events`: the key is `Event::key()` as 8 big-endian bytes
//! (`Serdes::long()`): a person's id, an auction's id, or a bid's auction id, so that an
//! auction and its bids share a partition. The value is the event as JSON
//! (`Serdes::json()`), an object with one field named after its kind, fields in camelCase
//! as Beam and Flink name them:
//! `{"bid":{"auction":1000,"bidder":1001,"price":5012,"dateTime":1200,"extra":"..."}}`.
//! The record timestamp is the event time (`TimestampedEvent::timestamp_ms`, equal to
//! the event's `dateTime`). Query outputs use `Serdes::long()` for integers and JSON
//! for structures; each query's docs give its key and value.
//!
//! ```
//! use eddy_topologies::nexmark::{self, Event, Generator, GeneratorConfig, EVENTS_TOPIC};
//! use eddy_topologies::{StreamsConfig, TopologyTestDriver};
//!
//! let mut driver = TopologyTestDriver::new(nexmark::q2(&Default::default())?, StreamsConfig::new("q2"))?;
//! for e in Generator::new(GeneratorConfig::with_seed(1)).take(5_000) {
//!     driver.pipe_input(EVENTS_TOPIC, e.event.key(), e.event, e.timestamp_ms)?;
//! }
//! for (auction, _price) in driver.read_key_values::<u64, u64>("nexmark-q2")? {
//!     assert_eq!(auction % 123, 0);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod generator;
mod model;
mod queries;

pub use generator::{
    last_base0_auction_id, last_base0_person_id, Generator, GeneratorConfig, TimestampedEvent,
    AUCTION_PROPORTION, BID_PROPORTION, CATEGORY_COUNT, FIRST_AUCTION_ID, FIRST_CATEGORY_ID,
    FIRST_PERSON_ID, PERSON_PROPORTION, PROPORTION_DENOMINATOR,
};
pub use model::{Auction, Bid, Event, Person};
pub use queries::{
    output_topic, q0, q1, q2, q3, q4, q5, q6, q7, q8, query, HighestBids, HotItems, LocalItem,
    NewUser, QueryConfig, EVENTS_TOPIC, QUERY_NAMES,
};
