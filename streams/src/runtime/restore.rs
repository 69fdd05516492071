//! Opening assigned tasks and restoring their stores from the changelogs.
//!
//! For each new task: read its checkpoint (`<state.dir>/<application.id>/<task>/.checkpoint`;
//! a corrupt one counts as missing); if it is missing but a RocksDB directory exists, or
//! if it claims more of a changelog than the changelog holds, wipe the task's directory
//! (state of unknown age is not trusted under at-least-once). Build the task over
//! [`RocksStores`](crate::state::RocksStores), then read every logged store's changelog
//! partition through the thread's restore consumer (assign mode, no group) from the
//! checkpointed offset (persistent stores with a checkpoint) or the beginning, up to the
//! end offset taken when restoration starts, applying each fetched batch with
//! `Task::restore` (no re-logging) and reporting to the
//! [`StateRestoreListener`](super::StateRestoreListener). All tasks of an assignment restore together. Then the
//! checkpoint is written, the processors initialized, and the task runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brook_client::{Consumer, ConsumerRecord, TopicPartition};
use brook_state::{Checkpoint, CheckpointFile};

use super::collector::ProducerCollector;
use super::thread::{ActiveTask, TaskManager};
use super::Shared;
use crate::error::{Result, StreamsError};
use crate::task::SystemClock;
use crate::topology::Topology;
use crate::TaskId;

/// How long a task waits for its state directory to be released by another thread of
/// this process (after a rebalance that moved it between local threads).
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The checkpoint of `file`, `None` if missing or unreadable.
pub(crate) fn read_checkpoint(file: &CheckpointFile) -> Option<Checkpoint> {
    match file.read() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(path = %file.path().display(), error = %e, "corrupt checkpoint; restoring from the beginning");
            None
        }
    }
}

/// Deletes `dir` (a task's state directory), if it exists.
pub(crate) fn wipe(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StreamsError::Config(format!(
            "cannot wipe the state directory {}: {e}",
            dir.display()
        ))),
    }
}

/// The changelog partition of each logged store of `task` (store, topic), from the
/// topology.
fn changelogs_of(shared: &Shared, task: TaskId) -> Vec<(String, String, bool)> {
    let app = &shared.config.application_id;
    let subs = shared.topology.sub_topologies();
    let Some(sub) = subs.iter().find(|s| s.id == task.subtopology) else {
        return Vec::new();
    };
    shared
        .topology
        .stores()
        .filter(|d| sub.stores.iter().any(|s| s == d.name()) && d.logging())
        .map(|d| (d.name().to_owned(), d.changelog_topic(app), d.persistent()))
        .collect()
}

/// Opens and restores the tasks of `assignment` that the thread does not run yet;
/// false if the client began shutting down meanwhile (the tasks are then closed).
pub(crate) fn create_tasks(
    tm: &mut TaskManager,
    consumer: &mut Consumer,
    assignment: &[TopicPartition],
) -> Result<bool> {
    let shared = tm.shared.clone();
    let topic_subs = shared.assignor_topology.topic_subs();
    let wanted: BTreeSet<TaskId> = assignment
        .iter()
        .filter_map(|tp| {
            topic_subs.get(&tp.topic).map(|&s| TaskId {
                subtopology: s,
                partition: tp.partition,
            })
        })
        .collect();
    // Tasks no longer assigned (only under a cooperative protocol) are closed.
    let gone: Vec<TaskId> = tm
        .tasks
        .keys()
        .filter(|t| !wanted.contains(t))
        .copied()
        .collect();
    for id in gone {
        if let Some(mut t) = tm.tasks.remove(&id) {
            let _ = t.task.close();
            shared.registry.remove(id);
            tm.stores.release(id);
        }
    }
    let new: Vec<TaskId> = wanted
        .iter()
        .filter(|t| !tm.tasks.contains_key(t))
        .copied()
        .collect();
    if new.is_empty() {
        return Ok(true);
    }
    // The changelog end offsets, to check checkpoints against and to restore up to.
    let mut all_tps = Vec::new();
    for &id in &new {
        for (_, topic, _) in changelogs_of(&shared, id) {
            all_tps.push(TopicPartition::new(topic, id.partition));
        }
    }
    let ends = if all_tps.is_empty() {
        BTreeMap::new()
    } else {
        shared.handle.block_on(consumer.end_offsets(&all_tps))?
    };
    let mut opened: BTreeMap<TaskId, (ActiveTask, Option<Checkpoint>)> = BTreeMap::new();
    for &id in &new {
        match open_task(tm, id, &ends) {
            Ok(t) => {
                opened.insert(id, t);
            }
            Err(e) => {
                close_opened(tm, opened);
                return Err(e);
            }
        }
    }
    for (t, _) in opened.values() {
        shared.registry.register_restoring(&t.task);
    }
    match restore(&shared, consumer, &mut opened, &ends) {
        Ok(true) => {}
        Ok(false) => {
            close_opened(tm, opened);
            return Ok(false);
        }
        Err(e) => {
            close_opened(tm, opened);
            return Err(e);
        }
    }
    for (id, (mut t, _)) in opened {
        let r = t.write_checkpoint().and_then(|()| t.task.initialize());
        if let Err(e) = r {
            let _ = t.task.close();
            tm.stores.release(id);
            return Err(e);
        }
        shared.registry.register(&t.task);
        tm.tasks.insert(id, t);
    }
    Ok(true)
}

