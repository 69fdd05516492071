//! DeleteRecords (key 21): raise partitions' log start offsets (`-1`: to the high
//! watermark). Answers with the new low watermark once it is persisted.

use brook_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use brook_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::server::{Broker, ErrorCode};

pub fn handle(broker: &Broker, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| DeleteRecordsTopicResult {
            partitions: t
                .partitions
                .into_iter()
                .map(|p| {
                    let mut r = DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark: -1,
                        error_code: ErrorCode::None.code(),
                    };
                    // On the leader (followers keep their copies until retention; Kafka
                    // moves the followers' log start with its fetch responses).
                    let tp = crate::log::TopicPartition::new(t.name.clone(), p.partition_index);
                    match broker.replicas.leader_log(&tp, -1) {
                        Err(e) => r.error_code = e.code().code(),
                        Ok((log, _)) => match log.delete_records_before(p.offset) {
                            Ok(low) => r.low_watermark = low,
                            Err(e) => r.error_code = ErrorCode::from(&e).code(),
                        },
                    }
                    r
                })
                .collect(),
            name: t.name,
        })
        .collect();
    DeleteRecordsResponse {
        throttle_time_ms: 0,
        topics,
    }
}
