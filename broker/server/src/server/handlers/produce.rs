//! Produce (key 0): append each partition's record batches to its log. On one node the
//! high watermark follows the log end, so `acks=1` and `acks=all` are answered once the
//! append is done (in the page cache, fsynced per `flush.*`, as Kafka does). With one
//! replica in sync, `acks=all` to a topic whose `min.insync.replicas` is above 1 is refused
//! with NOT_ENOUGH_REPLICAS, and nothing is appended. Internal topics take no produce.

use std::sync::Arc;

use brook_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use brook_protocol::messages::{ProduceRequest, ProduceResponse, RequestBody};
use brook_protocol::record::TimestampType;
use bytes::BytesMut;

use crate::server::topics::is_internal;
use crate::server::{Broker, ErrorCode};

/// The in-sync replicas of every partition: this node.
const IN_SYNC_REPLICAS: i32 = 1;

pub fn handle(broker: &Broker, req: ProduceRequest) -> ProduceResponse {
    let acks = req.acks;
    let acks_ok = (-1..=1).contains(&acks);
    let mut appended = false;
    let responses = req
        .topic_data
        .into_iter()
        .map(|topic| {
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
                .map(|p| {
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
                    let Some(log) = broker.topics.log(&topic.name, p.index) else {
                        r.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        return r;
                    };
                    let min_isr = log.config().min_insync_replicas;
                    if acks == -1 && min_isr > IN_SYNC_REPLICAS {
                        r.error_code = ErrorCode::NotEnoughReplicas.code();
                        r.error_message = Some(format!(
                            "min.insync.replicas is {min_isr}; this node is the only replica"
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
                    match log.append(&mut records) {
                        Ok(info) => {
                            // One replica: everything appended is committed. A duplicate
                            // (a retried batch) carries its original, older offsets.
                            if !info.duplicate {
                                log.set_high_watermark(info.last_offset + 1);
                                appended = true;
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
    ProduceResponse {
        responses,
        ..ProduceResponse::default()
    }
}

/// `acks=0`: append, answer nothing.
pub async fn handle_no_ack(broker: Arc<Broker>, body: RequestBody) {
    if let RequestBody::Produce(req) = body {
        let _ = tokio::task::spawn_blocking(move || handle(&broker, req)).await;
    }
}
