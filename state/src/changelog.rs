//! Changelogging: every write of a store mirrored to a [`ChangelogSink`], and restoration of
//! a store from what the sink received ([`Restore`]).
//!
//! `brook-state` knows nothing about topics: the streams runtime implements the sink by
//! sending each record to the Kafka producer (topic `<application.id>-<store>-changelog`,
//! partition = the task's partition) and, on (re)start, feeds the records it consumes from
//! there back through [`Restore::restore_batch`].
//!
//! **Wrappers.** [`ChangeLoggingKeyValueStore`], [`ChangeLoggingWindowStore`] and
//! [`ChangeLoggingSessionStore`] implement the same store trait as what they wrap: reads are
//! delegated, and each write goes to the inner store first and then, if it succeeded, to
//! the sink (as Kafka Streams' `ChangeLogging*BytesStore`s do), so a write the inner store
//! refused is never logged. `write_batch` logs one record per entry, in order; `delete` logs
//! a tombstone even when the key was absent; `put_if_absent` logs only when it wrote.
//!
//! **Sharing and timestamps.** The stores of one task share one [`ChangelogContext`]: the
//! sink (a [`SharedSink`], behind one mutex) and the timestamp of the record being
//! processed. The task sets that timestamp once per record
//! ([`ChangelogContext::set_timestamp`]) and every record the wrappers log carries it, as
//! Kafka Streams logs with the processor context's timestamp.
//!
//! **Changelog keys** follow Kafka Streams, so changelog bytes mean the same:
//! - key-value store: the key itself;
//! - window store: key + window start (8 bytes, big-endian) + sequence number (4 bytes,
//!   big-endian), Kafka Streams' `WindowKeySchema.toStoreKeyBinary`. Kafka Streams counts
//!   the sequence number up only for stores that retain duplicates (the stores of
//!   stream-stream joins); Brook's [`WindowStore`] keeps one value per key and window, so
//!   the wrapper always writes 0, and restoration accepts any;
//! - session store: key + session end (8 bytes, big-endian) + session start (8 bytes,
//!   big-endian), Kafka Streams' `SessionKeySchema.toBinary`.
//!
//! Values are the stored bytes unchanged (a `None` value is a tombstone).
//!
//! **Restoration** writes to the store it is called on, never to a sink: on a wrapper it
//! writes to the inner store, so restoring does not echo back to the changelog. [`Restore`]
//! is implemented on the three wrappers (for any inner store) and on the in-memory and
//! RocksDB stores; [`restore_key_value`], [`restore_window`] and [`restore_session`] restore
//! any implementation of the traits (trait objects too), for stores of other crates.

use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::StoreError;
use crate::memory::{InMemoryKeyValueStore, InMemorySessionStore, InMemoryWindowStore};
use crate::rocks::RocksDbKeyValueStore;
use crate::segmented::{RocksDbSessionStore, RocksDbWindowStore};
use crate::store::{
    KeyValueIter, KeyValueStore, SessionIter, SessionStore, SessionWindow, StateStore, WindowIter,
    WindowStore,
};

/// Where the writes of stores go: the streams runtime sends them to the store's changelog
/// topic. Called with the sink's mutex held (see [`SharedSink`]), once per write.
pub trait ChangelogSink: Send {
    /// Records one write of `store`: `key` is the changelog key (see the
    /// [module docs](self)), `value` the stored bytes or `None` for a deletion (a
    /// tombstone), `timestamp` the record's timestamp (ms since the epoch).
    fn append(
        &mut self,
        store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), StoreError>;
}

/// A sink the stores of one task share. Any `Arc<Mutex<T>>` with `T: ChangelogSink` turns
/// into one (`let shared: SharedSink = typed.clone();`), so the owner can keep the typed
/// handle, as tests do with a [`RecordingSink`].
pub type SharedSink = Arc<Mutex<dyn ChangelogSink>>;

/// What the change-logging stores of one task share: the [`SharedSink`] and the timestamp
/// of the record being processed. Cloning it is cheap and the clones share both.
#[derive(Clone)]
pub struct ChangelogContext {
    sink: SharedSink,
    timestamp: Arc<AtomicI64>,
}

impl std::fmt::Debug for ChangelogContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangelogContext")
            .field("timestamp", &self.timestamp())
            .finish_non_exhaustive()
    }
}

impl ChangelogContext {
    /// A context over `sink`, with the timestamp 0 until [`set_timestamp`](Self::set_timestamp).
    pub fn new(sink: SharedSink) -> ChangelogContext {
        ChangelogContext {
            sink,
            timestamp: Arc::new(AtomicI64::new(0)),
        }
    }