fn close_opened(tm: &mut TaskManager, opened: BTreeMap<TaskId, (ActiveTask, Option<Checkpoint>)>) {
    for (id, (mut t, _)) in opened {
        let _ = t.task.close();
        tm.stores.release(id);
    }
}

/// Builds task `id`, wiping its directory first if its state cannot be trusted.
fn open_task(
    tm: &mut TaskManager,
    id: TaskId,
    ends: &BTreeMap<TopicPartition, i64>,
) -> Result<(ActiveTask, Option<Checkpoint>)> {
    let shared = tm.shared.clone();
    let config = &shared.config;
    let app = &config.application_id;
    let dir = tm.stores.task_dir(id);
    let file = CheckpointFile::new(dir.join(".checkpoint"));
    let mut checkpoint = read_checkpoint(&file);
    let changelogs = changelogs_of(&shared, id);
    let ahead = checkpoint.as_ref().and_then(|c| {
        changelogs.iter().find_map(|(store, topic, _)| {
            let at = c.offset(topic, id.partition)?;
            let end = *ends.get(&TopicPartition::new(topic.clone(), id.partition))?;
            (at > end).then(|| format!("{store}: checkpoint {at} > changelog end {end}"))
        })
    });
    if let Some(why) = ahead {
        tracing::warn!(task = %id, %why, "the checkpoint is ahead of the changelog; wiping the task's state");
        checkpoint = None;
        wipe(&dir)?;
    } else if checkpoint.is_none() && dir.join("rocksdb").exists() {
        tracing::info!(task = %id, "state without a checkpoint; wiping it and restoring from the changelog");
        wipe(&dir)?;
    }
    let subs = shared.topology.sub_topologies();
    let sub = subs
        .iter()
        .find(|s| s.id == id.subtopology)
        .ok_or_else(|| StreamsError::State(format!("no sub-topology {}", id.subtopology)))?;
    let topics: BTreeSet<String> = changelogs.iter().map(|(_, t, _)| t.clone()).collect();
    let collector = Arc::new(ProducerCollector::new(
        tm.producer.clone(),
        id,
        topics,
        config.production_handler,
    ));
    let deadline = Instant::now() + LOCK_WAIT;
    let mut task = loop {
        let built = shared.topology.build_task(
            sub,
            id.partition,
            app,
            &mut tm.stores,
            collector.clone(),
            Arc::new(SystemClock),
            config.deserialization_handler,
            Topology::record_time(),
        );
        match built {
            Ok(t) => break t,
            // Another local thread may still hold the directory (RocksDB's lock).
            Err(StreamsError::Store(e)) if Instant::now() < deadline => {
                tracing::debug!(task = %id, error = %e, "cannot open the task's stores yet; retrying");
                tm.stores.release(id);
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    };
    task.set_cache_max_entries(config.cache_max_entries() / config.num_stream_threads.max(1));
    let persistent = changelogs
        .iter()
        .filter(|(_, _, p)| *p)
        .map(|(_, t, _)| (t.clone(), id.partition))
        .collect();
    std::fs::create_dir_all(&dir).map_err(|e| {
        StreamsError::Config(format!(
            "cannot create state directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok((
        ActiveTask {
            task,
            collector,
            checkpoint: file,
            persistent,
            restored: BTreeMap::new(),
        },
        checkpoint,
    ))
}

/// One changelog partition being restored.
struct Restoring {
    task: TaskId,
    store: String,
    end: i64,
    restored: u64,
}

/// Restores every logged store of `tasks`; false if interrupted by a shutdown.
fn restore(
    shared: &Shared,
    consumer: &mut Consumer,
    tasks: &mut BTreeMap<TaskId, (ActiveTask, Option<Checkpoint>)>,
    ends: &BTreeMap<TopicPartition, i64>,
) -> Result<bool> {
    let listener = shared.restore_listener();
    let mut plan: BTreeMap<TopicPartition, Restoring> = BTreeMap::new();
    let mut starts: BTreeMap<TopicPartition, Option<i64>> = BTreeMap::new();
    for (&id, (t, checkpoint)) in tasks.iter() {
        for (store, topic, partition) in t.task.changelogs() {
            let tp = TopicPartition::new(topic.clone(), partition);
            let end = ends.get(&tp).copied().unwrap_or(0);
            let persistent = t.persistent.contains(&(topic.clone(), partition));
            let from = checkpoint
                .as_ref()
                .filter(|_| persistent)
                .and_then(|c| c.offset(&topic, partition));
            starts.insert(tp.clone(), from);
            plan.insert(
                tp,
                Restoring {
                    task: id,
                    store,
                    end,
                    restored: 0,
                },
            );
        }
    }
    if plan.is_empty() {
        return Ok(true);
    }
    let tps: Vec<TopicPartition> = plan.keys().cloned().collect();
    consumer.assign(&tps);
    for (tp, from) in &starts {
        match from {
            Some(o) => consumer.seek(tp, *o)?,
            None => consumer.seek_to_beginning(std::slice::from_ref(tp))?,
        }
    }
    // Where each one starts; those already at their end are done.
    let mut active: BTreeSet<TopicPartition> = BTreeSet::new();
    for (tp, r) in &plan {
        let begin = shared.handle.block_on(consumer.position(tp))?;
        if begin < r.end {
            tracing::info!(task = %r.task, store = %r.store, changelog = %tp, from = begin, to = r.end, "restoring");
            if let Some(l) = &listener {
                l.on_restore_start(&tp.topic, tp.partition, &r.store, begin, r.end);
            }
            active.insert(tp.clone());
        }
    }
    let started = Instant::now();
    while !active.is_empty() {
        if shared.stopping() {
            consumer.unassign();
            return Ok(false);
        }
        let records = shared
            .handle
            .block_on(consumer.poll(Duration::from_millis(100)))?;
        if records.is_empty() {
            // Nothing came: if a changelog's end moved back since the restore began (the
            // topic was recreated, or an unclean election cut it), aim at the new end, or
            // the position would never reach the old one.
            let tps: Vec<TopicPartition> = active.iter().cloned().collect();
            let now = shared.handle.block_on(consumer.end_offsets(&tps))?;
            for (tp, end) in now {
                if let Some(p) = plan.get_mut(&tp) {
                    p.end = p.end.min(end);
                }
            }
        }
        let mut batches: BTreeMap<TopicPartition, Vec<ConsumerRecord>> = BTreeMap::new();
        for r in records {
            let tp = TopicPartition::new(r.topic.clone(), r.partition);
            if let Some(p) = plan.get(&tp) {
                if active.contains(&tp) && r.offset < p.end {
                    batches.entry(tp).or_default().push(r);
                }
            }
        }
        for (tp, batch) in batches {
            let p = plan.get_mut(&tp).expect("planned");
            let (t, _) = tasks.get_mut(&p.task).expect("a task being restored");
            t.task.restore(&p.store, &batch)?;
            p.restored += batch.len() as u64;
            if let (Some(l), Some(last)) = (&listener, batch.last()) {
                l.on_batch_restored(
                    &tp.topic,
                    tp.partition,
                    &p.store,
                    last.offset,
                    batch.len() as u64,
                );
            }
        }
        let mut finished = Vec::new();
        for tp in &active {
            let pos = shared.handle.block_on(consumer.position(tp))?;
            if pos >= plan[tp].end {
                finished.push(tp.clone());
            }
        }
        if !finished.is_empty() {
            for tp in &finished {
                active.remove(tp);
                let p = &plan[tp];
                tracing::info!(task = %p.task, store = %p.store, changelog = %tp, records = p.restored, "restored");
                if let Some(l) = &listener {
                    l.on_restore_end(&tp.topic, tp.partition, &p.store, p.restored);
                }
            }
            let rest: Vec<TopicPartition> = active.iter().cloned().collect();
            consumer.assign(&rest);
        }
    }
    consumer.unassign();
    for (tp, p) in plan {
        if let Some((t, _)) = tasks.get_mut(&p.task) {
            t.restored.insert((tp.topic, tp.partition), p.end);
        }
    }
    tracing::debug!(tasks = tasks.len(), took = ?started.elapsed(), "restoration done");
    Ok(true)
}
