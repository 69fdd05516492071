//! The leader-epoch cache of one partition (Kafka's `LeaderEpochFileCache`): for every
//! leader epoch that wrote to the log, the offset of its first batch. Replication uses it
//! to answer OffsetForLeaderEpoch ([`LeaderEpochCache::end_offset_for`]) so that a
//! follower can find where its log diverges from the leader's and truncate there.
//!
//! Entries are strictly increasing in both epoch and start offset. The cache is persisted
//! in `leader-epoch-checkpoint` in Kafka's text format:
//!
//! ```text
//! 0            <- format version
//! 2            <- number of entries
//! 0 0          <- epoch, start offset
//! 3 1200
//! ```
//!
//! each line ended by `\n`. A file that does not parse exactly so, or whose entries are not
//! strictly increasing and non-negative, is invalid and the log rebuilds the cache from the
//! `partitionLeaderEpoch` of its batch headers.

/// The file holding the leader-epoch cache.
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";

/// The checkpoint format version (Kafka's is 0 too).
const VERSION: u32 = 0;

/// `(epoch, start offset)` pairs, strictly increasing in both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// A cache holding `entries`, or `None` unless they are non-negative and strictly
    /// increasing in both fields.
    pub fn from_entries(entries: Vec<(i32, i64)>) -> Option<LeaderEpochCache> {
        let ok = entries.iter().all(|&(e, o)| e >= 0 && o >= 0)
            && entries
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        ok.then_some(LeaderEpochCache { entries })
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|&(e, _)| e)
    }

    /// Records that `epoch` starts at `start_offset` if `epoch` is newer than the latest
    /// one (a negative epoch or offset, or an epoch not newer, changes nothing). As in
    /// Kafka, entries starting at or after `start_offset` are dropped first: an epoch that
    /// wrote nothing before a newer one started is forgotten. Returns whether the cache
    /// changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 || self.latest_epoch().is_some_and(|l| epoch <= l) {
            return false;
        }
        while self.entries.last().is_some_and(|&(_, o)| o >= start_offset) {
            self.entries.pop();
        }
        self.entries.push((epoch, start_offset));
        true
    }

    /// Drops the entries starting at or after `end_offset` (the log was truncated there).
    /// Returns whether the cache changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let keep = self.entries.partition_point(|&(_, o)| o < end_offset);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        changed
    }

    /// The log start moved up to `start_offset` (retention, DeleteRecords): as Kafka does,
    /// the entries starting at or before it are replaced by the last of them, moved to
    /// `start_offset`. Returns whether the cache changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let n = self.entries.partition_point(|&(_, o)| o <= start_offset);
        if n == 0 {
            return false;
        }
        let first = (self.entries[n - 1].0, start_offset);
        if n == 1 && self.entries[0] == first {
            return false;
        }
        self.entries.splice(..n, [first]);
        true
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// OffsetForLeaderEpoch: the largest epoch `<= epoch` and its end offset, which is the
    /// start offset of the next epoch in the cache, or `log_end_offset` for the latest
    /// epoch. `None` when the cache is empty or `epoch` is below its first epoch (the caller
    /// answers with the undefined epoch and offset, -1).
    ///
    /// Kafka differs in two corner cases: for an epoch below the first it answers
    /// `(epoch, first start offset)`, and for an epoch above the latest it answers
    /// undefined (a partition leader rejects such requests before asking the log).
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        let i = self.entries.partition_point(|&(e, _)| e <= epoch);
        if i == 0 {
            return None;
        }
        let end = self
            .entries
            .get(i)
            .map(|&(_, o)| o)
            .unwrap_or(log_end_offset);
        Some((self.entries[i - 1].0, end))
    }

    /// The checkpoint file's contents (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{VERSION}\n{}\n", self.entries.len());
        for (e, o) in &self.entries {
            out.push_str(&format!("{e} {o}\n"));
        }
        out.into_bytes()
    }

    /// Parses a checkpoint file; `None` if it is torn, malformed or its entries are not
    /// strictly increasing.
    pub fn decode(bytes: &[u8]) -> Option<LeaderEpochCache> {
        let text = std::str::from_utf8(bytes).ok()?;
        let body = text.strip_suffix('\n')?;
        let mut lines = body.split('\n');
        let number = |s: &str| -> Option<()> {
            // Plain decimal digits only: no signs, spaces or leading `+`.
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(())
        };
        let version = lines.next()?;
        number(version)?;
        if version.parse::<u32>().ok()? != VERSION {
            return None;
        }
        let count = lines.next()?;
        number(count)?;
        let count: usize = count.parse().ok()?;
        let mut entries = Vec::new();
        for line in lines {
            let (e, o) = line.split_once(' ')?;
            number(e)?;
            number(o)?;
            entries.push((e.parse::<i32>().ok()?, o.parse::<i64>().ok()?));
        }
        if entries.len() != count {
            return None;
        }
        LeaderEpochCache::from_entries(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache::from_entries(entries.to_vec()).unwrap()
    }

    #[test]
    fn assign_keeps_entries_strictly_increasing() {
        let mut c = LeaderEpochCache::default();
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 5), "same epoch: no new entry");
        assert!(c.assign(2, 10));
        assert!(!c.assign(1, 20), "older epoch: ignored");
        assert!(!c.assign(-1, 30));
        assert!(!c.assign(5, -1));
        // Epoch 3 wrote nothing before epoch 4 started at the same offset: it is replaced.
        assert!(c.assign(3, 15));
        assert!(c.assign(4, 15));
        assert_eq!(c.entries(), &[(0, 0), (2, 10), (4, 15)]);
        assert_eq!(c.latest_epoch(), Some(4));
    }

    #[test]
    fn end_offsets_follow_offset_for_leader_epoch() {
        let c = cache(&[(1, 0), (3, 100), (6, 250)]);
        assert_eq!(c.end_offset_for(0, 300), None, "below the first epoch");
        assert_eq!(c.end_offset_for(-1, 300), None);
        assert_eq!(c.end_offset_for(1, 300), Some((1, 100)));
        assert_eq!(
            c.end_offset_for(2, 300),
            Some((1, 100)),
            "an epoch with no entry"
        );
        assert_eq!(c.end_offset_for(3, 300), Some((3, 250)));
        assert_eq!(c.end_offset_for(5, 300), Some((3, 250)));
        assert_eq!(
            c.end_offset_for(6, 300),
            Some((6, 300)),
            "latest: the log end"
        );
        assert_eq!(c.end_offset_for(9, 300), Some((6, 300)));
        assert_eq!(LeaderEpochCache::default().end_offset_for(3, 10), None);
    }

    #[test]
    fn truncation_from_either_end() {
        let mut c = cache(&[(1, 0), (3, 100), (6, 250)]);
        assert!(!c.truncate_from_end(251));
        assert!(c.truncate_from_end(250));
        assert_eq!(c.entries(), &[(1, 0), (3, 100)]);
        assert!(c.truncate_from_end(50));
        assert_eq!(c.entries(), &[(1, 0)]);

        let mut c = cache(&[(1, 0), (3, 100), (6, 250)]);
        assert!(!c.truncate_from_start(0), "already starts there");
        assert!(c.truncate_from_start(120));
        assert_eq!(c.entries(), &[(3, 120), (6, 250)]);
        assert!(c.truncate_from_start(250));
        assert_eq!(c.entries(), &[(6, 250)]);
        assert!(c.truncate_from_start(400));
        assert_eq!(c.entries(), &[(6, 400)]);
        assert!(!LeaderEpochCache::default().truncate_from_start(10));
    }

    #[test]
    fn checkpoint_round_trips_and_rejects_damage() {
        let c = cache(&[(0, 0), (3, 1200), (7, 99_999)]);
        let bytes = c.encode();
        assert_eq!(bytes, b"0\n3\n0 0\n3 1200\n7 99999\n");
        assert_eq!(LeaderEpochCache::decode(&bytes), Some(c.clone()));
        assert_eq!(
            LeaderEpochCache::decode(b"0\n0\n"),
            Some(LeaderEpochCache::default())
        );
        for cut in 0..bytes.len() {
            assert_eq!(LeaderEpochCache::decode(&bytes[..cut]), None, "cut {cut}");
        }
        for bad in [
            &b"1\n1\n0 0\n"[..],      // unknown version
            b"0\n2\n0 0\n",           // count mismatch
            b"0\n2\n3 10\n2 20\n",    // epochs not increasing
            b"0\n2\n1 10\n2 10\n",    // offsets not increasing
            b"0\n1\n-1 0\n",          // negative
            b"0\n1\n1  0\n",          // stray space
            b"0\n1\n1 0 \n",          // trailing space
            b"0\n1\n99999999999 0\n", // epoch out of range
            b"0\n1\n1 0\n\n",         // trailing empty line
            b"\xff\n",                // not UTF-8
        ] {
            assert_eq!(LeaderEpochCache::decode(bad), None, "{:?}", bad);
        }
    }
}
