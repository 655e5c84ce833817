//! Eddy: Apache Kafka's model rebuilt in Rust as an actor-model stream processing runtime.
//!
//! This facade re-exports the public surface of the workspace crates.

pub use eddy_actors as actors;
pub use eddy_runtime as runtime;
pub use eddy_runtime::client;
pub use eddy_topologies as topologies;
