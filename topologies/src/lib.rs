//! eddy-topologies: Eddy's Kafka Streams–style topology DSL, and the pure, synchronous
//! execution core that runs it. No I/O, no network, no actors, no async.
//!
//! - Build: `StreamsBuilder` → `KStream` / `KTable` / `KGroupedStream` /
//!   `TimeWindowedKStream` (tumbling, hopping, sliding) / `SessionWindowedKStream`
//!   operators → `build()` checks the graph and gives a `Topology`, whose `describe()`
//!   prints like Kafka Streams'.
//! - Run: a `Task` runs one sub-topology for one input partition: raw records in, output
//!   records and changelog records out, state in `StateStore`s (in memory here; the
//!   runtime supplies fjall-backed ones).
//! - Test: `TopologyTestDriver` runs a whole topology in memory, with restarts.
//!
//! ```
//! use eddy_topologies::{StreamsBuilder, StreamsConfig, TopologyTestDriver};
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<String, String>("text-lines")
//!     .flat_map_values(|line| line.to_lowercase().split_whitespace().map(str::to_string).collect::<Vec<_>>())
//!     .group_by(|_, word| word.clone())
//!     .count()
//!     .named("word-counts")
//!     .to_stream()
//!     .to("word-counts-output");
//! let mut driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("wordcount"))?;
//! driver.pipe_input("text-lines", String::new(), "to be or not to be".to_string(), 0)?;
//! let counts = driver.read_key_values::<String, u64>("word-counts-output")?;
//! assert_eq!(counts.last(), Some(&("be".to_string(), 2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod describe;
mod driver;
mod dsl;
mod dynamic;
mod error;
mod graph;
pub mod nexmark;
mod ops;
mod record;
mod serdes;
mod store;
mod task;
mod topology;
mod window;

pub use config::StreamsConfig;
pub use describe::{NodeDescription, NodeKind, SubtopologyDescription, TopologyDescription};
pub use driver::TopologyTestDriver;
pub use dsl::{
    BranchedKStream, KGroupedStream, KStream, KTable, SessionWindowedKStream, StreamsBuilder,
    TimeWindowedKStream,
};
pub use dynamic::Data;
pub use error::{DriverError, StoreError, StoreSerdeError, TaskError, TopologyError};
pub use record::{ChangelogRecord, Header, InputRecord, OutputRecord, TestRecord};
pub use serdes::{
    BytesSerde, JsonSerde, LongSerde, NullableSerde, PostcardSerde, Serde, SerdeError, Serdes,
    SessionWindowedSerde, StringSerde, WindowedSerde,
};
pub use store::{
    InMemoryStore, InMemoryStoreSupplier, StateStore, StoreEntry, StoreKind, StoreLookup,
    StoreSpec, StoreSupplier, WindowedValue,
};
pub use task::{SkippedRecord, Task, TaskId, TaskMetrics, TaskOutput};
pub use topology::{InternalTopic, InternalTopicKind, Topology};
pub use window::{
    JoinWindows, SessionWindows, SlidingWindows, Suppressed, TimeWindows, Window, Windowed,
};
