//! Kafka's window rules, each written once: which window parameters are valid, when a
//! window closes (takes no more records: a record for it is "too late", dropped and
//! counted) and when it expires (leaves its store, or its final result is emitted).
//! Every operator and DSL builder calls these pure functions instead of repeating the
//! arithmetic.
//!
//! Durations (size, advance, grace, gap, before, after, time difference) are never
//! negative: they come from `std::time::Duration`. All arithmetic saturates, so no
//! timestamp near `i64::MIN` or `i64::MAX` panics; with non-negative durations a
//! saturating `t + d < s` is the exact comparison of the real numbers.
//!
//! Stream time is the largest record timestamp a task has seen, `NO_STREAM_TIME` before
//! the first record: then no window has closed and nothing expires.
//!
//! Kafka's "window close time" is `stream time - delay`, where the delay is the grace
//! period for time and sliding windows and inactivity gap + grace for sessions. What is
//! compared with it depends on whether the window's end is included in the window:
//! tumbling and hopping windows `[start, end)` are closed once `end <= close time`;
//! sliding windows and sessions `[start, end]` once `end < close time`.

/// Stream time before a task has seen its first record (see `Task`).
pub(crate) const NO_STREAM_TIME: i64 = i64::MIN;

/// The most windows one record may fall into (`size / advance`); a bound so a careless
/// hopping window cannot make one record cost millions of store writes.
pub(crate) const WINDOWS_PER_RECORD_MAX: i64 = 10_000;

/// The largest time difference of sliding windows: about 10 years, far from overflow
/// (window bounds go up to three differences plus grace away from a record's time).
pub(crate) const SLIDING_DIFFERENCE_MS_MAX: i64 = 10 * 366 * 24 * 3_600_000;

// ---------------------------------------------------------------------------------------
// Validation of window parameters.
// ---------------------------------------------------------------------------------------

/// Tumbling and hopping windows, as Kafka's `TimeWindows.ofSizeAndGrace` and
/// `TimeWindows.advanceBy` check them: the size is positive and the advance is positive
/// and at most the size. Eddy also bounds the windows per record
/// (`WINDOWS_PER_RECORD_MAX`).
pub(crate) fn check_time_windows(size_ms: i64, advance_ms: i64) -> Result<(), String> {
    if size_ms <= 0 {
        return Err("the window size must be at least 1 ms".into());
    }
    if advance_ms <= 0 || advance_ms > size_ms {
        return Err(format!(
            "the advance must be between 1 ms and the window size ({size_ms} ms), not \
             {advance_ms} ms"
        ));
    }
    if size_ms / advance_ms > WINDOWS_PER_RECORD_MAX {
        return Err(format!(
            "size / advance must be at most {WINDOWS_PER_RECORD_MAX} windows per record"
        ));
    }
    Ok(())
}

/// Sliding windows (Kafka's `SlidingWindows.ofTimeDifferenceAndGrace`, which refuses a
/// negative difference; 0 is allowed). Eddy also bounds the difference
/// (`SLIDING_DIFFERENCE_MS_MAX`).
pub(crate) fn check_sliding_windows(difference_ms: i64) -> Result<(), String> {
    if difference_ms < 0 {
        return Err("the time difference must not be negative".into());
    }
    if difference_ms > SLIDING_DIFFERENCE_MS_MAX {
        return Err(format!(
            "the time difference must be at most {SLIDING_DIFFERENCE_MS_MAX} ms"
        ));
    }
    Ok(())
}

/// Session windows (Kafka's `SessionWindows.ofInactivityGapAndGrace`: "Gap time cannot
/// be zero or negative").
pub(crate) fn check_session_windows(gap_ms: i64) -> Result<(), String> {
    if gap_ms <= 0 {
        return Err("the inactivity gap must be at least 1 ms".into());
    }
    Ok(())
}

