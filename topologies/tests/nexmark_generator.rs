//! The Nexmark generator: proportions, id rules, event times, determinism, encoding.

use std::collections::HashSet;

use eddy_topologies::nexmark::{
    Event, Generator, GeneratorConfig, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID,
};
use eddy_topologies::{Serde, Serdes};

const EVENTS: usize = 10_000;

fn events(config: GeneratorConfig) -> Vec<eddy_topologies::nexmark::TimestampedEvent> {
    Generator::new(config).take(EVENTS).collect()
}

#[test]
fn one_person_three_auctions_forty_six_bids_in_every_fifty() {
    let all = events(GeneratorConfig::with_seed(3));
    for (chunk_index, chunk) in all.chunks(50).enumerate() {
        let kinds: Vec<char> = chunk
            .iter()
            .map(|e| match e.event {
                Event::Person(_) => 'p',
                Event::Auction(_) => 'a',
                Event::Bid(_) => 'b',
            })
            .collect();
        let expected: Vec<char> = "paaa".chars().chain(std::iter::repeat_n('b', 46)).collect();
        assert_eq!(kinds, expected, "chunk {chunk_index}");
    }
}

#[test]
fn people_and_auctions_get_consecutive_ids_and_references_stay_in_range() {
    let config = GeneratorConfig::with_seed(5);
    let max_duration = config.max_auction_duration_ms();
    let (mut next_person, mut next_auction) = (FIRST_PERSON_ID, FIRST_AUCTION_ID);
    let (mut hot_auction_bids, mut bids) = (0u64, 0u64);
    for e in events(config) {
        match e.event {
            Event::Person(p) => {
                assert_eq!(p.id, next_person);
                next_person += 1;
                assert!(["AZ", "CA", "ID", "OR", "WA", "WY"].contains(&p.state.as_str()));
            }
            Event::Auction(a) => {
                assert_eq!(a.id, next_auction);
                next_auction += 1;
                // A seller is an existing person or one of the next 10 ("lead").
                assert!(
                    (FIRST_PERSON_ID..next_person + 10).contains(&a.seller),
                    "{a:?}"
                );
                assert!((FIRST_CATEGORY_ID..FIRST_CATEGORY_ID + 5).contains(&a.category));
                assert!(a.expires > a.date_time && a.expires <= a.date_time + max_duration);
                assert!(a.reserve >= a.initial_bid && a.initial_bid >= 100);
            }
            Event::Bid(b) => {
                bids += 1;
                assert!(
                    (FIRST_AUCTION_ID..next_auction + 10).contains(&b.auction),
                    "{b:?}"
                );
                assert!(
                    (FIRST_PERSON_ID..next_person + 10).contains(&b.bidder),
                    "{b:?}"
                );
                assert!((100..=100_000_000).contains(&b.price));
                // Hot auctions: the first of the latest batch of 100 auctions.
                if b.auction == FIRST_AUCTION_ID + (next_auction - 1 - FIRST_AUCTION_ID) / 100 * 100
                {
                    hot_auction_bids += 1;
                }
            }
        }
    }
    // hot_auction_ratio 2: about half the bids (plus random hits) go to the hot auction.
    let share = hot_auction_bids as f64 / bids as f64;
    assert!((0.45..0.60).contains(&share), "hot auction share {share}");
}

#[test]
fn event_times_step_by_the_inter_event_delay() {
    let config = GeneratorConfig {
        base_time_ms: 1_000_000,
        inter_event_delay_us: 2_500,
        ..GeneratorConfig::with_seed(9)
    };
    let all = events(config);
    for (n, e) in all.iter().enumerate() {
        assert_eq!(e.timestamp_ms, 1_000_000 + (n as i64 * 2_500) / 1000);
        assert_eq!(e.event.date_time(), e.timestamp_ms);
    }
    assert!(all
        .windows(2)
        .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms));
}

#[test]
fn the_seed_decides_the_events() {
    let a = events(GeneratorConfig::with_seed(11));
    let b = events(GeneratorConfig::with_seed(11));
    let c = events(GeneratorConfig::with_seed(12));
    assert_eq!(a, b);
    let differing = a.iter().zip(&c).filter(|(x, y)| x != y).count();
    assert!(
        differing > EVENTS * 9 / 10,
        "only {differing} events differ"
    );
    // Event n does not depend on the events before it.
    let generator = Generator::new(GeneratorConfig::with_seed(11));
    assert_eq!(generator.event(4_321), a[4_321]);
    // Names, states and prices vary.
    let prices: HashSet<u64> = a
        .iter()
        .filter_map(|e| e.event.clone().bid().map(|b| b.price))
        .collect();
    assert!(prices.len() > 1_000);
}

#[test]
fn events_encode_as_json_objects_named_after_their_kind() {
    let all = events(GeneratorConfig::with_seed(1));
    let serde = Serdes::json::<Event>();
    let bid = all
        .iter()
        .find(|e| matches!(e.event, Event::Bid(_)))
        .unwrap();
    let bytes = serde.serialize(&bid.event).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let fields = json["bid"].as_object().expect("a bid object");
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["auction", "bidder", "dateTime", "extra", "price"]);
    assert_eq!(serde.deserialize(&bytes).unwrap(), bid.event);
    // The padding brings each kind near its average size (Beam's 200 / 500 / 100 bytes,
    // which count fields as Beam does, not as JSON).
    let mean = |kind: fn(&Event) -> bool| {
        let sizes: Vec<usize> = all
            .iter()
            .filter(|e| kind(&e.event))
            .map(|e| serde.serialize(&e.event).unwrap().len())
            .collect();
        sizes.iter().sum::<usize>() / sizes.len()
    };
    assert!((150..350).contains(&mean(|e| matches!(e, Event::Person(_)))));
    assert!((450..700).contains(&mean(|e| matches!(e, Event::Auction(_)))));
    assert!((100..200).contains(&mean(|e| matches!(e, Event::Bid(_)))));
}

#[test]
fn ids_follow_beams_rules() {
    use eddy_topologies::nexmark::{last_base0_auction_id, last_base0_person_id};
    // Event ids 0, 50, 100… are people; 1–3, 51–53… auctions; the rest bids.
    let people: Vec<u64> = [0, 1, 4, 49, 50, 99, 100].map(last_base0_person_id).into();
    assert_eq!(people, [0, 0, 0, 0, 1, 1, 2]);
    let auctions: Vec<i64> = [0, 1, 2, 3, 4, 49, 50, 51, 53]
        .map(last_base0_auction_id)
        .into();
    assert_eq!(auctions, [-1, 0, 1, 2, 2, 2, 2, 3, 5]);
    let config = GeneratorConfig::with_seed(0).at_rate(1_000);
    assert_eq!(config.inter_event_delay_us, 1_000);
    assert_eq!(config.timestamp_of(2_500), 2_500);
    // An auction lasts on average until 100 more auctions exist: 1,666 events, 1.666 s.
    assert_eq!(config.max_auction_duration_ms(), 2 * (1_666 + 1));
}
