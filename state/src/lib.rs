//! `brook-state`: the state stores of the streams runtime: key-value, window and session
//! store traits, their RocksDB and in-memory implementations, changelogging through a small
//! trait, checkpoints, and one memory budget for all stores. It knows nothing about topics or
//! brokers; changelogs reach it through that trait.
//!
//! Nothing is implemented here yet: the stores arrive with issue 5.
