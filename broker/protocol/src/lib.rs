//! brook-protocol: the Kafka wire codec shared by Brook's broker and clients.
//!
//! It turns bytes into typed values and back: record batches (message format v2) with
//! their varints, CRC32C checksums and compression codecs, and (later) request/response
//! frames. No I/O, no async runtime, none of our crates as dependencies. Decoding is
//! total: any byte string yields a value or an error, never a panic, and never an
//! allocation larger than the input (plus an explicit decompression limit).
//! Request and response messages live in `messages`, generated from Kafka's JSON specs.

pub mod messages;
pub mod record;
