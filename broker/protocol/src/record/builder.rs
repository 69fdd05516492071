//! A builder that encodes records as they are appended, for producers and tests.

use super::batch::{finish_batch, to_i32, RecordParts};
use super::compression::compress;
use super::header::BATCH_HEADER_LEN;
use super::{BatchHeader, Compression, ControlRecord, Header, RecordError, TimestampType};

/// Builds one record batch: `BatchBuilder::new(compression, base_timestamp)`, then
/// [`append`](Self::append) records, then [`build`](Self::build) with the base offset.
///
/// Records are encoded into one buffer as they are appended (no per-record allocation)
/// and compressed once at build time. Offset deltas count up from 0; timestamp deltas are
/// taken from `base_timestamp`. Defaults: no producer (id, epoch and base sequence `-1`),
/// partition leader epoch `-1`, CreateTime, not transactional, not control.
///
/// ```
/// use brook_protocol::record::{BatchBuilder, Compression, RecordBatch};
///
/// let bytes = BatchBuilder::new(Compression::Lz4, 1_000)
///     .producer_id(7)
///     .producer_epoch(0)
///     .base_sequence(0)
///     .append(1_000, Some(b"k"), Some(b"v"), &[])
///     .append(1_005, None, Some(b"w"), &[])
///     .build(42);
/// let batch = RecordBatch::decode(&bytes, 1 << 20).unwrap();
/// assert_eq!(batch.header.last_offset(), 43);
/// assert_eq!(batch.header.max_timestamp, 1_005);
/// ```
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    header: BatchHeader,
    compression: Compression,
    /// `BATCH_HEADER_LEN` bytes of room for the header, then the encoded records: an
    /// uncompressed batch is finished in place ([`into_batch`](Self::into_batch)).
    records: Vec<u8>,
    count: i32,
    max_timestamp: i64,
}

impl BatchBuilder {
    /// An empty batch whose records will be compressed with `compression` and whose
    /// timestamps are deltas from `base_timestamp`.
    pub fn new(compression: Compression, base_timestamp: i64) -> BatchBuilder {
        BatchBuilder::with_capacity(compression, base_timestamp, 0)
    }

    /// [`new`](Self::new), with room for `capacity` bytes of batch (header included)
    /// before the buffer grows: a producer that knows its batches fill up saves the copies
    /// of growing.
    pub fn with_capacity(
        compression: Compression,
        base_timestamp: i64,
        capacity: usize,
    ) -> BatchBuilder {
        let mut records = Vec::with_capacity(capacity.max(BATCH_HEADER_LEN));
        records.resize(BATCH_HEADER_LEN, 0);
        let mut header = BatchHeader {
            base_timestamp,
            max_timestamp: base_timestamp,
            ..BatchHeader::default()
        };
        header.set_compression(compression);
        BatchBuilder {
            header,
            compression,
            records,
            count: 0,
            max_timestamp: base_timestamp,
        }
    }

    /// Sets the producer id (`-1`: none).
    #[must_use]
    pub fn producer_id(mut self, producer_id: i64) -> Self {
        self.header.producer_id = producer_id;
        self
    }

    /// Sets the producer epoch (`-1`: none).
    #[must_use]
    pub fn producer_epoch(mut self, producer_epoch: i16) -> Self {
        self.header.producer_epoch = producer_epoch;
        self
    }

    /// Sets the sequence number of the first record (`-1`: none).
    #[must_use]
    pub fn base_sequence(mut self, base_sequence: i32) -> Self {
        self.header.base_sequence = base_sequence;
        self
    }

