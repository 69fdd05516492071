//! [`TopologyTestDriver`]: runs a topology with no broker, one record at a time,
//! deterministically (Kafka Streams' `TopologyTestDriver`).
//!
//! Every topic has one partition, so there is one task per sub-topology. A piped record
//! is processed at once, then the task commits (its table caches forward what they hold),
//! so every update is visible downstream, as in Kafka Streams' driver. What sinks write to
//! a topic the topology reads (repartition topics, or a user topic read back) is processed
//! in turn before `pipe_input` returns; everything written, changelogs included, can be
//! read with [`TestOutputTopic`]. Wall-clock time only moves with
//! [`advance_wall_clock_time`](TopologyTestDriver::advance_wall_clock_time).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook_client::ConsumerRecord;
use brook_protocol::record::TimestampType;
use brook_state::{
    ChangelogRecord, KeyValueIter, KeyValueStore, Restore, StateStore, StoreError,
    ValueAndTimestamp,
};
use bytes::Bytes;

use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::record::{Data, Headers};
use crate::serde::SerdeRef;
use crate::state::{InMemoryStores, RocksStores, StoreProvider};
use crate::store::{
    lock, KeyValueStoreHandle, OpenStore, SessionStoreHandle, StoreKind,
    TimestampedKeyValueStoreHandle, WindowStoreHandle,
};
use crate::task::{MockClock, OutRecord, RecordCollector, Task};
use crate::topology::Topology;

#[derive(Default)]
struct Collected(Mutex<Vec<OutRecord>>);

impl RecordCollector for Collected {
    fn send(&self, record: OutRecord) -> Result<()> {
        crate::store::lock(&self.0).push(record);
        Ok(())
    }
}

struct Inner {
    topology: Topology,
    application_id: String,
    /// Tasks by sub-topology id (the global one included).
    tasks: BTreeMap<u32, Task>,
    /// The sub-topology reading each (resolved) topic.
    readers: HashMap<String, u32>,
    collected: Arc<Collected>,
    clock: Arc<MockClock>,
    outputs: HashMap<String, VecDeque<OutRecord>>,
    produced: BTreeSet<String>,
    offsets: HashMap<String, i64>,
    _state_dir: Option<tempfile::TempDir>,
}

/// Runs a topology without a broker.
pub struct TopologyTestDriver {
    inner: Rc<RefCell<Inner>>,
}

impl TopologyTestDriver {
    /// A driver for `topology` with in-memory stores, application id `test-app`, and the
    /// wall clock at 0.
    pub fn new(topology: Topology) -> Result<TopologyTestDriver> {
        Self::with_config(
            topology,
            &StreamsConfig::new("test-app", "dummy:1234"),
            false,
            0,
        )
    }

    /// A driver with `config` (application id, deserialization handler, cache size),
    /// RocksDB stores in a temporary directory if `persistent`, and the wall clock at
    /// `wall_clock_ms`.
    pub fn with_config(
        topology: Topology,
        config: &StreamsConfig,
        persistent: bool,
        wall_clock_ms: i64,
    ) -> Result<TopologyTestDriver> {
        Self::with_restored_changelogs(topology, config, persistent, wall_clock_ms, &[])
    }

