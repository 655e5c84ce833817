//! The log an application gets without configuring any: Kafka Streams logs its lifecycle
//! through the application's logger whatever the program does, and an Eddy application
//! should say as much — started with N tasks, tasks assigned and revoked, a task failed
//! and why, stopped — even when its `main` never set up `tracing`.
//!
//! So [`KafkaStreams::start`](crate::KafkaStreams::start) installs this subscriber when
//! the process has no global one yet (and
//! [`StreamsSettings::default_logging`](crate::StreamsSettings::default_logging) is on, as
//! it is by default). A program that sets its own subscriber first keeps it: this one is
//! never installed over another.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The environment variable read as a `tracing` filter (`EnvFilter` syntax, e.g.
/// `EDDY_LOG=debug` or `EDDY_LOG=warn,eddy_streams=debug`), as `eddy start` reads it.
pub const LOG_FILTER_ENV: &str = "EDDY_LOG";

/// The filter without `EDDY_LOG`: the streams runtime's lifecycle (info), and only
/// warnings from everything else.
pub const LOG_FILTER_DEFAULT: &str = "warn,eddy_streams=info";

/// Installs the default subscriber — lines on stderr, filtered by `EDDY_LOG` (default
/// [`LOG_FILTER_DEFAULT`]), ANSI colours only on a terminal and never under `NO_COLOR` —
/// unless the process already has a global subscriber. Returns whether it installed it.
pub fn init_default_logging() -> bool {
    init_logging(LOG_FILTER_DEFAULT)
}

/// Installs Eddy's subscriber — lines on stderr, filtered by `EDDY_LOG` or else `default`,
/// ANSI colours only on a terminal and never under `NO_COLOR` — unless the process already
/// has a global subscriber. Returns whether it installed it. The one log set-up of every
/// Eddy program: `eddy start` and `eddy connect run` call it with their own defaults.
pub fn init_logging(default: &str) -> bool {
    if tracing::dispatcher::has_been_set() {
        return false;
    }
    let filter = EnvFilter::try_from_env(LOG_FILTER_ENV).unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .try_init()
        .is_ok()
}

/// Whether log lines on stderr get ANSI colours: only on a terminal (a log file must hold
/// plain text), and never when `NO_COLOR` is set to anything non-empty (no-color.org).
fn log_colours() -> bool {
    let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_colour && std::io::stderr().is_terminal()
}
