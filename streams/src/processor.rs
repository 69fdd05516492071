//! The Processor API: [`Processor`], the [`ProcessorContext`] it is given, and punctuation.
//!
//! A processor is created per task (by the supplier given to
//! [`Topology::add_processor`](crate::Topology::add_processor)) and only ever called from
//! the stream thread that owns the task. `forward` calls the children at once, depth
//! first, as in Kafka Streams, so a record reaches every sink before `forward` returns.
//!
//! Punctuation differs from Java in form only: `schedule` returns a [`Cancellable`] id and
//! the runtime calls the processor's [`Processor::punctuate`] with it, so a punctuator can
//! use the processor's own fields.

use std::marker::PhantomData;
use std::time::Duration;

use crate::error::{Result, StreamsError};
use crate::record::{Data, Erased, Headers, Record};
use crate::store::{
    KeyValueStoreHandle, SessionStoreHandle, TimestampedKeyValueStoreHandle, WindowStoreHandle,
};
use crate::task::TaskInner;
use crate::TaskId;

/// What drives a punctuation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PunctuationType {
    /// The task's stream time (the largest record timestamp seen): fires as records
    /// arrive, never on an idle task.
    StreamTime,
    /// The wall clock, checked as the stream thread loops (and advanced by hand in the
    /// test driver).
    WallClockTime,
}

/// A scheduled punctuation: pass it to [`ProcessorContext::cancel`] to stop it; the
/// processor's `punctuate` is told which one fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cancellable(pub(crate) u64);

/// A record processor (Kafka Streams' `api.Processor`): keys `KIn` and values `VIn` in,
/// `KOut`/`VOut` forwarded.
pub trait Processor<KIn, VIn, KOut = KIn, VOut = VIn>: Send {
    /// Called once before the first record, with the task's context: get stores and
    /// schedule punctuations here.
    fn init(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        record: Record<KIn, VIn>,
    ) -> Result<()>;

    /// Called when a punctuation scheduled with `ctx.schedule` fires; `timestamp` is the
    /// stream time or wall-clock time that made it fire.
    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
        punctuation: Cancellable,
        timestamp: i64,
    ) -> Result<()> {
        let _ = (ctx, punctuation, timestamp);
        Ok(())
    }

    /// Called when the task commits, before its stores are flushed: a processor that
    /// holds back records (the DSL's table caches) forwards them here.
    fn flush(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Where the current record came from (absent in a wall-clock punctuation).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordMetadata {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What a processor can do and know, for the task it runs in (Kafka Streams'
/// `api.ProcessorContext`). Forwarded records have keys `K` and values `V`.
pub struct ProcessorContext<'a, K, V> {
    pub(crate) task: &'a mut TaskInner,
    pub(crate) node: usize,
    pub(crate) _types: PhantomData<fn(K, V)>,
}

impl<'a, K: Data, V: Data> ProcessorContext<'a, K, V> {
    pub(crate) fn new(task: &'a mut TaskInner, node: usize) -> ProcessorContext<'a, K, V> {
        ProcessorContext {
            task,
            node,
            _types: PhantomData,
        }
    }

    /// Sends `record` to every child of this processor, at once.
    pub fn forward(&mut self, record: Record<K, V>) -> Result<()> {
        self.task.forward(self.node, Erased::new(record), None)
    }

    /// Sends `record` to the child named `child` only.
    pub fn forward_to(&mut self, child: &str, record: Record<K, V>) -> Result<()> {
        self.task
            .forward(self.node, Erased::new(record), Some(child))
    }
}

impl<K, V> ProcessorContext<'_, K, V> {
    /// This processor's node name.
    pub fn name(&self) -> &str {
        self.task.node_name(self.node)
    }

    /// The task this processor runs in.
    pub fn task_id(&self) -> TaskId {
        self.task.core.task_id
    }

    /// `application.id`.
    pub fn application_id(&self) -> &str {
        &self.task.core.application_id
    }

    /// The current record's timestamp (in a punctuation: the time that fired it).
    pub fn timestamp(&self) -> i64 {
        self.task.core.timestamp
    }

    /// The current record's headers (empty in a punctuation).
    pub fn headers(&self) -> &Headers {
        &self.task.core.headers
    }

    /// The current record's topic, partition and offset; `None` in a punctuation and for
    /// records a processor made itself.
    pub fn record_metadata(&self) -> Option<&RecordMetadata> {
        self.task.core.metadata.as_ref()
    }

    /// The current record's topic.
    pub fn topic(&self) -> Option<&str> {
        self.record_metadata().map(|m| m.topic.as_str())
    }

    /// The current record's partition.
    pub fn partition(&self) -> Option<i32> {
        self.record_metadata().map(|m| m.partition)
    }

    /// The current record's offset.
    pub fn offset(&self) -> Option<i64> {
        self.record_metadata().map(|m| m.offset)
    }

    /// The task's stream time: the largest timestamp it has processed (`i64::MIN` before
    /// the first record).
    pub fn current_stream_time(&self) -> i64 {
        self.task.core.stream_time
    }

    /// The wall-clock time, ms since the epoch (the test driver's mocked clock under it).
    pub fn current_system_time(&self) -> i64 {
        self.task.core.clock.now_ms()
    }

    /// Schedules [`Processor::punctuate`] every `interval` of stream or wall-clock time.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Result<Cancellable> {
        let ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        if ms < 1 {
            return Err(StreamsError::processor(
                self.name(),
                "a punctuation interval must be at least 1 ms",
            ));
        }
        Ok(self.task.schedule(self.node, ms, kind))
    }

    /// Stops a punctuation.
    pub fn cancel(&mut self, punctuation: Cancellable) {
        self.task.cancel(punctuation);
    }

    /// How many entries a DSL table cache may hold (0: caching off).
    pub(crate) fn cache_max_entries(&self) -> usize {
        self.task.core.cache_max_entries
    }

    /// Asks the runtime to commit this task as soon as it can (after this record).
    pub fn commit(&mut self) {
        self.task.core.commit_requested = true;
    }

    /// The key-value store `name`, which must be connected to this processor.
    pub fn key_value_store<SK: Data, SV: Data>(
        &self,
        name: &str,
    ) -> Result<KeyValueStoreHandle<SK, SV>> {
        self.task.key_value_store(self.node, name)
    }

    /// The timestamped key-value store `name` (what tables keep).
    pub fn timestamped_key_value_store<SK: Data, SV: Data>(
        &self,
        name: &str,
    ) -> Result<TimestampedKeyValueStoreHandle<SK, SV>> {
        self.task
            .key_value_store(self.node, name)
            .map(TimestampedKeyValueStoreHandle::new)
    }

    /// The window store `name`.
    pub fn window_store<SK: Data, SV: Data>(
        &self,
        name: &str,
    ) -> Result<WindowStoreHandle<SK, SV>> {
        self.task.window_store(self.node, name)
    }

    /// The session store `name`.
    pub fn session_store<SK: Data, SV: Data>(
        &self,
        name: &str,
    ) -> Result<SessionStoreHandle<SK, SV>> {
        self.task.session_store(self.node, name)
    }
}
