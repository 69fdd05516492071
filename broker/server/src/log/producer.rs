//! Idempotent-producer state of one partition: for every producer id, its epoch and the
//! sequence ranges of its last five batches (Kafka keeps five, matching
//! `max.in.flight.requests.per.connection <= 5`). Appends are checked against it so that a
//! retried batch is acknowledged with its original offset instead of being written twice,
//! and a gap or a stale epoch is refused.
//!
//! The state is snapshotted to `producer-state` when the log is flushed or closed and, on
//! open, rebuilt from the snapshot plus the batch headers after it (as Kafka does with its
//! `.snapshot` files), so no headers before the snapshot are read.

use std::collections::{HashMap, VecDeque};

use brook_protocol::record::BatchHeader;

/// Batches remembered per producer for duplicate detection.
const REMEMBERED: usize = 5;

/// Why a producer's batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error("producer {producer_id} epoch {epoch} is older than the current epoch {current}")]
    StaleEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("producer {producer_id}: sequence {got} does not follow {last}")]
    OutOfOrder {
        producer_id: i64,
        got: i32,
        last: i32,
    },
    #[error("producer {producer_id} is unknown to this partition and its first sequence is {got}, not 0")]
    UnknownProducer { producer_id: i64, got: i32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchSeq {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Producer {
    epoch: i16,
    batches: VecDeque<BatchSeq>,
}

/// What an idempotent batch is, relative to the producer's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    /// New and in order: append it.
    Append,
    /// Already appended at this first offset: acknowledge again, write nothing.
    Duplicate { first_offset: i64 },
}

/// The producer state of one partition, as of `next_offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerState {
    producers: HashMap<i64, Producer>,
    /// Every batch below this offset has been applied.
    pub next_offset: i64,
}

fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

/// The last sequence number of a batch (sequences wrap after `i32::MAX`).
pub fn last_seq(h: &BatchHeader) -> i32 {
    ((i64::from(h.base_sequence) + i64::from(h.last_offset_delta)) % (i64::from(i32::MAX) + 1))
        as i32
}

