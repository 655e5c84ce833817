//! Running topologies against a Kafka cluster (an Eddy node, embedded or remote) like
//! Kafka Streams applications: each task of a [`Topology`] — one sub-topology for one
//! input partition — runs as a supervised actor in the program's own actix system, reading
//! and writing through the Kafka protocol, with the application id as its consumer group
//! and internal-topic prefix.
//!
//! A complete program: upper-cases the values of `orders` into `orders-shouted` until
//! Ctrl-C or SIGTERM, against a node on `127.0.0.1:9092` (`eddy start`). [`run`] makes the
//! runtime the tasks need, so the program depends on no async runtime of its own.
//!
//! ```no_run
//! use eddy_streams::{KafkaStreams, StreamsSettings};
//! use eddy_topologies::StreamsBuilder;
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     eddy_streams::run(async {
//!         let builder = StreamsBuilder::new();
//!         builder
//!             .stream::<String, String>("orders")
//!             .map_values(|order| order.to_uppercase())
//!             .to("orders-shouted");
//!         let topology = builder.build()?;
//!         let settings = StreamsSettings::new("orders-shouter", "127.0.0.1:9092");
//!         // Fails at once if `orders` does not exist (the error names it); creates
//!         // `orders-shouted` if the cluster auto-creates topics.
//!         let streams = KafkaStreams::start(topology, settings).await?;
//!         // Runs until Ctrl-C or SIGTERM, then stops the tasks and leaves the group.
//!         streams.run_until_signal().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! What the application does is logged without any set-up: with no global `tracing`
//! subscriber, [`KafkaStreams::start`] installs one on stderr (see
//! [`init_default_logging`]; `EDDY_LOG` filters it; [`StreamsSettings::default_logging`]
//! turns it off). It says when the application starts and with which tasks, each
//! rebalance (tasks revoked, tasks assigned), each task that fails and why, and the stop.
//!
//! Topics, as in Kafka Streams: a missing source topic fails the start with
//! [`StreamsError::MissingSourceTopics`], naming every one (the check never makes the
//! cluster create them); a missing sink topic is created the way a producer's first record
//! would create it, where the cluster auto-creates topics, and fails the start with
//! [`StreamsError::MissingSinkTopics`] elsewhere; repartition and changelog topics are
//! created.
//!
//! Interactive queries: [`KafkaStreams::query`] reads a store's current value for a key
//! from the task that owns the key (the partition the default partitioner picks for the
//! key bytes); with `application.server` set, the same reads are served over HTTP
//! (`GET /topologies/<app>/stores/<store>?key=…`) and the address is reported to the
//! [`registry`], where `eddy topology query` finds it.
//!
//! State stores are on disk under `state.dir`, checkpointed at every commit and caught up
//! from their changelog topics at every (re)start; an empty state directory is rebuilt
//! from the whole changelogs.
//!
//! Instances with the same application id split the tasks through the consumer group
//! named after it: each instance runs the tasks the group's leader gave it. Rebalances
//! (an instance joining, leaving or timing out) are cooperative: only the tasks that move
//! stop (committing first), and their new instance gets them in a follow-up rebalance. A
//! query of a key another instance owns is answered by that instance: `query`
//! says where (`QueryError::NotLocal`), the HTTP query server redirects there.

pub mod admin_routes;
mod application;
mod assignment;
mod catalog;
mod changelog;
mod error;
mod logging;
mod membership;
mod queries;
mod query_server;
pub mod registry;
mod runtime;
mod settings;
mod standby_task;
mod state_store;
mod stream_task;
mod topics;
mod topology_supervisor;

pub use application::{KafkaStreams, ReportHandle};
pub use catalog::{
    settings_from_configs, BuildError, Catalog, CatalogEntry, CatalogError, Configs, Parameter,
    STREAMS_CONFIG_NAMES,
};
pub use eddy_actors::supervision::{ChildState, SupervisorReport};
pub use error::StreamsError;
pub use logging::{init_default_logging, init_logging, LOG_FILTER_DEFAULT, LOG_FILTER_ENV};
pub use queries::{task_for_key, QueryError, QUERY_WAIT_MS_MAX};
pub(crate) use queries::{StoreQueries, TASK_FAILED};
pub use query_server::KEY_BYTES_MAX;
pub use runtime::{run, shutdown_signal, ShutdownSignal};
pub use settings::{
    default_state_dir, StreamsSettings, COMMIT_INTERVAL_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT,
    SESSION_TIMEOUT_MS_DEFAULT,
};
pub use state_store::StateDirError;
pub use stream_task::QUERIES_PENDING_MAX;
pub use topology_supervisor::TaskReport;
