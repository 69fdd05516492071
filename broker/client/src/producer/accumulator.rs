//! The record accumulator: per-partition queues of record batches waiting to be sent, as
//! a plain data structure with no I/O, no threads and no clock of its own.
//!
//! The producer [`append`](RecordAccumulator::append)s each serialized record to its
//! partition's queue, where it is encoded straight into the open [`BatchBuilder`]; the
//! sender [`drain`](RecordAccumulator::drain)s the batches that are ready (full, lingered
//! long enough, or flushed) into produce requests, and reports each one back as
//! [`complete`](RecordAccumulator::complete)d (memory released) or
//! [`reenqueue`](RecordAccumulator::reenqueue)d for a retry. Time is always passed in
//! (`now: Instant`), so behaviour is deterministic under test.
//!
//! The Kafka settings it honours:
//! - `batch.size`: a batch is full when the next record would take it past `batch.size`
//!   bytes (uncompressed); a record larger than `batch.size` gets a batch of its own.
//! - `linger.ms`: a batch that is not full becomes ready once it is that old.
//! - `buffer.memory`: the bytes of all batches not yet completed (queued or in flight)
//!   never exceed it; an append that would is refused with [`AppendError::BufferFull`],
//!   on which the producer waits (up to `max.block.ms`) for completions to free memory.
//! - `max.request.size`: a record whose batch alone would exceed it is refused.
//! - `compression.type`: the codec of every batch.
//! - idempotence: once a [`ProducerIdentity`] is set, each batch gets the producer id and
//!   epoch and the partition's next sequence number when it is drained (so sequences
//!   follow send order), wrapping at `i32::MAX` as Kafka's do.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use brook_protocol::record::varint::{varint_len, varlong_len};
use brook_protocol::record::{
    compute_crc, BatchBuilder, Compression, Header, RecordError, ATTRIBUTES_OFFSET,
    BATCH_HEADER_LEN, CRC_OFFSET,
};

/// Offset of the producer id in a v2 batch header; the epoch (2 bytes) and the base
/// sequence (4 bytes) follow it.
const PRODUCER_ID_OFFSET: usize = 43;
use bytes::Bytes;
use thiserror::Error;

/// The crate's topic-partition pair, re-exported here for the accumulator's users.
pub use crate::TopicPartition;

/// The settings of a [`RecordAccumulator`]; defaults are Kafka's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccumulatorConfig {
    /// `batch.size`, bytes (default 16384).
    pub batch_size: usize,
    /// `linger.ms` (default 5 ms).
    pub linger: Duration,
    /// `buffer.memory`, bytes (default 32 MiB).
    pub buffer_memory: usize,
    /// `max.request.size`, bytes (default 1 MiB).
    pub max_request_size: usize,
    /// `compression.type` (default none).
    pub compression: Compression,
    /// `retry.backoff.ms`: how long a re-enqueued batch waits before it is ready again
    /// (default 100 ms).
    pub retry_backoff: Duration,
}

impl Default for AccumulatorConfig {
    fn default() -> Self {
        AccumulatorConfig {
            batch_size: 16_384,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            max_request_size: 1024 * 1024,
            compression: Compression::None,
            retry_backoff: Duration::from_millis(100),
        }
    }
}

/// Identifies a batch for the lifetime of its accumulator; ids grow in creation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchId(pub u64);

/// Where an appended record sits: its batch and its index in it. Once the batch is
/// written at `base_offset`, the record's offset is `base_offset + index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHandle {
    pub batch: BatchId,
    pub index: i32,
}

impl RecordHandle {
    /// The record's offset in a batch written at `base_offset`.
    pub fn offset(&self, base_offset: i64) -> i64 {
        base_offset + i64::from(self.index)
    }
}

/// One serialized record to append, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct RecordToAppend<'a> {
    /// Milliseconds since the epoch (CreateTime).
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [Header],
}

/// What [`RecordAccumulator::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendResult {
    /// The record is in a batch.
    Appended {
        handle: RecordHandle,
        /// The record's batch (or an older one of the partition) is ready to send now:
        /// the producer may wake the sender.
        batch_is_full: bool,
        /// The record opened a new batch.
        new_batch_created: bool,
    },
    /// The record would have opened a new batch and the caller asked to be told first
    /// (`abort_on_new_batch`, for sticky partitioning): nothing was appended.
    NewBatchRequired,
}

