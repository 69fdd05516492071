//! CreatePartitions (key 37): grow a topic's partition count.

use brook_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use brook_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use crate::server::{Broker, ErrorCode};

pub fn handle(broker: &Broker, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
    let node = broker.config.node_id;
    let results = req
        .topics
        .into_iter()
        .map(|t| {
            let mut r = CreatePartitionsTopicResult {
                name: t.name.clone(),
                ..CreatePartitionsTopicResult::default()
            };
            if let Some(assignments) = &t.assignments {
                if assignments.iter().any(|a| a.broker_ids != [node]) {
                    r.error_code = ErrorCode::InvalidReplicaAssignment.code();
                    r.error_message = Some(format!("this cluster has one broker, {node}"));
                    return r;
                }
            }
            if let Err(e) = broker
                .topics
                .add_partitions(&t.name, t.count, req.validate_only)
            {
                r.error_code = e.code.code();
                r.error_message = Some(e.message);
            }
            r
        })
        .collect();
    CreatePartitionsResponse {
        throttle_time_ms: 0,
        results,
    }
}
