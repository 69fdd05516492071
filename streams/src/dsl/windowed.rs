//! Windowed keys: [`Window`], [`Windowed`], and their serdes in Kafka Streams' binary
//! formats ([`WindowedSerdes`]).
//!
//! A windowed aggregation ([`TimeWindowedKStream`](super::windows::TimeWindowedKStream),
//! [`SessionWindowedKStream`](super::windows::SessionWindowedKStream)) makes a
//! `KTable<Windowed<K>, V>`: one row per key and window. Written to a topic, a windowed key
//! is laid out as Kafka Streams lays it out, so Java consumers (and ksqlDB) read it:
//!
//! - **time windows** (tumbling, hopping, sliding): the key's bytes, then the window start
//!   (8 bytes, big-endian). The end is not written: the reader knows the window size
//!   ([`WindowedSerdes::time_windowed`]) and computes `end = start + size` (saturating), as
//!   Kafka Streams' `TimeWindowedDeserializer` does;
//! - **session windows**: the key's bytes, then the session end and then its start (8 bytes
//!   each, big-endian), Kafka Streams' `SessionKeySchema` (`SessionWindowedSerializer`).
//!
//! Kafka Streams names a serializer and a deserializer; here one [`Serde`] does both
//! ([`TimeWindowedSerde`], [`SessionWindowedSerde`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use super::ktable::Change;
use super::{Builder, Shared};
use crate::error::{Result, StreamsError};
use crate::processor::ProcessorContext;
use crate::record::{Data, Headers, Record};
use crate::serde::{Serde, SerdeError, SerdeRef};

/// A window: from `start` to `end`, ms since the epoch. Time windows (tumbling and hopping)
/// include their start and exclude their end; sliding and session windows include both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// The first ms of the window (included).
    pub start: i64,
    /// The end of the window: excluded for tumbling and hopping windows, included for
    /// sliding and session windows.
    pub end: i64,
}

impl Window {
    /// The window from `start` to `end`.
    pub fn new(start: i64, end: i64) -> Window {
        Window { start, end }
    }

    /// The window's start, ms since the epoch.
    pub fn start(&self) -> i64 {
        self.start
    }

    /// The window's end, ms since the epoch.
    pub fn end(&self) -> i64 {
        self.end
    }
}

/// A key in a window (Kafka Streams' `Windowed<K>`): the key of a windowed aggregation's
/// table. Prints as Kafka Streams prints it: `[key@start/end]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

impl<K> Windowed<K> {
    /// `key` in `window`.
    pub fn new(key: K, window: Window) -> Windowed<K> {
        Windowed { key, window }
    }
}

impl<K: fmt::Display> fmt::Display for Windowed<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}@{}/{}]",
            self.key, self.window.start, self.window.end
        )
    }
}

/// The key's bytes as the inner serde writes them (a null field is written as no bytes).
fn inner_key<K: 'static>(inner: &SerdeRef<K>, topic: &str, key: &K) -> Result<Bytes, SerdeError> {
    Ok(inner.serialize(topic, key)?.unwrap_or_default())
}

fn too_short(what: &str, len: usize, need: usize) -> SerdeError {
    SerdeError::Custom(format!(
        "a {what} key of {len} byte(s) is shorter than its {need}-byte window suffix"
    ))
}

fn be_i64(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    i64::from_be_bytes(a)
}

/// Time-windowed keys (tumbling, hopping, sliding): the inner key's bytes, then the window
/// start, 8 bytes big-endian (Kafka Streams' `TimeWindowedSerializer` and
/// `TimeWindowedDeserializer`). Reading computes the end from the window size.
pub struct TimeWindowedSerde<K> {
    inner: SerdeRef<K>,
    size_ms: i64,
}

impl<K> TimeWindowedSerde<K> {
    /// Keys serialized with `inner`, in windows of `size_ms`.
    pub fn new(inner: SerdeRef<K>, size_ms: i64) -> TimeWindowedSerde<K> {
        TimeWindowedSerde { inner, size_ms }
    }
}

impl<K: 'static> Serde<Windowed<K>> for TimeWindowedSerde<K> {
    fn serialize(&self, topic: &str, data: &Windowed<K>) -> Result<Option<Bytes>, SerdeError> {
        let key = inner_key(&self.inner, topic, &data.key)?;
        let mut out = BytesMut::with_capacity(key.len() + 8);
        out.put_slice(&key);
        out.put_i64(data.window.start);
        Ok(Some(out.freeze()))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Custom("a windowed key is never null".into()))?;
        if data.len() < 8 {
            return Err(too_short("time-windowed", data.len(), 8));
        }
        let (key, suffix) = data.split_at(data.len() - 8);
        let start = be_i64(suffix);
        Ok(Windowed {
            key: self.inner.deserialize(topic, Some(key))?,
            window: Window::new(start, start.saturating_add(self.size_ms)),
        })
    }
}

