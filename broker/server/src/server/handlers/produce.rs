//! Produce (key 0): the leader of each partition appends its record batches, stamped with
//! its leader epoch; other brokers answer NOT_LEADER_OR_FOLLOWER. `acks=1` is answered once
//! the leader's append is done (in the page cache, fsynced per `flush.*`, as Kafka does);
//! `acks=all` once the high watermark passes the batch, that is when every in-sync
//! replica has it, or REQUEST_TIMED_OUT after the request's `timeout_ms`. With fewer
//! in-sync replicas than the topic's `min.insync.replicas`, `acks=all` is refused with
//! NOT_ENOUGH_REPLICAS and nothing is appended (NOT_ENOUGH_REPLICAS_AFTER_APPEND when the
//! ISR shrank while waiting). Internal topics take no produce.

use std::sync::Arc;

use brook_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use brook_protocol::messages::{ProduceRequest, ProduceResponse, RequestBody};
use brook_protocol::record::TimestampType;
use bytes::BytesMut;

use crate::log::TopicPartition;
use crate::server::topics::is_internal;
use crate::server::{Broker, ErrorCode};

/// A partition whose answer waits for replication: (topic index, partition index,
/// partition, last offset appended, min.insync.replicas).
type Wait = (usize, usize, TopicPartition, i64, usize);

/// Appends, then (`acks=all`) waits for the in-sync replicas.
pub async fn handle_replicated(
    broker: Arc<Broker>,
    req: ProduceRequest,
) -> Result<ProduceResponse, String> {
    let timeout = std::time::Duration::from_millis(req.timeout_ms.max(0) as u64);
    let (mut response, waits) = if buffered(&broker, &req) {
        append(&broker, req)
    } else {
        let b = broker.clone();
        tokio::task::spawn_blocking(move || append(&b, req))
            .await
            .map_err(|e| format!("produce failed: {e}"))?
    };
    for (t, p, tp, last, min_isr) in waits {
        let error = broker
            .replicas
            .wait_replicated(&tp, last, min_isr, timeout)
            .await;
        if error != ErrorCode::None {
            let r = &mut response.responses[t].partition_responses[p];
            r.error_code = error.code();
            r.error_message = Some(match error {
                ErrorCode::RequestTimedOut => format!(
                    "the in-sync replicas of {tp} did not all have the batch within {timeout:?}"
                ),
                _ => format!("{tp}: {error:?}"),
            });
        }
    }
    Ok(response)
}

/// Whether appending `req` only writes to the page cache, which then happens on the
/// request's own task: a hop to the blocking pool and back (two thread wake-ups) costs
/// more than a buffered write of a batch. Appends that may wait (a topic to auto-create,
/// which is a round through the controller; a log that fsyncs on append, `flush.messages`)
/// go to the blocking pool. Segment rolls stay inline: their fsync runs on the log's
/// background flusher.
fn buffered(broker: &Broker, req: &ProduceRequest) -> bool {
    req.topic_data
        .iter()
        .all(|t| broker.topics.appends_are_buffered(&t.name))
}

/// Appends without waiting for replication (`acks=0` and `acks=1`, and the first half of
/// `acks=all`).
pub fn handle(broker: &Broker, req: ProduceRequest) -> ProduceResponse {
    append(broker, req).0
}

fn append(broker: &Broker, req: ProduceRequest) -> (ProduceResponse, Vec<Wait>) {
    let mut waits = Vec::new();
    let acks = req.acks;
    let acks_ok = (-1..=1).contains(&acks);
    let mut appended = false;
    let responses = req
        .topic_data
        .into_iter()
        .enumerate()
        .map(|(ti, topic)| {
            if acks_ok
                && broker.topics.get(&topic.name).is_none()
                && broker.config.auto_create_topics
            {
                // Another request may create it at the same time; either way it exists after.
                let _ = broker.topics.create(
                    &topic.name,
                    -1,
                    -1,
                    &[],
                    broker.config.num_partitions,
                    false,
                );
            }
            let partition_responses = topic
                .partition_data
                .into_iter()
                .enumerate()
                .map(|(pi, p)| {
                    let mut r = PartitionProduceResponse {
                        index: p.index,
                        base_offset: -1,
                        log_append_time_ms: -1,
                        log_start_offset: -1,
                        ..PartitionProduceResponse::default()
                    };
                    if !acks_ok {
                        r.error_code = ErrorCode::InvalidRequiredAcks.code();
                        return r;
                    }
                    if is_internal(&topic.name) {
                        r.error_code = ErrorCode::InvalidTopicException.code();
                        r.error_message = Some(format!("`{}` is an internal topic", topic.name));
                        return r;
                    }
                    let tp = TopicPartition::new(topic.name.clone(), p.index);
                    let leading = match broker.replicas.leading(&tp, -1) {
                        Ok(led) => led,
                        Err(e) => {
                            r.error_code = e.code().code();
                            return r;
                        }
                    };
                    let (log, epoch, isr) = (&leading.log, leading.epoch, leading.isr_len);
                    let min_isr = log.config().min_insync_replicas.max(1) as usize;
                    if acks == -1 && isr < min_isr {
                        r.error_code = ErrorCode::NotEnoughReplicas.code();
                        r.error_message = Some(format!(
                            "min.insync.replicas of {tp} is {min_isr}; {isr} replicas are in sync"
                        ));
                        return r;
                    }
                    let Some(records) = p.records else {
                        r.error_code = ErrorCode::InvalidRecord.code();
                        r.error_message = Some("no records".into());
                        return r;
                    };
                    // The decoder copied the records out of the frame into a buffer of
                    // their own: append in that buffer (offsets are written in place)
                    // rather than copying it again.
                    let mut records = records
                        .try_into_mut()
                        .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
                    match log.append_with_epoch(&mut records, epoch) {
                        Ok(info) => {
                            // A duplicate (a retried batch) carries its original, older
                            // offsets.
                            if !info.duplicate {
                                leading.appended(&broker.replicas);
                                appended = true;
                            }
                            if acks == -1 {
                                waits.push((ti, pi, tp.clone(), info.last_offset, min_isr));
                            }
                            r.base_offset = info.first_offset;
                            r.log_start_offset = info.log_start_offset;
                            if log.config().message_timestamp_type == TimestampType::LogAppendTime {
                                r.log_append_time_ms = info.append_time_ms;
                            }
                        }
                        Err(e) => {
                            r.error_code = ErrorCode::from(&e).code();
                            if let Some(i) = e.record_index() {
                                // Produce v8+: which record of the batch was refused.
                                r.record_errors = vec![BatchIndexAndErrorMessage {
                                    batch_index: i32::try_from(i).unwrap_or(i32::MAX),
                                    batch_index_error_message: Some(e.to_string()),
                                }];
                            }
                            r.error_message = Some(e.to_string());
                        }
                    }
                    r
                })
                .collect();
            TopicProduceResponse {
                name: topic.name,
                partition_responses,
            }
        })
        .collect();
    if appended {
        broker.appended.notify_waiters();
    }
    let response = ProduceResponse {
        responses,
        ..ProduceResponse::default()
    };
    (response, waits)
}

/// `acks=0`: append, answer nothing.
pub async fn handle_no_ack(broker: Arc<Broker>, body: RequestBody) {
    if let RequestBody::Produce(req) = body {
        if buffered(&broker, &req) {
            handle(&broker, req);
        } else {
            let _ = tokio::task::spawn_blocking(move || handle(&broker, req)).await;
        }
    }
}
