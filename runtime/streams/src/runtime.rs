//! What a program's `main` needs to run an application, so that it depends on `eddy` (or
//! `eddy-streams`) alone: [`run`] makes the actix system the tasks run in, and
//! [`shutdown_signal`] waits for Ctrl-C or SIGTERM
//! ([`KafkaStreams::run_until_signal`](crate::KafkaStreams::run_until_signal) closes the
//! application then).

use std::future::Future;

/// Runs `future` to completion in a new actix system (one thread, the program's own) and
/// returns its output: the runtime every [`KafkaStreams`](crate::KafkaStreams) needs.
/// `main` calls it once; everything async — starting the application, producing,
/// consuming, waiting for a signal — goes inside `future`.
///
/// ```no_run
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     eddy_streams::run(async {
///         // KafkaStreams::start(…).await?.run_until_signal().await;
///         Ok(())
///     })
/// }
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    actix_rt::System::new().block_on(future)
}

/// What ended [`shutdown_signal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownSignal {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM, as `kill`, systemd and container runtimes send it.
    Terminate,
}

impl std::fmt::Display for ShutdownSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ShutdownSignal::Interrupt => "SIGINT",
            ShutdownSignal::Terminate => "SIGTERM",
        })
    }
}

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM. If the handlers cannot be installed
/// it returns at once (as `Interrupt`), so a program never runs on unstoppable.
pub async fn shutdown_signal() -> ShutdownSignal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => ShutdownSignal::Interrupt,
                _ = terminate.recv() => ShutdownSignal::Terminate,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    ShutdownSignal::Interrupt
}
