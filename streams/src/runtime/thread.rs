//! A stream thread: an OS thread with a group consumer, a producer, a restore consumer and
//! the tasks assigned to it. See the [runtime docs](super) for the loop, commits and
//! rebalances.
//!
//! The thread's tasks live in a [`TaskManager`] behind a mutex that the thread's
//! [`ConsumerRebalanceListener`] shares: the consumer calls the listener from inside
//! `poll` (on this thread, while the thread holds no lock), and the listener commits and
//! closes the tasks before the partitions are revoked. A new assignment is only noted
//! there; the thread opens and restores the tasks once `poll` returns, before it hands
//! out the records that poll returned.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use brook_client::consumer::{ConsumerRebalanceListener, OffsetReset, RebalanceContext};
use brook_client::{
    Cluster, Consumer, ConsumerConfig, ConsumerRecord, Producer, ProducerConfig, TopicPartition,
};
use tokio::runtime::Handle;

use super::assignor::{AssignorShared, StreamsAssignor};
use super::collector::ProducerCollector;
use super::{lock, Shared, StreamThreadExceptionResponse, ThreadState};
use crate::error::{Result, StreamsError};
use crate::state::RocksStores;
use crate::task::Task;
use crate::TaskId;

/// How many consecutive failed polls a thread tolerates before it fails.
const MAX_POLL_FAILURES: u32 = 50;

/// A stream thread's state and tasks, as the handle reports them.
#[derive(Debug)]
pub(crate) struct ThreadStatus {
    pub name: String,
    state: Mutex<ThreadState>,
    tasks: Mutex<BTreeSet<TaskId>>,
    /// Records its tasks dropped (`dropped-records-total`).
    dropped: std::sync::atomic::AtomicU64,
}

