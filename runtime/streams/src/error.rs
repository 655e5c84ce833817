//! Why an application could not start.

use std::time::Duration;

use crate::*;
use eddy_client::ClientError;

/// Why an application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The cluster could not be reached or refused a request.
    #[error("{0}")]
    Client(#[from] ClientError),
    /// Source topics are missing (Kafka Streams' `MissingSourceTopicException`); the
    /// start checked without asking the cluster to create them.
    #[error("source topic(s) {} do not exist: create them first (e.g. `{}`), or correct the topology's topic names", .topics.join(", "), create_commands(.topics))]
    MissingSourceTopics {
        /// Every missing source topic, by name.
        topics: Vec<String>,
    },
    /// Sink (output) topics are missing and the cluster does not create topics on a
    /// producer's request (`auto.create.topics.enable=false`).
    #[error("sink topic(s) {} do not exist and the cluster does not create topics automatically (auto.create.topics.enable=false): create them first (e.g. `{}`)", .topics.join(", "), create_commands(.topics))]
    MissingSinkTopics {
        /// Every missing sink topic, by name.
        topics: Vec<String>,
    },
    /// The state directory could not be opened (or another instance holds it).
    #[error(transparent)]
    StateDir(#[from] state_store::StateDirError),
    /// The application's group gave this instance no assignment in time.
    #[error("application '{application}': the group '{application}' gave this instance no tasks within {waited:?}; is the cluster healthy? (`eddy group describe {application}`)")]
    NoAssignment {
        /// The application id.
        application: String,
        /// How long start waited.
        waited: Duration,
    },
    /// `application.server` could not be bound.
    #[error("application.server {address}: cannot listen there: {error}")]
    ApplicationServer {
        /// The address as configured.
        address: String,
        /// Why.
        error: std::io::Error,
    },
}

/// `eddy topic create` commands for `topics`, joined with `; `.
pub(crate) fn create_commands(topics: &[String]) -> String {
    topics
        .iter()
        .map(|t| format!("eddy topic create {t} --partitions 1"))
        .collect::<Vec<_>>()
        .join("; ")
}
