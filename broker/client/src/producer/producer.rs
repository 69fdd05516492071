//! [`Producer`]: the async producer over a [`Cluster`], Kafka's `KafkaProducer`.
//!
//! [`send`](Producer::send) serializes nothing (records arrive as bytes; see
//! [`ProducerRecord::serialize`]), picks the partition (the record's own, else the
//! configured [`Partitioner`] with the topic's partition count from metadata), and appends
//! the record to the [`RecordAccumulator`] at once when it can. When it cannot (the topic's
//! metadata is not known yet, or `buffer.memory` is exhausted), the record waits in a FIFO
//! queue that a background task appends from, in send order, for at most `max.block.ms`;
//! every later record queues behind it, so records of one producer are always appended in
//! the order they were sent. A background sender task ([`sender`](super::sender)) drains
//! ready batches into Produce requests and completes each record's [`DeliveryFuture`] (or
//! callback) with its [`RecordMetadata`] once the broker acknowledged it.
//!
//! Unknown topics are looked up with a Metadata request that allows auto-creation, so a
//! broker with `auto.create.topics.enable` creates them as Kafka's producer would.
//!
//! Records waiting in the queue described above are held outside `buffer.memory`; the
//! returned futures (or a bounded number of them awaited at a time) are the caller's
//! backpressure.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use brook_protocol::messages::metadata_request::MetadataRequestTopic;
use brook_protocol::messages::{MetadataRequest, Uuid};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

use super::accumulator::{AppendError, AppendResult, BatchId, RecordAccumulator, RecordToAppend};
use super::config::{ConfigError, ProducerConfig};
use super::interceptor::ProducerInterceptor;
use super::partitioner::{Partitioner, Partitions};
use super::record::{ProducerRecord, RecordMetadata};
use super::sender;
use crate::cluster::{Cluster, Metadata};
use crate::error::{ClientError, ErrorCode, KafkaError};
use crate::tcp::{TcpConfig, TcpConnector};
use crate::transport::Connector;

/// What a record's sender is told when it is done: a future's channel or a callback.
pub(crate) enum Completion {
    Future(oneshot::Sender<Result<RecordMetadata, ClientError>>),
    Callback(Box<dyn FnOnce(Result<RecordMetadata, ClientError>) + Send>),
}

impl Completion {
    pub(crate) fn fire(self, result: Result<RecordMetadata, ClientError>) {
        match self {
            Completion::Future(tx) => {
                let _ = tx.send(result);
            }
            Completion::Callback(cb) => cb(result),
        }
    }
}

/// A record in a batch, waiting for its batch's answer.
pub(crate) struct PendingRecord {
    pub no: u64,
    pub topic: String,
    pub partition: i32,
    pub index: i32,
    pub timestamp: i64,
    pub key_size: i32,
    pub value_size: i32,
    pub done: Completion,
}

impl PendingRecord {
    pub(crate) fn metadata(&self, base_offset: i64, log_append_time: i64) -> RecordMetadata {
        RecordMetadata {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: if base_offset < 0 {
                -1
            } else {
                base_offset.saturating_add(i64::from(self.index))
            },
            timestamp: if log_append_time >= 0 {
                log_append_time
            } else {
                self.timestamp
            },
            serialized_key_size: self.key_size,
            serialized_value_size: self.value_size,
        }
    }
}