/// Session-windowed keys: the inner key's bytes, then the session end and its start, 8
/// bytes each, big-endian (Kafka Streams' `SessionWindowedSerializer`, the layout of its
/// `SessionKeySchema`).
pub struct SessionWindowedSerde<K> {
    inner: SerdeRef<K>,
}

impl<K> SessionWindowedSerde<K> {
    /// Keys serialized with `inner`.
    pub fn new(inner: SerdeRef<K>) -> SessionWindowedSerde<K> {
        SessionWindowedSerde { inner }
    }
}

impl<K: 'static> Serde<Windowed<K>> for SessionWindowedSerde<K> {
    fn serialize(&self, topic: &str, data: &Windowed<K>) -> Result<Option<Bytes>, SerdeError> {
        let key = inner_key(&self.inner, topic, &data.key)?;
        let mut out = BytesMut::with_capacity(key.len() + 16);
        out.put_slice(&key);
        out.put_i64(data.window.end);
        out.put_i64(data.window.start);
        Ok(Some(out.freeze()))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<Windowed<K>, SerdeError> {
        let data = data.ok_or_else(|| SerdeError::Custom("a windowed key is never null".into()))?;
        if data.len() < 16 {
            return Err(too_short("session-windowed", data.len(), 16));
        }
        let (key, suffix) = data.split_at(data.len() - 16);
        let (end, start) = (be_i64(&suffix[..8]), be_i64(&suffix[8..]));
        if end < start {
            return Err(SerdeError::Custom(format!(
                "a session-windowed key ends ({end}) before it starts ({start})"
            )));
        }
        Ok(Windowed {
            key: self.inner.deserialize(topic, Some(key))?,
            window: Window::new(start, end),
        })
    }
}

/// Serdes of windowed keys (Kafka Streams' `WindowedSerdes`).
pub struct WindowedSerdes;

impl WindowedSerdes {
    /// Time-windowed keys (tumbling, hopping or sliding windows of `size`; for sliding
    /// windows the size is the time difference) over `inner`.
    pub fn time_windowed<K: 'static>(inner: SerdeRef<K>, size: Duration) -> SerdeRef<Windowed<K>> {
        Arc::new(TimeWindowedSerde::new(inner, duration_ms(size)))
    }

    /// Session-windowed keys over `inner`.
    pub fn session_windowed<K: 'static>(inner: SerdeRef<K>) -> SerdeRef<Windowed<K>> {
        Arc::new(SessionWindowedSerde::new(inner))
    }
}

/// `d` in ms, saturating at `i64::MAX`.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The value serde a windowed aggregation's window store is declared with. The store holds
/// each window's aggregate after its timestamp (the largest record timestamp in the window,
/// 8 bytes big-endian: Kafka Streams' timestamped window store layout), and its processor
/// reads and writes those bytes itself; whoever opens the store through its declared serdes
/// (the test driver, interactive queries) sees the aggregates alone, as through Kafka
/// Streams' timestamp-stripping facade. A value put that way gets the timestamp -1.
pub(crate) struct TimestampedAggregateSerde<V> {
    pub inner: SerdeRef<V>,
}

impl<V: 'static> Serde<V> for TimestampedAggregateSerde<V> {
    fn serialize(&self, topic: &str, data: &V) -> Result<Option<Bytes>, SerdeError> {
        let body = self.inner.serialize(topic, data)?.unwrap_or_default();
        Ok(Some(Bytes::from(encode_timestamped(-1, &body))))
    }

    fn deserialize(&self, topic: &str, data: Option<&[u8]>) -> Result<V, SerdeError> {
        match data {
            Some(d) if d.len() >= 8 => self.inner.deserialize(topic, Some(&d[8..])),
            Some(d) => Err(SerdeError::Custom(format!(
                "a windowed aggregate of {} byte(s) is shorter than its 8-byte timestamp",
                d.len()
            ))),
            None => self.inner.deserialize(topic, None),
        }
    }
}

/// `timestamp` (8 bytes, big-endian), then `value`.
pub(crate) fn encode_timestamped(timestamp: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(value);
    out
}

pub(crate) use crate::store::{de, ser};

