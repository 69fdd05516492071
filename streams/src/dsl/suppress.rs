//! [`KTable::suppress`]: holding back a table's updates ([`Suppressed`], [`BufferConfig`]),
//! Kafka Streams' `suppress` operator.
//!
//! Updates are buffered per key, and the buffer keeps for each key the latest update (with
//! its record's timestamp and headers) and the value the key had before the first buffered
//! update, so what comes out is one [`Change`] from the value downstream last saw to the
//! latest. A key leaves the buffer, and its change is forwarded, when its *buffer time* is
//! old enough relative to the processor's stream time (the largest record timestamp it has
//! seen):
//!
//! - [`Suppressed::until_window_closes`] (final results of a windowed aggregation, SQL's
//!   `EMIT FINAL` before Kafka Streams 3.3): the buffer time is the window end, and a window
//!   leaves once stream time reaches the end plus the grace period of the windowed
//!   aggregation upstream (found by walking up the topology, as Kafka Streams does; it is a
//!   topology error if there is none). A final result is never a tombstone: deletions are
//!   dropped. The buffer must be strict ([`BufferConfig::unbounded`] or
//!   [`shut_down_when_full`](BufferConfig::shut_down_when_full)): emitting early would emit
//!   results that are not final.
//! - [`Suppressed::until_time_limit`] (rate limiting): the buffer time is the timestamp of
//!   the key's first buffered update, and the key leaves `limit` after it; a later update
//!   replaces the buffered one but keeps that time.
//!
//! **A full buffer** (more than `max_records` keys or `max_bytes` of serialized keys and
//! values) either forwards its oldest entries early until it fits
//! ([`emit_early_when_full`](BufferConfig::emit_early_when_full), eager, the default for a
//! bounded buffer) or fails the task with [`StreamsError::Processor`]
//! ([`shut_down_when_full`](BufferConfig::shut_down_when_full), strict).
//!
//! **Durability.** The buffer lives in a key-value store of its own, logged to its
//! changelog (`<application.id>-<store>-changelog`, the store being
//! `KTABLE-SUPPRESS-STATE-STORE-<n>`, or `<name>-store` for a named suppression): one entry
//! per buffered key (key `0x01` + the serialized key; value: buffer time, record timestamp
//! and headers, old and new value) and one holding the stream time (key `0x00`). An entry
//! is deleted when it is forwarded. A restarted task rebuilds its buffer (an index by
//! buffer time, and sizes) from the restored store in `init`, so nothing buffered is lost
//! and nothing forwarded is forwarded again.
//!
//! **Divergences from Kafka Streams.**
//! - Kafka Streams keeps the buffer in memory and only its changelog on disk; here the
//!   store is RocksDB unless the table's topology runs in memory, and only an index (buffer
//!   time, key bytes and sizes) is kept in memory.
//! - For session and sliding windows, whose ends are included, a window leaves the buffer 1
//!   ms later than in Kafka Streams (`end + grace < stream time`, sessions counting the gap
//!   in the grace): Kafka Streams lets it out in the last millisecond its aggregation still
//!   accepts records for it, so a "final" result could be followed by another.
//! - The stream time is kept in the store, so a restarted task emits exactly what it would
//!   have without the restart.
//! - Byte sizes count serialized keys and stored values, not Kafka Streams' record-context
//!   overhead.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use brook_state::StoreError;
use bytes::Bytes;

use super::ktable::{Change, KTable};
use super::windowed::{duration_ms, find_window_close_delay, Windowed};
use crate::error::{Result, StreamsError};
use crate::processor::{Processor, ProcessorContext};
use crate::record::{Data, Header, Headers, Record};
use crate::serde::{SerdeRef, Serdes};
use crate::store::{KeyValueStoreHandle, Stores};
use crate::topology::node_supplier;

/// What a full suppression buffer does (Kafka Streams' `BufferFullStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferFullStrategy {
    /// Forward the oldest entries early, until the buffer fits (eager).
    EmitEarly,
    /// Fail the task (strict).
    ShutDown,
}

