//! A task: one sub-topology for one input partition, with its own processors and stores.
//!
//! Records are queued per input partition; [`Task::process_next`] takes the queued record
//! with the smallest timestamp (Kafka Streams' choice across a task's partitions), decodes
//! it at its source, advances stream time and runs it through the processors depth first.
//! Stream-time punctuations fire after the record; wall-clock ones when the thread asks.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use brook_client::ConsumerRecord;
use bytes::Bytes;

use crate::error::{Result, StreamsError};
use crate::processor::{Cancellable, PunctuationType, RecordMetadata};
use crate::record::{Data, Erased, Headers};
use crate::store::{
    KeyValueStoreHandle, OpenStore, SessionStoreHandle, StoreDef, WindowStoreHandle,
};
use crate::TaskId;

/// A record a sink writes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutRecord {
    pub topic: String,
    /// `None`: the producer's default partitioner (murmur2 of the key bytes, as Kafka
    /// Streams' default).
    pub partition: Option<i32>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub timestamp: i64,
    pub headers: Headers,
}

/// Where a task's output goes: the producer in the runtime, in-memory topics in the test
/// driver. Sends are asynchronous; errors of a send surface at the latest at `flush`.
pub trait RecordCollector: Send + Sync {
    fn send(&self, record: OutRecord) -> Result<()>;
}

/// The wall clock a task reads (a mocked one in the test driver).
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock moved by hand.
#[derive(Debug, Default)]
pub struct MockClock(pub AtomicI64);

impl Clock for MockClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An erased processing node.
pub(crate) trait Node: Send {
    fn init(&mut self, task: &mut TaskInner, me: usize) -> Result<()>;
    fn process(&mut self, task: &mut TaskInner, me: usize, record: Erased) -> Result<()>;
    fn punctuate(
        &mut self,
        task: &mut TaskInner,
        me: usize,
        id: Cancellable,
        timestamp: i64,
    ) -> Result<()> {
        let _ = (task, me, id, timestamp);
        Ok(())
    }
    fn flush(&mut self, task: &mut TaskInner, me: usize) -> Result<()> {
        let _ = (task, me);
        Ok(())
    }
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A source's node in the graph: records enter through [`Task::process_next`], so it is
/// never called.
pub(crate) struct PassThrough;

impl Node for PassThrough {
    fn init(&mut self, _task: &mut TaskInner, _me: usize) -> Result<()> {
        Ok(())
    }

    fn process(&mut self, task: &mut TaskInner, me: usize, record: Erased) -> Result<()> {
        task.forward(me, record, None)
    }
}

/// Decodes a source topic's records into the stream's types.
pub(crate) trait SourceDecoder: Send + Sync {
    fn decode(&self, record: &ConsumerRecord) -> std::result::Result<Erased, String>;
}

/// A record's event time (Kafka Streams' `TimestampExtractor`). A negative result drops
/// the record with a warning.
pub trait TimestampExtractor: Send + Sync {
    /// The time of `record`; `partition_time` is the largest time extracted from its
    /// partition so far (`i64::MIN` before the first).
    fn extract(&self, record: &ConsumerRecord, partition_time: i64) -> i64;
}

/// The record's own timestamp (Kafka Streams' default, except that an invalid one is
/// skipped with a warning instead of failing the application).
#[derive(Debug, Default)]
pub struct RecordTimestampExtractor;

impl TimestampExtractor for RecordTimestampExtractor {
    fn extract(&self, record: &ConsumerRecord, _partition_time: i64) -> i64 {
        record.timestamp
    }
}

/// What to do with a record whose key or value does not deserialize
/// (`default.deserialization.exception.handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeserializationHandler {
    /// Log it and go on with the next record.
    LogAndContinue,
    /// Fail the task (Kafka Streams' default).
    #[default]
    LogAndFail,
}

pub(crate) struct Schedule {
    id: Cancellable,
    node: usize,
    interval: i64,
    kind: PunctuationType,
    next: i64,
}

/// The global stores opened in this process (by the global task), by name: readable from
/// every task's processors, connected or not, as in Kafka Streams. Shared by reference, so
/// a task built before the global task still sees them.
pub(crate) type GlobalStores = Arc<Mutex<HashMap<String, (OpenStore, Arc<StoreDef>)>>>;