/// A stored aggregate: the timestamp, then the value's bytes; `None` if shorter than 8.
pub(crate) fn split_timestamped(b: &[u8]) -> Option<(i64, &[u8])> {
    (b.len() >= 8).then(|| (be_i64(b), &b[8..]))
}

// ---- where a windowed table's windows close -------------------------------------------

/// A windowed aggregation node: its builder, name and close delay.
type WindowedNode = (Weak<RefCell<Builder>>, String, i64);

thread_local! {
    /// The windowed aggregation nodes of the builders alive on this thread, with how long
    /// after a window's end its results are final ([`window_close_delay`]). A builder is
    /// an `Rc` and never leaves its thread, so a thread-local list, pruned of dropped
    /// builders, is all `suppress` needs to find the window definition upstream.
    static WINDOWED_NODES: RefCell<Vec<WindowedNode>> =
        const { RefCell::new(Vec::new()) };
}

/// Records that `node` of builder `b` is a windowed aggregation whose windows are final
/// once stream time reaches `window end + delay_ms`.
pub(crate) fn register_windowed_node(b: &Shared, node: &str, delay_ms: i64) {
    WINDOWED_NODES.with(|n| {
        let mut n = n.borrow_mut();
        n.retain(|(w, _, _)| w.strong_count() > 0);
        n.push((Rc::downgrade(b), node.to_owned(), delay_ms));
    });
}

/// How long after a window's end the windows of `node` are final, if it is a windowed
/// aggregation of builder `b`.
fn window_close_delay(b: &Shared, node: &str) -> Option<i64> {
    WINDOWED_NODES.with(|n| {
        n.borrow()
            .iter()
            .find(|(w, name, _)| name == node && w.upgrade().is_some_and(|w| Rc::ptr_eq(&w, b)))
            .map(|(_, _, d)| *d)
    })
}

/// How long after a window's end the windowed table coming out of `node` is final: that of
/// the windowed aggregation upstream, or the largest of those of all parents, as Kafka
/// Streams' `GraphGraceSearchUtil` finds it. An error names the chain of nodes searched if
/// some path upstream has no windowed aggregation.
pub(crate) fn find_window_close_delay(b: &Shared, node: &str) -> Result<i64> {
    fn search(b: &Shared, node: &str, chain: &str, depth: usize) -> Result<i64> {
        if let Some(d) = window_close_delay(b, node) {
            return Ok(d);
        }
        let chain = if chain.is_empty() {
            node.to_owned()
        } else {
            format!("{node}->{chain}")
        };
        let parents: Vec<String> = {
            let bb = b.borrow();
            let t = &bb.topology;
            t.nodes
                .iter()
                .find(|n| n.name == node)
                .map(|n| n.parents.iter().map(|&p| t.nodes[p].name.clone()).collect())
                .unwrap_or_default()
        };
        if parents.is_empty() || depth > 10_000 {
            return Err(StreamsError::Topology(format!(
                "suppress(until_window_closes): window close time is only defined for \
                 windowed computations; got [{chain}]"
            )));
        }
        let mut delay = i64::MIN;
        for p in parents {
            delay = delay.max(search(b, &p, &chain, depth + 1)?);
        }
        Ok(delay)
    }
    search(b, node, "", 0)
}

// ---- a write cache of windowed changes ------------------------------------------------

struct CacheEntry<K, V> {
    key: K,
    new: Option<V>,
    /// What the window held before its first change since the last flush.
    old: Option<V>,
    timestamp: i64,
    headers: Headers,
}

/// Holds back the changes of windowed aggregations between commits and forwards only the
/// latest per window (the old value being what the window held before the first), in the
/// order of their first change, as Kafka Streams' caching window and session stores do.
/// The store itself is written at once; only forwarding waits.
pub(crate) struct ChangeCache<K, V> {
    entries: HashMap<Vec<u8>, CacheEntry<K, V>>,
    order: Vec<Vec<u8>>,
    max_entries: usize,
}

impl<K: Data, V: Data> ChangeCache<K, V> {
    /// A cache of `max_entries` windows; `None` for 0 (caching off).
    pub fn new(max_entries: usize) -> Option<ChangeCache<K, V>> {
        (max_entries > 0).then(|| ChangeCache {
            entries: HashMap::new(),
            order: Vec::new(),
            max_entries,
        })
    }