/// Why a record was not appended.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AppendError {
    /// The record would not fit in a request (`max.request.size`) even alone.
    #[error(
        "the record is {size} bytes when serialized, larger than max.request.size ({max_request_size})"
    )]
    RecordTooLarge {
        size: usize,
        max_request_size: usize,
    },
    /// The record is larger than all the producer's memory (`buffer.memory`).
    #[error(
        "the record is {size} bytes when serialized, larger than buffer.memory ({buffer_memory})"
    )]
    LargerThanBufferMemory { size: usize, buffer_memory: usize },
    /// Appending would take the buffered bytes past `buffer.memory` ("would block"): retry
    /// once completed batches have released memory, or give up after `max.block.ms`.
    #[error("buffer.memory is exhausted: {requested} bytes needed, {available} available")]
    BufferFull { requested: usize, available: usize },
    /// A partition number below 0.
    #[error("invalid partition {0}")]
    InvalidPartition(i32),
    /// The record breaks a limit of the batch format (32-bit lengths).
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The idempotent producer's id and epoch (from InitProducerId).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerIdentity {
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// A batch drained for sending: its encoded bytes (base offset 0; the broker assigns
/// the real one) and what the sender needs to route, retry and complete it.
#[derive(Debug, Clone)]
pub struct ProducerBatch {
    pub id: BatchId,
    pub topic_partition: TopicPartition,
    /// The encoded record batch, ready for a produce request.
    pub records: Bytes,
    pub record_count: i32,
    /// `-1` for a producer without a [`ProducerIdentity`].
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    /// When the batch was opened.
    pub created: Instant,
    /// How many times the batch was drained (1 on its first send).
    pub attempts: u32,
    last_attempt: Instant,
    reserved: usize,
}

impl ProducerBatch {
    /// The bytes of `buffer.memory` the batch holds until it is completed.
    pub fn reserved_bytes(&self) -> usize {
        self.reserved
    }

    /// The handle of the record at `index`.
    pub fn handle(&self, index: i32) -> RecordHandle {
        RecordHandle {
            batch: self.id,
            index,
        }
    }

    /// Rewrites the producer id, epoch and base sequence in the encoded batch (and its
    /// CRC, which covers them), as Kafka's `ProducerBatch.resetProducerState` does when a
    /// batch outlives the epoch it was stamped with.
    pub fn restamp(&mut self, identity: ProducerIdentity, base_sequence: i32) {
        let mut bytes = self.records.to_vec();
        if bytes.len() < BATCH_HEADER_LEN {
            // Not a batch this accumulator built; leave it for the broker to refuse.
            return;
        }
        bytes[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8]
            .copy_from_slice(&identity.producer_id.to_be_bytes());
        bytes[PRODUCER_ID_OFFSET + 8..PRODUCER_ID_OFFSET + 10]
            .copy_from_slice(&identity.producer_epoch.to_be_bytes());
        bytes[PRODUCER_ID_OFFSET + 10..PRODUCER_ID_OFFSET + 14]
            .copy_from_slice(&base_sequence.to_be_bytes());
        let crc = compute_crc(&bytes);
        bytes[CRC_OFFSET..ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
        self.records = Bytes::from(bytes);
        self.producer_id = identity.producer_id;
        self.producer_epoch = identity.producer_epoch;
        self.base_sequence = base_sequence;
    }

    /// The sequence number of the batch's last record (`-1` without idempotence).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            -1
        } else {
            increment_sequence(self.base_sequence, self.record_count - 1)
        }
    }
}

/// A batch removed without being sent (expired or aborted): the producer fails the
/// futures of its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardedBatch {
    pub id: BatchId,
    pub topic_partition: TopicPartition,
    pub record_count: i32,
    pub created: Instant,
}

/// A batch that could not be encoded when drained (compression failed); its memory is
/// already released.
#[derive(Debug)]
pub struct FailedBatch {
    pub batch: DiscardedBatch,
    pub error: RecordError,
}