    /// Marks the batch as part of a transaction.
    #[must_use]
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.header.set_transactional(transactional);
        self
    }

    /// Marks the batch as a control batch (see [`append_control`](Self::append_control)).
    #[must_use]
    pub fn control(mut self, control: bool) -> Self {
        self.header.set_control(control);
        self
    }

    /// Sets the partition leader epoch (`-1`: none).
    #[must_use]
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.header.partition_leader_epoch = epoch;
        self
    }

    /// Sets the timestamp type (default CreateTime).
    #[must_use]
    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.header.set_timestamp_type(timestamp_type);
        self
    }

    /// Appends a record with the next offset.
    ///
    /// # Panics
    /// If a key, value, header or the batch outgrows the format's 32-bit lengths, or more
    /// than `i32::MAX` records are appended; [`try_append`](Self::try_append) returns an
    /// error instead.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> &mut Self {
        if let Err(e) = self.try_append(timestamp, key, value, headers) {
            panic!("BatchBuilder::append: {e}");
        }
        self
    }

    /// Appends a record with the next offset, or errors (leaving the builder unchanged) if
    /// it would not fit the format's 32-bit lengths.
    pub fn try_append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<&mut Self, RecordError> {
        if self.count == i32::MAX {
            return Err(RecordError::BatchTooLarge(self.records.len()));
        }
        let parts = RecordParts {
            attributes: 0,
            timestamp_delta: timestamp.wrapping_sub(self.header.base_timestamp),
            offset_delta: self.count,
            key,
            value,
            headers,
        };
        let len = parts.encoded_len()?;
        let total = self.records.len() + len;
        to_i32(total)?;
        parts.encode(&mut self.records)?;
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(self)
    }

    /// Appends a control record (a transaction marker). Use on a builder marked
    /// [`control`](Self::control) (and, for markers, [`transactional`](Self::transactional)).
    pub fn append_control(&mut self, timestamp: i64, record: &ControlRecord) -> &mut Self {
        let key = record.key_bytes();
        let value = record.value_bytes();
        self.append(timestamp, Some(&key), Some(&value), &[])
    }

    /// Number of records appended.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size of the batch if it were built uncompressed: an upper bound for producers that
    /// cap batch sizes (compression only shrinks what it is worth compressing).
    pub fn uncompressed_size(&self) -> usize {
        self.records.len()
    }

    /// The header the batch will have (without length, count and CRC).
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Builds the batch with `base_offset`.
    ///
    /// # Panics
    /// Only if compression fails, which it does not when writing to memory; see
    /// [`build_into`](Self::build_into).
    pub fn build(&self, base_offset: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.uncompressed_size());
        if let Err(e) = self.build_into(base_offset, &mut out) {
            panic!("BatchBuilder::build: {e}");
        }
        out
    }

    /// Builds the batch with `base_offset`, appending it to `out` (left as it was on error).
    pub fn build_into(&self, base_offset: i64, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let start = out.len();
        let result = self.build_at(base_offset, out, start);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn build_at(
        &self,
        base_offset: i64,
        out: &mut Vec<u8>,
        start: usize,
    ) -> Result<(), RecordError> {
        out.resize(start + BATCH_HEADER_LEN, 0);
        compress(self.compression, &self.records[BATCH_HEADER_LEN..], out)?;
        finish_batch(out, start, self.final_header(base_offset), self.count)
    }

    fn final_header(&self, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            last_offset_delta: (self.count - 1).max(0),
            max_timestamp: self.max_timestamp,
            ..self.header
        }
    }

    /// Builds the batch with `base_offset`, consuming the builder: an uncompressed batch is
    /// finished in the builder's own buffer, with no copy of its records; a compressed one
    /// is compressed into a new buffer.
    pub fn into_batch(self, base_offset: i64) -> Result<Vec<u8>, RecordError> {
        if self.compression != Compression::None {
            let mut out = Vec::with_capacity(self.uncompressed_size());
            self.build_into(base_offset, &mut out)?;
            return Ok(out);
        }
        let header = self.final_header(base_offset);
        let count = self.count;
        let mut out = self.records;
        finish_batch(&mut out, 0, header, count)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{verify_crc, ControlRecordType, Record, RecordBatch};
    use bytes::Bytes;

    #[test]
    fn into_batch_builds_the_same_bytes_in_place() {
        for c in Compression::ALL {
            let mut b = BatchBuilder::with_capacity(c, 9, 4096).producer_id(3);
            for i in 0..20u8 {
                b.append(9 + i64::from(i), Some(&[i]), Some(&[i; 50]), &[]);
            }
            let built = b.build(5);
            let capacity = b.records.capacity();
            let ptr = b.records.as_ptr();
            let batch = b.into_batch(5).unwrap();
            assert_eq!(batch, built, "{c:?}");
            if c == Compression::None {
                assert_eq!(batch.as_ptr(), ptr, "no copy");
                assert_eq!(batch.capacity(), capacity);
            }
        }
        let empty = BatchBuilder::new(Compression::None, 0);
        assert_eq!(empty.build(0), empty.clone().into_batch(0).unwrap());
    }

    #[test]
    fn builds_what_decode_reads() {
        for c in Compression::ALL {
            let headers = [Header::new("trace", Some(Bytes::from_static(b"abc")))];
            let bytes = BatchBuilder::new(c, 5_000)
                .producer_id(11)
                .producer_epoch(2)
                .base_sequence(40)
                .transactional(true)
                .partition_leader_epoch(6)
                .append(5_000, Some(b"a"), Some(b"1"), &headers)
                .append(4_990, None, None, &[])
                .append(5_020, Some(b"c"), Some(b"3"), &[])
                .build(77);
            verify_crc(&bytes).unwrap();
            let batch = RecordBatch::decode(&bytes, 1 << 20).unwrap();
            let h = batch.header;
            assert_eq!(h.compression(), Ok(c));
            assert_eq!(
                (h.base_offset, h.last_offset_delta, h.records_count),
                (77, 2, 3)
            );
            assert_eq!((h.base_timestamp, h.max_timestamp), (5_000, 5_020));
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (11, 2, 40)
            );
            assert_eq!(h.partition_leader_epoch, 6);
            assert!(h.is_transactional());
            assert!(!h.is_control());
            assert_eq!(
                batch.records[1],
                Record {
                    attributes: 0,
                    timestamp_delta: -10,
                    offset_delta: 1,
                    key: None,
                    value: None,
                    headers: vec![],
                }
            );
            assert_eq!(batch.records[0].headers, headers);
            assert_eq!(batch.records[2].timestamp(h.base_timestamp), 5_020);
        }
    }

    #[test]
    fn defaults_and_empty() {
        let b = BatchBuilder::new(Compression::None, 9);
        assert!(b.is_empty());
        assert_eq!(b.uncompressed_size(), BATCH_HEADER_LEN);
        let bytes = b.build(0);
        assert_eq!(bytes.len(), BATCH_HEADER_LEN);
        let h = BatchHeader::parse(&bytes).unwrap();
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (-1, -1, -1)
        );
        assert_eq!(h.partition_leader_epoch, -1);
        assert_eq!(h.records_count, 0);
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
        RecordBatch::decode(&bytes, 0).unwrap();
    }

    #[test]
    fn uncompressed_size_is_exact_for_none() {
        let mut b = BatchBuilder::new(Compression::None, 0);
        for i in 0..100 {
            b.append(i, Some(&[1, 2, 3]), Some(&vec![0; i as usize]), &[]);
        }
        assert_eq!(b.len(), 100);
        assert_eq!(b.build(0).len(), b.uncompressed_size());
    }

    #[test]
    fn build_into_appends() {
        let mut b = BatchBuilder::new(Compression::Snappy, 0);
        b.append(0, None, Some(b"x"), &[]);
        let mut out = vec![9; 3];
        b.build_into(0, &mut out).unwrap();
        b.build_into(1, &mut out).unwrap();
        assert_eq!(&out[..3], &[9, 9, 9]);
        let batches: Vec<_> = crate::record::BatchIter::new(&out[3..])
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[1].0.base_offset, 1);
    }

    #[test]
    fn control_batch() {
        let marker = ControlRecord {
            kind: ControlRecordType::Commit,
            coordinator_epoch: 4,
        };
        let bytes = BatchBuilder::new(Compression::None, 123)
            .producer_id(3)
            .producer_epoch(1)
            .transactional(true)
            .control(true)
            .append_control(123, &marker)
            .build(10);
        let batch = RecordBatch::decode(&bytes, 1 << 10).unwrap();
        assert!(batch.header.is_control() && batch.header.is_transactional());
        assert_eq!(ControlRecord::from_record(&batch.records[0]), Ok(marker));
    }
}
