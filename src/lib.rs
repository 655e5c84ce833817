//! Eddy: Apache Kafka's model rebuilt in Rust as an actor-model stream processing runtime.
//!
//! This facade re-exports the workspace crates, each named by its role:
//! [`topologies`] (the DSL and its pure execution core), [`actors`] (a node's actors and
//! stores), [`client`] (the async Kafka client), [`streams`] (running topologies like Kafka
//! Streams applications), [`connect`] (Kafka Connect) and [`node`] (an Eddy node).

pub use eddy_actors as actors;
pub use eddy_client as client;
pub use eddy_connect as connect;
pub use eddy_node as node;
pub use eddy_streams as streams;
pub use eddy_topologies as topologies;