/// The task's state beside its nodes.
pub(crate) struct TaskCore {
    pub task_id: TaskId,
    pub application_id: String,
    pub stream_time: i64,
    /// The current record's (or punctuation's) timestamp, headers and origin.
    pub timestamp: i64,
    pub headers: Headers,
    pub metadata: Option<RecordMetadata>,
    pub collector: Arc<dyn RecordCollector>,
    pub clock: Arc<dyn Clock>,
    pub commit_requested: bool,
    pub stores: HashMap<String, (OpenStore, Arc<StoreDef>)>,
    /// The stores each node may use.
    pub node_stores: Vec<Vec<String>>,
    /// The global stores, readable from every node.
    pub globals: GlobalStores,
    /// What the change-logging stores share: the sink and the current record's timestamp.
    pub changelog: brook_state::changelog::ChangelogContext,
    /// How many entries each DSL table cache may hold (0: caching off).
    pub cache_max_entries: usize,
    /// Records processors dropped (a windowed aggregation's records too late for their
    /// windows, once per window): Kafka Streams' `dropped-records`, beside the task's skips.
    pub dropped_records: u64,
    schedules: Vec<Schedule>,
    next_schedule: u64,
}

/// The nodes of a task and its core; processors get it through their context.
pub(crate) struct TaskInner {
    pub nodes: Vec<Option<Box<dyn Node>>>,
    pub names: Arc<Vec<String>>,
    pub children: Arc<Vec<Vec<usize>>>,
    pub core: TaskCore,
}

impl TaskInner {
    pub fn node_name(&self, node: usize) -> &str {
        self.names.get(node).map(String::as_str).unwrap_or("?")
    }

    /// Runs `record` through the children of `from` (or only the one named `to`).
    pub fn forward(&mut self, from: usize, record: Erased, to: Option<&str>) -> Result<()> {
        let children = self.children.clone();
        let kids = &children[from];
        if let Some(name) = to {
            let child = kids
                .iter()
                .copied()
                .find(|&c| self.names[c] == name)
                .ok_or_else(|| {
                    StreamsError::Topology(format!(
                        "{} has no child named {name}",
                        self.node_name(from)
                    ))
                })?;
            return self.run(child, record);
        }
        let mut record = Some(record);
        for (i, &child) in kids.iter().enumerate() {
            let r = if i + 1 == kids.len() {
                record.take().expect("the last child takes the record")
            } else {
                record.as_ref().expect("kept for later children").clone()
            };
            self.run(child, r)?;
        }
        Ok(())
    }

    fn run(&mut self, node: usize, record: Erased) -> Result<()> {
        let mut n = self.nodes[node].take().ok_or_else(|| {
            StreamsError::Topology(format!(
                "node {} was reached again while it runs (a cycle)",
                self.node_name(node)
            ))
        })?;
        let (ts, headers) = (self.core.timestamp, std::mem::take(&mut self.core.headers));
        self.core.timestamp = record.timestamp;
        self.core.headers = record.headers.clone();
        let r = n.process(self, node, record);
        self.nodes[node] = Some(n);
        self.core.timestamp = ts;
        self.core.headers = headers;
        r
    }

    pub fn schedule(&mut self, node: usize, interval: i64, kind: PunctuationType) -> Cancellable {
        let id = Cancellable(self.core.next_schedule);
        self.core.next_schedule += 1;
        // As in Kafka Streams: a stream-time schedule is on the grid of multiples of the
        // interval from 0, so it first fires at the first record; a wall-clock one first
        // fires an interval from now.
        let next = match kind {
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => self.core.clock.now_ms().saturating_add(interval),
        };
        self.core.schedules.push(Schedule {
            id,
            node,
            interval,
            kind,
            next,
        });
        id
    }

    pub fn cancel(&mut self, id: Cancellable) {
        self.core.schedules.retain(|s| s.id != id);
    }

    fn store(&self, node: usize, name: &str) -> Result<(OpenStore, Arc<StoreDef>)> {
        let allowed = self
            .core
            .node_stores
            .get(node)
            .is_some_and(|s| s.iter().any(|n| n == name));
        if !allowed {
            if let Some(global) = crate::store::lock(&self.core.globals).get(name) {
                return Ok(global.clone());
            }
            return Err(StreamsError::Topology(format!(
                "processor {} asked for store {name}, which is not connected to it \
                 (connect it with add_state_store or connect_processor_and_state_stores)",
                self.node_name(node)
            )));
        }
        self.core.stores.get(name).cloned().ok_or_else(|| {
            StreamsError::Topology(format!(
                "store {name} is not open in task {}",
                self.core.task_id
            ))
        })
    }