    /// [`with_config`](Self::with_config), with the stores first restored from
    /// `changelogs`, before any processor's `init`: what an instance that lost its local
    /// state does when it restarts. Each entry is a changelog topic
    /// (`<application.id>-<store>-changelog`) and its records, as an earlier driver wrote
    /// them (read them with a [`TestOutputTopic`] of `Serdes::bytes()` keys and
    /// `Serdes::optional(Serdes::bytes())` values).
    pub fn with_restored_changelogs(
        topology: Topology,
        config: &StreamsConfig,
        persistent: bool,
        wall_clock_ms: i64,
        changelogs: &[(String, Vec<RawTestRecord>)],
    ) -> Result<TopologyTestDriver> {
        topology.validate()?;
        let app = config.application_id.clone();
        let collected = Arc::new(Collected::default());
        let clock = Arc::new(MockClock::default());
        clock.0.store(wall_clock_ms, Ordering::SeqCst);
        let (mut provider, dir): (Box<dyn StoreProvider>, _) = if persistent {
            let dir = tempfile::tempdir()
                .map_err(|e| StreamsError::Config(format!("no temporary state dir: {e}")))?;
            let budget = brook_state::MemoryBudget::new(config.state_memory_bytes);
            (Box::new(RocksStores::new(dir.path(), budget)), Some(dir))
        } else {
            (Box::new(InMemoryStores), None)
        };
        let mut tasks = BTreeMap::new();
        let mut readers = HashMap::new();
        let subs = topology.sub_topologies();
        for sub in subs.iter().chain(topology.global_sub_topology().iter()) {
            let partition = if topology.global_sub_topology().as_ref() == Some(sub) {
                -1
            } else {
                0
            };
            let mut task = topology.build_task(
                sub,
                partition,
                &app,
                provider.as_mut(),
                collected.clone(),
                clock.clone(),
                config.deserialization_handler,
                Topology::record_time(),
            )?;
            task.set_cache_max_entries(config.cache_max_entries());
            for (store, topic, partition) in task.changelogs() {
                let records: Vec<ConsumerRecord> = changelogs
                    .iter()
                    .filter(|(t, _)| *t == topic)
                    .flat_map(|(_, records)| records)
                    .enumerate()
                    .map(|(offset, r)| ConsumerRecord {
                        topic: topic.clone(),
                        partition,
                        offset: offset as i64,
                        timestamp: r.timestamp,
                        timestamp_type: TimestampType::CreateTime,
                        key: Some(r.key.clone()),
                        value: r.value.clone(),
                        headers: r.headers.clone(),
                        leader_epoch: None,
                    })
                    .collect();
                if !records.is_empty() {
                    task.restore(&store, &records)?;
                }
            }
            task.initialize()?;
            for t in &sub.source_topics {
                readers.insert(topology.resolve_topic(t, &app), sub.id);
            }
            tasks.insert(sub.id, task);
        }
        let inner = Inner {
            topology,
            application_id: app,
            tasks,
            readers,
            collected,
            clock,
            outputs: HashMap::new(),
            produced: BTreeSet::new(),
            offsets: HashMap::new(),
            _state_dir: dir,
        };
        let d = TopologyTestDriver {
            inner: Rc::new(RefCell::new(inner)),
        };
        // Output of `init` (a processor may forward there).
        d.inner.borrow_mut().settle()?;
        Ok(d)
    }

    /// An input topic writing keys and values with these serdes.
    pub fn create_input_topic<K: Data, V: Data>(
        &self,
        topic: &str,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
    ) -> TestInputTopic<K, V> {
        TestInputTopic {
            driver: self.inner.clone(),
            topic: topic.to_owned(),
            keys,
            values,
            time: 0,
            advance: 0,
        }
    }

    /// An output topic reading keys and values with these serdes.
    pub fn create_output_topic<K: Data, V: Data>(
        &self,
        topic: &str,
        keys: SerdeRef<K>,
        values: SerdeRef<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic {
            driver: self.inner.clone(),
            topic: topic.to_owned(),
            keys,
            values,
        }
    }

    /// Pipes one raw record (key and value already serialized).
    pub fn pipe_raw(
        &self,
        topic: &str,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()> {
        self.inner
            .borrow_mut()
            .pipe(topic, key, value, timestamp, headers)
    }

    /// Moves the wall clock and fires the wall-clock punctuations that fall due.
    pub fn advance_wall_clock_time(&self, by: Duration) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        inner.clock.0.fetch_add(ms, Ordering::SeqCst);
        let ids: Vec<u32> = inner.tasks.keys().copied().collect();
        for id in ids {
            let task = inner.tasks.get_mut(&id).expect("a task per id");
            task.punctuate_wall_clock()?;
            task.flush_caches()?;
        }
        inner.settle()
    }

    /// Kafka Streams' `dropped-records-total`, summed over the tasks: records skipped as
    /// undecodable (under `LogAndContinue`) or for a negative timestamp, and records
    /// processors dropped (a windowed aggregation's late records, once per window).
    pub fn dropped_records_total(&self) -> u64 {
        let inner = self.inner.borrow();
        inner
            .tasks
            .values()
            .map(|t| t.dropped_records_total())
            .sum()
    }

    /// The names of every topic written so far.
    pub fn produced_topic_names(&self) -> BTreeSet<String> {
        self.inner.borrow().produced.clone()
    }

    fn open_store(&self, name: &str) -> Result<(OpenStore, Arc<crate::store::StoreDef>, String)> {
        let inner = self.inner.borrow();
        for task in inner.tasks.values() {
            if let Some((s, d)) = task.stores().find(|(n, _)| *n == name).map(|(_, v)| v) {
                return Ok((s.clone(), d.clone(), inner.application_id.clone()));
            }
        }
        Err(StreamsError::State(format!(
            "no store named {name} in the topology"
        )))
    }

