//! The producer's background sender task: it drains ready batches from the accumulator,
//! groups them per partition leader into Produce requests and completes their records.
//!
//! - **Readiness** is the accumulator's (`batch.size`, `linger.ms`, flush, close, memory
//!   exhausted); the task sleeps until [`next_ready_in`](RecordAccumulator::next_ready_in)
//!   or until it is woken by an append, a completion or a flush.
//! - **Requests**: per leader node, at most `max.in.flight.requests.per.connection`
//!   Produce requests in flight (pipelined on one connection, which the broker answers in
//!   order), each at most `max.request.size` bytes (one batch per partition), at the
//!   highest Produce version both sides speak (up to v11), with `acks` and
//!   `request.timeout.ms`. So a partition has up to that many batches in flight. A task
//!   per node ([`dispatcher`]) queues its requests on the connection in the order they were
//!   drained.
//! - **Order**: a batch put back for a retry waits until nothing else of its partition is
//!   in flight and then goes out alone, ahead of the batches created after it; the
//!   batches that were in flight behind it come back too (with idempotence the broker
//!   refuses them with OUT_OF_ORDER_SEQUENCE_NUMBER, which counts as retriable while an
//!   earlier batch of the partition is unacknowledged) and follow it in order. With
//!   idempotence (the default) order per partition therefore holds across retries; without
//!   it, a retry may land behind a later batch that succeeded, as in Kafka, unless
//!   `max.in.flight.requests.per.connection=1`.
//! - **Metadata** is refreshed after errors that mean it is stale, for partitions without
//!   a leader, and at least every `metadata.max.age.ms`.
//! - **Retries**: a retriable error (a lost connection, a timeout, a retriable Kafka code)
//!   puts the batch back at the head of its partition for `retry.backoff.ms`, as long as
//!   `retries` and `delivery.timeout.ms` allow; errors that mean the metadata is stale
//!   (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, ...) and lost
//!   connections refresh the metadata first. Batches still queued after
//!   `delivery.timeout.ms` (counted from their creation) fail with REQUEST_TIMED_OUT.
//! - **Idempotence**: before the first batch is drained the task asks for a producer id
//!   (InitProducerId without a transactional id, retried while retriable; a refusal is
//!   fatal and fails every record). The accumulator stamps id, epoch and sequences.
//!   DUPLICATE_SEQUENCE_NUMBER counts as success (the batch is already in the log). When a
//!   batch that carried sequence numbers fails for good (OUT_OF_ORDER_SEQUENCE_NUMBER,
//!   UNKNOWN_PRODUCER_ID, retries or delivery timeout exhausted, any other error), its
//!   records fail with that error and the producer bumps its epoch locally (KIP-360; a new
//!   id once the epoch is exhausted), so every partition's sequences restart at 0 and later
//!   batches are not refused for the gap. The bump waits until nothing is in flight (no
//!   batch is drained meanwhile); batches stamped with the old epoch that come back for a
//!   retry are restamped with the new epoch and fresh sequences when they are drained
//!   again, still ahead of the batches created after them.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use brook_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use brook_protocol::messages::{InitProducerIdRequest, ProduceRequest, RequestBody};

use super::accumulator::{ProducerBatch, ProducerIdentity, RecordAccumulator};
use super::producer::{Completion, Shared, State};
use super::record::RecordMetadata;
use crate::error::{ClientError, ErrorCode, KafkaError};
use crate::transport::{request_at, Transport};

/// The Produce version the producer speaks up to.
const PRODUCE_MAX: i16 = 11;
/// The InitProducerId version the producer speaks up to.
const INIT_PRODUCER_ID_MAX: i16 = 5;

type Done = Vec<(u64, Completion, Result<RecordMetadata, ClientError>)>;

