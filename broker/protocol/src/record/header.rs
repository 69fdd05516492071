//! The fixed 61-byte batch header and the in-place operations a broker does on whole
//! batches (checking and computing the CRC, assigning offsets) without decoding records.

use bytes::{Buf, BufMut};

use super::RecordError;

/// Length of the fixed batch header, baseOffset through recordsCount.
pub const BATCH_HEADER_LEN: usize = 61;
/// The only message format this codec speaks: record batch v2.
pub const MAGIC_V2: i8 = 2;
/// Bytes before the batchLength-counted part: baseOffset (8) and batchLength (4).
pub const LOG_OVERHEAD: usize = 12;
/// Smallest valid batchLength: the header after the length field, with no records.
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_LEN - LOG_OVERHEAD) as i32;

/// Offset of the magic byte.
pub const MAGIC_OFFSET: usize = 16;
/// Offset of the CRC; the checksum covers everything from [`ATTRIBUTES_OFFSET`] on.
pub const CRC_OFFSET: usize = 17;
/// Offset of the attributes, the first byte covered by the CRC.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Offset of the partition leader epoch (not covered by the CRC).
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Offset of the max timestamp.
pub const MAX_TIMESTAMP_OFFSET: usize = 35;

/// Attributes bits 0-2: the compression codec of the records.
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// Attributes bit 3: timestamps are LogAppendTime (set by the broker) instead of CreateTime.
pub const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
/// Attributes bit 4: the batch belongs to a transaction.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attributes bit 5: the batch holds control records (transaction markers).
pub const ATTR_CONTROL: i16 = 0x20;
/// Attributes bit 6 (KIP-534): baseTimestamp holds the delete horizon set by compaction.
pub const ATTR_DELETE_HORIZON: i16 = 0x40;

/// The codec that compressed a batch's records, attributes bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// All codecs, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with wire id `id` (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn from_id(id: i16) -> Result<Compression, RecordError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(RecordError::UnknownCompression(other)),
        }
    }

    /// The wire id of this codec.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's name for the codec, as in the `compression.type` config.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// What the timestamps of a batch mean, attributes bit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    #[default]
    CreateTime,
    /// Set by the broker when the batch was appended to the log.
    LogAppendTime,
}

/// The fixed header of a v2 record batch.
///
/// Field names follow Kafka's; `crc` covers attributes through the end of the batch,
/// while base offset, batch length and partition leader epoch are outside it so a broker
/// can assign them in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after this field: `total_len() - 12`.
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl Default for BatchHeader {
    /// An empty, non-transactional, uncompressed batch with no producer (`-1` ids) and no
    /// leader epoch (`-1`), as a Kafka producer writes before the broker fills things in.
    fn default() -> Self {
        BatchHeader {
            base_offset: 0,
            batch_length: MIN_BATCH_LENGTH,
            partition_leader_epoch: -1,
            magic: MAGIC_V2,
            crc: 0,
            attributes: 0,
            last_offset_delta: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: 0,
        }
    }
}