    /// A context over a sink of its own (the caller keeps no handle to it).
    pub fn with_sink(sink: impl ChangelogSink + 'static) -> ChangelogContext {
        ChangelogContext::new(Arc::new(Mutex::new(sink)))
    }

    /// Sets the timestamp (ms) of the record being processed: every record logged from now
    /// on, by every store sharing this context, carries it. The task calls this before
    /// handing each input record to its processors.
    pub fn set_timestamp(&self, timestamp: i64) {
        self.timestamp.store(timestamp, Ordering::Relaxed);
    }

    /// The timestamp records are logged with.
    pub fn timestamp(&self) -> i64 {
        self.timestamp.load(Ordering::Relaxed)
    }

    /// The shared sink.
    pub fn sink(&self) -> &SharedSink {
        &self.sink
    }

    /// Runs `f` on the sink with its lock held; a poisoned lock (a sink that panicked) is a
    /// storage error of `store`.
    fn lock_sink(
        &self,
        store: &str,
        f: impl FnOnce(&mut dyn ChangelogSink, i64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let timestamp = self.timestamp();
        let mut sink = self.sink.lock().map_err(|_| StoreError::Storage {
            store: store.to_owned(),
            reason: "the changelog sink's lock is poisoned (a sink panicked)".to_owned(),
        })?;
        f(&mut *sink, timestamp)
    }

    fn log(&self, store: &str, key: &[u8], value: Option<&[u8]>) -> Result<(), StoreError> {
        self.lock_sink(store, |sink, ts| sink.append(store, key, value, ts))
    }
}

/// One record of a changelog, borrowed (from a fetched batch, say), as restoration reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangelogRecord<'a> {
    /// The changelog key (see the [module docs](self)).
    pub key: &'a [u8],
    /// The stored bytes; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// The record's timestamp, ms since the epoch.
    pub timestamp: i64,
}

/// What a [`RecordingSink`] received: one append, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedChange {
    /// The store that wrote it.
    pub store: String,
    /// The changelog key.
    pub key: Vec<u8>,
    /// The stored bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The record's timestamp, ms.
    pub timestamp: i64,
}

impl RecordedChange {
    /// The change as a record to restore from.
    pub fn record(&self) -> ChangelogRecord<'_> {
        ChangelogRecord {
            key: &self.key,
            value: self.value.as_deref(),
            timestamp: self.timestamp,
        }
    }
}

/// A sink that keeps every append in memory, in order: for tests and the topology test
/// driver, which reads a store's changelog from it.
#[derive(Debug, Clone, Default)]
pub struct RecordingSink {
    /// What was appended, oldest first.
    pub changes: Vec<RecordedChange>,
}

impl RecordingSink {
    /// An empty sink.
    pub fn new() -> RecordingSink {
        RecordingSink::default()
    }

    /// A new sink, shared: keep the typed handle to read it, and turn a clone into a
    /// [`SharedSink`] for the stores.
    pub fn shared() -> Arc<Mutex<RecordingSink>> {
        Arc::new(Mutex::new(RecordingSink::new()))
    }

    /// The records `store` appended, oldest first: its changelog.
    pub fn records_of<'a>(&'a self, store: &'a str) -> impl Iterator<Item = ChangelogRecord<'a>> {
        self.changes
            .iter()
            .filter(move |c| c.store == store)
            .map(RecordedChange::record)
    }

    /// Removes and returns everything appended so far.
    pub fn take(&mut self) -> Vec<RecordedChange> {
        std::mem::take(&mut self.changes)
    }
}

impl ChangelogSink for RecordingSink {
    fn append(
        &mut self,
        store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<(), StoreError> {
        self.changes.push(RecordedChange {
            store: store.to_owned(),
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
            timestamp,
        });
        Ok(())
    }
}

fn corrupt(store: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        store: store.to_owned(),
        reason,
    }
}

/// The changelog key of `key`'s window starting at `start` (ms), with sequence number
/// `seqnum`: `key ++ start (8 bytes BE) ++ seqnum (4 bytes BE)`.
pub fn encode_window_key(key: &[u8], start: i64, seqnum: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 12);
    out.extend_from_slice(key);
    out.extend_from_slice(&start.to_be_bytes());
    out.extend_from_slice(&seqnum.to_be_bytes());
    out
}