    /// Folds `record` (the change of the window `id` names) into the cache; true if the
    /// cache is full and must be flushed.
    pub fn put(&mut self, id: Vec<u8>, record: Record<K, Change<V>>) -> bool {
        match self.entries.get_mut(&id) {
            Some(e) => {
                e.new = record.value.new;
                e.timestamp = record.timestamp;
                e.headers = record.headers;
            }
            None => {
                self.order.push(id.clone());
                self.entries.insert(
                    id,
                    CacheEntry {
                        key: record.key,
                        new: record.value.new,
                        old: record.value.old,
                        timestamp: record.timestamp,
                        headers: record.headers,
                    },
                );
            }
        }
        self.entries.len() >= self.max_entries
    }

    /// The folded changes, in the order of their first change; the cache is empty after.
    /// A window made and removed since the last flush forwards nothing.
    pub fn drain(&mut self) -> Vec<Record<K, Change<V>>> {
        let order = std::mem::take(&mut self.order);
        let mut out = Vec::with_capacity(order.len());
        for id in order {
            let Some(e) = self.entries.remove(&id) else {
                continue;
            };
            if e.new.is_none() && e.old.is_none() {
                continue;
            }
            let mut r = Record::new(
                e.key,
                Change {
                    new: e.new,
                    old: e.old,
                },
                e.timestamp,
            );
            r.headers = e.headers;
            out.push(r);
        }
        out
    }
}

/// Forwards `record` now (no cache) or through `cache`, flushing it when full.
pub(crate) fn forward_change<K: Data, V: Data>(
    ctx: &mut ProcessorContext<'_, K, Change<V>>,
    cache: &mut Option<ChangeCache<K, V>>,
    id: impl FnOnce() -> Vec<u8>,
    record: Record<K, Change<V>>,
) -> Result<()> {
    match cache {
        None => ctx.forward(record),
        Some(c) => {
            if c.put(id(), record) {
                for r in c.drain() {
                    ctx.forward(r)?;
                }
            }
            Ok(())
        }
    }
}

/// Forwards what `cache` holds.
pub(crate) fn flush_changes<K: Data, V: Data>(
    ctx: &mut ProcessorContext<'_, K, Change<V>>,
    cache: &mut Option<ChangeCache<K, V>>,
) -> Result<()> {
    if let Some(c) = cache {
        for r in c.drain() {
            ctx.forward(r)?;
        }
    }
    Ok(())
}

/// Counts one record dropped by the processor of `ctx` (the task's `dropped-records`).
pub(crate) fn record_dropped<K, V>(ctx: &mut ProcessorContext<'_, K, V>) {
    ctx.task.core.dropped_records += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::Serdes;

    #[test]
    fn time_windowed_keys_are_key_then_start() {
        let s = WindowedSerdes::time_windowed(Serdes::string(), Duration::from_millis(100));
        let w = Windowed::new("ab".to_string(), Window::new(300, 400));
        let b = s.serialize("t", &w).unwrap().unwrap();
        assert_eq!(&b[..], &[b'a', b'b', 0, 0, 0, 0, 0, 0, 1, 44]);
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), w);
        assert!(s.deserialize("t", Some(&[1, 2, 3])).is_err());
        assert!(s.deserialize("t", None).is_err());
        assert_eq!(w.to_string(), "[ab@300/400]");
    }

    #[test]
    fn session_windowed_keys_are_key_then_end_then_start() {
        let s = WindowedSerdes::session_windowed(Serdes::i32());
        let w = Windowed::new(7, Window::new(5, 9));
        let b = s.serialize("t", &w).unwrap().unwrap();
        let mut want = 7i32.to_be_bytes().to_vec();
        want.extend_from_slice(&9i64.to_be_bytes());
        want.extend_from_slice(&5i64.to_be_bytes());
        assert_eq!(&b[..], &want[..]);
        assert_eq!(s.deserialize("t", Some(&b)).unwrap(), w);
        let mut bad = 7i32.to_be_bytes().to_vec();
        bad.extend_from_slice(&1i64.to_be_bytes());
        bad.extend_from_slice(&5i64.to_be_bytes());
        assert!(s.deserialize("t", Some(&bad)).is_err(), "end before start");
    }

    #[test]
    fn window_store_values_hide_their_timestamps() {
        let s = TimestampedAggregateSerde {
            inner: Serdes::i64(),
        };
        let stored = encode_timestamped(42, &7i64.to_be_bytes());
        assert_eq!(s.deserialize("t", Some(&stored)).unwrap(), 7);
        let put = s.serialize("t", &9).unwrap().unwrap();
        assert_eq!(split_timestamped(&put).unwrap().0, -1);
        assert!(s.deserialize("t", Some(&[1, 2])).is_err());
    }
}