/// A record that could not be appended yet (metadata or memory), in send order.
pub(crate) struct Blocked {
    pub no: u64,
    pub record: ProducerRecord,
    pub done: Completion,
    pub since: Instant,
    /// What it waits for, for the error after `max.block.ms`.
    pub waiting_for: WaitReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WaitReason {
    Metadata(String),
    Memory(usize),
    /// Queued behind earlier records that wait.
    Behind,
}

/// A partition's batches in flight, numbered in the order they were drained.
#[derive(Debug, Default)]
pub(crate) struct PartitionFlight {
    /// The number each batch in flight was drained with.
    pub batches: BTreeMap<BatchId, u64>,
    /// Retries among them: while one is in flight, nothing else of the partition is sent
    /// (whatever is sent after it could push it out of the broker's memory of the last
    /// five batches, and then a retry of a batch that was written would be refused).
    pub retries: BTreeSet<BatchId>,
    /// The number of the next batch drained.
    pub next: u64,
}

impl PartitionFlight {
    /// Whether one more batch may go out while `limit` may be in flight. Counted from the
    /// oldest batch still in flight, not by how many are in flight now: answers can come
    /// back out of order (after a reconnect, old and new connections both carry batches),
    /// and a broker remembers only the last five batches of a producer to recognise a
    /// retry as a duplicate, so no more than `limit` batches may be sent from the oldest
    /// unanswered one on.
    pub fn has_room(&self, limit: u64) -> bool {
        self.retries.is_empty()
            && self
                .batches
                .values()
                .min()
                .is_none_or(|oldest| self.next - oldest < limit)
    }
}

/// The numbers of the records sent and not yet completed. Records are numbered in send
/// order and mostly complete in that order, so this is a window from the oldest one
/// outstanding: O(1) per record where a set would allocate and rebalance.
#[derive(Debug, Default)]
pub(crate) struct Outstanding {
    /// The number of `done[0]`.
    base: u64,
    done: VecDeque<bool>,
    pending: usize,
}

impl Outstanding {
    /// Adds record `no`, the next number (numbers are handed out in order).
    pub fn insert(&mut self, no: u64) {
        debug_assert_eq!(no, self.base + self.done.len() as u64);
        if self.done.is_empty() {
            self.base = no;
        }
        self.done.push_back(false);
        self.pending += 1;
    }

    /// Marks record `no` complete.
    pub fn remove(&mut self, no: u64) {
        let Some(i) = no.checked_sub(self.base) else {
            return;
        };
        match self.done.get_mut(i as usize) {
            Some(d) if !*d => {
                *d = true;
                self.pending -= 1;
            }
            _ => return,
        }
        while self.done.front() == Some(&true) {
            self.done.pop_front();
            self.base += 1;
        }
    }

    /// The oldest record not completed.
    pub fn first(&self) -> Option<u64> {
        (self.pending > 0).then_some(self.base)
    }

    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }
}

/// Everything the producer's tasks share under one lock.
pub(crate) struct State {
    pub acc: RecordAccumulator,
    pub partitioner: Box<dyn Partitioner>,
    /// The records of every batch not yet completed, by batch.
    pub records: HashMap<BatchId, Vec<PendingRecord>>,
    pub blocked: VecDeque<Blocked>,
    pub next_no: u64,
    /// Numbers of the records sent and not yet completed.
    pub outstanding: Outstanding,
    pub flushing: usize,
    pub closed: bool,
    pub force_closed: bool,
    /// A fatal error (InitProducerId refused): every record fails with it.
    pub fatal: Option<KafkaError>,
    /// The batches in flight per partition (a batch waiting for a retry goes out alone,
    /// after these).
    pub part_in_flight: HashMap<crate::TopicPartition, PartitionFlight>,
    /// A batch with sequence numbers failed for good: no batch is drained until nothing
    /// is in flight, then the producer bumps its epoch (KIP-360).
    pub bump_pending: bool,
    /// Batches drained while an earlier batch of their partition was in flight: if the
    /// broker refuses their sequence, the earlier one may simply not have arrived yet.
    pub sent_behind: HashSet<BatchId>,
    /// Produce requests in flight per node.
    pub in_flight: HashMap<i32, usize>,
    pub in_flight_batches: usize,
    /// The error that put a batch back for a retry, for the message if it then expires.
    pub last_error: HashMap<BatchId, String>,
}

/// What the producer handle and its tasks share.
pub(crate) struct Shared {
    pub config: ProducerConfig,
    pub cluster: Arc<Cluster>,
    pub state: Mutex<State>,
    pub wake_sender: Notify,
    pub wake_appender: Notify,
    /// Bumped whenever records complete or memory is released.
    pub progress: watch::Sender<u64>,
    /// Set when a response said the metadata is stale.
    pub need_metadata: AtomicBool,
    /// [`Producer::add_interceptor`]'s, in order.
    pub interceptors: std::sync::RwLock<Vec<Arc<dyn ProducerInterceptor>>>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn bump_progress(&self) {
        self.progress.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Fires `done` outside the lock, then forgets the records' numbers.
    pub(crate) fn complete(
        &self,
        done: Vec<(u64, Completion, Result<RecordMetadata, ClientError>)>,
    ) {
        if done.is_empty() {
            return;
        }
        let mut nos = Vec::with_capacity(done.len());
        for (no, c, r) in done {
            c.fire(r);
            nos.push(no);
        }
        {
            let mut st = self.lock();
            for no in nos {
                st.outstanding.remove(no);
            }
        }
        self.bump_progress();
    }
}

/// The future [`Producer::send`] returns: resolves once the broker acknowledged the record
/// (at once with offset `-1` under `acks=0`), or with the reason it was not written.
#[derive(Debug)]
#[must_use = "a record's future tells whether it was written"]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata, ClientError>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClientError::Closed)))
    }
}

