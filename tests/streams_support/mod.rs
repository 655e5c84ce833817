//! What the word-count tests of the streams runtime share (`tests/streams_recovery.rs`,
//! `tests/streams_crash_points.rs`): deterministic input lines and the counts an
//! uninterrupted run over them produces.

use std::collections::BTreeMap;

/// Words a line draws from: `w00`..`w39`.
pub const VOCABULARY: u64 = 40;
/// Each line has 1..=this many words.
pub const WORDS_PER_LINE_MAX: u64 = 6;

/// `count` deterministic lines of 1..=`WORDS_PER_LINE_MAX` words from the vocabulary; the
/// same `seed` gives the same lines.
pub fn lines(seed: u64, count: usize) -> Vec<String> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..count)
        .map(|_| {
            let n = 1 + next() % WORDS_PER_LINE_MAX;
            (0..n)
                .map(|_| format!("w{:02}", next() % VOCABULARY))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The exact counts of an uninterrupted run over `lines`.
pub fn expected_counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in lines.iter().flat_map(|l| l.split_whitespace()) {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}
