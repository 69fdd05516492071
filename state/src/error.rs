//! The errors of every store.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store was closed (or never opened).
    #[error("state store `{0}` is closed")]
    Closed(String),
    /// An argument no store accepts (a range whose start is after its end, a negative
    /// retention, ...); says which.
    #[error("state store `{store}`: {reason}")]
    InvalidArgument { store: String, reason: String },
    /// What the storage engine reported.
    #[error("state store `{store}`: storage error: {reason}")]
    Storage { store: String, reason: String },
    /// Bytes in the store that do not decode as what they should be (a timestamped value
    /// shorter than its timestamp, say).
    #[error("state store `{store}`: corrupt entry: {reason}")]
    Corrupt { store: String, reason: String },
}