impl BatchHeader {
    /// Parses the first 61 bytes of `buf`.
    ///
    /// Errors: fewer than 61 bytes ([`RecordError::Truncated`]), magic other than 2
    /// ([`RecordError::BadMagic`]), batchLength below the 49 bytes of header that follow it
    /// ([`RecordError::BadLength`]). Does not look at the CRC or the records.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, RecordError> {
        let Some(mut b) = buf.get(..BATCH_HEADER_LEN) else {
            return Err(RecordError::Truncated {
                needed: BATCH_HEADER_LEN,
                available: buf.len(),
            });
        };
        // `b` is exactly 61 bytes, so the `Buf` getters below cannot run out.
        let header = BatchHeader {
            base_offset: b.get_i64(),
            batch_length: b.get_i32(),
            partition_leader_epoch: b.get_i32(),
            magic: b.get_i8(),
            crc: b.get_u32(),
            attributes: b.get_i16(),
            last_offset_delta: b.get_i32(),
            base_timestamp: b.get_i64(),
            max_timestamp: b.get_i64(),
            producer_id: b.get_i64(),
            producer_epoch: b.get_i16(),
            base_sequence: b.get_i32(),
            records_count: b.get_i32(),
        };
        if header.magic != MAGIC_V2 {
            return Err(RecordError::BadMagic(header.magic));
        }
        if header.batch_length < MIN_BATCH_LENGTH {
            return Err(RecordError::BadLength(header.batch_length));
        }
        Ok(header)
    }

    /// Writes the 61 header bytes, fields as they are (including `crc`), to the start of
    /// `out`.
    ///
    /// # Panics
    /// If `out` is shorter than [`BATCH_HEADER_LEN`].
    pub fn write(&self, out: &mut [u8]) {
        let mut o = &mut out[..BATCH_HEADER_LEN];
        o.put_i64(self.base_offset);
        o.put_i32(self.batch_length);
        o.put_i32(self.partition_leader_epoch);
        o.put_i8(self.magic);
        o.put_u32(self.crc);
        o.put_i16(self.attributes);
        o.put_i32(self.last_offset_delta);
        o.put_i64(self.base_timestamp);
        o.put_i64(self.max_timestamp);
        o.put_i64(self.producer_id);
        o.put_i16(self.producer_epoch);
        o.put_i32(self.base_sequence);
        o.put_i32(self.records_count);
    }

    /// Size of the whole batch: the 12 bytes of base offset and length plus `batch_length`
    /// (a negative length counts as 0).
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + usize::try_from(self.batch_length).unwrap_or(0)
    }

    /// Offset of the last record: `base_offset + last_offset_delta` (wrapping, like Kafka).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// Offset the next batch in the log starts at: `last_offset() + 1`.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The records' codec; ids 5-7 are [`RecordError::UnknownCompression`].
    pub fn compression(&self) -> Result<Compression, RecordError> {
        Compression::from_id(self.attributes & ATTR_COMPRESSION_MASK)
    }

    /// Whether the timestamps are CreateTime or LogAppendTime (attributes bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & ATTR_TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Attributes bit 4.
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Attributes bit 5.
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Attributes bit 6 (KIP-534): `base_timestamp` holds the delete horizon.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & ATTR_DELETE_HORIZON != 0
    }

    /// The delete horizon (ms) if compaction set one.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then_some(self.base_timestamp)
    }

    /// Whether a producer id is set (idempotent or transactional producer).
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    /// Sets attributes bits 0-2.
    pub fn set_compression(&mut self, compression: Compression) {
        self.attributes = (self.attributes & !ATTR_COMPRESSION_MASK) | compression.id();
    }

    /// Sets attributes bit 3.
    pub fn set_timestamp_type(&mut self, timestamp_type: TimestampType) {
        self.set_flag(
            ATTR_TIMESTAMP_TYPE,
            timestamp_type == TimestampType::LogAppendTime,
        );
    }

    /// Sets attributes bit 4.
    pub fn set_transactional(&mut self, transactional: bool) {
        self.set_flag(ATTR_TRANSACTIONAL, transactional);
    }

    /// Sets attributes bit 5.
    pub fn set_control(&mut self, control: bool) {
        self.set_flag(ATTR_CONTROL, control);
    }

    /// Sets attributes bit 6 and, when `Some`, stores the horizon in `base_timestamp`.
    /// Record timestamps are deltas from `base_timestamp`, so only use this on a header
    /// whose records are (re-)encoded against the new base.
    pub fn set_delete_horizon(&mut self, delete_horizon_ms: Option<i64>) {
        self.set_flag(ATTR_DELETE_HORIZON, delete_horizon_ms.is_some());
        if let Some(horizon) = delete_horizon_ms {
            self.base_timestamp = horizon;
        }
    }

    fn set_flag(&mut self, flag: i16, on: bool) {
        if on {
            self.attributes |= flag;
        } else {
            self.attributes &= !flag;
        }
    }
}

