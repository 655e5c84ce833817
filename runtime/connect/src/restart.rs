//! When a failed connector task is restarted: a pure decision over the failure, the task's
//! restart history and the clock, so it can be tested without actors or time passing.
//!
//! - An error a restart cannot fix (an invalid configuration, a bad record with
//!   `errors.tolerance=none`) fails the task at once, with that error.
//! - Otherwise the task is restarted after an exponential back-off — `backoff_initial_ms`,
//!   doubled per consecutive failure, capped at `backoff_max_ms` — unless it failed more
//!   than the restart intensity allows (Erlang's N restarts in T); then it is failed with
//!   its last error. A task that ran for `stable_after_ms` before failing starts its
//!   back-off from the beginning again.

use std::time::{Duration, Instant};

use eddy_actors::supervision::{Backoff, RestartDecision, RestartIntensity, RestartWindow};

/// How failed tasks are restarted.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// The pause before the first restart.
    pub backoff_initial_ms: u64,
    /// The longest pause.
    pub backoff_max_ms: u64,
    /// At most this many restarts in this window, then the task is failed.
    pub intensity: RestartIntensity,
    /// A task that ran this long before failing starts its back-off afresh.
    pub stable_after_ms: u64,
}

impl Default for RestartPolicy {
    /// 0.5 s doubling to 30 s, at most 10 restarts in 5 minutes: a cluster that is back
    /// within about two minutes is waited for; a task failing for longer is failed.
    fn default() -> Self {
        Self {
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            intensity: RestartIntensity {
                restarts_max: 10,
                window: Duration::from_secs(300),
            },
            stable_after_ms: 60_000,
        }
    }
}

/// A task's restart history: supervision data, kept across its incarnations.
#[derive(Debug, Clone, Default)]
pub struct RestartHistory {
    window: RestartWindow,
    /// Consecutive failures since the task last ran stably.
    consecutive: u32,
}

impl RestartHistory {
    /// Forgets the history (a restart asked for by a user starts afresh).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// What to do with a task that stopped with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Start a new incarnation after this pause.
    RestartAfter(Duration),
    /// Mark the task failed: the error is not retriable.
    FailNow,
    /// Mark the task failed: it failed too often inside the window.
    GiveUp,
}

impl RestartPolicy {
    /// Decides for a task that ran for `uptime` and failed at `now` with an error that is
    /// `retriable` or not. Updates `history`.
    pub fn decide(
        &self,
        history: &mut RestartHistory,
        retriable: bool,
        uptime: Duration,
        now: Instant,
    ) -> Verdict {
        if !retriable {
            return Verdict::FailNow;
        }
        if uptime >= Duration::from_millis(self.stable_after_ms) {
            history.consecutive = 0;
        }
        if history.window.on_abnormal_stop(now, self.intensity) == RestartDecision::GiveUp {
            return Verdict::GiveUp;
        }
        let backoff = Backoff::new(
            Duration::from_millis(self.backoff_initial_ms),
            Duration::from_millis(self.backoff_max_ms),
        );
        let pause = backoff.pause_after(history.consecutive.saturating_add(1));
        history.consecutive = history.consecutive.saturating_add(1);
        Verdict::RestartAfter(pause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            backoff_initial_ms: 100,
            backoff_max_ms: 1_000,
            intensity: RestartIntensity {
                restarts_max: 6,
                window: Duration::from_secs(60),
            },
            stable_after_ms: 10_000,
        }
    }

    #[test]
    fn backs_off_exponentially_up_to_the_cap_then_gives_up() {
        let p = policy();
        let mut h = RestartHistory::default();
        let t0 = Instant::now();
        let pauses: Vec<Verdict> = (0..7)
            .map(|i| p.decide(&mut h, true, Duration::ZERO, t0 + Duration::from_secs(i)))
            .collect();
        let ms = |m| Verdict::RestartAfter(Duration::from_millis(m));
        assert_eq!(
            pauses,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1_000),
                ms(1_000),
                Verdict::GiveUp
            ]
        );
    }

    #[test]
    fn non_retriable_errors_fail_at_once() {
        let mut h = RestartHistory::default();
        assert_eq!(
            policy().decide(&mut h, false, Duration::ZERO, Instant::now()),
            Verdict::FailNow
        );
    }

    #[test]
    fn a_stable_run_resets_the_backoff_and_old_restarts_expire() {
        let p = policy();
        let mut h = RestartHistory::default();
        let t0 = Instant::now();
        for i in 0..3 {
            p.decide(&mut h, true, Duration::ZERO, t0 + Duration::from_secs(i));
        }
        let later = t0 + Duration::from_secs(120);
        assert_eq!(
            p.decide(&mut h, true, Duration::from_secs(30), later),
            Verdict::RestartAfter(Duration::from_millis(100))
        );
        h.reset();
        assert_eq!(
            p.decide(&mut h, true, Duration::ZERO, later),
            Verdict::RestartAfter(Duration::from_millis(100))
        );
    }
}