/// A window changelog key, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowKey<'a> {
    /// The store's key.
    pub key: &'a [u8],
    /// The window's start, ms.
    pub start: i64,
    /// The sequence number (0 unless the writer retained duplicates).
    pub seqnum: u32,
}

/// Reads a window changelog key of `store`; fewer than 12 bytes are a corrupt entry.
pub fn decode_window_key<'a>(store: &str, bytes: &'a [u8]) -> Result<WindowKey<'a>, StoreError> {
    let Some((rest, seqnum)) = bytes.split_last_chunk::<4>() else {
        return Err(short_key(store, "window", bytes.len(), 12));
    };
    let Some((key, start)) = rest.split_last_chunk::<8>() else {
        return Err(short_key(store, "window", bytes.len(), 12));
    };
    Ok(WindowKey {
        key,
        start: i64::from_be_bytes(*start),
        seqnum: u32::from_be_bytes(*seqnum),
    })
}

/// The changelog key of `key`'s session `window`: `key ++ end (8 bytes BE) ++ start
/// (8 bytes BE)`.
pub fn encode_session_key(key: &[u8], window: SessionWindow) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 16);
    out.extend_from_slice(key);
    out.extend_from_slice(&window.end.to_be_bytes());
    out.extend_from_slice(&window.start.to_be_bytes());
    out
}

/// Reads a session changelog key of `store` into the store's key and the session window;
/// fewer than 16 bytes, or a window that ends before it starts, are a corrupt entry.
pub fn decode_session_key<'a>(
    store: &str,
    bytes: &'a [u8],
) -> Result<(&'a [u8], SessionWindow), StoreError> {
    let Some((rest, start)) = bytes.split_last_chunk::<8>() else {
        return Err(short_key(store, "session", bytes.len(), 16));
    };
    let Some((key, end)) = rest.split_last_chunk::<8>() else {
        return Err(short_key(store, "session", bytes.len(), 16));
    };
    let window = SessionWindow {
        start: i64::from_be_bytes(*start),
        end: i64::from_be_bytes(*end),
    };
    if window.end < window.start {
        return Err(corrupt(
            store,
            format!(
                "a session changelog key whose window ends ({}) before it starts ({})",
                window.end, window.start
            ),
        ));
    }
    Ok((key, window))
}

fn short_key(store: &str, what: &str, len: usize, min: usize) -> StoreError {
    corrupt(
        store,
        format!("a {what} changelog key of {len} byte(s), shorter than its {min}-byte suffix"),
    )
}

/// A store that can be rebuilt from its changelog.
pub trait Restore {
    /// Applies `records` (a batch of the changelog, oldest first) to the store, without
    /// logging them again; a tombstone deletes.
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError>;
}

/// Restores a key-value store: the batch becomes one `write_batch` (later records win).
pub fn restore_key_value<S: KeyValueStore + ?Sized>(
    store: &mut S,
    records: &[ChangelogRecord<'_>],
) -> Result<(), StoreError> {
    let entries: Vec<(&[u8], Option<&[u8]>)> = records.iter().map(|r| (r.key, r.value)).collect();
    store.write_batch(&entries)
}

/// Restores a window store: each record's key is decoded (a corrupt one fails the batch
/// before anything is written) and put.
pub fn restore_window<S: WindowStore + ?Sized>(
    store: &mut S,
    records: &[ChangelogRecord<'_>],
) -> Result<(), StoreError> {
    let decoded = records
        .iter()
        .map(|r| decode_window_key(store.name(), r.key).map(|k| (k, r.value)))
        .collect::<Result<Vec<_>, _>>()?;
    for (k, value) in decoded {
        store.put(k.key, value, k.start)?;
    }
    Ok(())
}

/// Restores a session store: each record's key is decoded (a corrupt one fails the batch
/// before anything is written), then put, or removed for a tombstone.
pub fn restore_session<S: SessionStore + ?Sized>(
    store: &mut S,
    records: &[ChangelogRecord<'_>],
) -> Result<(), StoreError> {
    let decoded = records
        .iter()
        .map(|r| decode_session_key(store.name(), r.key).map(|k| (k, r.value)))
        .collect::<Result<Vec<_>, _>>()?;
    for ((key, window), value) in decoded {
        match value {
            Some(v) => store.put(key, window, v)?,
            None => store.remove(key, window)?,
        }
    }
    Ok(())
}

impl Restore for InMemoryKeyValueStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_key_value(self, records)
    }
}

impl Restore for RocksDbKeyValueStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_key_value(self, records)
    }
}

impl Restore for InMemoryWindowStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_window(self, records)
    }
}

