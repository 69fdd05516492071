//! State stores as a topology declares them ([`Stores`], [`StoreBuilder`]) and as
//! processors use them (typed handles over `brook-state`'s byte stores).
//!
//! A handle serializes keys and values with the store's serdes (the serde topic is the
//! store's changelog topic, as in Kafka Streams) and calls the task's store, which is a
//! RocksDB or in-memory store from `brook-state`, wrapped for changelogging when logging is
//! on. Scans return `Vec`s: a handle holds no lock between calls.

use std::any::Any;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

use brook_state::changelog::Restore;
use brook_state::{KeyValueStore, SessionStore, SessionWindow, ValueAndTimestamp, WindowStore};

use crate::error::{Result, StreamsError};
use crate::record::Data;
use crate::serde::SerdeRef;

/// A key-value store that can also be restored from its changelog (without logging
/// again); likewise for windows and sessions.
pub(crate) trait KvStore: KeyValueStore + Restore {}
impl<T: KeyValueStore + Restore> KvStore for T {}
pub(crate) trait WinStore: WindowStore + Restore {}
impl<T: WindowStore + Restore> WinStore for T {}
pub(crate) trait SessStore: SessionStore + Restore {}
impl<T: SessionStore + Restore> SessStore for T {}

pub(crate) type SharedKv = Arc<Mutex<Box<dyn KvStore>>>;
pub(crate) type SharedWindow = Arc<Mutex<Box<dyn WinStore>>>;
pub(crate) type SharedSession = Arc<Mutex<Box<dyn SessStore>>>;

/// What kind of store, with its time parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// A key-value store; `timestamped` ones keep each value's timestamp (tables).
    KeyValue { timestamped: bool },
    /// A window store.
    Window {
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
    },
    /// A session store.
    Session { retention_ms: i64 },
}

/// A store as a topology declares it.
#[derive(Clone)]
pub struct StoreDef {
    pub(crate) name: String,
    pub(crate) kind: StoreKind,
    /// RocksDB (true) or in memory.
    pub(crate) persistent: bool,
    /// Whether writes are mirrored to the changelog topic.
    pub(crate) logging: bool,
    /// Topic configs for the changelog topic (beside `cleanup.policy=compact`).
    pub(crate) logging_config: Vec<(String, String)>,
    pub(crate) caching: bool,
    /// `(SerdeRef<K>, SerdeRef<V>)`, erased.
    pub(crate) serdes: Arc<dyn Any + Send + Sync>,
    pub(crate) key_type: &'static str,
    pub(crate) value_type: &'static str,
}

impl std::fmt::Debug for StoreDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreDef")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("persistent", &self.persistent)
            .field("logging", &self.logging)
            .field("caching", &self.caching)
            .finish()
    }
}

impl StoreDef {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> &StoreKind {
        &self.kind
    }

    pub fn persistent(&self) -> bool {
        self.persistent
    }

    pub fn logging(&self) -> bool {
        self.logging
    }

    /// The changelog topic of this store in application `application_id`.
    pub fn changelog_topic(&self, application_id: &str) -> String {
        changelog_topic(application_id, &self.name)
    }

    pub(crate) fn serdes<K: Data, V: Data>(&self) -> Result<(SerdeRef<K>, SerdeRef<V>)> {
        self.serdes
            .downcast_ref::<(SerdeRef<K>, SerdeRef<V>)>()
            .cloned()
            .ok_or_else(|| {
                StreamsError::Topology(format!(
                    "store {} holds keys of type {} and values of type {}, not {} and {}",
                    self.name,
                    self.key_type,
                    self.value_type,
                    std::any::type_name::<K>(),
                    std::any::type_name::<V>()
                ))
            })
    }
}

/// `<application.id>-<store>-changelog`.
pub fn changelog_topic(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}-changelog")
}

/// Declares a store for [`Topology::add_state_store`](crate::Topology::add_state_store)
/// (Kafka Streams' `StoreBuilder`): persistent, logged and uncached unless told otherwise.
#[derive(Debug, Clone)]
pub struct StoreBuilder {
    pub(crate) def: StoreDef,
}

impl StoreBuilder {
    /// Keeps the store in memory instead of RocksDB (its changelog still restores it).
    pub fn in_memory(mut self) -> StoreBuilder {
        self.def.persistent = false;
        self
    }

    /// Turns changelogging off: the store is not restored after a move or a crash.
    pub fn with_logging_disabled(mut self) -> StoreBuilder {
        self.def.logging = false;
        self
    }

