//! The streams runtime: [`KafkaStreams`] runs a [`Topology`] against a Kafka-compatible
//! cluster as tasks partitioned by input partition, on `num.stream.threads` OS threads per
//! instance and across every instance that shares the `application.id`, with state that
//! survives restarts. At-least-once only (no transactions yet).
//!
//! # Threads
//!
//! A `KafkaStreams` owns one multi-thread tokio runtime that only moves bytes: the clients'
//! fetches, produce requests, heartbeats and group joins run there. Processing never does
//! (DESIGN.md decision 6): each stream thread is an OS thread that drives its
//! clients with `block_on` and runs processors and RocksDB synchronously. A thread has
//!
//! - a group [`Consumer`](brook_client::Consumer) in the group `application.id`,
//!   subscribed to every source topic of every sub-topology (repartition topics
//!   included), with `enable.auto.commit=false`, `auto.offset.reset=earliest` and the
//!   [`StreamsAssignor`] (protocol `stream`) instead of the configured assignors;
//! - a producer for sinks, repartition topics and changelogs (one per thread, so a
//!   commit waits for the thread's own sends only);
//! - a restore consumer in assign mode (no group) that reads changelogs;
//! - its tasks: one per (sub-topology, partition) assigned to it.
//!
//! The assignor runs on the group leader. It makes the task list (for each sub-topology,
//! partitions `0..n` of its source topics, which must all have `n` partitions, as must the
//! topics of a co-partition group), balances tasks over the members (threads of all
//! instances) within one task of each other, and keeps a stateful task with its previous
//! owner, or else with a thread of an instance that has its state directory, as long as
//! balance allows. A member then gets every source partition of its tasks. Member
//! subscriptions carry a random process id per instance, the member's previous tasks and
//! the tasks whose state directories exist locally.
//!
//! Global stores ([`Topology::global_stores`]) are kept by a global thread that reads
//! every partition of their topics (no group): [`KafkaStreams::start`] bootstraps them to
//! the end of their topics before the stream threads start, then the thread follows the
//! topics.
//!
//! # Commit
//!
//! Every `commit.interval.ms`, when a processor asks, before partitions are revoked and at
//! a clean close, a thread commits all its tasks: each task forwards what its caches hold,
//! then the producer is flushed (a failed send fails the thread under
//! [`ProductionHandler::Fail`](crate::ProductionHandler), and is logged under
//! `LogAndContinue`), then the stores are flushed, then each task's checkpoint file
//! (`<state.dir>/<application.id>/<task>/.checkpoint`) is written with, per changelog
//! partition of a persistent store, the offset after the last changelog record the task
//! wrote (known from the producer's acknowledgements), and finally the consumed offsets are
//! committed. Output and changelog records are thus durable before the input offsets that
//! produced them are committed: after a crash, input is read again from the last commit,
//! which may count some records twice (at-least-once) but never loses one.
//!
//! # Restore
//!
//! When a task is assigned, its stores are opened under `<state.dir>/<application.id>`.
//! Each logged store is restored from its changelog: from the checkpointed
//! offset if the store is persistent and the checkpoint is readable, else from the
//! beginning (a RocksDB directory without a checkpoint is wiped first: state of unknown
//! age is not trusted), up to the changelog's end offset as of the restore's start, in
//! bulk through the restore consumer and without logging the records again; progress goes
//! to the [`StateRestoreListener`]. Then the checkpoint is written, the processors are
//! initialized and processing starts. Revoked tasks are committed and closed but keep
//! their directories, so when a task comes back only the changelog's tail is read.
//!
//! # States
//!
//! [`StreamsState`] follows Kafka Streams' `KafkaStreams.State`: `Created`, then
//! `Rebalancing` while any thread waits for or restores its assignment, `Running` when
//! every thread processes, `PendingShutdown` then `NotRunning` on close, and
//! `PendingError` then `Error` when a thread fails and the
//! [uncaught exception handler](KafkaStreams::set_uncaught_exception_handler) (by
//! default) shuts the client down.

mod assignor;
mod collector;
mod global;
pub mod query;
mod restore;
mod thread;
mod topics;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use brook_client::{Connector, TcpConfig, TcpConnector};

