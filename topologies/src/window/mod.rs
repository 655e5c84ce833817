//! Windows: the time windows records are grouped into, windowed keys, and the windows
//! of stream–stream joins.

pub(crate) mod rules;

use std::fmt;
use std::time::Duration;

/// A duration in milliseconds, saturating at `i64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A time window in event time: `[start_ms, end_ms)` for tumbling and hopping windows;
/// both bounds included for sliding windows and sessions (as in Kafka).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// Inclusive start, in milliseconds since the epoch.
    pub start_ms: i64,
    /// Exclusive end, in milliseconds since the epoch.
    pub end_ms: i64,
}

impl Window {
    /// The window `[start_ms, end_ms)`.
    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        Window { start_ms, end_ms }
    }
}

/// A key together with the window it was aggregated in: the key type of windowed tables.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

impl<K: fmt::Display> fmt::Display for Windowed<K> {
    /// Kafka's form: `[key@start/end]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}@{}/{}]",
            self.key, self.window.start_ms, self.window.end_ms
        )
    }
}

/// Fixed-size time windows: tumbling (the default, advance = size) or hopping
/// (`advance_by` smaller than the size), each accepting late records for a grace period
/// after it ends.
///
/// ```
/// use std::time::Duration;
/// use eddy_topologies::TimeWindows;
/// let tumbling = TimeWindows::of(Duration::from_secs(60)).grace(Duration::from_secs(5));
/// let hopping = TimeWindows::of(Duration::from_secs(60)).advance_by(Duration::from_secs(20));
/// # let _ = (tumbling, hopping);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size_ms: i64,
    pub(crate) advance_ms: i64,
    pub(crate) grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size`, with no grace period.
    pub fn of(size: Duration) -> Self {
        let size_ms = duration_ms(size);
        TimeWindows {
            size_ms,
            advance_ms: size_ms,
            grace_ms: 0,
        }
    }

    /// Hopping windows: a new window starts every `advance` (which must not exceed the size).
    pub fn advance_by(self, advance: Duration) -> Self {
        TimeWindows {
            advance_ms: duration_ms(advance),
            ..self
        }
    }

    /// How long after its end a window still accepts records. Records later than that
    /// are dropped and counted.
    pub fn grace(self, grace: Duration) -> Self {
        TimeWindows {
            grace_ms: duration_ms(grace),
            ..self
        }
    }

    /// See `rules::check_time_windows`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        rules::check_time_windows(self.size_ms, self.advance_ms)
    }

    /// The windows a record with this timestamp falls into, oldest first (as Kafka's
    /// `TimeWindows.windowsFor` computes them: windows start at multiples of the advance,
    /// from 0). Needs valid windows (`validate`); saturates near `i64::MAX`.
    pub(crate) fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        let first = timestamp
            .saturating_sub(self.size_ms)
            .saturating_add(self.advance_ms)
            .max(0);
        let mut start = first / self.advance_ms * self.advance_ms;
        let mut windows = Vec::new();
        while start <= timestamp {
            windows.push(Window::new(start, start.saturating_add(self.size_ms)));
            match start.checked_add(self.advance_ms) {
                Some(next) => start = next,
                None => break,
            }
        }
        windows
    }
}

/// Sliding windows (Kafka's `SlidingWindows`): windows of a fixed time difference that
/// follow the records instead of the clock. Each record `t` has its window `[t - d, t]`,
/// and a window starts right after each record (`[t + 1, t + 1 + d]`) once a later
/// record falls into it, so every distinct set of records at most `d` apart gets exactly
/// one window. Both bounds are included: a `Window` of a sliding aggregation has
/// `end_ms = start_ms + d` and contains the records at its end.
///
/// Records later than the grace period are dropped and counted, as with other windows:
/// a window `[s, s + d]` takes updates while `s + d >= stream time - grace`.
///
/// ```
/// use std::time::Duration;
/// use eddy_topologies::SlidingWindows;
/// let last_ten_seconds = SlidingWindows::of_time_difference_and_grace(
///     Duration::from_secs(10),
///     Duration::from_secs(2),
/// );
/// # let _ = last_ten_seconds;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) difference_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SlidingWindows {
    /// Windows spanning `difference` (both ends included), accepting records up to
    /// `grace` after a window's end.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        SlidingWindows {
            difference_ms: duration_ms(difference),
            grace_ms: duration_ms(grace),
        }
    }

    /// Windows spanning `difference`, with no grace period.
    pub fn of_time_difference_without_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// See `rules::check_sliding_windows`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        rules::check_sliding_windows(self.difference_ms)
    }
}

