//! The errors of the streams library.

use brook_state::StoreError;

use crate::serde::SerdeError;

/// Why building or running a topology failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// The topology is not valid: an unknown node, store or topic, a missing serde, a
    /// cycle, topics that must be co-partitioned but are not. Says what and where.
    #[error("invalid topology: {0}")]
    Topology(String),
    /// A configuration value that cannot be used.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A key or value could not be serialized or deserialized.
    #[error("{what} at {node}: {source}")]
    Serde {
        what: String,
        node: String,
        #[source]
        source: SerdeError,
    },
    /// A state store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A Kafka client call failed.
    #[error("{0}")]
    Client(String),
    /// A processor failed (what a user processor returns).
    #[error("processor {node}: {reason}")]
    Processor { node: String, reason: String },
    /// The runtime is not in a state where the call makes sense (closed, not running).
    #[error("{0}")]
    State(String),
}

impl StreamsError {
    /// A processor failure with `reason`, for user processors.
    pub fn processor(node: impl Into<String>, reason: impl std::fmt::Display) -> StreamsError {
        StreamsError::Processor {
            node: node.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<brook_client::ClientError> for StreamsError {
    fn from(e: brook_client::ClientError) -> StreamsError {
        StreamsError::Client(e.to_string())
    }
}

/// The library's result.
pub type Result<T, E = StreamsError> = std::result::Result<T, E>;