use crate::config::StreamsConfig;
use crate::error::{Result, StreamsError};
use crate::record::Data;
use crate::topology::Topology;
use crate::TaskId;

pub use assignor::StreamsAssignor;

use assignor::AssignorTopology;
use query::TaskRegistry;
use thread::ThreadStatus;

/// The state of a [`KafkaStreams`] client (Kafka Streams' `KafkaStreams.State`).
///
/// The transitions are Kafka's: `Created` → `Rebalancing` | `PendingShutdown` |
/// `PendingError`; `Rebalancing` ↔ `Running`; either → `PendingShutdown` | `PendingError`;
/// `PendingShutdown` → `NotRunning`; `PendingError` → `Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamsState {
    /// Built, not started.
    Created,
    /// Started; some thread waits for its assignment or restores its state.
    Rebalancing,
    /// Every thread processes its tasks.
    Running,
    /// [`close`](KafkaStreams::close) was called; threads are stopping.
    PendingShutdown,
    /// Closed.
    NotRunning,
    /// A thread failed and the client is shutting down.
    PendingError,
    /// Shut down after a failure.
    Error,
}

impl StreamsState {
    fn can_become(self, next: StreamsState) -> bool {
        use StreamsState::*;
        matches!(
            (self, next),
            (Created, Rebalancing | PendingShutdown | PendingError)
                | (Rebalancing, Running | PendingShutdown | PendingError)
                | (Running, Rebalancing | PendingShutdown | PendingError)
                | (PendingShutdown, NotRunning)
                | (PendingError, Error)
        )
    }

    /// `Rebalancing` or `Running`.
    pub fn is_running_or_rebalancing(self) -> bool {
        matches!(self, StreamsState::Rebalancing | StreamsState::Running)
    }
}

impl fmt::Display for StreamsState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            StreamsState::Created => "CREATED",
            StreamsState::Rebalancing => "REBALANCING",
            StreamsState::Running => "RUNNING",
            StreamsState::PendingShutdown => "PENDING_SHUTDOWN",
            StreamsState::NotRunning => "NOT_RUNNING",
            StreamsState::PendingError => "PENDING_ERROR",
            StreamsState::Error => "ERROR",
        };
        f.write_str(s)
    }
}

/// What to do after a stream thread failed (Kafka Streams'
/// `StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamThreadExceptionResponse {
    /// Start a new thread in place of the failed one (its tasks are closed without a
    /// commit and the new thread rejoins the group).
    ReplaceThread,
    /// Stop every thread of this client; it ends in [`StreamsState::Error`].
    ShutdownClient,
}

/// Told about the restoration of each changelog (or global topic) partition (Kafka
/// Streams' `StateRestoreListener`). Called on the restoring thread: keep it short.
pub trait StateRestoreListener: Send + Sync {
    /// Restoration of `store` from `topic`-`partition` starts at `start_offset` and will
    /// stop at `end_offset` (exclusive).
    fn on_restore_start(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        start_offset: i64,
        end_offset: i64,
    ) {
        let _ = (topic, partition, store, start_offset, end_offset);
    }

    /// A batch of `num_restored` records up to offset `batch_end_offset` (inclusive) was
    /// applied.
    fn on_batch_restored(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        batch_end_offset: i64,
        num_restored: u64,
    ) {
        let _ = (topic, partition, store, batch_end_offset, num_restored);
    }

    /// Restoration of `store` from `topic`-`partition` ended after `total_restored`
    /// records.
    fn on_restore_end(&self, topic: &str, partition: i32, store: &str, total_restored: u64) {
        let _ = (topic, partition, store, total_restored);
    }
}

/// The state of one stream thread, as Kafka Streams names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadState {
    /// Created or joining its group for the first time.
    Starting,
    /// Its partitions were revoked; it is rejoining.
    PartitionsRevoked,
    /// It got an assignment and restores its tasks.
    PartitionsAssigned,
    /// It processes its tasks.
    Running,
    /// It is stopping.
    PendingShutdown,
    /// It stopped.
    Dead,
}

