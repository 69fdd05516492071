//! The store traits, in bytes: a processor's typed store (with serdes) lives in
//! `brook-streams` and wraps one of these. Calls are synchronous, as stream threads run
//! processors on OS threads and never on the async I/O runtime (DESIGN.md decision 6).
//!
//! Orders are those of the bytes: keys compare as unsigned byte strings (what RocksDB's
//! default comparator does), so a key range or prefix scan of serialized keys means the same
//! in every implementation.

use std::ops::Bound;

use crate::error::StoreError;

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// The entries of a scan, in order. Each item may fail (a storage read error) without ending
/// the iteration early; callers usually `collect::<Result<Vec<_>, _>>()`.
pub type KeyValueIter<'a> = Box<dyn Iterator<Item = Result<KeyValue, StoreError>> + 'a>;

/// What every store has.
pub trait StateStore: Send {
    /// The store's name, unique in its task (its changelog topic is
    /// `<application.id>-<name>-changelog`).
    fn name(&self) -> &str;

    /// Whether the store keeps its data on disk (so a restart restores only what its
    /// checkpoint does not cover).
    fn persistent(&self) -> bool;

    /// Makes every write so far durable (for a persistent store); called at commit before
    /// the checkpoint is written.
    fn flush(&mut self) -> Result<(), StoreError>;

    /// Flushes and releases the store; later calls fail with [`StoreError::Closed`].
    fn close(&mut self) -> Result<(), StoreError>;

    /// Whether the store is open.
    fn is_open(&self) -> bool;
}

/// Kafka Streams' `KeyValueStore`.
pub trait KeyValueStore: StateStore {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Sets `key` to `value`.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Sets `key` to `value` unless it has a value; returns the value it had.
    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.get(key)?;
        if old.is_none() {
            self.put(key, value)?;
        }
        Ok(old)
    }

    /// Writes every entry at once (one write batch where the engine has them); a `None`
    /// value deletes the key. Later entries win over earlier ones with the same key.
    fn write_batch(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<(), StoreError>;

    /// Deletes `key`; returns the value it had.
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entries with keys within the bounds, ascending (descending with `reverse`).
    fn range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KeyValueIter<'_>, StoreError>;

    /// The entries whose keys start with `prefix`, ascending.
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError> {
        match prefix_end(prefix) {
            Some(end) => self.range(Bound::Included(prefix), Bound::Excluded(&end), false),
            None => self.range(Bound::Included(prefix), Bound::Unbounded, false),
        }
    }

    /// Every entry, ascending.
    fn all(&self) -> Result<KeyValueIter<'_>, StoreError> {
        self.range(Bound::Unbounded, Bound::Unbounded, false)
    }

    /// About how many entries the store holds (exact for in-memory stores; RocksDB's
    /// estimate otherwise).
    fn approximate_num_entries(&self) -> Result<u64, StoreError>;
}

/// The first key after every key that starts with `prefix`: `prefix` with its last
/// byte below 0xff incremented and what follows it dropped; `None` if there is none (an
/// empty prefix or one of only 0xff bytes: the scan runs to the end).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let i = prefix.iter().rposition(|b| *b != 0xff)?;
    let mut end = prefix[..=i].to_vec();
    end[i] += 1;
    Some(end)
}

/// A window's value under its key and start time (ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowedEntry {
    pub key: Vec<u8>,
    /// The window's start, ms since the epoch.
    pub start: i64,
    pub value: Vec<u8>,
}

/// The entries of a window scan.
pub type WindowIter<'a> = Box<dyn Iterator<Item = Result<WindowedEntry, StoreError>> + 'a>;

/// Kafka Streams' `WindowStore`: values by key and window start. Windows older than the
/// retention period, measured back from the largest window start written so far (the
/// store's observed stream time), are gone: a fetch does not see them and a put of one is
/// dropped, as in Kafka Streams.
pub trait WindowStore: StateStore {
    /// Sets the value of `key`'s window starting at `start`; `None` deletes it.
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, start: i64) -> Result<(), StoreError>;

    /// The value of `key`'s window starting at `start`.
    fn fetch(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// `key`'s windows starting within `time_from..=time_to`, by start time (descending
    /// with `reverse`).
    fn fetch_key_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        reverse: bool,
    ) -> Result<WindowIter<'_>, StoreError>;

    /// The windows of the keys within `key_from..=key_to` (either bound may be open)
    /// starting within `time_from..=time_to`, by start time, then key.
    fn fetch_range(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowIter<'_>, StoreError>;

    /// Every live window starting within `time_from..=time_to`, by start time, then key.
    fn fetch_all(&self, time_from: i64, time_to: i64) -> Result<WindowIter<'_>, StoreError> {
        self.fetch_range(Bound::Unbounded, Bound::Unbounded, time_from, time_to)
    }

    /// Every live window.
    fn all(&self) -> Result<WindowIter<'_>, StoreError> {
        self.fetch_all(i64::MIN, i64::MAX)
    }

    /// How long windows are kept, ms.
    fn retention_ms(&self) -> i64;
}