/// The async producer, Kafka's `KafkaProducer`. Cheap to share behind an `Arc`; all
/// methods take `&self`.
///
/// [`send`](Self::send) takes records as bytes (see [`ProducerRecord::serialize`]), picks
/// the partition (the record's own, else the configured [`Partitioner`] with the topic's
/// partition count from metadata) and appends the record to the [`RecordAccumulator`] at
/// once when it can. When it cannot (the topic's metadata is not known yet, or
/// `buffer.memory` is exhausted) the record waits in a FIFO queue that a background task
/// appends from, in send order, for at most `max.block.ms`; later records queue behind
/// it, so one producer's records are always appended in the order they were sent. Records
/// waiting there are held outside `buffer.memory`: the returned futures are the caller's
/// backpressure. Unknown topics are looked up with a Metadata request that allows
/// auto-creation. A background [`sender`](super::sender) task drains ready batches into
/// Produce requests and completes each record's [`DeliveryFuture`] (or callback) with its
/// [`RecordMetadata`] once the broker acknowledged it; its docs say how retries,
/// ordering and idempotence work.
///
/// ```no_run
/// # async fn demo() -> Result<(), brook_client::ClientError> {
/// use std::time::Duration;
/// use brook_client::producer::{Producer, ProducerConfig, ProducerRecord};
///
/// let mut config = ProducerConfig::default();
/// config.set("bootstrap.servers", "localhost:9092").unwrap();
/// let producer = Producer::connect(config).await?;
/// let record = ProducerRecord::new("orders", "payload".into()).with_key("order-17".into());
/// let metadata = producer.send(record).await?;
/// println!("written at {}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
/// producer.close(Duration::from_secs(5)).await?;
/// # Ok(())
/// # }
/// ```
///
/// Dropping it without [`close`](Self::close) still sends what was buffered (the
/// background tasks finish on their own), but nothing waits for them.
pub struct Producer {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client_id", &self.shared.config.client_id)
            .finish_non_exhaustive()
    }
}

