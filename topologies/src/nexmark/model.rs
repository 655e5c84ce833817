//! The Nexmark data model: people, auctions and bids, as Apache Beam's and Flink's
//! Nexmark define them (field names in camelCase, as both write them in JSON).

use serde::{Deserialize, Serialize};

/// A person: someone who sells items in auctions and bids on them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// The person's id, from `FIRST_PERSON_ID` up, in creation order.
    pub id: u64,
    /// First and last name.
    pub name: String,
    /// A random e-mail address.
    pub email_address: String,
    /// A random credit card number, four groups of four digits.
    pub credit_card: String,
    /// A US city.
    pub city: String,
    /// A US state, one of six (so that joins on states find results).
    pub state: String,
    /// When the person was created (event time, ms since the epoch).
    pub date_time: i64,
    /// Padding, so that a person's encoding is on average `avg_person_bytes` long.
    pub extra: String,
}

/// An auction: an item a person sells, open from `date_time` until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Auction {
    /// The auction's id, from `FIRST_AUCTION_ID` up, in creation order.
    pub id: u64,
    /// A random item name.
    pub item_name: String,
    /// A random description.
    pub description: String,
    /// The opening price, in cents.
    pub initial_bid: u64,
    /// The lowest price the seller accepts, in cents.
    pub reserve: u64,
    /// When the auction opened (event time, ms since the epoch).
    pub date_time: i64,
    /// When the auction closes (event time, ms since the epoch).
    pub expires: i64,
    /// The id of the person who sells the item.
    pub seller: u64,
    /// The item's category, from `FIRST_CATEGORY_ID` up (five categories).
    pub category: u64,
    /// Padding, so that an auction's encoding is on average `avg_auction_bytes` long.
    pub extra: String,
}

/// A bid on an auction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bid {
    /// The id of the auction bid on.
    pub auction: u64,
    /// The id of the person bidding.
    pub bidder: u64,
    /// The price offered, in cents.
    pub price: u64,
    /// When the bid was made (event time, ms since the epoch).
    pub date_time: i64,
    /// Padding, so that a bid's encoding is on average `avg_bid_bytes` long.
    pub extra: String,
}

/// One Nexmark event. In JSON, an object with one field named after the kind:
/// `{"person":{...}}`, `{"auction":{...}}` or `{"bid":{...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A new bid.
    Bid(Bid),
}

impl Event {
    /// The record key the event is written with: the person's id, the auction's id, or
    /// for a bid the id of its auction (so that an auction and its bids share a
    /// partition).
    pub fn key(&self) -> u64 {
        match self {
            Event::Person(p) => p.id,
            Event::Auction(a) => a.id,
            Event::Bid(b) => b.auction,
        }
    }

    /// The event's time (ms since the epoch).
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// The person, if the event is one.
    pub fn person(self) -> Option<Person> {
        match self {
            Event::Person(p) => Some(p),
            _ => None,
        }
    }

    /// The auction, if the event is one.
    pub fn auction(self) -> Option<Auction> {
        match self {
            Event::Auction(a) => Some(a),
            _ => None,
        }
    }

    /// The bid, if the event is one.
    pub fn bid(self) -> Option<Bid> {
        match self {
            Event::Bid(b) => Some(b),
            _ => None,
        }
    }
}
