//! The global thread: keeps the global stores
//! ([`Topology::global_stores`](crate::Topology::global_stores)) of every instance, from every partition of their
//! topics, read in assign mode (no group).
//!
//! The global task is the global sub-topology built for partition -1, with its stores
//! under `<state.dir>/<application.id>/<id>_-1`. At start it bootstraps: from the
//! checkpointed offsets (or the beginning; a RocksDB directory without a checkpoint is
//! wiped) to the end offsets taken at start, processing the records through the global
//! processors (a global store's topic is its changelog), reporting to the restore
//! listener. [`KafkaStreams::start`](super::KafkaStreams::start) waits for that, so stream
//! threads only start once the global stores are complete. Then the thread follows the
//! topics, flushing the stores and writing the checkpoint (the offsets after the records
//! processed) every `commit.interval.ms` and when it stops.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_client::consumer::OffsetReset;
use brook_client::{Cluster, Consumer, ConsumerConfig, TopicPartition};
use brook_state::{Checkpoint, CheckpointFile};

use super::collector::NoOutput;
use super::restore::{read_checkpoint, wipe};
use super::{Shared, StreamThreadExceptionResponse};
use crate::error::{Result, StreamsError};
use crate::state::RocksStores;
use crate::task::{SystemClock, Task};
use crate::topology::{SubTopology, Topology};
use crate::TaskId;

/// The global task and its consumer.
struct GlobalTask {
    shared: Arc<Shared>,
    task: Task,
    stores: RocksStores,
    consumer: Consumer,
    checkpoint: CheckpointFile,
    partitions: Vec<TopicPartition>,
    /// The global store of each topic (for the restore listener).
    store_of: BTreeMap<String, String>,
}

impl GlobalTask {
    fn open(shared: &Arc<Shared>, sub: &SubTopology) -> Result<GlobalTask> {
        let config = &shared.config;
        let app = &config.application_id;
        let id = TaskId {
            subtopology: sub.id,
            partition: -1,
        };
        let mut stores = RocksStores::new(&shared.app_dir, shared.budget.clone());
        let dir = stores.task_dir(id);
        let checkpoint = CheckpointFile::new(dir.join(".checkpoint"));
        if read_checkpoint(&checkpoint).is_none() && dir.join("rocksdb").exists() {
            tracing::info!(task = %id, "global state without a checkpoint; wiping it");
            wipe(&dir)?;
        }
        let mut task = shared.topology.build_task(
            sub,
            -1,
            app,
            &mut stores,
            Arc::new(NoOutput),
            Arc::new(SystemClock),
            config.deserialization_handler,
            Topology::record_time(),
        )?;
        task.initialize()?;
        std::fs::create_dir_all(&dir).map_err(|e| {
            StreamsError::Config(format!(
                "cannot create state directory {}: {e}",
                dir.display()
            ))
        })?;
        let cluster = Arc::new(shared.handle.block_on(Cluster::connect(
            &config.bootstrap_servers,
            shared.connector.clone(),
        ))?);
        let mut cc = ConsumerConfig::new(config.bootstrap_servers.clone());
        cc.client_id = format!("{app}-GlobalStreamThread-consumer");
        cc.enable_auto_commit = false;
        cc.auto_offset_reset = OffsetReset::Earliest;
        cc.max_poll_records = config.max_poll_records.max(1);
        let consumer = Consumer::with_cluster(cluster.clone(), cc);
        let mut partitions = Vec::new();
        for t in &sub.source_topics {
            let topic = shared.topology.resolve_topic(t, app);
            let m = shared.handle.block_on(cluster.topic(&topic))?;
            partitions.extend(
                m.partitions
                    .iter()
                    .map(|p| TopicPartition::new(topic.clone(), p.partition)),
            );
        }
        let store_of = shared
            .topology
            .global_stores()
            .iter()
            .map(|(store, topic)| (shared.topology.resolve_topic(topic, app), store.clone()))
            .collect();
        Ok(GlobalTask {
            shared: shared.clone(),
            task,
            stores,
            consumer,
            checkpoint,
            partitions,
            store_of,
        })
    }

    fn store_name(&self, topic: &str) -> &str {
        self.store_of.get(topic).map(String::as_str).unwrap_or("")
    }

