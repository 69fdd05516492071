//! Checks a batch's records without building them, as a broker does before it appends:
//! every record parses, the records fill the (decompressed) payload exactly, their number
//! matches `recordsCount`, and their offset deltas run 0, 1, 2, ... (Kafka's LogValidator
//! refuses the same batches). Nothing is allocated per record; a compressed batch is
//! decompressed once, up to a caller-given limit.

use super::batch::whole_batch;
use super::compression::decompress;
use super::header::BATCH_HEADER_LEN;
use super::varint::{read_varint, read_varlong};
use super::{Compression, RecordError};

/// What [`check_records`] learned about the records of a valid batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsSummary {
    /// The number of records (equal to the header's `recordsCount`).
    pub count: usize,
    /// The index of the first record without a key, if any (a compacted topic requires
    /// keys).
    pub first_unkeyed: Option<usize>,
}

/// Checks one whole batch (`header.total_len()` bytes, CRC included).
pub fn check_records(batch: &[u8], max_uncompressed: usize) -> Result<RecordsSummary, RecordError> {
    let (header, compression) = whole_batch(batch)?;
    let payload = &batch[BATCH_HEADER_LEN..];
    match compression {
        Compression::None => walk(payload, header.records_count),
        codec => walk(
            &decompress(codec, payload, max_uncompressed)?,
            header.records_count,
        ),
    }
}

fn walk(data: &[u8], count: i32) -> Result<RecordsSummary, RecordError> {
    let expected = usize::try_from(count).map_err(|_| RecordError::BadRecordCount(count))?;
    let mut c = data;
    let mut first_unkeyed = None;
    for n in 0..expected {
        if c.is_empty() {
            return Err(RecordError::RecordCountMismatch {
                header: count,
                actual: n,
            });
        }
        let len = read_varint(&mut c)?;
        let len = usize::try_from(len).map_err(|_| RecordError::BadRecordLength)?;
        let Some((mut body, rest)) = c.split_at_checked(len) else {
            return Err(RecordError::Truncated {
                needed: len,
                available: c.len(),
            });
        };
        c = rest;
        // attributes
        body = body.get(1..).ok_or(RecordError::Truncated {
            needed: 1,
            available: 0,
        })?;
        read_varlong(&mut body)?;
        let delta = read_varint(&mut body)?;
        if i64::from(delta) != n as i64 {
            return Err(RecordError::OffsetDeltaMismatch {
                expected: n as i64,
                actual: delta,
            });
        }
        if skip_nullable(&mut body)?.is_none() && first_unkeyed.is_none() {
            first_unkeyed = Some(n);
        }
        skip_nullable(&mut body)?;
        let headers = read_varint(&mut body)?;
        let headers = usize::try_from(headers).map_err(|_| RecordError::BadHeaderCount(headers))?;
        // Each header takes at least two bytes, so a hostile count ends with the input.
        for _ in 0..headers {
            let key_len = read_varint(&mut body)?;
            let key_len =
                usize::try_from(key_len).map_err(|_| RecordError::BadHeaderKeyLength(key_len))?;
            let Some((key, rest)) = body.split_at_checked(key_len) else {
                return Err(RecordError::Truncated {
                    needed: key_len,
                    available: body.len(),
                });
            };
            std::str::from_utf8(key).map_err(|_| RecordError::InvalidHeaderKey)?;
            body = rest;
            skip_nullable(&mut body)?;
        }
        if !body.is_empty() {
            return Err(RecordError::BadRecordLength);
        }
    }
    if !c.is_empty() {
        return Err(RecordError::TrailingBytes { remaining: c.len() });
    }
    Ok(RecordsSummary {
        count: expected,
        first_unkeyed,
    })
}

/// Skips a varint-length byte string; `None` for a null one (negative length).
fn skip_nullable<'a>(c: &mut &'a [u8]) -> Result<Option<&'a [u8]>, RecordError> {
    let len = read_varint(c)?;
    let Ok(len) = usize::try_from(len) else {
        return Ok(None);
    };
    let Some((bytes, rest)) = c.split_at_checked(len) else {
        return Err(RecordError::Truncated {
            needed: len,
            available: c.len(),
        });
    };
    *c = rest;
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, RecordBatch};
    use proptest::prelude::*;

    fn batch(compression: Compression, keys: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = BatchBuilder::new(compression, 1000);
        for (i, k) in keys.iter().enumerate() {
            b.append(1000 + i as i64, *k, Some(b"value"), &[]);
        }
        b.build(0)
    }

    #[test]
    fn valid_batches_pass_with_every_codec() {
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let s = check_records(&batch(c, &[Some(b"a"), Some(b"b")]), 1 << 20).unwrap();
            assert_eq!(
                s,
                RecordsSummary {
                    count: 2,
                    first_unkeyed: None
                },
                "{c:?}"
            );
            let s = check_records(&batch(c, &[Some(b"a"), None, None]), 1 << 20).unwrap();
            assert_eq!(s.first_unkeyed, Some(1));
        }
    }

    proptest! {
        /// The check agrees with the full decoder: whatever the bytes, both accept or both
        /// refuse (the full decoder does not check offset deltas, so those are kept valid).
        #[test]
        fn agrees_with_the_decoder(flip in 61usize..200, byte in any::<u8>(), cut in 0usize..200) {
            let good = batch(Compression::None, &[Some(b"key-1"), None, Some(b"k3")]);
            let mut bad = good.clone();
            if flip < bad.len() {
                bad[flip] ^= byte;
            }
            bad.truncate(cut.max(61).min(bad.len()));
            // Keep the CRC right so the records themselves are what is tested.
            let crc = crate::record::compute_crc(&bad[crate::record::ATTRIBUTES_OFFSET..]);
            if bad.len() >= crate::record::CRC_OFFSET + 4 {
                bad[crate::record::CRC_OFFSET..crate::record::CRC_OFFSET + 4]
                    .copy_from_slice(&crc.to_be_bytes());
            }
            let full = RecordBatch::decode(&bad, 1 << 20);
            let quick = check_records(&bad, 1 << 20);
            match (&full, &quick) {
                (Ok(b), Ok(s)) => prop_assert_eq!(b.records.len(), s.count),
                (Ok(b), Err(RecordError::OffsetDeltaMismatch { .. })) => {
                    prop_assert!(b.records.iter().enumerate().any(|(i, r)| r.offset_delta as usize != i));
                }
                (Ok(_), Err(e)) => prop_assert!(false, "the check refused a decodable batch: {e}"),
                (Err(e), Ok(_)) => prop_assert!(false, "the check accepted an undecodable batch: {e}"),
                (Err(_), Err(_)) => {}
            }
        }
    }
}
