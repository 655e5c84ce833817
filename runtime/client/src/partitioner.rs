//! Choosing a partition for a record, the way Kafka's Java client does.
//!
//! Keyed records go to `to_positive(murmur2(key)) % partitions`, so a key lands on the same
//! partition whichever Kafka client wrote it. Keyless records stick to one partition until
//! the batch being filled there is sent, then move on to the next partition (round robin
//! of batches, Kafka's "sticky" partitioner without its load weighting).

use std::collections::HashMap;

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`), bit for bit.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Kafka folds the length in as a Java int; keys beyond 2 GiB cannot occur in a record.
    let length = data.len() as u32;
    let mut h = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for `key` among `partitions` (> 0).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition");
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// Where keyless records go: one partition per topic until its batch is sent.
#[derive(Debug, Default)]
pub(crate) struct StickyPartitioner {
    current: HashMap<String, i32>,
    seed: u32,
}

impl StickyPartitioner {
    /// A partitioner whose first partition per topic derives from `seed`, so that many
    /// producers started at once do not all begin on partition 0.
    pub(crate) fn new(seed: u32) -> Self {
        Self {
            current: HashMap::new(),
            seed,
        }
    }

    /// The partition for the next keyless record of `topic`.
    pub(crate) fn partition(&mut self, topic: &str, partitions: i32) -> i32 {
        assert!(partitions > 0, "a topic has at least one partition");
        let seed = self.seed;
        let current = self
            .current
            .entry(topic.to_owned())
            .or_insert_with(|| (murmur2(topic.as_bytes()) as u32 ^ seed) as i32 & 0x7fff_ffff);
        *current % partitions
    }

    /// The batch on `partition` of `topic` was sent: keyless records move on if they were
    /// sticking to it.
    pub(crate) fn batch_sent(&mut self, topic: &str, partition: i32, partitions: i32) {
        if partitions <= 0 {
            return;
        }
        if let Some(current) = self.current.get_mut(topic) {
            if *current % partitions == partition {
                *current = (*current % partitions + 1) % partitions;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's `UtilsTest.testMurmur2` vectors.
    const JAVA_VECTORS: [(&[u8], i32); 6] = [
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];

    #[test]
    fn murmur2_matches_the_java_client() {
        for (input, expected) in JAVA_VECTORS {
            assert_eq!(
                murmur2(input),
                expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn keys_map_like_the_java_client() {
        // to_positive(-790332482) = 1357151166.
        assert_eq!(partition_for_key(b"foobar", 10), 1_357_151_166 % 10);
        assert_eq!(partition_for_key(b"foobar", 50), 16);
        assert_eq!(partition_for_key(b"foobar", 1), 0);
    }

    #[test]
    fn keyless_records_stick_until_the_batch_is_sent() {
        let mut sticky = StickyPartitioner::new(7);
        let first = sticky.partition("t", 3);
        assert_eq!(sticky.partition("t", 3), first);
        sticky.batch_sent("t", (first + 1) % 3, 3);
        assert_eq!(sticky.partition("t", 3), first);
        sticky.batch_sent("t", first, 3);
        let second = sticky.partition("t", 3);
        assert_eq!(second, (first + 1) % 3);
        sticky.batch_sent("t", second, 3);
        sticky.batch_sent("t", (second + 1) % 3, 3);
        assert_eq!(sticky.partition("t", 3), first);
    }
}