    /// Reads every partition from its checkpoint (or the beginning) to its end offset.
    fn bootstrap(&mut self) -> Result<()> {
        let handle = self.shared.handle.clone();
        let listener = self.shared.restore_listener();
        let checkpoint = read_checkpoint(&self.checkpoint);
        self.consumer.assign(&self.partitions);
        for tp in &self.partitions {
            match checkpoint
                .as_ref()
                .and_then(|c| c.offset(&tp.topic, tp.partition))
            {
                Some(o) => self.consumer.seek(tp, o)?,
                None => self.consumer.seek_to_beginning(std::slice::from_ref(tp))?,
            }
        }
        let ends = handle.block_on(self.consumer.end_offsets(&self.partitions))?;
        let mut active: BTreeMap<TopicPartition, (i64, u64)> = BTreeMap::new();
        for tp in &self.partitions {
            let begin = handle.block_on(self.consumer.position(tp))?;
            let end = ends.get(tp).copied().unwrap_or(0);
            if begin < end {
                if let Some(l) = &listener {
                    l.on_restore_start(
                        &tp.topic,
                        tp.partition,
                        self.store_name(&tp.topic),
                        begin,
                        end,
                    );
                }
                active.insert(tp.clone(), (end, 0));
            }
        }
        while !active.is_empty() {
            if self.shared.stopping() {
                return Err(StreamsError::State(
                    "the client was closed while the global stores bootstrapped".into(),
                ));
            }
            let records = handle.block_on(self.consumer.poll(Duration::from_millis(100)))?;
            let mut per: BTreeMap<TopicPartition, (i64, u64)> = BTreeMap::new();
            for r in &records {
                let e = per
                    .entry(TopicPartition::new(r.topic.clone(), r.partition))
                    .or_insert((r.offset, 0));
                e.0 = e.0.max(r.offset);
                e.1 += 1;
            }
            self.task.add_records(records)?;
            while self.task.process_next()? {}
            for (tp, (last, n)) in per {
                if let Some(a) = active.get_mut(&tp) {
                    a.1 += n;
                    if let Some(l) = &listener {
                        l.on_batch_restored(
                            &tp.topic,
                            tp.partition,
                            self.store_name(&tp.topic),
                            last,
                            n,
                        );
                    }
                }
            }
            let mut done = Vec::new();
            for (tp, (end, _)) in &active {
                if handle.block_on(self.consumer.position(tp))? >= *end {
                    done.push(tp.clone());
                }
            }
            for tp in done {
                if let Some((_, total)) = active.remove(&tp) {
                    if let Some(l) = &listener {
                        l.on_restore_end(
                            &tp.topic,
                            tp.partition,
                            self.store_name(&tp.topic),
                            total,
                        );
                    }
                }
            }
        }
        self.checkpoint()
    }

    /// Flushes the stores and writes the offsets processed.
    fn checkpoint(&mut self) -> Result<()> {
        self.task.flush_caches()?;
        self.task.flush_stores()?;
        let mut cp = Checkpoint::new();
        let handle = self.shared.handle.clone();
        for tp in &self.partitions {
            let pos = handle.block_on(self.consumer.position(tp))?;
            cp.insert(tp.topic.clone(), tp.partition, pos);
        }
        self.checkpoint.write(&cp)?;
        Ok(())
    }

    /// Follows the topics until `stop`.
    fn run(&mut self, stop: &AtomicBool) -> Result<()> {
        let handle = self.shared.handle.clone();
        let interval = self.shared.config.commit_interval;
        let mut last = Instant::now();
        while !stop.load(Ordering::SeqCst) && !self.shared.stopping() {
            let records = handle.block_on(self.consumer.poll(self.shared.config.poll))?;
            self.task.add_records(records)?;
            while self.task.process_next()? {}
            self.task.punctuate_wall_clock()?;
            if last.elapsed() >= interval {
                self.checkpoint()?;
                last = Instant::now();
            }
        }
        Ok(())
    }

    fn close(mut self) {
        if let Err(e) = self.checkpoint() {
            tracing::warn!(error = %e, "the global task's last checkpoint failed");
        }
        let id = self.task.id();
        if let Err(e) = self.task.close() {
            tracing::warn!(error = %e, "closing the global task failed");
        }
        self.shared.registry.remove(id);
        self.stores.release(id);
        let _ = self.shared.handle.block_on(self.consumer.close());
    }
}

/// The running global thread.
pub(crate) struct GlobalThread {
    stop: Arc<AtomicBool>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl GlobalThread {
    /// Bootstraps the global stores, then follows their topics on a thread of its own;
    /// `None` if the topology has no global stores.
    pub fn start(shared: &Arc<Shared>) -> Result<Option<GlobalThread>> {
        let Some(sub) = shared.topology.global_sub_topology() else {
            return Ok(None);
        };
        let mut g = GlobalTask::open(shared, &sub)?;
        if let Err(e) = g.bootstrap() {
            g.close();
            return Err(e);
        }
        shared.registry.register(&g.task);
        let stop = Arc::new(AtomicBool::new(false));
        let (s, flag) = (shared.clone(), stop.clone());
        shared.thread_started();
        let name = format!("{}-GlobalStreamThread", shared.config.application_id);
        let join = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                let r = g.run(&flag);
                g.close();
                if let Err(e) = r {
                    tracing::error!(error = %e, "the global stream thread failed");
                    // A global thread cannot be replaced: the stores would miss updates.
                    let _ = s.handle_error(&e) == StreamThreadExceptionResponse::ReplaceThread;
                    s.fail();
                }
                s.thread_finished();
            })
            .map_err(|e| {
                shared.thread_finished();
                StreamsError::State(format!("cannot start {name}: {e}"))
            })?;
        Ok(Some(GlobalThread {
            stop,
            join: Some(join),
        }))
    }

    /// Stops the thread (it checkpoints first) and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}