fn config_error(e: ConfigError) -> ClientError {
    match e {
        ConfigError::UnknownKey(k) => ClientError::Config {
            key: "producer",
            reason: format!("unknown producer config '{k}'"),
        },
        ConfigError::InvalidValue { key, value, reason } => ClientError::Config {
            key,
            reason: format!("invalid value '{value}': {reason}"),
        },
        ConfigError::Conflict { key, reason } => ClientError::Config { key, reason },
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Producer {
    /// Connects over TCP to `config.bootstrap_servers` and starts the producer.
    pub async fn connect(config: ProducerConfig) -> Result<Producer, ClientError> {
        let config = config.validated().map_err(config_error)?;
        let tcp = TcpConfig {
            client_id: Some(if config.client_id.is_empty() {
                "brook-producer".to_owned()
            } else {
                config.client_id.clone()
            }),
            request_timeout: Duration::from_millis(config.request_timeout_ms),
            ..TcpConfig::default()
        };
        let connector: Arc<dyn Connector> = Arc::new(TcpConnector::new(tcp));
        let cluster = Cluster::connect(&config.bootstrap_servers.join(","), connector).await?;
        Producer::with_cluster(Arc::new(cluster), config)
    }

    /// A producer over an existing cluster view (any transport, e.g. the in-process one of
    /// `brook::embedded`). `config.bootstrap_servers` is not used. Must be called inside a
    /// tokio runtime, on which the background tasks run.
    pub fn with_cluster(
        cluster: Arc<Cluster>,
        config: ProducerConfig,
    ) -> Result<Producer, ClientError> {
        let config = config.validated().map_err(config_error)?;
        let partitioner = config.partitioner.build(config.partitioner_ignore_keys);
        Producer::with_partitioner(cluster, config, partitioner)
    }

    /// [`with_cluster`](Self::with_cluster) with a user-provided partitioner instead of
    /// `partitioner.class`.
    pub fn with_partitioner(
        cluster: Arc<Cluster>,
        config: ProducerConfig,
        partitioner: Box<dyn Partitioner>,
    ) -> Result<Producer, ClientError> {
        let config = config.validated().map_err(config_error)?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|e| ClientError::Io(std::io::Error::other(e)))?;
        let state = State {
            acc: RecordAccumulator::new(config.accumulator_config()),
            partitioner,
            records: HashMap::new(),
            blocked: VecDeque::new(),
            next_no: 0,
            outstanding: Outstanding::default(),
            flushing: 0,
            closed: false,
            force_closed: false,
            fatal: None,
            part_in_flight: HashMap::new(),
            bump_pending: false,
            sent_behind: HashSet::new(),
            in_flight: HashMap::new(),
            in_flight_batches: 0,
            last_error: HashMap::new(),
        };
        let shared = Arc::new(Shared {
            config,
            cluster,
            state: Mutex::new(state),
            wake_sender: Notify::new(),
            wake_appender: Notify::new(),
            progress: watch::channel(0).0,
            need_metadata: AtomicBool::new(false),
            interceptors: std::sync::RwLock::new(Vec::new()),
        });
        let tasks = vec![
            handle.spawn(sender::run(shared.clone())),
            handle.spawn(run_appender(shared.clone())),
        ];
        Ok(Producer {
            shared,
            tasks: Mutex::new(tasks),
        })
    }

    /// The cluster view the producer sends through.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.shared.cluster
    }

    /// The settings in force (after [`ProducerConfig::validated`]).
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }

    /// Sends `record`: appends it to its partition's batch (or queues it, in order, until
    /// metadata or `buffer.memory` allows, for at most `max.block.ms`) and returns a future
    /// that resolves once the broker acknowledged it. Records that cannot be sent at all
    /// (larger than `max.request.size`, a producer that is closed) fail their future at
    /// once; nothing here blocks.
    pub fn send(&self, record: ProducerRecord) -> DeliveryFuture {
        let (tx, rx) = oneshot::channel();
        self.intercept(record, Completion::Future(tx));
        DeliveryFuture { rx }
    }

    /// Adds an interceptor that sees every record sent from now on, and its outcome
    /// ([`ProducerInterceptor`]); interceptors run in the order added.
    pub fn add_interceptor(&self, interceptor: Arc<dyn ProducerInterceptor>) {
        self.shared
            .interceptors
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(interceptor);
    }

    /// Runs the interceptors' `on_send` and wraps the completion in their
    /// `on_acknowledgement`, then enqueues.
    fn intercept(&self, mut record: ProducerRecord, done: Completion) {
        let interceptors = self
            .shared
            .interceptors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if interceptors.is_empty() {
            return self.enqueue(record, done);
        }
        for i in &interceptors {
            record = i.on_send(record);
        }
        let done = Completion::Callback(Box::new(move |r| {
            for i in &interceptors {
                i.on_acknowledgement(&r);
            }
            done.fire(r)
        }));
        self.enqueue(record, done)
    }

    /// [`send`](Self::send) with a callback instead of a future, called once with the
    /// outcome (on a producer task; keep it short).
    pub fn send_with_callback(
        &self,
        record: ProducerRecord,
        callback: impl FnOnce(Result<RecordMetadata, ClientError>) + Send + 'static,
    ) {
        self.intercept(record, Completion::Callback(Box::new(callback)));
    }

    fn enqueue(&self, record: ProducerRecord, done: Completion) {
        let shared = &self.shared;
        let meta = shared.cluster.metadata();
        let mut st = shared.lock();
        if st.closed {
            drop(st);
            done.fire(Err(ClientError::Closed));
            return;
        }
        if let Some(f) = &st.fatal {
            let e = f.clone();
            drop(st);
            done.fire(Err(e.into()));
            return;
        }
        let no = st.next_no;
        st.next_no += 1;
        st.outstanding.insert(no);
        if !st.blocked.is_empty() {
            st.blocked.push_back(Blocked {
                no,
                record,
                done,
                since: Instant::now(),
                waiting_for: WaitReason::Behind,
            });
            return;
        }
        match try_append(&mut st, &meta, &record, Instant::now()) {
            Ok(appended) => {
                st.records
                    .entry(appended.batch)
                    .or_default()
                    .push(appended.pending(no, record, done));
                drop(st);
                if appended.wake {
                    shared.wake_sender.notify_one();
                }
            }
            Err(Attempt::Wait(waiting_for)) => {
                st.blocked.push_back(Blocked {
                    no,
                    record,
                    done,
                    since: Instant::now(),
                    waiting_for,
                });
                drop(st);
                shared.wake_appender.notify_one();
                shared.wake_sender.notify_one();
            }
            Err(Attempt::Failed(e)) => {
                st.outstanding.remove(no);
                drop(st);
                done.fire(Err(e));
            }
        }
    }

    /// Sends every record buffered so far at once (ignoring `linger.ms`) and waits until
    /// each record sent before this call completed, successfully or not.
    pub async fn flush(&self) {
        let mut rx = self.shared.progress.subscribe();
        let last = {
            let mut st = self.shared.lock();
            st.flushing += 1;
            st.acc.set_flushing(true);
            st.next_no
        };
        self.shared.wake_sender.notify_one();
        self.shared.wake_appender.notify_one();
        loop {
            let done = {
                let st = self.shared.lock();
                st.outstanding.first().is_none_or(|n| n >= last)
            };
            if done || rx.changed().await.is_err() {
                break;
            }
        }
        let mut st = self.shared.lock();
        st.flushing -= 1;
        if st.flushing == 0 {
            st.acc.set_flushing(false);
        }
    }

    /// Stops taking records, sends what is buffered and waits up to `timeout` for every
    /// record to complete. Whatever is still unsent or unanswered after `timeout` fails
    /// with [`ClientError::Closed`], and the call returns a timeout error saying how many.
    /// The background tasks have stopped when this returns.
    pub async fn close(&self, timeout: Duration) -> Result<(), ClientError> {
        {
            let mut st = self.shared.lock();
            st.closed = true;
            st.acc.begin_close();
        }
        self.shared.wake_sender.notify_one();
        self.shared.wake_appender.notify_one();
        let mut rx = self.shared.progress.subscribe();
        let wait_all = async {
            loop {
                // Not in the `if`: the guard must be gone before awaiting.
                let idle = self.shared.lock().outstanding.is_empty();
                if idle || rx.changed().await.is_err() {
                    break;
                }
            }
        };
        let finished = tokio::time::timeout(timeout, wait_all).await.is_ok();
        let mut failed = 0usize;
        if !finished {
            let done = {
                let mut st = self.shared.lock();
                st.force_closed = true;
                let mut done = Vec::new();
                st.last_error.clear();
                for b in st.acc.abort_all() {
                    if let Some(rs) = st.records.remove(&b.id) {
                        done.extend(
                            rs.into_iter()
                                .map(|r| (r.no, r.done, Err(ClientError::Closed))),
                        );
                    }
                }
                for (_, rs) in st.records.drain() {
                    done.extend(
                        rs.into_iter()
                            .map(|r| (r.no, r.done, Err(ClientError::Closed))),
                    );
                }
                for b in std::mem::take(&mut st.blocked) {
                    done.push((b.no, b.done, Err(ClientError::Closed)));
                }
                done
            };
            failed = done.len();
            self.shared.complete(done);
            self.shared.wake_sender.notify_one();
            self.shared.wake_appender.notify_one();
        }
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            if !finished {
                // It may be waiting on a broker that does not answer: nothing is left for it.
                t.abort();
            }
            let _ = t.await;
        }
        self.shared.lock().partitioner.close();
        if finished {
            Ok(())
        } else {
            Err(KafkaError::new(
                ErrorCode::REQUEST_TIMED_OUT,
                Some(format!(
                    "the producer did not finish within {timeout:?}; {failed} records were \
                     failed as closed"
                )),
            )
            .into())
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.closed = true;
            st.acc.begin_close();
        }
        self.shared.wake_sender.notify_one();
        self.shared.wake_appender.notify_one();
    }
}

