//! eddy-runtime: a node's bootstrap and config, the Kafka protocol server, the admin HTTP
//! endpoint, metrics, and the small async Kafka client (`client`) that the CLI, examples and
//! tests reuse.
#![warn(missing_docs)]

pub mod admin_http;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connect;
pub mod error;
pub mod fd_limit;
pub mod kafka;
pub mod metrics;
pub mod node;
pub mod record_codec;
pub mod storage_health;
pub mod streams;

pub use config::NodeConfig;
pub use node::{run_until_signal, NodeThread, RunningNode};
