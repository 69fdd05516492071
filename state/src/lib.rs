//! `brook-state`: the state stores of the streams runtime: key-value, window and session
//! store traits, their RocksDB and in-memory implementations, changelogging through a small
//! trait, checkpoints, and one memory budget for all stores. It knows nothing about topics or
//! brokers; changelogs reach it through that trait.
//!
//! So far (issue 5, in progress): the store traits in bytes ([`store`]: [`KeyValueStore`],
//! [`WindowStore`], [`SessionStore`], with Kafka Streams' operations and retention rules),
//! the timestamped values tables keep ([`timestamped`]), and an in-memory implementation of
//! each ([`memory`]), checked against model maps by property tests; the RocksDB key-value
//! store ([`rocks`]: one instance per task, a column family per store, one shared memory
//! budget, write batches, flushed at commit); changelogging ([`changelog`]: the
//! [`ChangelogSink`] trait the streams runtime implements with its producer, wrappers that
//! mirror every write of a store to it under Kafka Streams' changelog key formats, and
//! [`Restore`] to rebuild a store from its changelog without echoing); the task's
//! checkpoint file ([`checkpoint`]: Kafka Streams' `.checkpoint` format, written atomically);
//! and the RocksDB window and session stores ([`segmented`]: [`RocksDbWindowStore`],
//! [`RocksDbSessionStore`], segmented by time, a column family per segment in the task's
//! instance, so expiry drops whole segments; checked against the in-memory stores by
//! property tests).

pub mod changelog;
pub mod checkpoint;
pub mod error;
pub mod memory;
pub mod rocks;
pub mod segmented;
pub mod store;
pub mod timestamped;

pub use changelog::{
    ChangeLoggingKeyValueStore, ChangeLoggingSessionStore, ChangeLoggingWindowStore,
    ChangelogContext, ChangelogRecord, ChangelogSink, RecordedChange, RecordingSink, Restore,
    SharedSink,
};
pub use checkpoint::{Checkpoint, CheckpointFile};
pub use error::StoreError;
pub use memory::{InMemoryKeyValueStore, InMemorySessionStore, InMemoryWindowStore};
pub use rocks::{MemoryBudget, RocksDbKeyValueStore, TaskDb};
pub use segmented::{default_segment_interval, RocksDbSessionStore, RocksDbWindowStore};
pub use store::{
    KeyValueIter, KeyValueStore, SessionEntry, SessionIter, SessionStore, SessionWindow,
    StateStore, WindowIter, WindowStore, WindowedEntry,
};
pub use timestamped::ValueAndTimestamp;
