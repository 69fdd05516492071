//! [`ConsumerRecord`], what `poll` returns, and the decoding of the record batches of one
//! fetched partition into them.

use std::collections::BTreeMap;

use brook_protocol::messages::fetch_response::AbortedTransaction;
use brook_protocol::record::{
    BatchIter, ControlRecord, ControlRecordType, Header, RecordBatch, RecordError, TimestampType,
};
use bytes::Bytes;

use crate::producer::{Deserializer, SerdeError};

/// One record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the epoch; what [`timestamp_type`](Self::timestamp_type) says.
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<Header>,
    /// The leader epoch of the batch, `None` if the batch has none (-1).
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// The key and value decoded with the given deserializers (a null field is `None`).
    pub fn deserialize<K, V>(
        &self,
        key: &impl Deserializer<K>,
        value: &impl Deserializer<V>,
    ) -> Result<(Option<K>, Option<V>), SerdeError> {
        Ok((
            key.deserialize_nullable(&self.topic, self.key.as_deref())?,
            value.deserialize_nullable(&self.topic, self.value.as_deref())?,
        ))
    }
}

/// The records of one fetched partition, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodedRecords {
    pub records: Vec<ConsumerRecord>,
    /// The offset after the last whole batch seen (control and skipped batches included):
    /// where the next fetch starts once `records` are consumed. `fetch_offset` if none.
    pub next_offset: i64,
}

