//! Records and whole-batch decoding and encoding.

use bytes::Bytes;

use super::compression::{compress, decompress};
use super::header::{
    compute_crc, verify_crc, ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, CRC_OFFSET, LOG_OVERHEAD,
};
use super::varint::{
    read_varint, read_varlong, varint_len, varlong_len, write_varint, write_varlong,
};
use super::{BatchHeader, Compression, RecordError, MAGIC_V2};

/// Smallest encoded record: length, attributes, timestamp delta, offset delta, key length,
/// value length and header count, one byte each.
const MIN_RECORD_LEN: usize = 7;
/// Smallest encoded record header: key length and value length, one byte each.
const MIN_HEADER_LEN: usize = 2;

/// A record header: a UTF-8 key (never null) and an optional value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    pub key: String,
    pub value: Option<Bytes>,
}

impl Header {
    /// A header with `key` and `value`.
    pub fn new(key: impl Into<String>, value: Option<Bytes>) -> Header {
        Header {
            key: key.into(),
            value,
        }
    }
}

/// One record of a batch. Its offset and timestamp are deltas from the batch header's
/// `base_offset` and `base_timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// Unused by Kafka so far; kept as read.
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
}

impl Record {
    /// The record's offset in a batch starting at `base_offset`.
    pub fn offset(&self, base_offset: i64) -> i64 {
        base_offset.wrapping_add(i64::from(self.offset_delta))
    }

    /// The record's timestamp in a batch whose base timestamp is `base_timestamp`.
    pub fn timestamp(&self, base_timestamp: i64) -> i64 {
        base_timestamp.wrapping_add(self.timestamp_delta)
    }

    /// Size of the encoded record including its length prefix.
    pub fn encoded_len(&self) -> Result<usize, RecordError> {
        self.as_parts().encoded_len()
    }

    /// Appends the encoded record (length prefix included) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        self.as_parts().encode(out)
    }

    fn as_parts(&self) -> RecordParts<'_> {
        RecordParts {
            attributes: self.attributes,
            timestamp_delta: self.timestamp_delta,
            offset_delta: self.offset_delta,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: &self.headers,
        }
    }
}

/// A record's fields borrowed from wherever they live, so the builder can encode without
/// first copying keys and values into a [`Record`].
pub(crate) struct RecordParts<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header],
}

impl RecordParts<'_> {
    pub fn encoded_len(&self) -> Result<usize, RecordError> {
        let body = self.body_len()?;
        // `body_len` checked that it fits an i32.
        Ok(varint_len(body as i32) + body)
    }

    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let body = self.body_len()?;
        // Every length below was checked to fit an i32 by `body_len`.
        out.reserve(varint_len(body as i32) + body);
        write_varint(out, body as i32);
        out.push(self.attributes as u8);
        write_varlong(out, self.timestamp_delta);
        write_varint(out, self.offset_delta);
        write_nullable(out, self.key);
        write_nullable(out, self.value);
        write_varint(out, self.headers.len() as i32);
        for header in self.headers {
            write_varint(out, header.key.len() as i32);
            out.extend_from_slice(header.key.as_bytes());
            write_nullable(out, header.value.as_deref());
        }
        Ok(())
    }

    /// Size of the record after its length prefix; errors if any length (or the total)
    /// does not fit the format's i32.
    fn body_len(&self) -> Result<usize, RecordError> {
        let mut len = 1 // attributes
            + varlong_len(self.timestamp_delta)
            + varint_len(self.offset_delta)
            + nullable_len(self.key)?
            + nullable_len(self.value)?
            + varint_len(to_i32(self.headers.len())?);
        for header in self.headers {
            len += varint_len(to_i32(header.key.len())?)
                + header.key.len()
                + nullable_len(header.value.as_deref())?;
        }
        to_i32(len)?;
        Ok(len)
    }
}

pub(crate) fn to_i32(n: usize) -> Result<i32, RecordError> {
    i32::try_from(n).map_err(|_| RecordError::BatchTooLarge(n))
}

fn nullable_len(bytes: Option<&[u8]>) -> Result<usize, RecordError> {
    match bytes {
        None => Ok(1),
        Some(b) => Ok(varint_len(to_i32(b.len())?) + b.len()),
    }
}

