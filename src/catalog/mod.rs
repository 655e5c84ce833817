//! The topologies the stock `eddy` binary can run by name (`eddy topology run NAME`,
//! `eddy topology catalog`): the examples' [`wordcount`], [`payments`] and [`sessions`],
//! and the Nexmark queries `nexmark-q0` … `nexmark-q8`. A program of its own starts from
//! [`stock`] (or an empty [`Catalog`]), registers its topologies and hands the catalog to
//! [`crate::cli::main_with`].

pub mod payments;
pub mod sessions;
pub mod wordcount;

use eddy_streams::{Catalog, Configs};
use eddy_topologies::nexmark::{self, QueryConfig};

/// What each Nexmark query computes, for the catalog.
const NEXMARK: [(&str, &str); 9] = [
    ("q0", "passes every event through (pass-through)"),
    ("q1", "converts every bid's price to euros"),
    (
        "q2",
        "keeps the bids on auctions whose id is a multiple of 123",
    ),
    (
        "q3",
        "local items: people in OR, ID or CA selling in category 10",
    ),
    ("q4", "the average winning price per category"),
    (
        "q5",
        "hot items: the auctions with the most bids per sliding window",
    ),
    (
        "q6",
        "the average selling price of each seller's last 10 auctions",
    ),
    ("q7", "the highest bid of each 10 s window"),
    (
        "q8",
        "people who opened an auction in the 10 s window they signed up in",
    ),
];

/// The value of the topology parameter `key`, else `default`.
pub(crate) fn param<'a>(configs: &'a Configs, key: &str, default: &'a str) -> &'a str {
    configs.get(key).map_or(default, String::as_str)
}

/// The stock catalog: `wordcount`, `payments`, `sessions` and `nexmark-q0` … `nexmark-q8`
/// (reading `nexmark-events`, writing `nexmark-q<N>`, with Nexmark's default parameters).
pub fn stock() -> Catalog {
    let mut catalog = Catalog::new();
    catalog
        .register("wordcount", wordcount::DESCRIPTION, wordcount::from_configs)
        .parameter("input.topic", wordcount::INPUT, "the lines")
        .parameter("output.topic", wordcount::OUTPUT, "the counts");
    catalog
        .register("payments", payments::DESCRIPTION, payments::from_configs)
        .parameter("payments.topic", payments::PAYMENTS, "the payments")
        .parameter("users.topic", payments::USERS, "the users (compacted)")
        .parameter("totals.topic", payments::TOTALS, "the totals per minute")
        .parameter(
            "enriched.topic",
            payments::ENRICHED,
            "the enriched payments",
        );
    catalog
        .register("sessions", sessions::DESCRIPTION, sessions::from_configs)
        .parameter("input.topic", sessions::CLICKS, "the clicks")
        .parameter("output.topic", sessions::SESSIONS, "the sessions' counts");
    for (query, what) in NEXMARK {
        let description = format!(
            "Nexmark {query}: {what} (reads {}, writes {})",
            nexmark::EVENTS_TOPIC,
            nexmark::output_topic(query)
        );
        catalog.register(&format!("nexmark-{query}"), &description, move |_| {
            let topology = nexmark::query(query, &QueryConfig::default())
                .ok_or_else(|| format!("no Nexmark query {query}"))??;
            Ok(topology)
        });
    }
    catalog
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stock_entry_builds_with_its_defaults() {
        let catalog = stock();
        let names = catalog.names();
        assert_eq!(names.len(), 12, "{names:?}");
        for name in names {
            catalog
                .build(&name, &Configs::new())
                .unwrap_or_else(|err| panic!("{name}: {err}"));
        }
    }

    #[test]
    fn every_parameter_the_builders_read_is_declared() {
        // Each declared parameter is accepted; its default is what the builder uses.
        for entry in stock().entries() {
            let configs: Configs = entry
                .parameters
                .iter()
                .map(|p| (p.name.clone(), p.default.clone()))
                .collect();
            let with = entry
                .build(&configs)
                .expect("builds with its defaults given");
            let without = entry.build(&Configs::new()).expect("builds");
            assert_eq!(
                with.describe().to_string(),
                without.describe().to_string(),
                "{}",
                entry.name
            );
        }
    }

    #[test]
    fn the_topic_parameters_rename_the_topics() {
        let configs = Configs::from([("input.topic".to_string(), "lines".to_string())]);
        let topology = stock().build("wordcount", &configs).unwrap();
        let described = topology.describe().to_string();
        assert!(described.contains("lines"), "{described}");
        assert!(!described.contains(wordcount::INPUT), "{described}");
    }
}