    pub fn key_value_store<K: Data, V: Data>(
        &self,
        node: usize,
        name: &str,
    ) -> Result<KeyValueStoreHandle<K, V>> {
        let (store, def) = self.store(node, name)?;
        let OpenStore::KeyValue(s) = store else {
            return Err(wrong_kind(name, "key-value"));
        };
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(KeyValueStoreHandle {
            name: name.into(),
            topic: def.changelog_topic(&self.core.application_id).into(),
            store: s,
            keys,
            values,
        })
    }

    pub fn window_store<K: Data, V: Data>(
        &self,
        node: usize,
        name: &str,
    ) -> Result<WindowStoreHandle<K, V>> {
        let (store, def) = self.store(node, name)?;
        let OpenStore::Window(s) = store else {
            return Err(wrong_kind(name, "window"));
        };
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(WindowStoreHandle {
            name: name.into(),
            topic: def.changelog_topic(&self.core.application_id).into(),
            store: s,
            keys,
            values,
        })
    }

    pub fn session_store<K: Data, V: Data>(
        &self,
        node: usize,
        name: &str,
    ) -> Result<SessionStoreHandle<K, V>> {
        let (store, def) = self.store(node, name)?;
        let OpenStore::Session(s) = store else {
            return Err(wrong_kind(name, "session"));
        };
        let (keys, values) = def.serdes::<K, V>()?;
        Ok(SessionStoreHandle {
            name: name.into(),
            topic: def.changelog_topic(&self.core.application_id).into(),
            store: s,
            keys,
            values,
        })
    }

    /// Fires the punctuations of `kind` that are due at `now`.
    fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<usize> {
        let mut fired = 0;
        loop {
            let due = self
                .core
                .schedules
                .iter_mut()
                .filter(|s| s.kind == kind && s.next <= now)
                .min_by_key(|s| s.next);
            let Some(s) = due else { break };
            let (id, node) = (s.id, s.node);
            // Fire once for however many intervals passed, then aim at the next interval
            // after `now` on the schedule's grid.
            let missed = (now - s.next) / s.interval;
            s.next = s
                .next
                .saturating_add(s.interval.saturating_mul(missed.saturating_add(1)));
            let Some(mut n) = self.nodes[node].take() else {
                continue;
            };
            let saved = (self.core.timestamp, self.core.metadata.take());
            self.core.timestamp = now;
            self.core.headers.clear();
            let r = n.punctuate(self, node, id, now);
            self.nodes[node] = Some(n);
            self.core.timestamp = saved.0;
            self.core.metadata = saved.1;
            r?;
            fired += 1;
        }
        Ok(fired)
    }
}

fn wrong_kind(name: &str, want: &str) -> StreamsError {
    StreamsError::Topology(format!("store {name} is not a {want} store"))
}

/// A source of the task: which node a topic's records enter at, and how they decode.
pub(crate) struct TaskSource {
    pub node: usize,
    pub decoder: Arc<dyn SourceDecoder>,
    pub extractor: Arc<dyn TimestampExtractor>,
}

/// One input partition: its queued records and progress. A task has a handful, so they
/// are found by a linear search that neither allocates nor hashes.
struct PartitionQueue {
    topic: String,
    partition: i32,
    records: VecDeque<(i64, ConsumerRecord)>,
    /// The largest time extracted from this partition.
    time: i64,
    /// The offset after the last processed record.
    consumed: Option<i64>,
}

/// A running task.
pub struct Task {
    pub(crate) inner: TaskInner,
    /// Source by topic (resolved names).
    pub(crate) sources: HashMap<String, TaskSource>,
    queues: Vec<PartitionQueue>,
    pub(crate) deserialization: DeserializationHandler,
    /// Records dropped: undecodable (under LogAndContinue) or with negative times.
    pub(crate) skipped: u64,
    pub(crate) processed: u64,
    initialized: bool,
}

impl Task {
    pub(crate) fn new(
        inner: TaskInner,
        sources: HashMap<String, TaskSource>,
        deserialization: DeserializationHandler,
    ) -> Task {
        Task {
            inner,
            sources,
            queues: Vec::new(),
            deserialization,
            skipped: 0,
            processed: 0,
            initialized: false,
        }
    }

    pub fn id(&self) -> TaskId {
        self.inner.core.task_id
    }

    /// Calls every processor's `init`, in topological order (parents first).
    pub fn initialize(&mut self) -> Result<()> {
        if self.initialized {
            return Ok(());
        }
        for i in 0..self.inner.nodes.len() {
            if let Some(mut n) = self.inner.nodes[i].take() {
                let r = n.init(&mut self.inner, i);
                self.inner.nodes[i] = Some(n);
                r?;
            }
        }
        self.initialized = true;
        Ok(())
    }