/// What one local stream thread runs ([`KafkaStreams::local_thread_metadata`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadMetadata {
    /// `<application.id>-StreamThread-<n>`.
    pub thread_name: String,
    /// What it does now.
    pub thread_state: ThreadState,
    /// The tasks it runs now.
    pub active_tasks: BTreeSet<TaskId>,
    /// Records its tasks dropped since it started: undecodable ones skipped, negative
    /// timestamps, records too late for their windows (Kafka's `dropped-records-total`).
    pub dropped_records_total: u64,
}

type StateListener = Arc<dyn Fn(StreamsState, StreamsState) + Send + Sync>;
type ExceptionHandler = Arc<dyn Fn(&StreamsError) -> StreamThreadExceptionResponse + Send + Sync>;

/// What the handle, its threads and its assignors share.
pub(crate) struct Shared {
    pub topology: Arc<Topology>,
    pub config: StreamsConfig,
    pub connector: Arc<dyn Connector>,
    pub handle: tokio::runtime::Handle,
    /// `<state.dir>/<application.id>`.
    pub app_dir: PathBuf,
    /// This instance's id in the group's subscriptions.
    pub process_id: String,
    /// `state.memory.bytes`: the one block cache and memtable budget of every RocksDB
    /// store of this instance (all threads, the global one included).
    pub budget: brook_state::MemoryBudget,
    pub assignor_topology: Arc<AssignorTopology>,
    state: Mutex<StreamsState>,
    state_changed: Condvar,
    state_listener: RwLock<Option<StateListener>>,
    exception_handler: RwLock<Option<ExceptionHandler>>,
    restore_listener: RwLock<Option<Arc<dyn StateRestoreListener>>>,
    /// Set to stop every thread (cleanly).
    pub shutdown: AtomicBool,
    /// The stream threads' states and tasks.
    pub threads: Mutex<Vec<Arc<ThreadStatus>>>,
    /// Threads (global included) not finished yet.
    alive: Mutex<usize>,
    alive_changed: Condvar,
    /// The tasks of every local thread, for local store queries.
    pub registry: Arc<TaskRegistry>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn state(&self) -> StreamsState {
        *lock(&self.state)
    }

    /// Moves the client to `next` if Kafka allows that transition; tells the listener.
    pub(crate) fn set_state(&self, next: StreamsState) -> bool {
        let old = {
            let mut s = lock(&self.state);
            if !s.can_become(next) {
                return false;
            }
            let old = *s;
            *s = next;
            old
        };
        self.state_changed.notify_all();
        tracing::info!(application = %self.config.application_id, from = %old, to = %next, "state transition");
        let listener = self
            .state_listener
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(l) = listener {
            l(next, old);
        }
        true
    }

    /// Recomputes `Running` / `Rebalancing` from the threads' states.
    pub(crate) fn update_state(&self) {
        let current = self.state();
        if !current.is_running_or_rebalancing() {
            return;
        }
        let threads = lock(&self.threads).clone();
        let running = threads
            .iter()
            .all(|t| matches!(t.state(), ThreadState::Running | ThreadState::Dead));
        let want = if running {
            StreamsState::Running
        } else {
            StreamsState::Rebalancing
        };
        if want != current {
            self.set_state(want);
        }
    }