/// What one [`drain`](RecordAccumulator::drain) took out: at most one batch per
/// partition.
#[derive(Debug, Default)]
pub struct Drained {
    pub batches: Vec<ProducerBatch>,
    pub failed: Vec<FailedBatch>,
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: `sequence + increment`, wrapping past
/// `i32::MAX` to 0.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// The exact size of a record in a v2 batch, length prefix included, with the given
/// deltas (lengths beyond `i32` are clamped, which keeps their varint size).
fn record_size(record: &RecordToAppend<'_>, timestamp_delta: i64, offset_delta: i32) -> usize {
    fn len_i32(n: usize) -> i32 {
        i32::try_from(n).unwrap_or(i32::MAX)
    }
    fn nullable(field: Option<&[u8]>) -> usize {
        match field {
            None => 1,
            Some(b) => varint_len(len_i32(b.len())).saturating_add(b.len()),
        }
    }
    let mut body = 1usize // attributes
        + varlong_len(timestamp_delta)
        + varint_len(offset_delta)
        + varint_len(len_i32(record.headers.len()));
    body = body
        .saturating_add(nullable(record.key))
        .saturating_add(nullable(record.value));
    for h in record.headers {
        body = body
            .saturating_add(varint_len(len_i32(h.key.len())))
            .saturating_add(h.key.len())
            .saturating_add(nullable(h.value.as_deref()));
    }
    varint_len(len_i32(body)).saturating_add(body)
}

/// The size of `record` in a batch of its own: what `max.request.size` is checked
/// against.
pub fn single_record_batch_size(record: &RecordToAppend<'_>) -> usize {
    BATCH_HEADER_LEN.saturating_add(record_size(record, 0, 0))
}

#[derive(Debug)]
struct OpenBatch {
    id: BatchId,
    builder: BatchBuilder,
    created: Instant,
    /// No more records go in (one did not fit, or it reached `batch.size`).
    full: bool,
}

#[derive(Debug)]
enum Queued {
    /// Still being filled or waiting to be sent for the first time.
    Open(OpenBatch),
    /// Sent before and put back for a retry.
    Retry(ProducerBatch),
}

impl Queued {
    fn id(&self) -> BatchId {
        match self {
            Queued::Open(b) => b.id,
            Queued::Retry(b) => b.id,
        }
    }

    fn reserved(&self) -> usize {
        match self {
            Queued::Open(b) => b.builder.uncompressed_size(),
            Queued::Retry(b) => b.reserved,
        }
    }

    fn created(&self) -> Instant {
        match self {
            Queued::Open(b) => b.created,
            Queued::Retry(b) => b.created,
        }
    }

