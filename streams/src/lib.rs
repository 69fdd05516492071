//! `brook-streams`: the Kafka-Streams-style library: the DSL (`KStream`, `KTable`, ...), the
//! processor API, topologies split into sub-topologies and tasks, stream threads, event time,
//! windows and joins, and a `TopologyTestDriver`. It is a Kafka client application: it never
//! depends on `brook-broker`, and its unit tests run on the test driver with no broker.

pub mod config;
pub mod dsl;
pub mod error;
pub mod processor;
pub mod record;
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
pub use error::{Result, StreamsError};
pub use processor::{Cancellable, Processor, ProcessorContext, PunctuationType};
pub use record::{Data, Header, Headers, Record};
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
