//! Requests encoded as byte segments instead of one buffer: the record batches of a
//! Produce request are referenced, not copied, so a client writes them to the socket
//! straight from the producer's buffers (a vectored write). Everything else is encoded into
//! small buffers between them. Concatenated, the segments are exactly what
//! [`ProduceRequest::encode`] writes (tested below against it).

use bytes::Bytes;

use super::codec::{
    put_array_len, put_i16, put_i32, put_opt_bytes, put_opt_str, put_uvarint, EncodeError,
};
use super::ProduceRequest;

/// Record batches smaller than this are copied with the rest: a segment of their own would
/// cost more than the copy.
const REFERENCE_AT_LEAST: usize = 4096;

impl ProduceRequest {
    /// Encodes the body in `version` after the bytes already in `head` (a frame length and
    /// request header, say), as segments: `head` continued up to the first large record
    /// batch, the batch itself (a clone of its `Bytes`, no copy), the bytes up to the next,
    /// and so on.
    pub fn encode_segmented(
        &self,
        version: i16,
        mut head: Vec<u8>,
    ) -> Result<Vec<Bytes>, EncodeError> {
        if !(0..=11).contains(&version) {
            return Err(EncodeError::UnsupportedVersion {
                message: "ProduceRequest",
                version,
            });
        }
        let flexible = version >= 9;
        let mut segments = Vec::new();
        if version >= 3 {
            put_opt_str(&mut head, self.transactional_id.as_deref(), flexible)?;
        } else if self.transactional_id.is_some() {
            return Err(EncodeError::UnsupportedField {
                field: "TransactionalId",
                version,
            });
        }
        put_i16(&mut head, self.acks);
        put_i32(&mut head, self.timeout_ms);
        put_array_len(&mut head, self.topic_data.len(), flexible)?;
        for t in &self.topic_data {
            super::codec::put_str(&mut head, &t.name, flexible)?;
            put_array_len(&mut head, t.partition_data.len(), flexible)?;
            for p in &t.partition_data {
                put_i32(&mut head, p.index);
                match &p.records {
                    Some(r) if r.len() >= REFERENCE_AT_LEAST => {
                        // A bytes length prefix is written as an array's.
                        put_array_len(&mut head, r.len(), flexible)?;
                        segments.push(Bytes::from(std::mem::take(&mut head)));
                        segments.push(r.clone());
                    }
                    other => put_opt_bytes(&mut head, other.as_deref(), flexible)?,
                }
                if flexible {
                    put_uvarint(&mut head, 0);
                }
            }
            if flexible {
                put_uvarint(&mut head, 0);
            }
        }
        if flexible {
            put_uvarint(&mut head, 0);
        }
        if !head.is_empty() || segments.is_empty() {
            segments.push(Bytes::from(head));
        }
        Ok(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::produce_request::{PartitionProduceData, TopicProduceData};

    fn request(sizes: &[&[Option<usize>]], txn: bool) -> ProduceRequest {
        ProduceRequest {
            transactional_id: txn.then(|| "t-1".to_owned()),
            acks: -1,
            timeout_ms: 3000,
            topic_data: sizes
                .iter()
                .enumerate()
                .map(|(i, parts)| TopicProduceData {
                    name: format!("topic-{i}"),
                    partition_data: parts
                        .iter()
                        .enumerate()
                        .map(|(p, size)| PartitionProduceData {
                            index: p as i32,
                            records: size
                                .map(|n| Bytes::from((0..n).map(|b| b as u8).collect::<Vec<u8>>())),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn segments_concatenate_to_the_plain_encoding() {
        let shapes: [&[&[Option<usize>]]; 5] = [
            &[],
            &[&[Some(10)]],
            &[
                &[Some(100_000), None, Some(5000)],
                &[Some(4096), Some(4095)],
            ],
            &[&[], &[Some(1 << 20)]],
            &[&[None]],
        ];
        for version in 3..=11 {
            for shape in shapes {
                for txn in [false, true] {
                    let r = request(shape, txn);
                    let mut plain = vec![9, 9];
                    r.encode(version, &mut plain).unwrap();
                    let segments = r.encode_segmented(version, vec![9, 9]).unwrap();
                    let joined: Vec<u8> = segments.iter().flat_map(|s| s.iter().copied()).collect();
                    assert_eq!(joined, plain, "v{version} {shape:?}");
                    // Every large batch is its own segment, sharing the request's memory.
                    for t in &r.topic_data {
                        for p in &t.partition_data {
                            if let Some(b) =
                                p.records.as_ref().filter(|b| b.len() >= REFERENCE_AT_LEAST)
                            {
                                assert!(segments.iter().any(|s| s.as_ptr() == b.as_ptr()));
                            }
                        }
                    }
                }
            }
        }
        assert!(request(&[], true).encode_segmented(2, Vec::new()).is_err());
        assert!(request(&[], false)
            .encode_segmented(12, Vec::new())
            .is_err());
    }
}