    /// Changelogging on, with extra topic configs for the changelog topic.
    pub fn with_logging_enabled(mut self, config: &[(&str, &str)]) -> StoreBuilder {
        self.def.logging = true;
        self.def.logging_config = config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self
    }

    /// Caches writes and forwards only the latest value per key at commit (for DSL
    /// aggregations; a store used by a processor directly writes through).
    pub fn with_caching_enabled(mut self) -> StoreBuilder {
        self.def.caching = true;
        self
    }

    pub fn with_caching_disabled(mut self) -> StoreBuilder {
        self.def.caching = false;
        self
    }

    pub fn name(&self) -> &str {
        &self.def.name
    }
}

/// Store builders by kind (Kafka Streams' `Stores`).
pub struct Stores;

impl Stores {
    fn builder<K: Data, V: Data>(
        name: &str,
        kind: StoreKind,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
    ) -> StoreBuilder {
        StoreBuilder {
            def: StoreDef {
                name: name.to_owned(),
                kind,
                persistent: true,
                logging: true,
                logging_config: Vec::new(),
                caching: false,
                serdes: Arc::new((keys, values)),
                key_type: std::any::type_name::<K>(),
                value_type: std::any::type_name::<V>(),
            },
        }
    }

    /// A key-value store.
    pub fn key_value<K: Data, V: Data>(
        name: &str,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
    ) -> StoreBuilder {
        Self::builder(
            name,
            StoreKind::KeyValue { timestamped: false },
            keys,
            values,
        )
    }

    /// A key-value store that keeps each value's timestamp (what a `KTable` keeps).
    pub fn timestamped_key_value<K: Data, V: Data>(
        name: &str,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
    ) -> StoreBuilder {
        Self::builder(
            name,
            StoreKind::KeyValue { timestamped: true },
            keys,
            values,
        )
    }

    /// A window store keeping windows of `window_size_ms` for `retention_ms`.
    pub fn window<K: Data, V: Data>(
        name: &str,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
    ) -> StoreBuilder {
        let kind = StoreKind::Window {
            retention_ms,
            window_size_ms,
            retain_duplicates,
        };
        Self::builder(name, kind, keys, values)
    }

    /// A session store keeping sessions for `retention_ms` after they end.
    pub fn session<K: Data, V: Data>(
        name: &str,
        retention_ms: i64,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
    ) -> StoreBuilder {
        Self::builder(name, StoreKind::Session { retention_ms }, keys, values)
    }
}

/// An open store of a task.
#[derive(Clone)]
pub(crate) enum OpenStore {
    KeyValue(SharedKv),
    Window(SharedWindow),
    Session(SharedSession),
}

impl OpenStore {
    pub(crate) fn flush(&self) -> std::result::Result<(), brook_state::StoreError> {
        match self {
            OpenStore::KeyValue(s) => lock(s).flush(),
            OpenStore::Window(s) => lock(s).flush(),
            OpenStore::Session(s) => lock(s).flush(),
        }
    }

    /// Applies a batch of its changelog, without logging it again.
    pub(crate) fn restore(
        &self,
        records: &[brook_state::changelog::ChangelogRecord<'_>],
    ) -> std::result::Result<(), brook_state::StoreError> {
        match self {
            OpenStore::KeyValue(s) => lock(s).restore_batch(records),
            OpenStore::Window(s) => lock(s).restore_batch(records),
            OpenStore::Session(s) => lock(s).restore_batch(records),
        }
    }

    pub(crate) fn close(&self) -> std::result::Result<(), brook_state::StoreError> {
        match self {
            OpenStore::KeyValue(s) => lock(s).close(),
            OpenStore::Window(s) => lock(s).close(),
            OpenStore::Session(s) => lock(s).close(),
        }
    }
}

/// Locks a store. A store's lock is only ever held for one call, so a poisoned lock (a
/// panic inside a store call) still guards a store in a consistent state: take it.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serializes `v` for store `store` (a null field is an error: stores need bytes).
pub(crate) fn ser<T: 'static>(
    serde: &SerdeRef<T>,
    topic: &str,
    store: &str,
    what: &str,
    v: &T,
) -> Result<Vec<u8>> {
    match serde.serialize(topic, v) {
        Ok(Some(b)) => Ok(b.to_vec()),
        Ok(None) => Err(StreamsError::Topology(format!(
            "store {store}: the {what} serde wrote a null field; stores need non-null {what}s"
        ))),
        Err(source) => Err(StreamsError::Serde {
            what: format!("store {what}"),
            node: store.to_owned(),
            source,
        }),
    }
}

