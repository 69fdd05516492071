//! [`ProducerCollector`]: a task's [`RecordCollector`] over its thread's producer.
//!
//! Sends are asynchronous; each record's outcome comes back in a callback. The collector
//! remembers, per changelog partition, the offset after the last changelog record the
//! broker acknowledged (what the task's checkpoint holds after a commit), and the first
//! failed send: under [`ProductionHandler::Fail`] it fails every later send and the next
//! commit; under `LogAndContinue` a failed record is logged and dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use brook_client::{ClientError, Producer, ProducerRecord, RecordMetadata};

use crate::config::ProductionHandler;
use crate::error::{Result, StreamsError};
use crate::task::{OutRecord, RecordCollector};
use crate::TaskId;

#[derive(Debug, Default)]
struct CollectorState {
    /// Changelog topic-partition → the offset after the last acknowledged record.
    changelog_offsets: BTreeMap<(String, i32), i64>,
    /// The first send that failed under `Fail`.
    failed: Option<String>,
}

/// The record collector of one task of a stream thread.
#[derive(Debug)]
pub(crate) struct ProducerCollector {
    producer: Arc<Producer>,
    task: TaskId,
    /// The task's changelog topics.
    changelogs: BTreeSet<String>,
    handler: ProductionHandler,
    state: Arc<Mutex<CollectorState>>,
}

fn lock(m: &Mutex<CollectorState>) -> MutexGuard<'_, CollectorState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ProducerCollector {
    pub fn new(
        producer: Arc<Producer>,
        task: TaskId,
        changelogs: BTreeSet<String>,
        handler: ProductionHandler,
    ) -> ProducerCollector {
        ProducerCollector {
            producer,
            task,
            changelogs,
            handler,
            state: Arc::new(Mutex::new(CollectorState::default())),
        }
    }

    /// The offset after the last acknowledged record of each changelog partition written.
    pub fn changelog_offsets(&self) -> BTreeMap<(String, i32), i64> {
        lock(&self.state).changelog_offsets.clone()
    }

    /// The error to fail the commit with, if a send failed under `Fail` (call after the
    /// producer was flushed).
    pub fn check(&self) -> Result<()> {
        match &lock(&self.state).failed {
            Some(why) => Err(StreamsError::Client(why.clone())),
            None => Ok(()),
        }
    }
}

impl RecordCollector for ProducerCollector {
    fn send(&self, record: OutRecord) -> Result<()> {
        if let Some(why) = &lock(&self.state).failed {
            return Err(StreamsError::Client(format!(
                "task {}: an earlier send failed: {why}",
                self.task
            )));
        }
        let changelog = self.changelogs.contains(&record.topic);
        let pr = ProducerRecord {
            topic: record.topic,
            partition: record.partition,
            key: record.key,
            value: record.value,
            headers: record.headers,
            timestamp: Some(record.timestamp),
        };
        let state = self.state.clone();
        let (task, handler) = (self.task, self.handler);
        let topic = pr.topic.clone();
        self.producer.send_with_callback(
            pr,
            move |r: std::result::Result<RecordMetadata, ClientError>| {
                // Only changelog acknowledgements and failures touch the shared state, so a
                // sink's acknowledgement takes no lock.
                match r {
                    Ok(md) => {
                        if changelog && md.offset >= 0 {
                            let mut st = lock(&state);
                            let e = st
                                .changelog_offsets
                                .entry((md.topic, md.partition))
                                .or_insert(0);
                            *e = (*e).max(md.offset + 1);
                        }
                    }
                    Err(e) => match handler {
                        ProductionHandler::Fail => {
                            tracing::error!(%task, %topic, error = %e, "a record could not be written");
                            lock(&state).failed
                                .get_or_insert_with(|| format!("task {task}: writing to {topic} failed: {e}"));
                        }
                        ProductionHandler::LogAndContinue => {
                            tracing::warn!(%task, %topic, error = %e, "a record could not be written; dropped (LogAndContinue)");
                        }
                    },
                }
            },
        );
        Ok(())
    }
}

/// The collector of the global task: global processors keep stores and write nowhere.
#[derive(Debug, Default)]
pub(crate) struct NoOutput;

impl RecordCollector for NoOutput {
    fn send(&self, record: OutRecord) -> Result<()> {
        Err(StreamsError::Topology(format!(
            "a global store's processor tried to write to {}; global processors only keep \
             their stores",
            record.topic
        )))
    }
}
