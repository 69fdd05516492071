//! Walking a buffer of concatenated batches without decoding their records.

use std::iter::FusedIterator;

use super::{BatchHeader, RecordError};

/// Iterates the whole batches in a buffer of concatenated batches (a log segment, a
/// produce request's records, a fetch response), yielding each batch's header and bytes.
///
/// Checks each header (magic, length) and that the batch is complete, but neither the CRC
/// nor the records. On a truncated or bad batch it yields one error and then stops;
/// [`position`](BatchIter::position) then tells where the valid prefix ends (what log
/// recovery truncates to).
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    /// Iterates the batches in `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            buf,
            pos: 0,
            failed: false,
        }
    }

    /// Bytes taken by the batches yielded so far: where the next batch starts.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes not yet yielded (after an error: the bad batch and everything after it).
    pub fn remaining(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(BatchHeader, &'a [u8]), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.remaining();
        if self.failed || rest.is_empty() {
            return None;
        }
        let header = match BatchHeader::parse(rest) {
            Ok(header) => header,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let total = header.total_len();
        let Some(batch) = rest.get(..total) else {
            self.failed = true;
            return Some(Err(RecordError::Truncated {
                needed: total,
                available: rest.len(),
            }));
        };
        self.pos += total;
        Some(Ok((header, batch)))
    }
}

impl FusedIterator for BatchIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression, RecordBatch};

    fn batch(base_offset: i64, n: usize) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None, 1000);
        for i in 0..n {
            b.append(1000 + i as i64, None, Some(format!("v{i}").as_bytes()), &[]);
        }
        b.build(base_offset)
    }

    #[test]
    fn walks_concatenated_batches() {
        let mut buf = batch(0, 3);
        let first_len = buf.len();
        buf.extend(batch(3, 1));
        buf.extend(batch(4, 5));
        let got: Vec<_> = BatchIter::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0.base_offset, 0);
        assert_eq!(got[0].0.last_offset(), 2);
        assert_eq!(got[0].1.len(), first_len);
        assert_eq!(got[2].0.records_count, 5);
        for (_, bytes) in &got {
            RecordBatch::decode(bytes, 1 << 20).unwrap();
        }
        assert_eq!(BatchIter::new(&[]).count(), 0);
    }

    #[test]
    fn stops_at_a_torn_tail() {
        let mut buf = batch(0, 3);
        let valid = buf.len();
        buf.extend(&batch(3, 2)[..30]);
        let mut iter = BatchIter::new(&buf);
        assert!(iter.next().unwrap().is_ok());
        assert_eq!(iter.position(), valid);
        assert!(matches!(
            iter.next(),
            Some(Err(RecordError::Truncated {
                needed: 61,
                available: 30
            }))
        ));
        assert!(iter.next().is_none());
        assert_eq!(iter.position(), valid);
        assert_eq!(iter.remaining().len(), 30);

        // A complete header whose batch runs past the end.
        let mut buf = batch(0, 3);
        buf.truncate(buf.len() - 1);
        let mut iter = BatchIter::new(&buf);
        assert!(matches!(
            iter.next(),
            Some(Err(RecordError::Truncated { .. }))
        ));
        assert!(iter.next().is_none());
    }

    #[test]
    fn stops_at_a_bad_header() {
        let mut buf = batch(0, 1);
        buf.extend(batch(1, 1));
        let second = buf.len() / 2;
        buf[second + 16] = 1; // magic
        let items: Vec<_> = BatchIter::new(&buf).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(items[1], Err(RecordError::BadMagic(1)));
    }
}
