//! Payments, the seed's event end to end: payments keyed by user (key "Alice", value "made
//! a payment of 200 dollars to Bob") are totalled per user in 1-minute tumbling windows
//! (10 s grace), and enriched with the payer's details from a compacted users topic (a
//! stream–table join).

use std::time::Duration;

use eddy_streams::{BuildError, Configs};
use eddy_topologies::{Serdes, StreamsBuilder, TimeWindows, Topology, TopologyError};
use serde::{Deserialize, Serialize};

/// The default payments topic (config `payments.topic`).
pub const PAYMENTS: &str = "payments";
/// The default users topic, compacted (config `users.topic`).
pub const USERS: &str = "users";
/// The default topic of the per-minute totals (config `totals.topic`).
pub const TOTALS: &str = "payment-totals-per-minute";
/// The default topic of the enriched payments (config `enriched.topic`).
pub const ENRICHED: &str = "payments-enriched";
/// The catalog's one-line description.
pub const DESCRIPTION: &str = "payments totalled per user and minute, and enriched with \
    the payer from the users table (a stream-table join)";

/// A user, as the users topic holds it (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The user's full name.
    pub name: String,
    /// The user's country.
    pub country: String,
}

/// A payment enriched with its payer (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enriched {
    /// The payer's full name.
    pub user: String,
    /// The payer's country.
    pub country: String,
    /// The amount paid.
    pub amount: u64,
}

/// The topics the topology reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Payments: key the user, value the text.
    pub payments: String,
    /// Users (compacted): key the user, value a [`User`].
    pub users: String,
    /// Per-user totals per minute.
    pub totals: String,
    /// Payments enriched with their payer.
    pub enriched: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            payments: PAYMENTS.into(),
            users: USERS.into(),
            totals: TOTALS.into(),
            enriched: ENRICHED.into(),
        }
    }
}

/// "made a payment of 200 dollars to Bob" → 200.
pub fn parse_amount(text: &str) -> Option<u64> {
    let mut words = text.split_whitespace();
    words.find(|w| *w == "of")?;
    words.next()?.parse().ok()
}

/// The payments topology on `topics`.
pub fn topology(topics: &Topics) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .default_serde::<User>(Serdes::json())
        .default_serde::<Enriched>(Serdes::json());
    let users = builder.table::<String, User>(&topics.users).named("users");
    let amounts = builder
        .stream::<String, String>(&topics.payments)
        .flat_map_values(|text| parse_amount(&text));
    amounts
        .group_by_key()
        .windowed_by(TimeWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(10)))
        .aggregate(|| 0u64, |_, amount, total| total + amount)
        .named("payment-totals")
        .to_stream()
        .to(&topics.totals);
    amounts
        .join(&users, |amount, user| Enriched {
            user: user.name.clone(),
            country: user.country.clone(),
            amount: *amount,
        })
        .named("enrich")
        .to(&topics.enriched);
    builder.build()
}

/// The catalog's builder: [`topology`] with the topics of `payments.topic`, `users.topic`,
/// `totals.topic` and `enriched.topic`.
pub fn from_configs(configs: &Configs) -> Result<Topology, BuildError> {
    let topics = Topics {
        payments: super::param(configs, "payments.topic", PAYMENTS).into(),
        users: super::param(configs, "users.topic", USERS).into(),
        totals: super::param(configs, "totals.topic", TOTALS).into(),
        enriched: super::param(configs, "enriched.topic", ENRICHED).into(),
    };
    Ok(topology(&topics)?)
}