/// Deserializes `b` read from store `store`.
pub(crate) fn de<T: 'static>(
    serde: &SerdeRef<T>,
    topic: &str,
    store: &str,
    what: &str,
    b: &[u8],
) -> Result<T> {
    serde
        .deserialize(topic, Some(b))
        .map_err(|source| StreamsError::Serde {
            what: format!("store {what}"),
            node: store.to_owned(),
            source,
        })
}

/// A typed key-value store (Kafka Streams' `KeyValueStore<K, V>`).
pub struct KeyValueStoreHandle<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) topic: Arc<str>,
    pub(crate) store: SharedKv,
    pub(crate) keys: SerdeRef<K>,
    pub(crate) values: SerdeRef<V>,
}

impl<K, V> Clone for KeyValueStoreHandle<K, V> {
    fn clone(&self) -> Self {
        KeyValueStoreHandle {
            name: self.name.clone(),
            topic: self.topic.clone(),
            store: self.store.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
        }
    }
}

impl<K: Data, V: Data> KeyValueStoreHandle<K, V> {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn key(&self, k: &K) -> Result<Vec<u8>> {
        ser(&self.keys, &self.topic, &self.name, "key", k)
    }

    fn value(&self, b: &[u8]) -> Result<V> {
        de(&self.values, &self.topic, &self.name, "value", b)
    }

    fn pair(&self, (k, v): (Vec<u8>, Vec<u8>)) -> Result<(K, V)> {
        Ok((
            de(&self.keys, &self.topic, &self.name, "key", &k)?,
            self.value(&v)?,
        ))
    }

    pub(crate) fn get_raw(&self, key: &K) -> Result<Option<Vec<u8>>> {
        let k = self.key(key)?;
        Ok(lock(&self.store).get(&k)?)
    }

    pub(crate) fn put_raw(&self, key: &K, value: &[u8]) -> Result<()> {
        let k = self.key(key)?;
        Ok(lock(&self.store).put(&k, value)?)
    }

    pub(crate) fn raw_all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let s = lock(&self.store);
        let v = s.all()?.collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(v)
    }

    pub(crate) fn key_of(&self, b: &[u8]) -> Result<K> {
        de(&self.keys, &self.topic, &self.name, "key", b)
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.get_raw(key)?.map(|b| self.value(&b)).transpose()
    }

    /// Sets `key` to `value`.
    pub fn put(&self, key: &K, value: &V) -> Result<()> {
        let v = ser(&self.values, &self.topic, &self.name, "value", value)?;
        self.put_raw(key, &v)
    }

    /// Sets `key` to `value` unless it has one; returns what it had.
    pub fn put_if_absent(&self, key: &K, value: &V) -> Result<Option<V>> {
        let k = self.key(key)?;
        let v = ser(&self.values, &self.topic, &self.name, "value", value)?;
        let old = lock(&self.store).put_if_absent(&k, &v)?;
        old.map(|b| self.value(&b)).transpose()
    }

    /// Writes every entry in one batch; `None` deletes.
    pub fn put_all(&self, entries: &[(K, Option<V>)]) -> Result<()> {
        let mut bytes = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let v = match v {
                Some(v) => Some(ser(&self.values, &self.topic, &self.name, "value", v)?),
                None => None,
            };
            bytes.push((self.key(k)?, v));
        }
        let refs: Vec<(&[u8], Option<&[u8]>)> = bytes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        Ok(lock(&self.store).write_batch(&refs)?)
    }

    /// Deletes `key`; returns what it had.
    pub fn delete(&self, key: &K) -> Result<Option<V>> {
        let k = self.key(key)?;
        let old = lock(&self.store).delete(&k)?;
        old.map(|b| self.value(&b)).transpose()
    }

    /// The entries from `from` to `to` (both included), in the order of the serialized
    /// keys.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let (f, t) = (self.key(from)?, self.key(to)?);
        let s = lock(&self.store);
        let raw = s
            .range(Bound::Included(&f), Bound::Included(&t), false)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        drop(s);
        raw.into_iter().map(|e| self.pair(e)).collect()
    }

    /// Every entry, in the order of the serialized keys.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        self.raw_all()?.into_iter().map(|e| self.pair(e)).collect()
    }

    /// About how many entries the store holds.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        Ok(lock(&self.store).approximate_num_entries()?)
    }
}

/// A typed key-value store whose values carry their timestamps (Kafka Streams'
/// `TimestampedKeyValueStore`): what a `KTable` is materialized in.
pub struct TimestampedKeyValueStoreHandle<K, V> {
    inner: KeyValueStoreHandle<K, V>,
}

