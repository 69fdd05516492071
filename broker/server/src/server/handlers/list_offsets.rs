//! ListOffsets (key 2): earliest (-2), latest (-1), the record with the largest timestamp
//! (-3), earliest-local / latest-tiered (-4 / -5, the same as -2 / -1 with no remote tier),
//! or the first offset at or after a timestamp.

use brook_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use brook_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::server::{Broker, ErrorCode};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
/// v7+: the record with the largest timestamp (KIP-734).
const MAX_TIMESTAMP: i64 = -3;
/// v8+ (tiered storage): with no remote tier these are EARLIEST and LATEST.
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub fn handle(broker: &Broker, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| ListOffsetsTopicResponse {
            partitions: t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        timestamp: -1,
                        offset: -1,
                        ..ListOffsetsPartitionResponse::default()
                    };
                    // Answered by the leader, checked against the client's leader epoch.
                    let tp = crate::log::TopicPartition::new(t.name.clone(), p.partition_index);
                    let log = match broker.replicas.leader_log(&tp, p.current_leader_epoch) {
                        Ok((log, epoch)) => {
                            // The field exists from v4.
                            if version >= 4 {
                                r.leader_epoch = epoch;
                            }
                            log
                        }
                        Err(e) => {
                            r.error_code = e.code().code();
                            return r;
                        }
                    };
                    match p.timestamp {
                        EARLIEST | EARLIEST_LOCAL => r.offset = log.log_start_offset(),
                        LATEST | LATEST_TIERED => r.offset = log.high_watermark(),
                        MAX_TIMESTAMP => match log.offset_of_max_timestamp() {
                            Ok(Some((offset, timestamp))) if offset < log.high_watermark() => {
                                r.offset = offset;
                                r.timestamp = timestamp;
                            }
                            Ok(_) => {}
                            Err(e) => r.error_code = ErrorCode::from(&e).code(),
                        },
                        ts if ts >= 0 => match log.offset_for_timestamp(ts) {
                            Ok(Some((offset, timestamp))) if offset < log.high_watermark() => {
                                r.offset = offset;
                                r.timestamp = timestamp;
                            }
                            Ok(_) => {}
                            Err(e) => r.error_code = ErrorCode::from(&e).code(),
                        },
                        _ => r.error_code = ErrorCode::InvalidRequest.code(),
                    }
                    r
                })
                .collect(),
            name: t.name,
        })
        .collect();
    ListOffsetsResponse {
        throttle_time_ms: 0,
        topics,
    }
}