/// A session window: from its first to its last record's timestamp, both inclusive (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionWindow {
    pub start: i64,
    pub end: i64,
}

/// A session of a key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    pub key: Vec<u8>,
    pub window: SessionWindow,
    pub value: Vec<u8>,
}

/// The entries of a session scan.
pub type SessionIter<'a> = Box<dyn Iterator<Item = Result<SessionEntry, StoreError>> + 'a>;

/// Kafka Streams' `SessionStore`: values by key and session window. Sessions that ended
/// longer than the retention period before the latest session end written are gone.
pub trait SessionStore: StateStore {
    /// Sets the value of `key`'s session `window`.
    fn put(&mut self, key: &[u8], window: SessionWindow, value: &[u8]) -> Result<(), StoreError>;

    /// Removes `key`'s session `window`.
    fn remove(&mut self, key: &[u8], window: SessionWindow) -> Result<(), StoreError>;

    /// The value of `key`'s session `window`.
    fn fetch_session(
        &self,
        key: &[u8],
        window: SessionWindow,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// The sessions of the keys within `key_from..=key_to` that end at or after
    /// `earliest_end` and start at or before `latest_start` (the sessions a record at a time
    /// `t` with an inactivity gap `g` may merge with: `earliest_end = t - g`,
    /// `latest_start = t + g`), by key, then end, then start.
    fn find_sessions(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>, StoreError>;

    /// [`find_sessions`](Self::find_sessions) for one key.
    fn find_key_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>, StoreError> {
        self.find_sessions(
            Bound::Included(key),
            Bound::Included(key),
            earliest_end,
            latest_start,
        )
    }

    /// Every live session of `key`.
    fn fetch(&self, key: &[u8]) -> Result<SessionIter<'_>, StoreError> {
        self.find_key_sessions(key, i64::MIN, i64::MAX)
    }

    /// How long sessions are kept after they end, ms.
    fn retention_ms(&self) -> i64;
}

// A boxed store is a store, so wrappers (change-logging, say) can wrap a store chosen at
// run time.

impl<S: StateStore + ?Sized> StateStore for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn persistent(&self) -> bool {
        (**self).persistent()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        (**self).flush()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        (**self).close()
    }

    fn is_open(&self) -> bool {
        (**self).is_open()
    }
}

impl<S: KeyValueStore + ?Sized> KeyValueStore for Box<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        (**self).put(key, value)
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).put_if_absent(key, value)
    }

    fn write_batch(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<(), StoreError> {
        (**self).write_batch(entries)
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).delete(key)
    }

    fn range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        (**self).range(from, to, reverse)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError> {
        (**self).prefix_scan(prefix)
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        (**self).approximate_num_entries()
    }
}

impl<S: WindowStore + ?Sized> WindowStore for Box<S> {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, start: i64) -> Result<(), StoreError> {
        (**self).put(key, value, start)
    }

    fn fetch(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).fetch(key, start)
    }

    fn fetch_key_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        reverse: bool,
    ) -> Result<WindowIter<'_>, StoreError> {
        (**self).fetch_key_range(key, time_from, time_to, reverse)
    }

    fn fetch_range(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowIter<'_>, StoreError> {
        (**self).fetch_range(key_from, key_to, time_from, time_to)
    }

    fn retention_ms(&self) -> i64 {
        (**self).retention_ms()
    }
}

impl<S: SessionStore + ?Sized> SessionStore for Box<S> {
    fn put(&mut self, key: &[u8], window: SessionWindow, value: &[u8]) -> Result<(), StoreError> {
        (**self).put(key, window, value)
    }

    fn remove(&mut self, key: &[u8], window: SessionWindow) -> Result<(), StoreError> {
        (**self).remove(key, window)
    }

    fn fetch_session(
        &self,
        key: &[u8],
        window: SessionWindow,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        (**self).fetch_session(key, window)
    }

    fn find_sessions(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>, StoreError> {
        (**self).find_sessions(key_from, key_to, earliest_end, latest_start)
    }

    fn retention_ms(&self) -> i64 {
        (**self).retention_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }
}
