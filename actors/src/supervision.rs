//! Supervision bookkeeping shared by every supervisor: Erlang's restart policies, the
//! restart-intensity window (at most N restarts in T seconds, then the child is failed and
//! the failure escalates), the per-child report that `eddy supervisors` shows, and the panic
//! guard that turns a handler panic into an actor stop (actix does not catch panics, and an
//! uncaught panic would kill the actor and its address for good).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde::Serialize;

/// An exponential back-off: `initial`, then doubling on each failure up to `max`; `reset`
/// after a success. The one back-off every retry loop uses (connector restarts, stream
/// task retries, group joins, store loads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// A back-off starting at `initial` and never longer than `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
        }
    }

    /// The pause after the next failure: `initial · 2^(failures so far)`, at most `max`.
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.pause_after(self.failures + 1);
        self.failures = self.failures.saturating_add(1);
        pause
    }

    /// The pause after failure number `failure` (from 1), without changing the state.
    pub fn pause_after(&self, failure: u32) -> Duration {
        let doublings = failure.saturating_sub(1).min(32);
        self.initial
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// Failures since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to `initial` (after a success, or a run long enough to call stable).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Erlang's restart policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartPolicy {
    /// Always restarted.
    Permanent,
    /// Restarted only after an abnormal stop (a panic).
    Transient,
    /// Never restarted.
    Temporary,
}

/// The restart intensity of a supervisor: at most `restarts_max` within `window`.
#[derive(Debug, Clone, Copy)]
pub struct RestartIntensity {
    /// Restarts allowed inside the window.
    pub restarts_max: usize,
    /// The sliding window.
    pub window: Duration,
}

impl Default for RestartIntensity {
    fn default() -> Self {
        RestartIntensity {
            restarts_max: 5,
            window: Duration::from_secs(10),
        }
    }
}

/// The decision after a child stopped abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart it.
    Restart,
    /// Too many restarts in the window: mark it failed and escalate.
    GiveUp,
}

/// Restart times of one child inside the current window. Kept by the child's supervision
/// wrapper across restarts; it is supervision data, not actor state.
#[derive(Debug, Clone, Default)]
pub struct RestartWindow {
    times: VecDeque<Instant>,
}

impl RestartWindow {
    /// Records a restart at `now` and decides. Pure: the clock is an argument.
    pub fn on_abnormal_stop(
        &mut self,
        now: Instant,
        intensity: RestartIntensity,
    ) -> RestartDecision {
        while let Some(t) = self.times.front() {
            if now.duration_since(*t) > intensity.window {
                self.times.pop_front();
            } else {
                break;
            }
        }
        if self.times.len() >= intensity.restarts_max {
            RestartDecision::GiveUp
        } else {
            self.times.push_back(now);
            RestartDecision::Restart
        }
    }
}

/// Lifecycle state of a supervised child, as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChildState {
    /// Being started.
    Starting,
    /// Running normally.
    Running,
    /// Stopped abnormally, being restarted.
    Restarting,
    /// Gave up after too many restarts.
    Failed,
    /// Stopped on purpose.
    Stopped,
}

/// One node of the supervision tree as `GET /supervisors` serves it.
#[derive(Debug, Clone, Serialize)]
pub struct SupervisorReport {
    /// Child name, e.g. `partition orders-0`.
    pub name: String,
    /// Lifecycle state.
    pub state: ChildState,
    /// Restarts since the node started.
    pub restarts: u64,
    /// The last error (panic message) seen, if any.
    pub last_error: Option<String>,
    /// Messages waiting in its mailbox.
    pub mailbox_depth: usize,
    /// Time since it last (re)started, in milliseconds.
    pub uptime_ms: u64,
    /// Its own children.
    pub children: Vec<SupervisorReport>,
}

/// What a supervisor keeps per child.
#[derive(Debug, Clone)]
pub struct ChildRecord {
    /// Child name.
    pub name: String,
    /// Lifecycle state.
    pub state: ChildState,
    /// Restarts so far.
    pub restarts: u64,
    /// Last error seen.
    pub last_error: Option<String>,
    /// When it last (re)started.
    pub since: Instant,
}

impl ChildRecord {
    /// A record for a child being started now.
    pub fn starting(name: String) -> Self {
        ChildRecord {
            name,
            state: ChildState::Starting,
            restarts: 0,
            last_error: None,
            since: Instant::now(),
        }
    }

    /// Its report, with a mailbox depth read by the caller.
    pub fn report(
        &self,
        mailbox_depth: usize,
        children: Vec<SupervisorReport>,
    ) -> SupervisorReport {
        SupervisorReport {
            name: self.name.clone(),
            state: self.state,
            restarts: self.restarts,
            last_error: self.last_error.clone(),
            mailbox_depth,
            uptime_ms: self.since.elapsed().as_millis() as u64,
            children,
        }
    }
}

/// Runs `work`, turning a panic into `Err(message)` so the caller can stop the actor and let
/// its supervisor restart it from durable state.
pub fn guard<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|panic| panic_message(panic.as_ref()))
}

/// The message of a caught panic (its `&str` or `String` payload).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1_000));
        let pauses: Vec<Duration> = (0..6).map(|_| b.next_pause()).collect();
        assert_eq!(
            pauses,
            [ms(100), ms(200), ms(400), ms(800), ms(1_000), ms(1_000)]
        );
        assert_eq!(b.failures(), 6);
        b.reset();
        assert_eq!(b.next_pause(), ms(100));
        // Far past any shift: capped, never overflowing.
        assert_eq!(b.pause_after(u32::MAX), ms(1_000));
        // A cap below the start is raised to it.
        assert_eq!(Backoff::new(ms(50), ms(10)).pause_after(3), ms(50));
    }

    #[test]
    fn gives_up_after_intensity_and_forgets_old_restarts() {
        let intensity = RestartIntensity {
            restarts_max: 2,
            window: Duration::from_secs(10),
        };
        let mut w = RestartWindow::default();
        let t0 = Instant::now();
        assert_eq!(w.on_abnormal_stop(t0, intensity), RestartDecision::Restart);
        assert_eq!(
            w.on_abnormal_stop(t0 + Duration::from_secs(1), intensity),
            RestartDecision::Restart
        );
        assert_eq!(
            w.on_abnormal_stop(t0 + Duration::from_secs(2), intensity),
            RestartDecision::GiveUp
        );
        // Outside the window the old restarts no longer count.
        assert_eq!(
            w.on_abnormal_stop(t0 + Duration::from_secs(30), intensity),
            RestartDecision::Restart
        );
    }

    #[test]
    fn guard_catches_panics() {
        assert_eq!(guard(|| 3), Ok(3));
        let err = guard(|| -> u8 { panic!("boom {}", 1) }).expect_err("panicked");
        assert_eq!(err, "boom 1");
    }
}