impl ThreadStatus {
    pub fn new(name: String) -> ThreadStatus {
        ThreadStatus {
            name,
            state: Mutex::new(ThreadState::Starting),
            tasks: Mutex::new(BTreeSet::new()),
            dropped: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn state(&self) -> ThreadState {
        *lock(&self.state)
    }

    /// Records this thread's tasks dropped so far.
    pub fn dropped_records(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn active_tasks(&self) -> BTreeSet<TaskId> {
        lock(&self.tasks).clone()
    }

    fn set_tasks(&self, tasks: BTreeSet<TaskId>) {
        *lock(&self.tasks) = tasks;
    }
}

/// Waits for `f` on `handle`'s runtime: with `block_on` from a plain thread, or by
/// spawning it and blocking on a channel from inside a `block_on` (a rebalance callback,
/// where a nested `block_on` would panic). Blocking there only holds up the future this
/// thread is driving; the I/O tasks run on the runtime's workers.
pub(crate) fn wait<F>(handle: &Handle, f: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if Handle::try_current().is_ok() {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        handle.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx.recv()
            .map_err(|_| StreamsError::State("the client's I/O runtime stopped".into()))
    } else {
        Ok(handle.block_on(f))
    }
}

/// A task of the thread with what its commits need.
pub(crate) struct ActiveTask {
    pub task: Task,
    pub collector: Arc<ProducerCollector>,
    pub checkpoint: brook_state::CheckpointFile,
    /// Changelog partitions of the task's persistent stores (what the checkpoint holds).
    pub persistent: BTreeSet<(String, i32)>,
    /// The offset each changelog partition was restored up to.
    pub restored: BTreeMap<(String, i32), i64>,
}

impl ActiveTask {
    /// Writes the checkpoint: per persistent changelog partition, the offset after the
    /// last record written (or restored).
    pub fn write_checkpoint(&self) -> Result<()> {
        let written = self.collector.changelog_offsets();
        let mut cp = brook_state::Checkpoint::new();
        for tp in &self.persistent {
            let offset = written.get(tp).copied().max(self.restored.get(tp).copied());
            if let Some(o) = offset {
                cp.insert(tp.0.clone(), tp.1, o);
            }
        }
        self.checkpoint.write(&cp)?;
        Ok(())
    }
}

/// The tasks of one thread.
pub(crate) struct TaskManager {
    pub shared: Arc<Shared>,
    pub status: Arc<ThreadStatus>,
    pub stores: RocksStores,
    pub producer: Arc<Producer>,
    pub tasks: BTreeMap<TaskId, ActiveTask>,
    /// An assignment to apply once `poll` returns.
    pub pending: Option<Vec<TopicPartition>>,
    /// A failure inside a rebalance callback, reported once `poll` returns.
    pub error: Option<StreamsError>,
    pub assignor: Arc<Mutex<AssignorShared>>,
}

impl TaskManager {
    pub fn set_state(&self, state: ThreadState) {
        *lock(&self.status.state) = state;
        self.shared.update_state();
    }

    pub fn has_queued(&self) -> bool {
        self.tasks.values().any(|t| t.task.queued() > 0)
    }

    /// Commits every task up to its offsets: caches, producer, stores, checkpoints.
    /// Returns the offsets to commit to the group.
    pub fn commit(&mut self) -> Result<Vec<(TopicPartition, i64)>> {
        for t in self.tasks.values_mut() {
            t.task.flush_caches()?;
        }
        let producer = self.producer.clone();
        wait(&self.shared.handle, async move { producer.flush().await })?;
        for t in self.tasks.values() {
            t.collector.check()?;
        }
        let mut offsets = Vec::new();
        for t in self.tasks.values_mut() {
            t.task.flush_stores()?;
            t.write_checkpoint()?;
            offsets.extend(
                t.task
                    .consumed_offsets()
                    .into_iter()
                    .map(|((topic, p), o)| (TopicPartition::new(topic, p), o)),
            );
        }
        Ok(offsets)
    }

    /// Closes every task, after a commit if `clean` (whose offsets it returns); the
    /// tasks are closed even if the commit fails. Directories stay.
    pub fn close_all(&mut self, clean: bool) -> Result<Vec<(TopicPartition, i64)>> {
        let committed = if clean && !self.tasks.is_empty() {
            self.commit()
        } else {
            Ok(Vec::new())
        };
        for (id, mut t) in std::mem::take(&mut self.tasks) {
            if let Err(e) = t.task.close() {
                tracing::warn!(task = %id, error = %e, "closing the task failed");
            }
            self.shared.registry.remove(id);
            self.stores.release(id);
        }
        self.status.set_tasks(BTreeSet::new());
        committed
    }

    /// Notes the tasks now running (after an assignment was applied).
    pub fn publish_tasks(&self) {
        let ids: BTreeSet<TaskId> = self.tasks.keys().copied().collect();
        self.status.set_tasks(ids.clone());
        lock_assignor(&self.assignor).prev = ids;
    }
}

fn lock_assignor(m: &Mutex<AssignorShared>) -> MutexGuard<'_, AssignorShared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The rebalance listener: commits and closes the tasks before their partitions go.
struct Listener {
    tm: Arc<Mutex<TaskManager>>,
}

impl ConsumerRebalanceListener for Listener {
    fn on_partitions_revoked(
        &mut self,
        ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let mut tm = lock(&self.tm);
        tracing::debug!(thread = %tm.status.name, partitions = partitions.len(), "partitions revoked");
        tm.set_state(ThreadState::PartitionsRevoked);
        match tm.close_all(true) {
            Ok(offsets) => ctx.commit(&offsets),
            Err(e) => {
                tm.error.get_or_insert(e);
            }
        }
    }

    fn on_partitions_assigned(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let mut tm = lock(&self.tm);
        tracing::debug!(thread = %tm.status.name, partitions = partitions.len(), "partitions assigned");
        tm.pending = Some(partitions.to_vec());
        tm.set_state(ThreadState::PartitionsAssigned);
    }

    fn on_partitions_lost(
        &mut self,
        _ctx: &mut RebalanceContext<'_>,
        partitions: &[TopicPartition],
    ) {
        let mut tm = lock(&self.tm);
        tracing::warn!(thread = %tm.status.name, partitions = partitions.len(), "partitions lost; closing their tasks without committing offsets");
        tm.set_state(ThreadState::PartitionsRevoked);
        // Flush and checkpoint (the stores stay consistent with their checkpoints), but
        // the offsets can no longer be committed.
        if let Err(e) = tm.close_all(true) {
            tm.error.get_or_insert(e);
        }
    }
}

/// Starts the stream thread of `status` (already listed in `shared.threads`).
pub(crate) fn spawn(
    shared: Arc<Shared>,
    status: Arc<ThreadStatus>,
) -> Result<std::thread::JoinHandle<()>> {
    let name = status.name.clone();
    shared.thread_started();
    let s = shared.clone();
    let spawned = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            run(&s, &status);
            *lock(&status.state) = ThreadState::Dead;
            status.set_tasks(BTreeSet::new());
            s.update_state();
            s.thread_finished();
        });
    spawned.map_err(|e| {
        shared.thread_finished();
        StreamsError::State(format!("cannot start stream thread {name}: {e}"))
    })
}

/// The thread's life: one [`StreamThread`] after another while the handler replaces them.
fn run(shared: &Arc<Shared>, status: &Arc<ThreadStatus>) {
    loop {
        let result = StreamThread::new(shared, status).and_then(|mut t| t.run());
        let Err(e) = result else { return };
        tracing::error!(thread = %status.name, error = %e, "stream thread failed");
        match shared.handle_error(&e) {
            StreamThreadExceptionResponse::ReplaceThread if !shared.stopping() => {
                tracing::info!(thread = %status.name, "replacing the failed stream thread");
                *lock(&status.state) = ThreadState::Starting;
                shared.update_state();
            }
            _ => {
                shared.fail();
                return;
            }
        }
    }
}

/// One incarnation of a stream thread.
struct StreamThread {
    shared: Arc<Shared>,
    status: Arc<ThreadStatus>,
    handle: Handle,
    consumer: Consumer,
    restore_consumer: Consumer,
    tm: Arc<Mutex<TaskManager>>,
    assignor: Arc<Mutex<AssignorShared>>,
    topic_subs: std::collections::HashMap<String, u32>,
}

impl StreamThread {
    fn new(shared: &Arc<Shared>, status: &Arc<ThreadStatus>) -> Result<StreamThread> {
        let config = &shared.config;
        let handle = shared.handle.clone();
        let name = &status.name;
        let connect = || -> Result<Arc<Cluster>> {
            Ok(Arc::new(handle.block_on(Cluster::connect(
                &config.bootstrap_servers,
                shared.connector.clone(),
            ))?))
        };
        let mut cc = ConsumerConfig::new(config.bootstrap_servers.clone());
        cc.group_id = Some(config.application_id.clone());
        cc.client_id = format!("{name}-consumer");
        cc.enable_auto_commit = false;
        cc.auto_offset_reset = OffsetReset::Earliest;
        cc.max_poll_records = config.max_poll_records.max(1);
        cc.session_timeout = config.session_timeout;
        cc.heartbeat_interval = config.heartbeat_interval;
        // A fetch goes out only for partitions with nothing buffered, so while one input
        // partition still has buffered records, the fetch in flight asks only for the
        // others; when those are idle (a table's topic, once loaded) the broker holds it
        // for `fetch.max.wait.ms` and the busy partition starves. Kafka's 500 ms made a
        // stream-table join run at a fifth of its speed (measured: 65K vs 350K records/s);
        // 10 ms costs an idle thread 100 empty fetches a second.
        cc.fetch_max_wait = Duration::from_millis(10);
        for (k, v) in &config.consumer_overrides {
            cc.set(k, v)
                .map_err(|e| StreamsError::Config(format!("consumer.{k}: {e}")))?;
        }
        let mut consumer = Consumer::with_cluster(connect()?, cc);
        let topics = shared.assignor_topology.topics();
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        let assignor = StreamsAssignor::new(
            shared.assignor_topology.clone(),
            shared.process_id.clone(),
            shared.app_dir.clone(),
        )
        .with_queries(
            shared.config.application_server.clone(),
            shared.registry.clone(),
        );
        let assignor_shared = assignor.shared.clone();
        consumer.set_assignors(vec![Arc::new(assignor)])?;

        let mut rc = ConsumerConfig::new(config.bootstrap_servers.clone());
        rc.client_id = format!("{name}-restore-consumer");
        rc.enable_auto_commit = false;
        rc.auto_offset_reset = OffsetReset::Earliest;
        rc.max_poll_records = 10_000;
        rc.fetch_max_wait = Duration::from_millis(50);
        let restore_consumer = Consumer::with_cluster(connect()?, rc);

        let mut pc = ProducerConfig::default();
        pc.client_id = format!("{name}-producer");
        // Like Kafka Streams, the runtime picks its own producer defaults (users override
        // them with `producer.*`): a stream thread writes many small records to few
        // partitions, and batches of 256 KiB instead of 16 KiB cut the sender's wake-ups
        // and requests per record by 16 (measured: +35% stateless throughput).
        pc.set("acks", "all")
            .and_then(|_| pc.set("linger.ms", "5"))
            .and_then(|_| pc.set("batch.size", "262144"))
            .map_err(|e| StreamsError::Config(format!("producer: {e}")))?;
        for (k, v) in &config.producer_overrides {
            pc.set(k, v)
                .map_err(|e| StreamsError::Config(format!("producer.{k}: {e}")))?;
        }
        let producer = {
            let cluster = connect()?;
            let _guard = handle.enter();
            Arc::new(Producer::with_cluster(cluster, pc)?)
        };
        let budget = shared.budget.clone();
        let tm = Arc::new(Mutex::new(TaskManager {
            shared: shared.clone(),
            status: status.clone(),
            stores: RocksStores::new(&shared.app_dir, budget),
            producer,
            tasks: BTreeMap::new(),
            pending: None,
            error: None,
            assignor: assignor_shared.clone(),
        }));
        consumer.set_rebalance_listener(Listener { tm: tm.clone() })?;
        Ok(StreamThread {
            shared: shared.clone(),
            status: status.clone(),
            handle,
            consumer,
            restore_consumer,
            tm,
            assignor: assignor_shared,
            topic_subs: shared.assignor_topology.topic_subs(),
        })
    }

