//! The materialized side of tables: [`TableState`] keeps a table's latest values in its
//! timestamped store, behind an optional write cache, and forwards each change as a
//! [`Change`] (new and old value).
//!
//! With caching on (the DSL default, as in Kafka Streams), updates of one key between two
//! commits are folded into one: the store, the changelog and the children see only the
//! latest value, when the task commits (or when the cache is full). With caching off every
//! update is written and forwarded at once.

use std::collections::HashMap;

use super::ktable::Change;
use crate::error::Result;
use crate::processor::ProcessorContext;
use crate::record::{Data, Headers, Record};
use crate::store::TimestampedKeyValueStoreHandle;

/// A cached key: its latest value, and for a dirty one (updated since the last flush)
/// what the store held before.
struct Entry<K, V> {
    key: K,
    /// The latest value; `None`: deleted or absent.
    value: Option<V>,
    /// Its timestamp (`i64::MIN` for an absent key).
    timestamp: i64,
    /// The headers of the latest update's record.
    headers: Headers,
    /// What the store held before the first update since the last flush: the old value
    /// forwarded.
    old: Option<V>,
    dirty: bool,
}

/// A table's store and cache, for the processor that materializes it.
pub(crate) struct TableState<K, V> {
    pub store: TimestampedKeyValueStoreHandle<K, V>,
    cache: Option<Cache<K, V>>,
}

/// Entries by serialized key. Clean entries stay after a flush, so a key updated again
/// is read from memory, not from RocksDB; when the cache is full it is flushed and
/// emptied.
struct Cache<K, V> {
    entries: HashMap<Vec<u8>, Entry<K, V>>,
    /// Dirty keys in the order of their first update since the last flush.
    order: Vec<Vec<u8>>,
    max_entries: usize,
}

impl<K: Data, V: Data> TableState<K, V> {
    /// `max_entries` of cache (0: no cache).
    pub fn new(store: TimestampedKeyValueStoreHandle<K, V>, max_entries: usize) -> Self {
        let cache = (max_entries > 0).then(|| Cache {
            entries: HashMap::new(),
            order: Vec::new(),
            max_entries,
        });
        TableState { store, cache }
    }

    /// The state of the table in store `store_name` of the processor's task, cached if
    /// `caching` (up to the task's cache size).
    pub fn open(
        ctx: &ProcessorContext<'_, K, Change<V>>,
        store_name: &str,
        caching: bool,
    ) -> Result<Self> {
        let store = ctx.timestamped_key_value_store::<K, V>(store_name)?;
        let cache = if caching { ctx.cache_max_entries() } else { 0 };
        Ok(TableState::new(store, cache))
    }

    /// Sets `key` to what `f` makes of its current value (`None`: absent), at the later of
    /// `timestamp` and the current value's: what an aggregation does per record.
    pub fn update(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        key: K,
        timestamp: i64,
        headers: Headers,
        f: impl FnOnce(&K, Option<V>) -> Option<V>,
    ) -> Result<()> {
        self.change(ctx, key, headers, |k, old, old_ts| {
            let ts = if old.is_some() {
                old_ts.max(timestamp)
            } else {
                timestamp
            };
            (f(k, old), ts)
        })
    }

    /// Sets `key` to `value` (`None` deletes) at `timestamp`, forwarding the change now
    /// (no cache) or at the next flush, with `headers` (those of the record that caused
    /// it; the latest update's when cached, as Kafka Streams' cache keeps them).
    pub fn put(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        key: K,
        value: Option<V>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()> {
        self.change(ctx, key, headers, |_, _, _| (value, timestamp))
    }

    /// Replaces `key`'s value and timestamp with what `f` makes of them.
    fn change(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        key: K,
        headers: Headers,
        f: impl FnOnce(&K, Option<V>, i64) -> (Option<V>, i64),
    ) -> Result<()> {
        let TableState { store, cache } = self;
        let Some(cache) = cache else {
            let current = store.get(&key)?;
            let (old, old_ts) = match current {
                Some((v, t)) => (Some(v), t),
                None => (None, i64::MIN),
            };
            let (value, timestamp) = f(&key, old.clone(), old_ts);
            match &value {
                Some(v) => store.put(&key, v, timestamp)?,
                None => {
                    store.delete(&key)?;
                }
            }
            let mut out = Record::new(key, Change { new: value, old }, timestamp);
            out.headers = headers;
            return ctx.forward(out);
        };
        let kb = store.key_bytes(&key)?;
        let e = match cache.entries.entry(kb) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let (value, timestamp) = match store.get(&key)? {
                    Some((v, t)) => (Some(v), t),
                    None => (None, i64::MIN),
                };
                v.insert(Entry {
                    key,
                    value,
                    timestamp,
                    headers: Vec::new(),
                    old: None,
                    dirty: false,
                })
            }
        };
        let current = e.value.take();
        if !e.dirty {
            e.dirty = true;
            e.old = current.clone();
            cache.order.push(store.key_bytes(&e.key)?);
        }
        let (value, timestamp) = f(&e.key, current, e.timestamp);
        e.value = value;
        e.timestamp = timestamp;
        e.headers = headers;
        if cache.entries.len() >= cache.max_entries {
            self.flush(ctx)?;
            if let Some(c) = &mut self.cache {
                c.entries.clear();
            }
        }
        Ok(())
    }

    /// Writes the cached updates to the store (one batch) and forwards them, in the order
    /// of their first update.
    pub fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        let Some(cache) = &mut self.cache else {
            return Ok(());
        };
        if cache.order.is_empty() {
            return Ok(());
        }
        let order = std::mem::take(&mut cache.order);
        let mut batch = Vec::with_capacity(order.len());
        let mut changes = Vec::with_capacity(order.len());
        for kb in order {
            let Some(e) = cache.entries.get_mut(&kb) else {
                continue;
            };
            e.dirty = false;
            let value = e.value.clone();
            batch.push((e.key.clone(), value.clone().map(|v| (v, e.timestamp))));
            let change = Change {
                new: value,
                old: e.old.take(),
            };
            let mut out = Record::new(e.key.clone(), change, e.timestamp);
            out.headers = std::mem::take(&mut e.headers);
            changes.push(out);
        }
        self.store.put_all(&batch)?;
        for out in changes {
            ctx.forward(out)?;
        }
        Ok(())
    }
}