impl<K, V> Clone for TimestampedKeyValueStoreHandle<K, V> {
    fn clone(&self) -> Self {
        TimestampedKeyValueStoreHandle {
            inner: self.inner.clone(),
        }
    }
}

impl<K: Data, V: Data> TimestampedKeyValueStoreHandle<K, V> {
    pub(crate) fn new(inner: KeyValueStoreHandle<K, V>) -> Self {
        TimestampedKeyValueStoreHandle { inner }
    }

    pub fn name(&self) -> &str {
        self.inner.name()
    }

    fn decode(&self, b: &[u8]) -> Result<(V, i64)> {
        let vt = ValueAndTimestamp::decode(&self.inner.name, b)?;
        Ok((self.inner.value(&vt.value)?, vt.timestamp))
    }

    /// The value of `key` and its timestamp.
    pub fn get(&self, key: &K) -> Result<Option<(V, i64)>> {
        self.inner
            .get_raw(key)?
            .map(|b| self.decode(&b))
            .transpose()
    }

    /// Sets `key` to `value` at `timestamp`.
    pub fn put(&self, key: &K, value: &V, timestamp: i64) -> Result<()> {
        let v = ser(
            &self.inner.values,
            &self.inner.topic,
            &self.inner.name,
            "value",
            value,
        )?;
        let vt = ValueAndTimestamp {
            value: v,
            timestamp,
        };
        self.inner.put_raw(key, &vt.encode())
    }

    /// The serialized form of `key`.
    pub(crate) fn key_bytes(&self, key: &K) -> Result<Vec<u8>> {
        self.inner.key(key)
    }

    /// Writes every entry in one batch; `None` deletes.
    pub fn put_all(&self, entries: &[(K, Option<(V, i64)>)]) -> Result<()> {
        let mut bytes = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let v = match v {
                Some((v, ts)) => {
                    let value = ser(
                        &self.inner.values,
                        &self.inner.topic,
                        &self.inner.name,
                        "value",
                        v,
                    )?;
                    Some(
                        ValueAndTimestamp {
                            value,
                            timestamp: *ts,
                        }
                        .encode(),
                    )
                }
                None => None,
            };
            bytes.push((self.inner.key(k)?, v));
        }
        let refs: Vec<(&[u8], Option<&[u8]>)> = bytes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        Ok(lock(&self.inner.store).write_batch(&refs)?)
    }

    /// Deletes `key`; returns what it had.
    pub fn delete(&self, key: &K) -> Result<Option<(V, i64)>> {
        let k = self.inner.key(key)?;
        let old = lock(&self.inner.store).delete(&k)?;
        old.map(|b| self.decode(&b)).transpose()
    }

    /// Every entry with its timestamp.
    pub fn all(&self) -> Result<Vec<(K, V, i64)>> {
        let raw = self.inner.raw_all()?;
        raw.into_iter()
            .map(|(k, v)| {
                let (v, ts) = self.decode(&v)?;
                Ok((self.inner.key_of(&k)?, v, ts))
            })
            .collect()
    }

    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.inner.approximate_num_entries()
    }
}

/// A typed window store (Kafka Streams' `WindowStore<K, V>`).
pub struct WindowStoreHandle<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) topic: Arc<str>,
    pub(crate) store: SharedWindow,
    pub(crate) keys: SerdeRef<K>,
    pub(crate) values: SerdeRef<V>,
}

impl<K, V> Clone for WindowStoreHandle<K, V> {
    fn clone(&self) -> Self {
        WindowStoreHandle {
            name: self.name.clone(),
            topic: self.topic.clone(),
            store: self.store.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
        }
    }
}

impl<K: Data, V: Data> WindowStoreHandle<K, V> {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn key(&self, k: &K) -> Result<Vec<u8>> {
        ser(&self.keys, &self.topic, &self.name, "key", k)
    }

    fn value(&self, b: &[u8]) -> Result<V> {
        de(&self.values, &self.topic, &self.name, "value", b)
    }

    /// Sets `key`'s window starting at `start`; `None` deletes it.
    pub fn put(&self, key: &K, value: Option<&V>, start: i64) -> Result<()> {
        let k = self.key(key)?;
        let v = match value {
            Some(v) => Some(ser(&self.values, &self.topic, &self.name, "value", v)?),
            None => None,
        };
        Ok(lock(&self.store).put(&k, v.as_deref(), start)?)
    }

    /// `key`'s window starting at `start`.
    pub fn fetch(&self, key: &K, start: i64) -> Result<Option<V>> {
        let k = self.key(key)?;
        let b = lock(&self.store).fetch(&k, start)?;
        b.map(|b| self.value(&b)).transpose()
    }

