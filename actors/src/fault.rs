//! Fault points: named places in the write paths where a test can make the process abort,
//! so a crash lands exactly there and not only where a test happens to kill it.
//!
//! A test starts the process with `EDDY_FAULT_POINT=<name>[:<hit>]`: the `<hit>`-th time
//! (1 by default) any thread reaches the point called `<name>`, the process prints
//! `fault point <name> reached (hit <n>): aborting` on stderr and calls
//! [`std::process::abort`] — it dies by SIGABRT with no destructor, flush or shutdown step
//! run, as a crash does. Every other point, and every other hit, does nothing.
//!
//! The points (each documented where it sits, and in `docs/runtime-semantics.md`, 5e):
//! [`APPEND_BEFORE_ACK`], [`COMPACTION_BEFORE_COMMIT`], [`COMPACTION_AFTER_COMMIT`],
//! [`STREAMS_AFTER_CHANGELOG`], [`STREAMS_BEFORE_CHECKPOINT`].
//!
//! Fault points exist only in builds with `debug_assertions` (the test profile, which is
//! what the integration tests run) or the `fault-injection` feature. Without either,
//! [`point`] is an empty inline function: the variable is never read and no branch is
//! left in the write paths of a release build.

/// In `PartitionActor::append`: the batch is written (and fsynced if the flush policy asks
/// for it) but the produce is not acknowledged yet.
pub const APPEND_BEFORE_ACK: &str = "partition.append.before_ack";
/// In `FjallLog::apply_compaction`: the compaction's write batch is built, not committed.
pub const COMPACTION_BEFORE_COMMIT: &str = "compaction.apply.before_commit";
/// In `FjallLog::apply_compaction`: the write batch is committed; the partition's
/// in-memory state (cleaned-up-to offset, byte counts) is not updated yet.
pub const COMPACTION_AFTER_COMMIT: &str = "compaction.apply.after_commit";
/// In a stream task's commit: outputs and changelog records are acknowledged, the input
/// offsets are not committed yet.
pub const STREAMS_AFTER_CHANGELOG: &str = "streams.commit.after_changelog";
/// In a stream task's commit: the input offsets are committed, the local stores are not
/// checkpointed yet.
pub const STREAMS_BEFORE_CHECKPOINT: &str = "streams.commit.before_checkpoint";

/// The environment variable that arms one fault point.
pub const FAULT_POINT_VAR: &str = "EDDY_FAULT_POINT";

/// Passes the fault point `name`: aborts the process if this is the armed point's chosen
/// hit (see the module doc); does nothing otherwise, and nothing at all in release builds.
#[inline(always)]
pub fn point(name: &'static str) {
    #[cfg(any(debug_assertions, feature = "fault-injection"))]
    armed::reach(name);
    #[cfg(not(any(debug_assertions, feature = "fault-injection")))]
    let _ = name;
}

#[cfg(any(debug_assertions, feature = "fault-injection"))]
mod armed {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// The armed point and the hit that aborts, read from the environment once.
    struct Armed {
        name: String,
        hit: u64,
        /// Hits so far (every thread counts into it).
        seen: AtomicU64,
    }

    fn armed() -> Option<&'static Armed> {
        static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
        ARMED
            .get_or_init(|| parse(&std::env::var(super::FAULT_POINT_VAR).ok()?))
            .as_ref()
    }

    /// `<name>` or `<name>:<hit>` (hit ≥ 1). A malformed value is a bug in the test that
    /// set it: it panics rather than run a test that cannot crash where it says.
    fn parse(value: &str) -> Option<Armed> {
        let (name, hit) = match value.rsplit_once(':') {
            Some((name, hit)) => (name, hit.parse::<u64>().ok().filter(|h| *h >= 1)),
            None => (value, Some(1)),
        };
        let hit = hit.unwrap_or_else(|| {
            panic!(
                "{}={value:?}: the hit must be a number ≥ 1",
                super::FAULT_POINT_VAR
            )
        });
        (!name.is_empty()).then(|| Armed {
            name: name.to_string(),
            hit,
            seen: AtomicU64::new(0),
        })
    }

    pub(super) fn reach(name: &'static str) {
        let Some(armed) = armed() else { return };
        if armed.name != name {
            return;
        }
        let n = armed.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n == armed.hit {
            // stderr is unbuffered: the line is out before the abort.
            eprintln!("fault point {name} reached (hit {n}): aborting");
            std::process::abort();
        }
    }

    #[cfg(test)]
    mod tests {
        use super::parse;

        #[test]
        fn a_point_is_armed_by_name_and_hit() {
            let armed = parse("partition.append.before_ack:3").expect("armed");
            assert_eq!(
                (armed.name.as_str(), armed.hit),
                ("partition.append.before_ack", 3)
            );
            assert_eq!(
                parse("compaction.apply.after_commit").map(|a| a.hit),
                Some(1)
            );
            assert!(parse("").is_none());
        }

        #[test]
        #[should_panic(expected = "the hit must be a number")]
        fn a_hit_of_zero_is_refused() {
            parse("partition.append.before_ack:0");
        }
    }
}
