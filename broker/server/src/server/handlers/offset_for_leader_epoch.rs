//! OffsetForLeaderEpoch (key 23): from the partition's leader, the end offset of the
//! largest leader epoch at or below the one asked for, from the log's epoch history
//! (followers truncate a divergent tail with it; consumers validate their position).
//! `current_leader_epoch` is checked as Fetch checks it.

use brook_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use brook_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::log::TopicPartition;
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
                    let tp = TopicPartition::new(t.topic.clone(), p.partition);
                    match broker.replicas.leader_log(&tp, p.current_leader_epoch) {
                        Err(e) => r.error_code = e.code().code(),
                        Ok((log, _)) => {
                            if let Some((epoch, end)) = log.end_offset_for_epoch(p.leader_epoch) {
                                r.leader_epoch = epoch;
                                r.end_offset = end;
                            }
                        }
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