impl ProducerState {
    /// No producers, with nothing applied below `next_offset`.
    pub fn starting_at(next_offset: i64) -> ProducerState {
        ProducerState {
            producers: HashMap::new(),
            next_offset,
        }
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Checks an idempotent batch (producer id >= 0) before it is appended.
    pub fn check(&self, h: &BatchHeader) -> Result<SeqCheck, ProducerError> {
        let (pid, epoch, first) = (h.producer_id, h.producer_epoch, h.base_sequence);
        let Some(p) = self.producers.get(&pid) else {
            return if first == 0 {
                Ok(SeqCheck::Append)
            } else {
                Err(ProducerError::UnknownProducer {
                    producer_id: pid,
                    got: first,
                })
            };
        };
        if epoch < p.epoch {
            return Err(ProducerError::StaleEpoch {
                producer_id: pid,
                epoch,
                current: p.epoch,
            });
        }
        if epoch > p.epoch {
            // A bumped epoch starts its sequences again at 0.
            return if first == 0 {
                Ok(SeqCheck::Append)
            } else {
                Err(ProducerError::OutOfOrder {
                    producer_id: pid,
                    got: first,
                    last: -1,
                })
            };
        }
        let last = last_seq(h);
        if let Some(b) = p
            .batches
            .iter()
            .find(|b| b.first_seq == first && b.last_seq == last)
        {
            return Ok(SeqCheck::Duplicate {
                first_offset: b.first_offset,
            });
        }
        match p.batches.back() {
            Some(b) if first != next_seq(b.last_seq) => Err(ProducerError::OutOfOrder {
                producer_id: pid,
                got: first,
                last: b.last_seq,
            }),
            _ => Ok(SeqCheck::Append),
        }
    }

    /// Records a batch that is in the log (appended now, or found while rebuilding).
    pub fn apply(&mut self, h: &BatchHeader) {
        self.next_offset = self.next_offset.max(h.last_offset() + 1);
        if h.producer_id < 0 || h.is_control() {
            return;
        }
        let p = self.producers.entry(h.producer_id).or_insert(Producer {
            epoch: h.producer_epoch,
            batches: VecDeque::new(),
        });
        if h.producer_epoch > p.epoch {
            p.epoch = h.producer_epoch;
            p.batches.clear();
        }
        if p.batches.len() == REMEMBERED {
            p.batches.pop_front();
        }
        p.batches.push_back(BatchSeq {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            first_offset: h.base_offset,
        });
    }

    /// The snapshot: `next_offset`, then each producer (id, epoch, batches), CRC32C last.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&self.next_offset.to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        for (pid, p) in &self.producers {
            out.extend_from_slice(&pid.to_be_bytes());
            out.extend_from_slice(&p.epoch.to_be_bytes());
            out.push(p.batches.len() as u8);
            for b in &p.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a snapshot; `None` if it is torn or corrupt (the caller then rebuilds from
    /// the whole log).
    pub fn decode(bytes: &[u8]) -> Option<ProducerState> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = body;
        fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, tail) = r.split_at_checked(n)?;
            *r = tail;
            Some(head)
        }
        let i64_ = |r: &mut &[u8]| Some(i64::from_be_bytes(take(r, 8)?.try_into().ok()?));
        let i32_ = |r: &mut &[u8]| Some(i32::from_be_bytes(take(r, 4)?.try_into().ok()?));
        let next_offset = i64_(&mut r)?;
        let count = u32::from_be_bytes(take(&mut r, 4)?.try_into().ok()?);
        let mut producers = HashMap::new();
        for _ in 0..count {
            let pid = i64_(&mut r)?;
            let epoch = i16::from_be_bytes(take(&mut r, 2)?.try_into().ok()?);
            let n = take(&mut r, 1)?[0] as usize;
            if n > REMEMBERED {
                return None;
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(BatchSeq {
                    first_seq: i32_(&mut r)?,
                    last_seq: i32_(&mut r)?,
                    first_offset: i64_(&mut r)?,
                });
            }
            producers.insert(pid, Producer { epoch, batches });
        }
        r.is_empty().then_some(ProducerState {
            producers,
            next_offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, records: i32, base_offset: i64) -> BatchHeader {
        BatchHeader {
            base_offset,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            last_offset_delta: records - 1,
            records_count: records,
            ..BatchHeader::default()
        }
    }

    #[test]
    fn sequences_duplicates_epochs() {
        let mut s = ProducerState::default();
        assert_eq!(
            s.check(&header(7, 0, 3, 1, 0)),
            Err(ProducerError::UnknownProducer {
                producer_id: 7,
                got: 3
            })
        );
        let b0 = header(7, 0, 0, 2, 0);
        assert_eq!(s.check(&b0), Ok(SeqCheck::Append));
        s.apply(&b0);
        let b1 = header(7, 0, 2, 3, 2);
        assert_eq!(s.check(&b1), Ok(SeqCheck::Append));
        s.apply(&b1);
        // A retry of either batch is a duplicate with its original offset.
        assert_eq!(
            s.check(&header(7, 0, 0, 2, 99)),
            Ok(SeqCheck::Duplicate { first_offset: 0 })
        );
        assert_eq!(
            s.check(&header(7, 0, 2, 3, 99)),
            Ok(SeqCheck::Duplicate { first_offset: 2 })
        );
        // A gap is out of order; so is a restart at 0 in the same epoch.
        assert!(matches!(
            s.check(&header(7, 0, 6, 1, 5)),
            Err(ProducerError::OutOfOrder { last: 4, .. })
        ));
        assert!(matches!(
            s.check(&header(7, 0, 0, 1, 5)),
            Err(ProducerError::OutOfOrder { .. })
        ));
        // A new epoch starts at 0; the old one is fenced after it.
        s.apply(&header(7, 1, 0, 1, 5));
        assert!(matches!(
            s.check(&header(7, 0, 5, 1, 6)),
            Err(ProducerError::StaleEpoch { current: 1, .. })
        ));
        assert_eq!(s.check(&header(7, 1, 1, 1, 6)), Ok(SeqCheck::Append));
        assert_eq!(s.next_offset, 6);
        // Sequences wrap.
        s.apply(&header(8, 0, 0, 1, 6));
        let mut near = header(8, 0, 1, 1, 7);
        near.base_sequence = i32::MAX - 1;
        near.last_offset_delta = 1;
        assert_eq!(last_seq(&near), i32::MAX);
        let mut wrapped = header(8, 0, i32::MAX, 2, 7);
        wrapped.last_offset_delta = 1;
        assert_eq!(last_seq(&wrapped), 0);
    }

    #[test]
    fn snapshot_round_trips_and_rejects_damage() {
        let mut s = ProducerState::default();
        for i in 0..8 {
            s.apply(&header(1, 0, i * 2, 2, i64::from(i) * 2));
        }
        s.apply(&header(2, 3, 0, 1, 16));
        let bytes = s.encode();
        assert_eq!(ProducerState::decode(&bytes), Some(s.clone()));
        for cut in 0..bytes.len() {
            assert_eq!(ProducerState::decode(&bytes[..cut]), None);
        }
        let mut flipped = bytes.clone();
        flipped[10] ^= 1;
        assert_eq!(ProducerState::decode(&flipped), None);
    }
}
