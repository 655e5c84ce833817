//! Connect's errors: invalid configurations (every faulty key at once), failures of a task
//! (each says whether a restart may help), and the answers of the ConnectSupervisor.

use std::fmt;

use eddy_client::ClientError;

/// One faulty key of a connector configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConfigProblem {
    /// The key, as Kafka Connect names it (`tasks.max`, `connector.class`…).
    pub key: String,
    /// The value given, `None` when the key is missing.
    pub value: Option<String>,
    /// What is wrong and what is expected.
    pub reason: String,
}

impl ConfigProblem {
    /// A problem with the value given for `key`.
    pub fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            value: Some(value.to_owned()),
            reason: reason.into(),
        }
    }

    /// A required key that is missing.
    pub fn missing(key: &str, reason: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            value: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{} = \"{}\": {}", self.key, value, self.reason),
            None => write!(f, "{} (missing): {}", self.key, self.reason),
        }
    }
}

/// The problems of one configuration, printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblems(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

/// An error of Connect: configuration, a task's work, or a request to the supervisor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configuration has faulty keys; all of them are listed.
    #[error(
        "connector configuration `{source_name}` is invalid and contains the following {} error(s):{problems}",
        problems.0.len()
    )]
    InvalidConfig {
        /// The connector name, or the file the configuration came from.
        source_name: String,
        /// Every faulty key.
        problems: ConfigProblems,
    },

    /// A configuration file or document could not be read at all.
    #[error("cannot read connector configuration {source_name}: {reason}")]
    Unreadable {
        /// The file or request the configuration came from.
        source_name: String,
        /// Why.
        reason: String,
    },

    /// The cluster answered with an error or could not be reached.
    #[error("{context}: {source}")]
    Client {
        /// What the task was doing.
        context: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },

    /// A file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the task was doing, with the path.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },

    /// A record could not be converted or written, and `errors.tolerance` is `none`.
    #[error(
        "connector {connector}: bad record at {topic}/{partition} offset {offset}: {reason} \
         (set errors.tolerance=all and errors.deadletterqueue.topic.name to route such records \
         to a dead-letter topic)"
    )]
    BadRecord {
        /// The connector.
        connector: String,
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// Why it is bad.
        reason: String,
    },

    /// A record produced by a source could not be serialized by its converter.
    #[error("connector {connector}: cannot convert a source record for topic {topic}: {reason}")]
    Conversion {
        /// The connector.
        connector: String,
        /// The destination topic.
        topic: String,
        /// Why.
        reason: String,
    },

    /// A single message transform refused a record a source produced.
    #[error(
        "connector {connector}: a transform refused a source record for topic {topic}: {source}"
    )]
    Transform {
        /// The connector.
        connector: String,
        /// The topic the source meant the record for.
        topic: String,
        /// Which transform, and why.
        #[source]
        source: super::transforms::TransformError,
    },

    /// An outside database (a sink's) failed or refused a request.
    #[error("{context}: {reason}")]
    Database {
        /// What the task was doing.
        context: String,
        /// The database's or the client's error.
        reason: String,
        /// Whether trying again may help (the database is down or restarting).
        retriable: bool,
    },

    /// A sink's outside system refused one record of a `put` for its data; the records
    /// before it are written, those after it are not (see `Sink::put`).
    #[error("record {index} of the batch was refused: {reason}")]
    Refused {
        /// The record's index in the slice given to `put`.
        index: usize,
        /// Why.
        reason: String,
    },

    /// A source file holds a line longer than the limit.
    #[error("{file}: the line starting at byte {position} is longer than {line_bytes_max} bytes")]
    LineTooLong {
        /// The file.
        file: String,
        /// Where the line starts.
        position: u64,
        /// The limit.
        line_bytes_max: usize,
    },

    /// A file source's stored offset was recorded for another file than the one at its
    /// path now: resuming would start in the middle of unrelated data.
    #[error(
        "FileStreamSource: refusing to resume {file} ({path}) at byte {position}: the stored \
         offset was recorded for {recorded}, and {path} is a different file ({reason}). To read \
         it from its start, stop the connector and reset its offsets (PUT \
         /connectors/<name>/stop, then DELETE /connectors/<name>/offsets), or give the \
         connector another name"
    )]
    SourceFileChanged {
        /// The file as configured.
        file: String,
        /// Its absolute path now.
        path: String,
        /// The absolute path the offset was recorded for.
        recorded: String,
        /// The stored position.
        position: u64,
        /// How the file differs.
        reason: String,
    },

    /// Stored offsets could not be read back in time or were malformed.
    #[error("connect offsets: {reason}")]
    Offsets {
        /// Why.
        reason: String,
        /// Whether trying again may help.
        retriable: bool,
    },

    /// Connector configurations could not be read from or written to `connect-configs`,
    /// or are not read yet (a node reads them at start).
    #[error("connect configs: {reason}")]
    Configs {
        /// Why.
        reason: String,
        /// Whether trying again may help.
        retriable: bool,
    },

    /// A task panicked (a bug); it is restarted like a failed task.
    #[error("task panicked: {0}")]
    Panic(String),

    /// No connector has this name (Kafka's words).
    #[error("Connector {0} not found")]
    NotFound(String),

    /// A connector with this name exists already (Kafka's words).
    #[error("Connector {0} already exists")]
    AlreadyExists(String),

    /// No connector class has this name (Kafka's words).
    #[error("Failed to find any class that implements Connector and which name matches {0}")]
    NotFoundPlugin(String),

    /// A REST request that cannot be carried out as asked; the message says why.
    #[error("{0}")]
    BadRequest(String),

    /// The task number is out of range.
    #[error("connector {connector} has no task {task}")]
    TaskNotFound {
        /// The connector.
        connector: String,
        /// The task asked for.
        task: u32,
    },

    /// The connector limit of the supervisor is reached.
    #[error("already {0} connectors: delete one first")]
    TooManyConnectors(usize),

    /// The ConnectSupervisor is gone (the node or `eddy connect run` is stopping).
    #[error("the connect supervisor is not running")]
    Unavailable,
}