/// A copy of `e` (client errors hold I/O errors, which do not clone).
pub(crate) fn clone_error(e: &ClientError) -> ClientError {
    match e {
        ClientError::Connect { addr, source } => ClientError::Connect {
            addr: addr.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        ClientError::ConnectTimeout { addr, after } => ClientError::ConnectTimeout {
            addr: addr.clone(),
            after: *after,
        },
        ClientError::Disconnected { addr, reason } => ClientError::Disconnected {
            addr: addr.clone(),
            reason: reason.clone(),
        },
        ClientError::Io(e) => ClientError::Io(std::io::Error::new(e.kind(), e.to_string())),
        ClientError::Protocol { addr, reason } => ClientError::Protocol {
            addr: addr.clone(),
            reason: reason.clone(),
        },
        ClientError::UnexpectedResponse { expected, got } => ClientError::UnexpectedResponse {
            expected,
            got: *got,
        },
        ClientError::Kafka(k) => ClientError::Kafka(k.clone()),
        ClientError::Timeout { api, addr, after } => ClientError::Timeout {
            api,
            addr: addr.clone(),
            after: *after,
        },
        ClientError::UnsupportedVersion { api, api_key } => ClientError::UnsupportedVersion {
            api,
            api_key: *api_key,
        },
        ClientError::NoSuchTopic(t) => ClientError::NoSuchTopic(t.clone()),
        ClientError::NoSuchPartition { topic, partition } => ClientError::NoSuchPartition {
            topic: topic.clone(),
            partition: *partition,
        },
        ClientError::NoBroker(s) => ClientError::NoBroker(s.clone()),
        ClientError::Config { key, reason } => ClientError::Config {
            key,
            reason: reason.clone(),
        },
        ClientError::Closed => ClientError::Closed,
        other => ClientError::Protocol {
            addr: String::new(),
            reason: other.to_string(),
        },
    }
}

/// The sender task; runs until the producer is closed and everything is done.
pub(crate) async fn run(shared: Arc<Shared>) {
    let config = &shared.config;
    let backoff = Duration::from_millis(config.retry_backoff_ms.max(1));
    let delivery_timeout = Duration::from_millis(config.delivery_timeout_ms);
    let max_in_flight = config.max_in_flight_requests_per_connection.max(1) as usize;
    let max_age = Duration::from_millis(config.metadata_max_age_ms);
    let linger = Duration::from_millis(config.linger_ms);
    let mut last_refresh = Instant::now();
    // One dispatcher per node, so that its requests are queued on its connection in the
    // order they were drained. They end when this task returns and drops their senders.
    let mut dispatchers: HashMap<i32, mpsc::UnboundedSender<Vec<ProducerBatch>>> = HashMap::new();
    loop {
        {
            let st = shared.lock();
            let idle = st.acc.is_empty() && st.in_flight_batches == 0 && st.blocked.is_empty();
            if st.force_closed || (st.closed && idle) || (st.fatal.is_some() && idle) {
                return;
            }
        }
        if config.enable_idempotence && shared.lock().acc.producer_identity().is_none() {
            match init_producer_id(&shared).await {
                Ok(id) => shared.lock().acc.set_producer_identity(Some(id)),
                Err(e) if e.is_retriable() => {
                    tracing::debug!(error = %e, "InitProducerId failed; retrying");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(e) => {
                    fail_fatally(&shared, &e);
                    continue;
                }
            }
        }
        if last_refresh.elapsed() >= max_age {
            // metadata.max.age.ms
            shared.need_metadata.store(true, Ordering::Relaxed);
        }
        if shared.need_metadata.swap(false, Ordering::Relaxed) {
            match shared.cluster.refresh().await {
                Ok(_) => last_refresh = Instant::now(),
                Err(e) => {
                    tracing::debug!(error = %e, "metadata refresh failed");
                    shared.need_metadata.store(true, Ordering::Relaxed);
                    tokio::time::sleep(backoff).await;
                }
            }
        }

        let now = Instant::now();
        let meta = shared.cluster.metadata();
        let mut requests: Vec<(i32, Vec<ProducerBatch>)> = Vec::new();
        let mut done: Done = Vec::new();
        let wait;
        {
            let mut st = shared.lock();
            let st = &mut *st;
            let expired = st.acc.expire(now, delivery_timeout);
            if !expired.is_empty() && st.acc.producer_identity().is_some() {
                // A batch that had sequences (a retry) may be among them: restart them.
                st.bump_pending = true;
            }
            if st.bump_pending && st.in_flight_batches == 0 {
                bump_epoch(&mut st.acc);
                st.bump_pending = false;
            }
            for b in expired {
                let mut reason = format!(
                    "expiring {} record(s) for {}: {:?} has passed since batch creation \
                     (delivery.timeout.ms)",
                    b.record_count,
                    b.topic_partition,
                    now.saturating_duration_since(b.created)
                );
                if let Some(last) = st.last_error.remove(&b.id) {
                    reason.push_str("; last error: ");
                    reason.push_str(&last);
                }
                let e = KafkaError::new(ErrorCode::REQUEST_TIMED_OUT, Some(reason));
                for r in st.records.remove(&b.id).unwrap_or_default() {
                    done.push((r.no, r.done, Err(e.clone().into())));
                }
            }
            let mut by_node: BTreeMap<i32, Vec<crate::TopicPartition>> = BTreeMap::new();
            for tp in st.acc.ready_partitions(now) {
                if !drainable(st, &tp, max_in_flight) {
                    continue;
                }
                let leader = meta
                    .topics
                    .get(&tp.topic)
                    .and_then(|t| t.partition(tp.partition))
                    .and_then(|p| p.leader);
                match leader {
                    Some(node) => by_node.entry(node).or_default().push(tp),
                    None => shared.need_metadata.store(true, Ordering::Relaxed),
                }
            }
            for (node, tps) in by_node {
                loop {
                    let in_flight = st.in_flight.get(&node).copied().unwrap_or(0);
                    if in_flight >= max_in_flight {
                        break;
                    }
                    // A set: drain_with asks about every queued partition, and a node may
                    // lead thousands.
                    let allowed: std::collections::HashSet<&crate::TopicPartition> = tps
                        .iter()
                        .filter(|tp| drainable(st, tp, max_in_flight))
                        .collect();
                    if allowed.is_empty() {
                        break;
                    }
                    let drained = st
                        .acc
                        .drain_with(now, config.max_request_size, |tp| allowed.contains(&tp));
                    for f in drained.failed {
                        let e = KafkaError::new(
                            ErrorCode::INVALID_RECORD,
                            Some(format!("cannot encode the batch: {}", f.error)),
                        );
                        for r in st.records.remove(&f.batch.id).unwrap_or_default() {
                            done.push((r.no, r.done, Err(e.clone().into())));
                        }
                    }
                    if drained.batches.is_empty() {
                        break;
                    }
                    for b in &drained.batches {
                        let f = st
                            .part_in_flight
                            .entry(b.topic_partition.clone())
                            .or_default();
                        if !f.batches.is_empty() {
                            st.sent_behind.insert(b.id);
                        }
                        f.batches.insert(b.id, f.next);
                        if b.attempts > 1 {
                            f.retries.insert(b.id);
                        }
                        f.next += 1;
                    }
                    st.in_flight_batches += drained.batches.len();
                    *st.in_flight.entry(node).or_default() += 1;
                    requests.push((node, drained.batches));
                }
            }
            wait = st.acc.next_ready_in(now);
        }
        shared.complete(done);
        let sent_any = !requests.is_empty();
        for (node, batches) in requests {
            let tx = dispatchers
                .entry(node)
                .or_insert_with(|| dispatcher(shared.clone(), node));
            if let Err(mpsc::error::SendError(batches)) = tx.send(batches) {
                // Its task ended (it only does when this loop drops the sender, or by a
                // panic): start another.
                let tx = dispatcher(shared.clone(), node);
                let _ = tx.send(batches);
                dispatchers.insert(node, tx);
            }
        }
        if sent_any {
            continue;
        }
        let timeout = match wait {
            None => Duration::from_secs(1),
            // Ready but blocked (partition in flight, node at its limit, no leader): a
            // completion wakes the task. The timeout covers a missing leader (backing off
            // between refreshes) and the other partitions' linger, which the accumulator
            // does not report while a blocked partition is ready.
            Some(d) if d.is_zero() => {
                if shared.need_metadata.load(Ordering::Relaxed) {
                    backoff
                } else {
                    backoff.min(linger.max(Duration::from_millis(1)))
                }
            }
            Some(d) => d.min(Duration::from_secs(1)),
        };
        tokio::select! {
            _ = shared.wake_sender.notified() => {}
            _ = tokio::time::sleep(timeout) => {}
        }
    }
}

/// Whether the sender may drain a batch of `tp` now: not while an epoch bump waits for
/// the requests in flight, and a batch waiting for a retry only once nothing else of its
/// partition is in flight.
fn drainable(st: &State, tp: &crate::TopicPartition, max_in_flight: usize) -> bool {
    if st.bump_pending {
        return false;
    }
    let Some(f) = st.part_in_flight.get(tp) else {
        return true;
    };
    if st.acc.head_is_retry(tp) {
        f.batches.is_empty()
    } else {
        f.has_room(max_in_flight as u64)
    }
}

/// Asks any broker for a producer id (epoch 0).
async fn init_producer_id(shared: &Shared) -> Result<ProducerIdentity, ClientError> {
    let transport = shared.cluster.any_transport().await?;
    let req = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: i32::try_from(shared.config.delivery_timeout_ms)
            .unwrap_or(i32::MAX),
        producer_id: -1,
        producer_epoch: -1,
    };
    let (_, r) = shared
        .cluster
        .call_on(&transport, INIT_PRODUCER_ID_MAX, req)
        .await?;
    KafkaError::check(r.error_code, None)?;
    Ok(ProducerIdentity {
        producer_id: r.producer_id,
        producer_epoch: r.producer_epoch,
    })
}

/// The producer cannot be idempotent: fail everything queued and every later send.
fn fail_fatally(shared: &Shared, e: &ClientError) {
    let fatal = KafkaError::new(
        e.code().unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
        Some(format!(
            "the idempotent producer could not get a producer id (InitProducerId): {e}"
        )),
    );
    tracing::error!(error = %fatal, "producer failed");
    let done: Done = {
        let mut st = shared.lock();
        st.fatal = Some(fatal.clone());
        let mut done = Vec::new();
        st.last_error.clear();
        for b in st.acc.abort_all() {
            for r in st.records.remove(&b.id).unwrap_or_default() {
                done.push((r.no, r.done, Err(fatal.clone().into())));
            }
        }
        done
    };
    shared.complete(done);
    shared.wake_appender.notify_one();
}

/// Bumps the producer epoch locally (KIP-360), or drops the identity so a new producer id
/// is fetched once the epoch is exhausted. Every partition's sequence restarts at 0.
fn bump_epoch(acc: &mut RecordAccumulator) {
    let next = acc.producer_identity().and_then(|id| {
        (id.producer_epoch < i16::MAX).then_some(ProducerIdentity {
            producer_id: id.producer_id,
            producer_epoch: id.producer_epoch + 1,
        })
    });
    tracing::debug!(?next, "bumping the producer epoch");
    acc.set_producer_identity(next);
}

/// What became of one batch of a request.
enum Outcome {
    Written {
        base_offset: i64,
        log_append_time: i64,
    },
    Failed(ClientError),
}

/// Starts the task that sends the requests for `node`, in the order they arrive.
///
/// Spawning one task per request would let the runtime pick the order in which they first
/// run (tokio runs the task spawned last first), and so the order in which they reach the
/// connection: two requests for one partition could go out swapped, which the broker
/// refuses with OUT_OF_ORDER_SEQUENCE_NUMBER under idempotence and which reorders records
/// without it. The dispatcher opens the connection, then polls each request once itself,
/// which queues it on the connection (the transport queues a request in its first poll,
/// and waits for room in its queue in arrival order), and only then hands the wait for the
/// response to a task of its own, so requests stay pipelined.
fn dispatcher(shared: Arc<Shared>, node: i32) -> mpsc::UnboundedSender<Vec<ProducerBatch>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<ProducerBatch>>();
    tokio::spawn(async move {
        while let Some(batches) = rx.recv().await {
            let transport = shared.cluster.transport(node).await;
            let mut request = Box::pin(send_request(shared.clone(), node, transport, batches));
            // Unconstrained: with its cooperative budget spent, tokio would have the queueing
            // return Pending without queueing, and a later request could overtake this one.
            let first = std::future::poll_fn(|cx| {
                let mut once = tokio::task::unconstrained(request.as_mut());
                Poll::Ready(std::pin::Pin::new(&mut once).poll(cx))
            })
            .await;
            if first.is_pending() {
                tokio::spawn(request);
            }
        }
    });
    tx
}

