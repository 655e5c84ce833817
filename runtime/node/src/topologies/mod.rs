//! Topologies deployed to the cluster (issue #13): the deployments API on the admin port
//! (`routes.rs`), what a deployment means on this node as pure functions
//! (`deployment.rs`), and the `TopologyHost` actor that runs this node's instance of each
//! (`host.rs`).

pub mod deployment;
pub mod host;
pub mod routes;