/// A record appended to a batch.
pub(crate) struct Appended {
    batch: BatchId,
    index: i32,
    partition: i32,
    timestamp: i64,
    wake: bool,
}

impl Appended {
    /// The record's entry until its batch is answered; takes the record's topic rather
    /// than copying it (the record's bytes are in the batch now).
    fn pending(&self, no: u64, record: ProducerRecord, done: Completion) -> PendingRecord {
        PendingRecord {
            no,
            key_size: RecordMetadata::serialized_size(record.key.as_deref()),
            value_size: RecordMetadata::serialized_size(record.value.as_deref()),
            topic: record.topic,
            partition: self.partition,
            index: self.index,
            timestamp: self.timestamp,
            done,
        }
    }
}

pub(crate) enum Attempt {
    Wait(WaitReason),
    Failed(ClientError),
}

fn too_large(e: AppendError) -> ClientError {
    KafkaError::new(ErrorCode::MESSAGE_TOO_LARGE, Some(e.to_string())).into()
}

/// Chooses the partition of `record` and appends it, or says what it waits for.
pub(crate) fn try_append(
    st: &mut State,
    meta: &Metadata,
    record: &ProducerRecord,
    now: Instant,
) -> Result<Appended, Attempt> {
    let Some(topic) = meta.topics.get(&record.topic) else {
        return Err(Attempt::Wait(WaitReason::Metadata(record.topic.clone())));
    };
    let count = i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX);
    let Some(parts) = Partitions::new(count, &topic.available) else {
        return Err(Attempt::Wait(WaitReason::Metadata(record.topic.clone())));
    };
    let timestamp = record.timestamp.unwrap_or_else(now_ms);
    let to_append = RecordToAppend {
        timestamp,
        key: record.key.as_deref(),
        value: record.value.as_deref(),
        headers: &record.headers,
    };
    let key = record.key.as_deref();
    let value = record.value.as_deref();
    let (mut partition, sticky) = match record.partition {
        Some(p) => (p, false),
        None => (
            st.partitioner.partition(&record.topic, key, value, &parts),
            st.partitioner.wants_new_batch_notice(&record.topic, key),
        ),
    };
    let mut abort_on_new_batch = sticky;
    loop {
        if partition < 0 || partition >= count {
            return Err(Attempt::Failed(ClientError::NoSuchPartition {
                topic: record.topic.clone(),
                partition,
            }));
        }
        match st.acc.append(
            &record.topic,
            partition,
            &to_append,
            abort_on_new_batch,
            now,
        ) {
            Ok(AppendResult::Appended {
                handle,
                batch_is_full,
                new_batch_created,
            }) => {
                return Ok(Appended {
                    batch: handle.batch,
                    index: handle.index,
                    partition,
                    timestamp,
                    wake: batch_is_full || new_batch_created,
                })
            }
            Ok(AppendResult::NewBatchRequired) => {
                st.partitioner
                    .on_new_batch(&record.topic, &parts, partition);
                partition = st.partitioner.partition(&record.topic, key, value, &parts);
                abort_on_new_batch = false;
            }
            Err(AppendError::BufferFull { requested, .. }) => {
                return Err(Attempt::Wait(WaitReason::Memory(requested)))
            }
            Err(
                e @ (AppendError::RecordTooLarge { .. }
                | AppendError::LargerThanBufferMemory { .. }),
            ) => return Err(Attempt::Failed(too_large(e))),
            Err(AppendError::InvalidPartition(p)) => {
                return Err(Attempt::Failed(ClientError::NoSuchPartition {
                    topic: record.topic.clone(),
                    partition: p,
                }))
            }
            Err(e @ AppendError::Record(_)) => {
                return Err(Attempt::Failed(
                    KafkaError::new(ErrorCode::INVALID_RECORD, Some(e.to_string())).into(),
                ))
            }
        }
    }
}