impl ConnectError {
    /// Whether restarting the task may help: true for the cluster's retriable errors, file
    /// errors and panics; false for configuration problems and bad records (a restart
    /// would read the same configuration or the same record again).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Client { source, .. } => source.is_retriable(),
            Self::Io { .. } | Self::Panic(_) => true,
            Self::Offsets { retriable, .. }
            | Self::Configs { retriable, .. }
            | Self::Database { retriable, .. } => *retriable,
            Self::InvalidConfig { .. }
            | Self::Unreadable { .. }
            | Self::BadRecord { .. }
            | Self::Refused { .. }
            | Self::Conversion { .. }
            | Self::Transform { .. }
            | Self::LineTooLong { .. }
            | Self::SourceFileChanged { .. }
            | Self::NotFound(_)
            | Self::AlreadyExists(_)
            | Self::BadRequest(_)
            | Self::NotFoundPlugin(_)
            | Self::TaskNotFound { .. }
            | Self::TooManyConnectors(_)
            | Self::Unavailable => false,
        }
    }

    /// The HTTP status Kafka Connect's REST API answers this error with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidConfig { .. } | Self::Unreadable { .. } | Self::BadRequest(_) => 400,
            Self::NotFound(_) | Self::TaskNotFound { .. } | Self::NotFoundPlugin(_) => 404,
            Self::AlreadyExists(_) => 409,
            Self::TooManyConnectors(_) => 429,
            Self::Unavailable
            | Self::Configs {
                retriable: true, ..
            } => 503,
            _ => 500,
        }
    }

    /// A client error with what the task was doing.
    pub(crate) fn client(context: impl Into<String>, source: ClientError) -> Self {
        Self::Client {
            context: context.into(),
            source,
        }
    }

    /// A file error with what the task was doing.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_config_lists_every_problem() {
        let err = ConnectError::InvalidConfig {
            source_name: "bad".into(),
            problems: ConfigProblems(vec![
                ConfigProblem::invalid("tasks.max", "0", "must be at least 1"),
                ConfigProblem::missing("topic", "the topic to write to"),
            ]),
        };
        let text = err.to_string();
        assert!(text.contains("2 error(s)"), "{text}");
        assert!(
            text.contains("\n  - tasks.max = \"0\": must be at least 1"),
            "{text}"
        );
        assert!(
            text.contains("\n  - topic (missing): the topic to write to"),
            "{text}"
        );
        assert!(!err.is_retriable());
        assert_eq!(err.http_status(), 400);
    }

    #[test]
    fn retriable_follows_the_cause() {
        let refused = ClientError::Connect {
            addr: "127.0.0.1:1".into(),
            source: std::io::ErrorKind::ConnectionRefused.into(),
        };
        assert!(ConnectError::client("produce", refused).is_retriable());
        assert!(ConnectError::Panic("boom".into()).is_retriable());
        assert!(!ConnectError::NotFound("x".into()).is_retriable());
    }
}
