//! The producer's building blocks, none of which does I/O: what to send
//! ([`ProducerRecord`]) and what comes back ([`RecordMetadata`]), serializers, the
//! partitioners, the [`RecordAccumulator`] that batches records per partition, and the
//! [`ProducerConfig`] with Kafka's keys and defaults.
//!
//! The async producer ties them together: serialize the record, ask the partitioner for a
//! partition, append it to the accumulator (waiting up to `max.block.ms` while
//! `buffer.memory` is exhausted), and let a sender task drain ready batches into produce
//! requests and complete them. Each piece here is deterministic and tested on its own.

pub mod accumulator;
pub mod config;
pub mod interceptor;
pub mod partitioner;
#[allow(clippy::module_inception)]
mod producer;
pub mod record;
pub mod sender;
pub mod serializer;

pub use accumulator::{
    AccumulatorConfig, AppendError, AppendResult, BatchId, DiscardedBatch, Drained, FailedBatch,
    ProducerBatch, ProducerIdentity, RecordAccumulator, RecordHandle, RecordToAppend,
    TopicPartition,
};
pub use config::{Acks, ConfigError, ProducerConfig};
pub use interceptor::ProducerInterceptor;
pub use partitioner::{
    DefaultPartitioner, FnPartitioner, Partitioner, PartitionerKind, Partitions,
    RoundRobinPartitioner,
};
pub use producer::{DeliveryFuture, Producer};
pub use record::{ProducerRecord, RecordMetadata};
pub use serializer::{Deserializer, SerdeError, Serializer};
