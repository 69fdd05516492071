//! `brook-client`: the Rust producer, consumer and admin client for Brook and any other
//! Kafka-compatible cluster. It talks to brokers through a `Transport` (TCP, or the in-process
//! transport that `brook-broker` offers), and it is what the streams runtime and the SQL engine
//! do all their I/O through. It is not a broker and holds no state of its own beyond buffers.
//!
//! # Layers
//!
//! - [`Transport`] ([`transport`]) is the seam of DESIGN.md decision 6: send a typed
//!   [`RequestBody`](brook_protocol::messages::RequestBody) at a version, await the typed
//!   [`ResponseBody`](brook_protocol::messages::ResponseBody); [`Transport::send`] for requests
//!   without a response (Produce with `acks=0`); [`Transport::version_for`] for the highest
//!   version both sides speak. A [`Connector`] opens a transport to a broker's `host:port`.
//!   Nothing above this layer knows how bytes move, so an in-process transport that hands
//!   requests to an embedded broker's handlers (wired by the root crate; this crate never
//!   depends on `brook-broker`) runs the same producer, consumer and admin code. The helpers
//!   [`transport::request`] and [`transport::request_at`] type a call end to end through
//!   [`ApiRequest`] (e.g. `MetadataRequest` resolves to `MetadataResponse`).
//! - [`TcpTransport`] ([`tcp`]) is the TCP implementation: one connection, many requests in
//!   flight (a writer task batches frames, a reader task matches responses by correlation id in
//!   order), `request.timeout.ms`, response frames capped at 100 MiB with total decoding, and
//!   ApiVersions negotiation on connect (v3, falling back to v0). A lost connection fails every
//!   request in flight with [`ClientError::Disconnected`]. [`TcpConnector`] opens them.
//! - [`Cluster`] ([`cluster`]) holds the metadata from the `bootstrap.servers` list (brokers,
//!   topics, partition leaders, topic ids, group coordinators) and one transport per node,
//!   refreshed on demand and after errors that mean it is stale
//!   ([`ErrorCode::invalidates_metadata`]).
//! - [`Admin`] ([`admin`]) is Kafka's admin client over a `Cluster`: topics, partitions,
//!   configs, offsets, groups and consumer lag, record deletion; per-topic and per-partition
//!   errors come back as values.
//! - [`Consumer`] ([`consumer`]) is Kafka's consumer over a `Cluster`, in assign mode so
//!   far: `poll` with prefetching, one fetch in flight per leader, every codec decoded and
//!   CRCs checked; positions, seeks, offset lookups, pause/resume, `auto.offset.reset`, and
//!   commits with a `group.id`.
//!
//! Errors are [`ClientError`] for a failed call and [`KafkaError`] (an [`ErrorCode`] with Kafka's
//! name, and the broker's message) for what a broker answered; nothing read from the network is
//! unwrapped.

pub mod admin;
pub mod cluster;
pub mod consumer;
pub mod error;
pub mod tcp;
pub mod transport;

pub use admin::{
    Admin, AdminConfig, ConfigResource, ElectionType, NewTopic, OffsetSpec, TopicPartition,
};
pub use cluster::{BrokerInfo, Cluster, Metadata, PartitionMetadata, TopicMetadata};
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord};
pub use error::{ClientError, ErrorCode, KafkaError};
pub use tcp::{TcpConfig, TcpConnector, TcpTransport};
pub use transport::{ApiRequest, ApiVersions, Connector, Transport};
pub mod producer;
pub use producer::{DeliveryFuture, Producer, ProducerConfig, ProducerRecord, RecordMetadata};