/// Sends one Produce request to `node` (over `transport`, or failing with its error) and
/// completes its batches.
async fn send_request(
    shared: Arc<Shared>,
    node: i32,
    transport: Result<Arc<dyn Transport>, ClientError>,
    batches: Vec<ProducerBatch>,
) {
    let outcomes = produce(&shared, transport, &batches).await;
    finish(&shared, node, batches, outcomes);
}

async fn produce(
    shared: &Shared,
    transport: Result<Arc<dyn Transport>, ClientError>,
    batches: &[ProducerBatch],
) -> Vec<Outcome> {
    let all = |e: ClientError| -> Vec<Outcome> {
        batches
            .iter()
            .map(|_| Outcome::Failed(clone_error(&e)))
            .collect()
    };
    let transport = match transport {
        Ok(t) => t,
        Err(e) => return all(e),
    };
    let Some(version) = transport.version_for(ProduceRequest::API_KEY, PRODUCE_MAX) else {
        return all(ClientError::UnsupportedVersion {
            api: "Produce",
            api_key: ProduceRequest::API_KEY,
        });
    };
    let mut topics: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for b in batches {
        topics
            .entry(&b.topic_partition.topic)
            .or_default()
            .push(PartitionProduceData {
                index: b.topic_partition.partition,
                records: Some(b.records.clone()),
            });
    }
    let request_timeout = Duration::from_millis(shared.config.request_timeout_ms);
    let req = ProduceRequest {
        transactional_id: None,
        acks: shared.config.acks.wire_value(),
        timeout_ms: i32::try_from(shared.config.request_timeout_ms).unwrap_or(i32::MAX),
        topic_data: topics
            .into_iter()
            .map(|(name, partition_data)| TopicProduceData {
                name: name.to_owned(),
                partition_data,
            })
            .collect(),
    };
    let lost = |e: &ClientError, t: &Arc<dyn Transport>| {
        if matches!(
            e,
            ClientError::Disconnected { .. } | ClientError::Timeout { .. }
        ) {
            shared.cluster.forget_transport(t);
        }
    };
    // The transport enforces request.timeout.ms; this only guards one that does not.
    let guard = request_timeout + Duration::from_secs(5);
    if req.acks == 0 {
        let sent = tokio::time::timeout(guard, transport.send(version, RequestBody::Produce(req)))
            .await
            .unwrap_or_else(|_| Err(timeout_error(&transport, guard)));
        return match sent {
            Ok(()) => batches
                .iter()
                .map(|_| Outcome::Written {
                    base_offset: -1,
                    log_append_time: -1,
                })
                .collect(),
            Err(e) => {
                lost(&e, &transport);
                all(e)
            }
        };
    }
    let response = tokio::time::timeout(guard, request_at(&*transport, version, req))
        .await
        .unwrap_or_else(|_| Err(timeout_error(&transport, guard)));
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            lost(&e, &transport);
            return all(e);
        }
    };
    let mut answers = HashMap::new();
    for t in response.responses {
        for p in t.partition_responses {
            answers.insert((t.name.clone(), p.index), p);
        }
    }
    batches
        .iter()
        .map(|b| {
            let key = (b.topic_partition.topic.clone(), b.topic_partition.partition);
            let Some(p) = answers.remove(&key) else {
                return Outcome::Failed(ClientError::Protocol {
                    addr: transport.peer().to_owned(),
                    reason: format!(
                        "the Produce response has no answer for {}",
                        b.topic_partition
                    ),
                });
            };
            let code = ErrorCode(p.error_code);
            if code == ErrorCode::NONE || code == ErrorCode::DUPLICATE_SEQUENCE_NUMBER {
                Outcome::Written {
                    base_offset: p.base_offset,
                    log_append_time: p.log_append_time_ms,
                }
            } else {
                let mut message = p.error_message;
                if let Some(r) = p.record_errors.first() {
                    let detail = format!(
                        "record {} of the batch: {}",
                        r.batch_index,
                        r.batch_index_error_message.as_deref().unwrap_or("refused")
                    );
                    message = Some(match message {
                        Some(m) if !m.is_empty() => format!("{m} ({detail})"),
                        _ => detail,
                    });
                }
                Outcome::Failed(KafkaError::new(code, message).into())
            }
        })
        .collect()
}

