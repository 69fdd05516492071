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
//! budget, write batches, flushed at commit). The RocksDB window and session stores,
//! changelogging and checkpoints come next.

pub mod error;
pub mod memory;
pub mod rocks;
pub mod store;
pub mod timestamped;

pub use error::StoreError;
pub use memory::{InMemoryKeyValueStore, InMemorySessionStore, InMemoryWindowStore};
pub use rocks::{MemoryBudget, RocksDbKeyValueStore, TaskDb};
pub use store::{
    KeyValueIter, KeyValueStore, SessionEntry, SessionIter, SessionStore, SessionWindow,
    StateStore, WindowIter, WindowStore, WindowedEntry,
};
pub use timestamped::ValueAndTimestamp;
