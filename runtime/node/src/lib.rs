//! eddy-node: an Eddy node — its config, bootstrap and shutdown, the Kafka protocol server,
//! cluster mode (Raft metadata quorum, replica fetchers), the admin HTTP endpoint, metrics
//! and the storage and descriptor watchdogs. The actors it hosts are in `eddy-actors`; the
//! Connect workers it can host are in `eddy-connect`.

pub mod admin_http;
pub mod cluster;
pub mod config;
mod error;
mod fd_limit;
pub mod kafka;
mod memory;
mod metrics;
pub mod node;
mod record_codec;
mod services;
mod storage_health;
pub mod topologies;

pub use config::{NodeConfig, NodeConfigOverrides};
pub use error::{ConfigError, NodeError};
pub use node::{run_until_signal, NodeThread, RunningNode};