/// Looks `topic` up with a Metadata request that lets the broker auto-create it, then
/// loads it into the cluster's cache.
async fn fetch_topic(cluster: &Cluster, topic: &str) -> Result<(), ClientError> {
    let transport = cluster.any_transport().await?;
    let req = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            topic_id: Uuid::ZERO,
            name: Some(topic.to_owned()),
        }]),
        allow_auto_topic_creation: true,
        ..MetadataRequest::default()
    };
    // Creation may take a moment to show leaders; the cache load below is what counts.
    let _ = cluster.call_on(&transport, 12, req).await;
    cluster.fetch_metadata(Some(&[topic])).await?;
    Ok(())
}

/// Appends the queued records in order as metadata and memory allow, failing each one
/// still waiting after `max.block.ms`.
async fn run_appender(shared: Arc<Shared>) {
    let max_block = Duration::from_millis(shared.config.max_block_ms);
    let backoff = Duration::from_millis(shared.config.retry_backoff_ms.max(1));
    let mut progress = shared.progress.subscribe();
    loop {
        let mut fetch: Option<String> = None;
        let mut failed = Vec::new();
        let mut appended_any = false;
        let mut stop = false;
        {
            let meta = shared.cluster.metadata();
            let mut st = shared.lock();
            let now = Instant::now();
            while let Some(front) = st.blocked.front() {
                if st.force_closed || st.fatal.is_some() {
                    let err = st.fatal.clone();
                    for b in std::mem::take(&mut st.blocked) {
                        let e = err.clone().map_or(ClientError::Closed, ClientError::from);
                        failed.push((b.no, b.done, Err(e)));
                    }
                    break;
                }
                if now.saturating_duration_since(front.since) >= max_block {
                    let Some(b) = st.blocked.pop_front() else {
                        break;
                    };
                    let reason = match &b.waiting_for {
                        WaitReason::Metadata(t) => {
                            format!("topic {t} not present in metadata after {max_block:?} (max.block.ms)")
                        }
                        WaitReason::Memory(n) => format!(
                            "failed to allocate {n} bytes of buffer.memory within {max_block:?} (max.block.ms)"
                        ),
                        WaitReason::Behind => format!(
                            "queued behind records waiting for metadata or buffer.memory for {max_block:?} (max.block.ms)"
                        ),
                    };
                    let e = KafkaError::new(ErrorCode::REQUEST_TIMED_OUT, Some(reason));
                    failed.push((b.no, b.done, Err(e.into())));
                    continue;
                }
                let Some(mut b) = st.blocked.pop_front() else {
                    break;
                };
                match try_append(&mut st, &meta, &b.record, now) {
                    Ok(a) => {
                        let p = a.pending(b.no, b.record, b.done);
                        st.records.entry(a.batch).or_default().push(p);
                        appended_any = true;
                    }
                    Err(Attempt::Failed(e)) => {
                        failed.push((b.no, b.done, Err(e)));
                    }
                    Err(Attempt::Wait(w)) => {
                        if let WaitReason::Metadata(t) = &w {
                            fetch = Some(t.clone());
                        }
                        b.waiting_for = w;
                        st.blocked.push_front(b);
                        break;
                    }
                }
            }
            if st.blocked.is_empty() && (st.closed || st.force_closed) {
                stop = true;
            }
        }
        shared.complete(failed);
        if appended_any {
            shared.wake_sender.notify_one();
        }
        if stop {
            return;
        }
        if let Some(topic) = fetch {
            if fetch_topic(&shared.cluster, &topic).await.is_err()
                || !shared.cluster.metadata().topics.contains_key(&topic)
            {
                tokio::time::sleep(backoff).await;
            }
            continue;
        }
        tokio::select! {
            _ = shared.wake_appender.notified() => {}
            _ = progress.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Outstanding;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// The window answers as a set of outstanding numbers would.
        #[test]
        fn outstanding_matches_a_set(ops in proptest::collection::vec((any::<bool>(), 0u64..40), 0..200)) {
            let mut w = Outstanding::default();
            let mut model = BTreeSet::new();
            let mut next = 0u64;
            for (add, pick) in ops {
                if add || model.is_empty() {
                    w.insert(next);
                    model.insert(next);
                    next += 1;
                } else {
                    // Complete one outstanding record (any of them), or one already done.
                    let no = pick % next;
                    w.remove(no);
                    model.remove(&no);
                }
                prop_assert_eq!(w.first(), model.first().copied());
                prop_assert_eq!(w.is_empty(), model.is_empty());
            }
        }
    }
}
