//! The `Sink` trait: what a sink connector's task implements.
//!
//! The runner consumes the sink's topics, converts each record with the configured
//! converters, and asks the sink to `check` it; a record that fails conversion or the
//! check is *bad*: it goes to the dead-letter topic when `errors.tolerance=all`, otherwise
//! the task fails naming it. Good records are handed to `put` in batches of at most
//! `batch.size`. Before the runner commits the group offsets of what it consumed, it calls
//! `flush`: once `flush` returns, everything `put` received must be durable in the outside
//! system (at-least-once: a crash after `put` and before the commit writes those records
//! again after the restart, never loses them).

use futures::future::BoxFuture;

use super::converter::Data;
use super::error::ConnectError;
use eddy_client::Header;

/// One record consumed from a topic, converted.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The offset.
    pub offset: i64,
    /// The record's timestamp in ms since the epoch.
    pub timestamp_ms: i64,
    /// The key.
    pub key: Data,
    /// The value.
    pub value: Data,
    /// The headers.
    pub headers: Vec<Header>,
}

/// A sink connector's task.
pub trait Sink: Send {
    /// Opens the outside system.
    fn start(&mut self) -> BoxFuture<'_, Result<(), ConnectError>>;

    /// Whether the sink can write `record`; `Err` says why not, and makes it a bad record.
    /// Called for every record before `put`.
    fn check(&self, record: &SinkRecord) -> Result<(), String> {
        let _ = record;
        Ok(())
    }

    /// Writes checked records (buffering is allowed until `flush`). A sink whose outside
    /// system refuses one record for its data (a constraint, say) writes the records
    /// before it, none after it, and answers [`ConnectError::Refused`] with its index: the
    /// runner handles that record as a bad one and puts the rest again.
    fn put<'a>(&'a mut self, records: &'a [SinkRecord]) -> BoxFuture<'a, Result<(), ConnectError>>;

    /// Makes everything `put` so far durable.
    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectError>>;
}