    fn tm(&self) -> MutexGuard<'_, TaskManager> {
        lock(&self.tm)
    }

    fn run(&mut self) -> Result<()> {
        let result = self.run_loop();
        match &result {
            Ok(()) => self.close_clean(),
            Err(_) => self.close_dirty(),
        }
        result
    }

    fn run_loop(&mut self) -> Result<()> {
        let config = self.shared.config.clone();
        let mut last_commit = Instant::now();
        let mut poll_failures = 0u32;
        while !self.shared.stopping() {
            let timeout = if self.tm().has_queued() {
                Duration::ZERO
            } else {
                config.poll
            };
            let records = match self.handle.block_on(self.consumer.poll(timeout)) {
                Ok(r) => {
                    poll_failures = 0;
                    r
                }
                Err(e) => {
                    poll_failures += 1;
                    if poll_failures >= MAX_POLL_FAILURES {
                        return Err(e.into());
                    }
                    tracing::warn!(thread = %self.status.name, error = %e, "poll failed; retrying");
                    std::thread::sleep(Duration::from_millis(100));
                    Vec::new()
                }
            };
            if let Some(e) = self.tm().error.take() {
                return Err(e);
            }
            if let Some(why) = lock_assignor(&self.assignor).error.take() {
                return Err(StreamsError::Topology(why));
            }
            let pending = self.tm().pending.take();
            if let Some(parts) = pending {
                let mut tm = lock(&self.tm);
                if !super::restore::create_tasks(&mut tm, &mut self.restore_consumer, &parts)? {
                    break;
                }
                tm.publish_tasks();
                tm.set_state(ThreadState::Running);
                tracing::info!(
                    thread = %self.status.name,
                    tasks = ?tm.tasks.keys().map(|t| t.to_string()).collect::<Vec<_>>(),
                    "running"
                );
            }
            let mut tm = lock(&self.tm);
            self.route(&mut tm, records)?;
            // Process a round: up to max.poll.records per task.
            for t in tm.tasks.values_mut() {
                let dropped = t.task.dropped_records_total();
                for _ in 0..config.max_poll_records.max(1) {
                    if !t.task.process_next()? {
                        break;
                    }
                }
                t.task.punctuate_wall_clock()?;
                let more = t.task.dropped_records_total() - dropped;
                if more > 0 {
                    self.status
                        .dropped
                        .fetch_add(more, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let mut requested = false;
            for t in tm.tasks.values_mut() {
                requested |= t.task.take_commit_request();
            }
            if requested || last_commit.elapsed() >= config.commit_interval {
                let offsets = tm.commit()?;
                drop(tm);
                self.commit_offsets(&offsets);
                last_commit = Instant::now();
            }
        }
        Ok(())
    }

    /// Hands records to their tasks.
    fn route(&self, tm: &mut TaskManager, records: Vec<ConsumerRecord>) -> Result<()> {
        let mut by_task: BTreeMap<TaskId, Vec<ConsumerRecord>> = BTreeMap::new();
        for r in records {
            let Some(&sub) = self.topic_subs.get(&r.topic) else {
                continue;
            };
            let id = TaskId {
                subtopology: sub,
                partition: r.partition,
            };
            by_task.entry(id).or_default().push(r);
        }
        for (id, rs) in by_task {
            match tm.tasks.get_mut(&id) {
                Some(t) => t.task.add_records(rs)?,
                None => {
                    tracing::warn!(task = %id, records = rs.len(), "records for a task this thread does not run; dropped")
                }
            }
        }
        Ok(())
    }

    fn commit_offsets(&self, offsets: &[(TopicPartition, i64)]) {
        if offsets.is_empty() {
            return;
        }
        if let Err(e) = self.handle.block_on(self.consumer.commit_sync(offsets)) {
            // A rebalance is under way (or the coordinator moved): the records are
            // processed again by whoever gets them, as at-least-once allows.
            tracing::warn!(thread = %self.status.name, error = %e, "offset commit failed");
        }
    }

    /// Commits, closes the tasks and leaves the group.
    fn close_clean(&mut self) {
        *lock(&self.status.state) = ThreadState::PendingShutdown;
        self.shared.update_state();
        let closed = self.tm().close_all(true);
        match closed {
            Ok(offsets) => self.commit_offsets(&offsets),
            Err(e) => {
                tracing::error!(thread = %self.status.name, error = %e, "the final commit failed")
            }
        }
        self.close_clients();
    }

    /// Closes the tasks without committing (after a failure) and leaves the group.
    fn close_dirty(&mut self) {
        let _ = self.tm().close_all(false);
        self.close_clients();
    }

    fn close_clients(&mut self) {
        if let Err(e) = self.handle.block_on(self.consumer.close()) {
            tracing::debug!(thread = %self.status.name, error = %e, "closing the consumer failed");
        }
        let _ = self.handle.block_on(self.restore_consumer.close());
        let producer = self.tm().producer.clone();
        if let Err(e) = self
            .handle
            .block_on(async move { producer.close(Duration::from_secs(10)).await })
        {
            tracing::debug!(thread = %self.status.name, error = %e, "closing the producer failed");
        }
    }
}