    /// `key`'s windows starting within `from..=to`, by start.
    pub fn fetch_range(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        Ok(self
            .fetch_range_timestamped(key, from, to)?
            .into_iter()
            .map(|(start, v, _)| (start, v))
            .collect())
    }

    /// Every window starting within `from..=to`, by start then key.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V)>> {
        Ok(self
            .fetch_all_timestamped(from, to)?
            .into_iter()
            .map(|(k, start, v, _)| (k, start, v))
            .collect())
    }

    /// Every live window.
    pub fn all(&self) -> Result<Vec<(K, i64, V)>> {
        self.fetch_all(i64::MIN, i64::MAX)
    }

    /// As [`fetch_range`](Self::fetch_range), with each window's timestamp: the latest
    /// record's, which a windowed aggregation's store keeps before the value (`-1` when a
    /// value is too short to hold one).
    pub fn fetch_range_timestamped(
        &self,
        key: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, V, i64)>> {
        let k = self.key(key)?;
        let s = lock(&self.store);
        let raw = s
            .fetch_key_range(&k, from, to, false)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        drop(s);
        raw.into_iter()
            .map(|e| Ok((e.start, self.value(&e.value)?, window_timestamp(&e.value))))
            .collect()
    }

    /// As [`fetch_all`](Self::fetch_all), with each window's timestamp (see
    /// [`fetch_range_timestamped`](Self::fetch_range_timestamped)).
    pub fn fetch_all_timestamped(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V, i64)>> {
        let s = lock(&self.store);
        let raw = s
            .fetch_all(from, to)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        drop(s);
        raw.into_iter()
            .map(|e| {
                Ok((
                    de(&self.keys, &self.topic, &self.name, "key", &e.key)?,
                    e.start,
                    self.value(&e.value)?,
                    window_timestamp(&e.value),
                ))
            })
            .collect()
    }
}

/// The timestamp a windowed aggregation stores before each window's value.
pub(crate) fn window_timestamp(stored: &[u8]) -> i64 {
    crate::dsl::windowed::split_timestamped(stored).map_or(-1, |(ts, _)| ts)
}

/// A typed session store (Kafka Streams' `SessionStore<K, V>`).
pub struct SessionStoreHandle<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) topic: Arc<str>,
    pub(crate) store: SharedSession,
    pub(crate) keys: SerdeRef<K>,
    pub(crate) values: SerdeRef<V>,
}

impl<K, V> Clone for SessionStoreHandle<K, V> {
    fn clone(&self) -> Self {
        SessionStoreHandle {
            name: self.name.clone(),
            topic: self.topic.clone(),
            store: self.store.clone(),
            keys: self.keys.clone(),
            values: self.values.clone(),
        }
    }
}

impl<K: Data, V: Data> SessionStoreHandle<K, V> {
    pub fn name(&self) -> &str {
        &self.name
    }

    fn key(&self, k: &K) -> Result<Vec<u8>> {
        ser(&self.keys, &self.topic, &self.name, "key", k)
    }

    fn value(&self, b: &[u8]) -> Result<V> {
        de(&self.values, &self.topic, &self.name, "value", b)
    }

    /// Sets `key`'s session `window` to `value`.
    pub fn put(&self, key: &K, window: SessionWindow, value: &V) -> Result<()> {
        let k = self.key(key)?;
        let v = ser(&self.values, &self.topic, &self.name, "value", value)?;
        Ok(lock(&self.store).put(&k, window, &v)?)
    }

    /// Removes `key`'s session `window`.
    pub fn remove(&self, key: &K, window: SessionWindow) -> Result<()> {
        let k = self.key(key)?;
        Ok(lock(&self.store).remove(&k, window)?)
    }

    /// The value of `key`'s session `window`.
    pub fn fetch_session(&self, key: &K, window: SessionWindow) -> Result<Option<V>> {
        let k = self.key(key)?;
        let b = lock(&self.store).fetch_session(&k, window)?;
        b.map(|b| self.value(&b)).transpose()
    }

    /// `key`'s sessions ending at or after `earliest_end` and starting at or before
    /// `latest_start`.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<(SessionWindow, V)>> {
        let k = self.key(key)?;
        let s = lock(&self.store);
        let raw = s
            .find_key_sessions(&k, earliest_end, latest_start)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        drop(s);
        raw.into_iter()
            .map(|e| Ok((e.window, self.value(&e.value)?)))
            .collect()
    }

    /// Every live session of `key`.
    pub fn fetch(&self, key: &K) -> Result<Vec<(SessionWindow, V)>> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }
}
