//! `brook-client`: the Rust producer, consumer and admin client for Brook and any other
//! Kafka-compatible cluster. It talks to brokers through a `Transport` (TCP, or the in-process
//! transport that `brook-broker` offers), and it is what the streams runtime and the SQL engine
//! do all their I/O through. It is not a broker and holds no state of its own beyond buffers.
//!
//! Nothing is implemented here yet: the producer, consumer and admin arrive with issue 4.
