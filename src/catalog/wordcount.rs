//! Word count, the canonical Kafka Streams demo: lines are split into lower-case words,
//! counted (store `counts`), and the running count per word is written out (key: the word;
//! value: the count as an 8-byte big-endian integer, like Kafka's LongSerde).

use eddy_streams::{BuildError, Configs};
use eddy_topologies::{StreamsBuilder, Topology, TopologyError};

/// The default input topic (config `input.topic`).
pub const INPUT: &str = "streams-plaintext-input";
/// The default output topic (config `output.topic`).
pub const OUTPUT: &str = "streams-wordcount-output";
/// The queryable store of the counts.
pub const STORE: &str = "counts";
/// The catalog's one-line description.
pub const DESCRIPTION: &str = "word count: the running count of each word of the lines \
    (value: 8-byte big-endian count; store `counts`)";

/// Word count from `input` into `output`.
pub fn topology(input: &str, output: &str) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .flat_map_values(|line| {
            line.to_lowercase()
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .group_by(|_, word| word.clone())
        .count()
        .named(STORE)
        .to_stream()
        .to(output);
    builder.build()
}

/// The catalog's builder: [`topology`] with the topics of `input.topic` and `output.topic`.
pub fn from_configs(configs: &Configs) -> Result<Topology, BuildError> {
    let input = super::param(configs, "input.topic", INPUT);
    let output = super::param(configs, "output.topic", OUTPUT);
    Ok(topology(input, output)?)
}