impl Restore for InMemorySessionStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_session(self, records)
    }
}

impl Restore for RocksDbWindowStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_window(self, records)
    }
}

impl Restore for RocksDbSessionStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_session(self, records)
    }
}

/// Implements `StateStore` for a wrapper by delegating to `self.inner`.
macro_rules! delegate_state_store {
    ($wrapper:ident, $bound:ident) => {
        impl<S: $bound> StateStore for $wrapper<S> {
            fn name(&self) -> &str {
                self.inner.name()
            }

            fn persistent(&self) -> bool {
                self.inner.persistent()
            }

            /// Flushes the inner store; the sink is flushed by its owner at commit (the
            /// producer's flush, before the checkpoint is written).
            fn flush(&mut self) -> Result<(), StoreError> {
                self.inner.flush()
            }

            fn close(&mut self) -> Result<(), StoreError> {
                self.inner.close()
            }

            fn is_open(&self) -> bool {
                self.inner.is_open()
            }
        }

        impl<S: $bound> $wrapper<S> {
            /// Wraps `inner`, logging its writes to `context`'s sink.
            pub fn new(inner: S, context: ChangelogContext) -> $wrapper<S> {
                $wrapper { inner, context }
            }

            /// The wrapped store (reading it directly is fine; writes go through the
            /// wrapper or [`Restore`]).
            pub fn inner(&self) -> &S {
                &self.inner
            }

            /// The shared context (to set the record timestamp).
            pub fn context(&self) -> &ChangelogContext {
                &self.context
            }

            /// Unwraps the inner store.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}

/// A key-value store whose every write is also appended to a changelog sink, under the
/// key itself.
#[derive(Debug)]
pub struct ChangeLoggingKeyValueStore<S: KeyValueStore> {
    inner: S,
    context: ChangelogContext,
}

delegate_state_store!(ChangeLoggingKeyValueStore, KeyValueStore);

impl<S: KeyValueStore> KeyValueStore for ChangeLoggingKeyValueStore<S> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, value)?;
        self.context.log(self.inner.name(), key, Some(value))
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.inner.put_if_absent(key, value)?;
        if old.is_none() {
            self.context.log(self.inner.name(), key, Some(value))?;
        }
        Ok(old)
    }

    fn write_batch(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<(), StoreError> {
        self.inner.write_batch(entries)?;
        let name = self.inner.name();
        self.context.lock_sink(name, |sink, ts| {
            entries
                .iter()
                .try_for_each(|(k, v)| sink.append(name, k, *v, ts))
        })
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.inner.delete(key)?;
        self.context.log(self.inner.name(), key, None)?;
        Ok(old)
    }

    fn range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        reverse: bool,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        self.inner.range(from, to, reverse)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError> {
        self.inner.prefix_scan(prefix)
    }

    fn all(&self) -> Result<KeyValueIter<'_>, StoreError> {
        self.inner.all()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.inner.approximate_num_entries()
    }
}

impl<S: KeyValueStore> Restore for ChangeLoggingKeyValueStore<S> {
    /// Restores the inner store (nothing is logged).
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_key_value(&mut self.inner, records)
    }
}

/// A window store whose every write is also appended to a changelog sink, under the
/// window changelog key (sequence number 0).
#[derive(Debug)]
pub struct ChangeLoggingWindowStore<S: WindowStore> {
    inner: S,
    context: ChangelogContext,
}

delegate_state_store!(ChangeLoggingWindowStore, WindowStore);

impl<S: WindowStore> WindowStore for ChangeLoggingWindowStore<S> {
    /// Puts to the inner store, then logs, also when the inner store dropped the write as
    /// expired (as Kafka Streams does: restoring replays the same puts, so it drops the
    /// same ones).
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, start: i64) -> Result<(), StoreError> {
        self.inner.put(key, value, start)?;
        let changelog_key = encode_window_key(key, start, 0);
        self.context.log(self.inner.name(), &changelog_key, value)
    }

    fn fetch(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.fetch(key, start)
    }

    fn fetch_key_range(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        reverse: bool,
    ) -> Result<WindowIter<'_>, StoreError> {
        self.inner.fetch_key_range(key, time_from, time_to, reverse)
    }

    fn fetch_range(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        time_from: i64,
        time_to: i64,
    ) -> Result<WindowIter<'_>, StoreError> {
        self.inner.fetch_range(key_from, key_to, time_from, time_to)
    }

    fn fetch_all(&self, time_from: i64, time_to: i64) -> Result<WindowIter<'_>, StoreError> {
        self.inner.fetch_all(time_from, time_to)
    }

    fn all(&self) -> Result<WindowIter<'_>, StoreError> {
        self.inner.all()
    }

    fn retention_ms(&self) -> i64 {
        self.inner.retention_ms()
    }
}

