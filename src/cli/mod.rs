//! One module per `eddy` subcommand.

mod admin_client;
pub mod bench;
pub mod cluster;
pub mod connect_cmd;
pub mod consume;
pub mod group;
mod node_access;
pub mod produce;
mod receipts;
pub mod start;
pub mod supervisors;
pub mod topic;
pub mod topology;
