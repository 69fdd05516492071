//! ListOffsets (key 2): earliest (-2), latest (-1), or the first offset at or after a
//! timestamp.

use brook_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use brook_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::server::{Broker, ErrorCode};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

pub fn handle(broker: &Broker, req: ListOffsetsRequest) -> ListOffsetsResponse {
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
                    let Some(log) = broker.topics.log(&t.name, p.partition_index) else {
                        r.error_code = ErrorCode::UnknownTopicOrPartition.code();
                        return r;
                    };
                    match p.timestamp {
                        EARLIEST => r.offset = log.log_start_offset(),
                        LATEST => r.offset = log.high_watermark(),
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
