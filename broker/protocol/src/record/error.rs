//! The one error type of the record codec.

/// Why a record batch (or a piece of one) could not be decoded or encoded.
///
/// Every variant names one reason, so callers such as the broker can map it to the
/// right Kafka error code (`CORRUPT_MESSAGE`, `INVALID_RECORD`, `UNSUPPORTED_COMPRESSION_TYPE`,
/// `MESSAGE_TOO_LARGE`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The input ended before a complete field, record or batch.
    #[error("truncated input: needed {needed} bytes, {available} available")]
    Truncated { needed: usize, available: usize },
    /// The batch is not in message format v2.
    #[error("unsupported magic byte {0} (only record batch format v2 is supported)")]
    BadMagic(i8),
    /// The batchLength field is smaller than the fixed part of the header.
    #[error("invalid batch length {0}")]
    BadLength(i32),
    /// The CRC32C stored in the batch does not match its contents.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch { stored: u32, computed: u32 },
    /// The attributes name a compression codec that does not exist.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(i16),
    /// The compressed records could not be decompressed.
    #[error("decompression failed: {0}")]
    Decompress(String),
    /// The records could not be compressed.
    #[error("compression failed: {0}")]
    Compress(String),
    /// Decompression would produce more than the allowed number of bytes.
    #[error("decompressed records exceed the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// A varint is longer than 5 bytes (varlong: 10 bytes) or overflows its type.
    #[error("malformed varint")]
    BadVarint,
    /// The recordsCount field is negative.
    #[error("invalid record count {0}")]
    BadRecordCount(i32),
    /// The batch ended (or its records ran out) before recordsCount records were read.
    #[error("record count mismatch: header says {header}, batch holds {actual}")]
    RecordCountMismatch { header: i32, actual: usize },
    /// Bytes remain after the last record (or after the batch, for a whole-batch decode).
    #[error("{remaining} unexpected trailing bytes")]
    TrailingBytes { remaining: usize },
    /// A record's offset delta is not its position in the batch.
    #[error("record {expected} has offset delta {actual}")]
    OffsetDeltaMismatch { expected: i64, actual: i32 },
    /// A record's length is negative, or does not match the bytes its fields occupy.
    #[error("invalid record length")]
    BadRecordLength,
    /// A record's header count is negative.
    #[error("invalid record header count {0}")]
    BadHeaderCount(i32),
    /// A record header's key length is negative (header keys cannot be null).
    #[error("invalid record header key length {0}")]
    BadHeaderKeyLength(i32),
    /// A record header's key is not valid UTF-8.
    #[error("record header key is not valid UTF-8")]
    InvalidHeaderKey,
    /// A control record's key or value is malformed.
    #[error("invalid control record: {0}")]
    BadControlRecord(&'static str),
    /// The batch (or a field in it) would not fit the format's 32-bit lengths.
    #[error("batch too large to encode: {0} bytes")]
    BatchTooLarge(usize),
}
