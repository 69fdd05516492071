//! `brook-streams`: the Kafka-Streams-style library: the DSL ([`StreamsBuilder`],
//! [`KStream`], [`KTable`], [`KGroupedStream`], [`KGroupedTable`], [`GlobalKTable`]), the
//! Processor API ([`Processor`], [`ProcessorContext`], [`Topology`]), topologies split into
//! sub-topologies and tasks, state stores from `brook-state` logged to changelog topics, and
//! a [`TopologyTestDriver`]. It is a Kafka client application: it never depends on
//! `brook-broker`, and its unit tests run on the test driver with no broker.
//!
//! ```
//! use brook_streams::{Consumed, Grouped, Materialized, Produced, Serdes, StreamsBuilder,
//!     TopologyTestDriver};
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<(), String>(&["lines"], Consumed::with(Serdes::void(), Serdes::string()))
//!     .flat_map_values(|line: String| {
//!         line.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
//!     })
//!     .group_by(|_, word: &String| word.clone(), Grouped::default())
//!     .count(Materialized::as_store("counts"))
//!     .to_stream()
//!     .to("word-counts", Produced::default());
//! let topology = builder.build()?;
//! println!("{}", topology.describe()); // two sub-topologies, split at counts-repartition
//!
//! let driver = TopologyTestDriver::new(topology)?;
//! let mut lines = driver.create_input_topic("lines", Serdes::void(), Serdes::string());
//! let counts = driver.create_output_topic(
//!     "word-counts",
//!     Serdes::string(),
//!     Serdes::optional(Serdes::i64()),
//! );
//! lines.pipe_input((), "to be or not to be".into())?;
//! let latest = counts.read_key_values_to_map()?;
//! assert_eq!(latest["to"], Some(2));
//! assert_eq!(latest["not"], Some(1));
//! # Ok::<(), brook_streams::StreamsError>(())
//! ```
//!
//! **Types.** Keys and values are typed Rust values ([`Data`]: `Clone + Send + 'static`)
//! and pass between the processors of a task without serialization; serdes
//! ([`Serde`], [`Serdes`]) are applied only at sources, sinks and stores. A typed stream has
//! no room for nulls: a null key or value read as `String` is a deserialization error
//! (handled by the [`DeserializationHandler`]); streams with nullable fields use `Option<T>`
//! ([`Serdes::optional`]) or `()` ([`Serdes::void`]). A table's deletions are `None`
//! ([`KTable::to_stream`] yields `Option<V>` values, tombstones when written).
//!
//! **Forwarding** is synchronous and depth first, as in Kafka Streams: a record reaches every
//! sink below a processor before its `forward` returns.
//!
//! **Tables** are materialized in timestamped stores (RocksDB unless
//! [`Materialized::in_memory`]) with a changelog topic `<application.id>-<store>-changelog`
//! and, by default, a write cache (`statestore.cache.max.bytes`) that folds the updates of a
//! key between commits into one, as Kafka Streams does; the test driver commits after every
//! record, so it shows every update.

pub mod config;
pub mod dsl;
pub mod error;
pub mod processor;
pub mod record;
pub mod runtime;
pub mod serde;
pub mod state;
pub mod store;
pub mod task;
pub mod test_driver;
pub mod topology;

use std::fmt;

pub use config::{ProductionHandler, StreamsConfig};
pub use dsl::{
    Branched, BranchedKStream, Change, Consumed, GlobalKTable, Grouped, KGroupedStream,
    KGroupedTable, KStream, KTable, Materialized, Named, Produced, StreamsBuilder,
};
pub use dsl::{
    BufferConfig, BufferFullStrategy, EmitStrategy, SessionWindowedKStream, SessionWindows,
    SlidingWindows, Suppressed, TimeWindowedKStream, TimeWindows, Window, Windowed,
    WindowedMaterialized, WindowedSerdes,
};
pub use dsl::{JoinWindows, Joined, StreamJoined, TableJoined};
pub use error::{Result, StreamsError};
pub use processor::{Cancellable, Processor, ProcessorContext, PunctuationType};
pub use record::{Data, Header, Headers, Record};
pub use runtime::query::{
    HostInfo, KeyQueryMetadata, ReadOnlyKeyValueStore, ReadOnlySessionStore,
    ReadOnlyTimestampedKeyValueStore, ReadOnlyWindowStore, StoreQueryParameters, StreamsMetadata,
};
pub use runtime::{
    KafkaStreams, StateRestoreListener, StreamThreadExceptionResponse, StreamsState,
    ThreadMetadata, ThreadState,
};
pub use serde::{Serde, SerdeRef, Serdes};
pub use store::{
    KeyValueStoreHandle, SessionStoreHandle, StoreBuilder, Stores, TimestampedKeyValueStoreHandle,
    WindowStoreHandle,
};
pub use task::{DeserializationHandler, TimestampExtractor};
pub use test_driver::{TestInputTopic, TestOutputTopic, TestRecord, TopologyTestDriver};
pub use topology::{Topology, TopologyDescription};

/// A task: sub-topology `subtopology` for partition `partition` of its input topics.
/// Printed as Kafka Streams prints it: `0_1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    pub subtopology: u32,
    pub partition: i32,
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

impl std::str::FromStr for TaskId {
    type Err = StreamsError;

    fn from_str(s: &str) -> Result<TaskId> {
        let bad = || StreamsError::Config(format!("{s:?} is not a task id like 0_1"));
        let (a, b) = s.split_once('_').ok_or_else(bad)?;
        Ok(TaskId {
            subtopology: a.parse().map_err(|_| bad())?,
            partition: b.parse().map_err(|_| bad())?,
        })
    }
}
