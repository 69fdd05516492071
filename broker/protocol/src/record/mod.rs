//! Kafka record batches, message format v2 (magic 2), the unit in which producers send,
//! the log stores and consumers fetch records.
//!
//! A batch is a 61-byte header followed by its records, all big-endian:
//!
//! ```text
//! baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (2)
//! crc uint32 (CRC32C of attributes..end) | attributes int16 | lastOffsetDelta int32
//! baseTimestamp int64 | maxTimestamp int64 | producerId int64 | producerEpoch int16
//! baseSequence int32 | recordsCount int32 | records (one compressed block unless none)
//! ```
//!
//! `batchLength` counts the bytes after itself; the CRC covers everything from the
//! attributes on, so a broker can assign `baseOffset` and `partitionLeaderEpoch` in place
//! ([`set_base_offset`], [`set_partition_leader_epoch`]). Attributes: bits 0-2 the
//! [`Compression`], bit 3 the [`TimestampType`], bit 4 transactional, bit 5 control, bit 6
//! delete horizon (KIP-534).
//!
//! Each record is written with zigzag varints ([`varint`]):
//!
//! ```text
//! length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
//! keyLength varint (-1: null) | key | valueLength varint (-1: null) | value
//! headerCount varint | per header: keyLength varint | key (UTF-8) | valueLength varint | value
//! ```
//!
//! What is here: [`BatchHeader`] and whole-batch operations on bytes ([`verify_crc`],
//! [`BatchIter`]) for the broker's hot path, which stores batches as sent; [`RecordBatch`]
//! to decode and encode every record (compaction, consumers); [`check_records`] to
//! validate the records of a batch without building them (the broker's append);
//! [`BatchBuilder`] for producers; [`ControlRecord`] for transaction markers; and the
//! codecs in [`compression`].
//!
//! Decoding is total: every byte string gives a value or a [`RecordError`], counts from the
//! wire never size an allocation beyond what the remaining bytes could hold, and
//! decompression stops at a caller-given limit.

mod batch;
mod builder;
mod check;
pub mod compression;
mod control;
mod error;
mod header;
mod iter;
mod lz4;
pub mod varint;

pub use batch::{Header, Record, RecordBatch};
pub use builder::BatchBuilder;
pub use check::{check_records, RecordsSummary};
pub use control::{ControlRecord, ControlRecordType};
pub use error::RecordError;
pub use header::{
    compute_crc, set_base_offset, set_max_timestamp, set_partition_leader_epoch, verify_crc,
    BatchHeader, Compression, TimestampType, ATTRIBUTES_OFFSET, ATTR_COMPRESSION_MASK,
    ATTR_CONTROL, ATTR_DELETE_HORIZON, ATTR_TIMESTAMP_TYPE, ATTR_TRANSACTIONAL, BATCH_HEADER_LEN,
    CRC_OFFSET, LOG_OVERHEAD, MAGIC_OFFSET, MAGIC_V2, MAX_TIMESTAMP_OFFSET, MIN_BATCH_LENGTH,
    PARTITION_LEADER_EPOCH_OFFSET,
};
pub use iter::BatchIter;
