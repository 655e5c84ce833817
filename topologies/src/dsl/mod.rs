//! The DSL: `StreamsBuilder`, streams, tables, grouped and windowed streams.
//!
//! Handles share the builder's logical graph; every operator adds a node to it. Nothing
//! is checked or compiled until `StreamsBuilder::build`.

mod branch;
mod builder;
mod grouped;
mod kstream;
mod kstream_flow;
mod kstream_join;
mod kstream_stream_join;
mod ktable;
mod ktable_join;
mod nodes;
mod session;
mod windowed;

pub use branch::BranchedKStream;
pub use builder::StreamsBuilder;
pub use grouped::KGroupedStream;
pub use kstream::KStream;
pub use ktable::KTable;
pub use session::SessionWindowedKStream;
pub use windowed::TimeWindowedKStream;
