//! OffsetForLeaderEpoch (key 23): the end offset of the largest leader epoch at or below the
//! one asked for. A single node has only ever had epoch 0 (Metadata says so), so the answer
//! is (0, log end offset) for any epoch >= 0. Replication will keep a real epoch history.

use brook_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use brook_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::server::{Broker, ErrorCode};

pub fn handle(broker: &Broker, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| OffsetForLeaderTopicResult {
            partitions: t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = EpochEndOffset {
                        error_code: ErrorCode::None.code(),
                        partition: p.partition,
                        leader_epoch: -1,
                        end_offset: -1,
                    };
                    match broker.topics.log(&t.topic, p.partition) {
                        None => r.error_code = ErrorCode::UnknownTopicOrPartition.code(),
                        Some(_) if p.current_leader_epoch > 0 => {
                            r.error_code = ErrorCode::UnknownLeaderEpoch.code()
                        }
                        Some(log) if p.leader_epoch >= 0 => {
                            r.leader_epoch = 0;
                            r.end_offset = log.log_end_offset();
                        }
                        Some(_) => {}
                    }
                    r
                })
                .collect(),
            topic: t.topic,
        })
        .collect();
    OffsetForLeaderEpochResponse {
        throttle_time_ms: 0,
        topics,
    }
}