/// Decodes the concatenated batches of a fetched partition, keeping the records at or after
/// `fetch_offset`. A batch cut short at the end of the data (the broker stops at the byte
/// limit) ends the data; a corrupt batch (CRC, codec, record framing) is an error.
/// `aborted` is the fetch response's aborted transactions under `read_committed` (`None`
/// under `read_uncommitted`): their records are dropped up to the ABORT marker. Control
/// batches are never returned.
pub(crate) fn decode_partition(
    topic: &str,
    partition: i32,
    fetch_offset: i64,
    data: &[u8],
    aborted: Option<&[AbortedTransaction]>,
    max_uncompressed: usize,
) -> Result<DecodedRecords, RecordError> {
    let mut out = DecodedRecords {
        records: Vec::new(),
        next_offset: fetch_offset,
    };
    // Aborted transactions not yet started, by first offset; and producers whose open
    // transaction is aborted.
    let mut pending: Vec<(i64, i64)> = aborted
        .unwrap_or_default()
        .iter()
        .map(|a| (a.first_offset, a.producer_id))
        .collect();
    pending.sort_unstable();
    pending.reverse();
    let mut aborting: BTreeMap<i64, ()> = BTreeMap::new();
    let read_committed = aborted.is_some();

    // One budget of decompressed bytes for the whole partition, so a response of many
    // small compressed batches cannot expand without bound; the first batch always gets the
    // full limit, and a batch that does not fit waits for the next fetch.
    let mut remaining = max_uncompressed;
    let mut iter = BatchIter::new(data);
    for item in iter.by_ref() {
        let (header, bytes) = match item {
            Ok(b) => b,
            Err(RecordError::Truncated { .. }) => break,
            Err(e) => return Err(e),
        };
        if header.next_offset() <= fetch_offset {
            continue;
        }
        if read_committed {
            while pending
                .last()
                .is_some_and(|(first, _)| *first <= header.last_offset())
            {
                if let Some((_, pid)) = pending.pop() {
                    aborting.insert(pid, ());
                }
            }
        }
        let first = out.next_offset == fetch_offset;
        let limit = if first { max_uncompressed } else { remaining };
        let batch = match RecordBatch::decode(bytes, limit) {
            Err(RecordError::TooLarge { .. }) if !first => break,
            decoded => decoded?,
        };
        let size: usize = batch
            .records
            .iter()
            .map(|r| {
                r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())
            })
            .sum();
        remaining = remaining.saturating_sub(size);
        out.next_offset = out.next_offset.max(header.next_offset());
        if header.is_control() {
            if read_committed {
                for r in &batch.records {
                    if let Ok(c) = ControlRecord::from_record(r) {
                        if c.kind == ControlRecordType::Abort {
                            aborting.remove(&header.producer_id);
                        }
                    }
                }
            }
            continue;
        }
        if read_committed && header.is_transactional() && aborting.contains_key(&header.producer_id)
        {
            continue;
        }
        let log_append = header.timestamp_type() == TimestampType::LogAppendTime;
        let leader_epoch =
            (header.partition_leader_epoch >= 0).then_some(header.partition_leader_epoch);
        for r in batch.records {
            let offset = r.offset(header.base_offset);
            if offset < fetch_offset {
                continue;
            }
            out.records.push(ConsumerRecord {
                topic: topic.to_owned(),
                partition,
                offset,
                timestamp: if log_append {
                    header.max_timestamp
                } else {
                    r.timestamp(header.base_timestamp)
                },
                timestamp_type: header.timestamp_type(),
                key: r.key,
                value: r.value,
                headers: r.headers,
                leader_epoch,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_protocol::record::{BatchBuilder, Compression};

    fn batch(base: i64, n: usize, compression: Compression) -> Vec<u8> {
        let mut b = BatchBuilder::new(compression, 1000);
        for i in 0..n {
            let k = format!("k{}", base + i as i64);
            b.append(1000 + i as i64, Some(k.as_bytes()), Some(b"v"), &[]);
        }
        b.build(base)
    }

    #[test]
    fn skips_earlier_records_and_stops_at_a_cut_batch() {
        let mut data = batch(0, 5, Compression::Lz4);
        data.extend(batch(5, 5, Compression::Zstd));
        let third = batch(10, 5, Compression::None);
        data.extend(&third[..third.len() - 3]);
        let d = decode_partition("t", 0, 3, &data, None, 1 << 20).unwrap();
        let offsets: Vec<i64> = d.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(d.next_offset, 10);
        assert_eq!(d.records[0].key.as_deref(), Some(&b"k3"[..]));
        assert_eq!(d.records[0].timestamp, 1003);
    }

    #[test]
    fn a_response_expands_within_one_budget() {
        // Three gzip batches of 200 records; the budget fits about one batch's records.
        let mut data = Vec::new();
        for base in [0, 200, 400] {
            data.extend(batch(base, 200, Compression::Gzip));
        }
        let budget = 3000;
        let d = decode_partition("t", 0, 0, &data, None, budget).unwrap();
        assert_eq!(d.records.len(), 200, "the first batch always decodes whole");
        assert_eq!(d.next_offset, 200, "the rest waits for the next fetch");
        let d = decode_partition("t", 0, 200, &data, None, budget).unwrap();
        assert_eq!(d.records.first().map(|r| r.offset), Some(200));
    }

    #[test]
    fn corrupt_batch_is_an_error() {
        let mut data = batch(0, 3, Compression::Gzip);
        let last = data.len() - 1;
        data[last] ^= 0xff;
        assert!(decode_partition("t", 0, 0, &data, None, 1 << 20).is_err());
    }

    #[test]
    fn read_committed_drops_aborted_transactions() {
        let pid = 7;
        let mut txn = BatchBuilder::new(Compression::None, 0)
            .producer_id(pid)
            .producer_epoch(0)
            .base_sequence(0)
            .transactional(true);
        txn.append(0, None, Some(b"aborted"), &[]);
        let mut data = txn.build(0);
        let mut marker = BatchBuilder::new(Compression::None, 0)
            .producer_id(pid)
            .producer_epoch(0)
            .transactional(true)
            .control(true);
        marker.append_control(
            0,
            &ControlRecord {
                kind: ControlRecordType::Abort,
                coordinator_epoch: 0,
            },
        );
        data.extend(marker.build(1));
        data.extend(batch(2, 1, Compression::Snappy));
        let aborted = [AbortedTransaction {
            producer_id: pid,
            first_offset: 0,
        }];
        let d = decode_partition("t", 0, 0, &data, Some(&aborted), 1 << 20).unwrap();
        assert_eq!(d.records.len(), 1);
        assert_eq!(d.records[0].offset, 2);
        assert_eq!(d.next_offset, 3);
        // read_uncommitted sees the aborted record, never the marker.
        let d = decode_partition("t", 0, 0, &data, None, 1 << 20).unwrap();
        assert_eq!(
            d.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![0, 2]
        );
    }
}