impl<S: WindowStore> Restore for ChangeLoggingWindowStore<S> {
    /// Restores the inner store (nothing is logged).
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_window(&mut self.inner, records)
    }
}

/// A session store whose every write is also appended to a changelog sink, under the
/// session changelog key; a removal logs a tombstone.
#[derive(Debug)]
pub struct ChangeLoggingSessionStore<S: SessionStore> {
    inner: S,
    context: ChangelogContext,
}

delegate_state_store!(ChangeLoggingSessionStore, SessionStore);

impl<S: SessionStore> SessionStore for ChangeLoggingSessionStore<S> {
    fn put(&mut self, key: &[u8], window: SessionWindow, value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, window, value)?;
        let changelog_key = encode_session_key(key, window);
        self.context
            .log(self.inner.name(), &changelog_key, Some(value))
    }

    /// Removes from the inner store, then logs a tombstone, except for a window that ends
    /// before it starts: no store holds one, and its changelog key would not decode.
    fn remove(&mut self, key: &[u8], window: SessionWindow) -> Result<(), StoreError> {
        self.inner.remove(key, window)?;
        if window.end < window.start {
            return Ok(());
        }
        let changelog_key = encode_session_key(key, window);
        self.context.log(self.inner.name(), &changelog_key, None)
    }

    fn fetch_session(
        &self,
        key: &[u8],
        window: SessionWindow,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.fetch_session(key, window)
    }

    fn find_sessions(
        &self,
        key_from: Bound<&[u8]>,
        key_to: Bound<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>, StoreError> {
        self.inner
            .find_sessions(key_from, key_to, earliest_end, latest_start)
    }

    fn find_key_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<SessionIter<'_>, StoreError> {
        self.inner
            .find_key_sessions(key, earliest_end, latest_start)
    }

    fn fetch(&self, key: &[u8]) -> Result<SessionIter<'_>, StoreError> {
        self.inner.fetch(key)
    }

    fn retention_ms(&self) -> i64 {
        self.inner.retention_ms()
    }
}