    fn record_count(&self) -> i32 {
        match self {
            Queued::Open(b) => b.builder.len() as i32,
            Queued::Retry(b) => b.record_count,
        }
    }
}

#[derive(Debug, Default)]
struct PartitionQueue {
    batches: VecDeque<Queued>,
    next_sequence: i32,
    /// The last batch closed full: the next one gets all of `batch.size` up front, so a
    /// busy partition's batches never grow (and copy) on the way.
    busy: bool,
}

/// The first allocation of a batch of a partition that is not busy: small partitions
/// with a large `batch.size` do not hold a batch's worth of memory each.
const SMALL_BATCH_CAPACITY: usize = 16 * 1024;

/// Per-partition queues of batches; see the [module docs](self).
#[derive(Debug)]
pub struct RecordAccumulator {
    config: AccumulatorConfig,
    topics: BTreeMap<String, BTreeMap<i32, PartitionQueue>>,
    /// Bytes of every batch not yet completed: queued, open or in flight.
    buffered: usize,
    next_batch_id: u64,
    identity: Option<ProducerIdentity>,
    flushing: bool,
    closing: bool,
    /// An append was refused for lack of memory since memory was last released: send
    /// everything to free some (Kafka's "exhausted").
    exhausted: bool,
    /// Where the next drain starts, so that a request-size limit does not starve the
    /// partitions that sort last.
    drain_from: Option<TopicPartition>,
}

impl RecordAccumulator {
    /// An empty accumulator with `config`.
    pub fn new(config: AccumulatorConfig) -> RecordAccumulator {
        RecordAccumulator {
            config,
            topics: BTreeMap::new(),
            buffered: 0,
            next_batch_id: 0,
            identity: None,
            flushing: false,
            closing: false,
            exhausted: false,
            drain_from: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &AccumulatorConfig {
        &self.config
    }

    /// Bytes held by batches not yet completed (queued or in flight).
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Bytes of `buffer.memory` still free.
    pub fn available_memory(&self) -> usize {
        self.config.buffer_memory.saturating_sub(self.buffered)
    }

    /// Whether no batch is queued (in-flight batches do not count).
    pub fn is_empty(&self) -> bool {
        self.queued_batches() == 0
    }

    /// The number of batches waiting in queues (open, full or awaiting retry).
    pub fn queued_batches(&self) -> usize {
        self.queues().map(|(_, _, q)| q.batches.len()).sum()
    }

    /// Sets the producer id and epoch stamped on batches at drain time (`None`: not
    /// idempotent). A different identity (a new id or a bumped epoch) restarts every
    /// partition's sequence at 0, as Kafka does; batches already drained keep the
    /// identity they were built with.
    pub fn set_producer_identity(&mut self, identity: Option<ProducerIdentity>) {
        if self.identity != identity {
            for q in self.topics.values_mut().flat_map(|t| t.values_mut()) {
                q.next_sequence = 0;
            }
        }
        self.identity = identity;
    }

    /// The identity batches are stamped with.
    pub fn producer_identity(&self) -> Option<ProducerIdentity> {
        self.identity
    }

    /// The sequence number the next batch drained for `topic`-`partition` gets.
    pub fn next_sequence(&self, topic: &str, partition: i32) -> i32 {
        self.topics
            .get(topic)
            .and_then(|t| t.get(&partition))
            .map_or(0, |q| q.next_sequence)
    }

    /// Sets the sequence number the next batch drained for `topic`-`partition` gets, for
    /// a sender that tracks sequences itself (after an epoch bump, or in tests).
    pub fn set_next_sequence(&mut self, topic: &str, partition: i32, sequence: i32) {
        self.queue_mut(topic, partition).next_sequence = sequence;
    }

    /// While set, every batch is ready regardless of `linger.ms` (the producer's
    /// `flush`).
    pub fn set_flushing(&mut self, flushing: bool) {
        self.flushing = flushing;
    }

    /// Marks the accumulator as closing: every batch is ready from now on.
    pub fn begin_close(&mut self) {
        self.closing = true;
    }

    /// Appends a record to `topic`-`partition`.
    ///
    /// With `abort_on_new_batch`, a record that would open a new batch is not appended
    /// and [`AppendResult::NewBatchRequired`] is returned, so a sticky partitioner can
    /// switch partitions first (KIP-480). The open batch that could not take the record is
    /// then full, and ready to send.
    pub fn append(
        &mut self,
        topic: &str,
        partition: i32,
        record: &RecordToAppend<'_>,
        abort_on_new_batch: bool,
        now: Instant,
    ) -> Result<AppendResult, AppendError> {
        if partition < 0 {
            return Err(AppendError::InvalidPartition(partition));
        }
        let alone = single_record_batch_size(record);
        if alone > self.config.max_request_size {
            return Err(AppendError::RecordTooLarge {
                size: alone,
                max_request_size: self.config.max_request_size,
            });
        }
        if alone > self.config.buffer_memory {
            return Err(AppendError::LargerThanBufferMemory {
                size: alone,
                buffer_memory: self.config.buffer_memory,
            });
        }
        let batch_size = self.config.batch_size;
        let buffered = self.buffered;
        let buffer_memory = self.config.buffer_memory;
        let queue = self.queue_mut(topic, partition);
        let queued = queue.batches.len();

        // Try the open batch at the back of the queue.
        let mut busy = queue.busy;
        if let Some(Queued::Open(open)) = queue.batches.back_mut() {
            busy = open.full;
            if !open.full {
                let size = record_size(
                    record,
                    record
                        .timestamp
                        .wrapping_sub(open.builder.header().base_timestamp),
                    open.builder.len() as i32,
                );
                let current = open.builder.uncompressed_size();
                if current.saturating_add(size) <= batch_size {
                    if buffered.saturating_add(size) > buffer_memory {
                        self.exhausted = true;
                        return Err(AppendError::BufferFull {
                            requested: size,
                            available: buffer_memory.saturating_sub(buffered),
                        });
                    }
                    let index = open.builder.len() as i32;
                    open.builder.try_append(
                        record.timestamp,
                        record.key,
                        record.value,
                        record.headers,
                    )?;
                    debug_assert_eq!(open.builder.uncompressed_size(), current + size);
                    if open.builder.uncompressed_size() >= batch_size {
                        open.full = true;
                    }
                    let handle = RecordHandle {
                        batch: open.id,
                        index,
                    };
                    let batch_is_full = open.full || queued > 1;
                    self.buffered += size;
                    return Ok(AppendResult::Appended {
                        handle,
                        batch_is_full,
                        new_batch_created: false,
                    });
                }
                open.full = true;
                busy = true;
            }
        }

        if abort_on_new_batch {
            return Ok(AppendResult::NewBatchRequired);
        }
        if buffered.saturating_add(alone) > buffer_memory {
            self.exhausted = true;
            return Err(AppendError::BufferFull {
                requested: alone,
                available: buffer_memory.saturating_sub(buffered),
            });
        }
        let capacity = if busy {
            batch_size.min(self.config.max_request_size)
        } else {
            batch_size.min(SMALL_BATCH_CAPACITY)
        };
        let mut builder = BatchBuilder::with_capacity(
            self.config.compression,
            record.timestamp,
            capacity.max(alone),
        );
        builder.try_append(record.timestamp, record.key, record.value, record.headers)?;
        debug_assert_eq!(builder.uncompressed_size(), alone);
        let id = BatchId(self.next_batch_id);
        self.next_batch_id += 1;
        let full = alone >= batch_size;
        let queue = self.queue_mut(topic, partition);
        queue.batches.push_back(Queued::Open(OpenBatch {
            id,
            builder,
            created: now,
            full,
        }));
        let batch_is_full = full || queue.batches.len() > 1;
        self.buffered += alone;
        Ok(AppendResult::Appended {
            handle: RecordHandle {
                batch: id,
                index: 0,
            },
            batch_is_full,
            new_batch_created: true,
        })
    }

    /// Whether the first batch of a queue of `queued` batches can be sent at `now`, and
    /// if not, how long until it can.
    fn head_readiness(&self, head: &Queued, queued: usize, now: Instant) -> Result<(), Duration> {
        match head {
            Queued::Retry(b) => {
                let waited = now.saturating_duration_since(b.last_attempt);
                if waited >= self.config.retry_backoff {
                    Ok(())
                } else {
                    Err(self.config.retry_backoff - waited)
                }
            }
            Queued::Open(b) => {
                if b.full || queued > 1 || self.flushing || self.closing || self.exhausted {
                    return Ok(());
                }
                let waited = now.saturating_duration_since(b.created);
                if waited >= self.config.linger {
                    Ok(())
                } else {
                    Err(self.config.linger - waited)
                }
            }
        }
    }

    /// How long until some batch is ready: `Some(ZERO)` if one is now, `None` if nothing
    /// is queued (the sender can sleep until the next append).
    pub fn next_ready_in(&self, now: Instant) -> Option<Duration> {
        let mut soonest: Option<Duration> = None;
        for (_, _, q) in self.queues() {
            let Some(head) = q.batches.front() else {
                continue;
            };
            match self.head_readiness(head, q.batches.len(), now) {
                Ok(()) => return Some(Duration::ZERO),
                Err(wait) => soonest = Some(soonest.map_or(wait, |s| s.min(wait))),
            }
        }
        soonest
    }

    /// The partitions whose first batch is ready at `now`.
    pub fn ready_partitions(&self, now: Instant) -> Vec<TopicPartition> {
        self.queues()
            .filter(|(_, _, q)| {
                q.batches
                    .front()
                    .is_some_and(|h| self.head_readiness(h, q.batches.len(), now).is_ok())
            })
            .map(|(t, p, _)| TopicPartition::new(t, p))
            .collect()
    }

    /// Takes the ready batches out, at most one per partition and together at most
    /// `max_bytes`, encoding them and stamping producer id, epoch and sequence numbers.
    ///
    /// Sizes are measured uncompressed (what [`ProducerBatch::reserved_bytes`] reports),
    /// as Kafka estimates them before compressing; the first batch is taken whatever its
    /// size, so a batch larger than `max_bytes` is not stuck.
    pub fn drain(&mut self, now: Instant, max_bytes: usize) -> Drained {
        self.drain_with(now, max_bytes, |_| true)
    }

    /// [`drain`](Self::drain), limited to the partitions `include` accepts: the sender
    /// drains per broker (the partitions it leads) and skips partitions it keeps muted
    /// (a batch in flight with `max.in.flight.requests.per.connection=1`).
    pub fn drain_with(
        &mut self,
        now: Instant,
        max_bytes: usize,
        mut include: impl FnMut(&TopicPartition) -> bool,
    ) -> Drained {
        let mut order: Vec<TopicPartition> = self
            .queues()
            .filter(|(_, _, q)| !q.batches.is_empty())
            .map(|(t, p, _)| TopicPartition::new(t, p))
            .collect();
        if let Some(from) = &self.drain_from {
            let start = order.partition_point(|tp| tp < from);
            order.rotate_left(start);
        }
        let mut out = Drained::default();
        let mut total = 0usize;
        for (i, tp) in order.iter().enumerate() {
            if !include(tp) {
                continue;
            }
            let Some(q) = self
                .topics
                .get(&tp.topic)
                .and_then(|t| t.get(&tp.partition))
            else {
                continue;
            };
            let Some(head) = q.batches.front() else {
                continue;
            };
            if self.head_readiness(head, q.batches.len(), now).is_err() {
                continue;
            }
            let size = head.reserved();
            if !out.batches.is_empty() && total.saturating_add(size) > max_bytes {
                // Start here next time.
                self.drain_from = Some(tp.clone());
                return out;
            }
            total = total.saturating_add(size);
            let identity = self.identity;
            let compression_failed;
            let q = self.queue_mut(&tp.topic, tp.partition);
            let Some(head) = q.batches.pop_front() else {
                continue;
            };
            match head {
                Queued::Retry(mut b) => {
                    b.attempts += 1;
                    b.last_attempt = now;
                    if let Some(id) = identity {
                        // Stamped before an epoch bump (or a new producer id): it goes
                        // out under the current identity with the partition's next
                        // sequences, still ahead of the batches created after it.
                        if b.producer_id >= 0
                            && (b.producer_id, b.producer_epoch)
                                != (id.producer_id, id.producer_epoch)
                        {
                            b.restamp(id, q.next_sequence);
                            q.next_sequence = increment_sequence(q.next_sequence, b.record_count);
                        }
                    }
                    out.batches.push(b);
                    compression_failed = None;
                }
                Queued::Open(open) => {
                    let count = open.builder.len() as i32;
                    let reserved = open.builder.uncompressed_size();
                    q.busy = open.full;
                    let mut builder = open.builder;
                    let (producer_id, producer_epoch, base_sequence) = match identity {
                        Some(id) => (id.producer_id, id.producer_epoch, q.next_sequence),
                        None => (-1, -1, -1),
                    };
                    if identity.is_some() {
                        builder = builder
                            .producer_id(producer_id)
                            .producer_epoch(producer_epoch)
                            .base_sequence(base_sequence);
                    }
                    match builder.into_batch(0) {
                        Ok(bytes) => {
                            if identity.is_some() {
                                q.next_sequence = increment_sequence(q.next_sequence, count);
                            }
                            out.batches.push(ProducerBatch {
                                id: open.id,
                                topic_partition: tp.clone(),
                                records: Bytes::from(bytes),
                                record_count: count,
                                producer_id,
                                producer_epoch,
                                base_sequence,
                                created: open.created,
                                attempts: 1,
                                last_attempt: now,
                                reserved,
                            });
                            compression_failed = None;
                        }
                        Err(error) => {
                            compression_failed = Some((
                                FailedBatch {
                                    batch: DiscardedBatch {
                                        id: open.id,
                                        topic_partition: tp.clone(),
                                        record_count: count,
                                        created: open.created,
                                    },
                                    error,
                                },
                                reserved,
                            ));
                        }
                    }
                }
            }
            if let Some((failed, reserved)) = compression_failed {
                self.release(reserved);
                out.failed.push(failed);
            }
            // Fairness across calls: the partition after this one starts the next drain.
            self.drain_from = order.get(i + 1).cloned();
        }
        out
    }

    /// Releases the memory of a drained batch that is done with: written, or failed for
    /// good. The producer completes its records' futures itself.
    pub fn complete(&mut self, batch: ProducerBatch) {
        self.release(batch.reserved);
    }

    /// Whether the head of `tp`'s queue is a batch waiting for a retry: the sender sends
    /// it alone, once nothing else of the partition is in flight, so that order holds.
    pub fn head_is_retry(&self, tp: &TopicPartition) -> bool {
        self.topics
            .get(&tp.topic)
            .and_then(|t| t.get(&tp.partition))
            .and_then(|q| q.batches.front())
            .is_some_and(|b| matches!(b, Queued::Retry(_)))
    }

    /// Whether a batch of `tp` created before `id` waits for a retry.
    pub fn retry_queued_before(&self, tp: &TopicPartition, id: BatchId) -> bool {
        self.topics
            .get(&tp.topic)
            .and_then(|t| t.get(&tp.partition))
            .is_some_and(|q| {
                q.batches
                    .iter()
                    .any(|b| matches!(b, Queued::Retry(_)) && b.id() < id)
            })
    }

    /// Puts a drained batch back at the front of its partition's queue for a retry
    /// (after `retry.backoff.ms` from `now`), ahead of batches created after it, with
    /// its sequence numbers unchanged.
    pub fn reenqueue(&mut self, mut batch: ProducerBatch, now: Instant) {
        batch.last_attempt = now;
        let id = batch.id;
        let tp = batch.topic_partition.clone();
        let q = self.queue_mut(&tp.topic, tp.partition);
        let at = q
            .batches
            .iter()
            .position(|b| matches!(b, Queued::Open(_)) || b.id() > id)
            .unwrap_or(q.batches.len());
        q.batches.insert(at, Queued::Retry(batch));
    }

    /// Removes the queued batches that are at least `delivery_timeout` old (Kafka's
    /// `delivery.timeout.ms`, counted from batch creation), oldest first per partition,
    /// and releases their memory. In-flight batches are the sender's to expire.
    pub fn expire(&mut self, now: Instant, delivery_timeout: Duration) -> Vec<DiscardedBatch> {
        let mut expired = Vec::new();
        let mut released = 0;
        for (topic, partitions) in &mut self.topics {
            for (&partition, q) in partitions.iter_mut() {
                while let Some(head) = q.batches.front() {
                    if now.saturating_duration_since(head.created()) < delivery_timeout {
                        break;
                    }
                    if let Some(b) = q.batches.pop_front() {
                        released += b.reserved();
                        expired.push(discarded(topic, partition, &b));
                    }
                }
            }
        }
        self.release(released);
        expired
    }

    /// Removes every queued batch (the producer is closing without flushing, or hit a
    /// fatal error) and releases their memory.
    pub fn abort_all(&mut self) -> Vec<DiscardedBatch> {
        let mut aborted = Vec::new();
        let mut released = 0;
        for (topic, partitions) in &mut self.topics {
            for (&partition, q) in partitions.iter_mut() {
                for b in q.batches.drain(..) {
                    released += b.reserved();
                    aborted.push(discarded(topic, partition, &b));
                }
            }
        }
        self.release(released);
        aborted
    }

    fn release(&mut self, bytes: usize) {
        debug_assert!(bytes <= self.buffered, "released more than buffered");
        self.buffered = self.buffered.saturating_sub(bytes);
        if bytes > 0 {
            self.exhausted = false;
        }
    }

    fn queue_mut(&mut self, topic: &str, partition: i32) -> &mut PartitionQueue {
        if !self.topics.contains_key(topic) {
            self.topics.insert(topic.to_owned(), BTreeMap::new());
        }
        self.topics
            .get_mut(topic)
            .map(|t| t.entry(partition).or_default())
            .expect("inserted above")
    }

    fn queues(&self) -> impl Iterator<Item = (&str, i32, &PartitionQueue)> {
        self.topics
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, q)| (t.as_str(), *p, q)))
    }

    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.queues()
            .flat_map(|(_, _, q)| q.batches.iter())
            .map(Queued::reserved)
            .sum()
    }
}

fn discarded(topic: &str, partition: i32, b: &Queued) -> DiscardedBatch {
    DiscardedBatch {
        id: b.id(),
        topic_partition: TopicPartition::new(topic, partition),
        record_count: b.record_count(),
        created: b.created(),
    }
}

#[cfg(test)]
mod tests;
