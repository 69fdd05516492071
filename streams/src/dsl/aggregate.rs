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

/// A cached update of one key.
struct Entry<K, V> {
    key: K,
    /// The latest value; `None` deletes.
    value: Option<V>,
    timestamp: i64,
    /// The headers of the latest update's record.
    headers: Headers,
    /// What the store held before the first cached update: the old value forwarded.
    old: Option<V>,
}

/// A table's store and cache, for the processor that materializes it.
pub(crate) struct TableState<K, V> {
    pub store: TimestampedKeyValueStoreHandle<K, V>,
    cache: Option<Cache<K, V>>,
}

struct Cache<K, V> {
    entries: HashMap<Vec<u8>, Entry<K, V>>,
    /// Keys in the order of their first update since the last flush.
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

    /// The current value of `key` and its timestamp.
    pub fn get(&self, key: &K) -> Result<Option<(V, i64)>> {
        if let Some(c) = &self.cache {
            let kb = self.store.key_bytes(key)?;
            if let Some(e) = c.entries.get(&kb) {
                return Ok(e.value.clone().map(|v| (v, e.timestamp)));
            }
        }
        self.store.get(key)
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
        let Some(cache) = &mut self.cache else {
            let old = self.store.get(&key)?.map(|(v, _)| v);
            match &value {
                Some(v) => self.store.put(&key, v, timestamp)?,
                None => {
                    self.store.delete(&key)?;
                }
            }
            let mut out = Record::new(key, Change { new: value, old }, timestamp);
            out.headers = headers;
            return ctx.forward(out);
        };
        let kb = self.store.key_bytes(&key)?;
        match cache.entries.get_mut(&kb) {
            Some(e) => {
                e.value = value;
                e.timestamp = timestamp;
                e.headers = headers;
            }
            None => {
                let old = self.store.get(&key)?.map(|(v, _)| v);
                cache.order.push(kb.clone());
                cache.entries.insert(
                    kb,
                    Entry {
                        key,
                        value,
                        timestamp,
                        headers,
                        old,
                    },
                );
            }
        }
        if cache.entries.len() >= cache.max_entries {
            self.flush(ctx)?;
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
        let mut entries = std::mem::take(&mut cache.entries);
        let mut batch = Vec::with_capacity(order.len());
        let mut changes = Vec::with_capacity(order.len());
        for kb in order {
            let Some(e) = entries.remove(&kb) else {
                continue;
            };
            batch.push((e.key.clone(), e.value.clone().map(|v| (v, e.timestamp))));
            changes.push(e);
        }
        self.store.put_all(&batch)?;
        for e in changes {
            let change = Change {
                new: e.value,
                old: e.old,
            };
            let mut out = Record::new(e.key, change, e.timestamp);
            out.headers = e.headers;
            ctx.forward(out)?;
        }
        Ok(())
    }
}