/// Join windows (Kafka's `JoinWindows`: "Window interval (ie, beforeMs+afterMs) must not
/// be negative").
pub(crate) fn check_join_windows(before_ms: i64, after_ms: i64) -> Result<(), String> {
    if before_ms.saturating_add(after_ms) < 0 {
        return Err("before + after must not be negative".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Closing and expiry.
// ---------------------------------------------------------------------------------------

/// Kafka's `windowCloseTime = observedStreamTime - gracePeriodMs` (as
/// `KStreamWindowAggregate` and `KStreamSlidingWindowAggregate` compute it; sessions
/// pass gap + grace as the delay, see `session_close_delay_ms`).
pub(crate) fn close_time(stream_time: i64, delay_ms: i64) -> i64 {
    stream_time.saturating_sub(delay_ms)
}

/// Whether a tumbling or hopping window `[start, end_ms)` has closed: Kafka's
/// `KStreamWindowAggregate` updates a window only `if (windowEnd > windowCloseTime)`
/// and otherwise logs "Skipping record for expired window". A record exactly at the
/// close time is too late.
pub(crate) fn time_window_closed(end_ms: i64, stream_time: i64, grace_ms: i64) -> bool {
    end_ms <= close_time(stream_time, grace_ms)
}

/// The latest window start of tumbling or hopping windows that has closed, if any
/// window has: a window is closed once `start + size + grace <= stream time` (see
/// `time_window_closed`), so its window store may drop every window starting at or
/// before this.
pub(crate) fn time_windows_closed_through(
    stream_time: i64,
    size_ms: i64,
    grace_ms: i64,
) -> Option<i64> {
    (stream_time != NO_STREAM_TIME)
        .then(|| close_time(stream_time, grace_ms).saturating_sub(size_ms))
}

/// Whether a sliding window `[start, end_ms]` (both ends included) has closed: Kafka's
/// `KStreamSlidingWindowAggregate.updateWindowAndForward` updates a window only
/// `if (windowEnd >= windowCloseTime)`.
pub(crate) fn sliding_window_closed(end_ms: i64, stream_time: i64, grace_ms: i64) -> bool {
    end_ms < close_time(stream_time, grace_ms)
}

/// Whether a record at `timestamp` is too late for sliding windows of `difference_ms`
/// as a whole, and is dropped before any window is looked at: Kafka's
/// `KStreamSlidingWindowAggregate.process` drops it when
/// `timestamp + timeDifferenceMs < windowCloseTime`, i.e. when a window of the record's
/// time difference starting at the record has closed.
pub(crate) fn sliding_record_too_late(
    timestamp: i64,
    difference_ms: i64,
    stream_time: i64,
    grace_ms: i64,
) -> bool {
    sliding_window_closed(
        timestamp.saturating_add(difference_ms),
        stream_time,
        grace_ms,
    )
}

/// The latest window start of sliding windows no record still accepted can read, if
/// any: an accepted record is at least `stream time - grace - d` (see
/// `sliding_record_too_late`) and reads the windows starting from its time minus
/// `2 × d`, so windows starting at or before `stream time - grace - 3 × d - 1` are never
/// read again. Kafka keeps them for the store's retention instead; removing them earlier
/// never changes a result.
pub(crate) fn sliding_windows_unread_through(
    stream_time: i64,
    difference_ms: i64,
    grace_ms: i64,
) -> Option<i64> {
    (stream_time != NO_STREAM_TIME).then(|| {
        close_time(stream_time, grace_ms)
            .saturating_sub(difference_ms.saturating_mul(3))
            .saturating_sub(1)
    })
}

/// How long after its end a session can still change: a record up to the inactivity gap
/// later merges into it, and that record is accepted for the grace period. Kafka uses
/// `inactivityGap + gracePeriodMs` as the session's close delay
/// (`KStreamSessionWindowAggregate`, since KAFKA-12718), as the session store's
/// retention (`SessionWindowedKStreamImpl`) and as the suppression delay of a session
/// table (`GraphGraceSearchUtil`).
pub(crate) fn session_close_delay_ms(gap_ms: i64, grace_ms: i64) -> i64 {
    gap_ms.saturating_add(grace_ms)
}

/// The oldest session end still open: sessions ending before it are closed (Kafka's
/// `KStreamSessionWindowAggregate`: `windowCloseTime = observedStreamTime - grace -
/// inactivityGap`), take no records and are gone from the session store.
pub(crate) fn sessions_open_from(stream_time: i64, gap_ms: i64, grace_ms: i64) -> i64 {
    close_time(stream_time, session_close_delay_ms(gap_ms, grace_ms))
}

/// Whether a session `[start, end_ms]` (both ends included) has closed: Kafka's
/// `KStreamSessionWindowAggregate` drops a record whose merged session has
/// `mergedWindow.end() < windowCloseTime` ("Skipping record for expired window").
pub(crate) fn session_closed(end_ms: i64, stream_time: i64, gap_ms: i64, grace_ms: i64) -> bool {
    end_ms < sessions_open_from(stream_time, gap_ms, grace_ms)
}

/// The latest window end whose final result a suppressed windowed table emits, if any:
/// Kafka's `KTableSuppressProcessorSupplier` evicts while
/// `buffer.minTimestamp() <= streamTime - suppressDuration`, the buffer time being the
/// window end and the suppression duration the table's close delay (grace, or gap +
/// grace for sessions). For time windows that is exactly `time_window_closed`.
pub(crate) fn final_through(stream_time: i64, delay_ms: i64) -> Option<i64> {
    (stream_time != NO_STREAM_TIME).then(|| close_time(stream_time, delay_ms))
}

/// How long a stream–stream join keeps a record after its time: another stream's record
/// up to `after` later is accepted until `before + grace` past its own time (from that
/// stream, `before` is the `after`). Kafka's join window stores have this retention,
/// `windows.size() + windows.gracePeriodMs()` (`KStreamImplJoin`).
pub(crate) fn join_retention_ms(before_ms: i64, after_ms: i64, grace_ms: i64) -> i64 {
    before_ms.saturating_add(after_ms).saturating_add(grace_ms)
}

/// Whether a record at `timestamp` is too late to join: every record of the other
/// stream it could join (up to `after` later) was too late itself, once
/// `timestamp + after + grace < stream time`.
pub(crate) fn join_record_too_late(
    timestamp: i64,
    after_ms: i64,
    grace_ms: i64,
    stream_time: i64,
) -> bool {
    timestamp.saturating_add(after_ms).saturating_add(grace_ms) < stream_time
}

/// The oldest record time a join still keeps, if any stream time: records before it
/// leave their join buffer, and unmatched records of a left or outer join get their
/// result with no other side (see `join_retention_ms`).
pub(crate) fn join_kept_from(stream_time: i64, retention_ms: i64) -> Option<i64> {
    (stream_time != NO_STREAM_TIME).then(|| close_time(stream_time, retention_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: i64 = i64::MAX;
    const MIN: i64 = i64::MIN;

    #[test]
    fn time_window_parameters() {
        assert!(check_time_windows(1, 1).is_ok());
        assert!(check_time_windows(60_000, 20_000).is_ok());
        assert!(check_time_windows(0, 0).is_err());
        assert!(check_time_windows(-1, 1).is_err());
        assert!(check_time_windows(10, 0).is_err());
        assert!(check_time_windows(10, 11).is_err());
        assert!(check_time_windows(WINDOWS_PER_RECORD_MAX, 1).is_ok());
        assert!(check_time_windows(WINDOWS_PER_RECORD_MAX + 1, 1).is_err());
        assert!(check_time_windows(MAX, MAX).is_ok());
    }

    #[test]
    fn sliding_session_and_join_parameters() {
        assert!(check_sliding_windows(0).is_ok());
        assert!(check_sliding_windows(SLIDING_DIFFERENCE_MS_MAX).is_ok());
        assert!(check_sliding_windows(SLIDING_DIFFERENCE_MS_MAX + 1).is_err());
        assert!(check_sliding_windows(-1).is_err());
        assert!(check_session_windows(1).is_ok());
        assert!(check_session_windows(0).is_err());
        assert!(check_join_windows(0, 0).is_ok());
        assert!(check_join_windows(MAX, MAX).is_ok());
        assert!(check_join_windows(-5, 4).is_err());
    }

    #[test]
    fn a_time_window_closes_at_end_plus_grace() {
        // Grace 0: the window [0, 10) closes when stream time reaches its end.
        assert!(!time_window_closed(10, 9, 0));
        assert!(time_window_closed(10, 10, 0));
        // A record exactly at the close time (end + grace) is too late.
        assert!(!time_window_closed(10, 14, 5));
        assert!(time_window_closed(10, 15, 5));
        // No stream time yet: nothing is closed.
        assert!(!time_window_closed(
            MIN.saturating_add(1),
            NO_STREAM_TIME,
            0
        ));
    }

    #[test]
    fn time_windows_are_removed_through_the_last_closed_start() {
        assert_eq!(time_windows_closed_through(NO_STREAM_TIME, 10, 0), None);
        // Size 10, grace 5, stream time 25: [10, 20) closed (20 + 5 <= 25), [11, 21) not.
        assert_eq!(time_windows_closed_through(25, 10, 5), Some(10));
        for start in [9, 10, 11] {
            let closed = time_window_closed(start + 10, 25, 5);
            assert_eq!(closed, start <= 10, "window starting at {start}");
        }
        assert_eq!(time_windows_closed_through(MIN + 1, MAX, MAX), Some(MIN));
        assert_eq!(time_windows_closed_through(MAX, 0, 0), Some(MAX));
    }

    #[test]
    fn sliding_windows_close_after_their_included_end() {
        // [0, 10] with grace 0 still takes records at stream time 10, not at 11.
        assert!(!sliding_window_closed(10, 10, 0));
        assert!(sliding_window_closed(10, 11, 0));
        assert!(!sliding_window_closed(10, 15, 5));
        assert!(sliding_window_closed(10, 16, 5));
        // The record check is the window of the record's difference starting at it.
        assert!(!sliding_record_too_late(5, 10, 15, 0));
        assert!(sliding_record_too_late(4, 10, 15, 0));
        assert!(!sliding_record_too_late(MAX, MAX, MAX, 0));
        assert!(sliding_record_too_late(MIN, 0, MAX, MAX));
        assert_eq!(sliding_windows_unread_through(NO_STREAM_TIME, 10, 0), None);
        assert_eq!(sliding_windows_unread_through(100, 10, 5), Some(64));
        assert_eq!(sliding_windows_unread_through(MIN + 1, MAX, MAX), Some(MIN));
    }

    #[test]
    fn sessions_close_after_end_plus_gap_plus_grace() {
        assert_eq!(session_close_delay_ms(10, 5), 15);
        assert_eq!(session_close_delay_ms(MAX, MAX), MAX);
        assert_eq!(sessions_open_from(30, 10, 5), 15);
        // A session ending exactly at the close time still takes records.
        assert!(!session_closed(15, 30, 10, 5));
        assert!(session_closed(14, 30, 10, 5));
        // Grace 0: open until stream time passes end + gap.
        assert!(!session_closed(0, 10, 10, 0));
        assert!(session_closed(0, 11, 10, 0));
        assert!(!session_closed(MIN, NO_STREAM_TIME, 1, 0));
        assert!(!session_closed(MAX, MAX, 0, 0));
    }

    #[test]
    fn suppression_emits_windows_ending_at_or_before_the_close_time() {
        assert_eq!(final_through(NO_STREAM_TIME, 0), None);
        assert_eq!(final_through(20, 5), Some(15));
        assert_eq!(final_through(MIN + 1, MAX), Some(MIN));
        // For time windows, final means closed.
        let through = final_through(20, 5).unwrap();
        for end in [14, 15, 16] {
            assert_eq!(end <= through, time_window_closed(end, 20, 5));
        }
    }

    #[test]
    fn join_records_expire_after_before_plus_after_plus_grace() {
        assert_eq!(join_retention_ms(3, 4, 5), 12);
        assert_eq!(join_retention_ms(MAX, 1, 1), MAX);
        // A record at 10 with after 4 and grace 5 still joins at stream time 19, not 20.
        assert!(!join_record_too_late(10, 4, 5, 19));
        assert!(join_record_too_late(10, 4, 5, 20));
        assert!(!join_record_too_late(MAX, MAX, MAX, MAX));
        assert!(join_record_too_late(MIN, 0, 0, MIN + 1));
        assert_eq!(join_kept_from(NO_STREAM_TIME, 12), None);
        assert_eq!(join_kept_from(30, 12), Some(18));
        assert_eq!(join_kept_from(MIN + 1, MAX), Some(MIN));
    }
}