    /// The key-value store `name`. A timestamped store (a table's) is seen through a
    /// facade that shows its values without their timestamps (as Kafka Streams' driver
    /// does); a value put through it has no timestamp (-1).
    pub fn key_value_store<K: Data, V: Data>(
        &self,
        name: &str,
    ) -> Result<KeyValueStoreHandle<K, V>> {
        let (handle, timestamped) = self.raw_key_value_store(name)?;
        if !timestamped {
            return Ok(handle);
        }
        let facade: Box<dyn crate::store::KvStore> = Box::new(WithoutTimestamps {
            name: name.to_owned(),
            inner: handle.store.clone(),
        });
        Ok(KeyValueStoreHandle {
            store: Arc::new(Mutex::new(facade)),
            ..handle
        })
    }

    /// The key-value store `name` as it is, and whether it keeps timestamps.
    fn raw_key_value_store<K: Data, V: Data>(
        &self,
        name: &str,
    ) -> Result<(KeyValueStoreHandle<K, V>, bool)> {
        let (s, def, app) = self.open_store(name)?;
        let OpenStore::KeyValue(store) = s else {
            return Err(StreamsError::State(format!(
                "{name} is not a key-value store"
            )));
        };
        let timestamped = matches!(def.kind(), StoreKind::KeyValue { timestamped: true });
        let (keys, values) = def.serdes::<K, V>()?;
        let handle = KeyValueStoreHandle {
            name: name.into(),
            topic: def.changelog_topic(&app).into(),
            store,
            keys,
            values,
        };
        Ok((handle, timestamped))
    }

    /// The timestamped key-value store `name` (a table's).
    pub fn timestamped_key_value_store<K: Data, V: Data>(
        &self,
        name: &str,
    ) -> Result<TimestampedKeyValueStoreHandle<K, V>> {
        let (handle, timestamped) = self.raw_key_value_store(name)?;
        if !timestamped {
            return Err(StreamsError::State(format!(
                "{name} is a key-value store without timestamps; use key_value_store"
            )));
        }
        Ok(TimestampedKeyValueStoreHandle::new(handle))
    }

    /// The window store `name`.
    pub fn window_store<K: Data, V: Data>(&self, name: &str) -> Result<WindowStoreHandle<K, V>> {
        let (s, def, app) = self.open_store(name)?;
        let OpenStore::Window(store) = s else {
            return Err(StreamsError::State(format!("{name} is not a window store")));
        };
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(WindowStoreHandle {
            name: name.into(),
            topic: def.changelog_topic(&app).into(),
            store,
            keys,
            values,
        })
    }

    /// The session store `name`.
    pub fn session_store<K: Data, V: Data>(&self, name: &str) -> Result<SessionStoreHandle<K, V>> {
        let (s, def, app) = self.open_store(name)?;
        let OpenStore::Session(store) = s else {
            return Err(StreamsError::State(format!(
                "{name} is not a session store"
            )));
        };
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(SessionStoreHandle {
            name: name.into(),
            topic: def.changelog_topic(&app).into(),
            store,
            keys,
            values,
        })
    }

