//! The sparse per-segment indexes, kept in memory and written as Kafka lays them out:
//!
//! - `.index`: 8-byte entries, relative offset (u32) and file position (u32), big-endian;
//!   an entry says "the batch whose last offset is `base + rel` starts at `position`".
//! - `.timeindex`: 12-byte entries, timestamp (i64) and relative offset (u32): "up to and
//!   including the batch ending at `base + rel`, the largest timestamp is `timestamp`".
//!
//! Both are only hints for finding a place to start scanning, so they are rebuilt from the
//! log whenever they are missing or fail [`OffsetIndex::decode`]'s sanity checks.

/// Why an index file was not trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    #[error("index length {0} is not a multiple of the entry size")]
    BadLength(usize),
    #[error("index entry {0} is not after the one before it")]
    NotMonotonic(usize),
    #[error("index entry {0} points past the end of the log")]
    PastEnd(usize),
}

/// Offset index: relative offsets and positions, both strictly increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

pub const OFFSET_ENTRY_LEN: usize = 8;
pub const TIME_ENTRY_LEN: usize = 12;

impl OffsetIndex {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry if it moves forward; entries that do not are ignored.
    pub fn append(&mut self, relative_offset: u32, position: u32) {
        if let Some(&(o, p)) = self.entries.last() {
            if relative_offset <= o || position <= p {
                return;
            }
        }
        self.entries.push((relative_offset, position));
    }

    /// The entry with the largest relative offset `<= relative_offset`, or `(0, 0)`.
    pub fn lookup(&self, relative_offset: u32) -> (u32, u32) {
        let i = self.entries.partition_point(|&(o, _)| o <= relative_offset);
        if i == 0 {
            (0, 0)
        } else {
            self.entries[i - 1]
        }
    }

    pub fn last(&self) -> Option<(u32, u32)> {
        self.entries.last().copied()
    }

    /// Drops entries that point at or past `position`.
    pub fn truncate_to_position(&mut self, position: u32) {
        let i = self.entries.partition_point(|&(_, p)| p < position);
        self.entries.truncate(i);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_ENTRY_LEN);
        for &(o, p) in &self.entries {
            out.extend_from_slice(&o.to_be_bytes());
            out.extend_from_slice(&p.to_be_bytes());
        }
        out
    }

    /// Parses an index file, checking that entries increase and point inside a log of
    /// `log_size` bytes.
    pub fn decode(bytes: &[u8], log_size: u64) -> Result<OffsetIndex, IndexError> {
        if !bytes.len().is_multiple_of(OFFSET_ENTRY_LEN) {
            return Err(IndexError::BadLength(bytes.len()));
        }
        let mut index = OffsetIndex {
            entries: Vec::with_capacity(bytes.len() / OFFSET_ENTRY_LEN),
        };
        for (i, chunk) in bytes.chunks_exact(OFFSET_ENTRY_LEN).enumerate() {
            let o = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let p = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if let Some(&(lo, lp)) = index.entries.last() {
                if o <= lo || p <= lp {
                    return Err(IndexError::NotMonotonic(i));
                }
            }
            if u64::from(p) >= log_size {
                return Err(IndexError::PastEnd(i));
            }
            index.entries.push((o, p));
        }
        Ok(index)
    }
}

/// Time index: timestamps and relative offsets, both strictly increasing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeIndex {
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry if both its timestamp and its offset move forward.
    pub fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        if let Some(&(t, o)) = self.entries.last() {
            if timestamp <= t || relative_offset <= o {
                return;
            }
        }
        self.entries.push((timestamp, relative_offset));
    }

    /// The last entry whose timestamp is strictly below `timestamp`: every record up to its
    /// offset is older than `timestamp`, so a search can start there.
    pub fn last_below(&self, timestamp: i64) -> Option<(i64, u32)> {
        let i = self.entries.partition_point(|&(t, _)| t < timestamp);
        if i == 0 {
            None
        } else {
            Some(self.entries[i - 1])
        }
    }

    pub fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    /// Drops entries for offsets at or past `relative_offset`.
    pub fn truncate_to_offset(&mut self, relative_offset: u32) {
        let i = self.entries.partition_point(|&(_, o)| o < relative_offset);
        self.entries.truncate(i);
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_ENTRY_LEN);
        for &(t, o) in &self.entries {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&o.to_be_bytes());
        }
        out
    }

    /// Parses a time index file, checking that entries increase and that no entry names an
    /// offset at or past `next_relative_offset`.
    pub fn decode(bytes: &[u8], next_relative_offset: u64) -> Result<TimeIndex, IndexError> {
        if !bytes.len().is_multiple_of(TIME_ENTRY_LEN) {
            return Err(IndexError::BadLength(bytes.len()));
        }
        let mut index = TimeIndex {
            entries: Vec::with_capacity(bytes.len() / TIME_ENTRY_LEN),
        };
        for (i, c) in bytes.chunks_exact(TIME_ENTRY_LEN).enumerate() {
            let t = i64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            let o = u32::from_be_bytes([c[8], c[9], c[10], c[11]]);
            if let Some(&(lt, lo)) = index.entries.last() {
                if t <= lt || o <= lo {
                    return Err(IndexError::NotMonotonic(i));
                }
            }
            if u64::from(o) >= next_relative_offset {
                return Err(IndexError::PastEnd(i));
            }
            index.entries.push((t, o));
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_finds_floor_entry() {
        let mut idx = OffsetIndex::default();
        assert_eq!(idx.lookup(5), (0, 0));
        idx.append(9, 100);
        idx.append(19, 250);
        idx.append(19, 300); // not forward: ignored
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup(0), (0, 0));
        assert_eq!(idx.lookup(9), (9, 100));
        assert_eq!(idx.lookup(18), (9, 100));
        assert_eq!(idx.lookup(1000), (19, 250));
        idx.truncate_to_position(250);
        assert_eq!(idx.last(), Some((9, 100)));
    }

    #[test]
    fn offset_index_round_trips_and_rejects_garbage() {
        let mut idx = OffsetIndex::default();
        for i in 1..100u32 {
            idx.append(i * 10, i * 4096);
        }
        let bytes = idx.encode();
        assert_eq!(OffsetIndex::decode(&bytes, 1 << 20).unwrap(), idx);
        assert_eq!(
            OffsetIndex::decode(&bytes[..bytes.len() - 3], 1 << 20),
            Err(IndexError::BadLength(bytes.len() - 3))
        );
        assert_eq!(
            OffsetIndex::decode(&bytes, 4096 * 50),
            Err(IndexError::PastEnd(49))
        );
        let mut swapped = bytes.clone();
        swapped[8..16].copy_from_slice(&bytes[0..8]);
        assert_eq!(
            OffsetIndex::decode(&swapped, 1 << 20),
            Err(IndexError::NotMonotonic(1))
        );
    }

    #[test]
    fn time_index_search_and_checks() {
        let mut idx = TimeIndex::default();
        idx.maybe_append(100, 3);
        idx.maybe_append(100, 5); // same timestamp: ignored
        idx.maybe_append(200, 9);
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.last_below(100), None);
        assert_eq!(idx.last_below(101), Some((100, 3)));
        assert_eq!(idx.last_below(1000), Some((200, 9)));
        let bytes = idx.encode();
        assert_eq!(TimeIndex::decode(&bytes, 10).unwrap(), idx);
        assert_eq!(TimeIndex::decode(&bytes, 9), Err(IndexError::PastEnd(1)));
        idx.truncate_to_offset(9);
        assert_eq!(idx.last(), Some((100, 3)));
    }
}