    pub(crate) fn restore_listener(&self) -> Option<Arc<dyn StateRestoreListener>> {
        self.restore_listener
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the uncaught exception handler says about `error` (by default: shut down).
    pub(crate) fn handle_error(&self, error: &StreamsError) -> StreamThreadExceptionResponse {
        let handler = self
            .exception_handler
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match handler {
            Some(h) => h(error),
            None => StreamThreadExceptionResponse::ShutdownClient,
        }
    }

    /// A thread failed for good: the client shuts down with state `Error`.
    pub(crate) fn fail(&self) {
        self.set_state(StreamsState::PendingError);
        self.shutdown.store(true, Ordering::SeqCst);
        if *lock(&self.alive) == 0 {
            self.set_state(StreamsState::Error);
        }
    }

    pub(crate) fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    pub(crate) fn thread_started(&self) {
        *lock(&self.alive) += 1;
    }

    /// A thread ended; the last one out moves `PendingError` to `Error`.
    pub(crate) fn thread_finished(&self) {
        let left = {
            let mut a = lock(&self.alive);
            *a = a.saturating_sub(1);
            *a
        };
        self.alive_changed.notify_all();
        if left == 0 && self.state() == StreamsState::PendingError {
            self.set_state(StreamsState::Error);
        }
    }

    /// Waits until every thread ended or `deadline` passed; true if they all ended.
    fn wait_threads(&self, deadline: Option<Instant>) -> bool {
        let mut a = lock(&self.alive);
        while *a > 0 {
            match deadline {
                None => {
                    a = self
                        .alive_changed
                        .wait(a)
                        .unwrap_or_else(|p| p.into_inner())
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    a = self
                        .alive_changed
                        .wait_timeout(a, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        true
    }
}

/// A random id for this instance: the time, the process id and a counter (several
/// instances may share a process).
fn new_process_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{:x}-{n}", nanos as u64, std::process::id())
}

/// Runs `f` where blocking is allowed: here, or on a scoped thread when called from inside
/// a tokio runtime (where `block_on` would panic).
fn blocking<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        })
    } else {
        f()
    }
}

/// A Kafka Streams application instance (Kafka Streams' `KafkaStreams`): see the
/// [module docs](self) for threads, commits and restoration.
///
/// ```no_run
/// use brook_streams::{KafkaStreams, StreamsBuilder, StreamsConfig, Consumed, Produced, Serdes};
///
/// # fn main() -> brook_streams::Result<()> {
/// let builder = StreamsBuilder::new();
/// builder
///     .stream::<String, String>(&["in"], Consumed::with(Serdes::string(), Serdes::string()))
///     .map_values(|v: String| v.to_uppercase())
///     .to("out", Produced::default());
/// let mut config = StreamsConfig::new("upper", "localhost:9092");
/// config.state_dir = "/tmp/upper-state".into();
/// let streams = KafkaStreams::new(builder.build()?, config)?;
/// streams.start()?;
/// // ...
/// streams.close();
/// # Ok(()) }
/// ```
pub struct KafkaStreams {
    shared: Arc<Shared>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    joins: Mutex<Vec<std::thread::JoinHandle<()>>>,
    global: Mutex<Option<global::GlobalThread>>,
}