/// Session windows: a key's records belong to one session while they are at most the
/// inactivity gap apart; a record that bridges two sessions merges them. A session accepts
/// late records until stream time passes its end + gap + grace, and is kept that long
/// (as in Kafka Streams since KAFKA-12718).
///
/// A session's `Window` runs from its first to its last record's timestamp, both
/// included (as in Kafka: `end_ms` is the last record's time, not one past it).
///
/// ```
/// use std::time::Duration;
/// use eddy_topologies::SessionWindows;
/// let sessions = SessionWindows::with_inactivity_gap(Duration::from_secs(300)).grace(Duration::from_secs(30));
/// # let _ = sessions;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SessionWindows {
    /// Sessions that end after `gap` without records, with no grace period.
    pub fn with_inactivity_gap(gap: Duration) -> Self {
        SessionWindows {
            gap_ms: duration_ms(gap),
            grace_ms: 0,
        }
    }

    /// How long after its end + gap a session still accepts records.
    pub fn grace(self, grace: Duration) -> Self {
        SessionWindows {
            grace_ms: duration_ms(grace),
            ..self
        }
    }

    /// See `rules::check_session_windows`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        rules::check_session_windows(self.gap_ms)
    }

    /// How long after its end a session can still change (see
    /// `rules::session_close_delay_ms`).
    pub(crate) fn close_delay_ms(&self) -> i64 {
        rules::session_close_delay_ms(self.gap_ms, self.grace_ms)
    }
}

/// The windows of a stream–stream join: two records join when their timestamps are at
/// most `before` / `after` apart. Records are kept for the grace period after that.
///
/// ```
/// use std::time::Duration;
/// use eddy_topologies::JoinWindows;
/// let within_five_minutes = JoinWindows::of(Duration::from_secs(300));
/// # let _ = within_five_minutes;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    pub(crate) before_ms: i64,
    pub(crate) after_ms: i64,
    pub(crate) grace_ms: i64,
}

impl JoinWindows {
    /// Records join when their timestamps differ by at most `difference`, either way.
    pub fn of(difference: Duration) -> Self {
        let ms = duration_ms(difference);
        JoinWindows {
            before_ms: ms,
            after_ms: ms,
            grace_ms: 0,
        }
    }

    /// How much earlier than this stream's record the other stream's record may be.
    pub fn before(self, before: Duration) -> Self {
        JoinWindows {
            before_ms: duration_ms(before),
            ..self
        }
    }

    /// How much later than this stream's record the other stream's record may be.
    pub fn after(self, after: Duration) -> Self {
        JoinWindows {
            after_ms: duration_ms(after),
            ..self
        }
    }

    /// How long out-of-order records are still accepted.
    pub fn grace(self, grace: Duration) -> Self {
        JoinWindows {
            grace_ms: duration_ms(grace),
            ..self
        }
    }

    /// See `rules::check_join_windows`.
    pub(crate) fn validate(&self) -> Result<(), String> {
        rules::check_join_windows(self.before_ms, self.after_ms)
    }

    /// How long after its time a record can still find a partner; join buffers keep
    /// records that long (see `rules::join_retention_ms`).
    pub(crate) fn retention_ms(&self) -> i64 {
        rules::join_retention_ms(self.before_ms, self.after_ms, self.grace_ms)
    }

    /// The same windows seen from the other stream.
    pub(crate) fn reversed(&self) -> Self {
        JoinWindows {
            before_ms: self.after_ms,
            after_ms: self.before_ms,
            grace_ms: self.grace_ms,
        }
    }
}

/// When a suppressed windowed table emits: `Suppressed::until_window_closes()` holds
/// every update back and emits only the final result of each window, once the window's
/// end plus grace has passed in stream time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    _until_window_closes: (),
}

impl Suppressed {
    /// Emit only the final result of each window. The buffer is a state store with a
    /// changelog, unbounded in record count: one entry per open window and key.
    pub fn until_window_closes() -> Self {
        Suppressed {
            _until_window_closes: (),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tumbling_and_hopping_windows() {
        let tumbling = TimeWindows::of(Duration::from_secs(60));
        assert_eq!(
            tumbling.windows_for(61_000),
            vec![Window::new(60_000, 120_000)]
        );
        let hopping = tumbling.advance_by(Duration::from_secs(20));
        let starts: Vec<i64> = hopping
            .windows_for(61_000)
            .iter()
            .map(|w| w.start_ms)
            .collect();
        assert_eq!(starts, vec![20_000, 40_000, 60_000]);
        assert_eq!(hopping.windows_for(5).len(), 1);
    }

    #[test]
    fn windows_near_the_ends_of_time_do_not_overflow() {
        let hopping =
            TimeWindows::of(Duration::from_millis(10)).advance_by(Duration::from_millis(5));
        let last = hopping.windows_for(i64::MAX);
        assert_eq!(last.len(), 2);
        let starts: Vec<i64> = last.iter().map(|w| w.start_ms).collect();
        assert_eq!(starts, vec![i64::MAX - 7, i64::MAX - 2]);
        assert!(last.iter().all(|w| w.end_ms == i64::MAX));
        assert!(hopping.windows_for(i64::MIN).is_empty());
        assert!(hopping.windows_for(-1).is_empty());
    }

    #[test]
    fn invalid_windows_are_refused() {
        assert!(TimeWindows::of(Duration::ZERO).validate().is_err());
        let too_big = TimeWindows::of(Duration::from_secs(1)).advance_by(Duration::from_secs(2));
        assert!(too_big.validate().is_err());
        let too_many =
            TimeWindows::of(Duration::from_secs(100)).advance_by(Duration::from_millis(1));
        assert!(too_many.validate().is_err());
        let sliding = SlidingWindows::of_time_difference_without_grace(Duration::MAX);
        assert!(sliding.validate().is_err());
        let sliding = SlidingWindows::of_time_difference_without_grace(Duration::ZERO);
        assert!(sliding.validate().is_ok());
    }
}
