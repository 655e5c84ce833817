//! `StreamsConfig`: what a running topology needs beyond its shape.

use crate::error::TopologyError;
use crate::graph::naming_check;

/// The configuration of a topology's tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    /// Kafka's `application.id`: the consumer group id, and the prefix of the
    /// application's internal topics (`<application.id>-<name>-repartition`,
    /// `<application.id>-<store>-changelog`).
    pub application_id: String,
}

impl StreamsConfig {
    /// A configuration for the application `application_id`.
    pub fn new(application_id: impl Into<String>) -> Self {
        StreamsConfig {
            application_id: application_id.into(),
        }
    }

    /// Checks that the application id can prefix topic names.
    pub fn validate(&self) -> Result<(), TopologyError> {
        naming_check(&self.application_id)
            .map_err(|e| TopologyError::InvalidConfig(format!("application.id: {e}")))
    }
}