/// Checks the CRC32C (Castagnoli) stored at bytes 17..21 against bytes 21..end of `batch`,
/// which must be exactly one whole batch.
pub fn verify_crc(batch: &[u8]) -> Result<(), RecordError> {
    let Some(mut stored) = batch.get(CRC_OFFSET..ATTRIBUTES_OFFSET) else {
        return Err(RecordError::Truncated {
            needed: ATTRIBUTES_OFFSET,
            available: batch.len(),
        });
    };
    let stored = stored.get_u32();
    let computed = compute_crc(batch);
    if stored == computed {
        Ok(())
    } else {
        Err(RecordError::CrcMismatch { stored, computed })
    }
}

/// The CRC32C of bytes 21..end of `batch` (of nothing, i.e. 0, if it is shorter).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default())
}

/// Overwrites the base offset (bytes 0..8) in place; the CRC does not cover it.
/// Does nothing to a buffer shorter than 8 bytes (no parsed batch is).
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    if let Some(dst) = batch.get_mut(..8) {
        dst.copy_from_slice(&base_offset.to_be_bytes());
    }
}

/// Overwrites the partition leader epoch (bytes 12..16) in place; the CRC does not cover
/// it. Does nothing to a buffer shorter than 16 bytes.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    if let Some(dst) = batch.get_mut(PARTITION_LEADER_EPOCH_OFFSET..MAGIC_OFFSET) {
        dst.copy_from_slice(&epoch.to_be_bytes());
    }
}

