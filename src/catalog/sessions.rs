//! User activity sessions: clicks (key: the user; value: the page) are grouped into
//! sessions that end after 5 minutes without a click (1 minute of grace for late clicks),
//! and the click count of each session is written out. Keys are written as Kafka's
//! session-windowed serde writes them (the user, then the session's last and first click
//! time as 8-byte big-endian milliseconds); values are the count as an 8-byte big-endian
//! integer. A click that bridges two sessions merges them: the old sessions are deleted
//! (tombstones) and the merged one is written.

use std::time::Duration;

use eddy_streams::{BuildError, Configs};
use eddy_topologies::{SessionWindows, StreamsBuilder, Topology, TopologyError};

/// The default input topic (config `input.topic`).
pub const CLICKS: &str = "user-clicks";
/// The default output topic (config `output.topic`).
pub const SESSIONS: &str = "user-sessions";
/// A session ends after this long without a click.
pub const INACTIVITY_GAP: Duration = Duration::from_secs(5 * 60);
/// How long after a session's end a late click still counts.
pub const GRACE: Duration = Duration::from_secs(60);
/// The catalog's one-line description.
pub const DESCRIPTION: &str = "the click count of each user's sessions of activity (key: \
    the user; 5 min inactivity gap)";

/// Sessions of the clicks of `clicks`, counted into `sessions`.
pub fn topology(clicks: &str, sessions: &str) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(clicks)
        .group_by_key()
        .windowed_by_session(SessionWindows::with_inactivity_gap(INACTIVITY_GAP).grace(GRACE))
        .count()
        .named("clicks-per-session")
        .to_stream()
        .to(sessions);
    builder.build()
}

/// The catalog's builder: [`topology`] with the topics of `input.topic` and `output.topic`.
pub fn from_configs(configs: &Configs) -> Result<Topology, BuildError> {
    let clicks = super::param(configs, "input.topic", CLICKS);
    let sessions = super::param(configs, "output.topic", SESSIONS);
    Ok(topology(clicks, sessions)?)
}
