//! OffsetDelete (key 47): deletes a group's committed offsets for partitions it does not
//! consume (GROUP_SUBSCRIBED_TO_TOPIC for those it does); a group not coordinated here
//! answers NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS).

use brook_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use brook_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::server::Broker;

pub fn handle(broker: &Broker, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let partitions: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index))
        })
        .collect();
    let (error, codes) = broker.groups.delete_offsets(&req.group_id, &partitions);
    if !codes.is_empty() || error.code() == 0 {
        let mut codes = codes.into_iter();
        return OffsetDeleteResponse {
            error_code: error.code(),
            throttle_time_ms: 0,
            topics: req
                .topics
                .iter()
                .map(|t| OffsetDeleteResponseTopic {
                    name: t.name.clone(),
                    partitions: t
                        .partitions
                        .iter()
                        .map(|p| OffsetDeleteResponsePartition {
                            partition_index: p.partition_index,
                            error_code: codes.next().map_or(0, |c| c.code()),
                        })
                        .collect(),
                })
                .collect(),
        };
    }
    OffsetDeleteResponse {
        error_code: error.code(),
        throttle_time_ms: 0,
        topics: Vec::new(),
    }
}