    /// Records dropped so far: skipped at the source (undecodable under LogAndContinue,
    /// negative timestamps) or by processors (too late for their windows): Kafka Streams'
    /// `dropped-records-total` of the task.
    pub fn dropped_records_total(&self) -> u64 {
        self.skipped + self.inner.core.dropped_records
    }

    /// The stream time.
    pub fn stream_time(&self) -> i64 {
        self.inner.core.stream_time
    }

    /// Queues records of one of the task's input partitions.
    pub fn add_records(&mut self, records: impl IntoIterator<Item = ConsumerRecord>) -> Result<()> {
        for r in records {
            let Some(source) = self.sources.get(&r.topic) else {
                return Err(StreamsError::Topology(format!(
                    "task {} has no source for topic {}",
                    self.id(),
                    r.topic
                )));
            };
            let i = match self
                .queues
                .iter()
                .position(|q| q.partition == r.partition && q.topic == r.topic)
            {
                Some(i) => i,
                None => {
                    self.queues.push(PartitionQueue {
                        topic: r.topic.clone(),
                        partition: r.partition,
                        records: VecDeque::new(),
                        time: i64::MIN,
                        consumed: None,
                    });
                    self.queues.len() - 1
                }
            };
            let q = &mut self.queues[i];
            let ts = source.extractor.extract(&r, q.time);
            if ts >= 0 {
                q.time = q.time.max(ts);
            }
            q.records.push_back((ts, r));
        }
        Ok(())
    }

    /// How many records are queued.
    pub fn queued(&self) -> usize {
        self.queues.iter().map(|q| q.records.len()).sum()
    }