fn timeout_error(transport: &Arc<dyn Transport>, after: Duration) -> ClientError {
    ClientError::Timeout {
        api: "Produce",
        addr: transport.peer().to_owned(),
        after,
    }
}

/// Completes, retries or fails each batch of a finished request.
fn finish(shared: &Shared, node: i32, batches: Vec<ProducerBatch>, outcomes: Vec<Outcome>) {
    let config = &shared.config;
    let delivery_timeout = Duration::from_millis(config.delivery_timeout_ms);
    let retries = u32::try_from(config.retries).unwrap_or(0);
    let now = Instant::now();
    let mut done: Done = Vec::new();
    let mut written = Vec::new();
    {
        let mut st = shared.lock();
        let st = &mut *st;
        if let Some(n) = st.in_flight.get_mut(&node) {
            *n = n.saturating_sub(1);
        }
        for (batch, outcome) in batches.into_iter().zip(outcomes) {
            st.in_flight_batches = st.in_flight_batches.saturating_sub(1);
            let earlier_in_flight = match st.part_in_flight.get_mut(&batch.topic_partition) {
                Some(f) => {
                    f.batches.remove(&batch.id);
                    f.retries.remove(&batch.id);
                    f.batches
                        .first_key_value()
                        .is_some_and(|(first, _)| *first < batch.id)
                }
                None => false,
            };
            st.last_error.remove(&batch.id);
            let sent_behind = st.sent_behind.remove(&batch.id);
            match outcome {
                Outcome::Written {
                    base_offset,
                    log_append_time,
                } => {
                    // Their metadata is made after the lock is released.
                    if let Some(rs) = st.records.remove(&batch.id) {
                        written.push((rs, base_offset, log_append_time));
                    }
                    st.acc.complete(batch);
                }
                Outcome::Failed(e) => {
                    let stale = match &e {
                        ClientError::Kafka(k) => k.code.invalidates_metadata(),
                        other => other.is_retriable(),
                    };
                    if stale {
                        shared.cluster.mark_stale();
                        shared.need_metadata.store(true, Ordering::Relaxed);
                    }
                    let age = now.saturating_duration_since(batch.created);
                    let current = st.acc.producer_identity().is_some_and(|id| {
                        id.producer_id == batch.producer_id
                            && id.producer_epoch == batch.producer_epoch
                    });
                    // The broker refused the sequence because an earlier batch of the
                    // partition was missing when it arrived (still in flight, perhaps on
                    // another connection after a reconnect; or failed and queued for a
                    // retry), or the batch was stamped before an epoch bump: it goes
                    // again, in order, restamped if need be. A batch sent alone that is
                    // refused again fails for good, so this cannot loop.
                    let sequence_gap = batch.producer_id >= 0
                        && e.code().is_some_and(|c| {
                            c == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                                || c == ErrorCode::UNKNOWN_PRODUCER_ID
                                || c == ErrorCode::INVALID_PRODUCER_EPOCH
                        })
                        && (!current
                            || sent_behind
                            || earlier_in_flight
                            || st.acc.retry_queued_before(&batch.topic_partition, batch.id));
                    if (e.is_retriable() || sequence_gap)
                        && !st.force_closed
                        && batch.attempts <= retries
                        && age < delivery_timeout
                        && st.records.contains_key(&batch.id)
                    {
                        tracing::debug!(
                            partition = %batch.topic_partition,
                            attempt = batch.attempts,
                            error = %e,
                            "retrying a batch"
                        );
                        st.last_error.insert(batch.id, e.to_string());
                        st.acc.reenqueue(batch, now);
                        continue;
                    }
                    let e = explain(&e, &batch, age, delivery_timeout);
                    if batch.producer_id >= 0 && current {
                        st.bump_pending = true;
                    }
                    for r in st.records.remove(&batch.id).unwrap_or_default() {
                        done.push((r.no, r.done, Err(clone_error(&e))));
                    }
                    st.acc.complete(batch);
                }
            }
        }
    }
    for (records, base_offset, log_append_time) in written {
        for r in records {
            let m = r.metadata(base_offset, log_append_time);
            done.push((r.no, r.done, Ok(m)));
        }
    }
    shared.complete(done);
    shared.bump_progress();
    shared.wake_sender.notify_one();
}

/// The error a failed batch's records get, saying what the producer did about it.
fn explain(
    e: &ClientError,
    batch: &ProducerBatch,
    age: Duration,
    delivery_timeout: Duration,
) -> ClientError {
    let what = format!(
        "{} record(s) for {} were not written",
        batch.record_count, batch.topic_partition
    );
    match e {
        ClientError::Kafka(k)
            if k.code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                || k.code == ErrorCode::UNKNOWN_PRODUCER_ID =>
        {
            KafkaError::new(
                k.code,
                Some(format!(
                    "{what}: the broker refused sequence {} of producer {} epoch {} ({}); the \
                     producer bumped its epoch so that later records are not affected",
                    batch.base_sequence,
                    batch.producer_id,
                    batch.producer_epoch,
                    k.message.as_deref().unwrap_or("no message")
                )),
            )
            .into()
        }
        _ if e.is_retriable() && age >= delivery_timeout => KafkaError::new(
            ErrorCode::REQUEST_TIMED_OUT,
            Some(format!(
                "{what}: {age:?} passed since batch creation (delivery.timeout.ms); last error: {e}"
            )),
        )
        .into(),
        _ => clone_error(e),
    }
}