impl fmt::Debug for KafkaStreams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaStreams")
            .field("application_id", &self.shared.config.application_id)
            .field("process_id", &self.shared.process_id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl KafkaStreams {
    /// A client for `topology` that connects over TCP to `config.bootstrap_servers`.
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<KafkaStreams> {
        let tcp = TcpConfig {
            client_id: Some(config.application_id.clone()),
            ..TcpConfig::default()
        };
        Self::with_connector(topology, config, Arc::new(TcpConnector::new(tcp)))
    }

    /// A client for `topology` that reaches the cluster through `connector` (e.g. the
    /// in-process connector of an embedded broker, `brook::embedded::InProcessConnector`);
    /// `config.bootstrap_servers` is still the address list the clients bootstrap from.
    pub fn with_connector(
        topology: Topology,
        config: StreamsConfig,
        connector: Arc<dyn Connector>,
    ) -> Result<KafkaStreams> {
        config.validate()?;
        query::validate_config(&config)?;
        topology.validate()?;
        let app = config.application_id.clone();
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(2, 4);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(format!("{app}-io"))
            .enable_all()
            .build()
            .map_err(|e| StreamsError::Config(format!("cannot start the I/O runtime: {e}")))?;
        let assignor_topology = Arc::new(AssignorTopology::new(&topology, &app));
        let shared = Arc::new(Shared {
            app_dir: config.state_dir.join(&app),
            topology: Arc::new(topology),
            connector,
            handle: runtime.handle().clone(),
            process_id: new_process_id(),
            budget: brook_state::MemoryBudget::new(config.state_memory_bytes),
            assignor_topology,
            state: Mutex::new(StreamsState::Created),
            state_changed: Condvar::new(),
            state_listener: RwLock::new(None),
            exception_handler: RwLock::new(None),
            restore_listener: RwLock::new(None),
            shutdown: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            alive: Mutex::new(0),
            alive_changed: Condvar::new(),
            registry: Arc::new(TaskRegistry::default()),
            config,
        });
        Ok(KafkaStreams {
            shared,
            runtime: Mutex::new(Some(runtime)),
            joins: Mutex::new(Vec::new()),
            global: Mutex::new(None),
        })
    }

    /// The client's state.
    pub fn state(&self) -> StreamsState {
        self.shared.state()
    }

    /// This instance's process id, as its group subscriptions carry it.
    pub fn process_id(&self) -> &str {
        &self.shared.process_id
    }

    /// Calls `listener(new, old)` on every state change (on the thread that made it).
    pub fn set_state_listener(
        &self,
        listener: impl Fn(StreamsState, StreamsState) + Send + Sync + 'static,
    ) {
        *self
            .shared
            .state_listener
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(listener));
    }

    /// Decides what happens when a stream thread fails (Kafka Streams'
    /// `setUncaughtExceptionHandler`). Without one the client shuts down into
    /// [`StreamsState::Error`].
    pub fn set_uncaught_exception_handler(
        &self,
        handler: impl Fn(&StreamsError) -> StreamThreadExceptionResponse + Send + Sync + 'static,
    ) {
        *self
            .shared
            .exception_handler
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(handler));
    }

    /// Tells `listener` about the restoration of every store, global ones included (Kafka
    /// Streams' `setGlobalStateRestoreListener`, which despite its name covers all).
    pub fn set_global_state_restore_listener(&self, listener: Arc<dyn StateRestoreListener>) {
        *self
            .shared
            .restore_listener
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    /// The same as [`set_global_state_restore_listener`](Self::set_global_state_restore_listener).
    pub fn set_restore_listener(&self, listener: Arc<dyn StateRestoreListener>) {
        self.set_global_state_restore_listener(listener)
    }

    /// Starts the client: creates the internal topics that are missing (repartition
    /// topics, changelogs), bootstraps the global stores, then starts the stream threads,
    /// which join the group and restore their tasks in the background (the state is
    /// `Rebalancing` until every thread processes). Fails if the client was started
    /// before, if a source topic is missing, or if an internal topic exists with another
    /// partition count; the client is then in state `Error`.
    pub fn start(&self) -> Result<()> {
        if !self.shared.set_state(StreamsState::Rebalancing) {
            return Err(StreamsError::State(format!(
                "start() needs a client in state CREATED; it is {}",
                self.state()
            )));
        }
        let shared = self.shared.clone();
        let prepared = blocking(move || -> Result<Option<global::GlobalThread>> {
            let counts = shared.handle.block_on(topics::prepare(&shared))?;
            tracing::info!(
                application = %shared.config.application_id,
                topics = counts.len(),
                "internal topics ready"
            );
            global::GlobalThread::start(&shared)
        });
        let global = match prepared {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(application = %self.shared.config.application_id, error = %e, "start failed");
                self.shared.fail();
                return Err(e);
            }
        };
        *lock(&self.global) = global;
        // A topology of global stores only has no tasks: no stream threads.
        let threads = if self.shared.assignor_topology.subs.is_empty() {
            0
        } else {
            self.shared.config.num_stream_threads
        };
        // Every thread is listed before any starts, so the client is `Running` only
        // once all of them are.
        let statuses: Vec<Arc<ThreadStatus>> = (1..=threads)
            .map(|i| {
                Arc::new(ThreadStatus::new(format!(
                    "{}-StreamThread-{i}",
                    self.shared.config.application_id
                )))
            })
            .collect();
        lock(&self.shared.threads).extend(statuses.iter().cloned());
        let mut joins = lock(&self.joins);
        for status in statuses {
            match thread::spawn(self.shared.clone(), status) {
                Ok(j) => joins.push(j),
                Err(e) => {
                    drop(joins);
                    self.shared.fail();
                    return Err(e);
                }
            }
        }
        drop(joins);
        self.shared.update_state();
        Ok(())
    }

    /// Closes the client, waiting as long as it takes: see
    /// [`close_timeout`](Self::close_timeout).
    pub fn close(&self) {
        self.close_timeout(Duration::MAX);
    }

    /// Closes the client: every thread commits, closes its tasks (stores flushed,
    /// checkpoints written) and leaves the group; the global thread checkpoints and stops.
    /// Waits up to `timeout` for the threads; true if they all stopped in time (those
    /// that did not go on stopping in the background). Idempotent: closing a closed (or
    /// failed) client does nothing and returns true.
    pub fn close_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let state = self.state();
        match state {
            StreamsState::NotRunning | StreamsState::Error | StreamsState::PendingShutdown => {
                // Closed or closing already (by this or another call): wait for the
                // threads anyway.
            }
            StreamsState::PendingError => {}
            _ => {
                self.shared.set_state(StreamsState::PendingShutdown);
            }
        }
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let shared = self.shared.clone();
        let stopped = blocking(move || shared.wait_threads(deadline));
        if stopped {
            for j in lock(&self.joins).drain(..) {
                let _ = j.join();
            }
        }
        if let Some(g) = lock(&self.global).take() {
            blocking(move || g.stop());
        }
        if self.state() == StreamsState::PendingShutdown {
            self.shared.set_state(StreamsState::NotRunning);
        }
        stopped
    }

    /// Deletes this application's local state directory (`<state.dir>/<application.id>`)
    /// so the next start restores everything from the changelogs. Only when the client
    /// is not running (`Created`, `NotRunning` or `Error`).
    pub fn cleanup(&self) -> Result<()> {
        let state = self.state();
        if !matches!(
            state,
            StreamsState::Created | StreamsState::NotRunning | StreamsState::Error
        ) {
            return Err(StreamsError::State(format!(
                "cleanup() needs a client that is not running; it is {state}"
            )));
        }
        match std::fs::remove_dir_all(&self.shared.app_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StreamsError::Config(format!(
                "cannot delete the state directory {}: {e}",
                self.shared.app_dir.display()
            ))),
        }
    }

    /// The local stream threads, their states and their active tasks.
    pub fn local_thread_metadata(&self) -> Vec<ThreadMetadata> {
        lock(&self.shared.threads)
            .iter()
            .map(|t| ThreadMetadata {
                thread_name: t.name.clone(),
                thread_state: t.state(),
                active_tasks: t.active_tasks(),
                dropped_records_total: t.dropped_records(),
            })
            .collect()
    }

    /// Records this instance's threads dropped (the sum of their
    /// [`ThreadMetadata::dropped_records_total`]).
    pub fn dropped_records_total(&self) -> u64 {
        lock(&self.shared.threads)
            .iter()
            .map(|t| t.dropped_records())
            .sum()
    }

    /// Every entry of the key-value store `name` over the tasks this instance runs now,
    /// global stores included (the timestamps of a timestamped store are dropped), in any
    /// client state. A snapshot for tests and tools; interactive queries use
    /// [`store`](Self::store).
    pub fn store_key_value<K: Data, V: Data>(&self, name: &str) -> Result<Vec<(K, V)>> {
        self.shared.registry.key_values::<K, V>(name)
    }

    /// Waits up to `timeout` for the client to reach `state`; true if it did.
    pub fn wait_for_state(&self, state: StreamsState, timeout: Duration) -> bool {
        // A timeout too large to add (`Duration::MAX`) waits for good.
        let deadline = Instant::now().checked_add(timeout);
        let mut s = lock(&self.shared.state);
        while *s != state {
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return false,
                },
                None => Duration::from_secs(3600),
            };
            s = self
                .shared
                .state_changed
                .wait_timeout(s, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if !matches!(
            self.state(),
            StreamsState::Created | StreamsState::NotRunning | StreamsState::Error
        ) {
            self.close_timeout(Duration::from_secs(60));
        } else {
            self.shared.shutdown.store(true, Ordering::SeqCst);
        }
        if let Some(rt) = lock(&self.runtime).take() {
            rt.shutdown_background();
        }
    }
}