/// How big a suppression buffer may grow, and what happens when it is full (Kafka Streams'
/// `BufferConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferConfig {
    max_records: Option<u64>,
    max_bytes: Option<u64>,
    full: BufferFullStrategy,
}

impl BufferConfig {
    /// No bound (strict: it never fills; memory or disk are the limit).
    pub fn unbounded() -> BufferConfig {
        BufferConfig {
            max_records: None,
            max_bytes: None,
            full: BufferFullStrategy::ShutDown,
        }
    }

    /// At most `n` keys; emits early when full unless told otherwise.
    pub fn max_records(n: u64) -> BufferConfig {
        BufferConfig {
            max_records: Some(n),
            max_bytes: None,
            full: BufferFullStrategy::EmitEarly,
        }
    }

    /// At most `n` bytes of keys and values; emits early when full unless told otherwise.
    pub fn max_bytes(n: u64) -> BufferConfig {
        BufferConfig {
            max_records: None,
            max_bytes: Some(n),
            full: BufferFullStrategy::EmitEarly,
        }
    }

    /// Also at most `n` keys.
    pub fn with_max_records(mut self, n: u64) -> BufferConfig {
        self.max_records = Some(n);
        self
    }

    /// Also at most `n` bytes.
    pub fn with_max_bytes(mut self, n: u64) -> BufferConfig {
        self.max_bytes = Some(n);
        self
    }

    /// No bound, strict (Kafka Streams' `withNoBound`).
    pub fn with_no_bound(self) -> BufferConfig {
        BufferConfig::unbounded()
    }

    /// When full, forward the oldest entries early (eager).
    pub fn emit_early_when_full(mut self) -> BufferConfig {
        self.full = BufferFullStrategy::EmitEarly;
        self
    }

    /// When full, fail the task (strict; Kafka Streams' `shutDownWhenFull`).
    pub fn shut_down_when_full(mut self) -> BufferConfig {
        self.full = BufferFullStrategy::ShutDown;
        self
    }

    /// The same as [`shut_down_when_full`](Self::shut_down_when_full).
    pub fn should_shut_down_when_full(self) -> BufferConfig {
        self.shut_down_when_full()
    }

    /// What happens when the buffer is full.
    pub fn full_strategy(&self) -> BufferFullStrategy {
        self.full
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    WindowCloses,
    TimeLimit(i64),
}

/// The buffer time of a record: its key's window end, or its timestamp.
type TimeFn<K> = Arc<dyn Fn(&K, i64) -> i64 + Send + Sync>;

/// How a table's updates are held back (Kafka Streams' `Suppressed`).
pub struct Suppressed<K> {
    until: Until,
    buffer: BufferConfig,
    time: TimeFn<K>,
    name: Option<String>,
}

impl<K: Data> Suppressed<Windowed<K>> {
    /// Only each window's final result, once the window closes (its end plus the grace
    /// period of the windowed aggregation upstream). `buffer` must be strict.
    pub fn until_window_closes(buffer: BufferConfig) -> Self {
        Suppressed {
            until: Until::WindowCloses,
            buffer,
            time: Arc::new(|k: &Windowed<K>, _ts| k.window.end),
            name: None,
        }
    }
}

impl<K: Data> Suppressed<K> {
    /// Each key's updates held back until `limit` after the first of them (by stream
    /// time), then the latest forwarded.
    pub fn until_time_limit(limit: Duration, buffer: BufferConfig) -> Self {
        Suppressed {
            until: Until::TimeLimit(duration_ms(limit)),
            buffer,
            time: Arc::new(|_k: &K, ts| ts),
            name: None,
        }
    }