impl<S: SessionStore> Restore for ChangeLoggingSessionStore<S> {
    /// Restores the inner store (nothing is logged).
    fn restore_batch(&mut self, records: &[ChangelogRecord<'_>]) -> Result<(), StoreError> {
        restore_session(&mut self.inner, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Log = Vec<(String, Vec<u8>, Option<Vec<u8>>, i64)>;

    fn recorded(sink: &Arc<Mutex<RecordingSink>>) -> Log {
        sink.lock()
            .unwrap()
            .changes
            .iter()
            .map(|c| (c.store.clone(), c.key.clone(), c.value.clone(), c.timestamp))
            .collect()
    }

    fn owned(records: &[RecordedChange]) -> Vec<ChangelogRecord<'_>> {
        records.iter().map(RecordedChange::record).collect()
    }

    fn kv_all(s: &impl KeyValueStore) -> Vec<(Vec<u8>, Vec<u8>)> {
        s.all().unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn window_all(s: &impl WindowStore) -> Vec<(Vec<u8>, i64, Vec<u8>)> {
        s.all()
            .unwrap()
            .map(|e| e.map(|e| (e.key, e.start, e.value)))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn session_all(s: &impl SessionStore) -> Vec<(Vec<u8>, SessionWindow, Vec<u8>)> {
        s.find_sessions(Bound::Unbounded, Bound::Unbounded, i64::MIN, i64::MAX)
            .unwrap()
            .map(|e| e.map(|e| (e.key, e.window, e.value)))
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn changelog_key_value_wrapper_logs_each_write_with_the_context_timestamp() {
        let sink = RecordingSink::shared();
        let ctx = ChangelogContext::new(sink.clone());
        let mut s = ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("counts"), ctx);
        assert_eq!(s.name(), "counts");
        assert!(!s.persistent());
        s.context().set_timestamp(10);
        s.put(b"a", b"1").unwrap();
        assert_eq!(s.put_if_absent(b"a", b"2").unwrap(), Some(b"1".to_vec()));
        s.context().set_timestamp(20);
        assert_eq!(s.put_if_absent(b"b", b"2").unwrap(), None);
        s.write_batch(&[(b"c", Some(b"3")), (b"a", None)]).unwrap();
        assert_eq!(s.delete(b"zz").unwrap(), None);
        assert_eq!(s.get(b"b").unwrap(), Some(b"2".to_vec()));
        let c = |k: &[u8], v: Option<&[u8]>, ts| {
            ("counts".to_owned(), k.to_vec(), v.map(<[u8]>::to_vec), ts)
        };
        assert_eq!(
            recorded(&sink),
            vec![
                c(b"a", Some(b"1"), 10),
                c(b"b", Some(b"2"), 20),
                c(b"c", Some(b"3"), 20),
                c(b"a", None, 20),
                c(b"zz", None, 20),
            ]
        );
        // A write the inner store refuses is not logged.
        s.close().unwrap();
        assert!(matches!(s.put(b"x", b"1"), Err(StoreError::Closed(_))));
        assert_eq!(recorded(&sink).len(), 5);
    }

    #[test]
    fn changelog_stores_of_a_task_share_one_sink_and_timestamp() {
        let sink = RecordingSink::shared();
        let ctx = ChangelogContext::new(sink.clone());
        let mut kv = ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), ctx.clone());
        let mut win = ChangeLoggingWindowStore::new(
            InMemoryWindowStore::new("win", 1000).unwrap(),
            ctx.clone(),
        );
        let mut ses = ChangeLoggingSessionStore::new(
            InMemorySessionStore::new("ses", 1000).unwrap(),
            ctx.clone(),
        );
        ctx.set_timestamp(7);
        kv.put(b"k", b"v").unwrap();
        win.put(b"k", Some(b"w"), 100).unwrap();
        win.put(b"k", None, 100).unwrap();
        let sw = SessionWindow { start: 5, end: 9 };
        ses.put(b"k", sw, b"s").unwrap();
        ses.remove(b"k", sw).unwrap();
        let mut start_100 = b"k".to_vec();
        start_100.extend_from_slice(&100i64.to_be_bytes());
        start_100.extend_from_slice(&0u32.to_be_bytes());
        let mut session_key = b"k".to_vec();
        session_key.extend_from_slice(&9i64.to_be_bytes());
        session_key.extend_from_slice(&5i64.to_be_bytes());
        let o = |s: &str, k: &[u8], v: Option<&[u8]>| {
            (s.to_owned(), k.to_vec(), v.map(<[u8]>::to_vec), 7)
        };
        assert_eq!(
            recorded(&sink),
            vec![
                o("kv", b"k", Some(b"v")),
                o("win", &start_100, Some(b"w")),
                o("win", &start_100, None),
                o("ses", &session_key, Some(b"s")),
                o("ses", &session_key, None),
            ]
        );
        assert_eq!(sink.lock().unwrap().records_of("win").count(), 2);
    }

    #[test]
    fn changelog_restore_does_not_echo_and_a_failing_sink_fails_the_write() {
        let sink = RecordingSink::shared();
        let mut s = ChangeLoggingKeyValueStore::new(
            InMemoryKeyValueStore::new("kv"),
            ChangelogContext::new(sink.clone()),
        );
        let key = b"a".as_slice();
        s.restore_batch(&[
            ChangelogRecord {
                key,
                value: Some(b"1"),
                timestamp: 1,
            },
            ChangelogRecord {
                key: b"b",
                value: Some(b"2"),
                timestamp: 1,
            },
            ChangelogRecord {
                key,
                value: None,
                timestamp: 2,
            },
        ])
        .unwrap();
        assert_eq!(kv_all(&s), vec![(b"b".to_vec(), b"2".to_vec())]);
        assert!(recorded(&sink).is_empty(), "restoring logged");

        struct Failing;
        impl ChangelogSink for Failing {
            fn append(
                &mut self,
                store: &str,
                _: &[u8],
                _: Option<&[u8]>,
                _: i64,
            ) -> Result<(), StoreError> {
                Err(StoreError::Storage {
                    store: store.to_owned(),
                    reason: "producer fenced".into(),
                })
            }
        }
        let mut f = ChangeLoggingKeyValueStore::new(
            InMemoryKeyValueStore::new("kv"),
            ChangelogContext::with_sink(Failing),
        );
        let e = f.put(b"a", b"1").unwrap_err();
        assert!(e.to_string().contains("producer fenced"), "{e}");
    }

    #[test]
    fn changelog_window_and_session_keys_round_trip_and_corrupt_keys_error() {
        let k = encode_window_key(b"user", -5, 7);
        assert_eq!(k.len(), 4 + 12);
        assert_eq!(
            decode_window_key("w", &k).unwrap(),
            WindowKey {
                key: b"user",
                start: -5,
                seqnum: 7
            }
        );
        assert_eq!(decode_window_key("w", &[0; 12]).unwrap().key, b"");
        for len in 0..12 {
            let e = decode_window_key("w", &vec![1; len]).unwrap_err();
            assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
            assert!(e.to_string().contains(&format!("{len} byte")), "{e}");
        }
        let w = SessionWindow {
            start: 3,
            end: 1 << 40,
        };
        let k = encode_session_key(b"user", w);
        assert_eq!(&k[4..12], &(1i64 << 40).to_be_bytes());
        assert_eq!(
            decode_session_key("s", &k).unwrap(),
            (b"user".as_slice(), w)
        );
        for len in 0..16 {
            let e = decode_session_key("s", &vec![0; len]).unwrap_err();
            assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
        }
        // end 0 < start 1
        let mut bad = vec![0u8; 8];
        bad.extend_from_slice(&1i64.to_be_bytes());
        assert!(matches!(
            decode_session_key("s", &bad),
            Err(StoreError::Corrupt { .. })
        ));
        // A corrupt key fails a restore batch before anything is written.
        let mut win = InMemoryWindowStore::new("w", 100).unwrap();
        let good = encode_window_key(b"a", 1, 0);
        let e = win
            .restore_batch(&[
                ChangelogRecord {
                    key: &good,
                    value: Some(b"1"),
                    timestamp: 0,
                },
                ChangelogRecord {
                    key: b"short",
                    value: Some(b"1"),
                    timestamp: 0,
                },
            ])
            .unwrap_err();
        assert!(e.to_string().contains("`w`"), "{e}");
        assert!(window_all(&win).is_empty());
        let mut ses = InMemorySessionStore::new("s", 100).unwrap();
        assert!(ses
            .restore_batch(&[ChangelogRecord {
                key: &bad,
                value: None,
                timestamp: 0
            }])
            .is_err());
    }

    #[test]
    fn changelog_restores_a_rocksdb_store() {
        let sink = RecordingSink::shared();
        let mut logged = ChangeLoggingKeyValueStore::new(
            InMemoryKeyValueStore::new("kv"),
            ChangelogContext::new(sink.clone()),
        );
        for i in 0u8..50 {
            logged.put(&[i % 7], &[i]).unwrap();
            if i % 5 == 0 {
                logged.delete(&[i % 3]).unwrap();
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let db =
            crate::TaskDb::open(dir.path(), &["kv"], &crate::MemoryBudget::new(4 << 20)).unwrap();
        let mut rocks = db.key_value_store("kv").unwrap();
        let changes = sink.lock().unwrap().take();
        restore_in_batches(&mut rocks, &changes, 9);
        assert_eq!(kv_all(&rocks), kv_all(&logged));
    }

    /// A key-value operation.
    #[derive(Debug, Clone)]
    enum KvOp {
        Put(Vec<u8>, Vec<u8>),
        PutIfAbsent(Vec<u8>, Vec<u8>),
        Delete(Vec<u8>),
        Batch(Vec<(Vec<u8>, Option<Vec<u8>>)>),
        Timestamp(i64),
    }

    fn small_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..3, 0..3)
    }

    fn kv_op() -> impl Strategy<Value = KvOp> {
        let value = proptest::collection::vec(any::<u8>(), 0..3);
        prop_oneof![
            (small_key(), value.clone()).prop_map(|(k, v)| KvOp::Put(k, v)),
            (small_key(), value.clone()).prop_map(|(k, v)| KvOp::PutIfAbsent(k, v)),
            small_key().prop_map(KvOp::Delete),
            proptest::collection::vec((small_key(), proptest::option::of(value)), 0..4)
                .prop_map(KvOp::Batch),
            (0i64..1000).prop_map(KvOp::Timestamp),
        ]
    }

    /// Restores `target` from `changes` in batches of `batch` records.
    fn restore_in_batches(target: &mut impl Restore, changes: &[RecordedChange], batch: usize) {
        let records = owned(changes);
        for chunk in records.chunks(batch.max(1)) {
            target.restore_batch(chunk).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The key-value wrapper logs exactly its writes (against a model log), and a fresh
        /// store restored from that log holds what the logged store holds.
        #[test]
        fn changelog_key_value_restore_reproduces_the_store(
            ops in proptest::collection::vec(kv_op(), 0..40),
            batch in 1usize..8,
        ) {
            let sink = RecordingSink::shared();
            let ctx = ChangelogContext::new(sink.clone());
            let mut s = ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), ctx.clone());
            let mut want_log: Log = Vec::new();
            let mut ts = 0;
            let mut log = |k: &[u8], v: Option<&[u8]>, ts: i64| {
                want_log.push(("kv".to_owned(), k.to_vec(), v.map(<[u8]>::to_vec), ts));
            };
            for op in &ops {
                match op {
                    KvOp::Put(k, v) => { s.put(k, v).unwrap(); log(k, Some(v), ts); }
                    KvOp::PutIfAbsent(k, v) => {
                        if s.put_if_absent(k, v).unwrap().is_none() { log(k, Some(v), ts); }
                    }
                    KvOp::Delete(k) => { s.delete(k).unwrap(); log(k, None, ts); }
                    KvOp::Batch(entries) => {
                        let b: Vec<(&[u8], Option<&[u8]>)> =
                            entries.iter().map(|(k, v)| (k.as_slice(), v.as_deref())).collect();
                        s.write_batch(&b).unwrap();
                        for (k, v) in b { log(k, v, ts); }
                    }
                    KvOp::Timestamp(t) => { ctx.set_timestamp(*t); ts = *t; }
                }
            }
            prop_assert_eq!(recorded(&sink), want_log);
            let changes = sink.lock().unwrap().take();
            let mut fresh = InMemoryKeyValueStore::new("kv");
            restore_in_batches(&mut fresh, &changes, batch);
            prop_assert_eq!(kv_all(&fresh), kv_all(&s));
            // Through a wrapper: same contents, nothing echoed.
            let mut wrapped = ChangeLoggingKeyValueStore::new(InMemoryKeyValueStore::new("kv"), ctx);
            restore_in_batches(&mut wrapped, &changes, batch);
            prop_assert_eq!(kv_all(&wrapped), kv_all(&s));
            prop_assert!(sink.lock().unwrap().changes.is_empty());
        }

        /// The same for window stores, expiry included.
        #[test]
        fn changelog_window_restore_reproduces_the_store(
            puts in proptest::collection::vec((0u8..3, 0i64..60, proptest::option::of(any::<u8>())), 0..50),
            retention in 0i64..40,
            batch in 1usize..8,
        ) {
            let sink = RecordingSink::shared();
            let ctx = ChangelogContext::new(sink.clone());
            let mut s = ChangeLoggingWindowStore::new(InMemoryWindowStore::new("w", retention).unwrap(), ctx);
            let mut want_log: Log = Vec::new();
            for (k, start, v) in &puts {
                s.put(&[*k], v.as_ref().map(std::slice::from_ref), *start).unwrap();
                want_log.push(("w".to_owned(), encode_window_key(&[*k], *start, 0), v.map(|v| vec![v]), 0));
            }
            prop_assert_eq!(recorded(&sink), want_log);
            let changes = sink.lock().unwrap().take();
            let mut fresh = InMemoryWindowStore::new("w", retention).unwrap();
            restore_in_batches(&mut fresh, &changes, batch);
            prop_assert_eq!(window_all(&fresh), window_all(&s));
        }

        /// The same for session stores.
        #[test]
        fn changelog_session_restore_reproduces_the_store(
            ops in proptest::collection::vec((0u8..3, 0i64..40, 0i64..10, any::<bool>()), 0..50),
            retention in 0i64..40,
            batch in 1usize..8,
        ) {
            let sink = RecordingSink::shared();
            let ctx = ChangelogContext::new(sink.clone());
            let mut s = ChangeLoggingSessionStore::new(InMemorySessionStore::new("s", retention).unwrap(), ctx);
            let mut want_log: Log = Vec::new();
            for (k, start, len, remove) in &ops {
                let w = SessionWindow { start: *start, end: start + len };
                let key = encode_session_key(&[*k], w);
                if *remove {
                    s.remove(&[*k], w).unwrap();
                    want_log.push(("s".to_owned(), key, None, 0));
                } else {
                    s.put(&[*k], w, &[*k, 1]).unwrap();
                    want_log.push(("s".to_owned(), key, Some(vec![*k, 1]), 0));
                }
            }
            prop_assert_eq!(recorded(&sink), want_log);
            let changes = sink.lock().unwrap().take();
            let mut fresh = InMemorySessionStore::new("s", retention).unwrap();
            restore_in_batches(&mut fresh, &changes, batch);
            prop_assert_eq!(session_all(&fresh), session_all(&s));
        }
    }
}