/// Sets the timestamp type bit and the max timestamp in place and recomputes the CRC, as
/// a broker does for topics with `message.timestamp.type=LogAppendTime`. Does nothing to
/// a buffer shorter than the batch header.
pub fn set_max_timestamp(batch: &mut [u8], timestamp_type: TimestampType, max_timestamp: i64) {
    if batch.len() < BATCH_HEADER_LEN {
        return;
    }
    let attrs_at = ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2;
    let mut attrs = i16::from_be_bytes([batch[attrs_at.start], batch[attrs_at.start + 1]]);
    match timestamp_type {
        TimestampType::CreateTime => attrs &= !ATTR_TIMESTAMP_TYPE,
        TimestampType::LogAppendTime => attrs |= ATTR_TIMESTAMP_TYPE,
    }
    batch[attrs_at].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BatchHeader {
        BatchHeader {
            base_offset: 0x0102_0304_0506_0708,
            batch_length: 1000,
            partition_leader_epoch: 7,
            magic: MAGIC_V2,
            crc: 0xdead_beef,
            attributes: ATTR_TRANSACTIONAL | Compression::Zstd.id(),
            last_offset_delta: 41,
            base_timestamp: 1_700_000_000_000,
            max_timestamp: 1_700_000_000_123,
            producer_id: 99,
            producer_epoch: 3,
            base_sequence: 17,
            records_count: 42,
        }
    }

    #[test]
    fn roundtrip() {
        let h = sample();
        let mut buf = [0u8; BATCH_HEADER_LEN];
        h.write(&mut buf);
        assert_eq!(&buf[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(buf[MAGIC_OFFSET], 2);
        assert_eq!(
            &buf[CRC_OFFSET..ATTRIBUTES_OFFSET],
            &[0xde, 0xad, 0xbe, 0xef]
        );
        assert_eq!(BatchHeader::parse(&buf), Ok(h));
        assert_eq!(h.total_len(), 1012);
        assert_eq!(h.last_offset(), 0x0102_0304_0506_0708 + 41);
        assert_eq!(h.compression(), Ok(Compression::Zstd));
        assert!(h.is_transactional());
        assert!(!h.is_control());
        assert!(!h.has_delete_horizon());
        assert_eq!(h.delete_horizon_ms(), None);
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
    }

    #[test]
    fn attribute_setters() {
        let mut h = BatchHeader::default();
        h.set_compression(Compression::Lz4);
        h.set_timestamp_type(TimestampType::LogAppendTime);
        h.set_control(true);
        h.set_delete_horizon(Some(5));
        assert_eq!(h.attributes, 3 | 0x08 | 0x20 | 0x40);
        assert_eq!(h.compression(), Ok(Compression::Lz4));
        assert_eq!(h.delete_horizon_ms(), Some(5));
        h.set_compression(Compression::None);
        h.set_control(false);
        assert_eq!(h.attributes, 0x08 | 0x40);
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()), Ok(c));
        }
        for id in 5..8 {
            h.attributes = id;
            assert_eq!(h.compression(), Err(RecordError::UnknownCompression(id)));
        }
    }

    #[test]
    fn parse_errors() {
        let mut buf = [0u8; BATCH_HEADER_LEN];
        sample().write(&mut buf);
        assert_eq!(
            BatchHeader::parse(&buf[..60]),
            Err(RecordError::Truncated {
                needed: 61,
                available: 60
            })
        );
        let mut bad = buf;
        bad[MAGIC_OFFSET] = 1;
        assert_eq!(BatchHeader::parse(&bad), Err(RecordError::BadMagic(1)));
        let mut bad = buf;
        bad[8..12].copy_from_slice(&48i32.to_be_bytes());
        assert_eq!(BatchHeader::parse(&bad), Err(RecordError::BadLength(48)));
        bad[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(BatchHeader::parse(&bad), Err(RecordError::BadLength(-1)));
    }

    #[test]
    fn overflowing_offsets_do_not_panic() {
        let h = BatchHeader {
            base_offset: i64::MAX,
            last_offset_delta: i32::MAX,
            ..BatchHeader::default()
        };
        let _ = h.last_offset();
        let _ = h.next_offset();
        let h = BatchHeader {
            batch_length: -5,
            ..BatchHeader::default()
        };
        assert_eq!(h.total_len(), 12);
    }

    #[test]
    fn crc_and_in_place_edits() {
        let mut batch = vec![0u8; 80];
        let h = BatchHeader {
            batch_length: 68,
            ..sample()
        };
        h.write(&mut batch);
        batch[61..]
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = i as u8);
        let crc = compute_crc(&batch);
        batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(verify_crc(&batch), Ok(()));

        // Neither the base offset nor the leader epoch is covered.
        set_base_offset(&mut batch, 12345);
        set_partition_leader_epoch(&mut batch, 9);
        assert_eq!(verify_crc(&batch), Ok(()));
        let parsed = BatchHeader::parse(&batch).unwrap();
        assert_eq!(parsed.base_offset, 12345);
        assert_eq!(parsed.partition_leader_epoch, 9);

        // Every single-bit flip in the covered range (and in the CRC itself) is detected.
        for byte in CRC_OFFSET..batch.len() {
            for bit in 0..8 {
                let mut flipped = batch.clone();
                flipped[byte] ^= 1 << bit;
                assert!(
                    matches!(verify_crc(&flipped), Err(RecordError::CrcMismatch { .. })),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }

        set_max_timestamp(&mut batch, TimestampType::LogAppendTime, 77);
        assert_eq!(verify_crc(&batch), Ok(()));
        let parsed = BatchHeader::parse(&batch).unwrap();
        assert_eq!(parsed.max_timestamp, 77);
        assert_eq!(parsed.timestamp_type(), TimestampType::LogAppendTime);
        assert!(parsed.is_transactional());

        assert!(matches!(
            verify_crc(&batch[..20]),
            Err(RecordError::Truncated { .. })
        ));
        assert_eq!(compute_crc(&batch[..10]), 0);
        set_base_offset(&mut batch[..4], 1); // too short: no-op, no panic
    }

    #[test]
    fn known_crc32c_vector() {
        // The standard CRC-32C check value.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }
}