    /// Names the processor `name` and its buffer store `<name>-store`.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

impl<K: Data, V: Data> KTable<K, V> {
    /// The table's updates held back as `suppressed` says (Kafka Streams' `suppress`);
    /// the result is not materialized.
    pub fn suppress(&self, suppressed: Suppressed<K>) -> KTable<K, V> {
        let b = &self.b;
        let (node, store) = {
            let mut bb = b.borrow_mut();
            let node = bb.name_or(suppressed.name.as_deref(), "KTABLE-SUPPRESS-");
            let store = match &suppressed.name {
                Some(n) => format!("{n}-store"),
                None => bb.name("KTABLE-SUPPRESS-STATE-STORE-"),
            };
            (node, store)
        };
        let wait = match suppressed.until {
            Until::TimeLimit(ms) => Ok(ms),
            Until::WindowCloses => {
                if suppressed.buffer.full == BufferFullStrategy::EmitEarly {
                    Err(StreamsError::Topology(format!(
                        "{node}: suppress(until_window_closes) needs a strict buffer \
                         (BufferConfig::unbounded() or .shut_down_when_full()): emitting early \
                         would emit results that are not final"
                    )))
                } else {
                    find_window_close_delay(b, &self.node)
                }
            }
        };
        let mut bb = b.borrow_mut();
        let wait = match wait {
            Ok(w) => w,
            Err(e) => {
                bb.errors.push(e);
                0
            }
        };
        let what = format!("suppress {node}");
        let keys = bb.serde(self.keys.clone(), &what);
        let values = bb.serde(self.values.clone(), &what);
        let def = Stores::key_value(&store, Serdes::bytes(), Serdes::bytes());
        if bb.topology.stores.contains_key(&store) {
            bb.errors.push(StreamsError::Topology(format!(
                "a store named {store} already exists"
            )));
        } else {
            bb.topology.stores.insert(store.clone(), Arc::new(def.def));
        }
        let config = Arc::new(BufferSpec {
            store: store.clone(),
            keys: keys.clone(),
            values: values.clone(),
            time: suppressed.time,
            wait,
            max_records: suppressed.buffer.max_records,
            max_bytes: suppressed.buffer.max_bytes,
            full: suppressed.buffer.full,
            drop_tombstones: suppressed.until == Until::WindowCloses,
        });
        let supplier = node_supplier(move || Suppress {
            spec: config.clone(),
            buffer: None,
        });
        let r = bb.topology.add_node(&node, supplier, &[&self.node]);
        bb.check(r);
        let r = bb
            .topology
            .connect_processor_and_state_stores(&node, &[&store])
            .map(|_| ());
        bb.check(r);
        drop(bb);
        KTable {
            b: b.clone(),
            node,
            keys: Some(keys),
            values: Some(values),
            store: None,
        }
    }
}

/// A suppression, as its processors share it.
struct BufferSpec<K, V> {
    store: String,
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
    time: TimeFn<K>,
    /// How long after its buffer time an entry leaves, ms.
    wait: i64,
    max_records: Option<u64>,
    max_bytes: Option<u64>,
    full: BufferFullStrategy,
    drop_tombstones: bool,
}

/// The store key of the stream time.
const TIME_KEY: &[u8] = &[0];
/// The prefix of buffered keys.
const ENTRY: u8 = 1;

/// A buffered update as stored.
struct Entry {
    buffer_time: i64,
    timestamp: i64,
    headers: Headers,
    /// `None`: absent; `Some(None)`: present, serialized as a null field.
    old: Option<Option<Bytes>>,
    new: Option<Option<Bytes>>,
}

fn put_field(out: &mut Vec<u8>, field: &Option<Option<Bytes>>) {
    match field {
        None => out.push(0),
        Some(None) => out.push(2),
        Some(Some(b)) => {
            out.push(1);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

impl Entry {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        out.extend_from_slice(&self.buffer_time.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        put_field(&mut out, &self.old);
        put_field(&mut out, &self.new);
        out.extend_from_slice(&(self.headers.len() as u32).to_be_bytes());
        for h in &self.headers {
            out.extend_from_slice(&(h.key.len() as u32).to_be_bytes());
            out.extend_from_slice(h.key.as_bytes());
            put_field(&mut out, &Some(h.value.clone()));
        }
        out
    }

    fn decode(store: &str, b: &[u8]) -> std::result::Result<Entry, StoreError> {
        let mut r = Reader { b, store };
        let buffer_time = r.i64()?;
        let timestamp = r.i64()?;
        let old = r.field()?;
        let new = r.field()?;
        let n = r.u32()?;
        let mut headers = Vec::new();
        for _ in 0..n {
            let len = r.u32()? as usize;
            let key = String::from_utf8(r.take(len)?.to_vec())
                .map_err(|_| r.corrupt("a header key is not UTF-8"))?;
            let value = r
                .field()?
                .ok_or_else(|| r.corrupt("a header without a value flag"))?;
            headers.push(Header { key, value });
        }
        if !r.b.is_empty() {
            return Err(r.corrupt("trailing bytes"));
        }
        Ok(Entry {
            buffer_time,
            timestamp,
            headers,
            old,
            new,
        })
    }
}

struct Reader<'a> {
    b: &'a [u8],
    store: &'a str,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, reason: &str) -> StoreError {
        StoreError::Corrupt {
            store: self.store.to_owned(),
            reason: format!("a suppression buffer entry: {reason}"),
        }
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], StoreError> {
        if self.b.len() < n {
            return Err(self.corrupt("truncated"));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn i64(&mut self) -> std::result::Result<i64, StoreError> {
        let b = self.take(8)?;
        Ok(i64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    fn u32(&mut self) -> std::result::Result<u32, StoreError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes(b.try_into().expect("4 bytes")))
    }

    fn field(&mut self) -> std::result::Result<Option<Option<Bytes>>, StoreError> {
        match self.take(1)?[0] {
            0 => Ok(None),
            2 => Ok(Some(None)),
            1 => {
                let len = self.u32()? as usize;
                Ok(Some(Some(Bytes::copy_from_slice(self.take(len)?))))
            }
            f => Err(self.corrupt(&format!("unknown field flag {f}"))),
        }
    }
}

/// The buffer of one task: the store, and in memory an index by buffer time and the size
/// of each entry.
struct Buffer {
    store: KeyValueStoreHandle<Bytes, Bytes>,
    index: BTreeSet<(i64, Vec<u8>)>,
    /// Buffer time and stored size by serialized key.
    entries: HashMap<Vec<u8>, (i64, usize)>,
    bytes: u64,
    observed: i64,
    /// `observed` moved since it was last saved (it is saved at commit).
    observed_dirty: bool,
}

impl Buffer {
    fn store_key(key: &[u8]) -> Bytes {
        let mut k = Vec::with_capacity(1 + key.len());
        k.push(ENTRY);
        k.extend_from_slice(key);
        Bytes::from(k)
    }

    fn insert(&mut self, key: Vec<u8>, time: i64, size: usize) {
        if let Some((t, s)) = self.entries.insert(key.clone(), (time, size)) {
            self.index.remove(&(t, key.clone()));
            self.bytes -= s as u64;
        }
        self.index.insert((time, key));
        self.bytes += size as u64;
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some((t, s)) = self.entries.remove(key) {
            self.index.remove(&(t, key.to_vec()));
            self.bytes -= s as u64;
        }
    }
}

/// The suppression processor (Kafka Streams' `KTableSuppressProcessor`).
struct Suppress<K, V> {
    spec: Arc<BufferSpec<K, V>>,
    buffer: Option<Buffer>,
}

impl<K: Data, V: Data> Suppress<K, V> {
    fn topic(&self) -> &str {
        &self
            .buffer
            .as_ref()
            .expect("init opened the buffer")
            .store
            .topic
    }

    fn ser_key(&self, k: &K) -> Result<Vec<u8>> {
        let s = &self.spec;
        match s.keys.serialize(self.topic(), k) {
            Ok(Some(b)) => Ok(b.to_vec()),
            Ok(None) => Ok(Vec::new()),
            Err(source) => Err(StreamsError::Serde {
                what: "suppression buffer key".into(),
                node: s.store.clone(),
                source,
            }),
        }
    }

    fn ser_value(&self, v: &Option<V>) -> Result<Option<Option<Bytes>>> {
        let Some(v) = v else { return Ok(None) };
        self.spec
            .values
            .serialize(self.topic(), v)
            .map(Some)
            .map_err(|source| StreamsError::Serde {
                what: "suppression buffer value".into(),
                node: self.spec.store.clone(),
                source,
            })
    }

    fn de_value(&self, v: Option<Option<Bytes>>) -> Result<Option<V>> {
        let Some(v) = v else { return Ok(None) };
        self.spec
            .values
            .deserialize(self.topic(), v.as_deref())
            .map(Some)
            .map_err(|source| StreamsError::Serde {
                what: "suppression buffer value".into(),
                node: self.spec.store.clone(),
                source,
            })
    }

    fn read(&self, key: &[u8]) -> Result<Option<Entry>> {
        let buffer = self.buffer.as_ref().expect("init opened the buffer");
        let raw = buffer.store.get(&Buffer::store_key(key))?;
        raw.map(|b| Entry::decode(&self.spec.store, &b).map_err(StreamsError::from))
            .transpose()
    }

    /// Takes the entry of `key` out of the buffer and forwards it (unless it is a tombstone
    /// that may be dropped).
    fn evict(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>, key: Vec<u8>) -> Result<()> {
        let entry = self.read(&key)?;
        let buffer = self.buffer.as_mut().expect("init opened the buffer");
        buffer.store.delete(&Buffer::store_key(&key))?;
        buffer.remove(&key);
        let Some(entry) = entry else { return Ok(()) };
        let new = self.de_value(entry.new)?;
        if new.is_none() && self.spec.drop_tombstones {
            return Ok(());
        }
        let old = self.de_value(entry.old)?;
        let k = self
            .spec
            .keys
            .deserialize(self.topic(), Some(&key))
            .map_err(|source| StreamsError::Serde {
                what: "suppression buffer key".into(),
                node: self.spec.store.clone(),
                source,
            })?;
        let mut out = Record::new(k, Change { new, old }, entry.timestamp);
        out.headers = entry.headers;
        ctx.forward(out)
    }

    fn over_capacity(&self) -> bool {
        let b = self.buffer.as_ref().expect("init opened the buffer");
        self.spec
            .max_records
            .is_some_and(|m| b.entries.len() as u64 > m)
            || self.spec.max_bytes.is_some_and(|m| b.bytes > m)
    }

    fn oldest(&self) -> Option<(i64, Vec<u8>)> {
        self.buffer.as_ref().and_then(|b| b.index.first().cloned())
    }
}

impl<K: Data, V: Data> Processor<K, Change<V>, K, Change<V>> for Suppress<K, V> {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        let store = ctx.key_value_store::<Bytes, Bytes>(&self.spec.store)?;
        let mut buffer = Buffer {
            store,
            index: BTreeSet::new(),
            entries: HashMap::new(),
            bytes: 0,
            observed: i64::MIN,
            observed_dirty: false,
        };
        for (k, v) in buffer.store.all()? {
            match k.split_first() {
                Some((&ENTRY, key)) => {
                    let e = Entry::decode(&self.spec.store, &v)?;
                    buffer.insert(key.to_vec(), e.buffer_time, k.len() + v.len());
                }
                _ if &k[..] == TIME_KEY => {
                    let t: [u8; 8] = v[..].try_into().map_err(|_| StoreError::Corrupt {
                        store: self.spec.store.clone(),
                        reason: format!("a stream time of {} byte(s), not 8", v.len()),
                    })?;
                    buffer.observed = i64::from_be_bytes(t);
                }
                _ => {
                    return Err(StreamsError::Store(StoreError::Corrupt {
                        store: self.spec.store.clone(),
                        reason: "an entry that is not a suppression buffer's".into(),
                    }))
                }
            }
        }
        self.buffer = Some(buffer);
        Ok(())
    }

    fn flush(&mut self, _ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        if let Some(buffer) = self.buffer.as_mut() {
            if std::mem::take(&mut buffer.observed_dirty) {
                buffer.store.put(
                    &Bytes::from_static(TIME_KEY),
                    &Bytes::copy_from_slice(&buffer.observed.to_be_bytes()),
                )?;
            }
        }
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let key = self.ser_key(&r.key)?;
        let buffered = self
            .buffer
            .as_ref()
            .is_some_and(|b| b.entries.contains_key(&key));
        let previous = if buffered { self.read(&key)? } else { None };
        let buffer_time = match &previous {
            Some(p) => p.buffer_time,
            None => (self.spec.time)(&r.key, r.timestamp),
        };
        let old = match previous {
            Some(p) => p.old,
            None => self.ser_value(&r.value.old)?,
        };
        let entry = Entry {
            buffer_time,
            timestamp: r.timestamp,
            headers: r.headers,
            old,
            new: self.ser_value(&r.value.new)?,
        };
        let value = entry.encode();
        let store_key = Buffer::store_key(&key);
        let size = store_key.len() + value.len();
        let buffer = self.buffer.as_mut().expect("init opened the buffer");
        buffer.store.put(&store_key, &Bytes::from(value))?;
        buffer.insert(key, buffer_time, size);
        if r.timestamp > buffer.observed {
            // Saved at commit (`flush`), the point input is replayed from after a crash,
            // not per record.
            buffer.observed = r.timestamp;
            buffer.observed_dirty = true;
        }
        let expiry = buffer.observed.saturating_sub(self.spec.wait);
        while let Some((time, key)) = self.oldest() {
            if time > expiry {
                break;
            }
            self.evict(ctx, key)?;
        }
        if self.over_capacity() {
            match self.spec.full {
                BufferFullStrategy::EmitEarly => {
                    while self.over_capacity() {
                        let Some((_, key)) = self.oldest() else { break };
                        self.evict(ctx, key)?;
                    }
                }
                BufferFullStrategy::ShutDown => {
                    let b = self.buffer.as_ref().expect("init opened the buffer");
                    let limit =
                        |m: Option<u64>| m.map_or("unbounded".to_owned(), |m| m.to_string());
                    return Err(StreamsError::processor(
                        ctx.name(),
                        format!(
                            "the suppression buffer exceeded its max capacity: {}/{} records \
                             and {}/{} bytes (BufferConfig::shut_down_when_full)",
                            b.entries.len(),
                            limit(self.spec.max_records),
                            b.bytes,
                            limit(self.spec.max_bytes)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_entries_round_trip_and_reject_garbage() {
        let e = Entry {
            buffer_time: 10,
            timestamp: 7,
            headers: vec![Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"v")),
            }],
            old: None,
            new: Some(Some(Bytes::from_static(b"x"))),
        };
        let b = e.encode();
        let d = Entry::decode("s", &b).unwrap();
        assert_eq!((d.buffer_time, d.timestamp), (10, 7));
        assert_eq!(d.headers, e.headers);
        assert_eq!(d.old, None);
        assert_eq!(d.new, Some(Some(Bytes::from_static(b"x"))));
        assert!(Entry::decode("s", &b[..b.len() - 1]).is_err());
        let mut trailing = b.clone();
        trailing.push(0);
        assert!(Entry::decode("s", &trailing).is_err());
    }

    #[test]
    fn bounded_buffers_are_eager_unless_made_strict() {
        assert_eq!(
            BufferConfig::max_records(3).full_strategy(),
            BufferFullStrategy::EmitEarly
        );
        assert_eq!(
            BufferConfig::max_bytes(3)
                .should_shut_down_when_full()
                .full_strategy(),
            BufferFullStrategy::ShutDown
        );
        assert_eq!(
            BufferConfig::unbounded().full_strategy(),
            BufferFullStrategy::ShutDown
        );
    }
}