/// Writes a length-prefixed nullable byte string whose length was already checked.
fn write_nullable(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => write_varint(out, -1),
        Some(b) => {
            write_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// A decoded record batch: its header and every record in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    pub header: BatchHeader,
    pub records: Vec<Record>,
}

/// Checks that `batch` is exactly one batch with a valid CRC, codec and record count;
/// returns its header and codec.
pub(crate) fn whole_batch(batch: &[u8]) -> Result<(BatchHeader, Compression), RecordError> {
    let header = BatchHeader::parse(batch)?;
    let total = header.total_len();
    if batch.len() < total {
        return Err(RecordError::Truncated {
            needed: total,
            available: batch.len(),
        });
    }
    if batch.len() > total {
        return Err(RecordError::TrailingBytes {
            remaining: batch.len() - total,
        });
    }
    verify_crc(batch)?;
    let compression = header.compression()?;
    if header.records_count < 0 {
        return Err(RecordError::BadRecordCount(header.records_count));
    }
    Ok((header, compression))
}

impl RecordBatch {
    /// Decodes one whole batch: parses the header, checks the CRC, decompresses the records
    /// producing at most `max_uncompressed` bytes, and decodes every record.
    ///
    /// `batch` must be exactly one batch (`header.total_len()` bytes). Errors rather than
    /// panics on any input; memory use is bounded by the input length plus
    /// `max_uncompressed` (plus codec buffers of constant size, see
    /// [`compression`](super::compression)).
    pub fn decode(batch: &[u8], max_uncompressed: usize) -> Result<RecordBatch, RecordError> {
        let (header, compression) = whole_batch(batch)?;
        let payload = &batch[BATCH_HEADER_LEN..];
        let data = match compression {
            Compression::None => Bytes::copy_from_slice(payload),
            codec => Bytes::from(decompress(codec, payload, max_uncompressed)?),
        };
        let records = decode_records(&data, header.records_count)?;
        Ok(RecordBatch { header, records })
    }

    /// Encodes the batch and appends it to `out`.
    ///
    /// Compresses the records with `header.compression()`, and fills in `batch_length`,
    /// `records_count` and `crc` (ignoring their values in `header`; `magic` is always
    /// written as 2). Every other header field, `last_offset_delta` and `max_timestamp`
    /// included, is written as it is. On error `out` is left as it was.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), RecordError> {
        let start = out.len();
        let result = self.encode_at(out, start);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn encode_at(&self, out: &mut Vec<u8>, start: usize) -> Result<(), RecordError> {
        let compression = self.header.compression()?;
        let count = to_i32(self.records.len())?;
        out.resize(start + BATCH_HEADER_LEN, 0);
        if compression == Compression::None {
            for record in &self.records {
                record.encode(out)?;
            }
        } else {
            let estimate: usize = self
                .records
                .iter()
                .map(|r| {
                    16 + r.key.as_ref().map_or(0, Bytes::len)
                        + r.value.as_ref().map_or(0, Bytes::len)
                })
                .sum();
            let mut raw = Vec::with_capacity(estimate);
            for record in &self.records {
                record.encode(&mut raw)?;
            }
            compress(compression, &raw, out)?;
        }
        finish_batch(out, start, self.header, count)
    }

    /// The offset of the last record (per the header).
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }
}

