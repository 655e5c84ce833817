//! Eddy: Apache Kafka's model rebuilt in Rust as an actor-model stream processing runtime.
//!
//! This facade re-exports the workspace crates, each named by its role:
//! [`topologies`] (the DSL and its pure execution core), [`actors`] (a node's actors and
//! stores), [`client`] (the async Kafka client), [`streams`] (running topologies like Kafka
//! Streams applications), [`connect`] (Kafka Connect) and [`node`] (an Eddy node).
//!
//! A program that runs a topology depends on `eddy` alone — no actix or tokio of its own:
//! [`run`] makes the runtime, [`streams::KafkaStreams`] runs the application. This one
//! upper-cases the values of `orders` into `orders-shouted` on a node at `127.0.0.1:9092`
//! (`eddy start`) until Ctrl-C or SIGTERM, and logs what it does on stderr (`EDDY_LOG`
//! filters it):
//!
//! ```no_run
//! use eddy::streams::{KafkaStreams, StreamsSettings};
//! use eddy::topologies::StreamsBuilder;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     eddy::run(async {
//!         let builder = StreamsBuilder::new();
//!         builder
//!             .stream::<String, String>("orders")
//!             .map_values(|order| order.to_uppercase())
//!             .to("orders-shouted");
//!         let settings = StreamsSettings::new("orders-shouter", "127.0.0.1:9092");
//!         let streams = KafkaStreams::start(builder.build()?, settings).await?;
//!         streams.run_until_signal().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! With `eddy = { git = "…" }` (or `path = …`) in its `Cargo.toml`, such a program builds
//! Eddy's bounded copy of `kafka-protocol` too (`eddy-kafka-protocol`, see the repository's
//! `vendor/README.md`).
//!
//! [`catalog`] holds the stock binary's named topologies, and [`cli::main_with`] is the
//! whole `eddy` command line: a program of one's own that registers its topologies in a
//! [`streams::Catalog`] and calls it gets `eddy topology run NAME` (and every other
//! subcommand) for them.

pub use eddy_actors as actors;
pub use eddy_client as client;
pub use eddy_connect as connect;
pub use eddy_node as node;
pub use eddy_streams as streams;
pub use eddy_topologies as topologies;

pub use eddy_streams::run;

// The CLI's modules name this crate `eddy::…`, as they did when they were the binary's.
extern crate self as eddy;

pub mod catalog;
pub mod cli;