    /// Processes the queued record with the smallest timestamp; false if none is queued.
    pub fn process_next(&mut self) -> Result<bool> {
        let next = self
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.records.front().map(|(ts, _)| (*ts, i)))
            .min_by_key(|(ts, _)| *ts);
        let Some((_, i)) = next else {
            return Ok(false);
        };
        let q = &mut self.queues[i];
        let (ts, record) = q.records.pop_front().expect("the queue has a head");
        q.consumed = Some(record.offset + 1);
        self.process_record(ts, record)?;
        Ok(true)
    }

    fn process_record(&mut self, ts: i64, record: ConsumerRecord) -> Result<()> {
        let source = &self.sources[&record.topic];
        if ts < 0 {
            tracing::warn!(
                topic = %record.topic, partition = record.partition, offset = record.offset,
                timestamp = ts, "skipping a record with an invalid (negative) timestamp"
            );
            self.skipped += 1;
            return Ok(());
        }
        let mut erased = match source.decoder.decode(&record) {
            Ok(e) => e,
            Err(reason) => {
                let msg = format!(
                    "record {}-{}@{} does not deserialize: {reason}",
                    record.topic, record.partition, record.offset
                );
                match self.deserialization {
                    DeserializationHandler::LogAndContinue => {
                        tracing::warn!("{msg}; skipped (LogAndContinue)");
                        self.skipped += 1;
                        return Ok(());
                    }
                    DeserializationHandler::LogAndFail => {
                        tracing::error!("{msg}");
                        return Err(StreamsError::Serde {
                            what: msg,
                            node: self.inner.node_name(source.node).to_owned(),
                            source: crate::serde::SerdeError::Custom(reason),
                        });
                    }
                }
            }
        };
        erased.timestamp = ts;
        let node = source.node;
        let core = &mut self.inner.core;
        core.stream_time = core.stream_time.max(ts);
        core.changelog.set_timestamp(ts);
        core.metadata = Some(RecordMetadata {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
        });
        let r = self.inner.forward(node, erased, None);
        self.inner.core.metadata = None;
        r?;
        self.processed += 1;
        let now = self.inner.core.stream_time;
        self.inner.punctuate(PunctuationType::StreamTime, now)?;
        Ok(())
    }

    /// Fires the wall-clock punctuations that are due; returns how many fired.
    pub fn punctuate_wall_clock(&mut self) -> Result<usize> {
        let now = self.inner.core.clock.now_ms();
        self.inner.punctuate(PunctuationType::WallClockTime, now)
    }

    /// Whether a processor asked for a commit since the last [`take_commit_request`].
    pub fn take_commit_request(&mut self) -> bool {
        std::mem::take(&mut self.inner.core.commit_requested)
    }

    /// Sets how many entries each DSL table cache may hold (0: caching off).
    pub fn set_cache_max_entries(&mut self, n: usize) {
        self.inner.core.cache_max_entries = n;
    }

    /// Lets processors forward what they hold back (table caches), parents first.
    pub fn flush_caches(&mut self) -> Result<()> {
        for i in 0..self.inner.nodes.len() {
            if let Some(mut n) = self.inner.nodes[i].take() {
                self.inner.core.metadata = None;
                let r = n.flush(&mut self.inner, i);
                self.inner.nodes[i] = Some(n);
                r?;
            }
        }
        Ok(())
    }

    /// Flushes every store (what commit does before writing the checkpoint).
    pub fn flush_stores(&mut self) -> Result<()> {
        for (store, _) in self.inner.core.stores.values() {
            store.flush()?;
        }
        Ok(())
    }

    /// The offsets to commit: the offset after the last processed record of each input
    /// partition.
    pub fn consumed_offsets(&self) -> Vec<((String, i32), i64)> {
        let mut v: Vec<_> = self
            .queues
            .iter()
            .filter_map(|q| q.consumed.map(|o| ((q.topic.clone(), q.partition), o)))
            .collect();
        v.sort();
        v
    }

    /// The changelogs of the task's logged stores: (store, changelog topic, partition).
    pub(crate) fn changelogs(&self) -> Vec<(String, String, i32)> {
        let mut v: Vec<_> = self
            .inner
            .core
            .stores
            .iter()
            .filter(|(_, (_, def))| def.logging)
            .map(|(name, (_, def))| {
                (
                    name.clone(),
                    def.changelog_topic(&self.inner.core.application_id),
                    self.inner.core.task_id.partition,
                )
            })
            .collect();
        v.sort();
        v
    }

    /// Applies a batch of `store`'s changelog (records read from its changelog topic),
    /// without logging them again. A record without a key is corrupt.
    pub(crate) fn restore(&mut self, store: &str, records: &[ConsumerRecord]) -> Result<()> {
        let (open, _) = self.inner.core.stores.get(store).ok_or_else(|| {
            StreamsError::State(format!("task {} has no store {store}", self.id()))
        })?;
        let batch = records
            .iter()
            .map(|r| {
                let key = r.key.as_deref().ok_or_else(|| {
                    StreamsError::Store(brook_state::StoreError::Corrupt {
                        store: store.to_owned(),
                        reason: format!(
                            "changelog record {}-{}@{} has no key",
                            r.topic, r.partition, r.offset
                        ),
                    })
                })?;
                Ok(brook_state::changelog::ChangelogRecord {
                    key,
                    value: r.value.as_deref(),
                    timestamp: r.timestamp,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        open.restore(&batch)?;
        Ok(())
    }

    /// The stores of the task, by name.
    pub(crate) fn stores(&self) -> impl Iterator<Item = (&String, &(OpenStore, Arc<StoreDef>))> {
        self.inner.core.stores.iter()
    }

    /// Closes the processors and the stores.
    pub fn close(&mut self) -> Result<()> {
        let mut first = None;
        for n in self.inner.nodes.iter_mut().flatten() {
            if let Err(e) = n.close() {
                first.get_or_insert(e);
            }
        }
        for (store, _) in self.inner.core.stores.values() {
            if let Err(e) = store.close() {
                first.get_or_insert(e.into());
            }
        }
        // The global task withdraws its stores (so nothing keeps them open).
        crate::store::lock(&self.inner.core.globals)
            .retain(|name, _| !self.inner.core.stores.contains_key(name));
        first.map_or(Ok(()), Err)
    }
}

pub(crate) fn new_core(
    task_id: TaskId,
    application_id: &str,
    collector: Arc<dyn RecordCollector>,
    clock: Arc<dyn Clock>,
    stores: HashMap<String, (OpenStore, Arc<StoreDef>)>,
    node_stores: Vec<Vec<String>>,
    changelog: brook_state::changelog::ChangelogContext,
) -> TaskCore {
    TaskCore {
        task_id,
        application_id: application_id.to_owned(),
        stream_time: i64::MIN,
        timestamp: 0,
        headers: Vec::new(),
        metadata: None,
        collector,
        clock,
        commit_requested: false,
        stores,
        node_stores,
        globals: GlobalStores::default(),
        changelog,
        cache_max_entries: 0,
        dropped_records: 0,
        schedules: Vec::new(),
        next_schedule: 0,
    }
}
