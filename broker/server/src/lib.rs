//! `brook-broker`: the broker half of Brook. Today it holds the partition log (module
//! [`log`]): segmented storage of Kafka record batches with indexes, retention, compaction,
//! durability and crash recovery, and the [`log::LogManager`] that runs a data directory.
//! The Kafka protocol server, coordinators and replication will live here too; this crate
//! never depends on the streams, state or SQL crates.

pub mod log;
pub mod server;