/// Fills in the header of the batch that starts at `out[start]` and runs to the end of
/// `out`, whose records are already written: length, count, magic and CRC.
pub(crate) fn finish_batch(
    out: &mut [u8],
    start: usize,
    mut header: BatchHeader,
    records_count: i32,
) -> Result<(), RecordError> {
    let total = out.len() - start;
    header.batch_length = to_i32(total - LOG_OVERHEAD)?;
    header.records_count = records_count;
    header.magic = MAGIC_V2;
    header.crc = 0;
    let batch = &mut out[start..];
    header.write(batch);
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Decodes exactly `count` records filling all of `data`.
fn decode_records(data: &Bytes, count: i32) -> Result<Vec<Record>, RecordError> {
    let count = usize::try_from(count).map_err(|_| RecordError::BadRecordCount(count))?;
    // Never trust the count for the allocation: each record takes at least 7 bytes.
    let mut records = Vec::with_capacity(count.min(data.len() / MIN_RECORD_LEN));
    let mut pos = 0;
    while records.len() < count {
        if pos == data.len() {
            return Err(RecordError::RecordCountMismatch {
                header: count as i32,
                actual: records.len(),
            });
        }
        let (record, next) = decode_record(data, pos)?;
        records.push(record);
        pos = next;
    }
    if pos != data.len() {
        return Err(RecordError::TrailingBytes {
            remaining: data.len() - pos,
        });
    }
    Ok(records)
}

/// Decodes the record starting at `data[start]`; returns it and where the next one starts.
fn decode_record(data: &Bytes, start: usize) -> Result<(Record, usize), RecordError> {
    let mut cur = data.get(start..).unwrap_or_default();
    let len = read_varint(&mut cur)?;
    let len = usize::try_from(len).map_err(|_| RecordError::BadRecordLength)?;
    let Some(body) = cur.get(..len) else {
        return Err(RecordError::Truncated {
            needed: len,
            available: cur.len(),
        });
    };
    // Absolute end of the record: positions inside it are `end - remaining.len()`.
    let end = data.len() - cur.len() + len;
    let mut c = body;
    let Some((&attributes, rest)) = c.split_first() else {
        return Err(RecordError::Truncated {
            needed: 1,
            available: 0,
        });
    };
    c = rest;
    let timestamp_delta = read_varlong(&mut c)?;
    let offset_delta = read_varint(&mut c)?;
    let key = read_nullable(data, &mut c, end)?;
    let value = read_nullable(data, &mut c, end)?;
    let header_count = read_varint(&mut c)?;
    let header_count =
        usize::try_from(header_count).map_err(|_| RecordError::BadHeaderCount(header_count))?;
    let mut headers = Vec::with_capacity(header_count.min(c.len() / MIN_HEADER_LEN));
    for _ in 0..header_count {
        let key_len = read_varint(&mut c)?;
        let key_len =
            usize::try_from(key_len).map_err(|_| RecordError::BadHeaderKeyLength(key_len))?;
        let Some((key, rest)) = c.split_at_checked(key_len) else {
            return Err(RecordError::Truncated {
                needed: key_len,
                available: c.len(),
            });
        };
        c = rest;
        let key = std::str::from_utf8(key).map_err(|_| RecordError::InvalidHeaderKey)?;
        let value = read_nullable(data, &mut c, end)?;
        headers.push(Header {
            key: key.to_owned(),
            value,
        });
    }
    if !c.is_empty() {
        return Err(RecordError::BadRecordLength);
    }
    let record = Record {
        attributes: attributes as i8,
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers,
    };
    Ok((record, end))
}

/// Reads a varint length and that many bytes as a slice of `data` (a negative length is
/// null, as Kafka reads it). `c` is a suffix of `data[..end]`.
fn read_nullable(data: &Bytes, c: &mut &[u8], end: usize) -> Result<Option<Bytes>, RecordError> {
    let len = read_varint(c)?;
    let Ok(len) = usize::try_from(len) else {
        return Ok(None);
    };
    if len > c.len() {
        return Err(RecordError::Truncated {
            needed: len,
            available: c.len(),
        });
    }
    let at = end - c.len();
    *c = &c[len..];
    Ok(Some(data.slice(at..at + len)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchIter, TimestampType};
    use proptest::prelude::*;

    fn header(compression: Compression) -> BatchHeader {
        let mut h = BatchHeader {
            base_offset: 100,
            last_offset_delta: 2,
            base_timestamp: 1_600_000_000_000,
            max_timestamp: 1_600_000_000_050,
            producer_id: 5,
            producer_epoch: 1,
            base_sequence: 10,
            partition_leader_epoch: 3,
            ..BatchHeader::default()
        };
        h.set_compression(compression);
        h
    }

    fn records() -> Vec<Record> {
        vec![
            Record {
                attributes: 0,
                timestamp_delta: 0,
                offset_delta: 0,
                key: Some(Bytes::from_static(b"key-1")),
                value: Some(Bytes::from_static(b"value-1 value-1 value-1")),
                headers: vec![],
            },
            Record {
                attributes: 0,
                timestamp_delta: 50,
                offset_delta: 1,
                key: None,
                value: None,
                headers: vec![
                    Header::new("h1", Some(Bytes::from_static(b"v1"))),
                    Header::new("empty", Some(Bytes::new())),
                    Header::new("null", None),
                ],
            },
            Record {
                attributes: 0,
                timestamp_delta: -3,
                offset_delta: 2,
                key: Some(Bytes::new()),
                value: Some(Bytes::from(vec![7u8; 1000])),
                headers: vec![Header::new("ключ", None)],
            },
        ]
    }

    fn encode(batch: &RecordBatch) -> Vec<u8> {
        let mut out = Vec::new();
        batch.encode(&mut out).unwrap();
        out
    }

    /// An uncompressed batch around hand-written record bytes, with a valid CRC.
    fn raw_batch(records: &[u8], count: i32) -> Vec<u8> {
        let mut out = vec![0u8; BATCH_HEADER_LEN];
        out.extend_from_slice(records);
        finish_batch(&mut out, 0, BatchHeader::default(), count).unwrap();
        out
    }

    #[test]
    fn roundtrip_every_codec() {
        for c in Compression::ALL {
            let batch = RecordBatch {
                header: header(c),
                records: records(),
            };
            let bytes = encode(&batch);
            let decoded = RecordBatch::decode(&bytes, 1 << 20).unwrap();
            assert_eq!(decoded.records, batch.records, "{c:?}");
            assert_eq!(decoded.header.compression(), Ok(c));
            assert_eq!(decoded.header.records_count, 3);
            assert_eq!(decoded.header.batch_length as usize, bytes.len() - 12);
            assert_eq!(decoded.header.base_offset, 100);
            assert_eq!(decoded.header.producer_id, 5);
            assert_eq!(decoded.last_offset(), 102);
            assert_eq!(decoded.records[1].offset(100), 101);
            assert_eq!(
                decoded.records[2].timestamp(1_600_000_000_000),
                1_599_999_999_997
            );
            // Re-encoding a decoded batch gives the same bytes.
            assert_eq!(encode(&decoded), bytes, "{c:?}");
        }
    }

    #[test]
    fn uncompressed_layout_is_exact() {
        let batch = RecordBatch {
            header: header(Compression::None),
            records: records(),
        };
        let bytes = encode(&batch);
        let expected: usize = batch.records.iter().map(|r| r.encoded_len().unwrap()).sum();
        assert_eq!(bytes.len(), BATCH_HEADER_LEN + expected);
        // First record: length 34 (zigzag 68), attributes 0, timestamp delta 0, offset
        // delta 0, key length 5 (zigzag 10), "key-1".
        assert_eq!(&bytes[61..68], &[68, 0, 0, 0, 10, b'k', b'e']);
    }

    #[test]
    fn encode_appends_and_leaves_out_intact_on_error() {
        let batch = RecordBatch {
            header: header(Compression::Gzip),
            records: records(),
        };
        let mut out = b"xyz".to_vec();
        batch.encode(&mut out).unwrap();
        assert_eq!(&out[..3], b"xyz");
        assert_eq!(
            RecordBatch::decode(&out[3..], 1 << 20).unwrap().records,
            batch.records
        );

        let mut bad = batch;
        bad.header.attributes = 6;
        let mut out = b"xyz".to_vec();
        assert_eq!(
            bad.encode(&mut out),
            Err(RecordError::UnknownCompression(6))
        );
        assert_eq!(out, b"xyz");
    }

    #[test]
    fn empty_batch() {
        for c in Compression::ALL {
            let batch = RecordBatch {
                header: header(c),
                records: vec![],
            };
            let bytes = encode(&batch);
            assert_eq!(
                RecordBatch::decode(&bytes, 0).unwrap().records,
                vec![],
                "{c:?}"
            );
        }
    }

    #[test]
    fn truncation_at_every_byte_is_an_error() {
        for c in Compression::ALL {
            let batch = RecordBatch {
                header: header(c),
                records: records(),
            };
            let bytes = encode(&batch);
            for cut in 0..bytes.len() {
                let prefix = &bytes[..cut];
                assert!(RecordBatch::decode(prefix, 1 << 20).is_err(), "{c:?} {cut}");
                let mut iter = BatchIter::new(prefix);
                if cut > 0 {
                    assert!(matches!(iter.next(), Some(Err(_))), "{c:?} {cut}");
                }
                assert!(iter.next().is_none());
            }
        }
    }

    #[test]
    fn truncated_records_with_fixed_up_length_and_crc() {
        // Cut the records section but keep the header consistent, so the record decoder
        // (not the length or CRC check) has to notice.
        let batch = RecordBatch {
            header: header(Compression::None),
            records: records(),
        };
        let bytes = encode(&batch);
        for cut in BATCH_HEADER_LEN..bytes.len() {
            let short = raw_batch(&bytes[BATCH_HEADER_LEN..cut], 3);
            assert!(RecordBatch::decode(&short, 1 << 20).is_err(), "{cut}");
        }
    }

    #[test]
    fn decode_errors() {
        // One minimal record: len 6, attrs, ts 0, offset 0, null key, null value, 0 headers.
        let rec = [12u8, 0, 0, 0, 1, 1, 0];
        assert_eq!(
            RecordBatch::decode(&raw_batch(&rec, 1), 100)
                .unwrap()
                .records
                .len(),
            1
        );
        assert_eq!(
            RecordBatch::decode(&raw_batch(&rec, 2), 100),
            Err(RecordError::RecordCountMismatch {
                header: 2,
                actual: 1
            })
        );
        assert_eq!(
            RecordBatch::decode(&raw_batch(&rec, 0), 100),
            Err(RecordError::TrailingBytes { remaining: 7 })
        );
        assert_eq!(
            RecordBatch::decode(&raw_batch(&rec, -1), 100),
            Err(RecordError::BadRecordCount(-1))
        );
        // A huge count must not allocate for it.
        assert!(matches!(
            RecordBatch::decode(&raw_batch(&rec, i32::MAX), 100),
            Err(RecordError::RecordCountMismatch { .. })
        ));
        // Negative record length.
        assert_eq!(
            RecordBatch::decode(&raw_batch(&[1, 0, 0, 0, 1, 1, 0], 1), 100),
            Err(RecordError::BadRecordLength)
        );
        // Length says 7 but the fields take 6 (plus one extra byte inside the record).
        assert_eq!(
            RecordBatch::decode(&raw_batch(&[14, 0, 0, 0, 1, 1, 0, 0], 1), 100),
            Err(RecordError::BadRecordLength)
        );
        // Length says 5 but the fields need 6.
        assert!(matches!(
            RecordBatch::decode(&raw_batch(&[10, 0, 0, 0, 1, 1, 0], 1), 100),
            Err(RecordError::Truncated { .. })
        ));
        // Negative header count.
        assert_eq!(
            RecordBatch::decode(&raw_batch(&[12, 0, 0, 0, 1, 1, 1], 1), 100),
            Err(RecordError::BadHeaderCount(-1))
        );
        // Header with a null key.
        assert_eq!(
            RecordBatch::decode(&raw_batch(&[16, 0, 0, 0, 1, 1, 2, 1, 1], 1), 100),
            Err(RecordError::BadHeaderKeyLength(-1))
        );
        // Header key that is not UTF-8.
        assert_eq!(
            RecordBatch::decode(&raw_batch(&[18, 0, 0, 0, 1, 1, 2, 2, 0xff, 1], 1), 100),
            Err(RecordError::InvalidHeaderKey)
        );
        // A huge header count must not allocate for it (it runs out of bytes).
        assert!(matches!(
            RecordBatch::decode(
                &raw_batch(&[20, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f], 1),
                100
            ),
            Err(RecordError::Truncated { .. })
        ));
        // Overlong varint for the timestamp delta.
        let mut overlong = vec![30u8, 0];
        overlong.extend_from_slice(&[0x80; 11]);
        overlong.extend_from_slice(&[0, 1, 1, 0]);
        assert_eq!(
            RecordBatch::decode(&raw_batch(&overlong, 1), 100),
            Err(RecordError::BadVarint)
        );
        // Any negative key length is a null key, as in Kafka.
        let b = RecordBatch::decode(&raw_batch(&[12, 0, 0, 0, 3, 1, 0], 1), 100).unwrap();
        assert_eq!(b.records[0].key, None);
        // Bytes after the batch.
        let mut long = raw_batch(&rec, 1);
        long.push(0);
        assert_eq!(
            RecordBatch::decode(&long, 100),
            Err(RecordError::TrailingBytes { remaining: 1 })
        );
        // Unknown codec and bad CRC.
        let mut bad = raw_batch(&rec, 1);
        bad[ATTRIBUTES_OFFSET + 1] = 5;
        let crc = compute_crc(&bad);
        bad[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            RecordBatch::decode(&bad, 100),
            Err(RecordError::UnknownCompression(5))
        );
        bad[65] ^= 1;
        assert!(matches!(
            RecordBatch::decode(&bad, 100),
            Err(RecordError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn decompression_limit_applies() {
        let batch = RecordBatch {
            header: header(Compression::Zstd),
            records: records(),
        };
        let bytes = encode(&batch);
        assert!(matches!(
            RecordBatch::decode(&bytes, 100),
            Err(RecordError::TooLarge { limit: 100 })
        ));
    }

    #[test]
    fn header_flags_survive() {
        let mut h = header(Compression::Lz4);
        h.set_transactional(true);
        h.set_timestamp_type(TimestampType::LogAppendTime);
        h.set_delete_horizon(Some(1_600_000_000_000));
        let bytes = encode(&RecordBatch {
            header: h,
            records: records(),
        });
        let d = RecordBatch::decode(&bytes, 1 << 20).unwrap();
        assert!(d.header.is_transactional());
        assert!(d.header.has_delete_horizon());
        assert_eq!(d.header.timestamp_type(), TimestampType::LogAppendTime);
    }

    fn opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
        prop_oneof![
            1 => Just(None),
            4 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| Some(Bytes::from(v))),
        ]
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        (
            any::<i8>(),
            any::<i64>(),
            any::<i32>(),
            opt_bytes(),
            opt_bytes(),
            proptest::collection::vec((".{0,12}", opt_bytes()), 0..4),
        )
            .prop_map(
                |(attributes, timestamp_delta, offset_delta, key, value, headers)| Record {
                    attributes,
                    timestamp_delta,
                    offset_delta,
                    key,
                    value,
                    headers: headers
                        .into_iter()
                        .map(|(key, value)| Header { key, value })
                        .collect(),
                },
            )
    }

    fn arb_header() -> impl Strategy<Value = BatchHeader> {
        (
            any::<i64>(),
            any::<i32>(),
            (0i16..5, any::<bool>(), any::<bool>(), any::<bool>()),
            any::<i32>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any::<i16>(),
            any::<i32>(),
        )
            .prop_map(
                |(
                    base_offset,
                    partition_leader_epoch,
                    (codec, ts_type, transactional, control),
                    last_offset_delta,
                    base_timestamp,
                    max_timestamp,
                    producer_id,
                    producer_epoch,
                    base_sequence,
                )| {
                    let mut h = BatchHeader {
                        base_offset,
                        partition_leader_epoch,
                        last_offset_delta,
                        base_timestamp,
                        max_timestamp,
                        producer_id,
                        producer_epoch,
                        base_sequence,
                        attributes: codec,
                        ..BatchHeader::default()
                    };
                    h.set_transactional(transactional);
                    h.set_control(control);
                    if ts_type {
                        h.set_timestamp_type(TimestampType::LogAppendTime);
                    }
                    h
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn prop_roundtrip(header in arb_header(), records in proptest::collection::vec(arb_record(), 0..20)) {
            let batch = RecordBatch { header, records };
            let bytes = encode(&batch);
            let decoded = RecordBatch::decode(&bytes, 1 << 20).unwrap();
            prop_assert_eq!(&decoded.records, &batch.records);
            let mut expected = batch.header;
            expected.batch_length = (bytes.len() - 12) as i32;
            expected.records_count = batch.records.len() as i32;
            expected.crc = decoded.header.crc;
            prop_assert_eq!(decoded.header, expected);
            let mut iter = BatchIter::new(&bytes);
            let (h, whole) = iter.next().unwrap().unwrap();
            prop_assert_eq!(h, decoded.header);
            prop_assert_eq!(whole, &bytes[..]);
            prop_assert!(iter.next().is_none());
        }

        #[test]
        fn prop_mutations_never_panic(
            codec in 0i16..5,
            records in proptest::collection::vec(arb_record(), 1..5),
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let header = BatchHeader { attributes: codec, ..BatchHeader::default() };
            let mut bytes = encode(&RecordBatch { header, records });
            for (index, byte) in flips {
                let i = index.index(bytes.len());
                bytes[i] = byte;
            }
            let _ = RecordBatch::decode(&bytes, 1 << 16);
            // Also with the CRC fixed up, so the record decoder sees the damage.
            let crc = compute_crc(&bytes);
            bytes[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
            let _ = RecordBatch::decode(&bytes, 1 << 16);
        }
    }
}