    /// Closes every task (processors, then stores).
    pub fn close(self) -> Result<()> {
        let mut inner = self.inner.borrow_mut();
        let mut first = None;
        for task in inner.tasks.values_mut() {
            if let Err(e) = task.close() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// A timestamped store seen as a plain one: values without their 8-byte timestamps
/// (Kafka Streams' driver's `KeyValueStoreFacade`).
struct WithoutTimestamps {
    name: String,
    inner: crate::store::SharedKv,
}

impl WithoutTimestamps {
    fn strip(&self, b: Vec<u8>) -> std::result::Result<Vec<u8>, StoreError> {
        Ok(ValueAndTimestamp::decode(&self.name, &b)?.value)
    }

    fn wrap(value: &[u8]) -> Vec<u8> {
        ValueAndTimestamp {
            value: value.to_vec(),
            timestamp: -1,
        }
        .encode()
    }
}

impl StateStore for WithoutTimestamps {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        lock(&self.inner).persistent()
    }

    fn flush(&mut self) -> std::result::Result<(), StoreError> {
        lock(&self.inner).flush()
    }

    fn close(&mut self) -> std::result::Result<(), StoreError> {
        lock(&self.inner).close()
    }

    fn is_open(&self) -> bool {
        lock(&self.inner).is_open()
    }
}

impl KeyValueStore for WithoutTimestamps {
    fn get(&self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, StoreError> {
        let b = lock(&self.inner).get(key)?;
        b.map(|b| self.strip(b)).transpose()
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> std::result::Result<(), StoreError> {
        lock(&self.inner).put(key, &Self::wrap(value))
    }

    fn write_batch(
        &mut self,
        entries: &[(&[u8], Option<&[u8]>)],
    ) -> std::result::Result<(), StoreError> {
        let wrapped: Vec<(&[u8], Option<Vec<u8>>)> = entries
            .iter()
            .map(|(k, v)| (*k, v.map(Self::wrap)))
            .collect();
        let refs: Vec<(&[u8], Option<&[u8]>)> =
            wrapped.iter().map(|(k, v)| (*k, v.as_deref())).collect();
        lock(&self.inner).write_batch(&refs)
    }

    fn delete(&mut self, key: &[u8]) -> std::result::Result<Option<Vec<u8>>, StoreError> {
        let old = lock(&self.inner).delete(key)?;
        old.map(|b| self.strip(b)).transpose()
    }

    fn range(
        &self,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        reverse: bool,
    ) -> std::result::Result<KeyValueIter<'_>, StoreError> {
        let entries = lock(&self.inner)
            .range(from, to, reverse)?
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let stripped: Vec<_> = entries
            .into_iter()
            .map(|(k, v)| Ok((k, self.strip(v)?)))
            .collect();
        Ok(Box::new(stripped.into_iter()))
    }

    fn approximate_num_entries(&self) -> std::result::Result<u64, StoreError> {
        lock(&self.inner).approximate_num_entries()
    }
}

impl Restore for WithoutTimestamps {
    fn restore_batch(
        &mut self,
        records: &[ChangelogRecord<'_>],
    ) -> std::result::Result<(), StoreError> {
        // Changelog records hold the stored bytes, timestamps included.
        lock(&self.inner).restore_batch(records)
    }
}

impl Inner {
    fn pipe(
        &mut self,
        topic: &str,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()> {
        self.deliver(topic, key, value, timestamp, headers)?;
        self.settle()
    }

    /// Runs one record through the task reading `topic` (if any).
    fn deliver(
        &mut self,
        topic: &str,
        key: Option<Bytes>,
        value: Option<Bytes>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()> {
        let Some(&sub) = self.readers.get(topic) else {
            return Err(StreamsError::State(format!(
                "topic {topic} is not read by the topology"
            )));
        };
        let offset = self.offsets.entry(topic.to_owned()).or_insert(0);
        let record = ConsumerRecord {
            topic: topic.to_owned(),
            partition: 0,
            offset: *offset,
            timestamp,
            timestamp_type: TimestampType::CreateTime,
            key,
            value,
            headers,
            leader_epoch: None,
        };
        *offset += 1;
        let task = self.tasks.get_mut(&sub).expect("a task per sub-topology");
        task.add_records([record])?;
        while task.process_next()? {}
        task.flush_caches()
    }

    /// Captures what the sinks wrote and runs what goes to topics the topology reads,
    /// until nothing is left.
    fn settle(&mut self) -> Result<()> {
        loop {
            let batch = std::mem::take(&mut *crate::store::lock(&self.collected.0));
            if batch.is_empty() {
                return Ok(());
            }
            for r in batch {
                self.produced.insert(r.topic.clone());
                let internal = self
                    .topology
                    .internal_topics()
                    .keys()
                    .any(|t| self.topology.resolve_topic(t, &self.application_id) == r.topic);
                if self.readers.contains_key(&r.topic) {
                    self.deliver(
                        &r.topic,
                        r.key.clone(),
                        r.value.clone(),
                        r.timestamp,
                        r.headers.clone(),
                    )?;
                }
                if !internal {
                    self.outputs
                        .entry(r.topic.clone())
                        .or_default()
                        .push_back(r);
                }
            }
        }
    }
}

/// A topic to pipe records into (Kafka Streams' `TestInputTopic`).
pub struct TestInputTopic<K, V> {
    driver: Rc<RefCell<Inner>>,
    topic: String,
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
    /// The timestamp of the next record piped without one.
    time: i64,
    advance: i64,
}

impl<K: Data, V: Data> TestInputTopic<K, V> {
    /// Records piped without a timestamp start at `start_ms` and advance by `advance`.
    pub fn with_time(mut self, start_ms: i64, advance: Duration) -> Self {
        self.time = start_ms;
        self.advance = advance.as_millis() as i64;
        self
    }

    /// Moves the time of the next record piped without a timestamp.
    pub fn advance_time(&mut self, by: Duration) {
        self.time += by.as_millis() as i64;
    }

    fn encode(&self, key: &K, value: Option<&V>) -> Result<(Option<Bytes>, Option<Bytes>)> {
        let serde = |what: &str, source| StreamsError::Serde {
            what: what.to_owned(),
            node: format!("input topic {}", self.topic),
            source,
        };
        let k = self
            .keys
            .serialize(&self.topic, key)
            .map_err(|e| serde("key", e))?;
        let v = match value {
            Some(v) => self
                .values
                .serialize(&self.topic, v)
                .map_err(|e| serde("value", e))?,
            None => None,
        };
        Ok((k, v))
    }

    /// Pipes a record at `timestamp`.
    pub fn pipe_input_at(&mut self, key: K, value: V, timestamp: i64) -> Result<()> {
        let (k, v) = self.encode(&key, Some(&value))?;
        self.driver
            .borrow_mut()
            .pipe(&self.topic, k, v, timestamp, Vec::new())
    }

    /// Pipes a record at the topic's current time, then advances it.
    pub fn pipe_input(&mut self, key: K, value: V) -> Result<()> {
        let t = self.time;
        self.time += self.advance;
        self.pipe_input_at(key, value, t)
    }

    /// Pipes a tombstone (a null value) for `key` at `timestamp`.
    pub fn pipe_tombstone(&mut self, key: K, timestamp: i64) -> Result<()> {
        let (k, _) = self.encode(&key, None)?;
        self.driver
            .borrow_mut()
            .pipe(&self.topic, k, None, timestamp, Vec::new())
    }

    /// Pipes each record at the topic's time, advancing it after each.
    pub fn pipe_key_value_list(&mut self, records: impl IntoIterator<Item = (K, V)>) -> Result<()> {
        for (k, v) in records {
            self.pipe_input(k, v)?;
        }
        Ok(())
    }
}

/// A record as a changelog topic holds it: key and value bytes (a `None` value is a
/// tombstone), for [`TopologyTestDriver::with_restored_changelogs`].
pub type RawTestRecord = TestRecord<Bytes, Option<Bytes>>;

/// A record read from a [`TestOutputTopic`].
#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord<K, V> {
    pub key: K,
    pub value: V,
    pub timestamp: i64,
    pub headers: Headers,
}

/// A topic to read what the topology wrote (Kafka Streams' `TestOutputTopic`).
pub struct TestOutputTopic<K, V> {
    driver: Rc<RefCell<Inner>>,
    topic: String,
    keys: SerdeRef<K>,
    values: SerdeRef<V>,
}

impl<K: Data, V: Data> TestOutputTopic<K, V> {
    /// The next record, if any, decoded.
    pub fn read_record(&self) -> Result<Option<TestRecord<K, V>>> {
        let r = self
            .driver
            .borrow_mut()
            .outputs
            .get_mut(&self.topic)
            .and_then(|q| q.pop_front());
        let Some(r) = r else { return Ok(None) };
        let serde = |what: &str, source| StreamsError::Serde {
            what: what.to_owned(),
            node: format!("output topic {}", self.topic),
            source,
        };
        Ok(Some(TestRecord {
            key: self
                .keys
                .deserialize(&self.topic, r.key.as_deref())
                .map_err(|e| serde("key", e))?,
            value: self
                .values
                .deserialize(&self.topic, r.value.as_deref())
                .map_err(|e| serde("value", e))?,
            timestamp: r.timestamp,
            headers: r.headers,
        }))
    }

    /// The next key and value, if any.
    pub fn read_key_value(&self) -> Result<Option<(K, V)>> {
        Ok(self.read_record()?.map(|r| (r.key, r.value)))
    }

    /// Every record left, in order.
    pub fn read_records_to_list(&self) -> Result<Vec<TestRecord<K, V>>> {
        let mut v = Vec::new();
        while let Some(r) = self.read_record()? {
            v.push(r);
        }
        Ok(v)
    }

    /// Every key and value left, in order.
    pub fn read_key_values_to_list(&self) -> Result<Vec<(K, V)>> {
        Ok(self
            .read_records_to_list()?
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect())
    }

    /// Every value left, in order.
    pub fn read_values_to_list(&self) -> Result<Vec<V>> {
        Ok(self
            .read_records_to_list()?
            .into_iter()
            .map(|r| r.value)
            .collect())
    }

    /// The records left, as a map of the latest value per key (keys must be orderable).
    pub fn read_key_values_to_map(&self) -> Result<BTreeMap<K, V>>
    where
        K: Ord,
    {
        Ok(self.read_key_values_to_list()?.into_iter().collect())
    }

    /// How many records are left.
    pub fn queue_size(&self) -> usize {
        self.driver
            .borrow()
            .outputs
            .get(&self.topic)
            .map_or(0, |q| q.len())
    }

    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }
}
